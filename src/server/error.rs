//! The server's error answer: an HTTP status and `{code, message}` with a stable code, and
//! the mapping of every service's typed errors to it.
//!
//! Messages are for people (installers reading logs, support); terminals act on the code.
//! Internal errors are logged with their cause and answered without it, so no SQL or
//! personal data leaves the server in an error.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::auth::{AuthError, EnrollError, LoginError};
use super::customers::{CalcError, HistoryError, LookupError};
use super::holds::HoldError;
use super::sms::{SendError, SmsLimit, VerifyError};
use super::store::StoreError;
use crate::protocol::server::{ErrorBody, ErrorCode};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: ErrorBody {
                code,
                message: message.into(),
                retry_after_s: None,
                tries_left: None,
                line: None,
                key: None,
            },
        }
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, message)
    }
    pub fn not_found(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, message)
    }
    pub fn unauthorized(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, code, message)
    }
    pub fn internal() -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "internal server error; the operation was not applied",
        )
    }
    pub fn retry_after(mut self, s: u64) -> ApiError {
        self.body.retry_after_s = Some(s);
        self
    }
    pub fn tries_left(mut self, n: u32) -> ApiError {
        self.body.tries_left = Some(n);
        self
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        tracing::error!(error = %e, "store error");
        match e {
            // Nothing was applied; the terminal's queue retries after the wait.
            StoreError::Unavailable(_) | StoreError::Conflict(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Internal,
                "the database is busy or unavailable; the operation was not applied, try again shortly",
            )
            .retry_after(5),
            _ => ApiError::internal(),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> ApiError {
        match e {
            AuthError::Unknown => ApiError::unauthorized(ErrorCode::Unauthorized, e.to_string()),
            AuthError::Revoked => ApiError::unauthorized(ErrorCode::TokenRevoked, e.to_string()),
            AuthError::Store(e) => e.into(),
        }
    }
}

impl From<EnrollError> for ApiError {
    fn from(e: EnrollError) -> ApiError {
        match e {
            EnrollError::BadName => ApiError::bad_request(e.to_string()),
            EnrollError::InvalidCode => {
                ApiError::unauthorized(ErrorCode::EnrollmentCodeInvalid, e.to_string())
            }
            EnrollError::Store(e) => e.into(),
        }
    }
}

impl From<LoginError> for ApiError {
    fn from(e: LoginError) -> ApiError {
        match e {
            LoginError::Locked { retry_after_s } => {
                ApiError::new(StatusCode::LOCKED, ErrorCode::CashierLocked, e.to_string())
                    .retry_after(retry_after_s)
            }
            LoginError::Wrong {
                tries_left,
                retry_after_s,
            } => {
                let err = ApiError::unauthorized(ErrorCode::CashierCodeWrong, e.to_string())
                    .tries_left(tries_left);
                match retry_after_s {
                    Some(s) => err.retry_after(s),
                    None => err,
                }
            }
        }
    }
}

impl From<LookupError> for ApiError {
    fn from(e: LookupError) -> ApiError {
        match e {
            LookupError::BadRequest(m) => ApiError::bad_request(m),
            LookupError::NotFound => {
                ApiError::not_found(ErrorCode::CustomerNotFound, e.to_string())
            }
            LookupError::Store(e) => e.into(),
        }
    }
}

impl From<HistoryError> for ApiError {
    fn from(e: HistoryError) -> ApiError {
        match e {
            HistoryError::NotFound => {
                ApiError::not_found(ErrorCode::CustomerNotFound, e.to_string())
            }
            HistoryError::Store(e) => e.into(),
        }
    }
}

impl From<super::sales::FindError> for ApiError {
    fn from(e: super::sales::FindError) -> ApiError {
        match e {
            super::sales::FindError::BadRequest(m) => ApiError::bad_request(m),
            super::sales::FindError::Store(e) => e.into(),
        }
    }
}

impl From<CalcError> for ApiError {
    fn from(e: CalcError) -> ApiError {
        match e {
            CalcError::NotFound => ApiError::not_found(ErrorCode::CustomerNotFound, e.to_string()),
            CalcError::BadRequest(m) => ApiError::bad_request(m),
            CalcError::Store(e) => e.into(),
        }
    }
}

impl From<HoldError> for ApiError {
    fn from(e: HoldError) -> ApiError {
        match e {
            HoldError::BadRequest(m) => ApiError::bad_request(m),
            HoldError::CustomerNotFound => {
                ApiError::not_found(ErrorCode::CustomerNotFound, e.to_string())
            }
            HoldError::NotFound => ApiError::not_found(ErrorCode::NotFound, e.to_string()),
            HoldError::Insufficient { .. } => ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::InsufficientBalance,
                e.to_string(),
            ),
            HoldError::Conflict { .. } => {
                ApiError::new(StatusCode::CONFLICT, ErrorCode::HoldConflict, e.to_string())
            }
            HoldError::Store(e) => e.into(),
        }
    }
}

impl From<SendError> for ApiError {
    fn from(e: SendError) -> ApiError {
        match e {
            SendError::Limit(limit) => {
                let (code, wait) = match limit {
                    SmsLimit::Cooldown { retry_after_s } => (ErrorCode::Cooldown, retry_after_s),
                    SmsLimit::PhoneRateLimited { retry_after_s }
                    | SmsLimit::TerminalRateLimited { retry_after_s } => {
                        (ErrorCode::RateLimited, retry_after_s)
                    }
                };
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, code, limit.to_string())
                    .retry_after(wait)
            }
            SendError::Gateway(_) => ApiError::new(
                StatusCode::BAD_GATEWAY,
                ErrorCode::SmsFailed,
                "the SMS could not be sent; try again in a minute",
            ),
            SendError::Store(e) => e.into(),
        }
    }
}

impl From<VerifyError> for ApiError {
    fn from(e: VerifyError) -> ApiError {
        match e {
            VerifyError::NoCode => ApiError::not_found(
                ErrorCode::CodeExpired,
                "no code was sent to this phone; send one",
            ),
            VerifyError::Expired => ApiError::new(
                StatusCode::GONE,
                ErrorCode::CodeExpired,
                "the code expired; send a new one",
            ),
            VerifyError::Wrong { tries_left } => ApiError::unauthorized(
                ErrorCode::CodeWrong,
                format!("wrong code; {tries_left} tries left"),
            )
            .tries_left(tries_left),
            VerifyError::TooManyTries => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::TooManyTries,
                "too many wrong codes; send a new one",
            )
            .tries_left(0),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry = self.body.retry_after_s;
        let mut resp = (self.status, axum::Json(self.body)).into_response();
        if let Some(s) = retry
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}
