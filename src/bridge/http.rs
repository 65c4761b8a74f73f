//! The bridge's HTTP side (axum): the routes behind the installer's key, the strict JSON
//! bodies, the refusals with their status codes, and serving them until the bridge stops.
use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{
    DefaultBodyLimit, FromRequest, FromRequestParts, Path, Query, Request, State as AxumState,
};
use axum::http::{HeaderMap, StatusCode, header, request::Parts};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::state::{Entry, REMEMBERED};
use super::wire::{
    BridgeError, CloseRequest, ErrorCode, MAX_WAIT_S, ReceiptStatus, State, WaitQuery,
};
use super::{Bridge, MAX_BODY_BYTES};
use crate::checkout::{Problem, Withdrawal};
use crate::domain::receipt::Receipt;

impl Bridge {
    /// The HTTP routes, behind the key.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/v1/ping", get(ping))
            .route("/v1/receipts", post(open_receipt))
            .route("/v1/receipts/{id}", get(get_receipt))
            .route("/v1/receipts/{id}/close", post(close_receipt))
            .route("/v1/receipts/{id}/cancel", post(cancel_receipt))
            .route("/v1/shift/open", post(super::shift::open_shift))
            .route("/v1/shift/close", post(super::shift::close_shift))
            .route("/v1/shift/report", get(super::shift::shift_report))
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .layer(middleware::from_fn_with_state(self.clone(), authorize))
            .with_state(self.clone())
    }

    /// Serves the routes on `listener` until `shutdown` resolves, expiring overdue
    /// receipts on the side.
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let ticker = {
            let bridge = self.clone();
            let period = (self.inner.close_timeout / 4)
                .clamp(Duration::from_millis(100), Duration::from_secs(1));
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(period);
                loop {
                    tick.tick().await;
                    bridge.expire_overdue().await;
                }
            })
        };
        // A graceful stop waits for the requests under way: the long polls answer now with
        // where their receipt stands, or a restart of the bridge (and the window's session
        // worker that drops it) would wait for them, up to a minute.
        let shutdown = {
            let bridge = self.clone();
            async move {
                shutdown.await;
                bridge.inner.stopping.store(true, Ordering::SeqCst);
                bridge.inner.changed.send_modify(|n| *n = n.wrapping_add(1));
            }
        };
        let served = axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await;
        ticker.abort();
        served
    }
}

/// A refusal: its code decides the status.
#[derive(Debug)]
pub(super) struct Refusal {
    code: ErrorCode,
    pub(super) message: String,
}

impl Refusal {
    pub(super) fn new(code: ErrorCode, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            message: message.into(),
        }
    }

    pub(super) fn unknown(id: &str) -> Refusal {
        Refusal::new(
            ErrorCode::NotFound,
            format!(
                "no receipt {id:?} at this till (it remembers its last {REMEMBERED}, and every applied one)"
            ),
        )
    }

    pub(super) fn cancelled(entry: &Entry) -> Refusal {
        Refusal::new(
            ErrorCode::Cancelled,
            format!(
                "receipt {:?} is {}: {}; nothing was recorded",
                entry.receipt.id,
                if entry.state == State::Expired {
                    "expired"
                } else {
                    "cancelled"
                },
                entry.reason.as_deref().unwrap_or("cancelled")
            ),
        )
    }

    pub(super) fn from_problem(problem: &Problem) -> Refusal {
        let code = match problem {
            Problem::Busy | Problem::ReceiptOpen => ErrorCode::Busy,
            Problem::NotLoggedIn => ErrorCode::NoCashier,
            Problem::SetupOpen => ErrorCode::SetupOpen,
            Problem::BadReceipt(_) => ErrorCode::BadRequest,
            Problem::SaleNotKept | Problem::SaleElsewhereOffline => ErrorCode::UnknownSale,
            Problem::BadReturn(_) => ErrorCode::BadReturn,
            Problem::ReceiptChanged(_) => ErrorCode::ReceiptChanged,
            Problem::NotApplied => ErrorCode::NotApplied,
            Problem::NoSuchReceipt => ErrorCode::NotFound,
            _ => ErrorCode::Storage,
        };
        let message = match code {
            ErrorCode::NoCashier => "nobody is logged in at the till: the cashier logs in first".into(),
            ErrorCode::SetupOpen => "the installer's setup is open at the till: try when it is closed".into(),
            ErrorCode::UnknownSale if *problem == Problem::SaleElsewhereOffline => "this return's sale was made at another till and the server does not answer: check the network, or the return goes on without loyalty".into(),
            ErrorCode::UnknownSale => "this return's sale was not made at this till: it goes on without loyalty, a manager handles the bonuses".into(),
            _ => problem.to_string(),
        };
        Refusal::new(code, message)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = BridgeError {
            code: self.code,
            message: self.message,
        };
        (status, axum::Json(body)).into_response()
    }
}

/// A JSON body parsed strictly, with the path of a bad field in the error.
struct Body<T>(T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = Refusal;

    async fn from_request(req: Request, state: &S) -> Result<Self, Refusal> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Refusal::new(
                    ErrorCode::TooLarge,
                    format!("the body is larger than {MAX_BODY_BYTES} bytes"),
                )
            } else {
                Refusal::new(ErrorCode::BadRequest, format!("cannot read the body: {e}"))
            }
        })?;
        // The amounts as the register wrote them first (a body that is not JSON at all is
        // named by the parse that follows).
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) {
            super::wire::check_amounts(&value)
                .map_err(|m| Refusal::new(ErrorCode::BadRequest, m))?;
        }
        crate::protocol::parse_json(&bytes)
            .map(Body)
            .map_err(|m| Refusal::new(ErrorCode::BadRequest, m))
    }
}

/// The receipt id in the path. Ids are JSON strings, so a path whose id is not UTF-8 names
/// no receipt: `404` in the bridge's JSON, like any other unknown id (axum's own rejection
/// would be plain text).
struct ReceiptId(String);

impl<S: Send + Sync> FromRequestParts<S> for ReceiptId {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Refusal> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| ReceiptId(id))
            .map_err(|e| {
                Refusal::new(
                    ErrorCode::NotFound,
                    format!("no receipt with the id in this path: {}", e.body_text()),
                )
            })
    }
}

/// Every route needs the installer's key.
async fn authorize(
    AxumState(bridge): AxumState<Bridge>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    // The scheme is case-insensitive (RFC 9110 §11.1): "bearer KEY" is the key too.
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim_start().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim());
    match given {
        Some(key) if crate::crypto::ct_eq(key.as_bytes(), bridge.inner.key.as_bytes()) => {
            next.run(request).await
        }
        Some(_) => Refusal::new(
            ErrorCode::Unauthorized,
            "the key is not this till's bridge key",
        )
        .into_response(),
        None => Refusal::new(
            ErrorCode::Unauthorized,
            "no key: send Authorization: Bearer <the key from the till's setup>",
        )
        .into_response(),
    }
}

async fn ping() -> impl IntoResponse {
    axum::Json(serde_json::json!({ "ok": true }))
}

async fn open_receipt(
    AxumState(bridge): AxumState<Bridge>,
    Body(receipt): Body<Receipt>,
) -> Result<Response, Refusal> {
    receipt
        .validate()
        .map_err(|e| Refusal::new(ErrorCode::BadRequest, e.to_string()))?;
    let (status, body) = bridge.open(receipt).await?;
    Ok((status, axum::Json(body)).into_response())
}

async fn get_receipt(
    AxumState(bridge): AxumState<Bridge>,
    ReceiptId(id): ReceiptId,
    query: Result<Query<WaitQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<ReceiptStatus>, Refusal> {
    let Query(query) = query
        .map_err(|e| Refusal::new(ErrorCode::BadRequest, format!("query: {}", e.body_text())))?;
    if query.wait_s > MAX_WAIT_S {
        return Err(Refusal::new(
            ErrorCode::BadRequest,
            format!("wait_s: {} is more than {MAX_WAIT_S}", query.wait_s),
        ));
    }
    bridge.wait(&id, query.wait_s).await.map(axum::Json)
}

async fn close_receipt(
    AxumState(bridge): AxumState<Bridge>,
    ReceiptId(id): ReceiptId,
    Body(close): Body<CloseRequest>,
) -> Result<axum::Json<ReceiptStatus>, Refusal> {
    if let Some(fiscal) = &close.fiscal {
        use crate::domain::fiscal::FiscalError;
        fiscal.validate().map_err(|e| {
            let field = match e {
                FiscalError::DriveNumber => "fiscal.fn",
                FiscalError::DocumentNumber => "fiscal.fd",
                FiscalError::Sign => "fiscal.fp",
                FiscalError::Sum => "fiscal.sum",
                FiscalError::Time => "fiscal.at",
                FiscalError::Kind => "fiscal.kind",
                FiscalError::Missing(_) | FiscalError::Repeated(_) => "fiscal",
            };
            Refusal::new(ErrorCode::BadRequest, format!("{field}: {e}"))
        })?;
    }
    bridge
        .close(&id, close.receipt, close.fiscal)
        .await
        .map(axum::Json)
}

async fn cancel_receipt(
    AxumState(bridge): AxumState<Bridge>,
    ReceiptId(id): ReceiptId,
) -> Result<axum::Json<ReceiptStatus>, Refusal> {
    let _one = bridge.inner.serial.lock().await;
    bridge
        .withdraw(&id, Withdrawal::Register)
        .await
        .map(axum::Json)
}

async fn not_found() -> Refusal {
    Refusal::new(
        ErrorCode::NotFound,
        "no such path: the bridge serves /v1/ping, /v1/receipts and /v1/shift",
    )
}

async fn method_not_allowed() -> Response {
    let mut response = Refusal::new(
        ErrorCode::BadRequest,
        "this method is not allowed on this path",
    )
    .into_response();
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    response
}
