//! The HTTP API, version 1: routes, extractors, and handlers that hand one service call to
//! a blocking thread; the services' typed errors become answers in `error.rs`.
//!
//! Every body is size-capped (`MAX_BODY_BYTES`) and parsed strictly: unknown fields and
//! bad values are refused with `BAD_REQUEST` and a message naming the field. Every route
//! but enrollment and health needs a terminal's bearer token, checked on the same blocking
//! hop as the service call.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::auth::{self, Terminal};
use super::backoffice::http::terminal_status;
use super::error::ApiError;
use super::store::{self, ReadTx};
use super::{State, customers, holds, ops, sales, sms};
use crate::protocol::sales::{FindSaleRequest, SalesResponse};
use crate::protocol::server::*;

pub fn router(state: Arc<State>) -> Router {
    let mut api = Router::new()
        .route("/health", get(health))
        .route("/openapi.json", get(super::openapi::openapi))
        .route("/enroll", post(enroll))
        .route("/cashiers/login", post(login))
        .route("/cashiers/unlock", post(unlock))
        .route("/customers/lookup", post(lookup))
        .route("/customers/{id}/history", get(history))
        .route("/customers/{id}/sales", get(customer_sales))
        .route("/sales/find", post(find_sale))
        .route("/sms/send", post(sms_send))
        .route("/sms/verify", post(sms_verify))
        .route("/calc", post(calc))
        .route("/operations", post(operations))
        .route("/holds", post(place_hold))
        .route("/holds/{id}", delete(release_hold))
        .route("/rules", get(rules))
        .route("/feed/customers", get(feed))
        .route("/terminal/status", post(terminal_status))
        .nest("/admin", super::backoffice::http::router());
    if state.config.demo_endpoints {
        api = api.route("/demo/sms", get(demo_sms));
    }
    Router::new()
        .nest(API_PREFIX, api)
        .merge(super::web::router())
        .fallback(|| async {
            ApiError::not_found(
                ErrorCode::NotFound,
                "no such endpoint; the API lives under /api/v1",
            )
        })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Runs a request's reads on the read pool: one hop per request, the token checked there
/// too.
pub(crate) async fn read<T: Send + 'static>(
    state: &Arc<State>,
    f: impl FnOnce(&State) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let s = state.clone();
    state.workers.read(move || f(&s)).await.map_err(failed)?
}

/// Runs a request's writes (and its token check) on the blocking pool, a few at once.
pub(crate) async fn write<T: Send + 'static>(
    state: &Arc<State>,
    f: impl FnOnce(&State) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let s = state.clone();
    state.workers.write(move || f(&s)).await.map_err(failed)?
}

fn failed(e: super::workers::TaskFailed) -> ApiError {
    tracing::error!(error = %e, "a request's store task failed");
    ApiError::internal()
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
        refuse_nul(&bytes)?;
        crate::protocol::parse_json(&bytes)
            .map(Body)
            .map_err(ApiError::bad_request)
    }
}

/// No field of the API takes a NUL character, and PostgreSQL cannot store one in text: a
/// body holding `\u0000` is refused as a whole, before any field reaches a service.
fn refuse_nul(bytes: &[u8]) -> Result<(), ApiError> {
    if bytes.windows(6).any(|w| w == b"\\u0000") {
        return Err(ApiError::bad_request(
            "a string holds a NUL character (\\u0000); no field takes one",
        ));
    }
    Ok(())
}

/// The same for a path or query string: `%00` names no id and no value.
fn refuse_nul_in_uri(parts: &Parts) -> Result<(), ApiError> {
    let uri = parts.uri.to_string();
    if uri.contains("%00") {
        return Err(ApiError::bad_request(
            "the path or query holds a NUL character (%00); no parameter takes one",
        ));
    }
    Ok(())
}

/// A query string parsed strictly, refused as `{code, message}` like a bad body.
pub struct StrictQuery<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for StrictQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        refuse_nul_in_uri(parts)?;
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
        refuse_nul_in_uri(parts)?;
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(p)| StrictPath(p))
            .map_err(|e| ApiError::bad_request(format!("path: {}", e.body_text())))
    }
}

/// The terminal's bearer token, checked against the store in the handler's blocking call.
pub struct Token(String);

impl Token {
    /// The terminal the token belongs to.
    pub(crate) fn terminal(&self, s: &State) -> Result<Terminal, ApiError> {
        Ok(store::read(s.store(), |r| {
            Ok(auth::authenticate(r, &self.0))
        })??)
    }

    /// One read view for the whole request: the token checked, then `f`.
    fn read<T>(
        &self,
        s: &State,
        f: impl FnOnce(&mut dyn ReadTx, Terminal) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let mut r = s.store().begin_read()?;
        let terminal = auth::authenticate(&mut *r, &self.0)?;
        f(&mut *r, terminal)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Token {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| Token(t.to_string()))
            .ok_or_else(|| {
                ApiError::unauthorized(
                    ErrorCode::Unauthorized,
                    "send the terminal token as `Authorization: Bearer <token>`",
                )
            })
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
    write(&state, move |s| {
        Ok(json(auth::enroll(
            s.store(),
            req.code.expose(),
            &req.name,
            s.now(),
        )?))
    })
    .await
}

/// A cashier's code at this terminal: `auth::login`, or a manager's `auth::unlock`.
type ByCode =
    fn(
        &dyn crate::server::store::Store,
        &auth::Terminal,
        &str,
        chrono::DateTime<chrono::Utc>,
    ) -> Result<Result<LoginResponse, auth::LoginError>, crate::server::store::StoreError>;

async fn by_code(
    state: Arc<State>,
    token: Token,
    code: Secret,
    check: ByCode,
) -> Result<axum::Json<LoginResponse>, ApiError> {
    write(&state, move |s| {
        let terminal = token.terminal(s)?;
        Ok(json(check(s.store(), &terminal, code.expose(), s.now())??))
    })
    .await
}

async fn login(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    token: Token,
    Body(req): Body<LoginRequest>,
) -> Result<axum::Json<LoginResponse>, ApiError> {
    by_code(state, token, req.code, auth::login).await
}

async fn unlock(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    token: Token,
    Body(req): Body<LoginRequest>,
) -> Result<axum::Json<LoginResponse>, ApiError> {
    by_code(state, token, req.code, auth::unlock).await
}

async fn lookup(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    token: Token,
    Body(req): Body<LookupRequest>,
) -> Result<axum::Json<CustomerView>, ApiError> {
    read(&state, move |s| {
        token.read(s, |r, _| {
            Ok(json(customers::lookup(r, &s.rules().rules, &req, s.now())?))
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
    token: Token,
    StrictPath(id): StrictPath<String>,
    StrictQuery(q): StrictQuery<HistoryQuery>,
) -> Result<axum::Json<HistoryResponse>, ApiError> {
    read(&state, move |s| {
        let limit = q.limit.unwrap_or(100).min(1000);
        token.read(s, |r, _| {
            Ok(json(customers::history(r, &id, limit, s.now())?))
        })
    })
    .await
}

async fn customer_sales(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    token: Token,
    StrictPath(id): StrictPath<String>,
    StrictQuery(q): StrictQuery<HistoryQuery>,
) -> Result<axum::Json<SalesResponse>, ApiError> {
    read(&state, move |s| {
        let limit = q.limit.unwrap_or(20).min(100);
        token.read(s, |r, _| Ok(json(sales::customer_sales(r, &id, limit)?)))
    })
    .await
}

async fn find_sale(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    token: Token,
    Body(req): Body<FindSaleRequest>,
) -> Result<axum::Json<SalesResponse>, ApiError> {
    read(&state, move |s| {
        token.read(s, |r, _| Ok(json(sales::find(r, &req)?)))
    })
    .await
}

async fn sms_send(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    token: Token,
    Body(req): Body<SmsSendRequest>,
) -> Result<axum::Json<SmsSendResponse>, ApiError> {
    let terminal = read(&state, move |s| token.terminal(s)).await?;
    let issued = sms::send_code(
        state.store_arc(),
        &*state.gateway,
        state.config.sms_policy.clone(),
        req.phone,
        req.purpose.into(),
        terminal.id,
        state.now(),
    )
    .await?;
    Ok(json(SmsSendResponse {
        expires_in_s: issued.expires_in_s,
        resend_after_s: issued.resend_after_s,
        tries: issued.tries,
    }))
}

async fn sms_verify(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    token: Token,
    Body(req): Body<SmsVerifyRequest>,
) -> Result<axum::Json<SmsVerifyResponse>, ApiError> {
    write(&state, move |s| {
        token.terminal(s)?;
        let policy = &s.config.sms_policy;
        let token = sms::verify(
            s.store(),
            policy,
            &req.phone,
            req.purpose.into(),
            req.code.expose(),
            s.now(),
        )??;
        Ok(json(SmsVerifyResponse {
            verification: Secret(token),
            expires_in_s: policy.verification_ttl.num_seconds() as u64,
        }))
    })
    .await
}

async fn calc(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    token: Token,
    Body(req): Body<CalcRequest>,
) -> Result<axum::Json<CalcResponse>, ApiError> {
    read(&state, move |s| {
        token.read(s, |r, _| {
            Ok(json(customers::calculate(
                r,
                &s.current_rules(),
                &req,
                s.now(),
            )?))
        })
    })
    .await
}

async fn operations(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    token: Token,
    Body(req): Body<OperationsRequest>,
) -> Result<axum::Json<OperationsResponse>, ApiError> {
    if req.operations.len() > MAX_BATCH {
        return Err(ApiError::bad_request(format!(
            "operations: at most {MAX_BATCH} in one batch"
        )));
    }
    write(&state, move |s| {
        let terminal = token.terminal(s)?;
        let rules = s.current_rules();
        let results = ops::apply_batch(s.store(), &rules.rules, &terminal, req.operations, || {
            s.now()
        })?;
        Ok(json(OperationsResponse { results }))
    })
    .await
}

async fn place_hold(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    token: Token,
    Body(req): Body<HoldRequest>,
) -> Result<axum::Json<HoldResponse>, ApiError> {
    write(&state, move |s| {
        let terminal = token.terminal(s)?;
        Ok(json(holds::place(s.store(), &terminal, &req, s.now())?))
    })
    .await
}

/// Releases a hold: `200` with the hold as it now is, or `204` when there is no such hold
/// (never placed, or pruned long after it ended): either way it counts nowhere.
async fn release_hold(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    token: Token,
    StrictPath(id): StrictPath<String>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    write(&state, move |s| {
        let terminal = token.terminal(s)?;
        Ok(match holds::release(s.store(), &terminal, &id, s.now())? {
            Some(h) => json(h).into_response(),
            None => StatusCode::NO_CONTENT.into_response(),
        })
    })
    .await
}

async fn rules(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    token: Token,
) -> Result<axum::Json<RulesResponse>, ApiError> {
    read(&state, move |s| {
        token.terminal(s)?;
        let r = s.current_rules();
        Ok(json(RulesResponse {
            version: r.version,
            text: r.text.clone(),
        }))
    })
    .await
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
    token: Token,
    StrictQuery(q): StrictQuery<FeedQuery>,
) -> Result<axum::Json<CustomerFeed>, ApiError> {
    read(&state, move |s| {
        let limit = q.limit.unwrap_or(1000).clamp(1, 5000);
        token.read(s, |r, terminal| {
            Ok(json(ops::customer_feed(
                r,
                &terminal,
                q.since,
                limit,
                s.now(),
            )?))
        })
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
