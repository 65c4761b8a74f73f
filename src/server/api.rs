//! The HTTP API, version 1: routes, extractors, and handlers that hand the work to a
//! blocking thread with the database.
//!
//! Every body is size-capped (`MAX_BODY_BYTES`) and parsed strictly: unknown fields and
//! bad values are refused with `BAD_REQUEST` and a message naming the field. Every route
//! but enrollment and health needs a terminal's bearer token.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::auth::{self, Terminal};
use super::error::ApiError;
use super::{State, customers, ledger, ops, sms};
use crate::domain::calc::{CalcError, CustomerState, calculate};
use crate::domain::card::CardFormat;
use crate::domain::money::Bonus;
use crate::protocol::server::*;

pub fn router(state: Arc<State>) -> Router {
    let mut api = Router::new()
        .route("/health", get(health))
        .route("/openapi.json", get(super::openapi::openapi))
        .route("/enroll", post(enroll))
        .route("/cashiers/login", post(login))
        .route("/customers/lookup", post(lookup))
        .route("/customers/{id}/history", get(history))
        .route("/sms/send", post(sms_send))
        .route("/sms/verify", post(sms_verify))
        .route("/calc", post(calc))
        .route("/operations", post(operations))
        .route("/rules", get(rules))
        .route("/feed/customers", get(feed));
    if state.config.demo_endpoints {
        api = api.route("/demo/sms", get(demo_sms));
    }
    Router::new()
        .nest(API_PREFIX, api)
        .fallback(|| async {
            ApiError::not_found(
                ErrorCode::NotFound,
                "no such endpoint; the API lives under /api/v1",
            )
        })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Runs database work on a blocking thread.
async fn blocking<T: Send + 'static>(
    state: &Arc<State>,
    f: impl FnOnce(&State) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let state = state.clone();
    tokio::task::spawn_blocking(move || f(&state))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "a request's database task failed");
            ApiError::internal()
        })?
}

/// A JSON body parsed strictly, with the path of a bad field in the error.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    ErrorCode::PayloadTooLarge,
                    format!("the body is larger than {MAX_BODY_BYTES} bytes"),
                )
            } else {
                ApiError::bad_request(format!("cannot read the body: {e}"))
            }
        })?;
        crate::protocol::parse_json(&bytes)
            .map(Body)
            .map_err(ApiError::bad_request)
    }
}

/// A query string parsed strictly, refused as `{code, message}` like a bad body.
pub struct StrictQuery<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for StrictQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| StrictQuery(q))
            .map_err(|e| ApiError::bad_request(format!("query: {}", e.body_text())))
    }
}

/// A path parameter, refused as `{code, message}` when it does not parse.
pub struct StrictPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for StrictPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(p)| StrictPath(p))
            .map_err(|e| ApiError::bad_request(format!("path: {}", e.body_text())))
    }
}

impl FromRequestParts<Arc<State>> for Terminal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<State>) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized(
                    ErrorCode::Unauthorized,
                    "send the terminal token as `Authorization: Bearer <token>`",
                )
            })?
            .to_string();
        blocking(state, move |s| s.with_db(|c| auth::authenticate(c, &token))).await
    }
}

fn json<T>(v: T) -> axum::Json<T> {
    axum::Json(v)
}

async fn health() -> axum::Json<serde_json::Value> {
    json(serde_json::json!({ "status": "ok" }))
}

async fn enroll(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    Body(req): Body<EnrollRequest>,
) -> Result<axum::Json<EnrollResponse>, ApiError> {
    blocking(&state, move |s| {
        let now = s.now();
        s.with_db(|c| {
            let tx = c.transaction()?;
            let out = auth::enroll(&tx, req.code.expose(), &req.name, now)?;
            tx.commit()?;
            tracing::info!(terminal = %out.terminal_id, store = %out.store_id, "terminal enrolled");
            Ok(json(out))
        })
    })
    .await
}

async fn login(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    terminal: Terminal,
    Body(req): Body<LoginRequest>,
) -> Result<axum::Json<LoginResponse>, ApiError> {
    blocking(&state, move |s| {
        let now = s.now();
        s.with_db(|c| {
            let tx = c.transaction()?;
            // The failure counter must persist even when the login is refused.
            let out = auth::login(&tx, &terminal, req.code.expose(), now);
            tx.commit()?;
            out.map(json)
        })
    })
    .await
}

async fn lookup(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    _terminal: Terminal,
    Body(req): Body<LookupRequest>,
) -> Result<axum::Json<CustomerView>, ApiError> {
    blocking(&state, move |s| {
        let now = s.now();
        let rules = s.rules();
        s.with_db(|c| {
            let found = customers::lookup(c, &req, &CardFormat::default_formats())?;
            Ok(json(customers::view(c, &rules.rules, &found, now)?))
        })
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    limit: Option<usize>,
}

async fn history(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    _terminal: Terminal,
    StrictPath(id): StrictPath<String>,
    StrictQuery(q): StrictQuery<HistoryQuery>,
) -> Result<axum::Json<HistoryResponse>, ApiError> {
    blocking(&state, move |s| {
        let now = s.now();
        s.with_db(|c| {
            let customer = customers::by_id(c, &id)?.ok_or_else(|| {
                ApiError::not_found(ErrorCode::CustomerNotFound, "no customer with this id")
            })?;
            let balance = ledger::balance(c, &customer.id, now)?;
            let entries = ledger::history(c, &customer.id, q.limit.unwrap_or(100).min(1000))?
                .into_iter()
                .map(|h| HistoryEntry {
                    at: h.at,
                    amount: Bonus::from_kopecks(h.amount),
                    description: h.description,
                })
                .collect();
            Ok(json(HistoryResponse {
                customer_id: customer.id,
                balance: Bonus::from_kopecks(balance.active),
                pending: Bonus::from_kopecks(balance.pending),
                entries,
            }))
        })
    })
    .await
}

async fn sms_send(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    terminal: Terminal,
    Body(req): Body<SmsSendRequest>,
) -> Result<axum::Json<SmsSendResponse>, ApiError> {
    let phone = req.phone.clone();
    let purpose = sms::Purpose::from(req.purpose);
    let (issued, code_id) = blocking(&state, move |s| {
        let now = s.now();
        let policy = s.config.sms_policy.clone();
        s.with_db(|c| {
            let tx = c.transaction()?;
            let issued = sms::issue_code(
                &tx,
                &policy,
                &req.phone,
                purpose,
                &terminal.id,
                now,
                &mut rand::rng(),
            )?;
            let issued = issued.map_err(|limit| {
                let (code, wait) = match limit {
                    sms::SmsLimit::Cooldown { retry_after_s } => {
                        (ErrorCode::Cooldown, retry_after_s)
                    }
                    sms::SmsLimit::PhoneRateLimited { retry_after_s }
                    | sms::SmsLimit::TerminalRateLimited { retry_after_s } => {
                        (ErrorCode::RateLimited, retry_after_s)
                    }
                };
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, code, limit.to_string())
                    .retry_after(wait)
            })?;
            let id = tx.last_insert_rowid();
            tx.commit()?;
            Ok((issued, id))
        })
    })
    .await?;
    let text = sms::message_text(&issued.code);
    if let Err(e) = state.gateway.send(&phone, &text).await {
        tracing::warn!(error = %e, "the SMS gateway refused a message");
        // The code never reached the customer: withdraw it so the cooldown does not hold
        // the cashier back from trying again.
        let _ = blocking(&state, move |s| {
            s.with_db(|c| {
                c.execute("DELETE FROM sms_codes WHERE id = ?1", [code_id])?;
                Ok(())
            })
        })
        .await;
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            ErrorCode::SmsFailed,
            "the SMS could not be sent; try again in a minute",
        ));
    }
    Ok(json(SmsSendResponse {
        expires_in_s: issued.expires_in_s,
        resend_after_s: issued.resend_after_s,
        tries: issued.tries,
    }))
}

async fn sms_verify(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    _terminal: Terminal,
    Body(req): Body<SmsVerifyRequest>,
) -> Result<axum::Json<SmsVerifyResponse>, ApiError> {
    blocking(&state, move |s| {
        let now = s.now();
        let policy = s.config.sms_policy.clone();
        s.with_db(|c| {
            let tx = c.transaction()?;
            let out = sms::verify_code(
                &tx,
                &policy,
                &req.phone,
                req.purpose.into(),
                req.code.expose(),
                now,
                &mut rand::rng(),
            )?;
            // Wrong tries are counted even though the answer is an error.
            tx.commit()?;
            match out {
                Ok(token) => Ok(json(SmsVerifyResponse {
                    verification: Secret(token),
                    expires_in_s: policy.verification_ttl.num_seconds() as u64,
                })),
                Err(e) => Err(match e {
                    sms::VerifyError::NoCode => ApiError::not_found(
                        ErrorCode::CodeExpired,
                        "no code was sent to this phone; send one",
                    ),
                    sms::VerifyError::Expired => ApiError::new(
                        StatusCode::GONE,
                        ErrorCode::CodeExpired,
                        "the code expired; send a new one",
                    ),
                    sms::VerifyError::Wrong { tries_left } => ApiError::unauthorized(
                        ErrorCode::CodeWrong,
                        format!("wrong code; {tries_left} tries left"),
                    )
                    .tries_left(tries_left),
                    sms::VerifyError::TooManyTries => ApiError::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        ErrorCode::TooManyTries,
                        "too many wrong codes; send a new one",
                    )
                    .tries_left(0),
                }),
            }
        })
    })
    .await
}

async fn calc(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    _terminal: Terminal,
    Body(req): Body<CalcRequest>,
) -> Result<axum::Json<CalcResponse>, ApiError> {
    blocking(&state, move |s| {
        let now = s.now();
        let rules = s.rules();
        s.with_db(|c| {
            let customer = customers::by_id(c, &req.customer_id)?.ok_or_else(|| {
                ApiError::not_found(ErrorCode::CustomerNotFound, "no customer with this id")
            })?;
            let view = customers::view(c, &rules.rules, &customer, now)?;
            let state = CustomerState {
                card: customer.card_status.clone(),
                balance: view.balance,
                purchases_sum: Default::default(),
                purchases_count: 0,
                can_spend: customer.phone_verified,
            };
            let calculation =
                calculate(&rules.rules, &state, &req.receipt, req.spend).map_err(|e| match e {
                    CalcError::Receipt(r) => ApiError::bad_request(format!("receipt.{r}")),
                    other => ApiError::bad_request(other.to_string()),
                })?;
            Ok(json(CalcResponse {
                rules_version: rules.version,
                customer: view,
                calculation,
            }))
        })
    })
    .await
}

async fn operations(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    terminal: Terminal,
    Body(req): Body<OperationsRequest>,
) -> Result<axum::Json<OperationsResponse>, ApiError> {
    if req.operations.len() > MAX_BATCH {
        return Err(ApiError::bad_request(format!(
            "operations: at most {MAX_BATCH} in one batch"
        )));
    }
    blocking(&state, move |s| {
        let results = ops::apply_batch(s, &terminal, req.operations)?;
        Ok(json(OperationsResponse { results }))
    })
    .await
}

async fn rules(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    _terminal: Terminal,
) -> axum::Json<RulesResponse> {
    let r = state.rules();
    json(RulesResponse {
        version: r.version,
        text: r.text.clone(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FeedQuery {
    #[serde(default)]
    since: i64,
    limit: Option<i64>,
}

async fn feed(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    terminal: Terminal,
    StrictQuery(q): StrictQuery<FeedQuery>,
) -> Result<axum::Json<CustomerFeed>, ApiError> {
    blocking(&state, move |s| {
        let now = s.now();
        let limit = q.limit.unwrap_or(1000).clamp(1, 5000);
        s.with_db(|c| Ok(json(ops::customer_feed(c, &terminal, q.since, limit, now)?)))
    })
    .await
}

async fn demo_sms(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let inbox = state.demo_inbox.as_ref().ok_or_else(|| {
        ApiError::not_found(
            ErrorCode::NotFound,
            "the demo SMS inbox needs the log gateway",
        )
    })?;
    let messages: Vec<serde_json::Value> = inbox
        .latest()
        .into_iter()
        .map(|m| serde_json::json!({ "at": m.at, "phone": m.phone.as_e164(), "text": m.text }))
        .collect();
    Ok(json(serde_json::json!({ "messages": messages })))
}
