//! `/api/v1/admin`: the back office over HTTP. Handlers hand one service call to a
//! blocking thread, like the terminals' API.
//!
//! A request signs in with the session token as `Authorization: Bearer <token>` or as the
//! `bk_session` cookie (HttpOnly, SameSite=Strict) that sign-in sets for a browser. A
//! terminal token is no session here, and a session is no terminal token there: the two
//! are looked up in different tables. Until its one-time password is changed an account
//! may only change it, read itself and sign out.

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use serde::Deserialize;

use super::{Actor, BackofficeError, accounts, chain, customers, rules};
use crate::protocol::admin::*;
use crate::protocol::server::ErrorCode;
use crate::server::State;
use crate::server::api::{Body, StrictPath, StrictQuery, Token, read, write};
use crate::server::error::ApiError;
use crate::server::reports;
use crate::server::store::{self, AccountRole, AccountRow};

type St = axum::extract::State<Arc<State>>;
type Json<T> = axum::Json<T>;

pub(crate) fn router() -> Router<Arc<State>> {
    Router::new()
        .route("/session", post(sign_in).delete(sign_out))
        .route("/me", get(me))
        .route("/password", post(change_password))
        .route("/accounts", get(list_accounts).post(add_account))
        .route("/accounts/{id}", patch(update_account))
        .route("/stores", get(list_stores).post(add_store))
        .route("/stores/{id}", patch(update_store))
        .route("/staff", get(list_staff).post(add_staff))
        .route("/staff/{id}", patch(update_staff))
        .route("/terminals", get(list_terminals))
        .route("/terminals/enrollment-codes", post(enrollment_code))
        .route("/terminals/{id}/revoke", post(revoke_terminal))
        .route("/terminals/{id}/unlock", post(unlock_terminal))
        .route("/rules", get(list_rules).post(upload_rules))
        .route("/rules/diff", get(diff_rules))
        .route("/rules/rollback", post(roll_back_rules))
        .route("/rules/{version}", get(rules_version))
        .route("/rules/{version}/activate", post(activate_rules))
        .route("/rules/{version}/try", post(try_rules))
        .route("/audit", get(audit))
        .route("/reports", get(report))
        .route("/reports/export", get(export_report))
        .route("/liability", get(liability))
        .route("/customers", get(search_customers))
        .route("/customers/{id}", get(customer_page))
        .route("/customers/{id}/questionnaire", put(customer_questionnaire))
        .route("/customers/{id}/block-card", post(customer_block_card))
        .route("/customers/{id}/replace-card", post(customer_replace_card))
        .route("/customers/{id}/manual-change", post(customer_bonuses))
        .route("/customers/{id}/consents", post(customer_consents))
        .route("/customers/{id}/status", post(customer_status))
        .route("/customers/{id}/merge", post(customer_merge))
        .route("/customers/{id}/erase", post(customer_erase))
        .route("/imports", post(import_customers))
}

impl From<BackofficeError> for ApiError {
    fn from(e: BackofficeError) -> ApiError {
        let message = e.to_string();
        match e {
            BackofficeError::BadRequest(_) => ApiError::bad_request(message),
            BackofficeError::NotFound(_) => {
                ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, message)
            }
            BackofficeError::Forbidden(_) => {
                ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, message)
            }
            BackofficeError::AlreadyExists(_) => {
                ApiError::new(StatusCode::CONFLICT, ErrorCode::AlreadyExists, message)
            }
            BackofficeError::RulesInvalid(r) => {
                let mut e = ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    ErrorCode::RulesInvalid,
                    message,
                );
                e.body.line = r.line.map(|l| l as u64);
                e.body.key = (!r.path.is_empty()).then_some(r.path);
                e
            }
            BackofficeError::SignInFailed => {
                ApiError::unauthorized(ErrorCode::SignInFailed, message)
            }
            BackofficeError::Locked { retry_after_s } => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::AccountLocked,
                message,
            )
            .retry_after(retry_after_s),
            BackofficeError::Unauthorized => {
                ApiError::unauthorized(ErrorCode::Unauthorized, message)
            }
            BackofficeError::PasswordChangeRequired => ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::PasswordChangeRequired,
                message,
            ),
            BackofficeError::Store(e) => e.into(),
        }
    }
}

/// The session token of a request: the bearer token, else the session cookie.
pub struct SessionToken(String);

impl SessionToken {
    fn from_headers(headers: &HeaderMap) -> Option<SessionToken> {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let cookie = || {
            headers
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(';'))
                .filter_map(|kv| kv.trim().split_once('='))
                .find(|(k, _)| *k == SESSION_COOKIE)
                .map(|(_, v)| v.trim())
                .filter(|v| !v.is_empty())
        };
        bearer.or_else(cookie).map(|t| SessionToken(t.to_string()))
    }

    /// The signed-in account, even one that must still change its password.
    fn account(&self, s: &State) -> Result<AccountRow, ApiError> {
        let now = s.now();
        store::read(s.store(), |r| accounts::authenticate(r, &self.0, now))?
            .ok_or_else(|| BackofficeError::Unauthorized.into())
    }

    /// The signed-in account as an actor, its one-time password changed.
    fn actor(&self, s: &State) -> Result<Actor, ApiError> {
        let account = self.account(s)?;
        if account.must_change {
            return Err(BackofficeError::PasswordChangeRequired.into());
        }
        Ok(Actor::of(&account))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for SessionToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        SessionToken::from_headers(&parts.headers).ok_or_else(|| {
            ApiError::unauthorized(
                ErrorCode::Unauthorized,
                "sign in first (POST /api/v1/admin/session), then send the session as \
                 `Authorization: Bearer <token>` or the bk_session cookie",
            )
        })
    }
}

/// Runs `f` on the read pool as the signed-in actor (its one-time password changed); the
/// answer as JSON.
async fn reading<T: Send + 'static>(
    state: &Arc<State>,
    token: SessionToken,
    f: impl FnOnce(&State, &Actor) -> Result<T, BackofficeError> + Send + 'static,
) -> Result<Json<T>, ApiError> {
    read(state, move |s| Ok(axum::Json(f(s, &token.actor(s)?)?))).await
}

/// Runs a change on the write pool as the signed-in actor; the answer as JSON.
async fn changing<T: Send + 'static>(
    state: &Arc<State>,
    token: SessionToken,
    f: impl FnOnce(&State, &Actor) -> Result<T, BackofficeError> + Send + 'static,
) -> Result<Json<T>, ApiError> {
    write(state, move |s| Ok(axum::Json(f(s, &token.actor(s)?)?))).await
}

/// [`changing`] for what makes something new: `201 Created`.
async fn creating<T: Send + 'static>(
    state: &Arc<State>,
    token: SessionToken,
    f: impl FnOnce(&State, &Actor) -> Result<T, BackofficeError> + Send + 'static,
) -> Result<(StatusCode, Json<T>), ApiError> {
    Ok((StatusCode::CREATED, changing(state, token, f).await?))
}

/// The cookie that carries a session in a browser.
fn session_cookie(token: &str, max_age_s: i64) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}"
    ))
    .expect("a hex token makes a valid header")
}

fn signed_in(session: accounts::Session, now: chrono::DateTime<chrono::Utc>) -> Response {
    let max_age = (session.expires_at - now).num_seconds().max(0);
    let cookie = session_cookie(session.token.expose(), max_age);
    let body = SignInResponse {
        token: session.token,
        expires_at: session.expires_at,
        account: accounts::view(&session.account),
    };
    ([(header::SET_COOKIE, cookie)], axum::Json(body)).into_response()
}

async fn sign_in(
    axum::extract::State(state): St,
    Body(req): Body<SignInRequest>,
) -> Result<Response, ApiError> {
    // Hashing a password is slow on purpose: it runs on the blocking pool.
    write(&state, move |s| {
        let now = s.now();
        let session = accounts::sign_in(s.store(), &req.email, req.password.expose(), now)?;
        tracing::info!(account = session.account.id, "back-office sign-in");
        Ok(signed_in(session, now))
    })
    .await
}

async fn sign_out(
    axum::extract::State(state): St,
    token: SessionToken,
) -> Result<Response, ApiError> {
    write(&state, move |s| {
        accounts::sign_out(s.store(), &token.0)?;
        Ok((
            StatusCode::NO_CONTENT,
            [(header::SET_COOKIE, session_cookie("", 0))],
        )
            .into_response())
    })
    .await
}

async fn me(
    axum::extract::State(state): St,
    token: SessionToken,
) -> Result<Json<AccountView>, ApiError> {
    read(&state, move |s| {
        Ok(axum::Json(accounts::view(&token.account(s)?)))
    })
    .await
}

async fn change_password(
    axum::extract::State(state): St,
    token: SessionToken,
    Body(req): Body<ChangePasswordRequest>,
) -> Result<Response, ApiError> {
    write(&state, move |s| {
        let account = token.account(s)?;
        let now = s.now();
        let session = accounts::change_password(
            s.store(),
            &account,
            req.current.expose(),
            req.new.expose(),
            now,
        )?;
        Ok(signed_in(session, now))
    })
    .await
}

fn role_of(r: AccountRoleWire) -> AccountRole {
    match r {
        AccountRoleWire::Owner => AccountRole::Owner,
        AccountRoleWire::Manager => AccountRole::Manager,
    }
}

async fn list_accounts(
    axum::extract::State(state): St,
    token: SessionToken,
) -> Result<Json<Vec<AccountView>>, ApiError> {
    reading(&state, token, |s, a| {
        Ok(accounts::list(s.store(), a)?
            .iter()
            .map(accounts::view)
            .collect())
    })
    .await
}

async fn add_account(
    axum::extract::State(state): St,
    token: SessionToken,
    Body(req): Body<NewAccountRequest>,
) -> Result<(StatusCode, Json<AccountCreated>), ApiError> {
    creating(&state, token, move |s, a| {
        let role = role_of(req.role);
        let (account, password) =
            accounts::add_account(s.store(), a, &req.email, role, &req.stores, s.now())?;
        Ok(AccountCreated {
            account: accounts::view(&account),
            one_time_password: Some(password),
        })
    })
    .await
}

async fn update_account(
    axum::extract::State(state): St,
    token: SessionToken,
    StrictPath(id): StrictPath<i64>,
    Body(req): Body<AccountUpdate>,
) -> Result<Json<AccountCreated>, ApiError> {
    changing(&state, token, move |s, a| {
        let reset = req.reset_password.unwrap_or(false);
        let stores = req.stores.as_deref();
        let (account, password) =
            accounts::update_account(s.store(), a, id, stores, req.active, reset, s.now())?;
        Ok(AccountCreated {
            account: accounts::view(&account),
            one_time_password: password,
        })
    })
    .await
}

async fn list_stores(
    axum::extract::State(state): St,
    token: SessionToken,
) -> Result<Json<Vec<StoreView>>, ApiError> {
    reading(&state, token, |s, a| chain::stores(s.store(), a, s.now())).await
}

async fn add_store(
    axum::extract::State(state): St,
    token: SessionToken,
    Body(req): Body<NewStoreRequest>,
) -> Result<(StatusCode, Json<StoreView>), ApiError> {
    creating(&state, token, move |s, a| {
        chain::add_store(s.store(), a, &req, s.now())
    })
    .await
}

async fn update_store(
    axum::extract::State(state): St,
    token: SessionToken,
    StrictPath(id): StrictPath<String>,
    Body(req): Body<StoreUpdate>,
) -> Result<Json<StoreView>, ApiError> {
    changing(&state, token, move |s, a| {
        chain::update_store(s.store(), a, &id, &req, s.now())
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreQuery {
    store: Option<String>,
}

async fn list_staff(
    axum::extract::State(state): St,
    token: SessionToken,
    StrictQuery(q): StrictQuery<StoreQuery>,
) -> Result<Json<Vec<StaffView>>, ApiError> {
    reading(&state, token, move |s, a| {
        chain::staff(s.store(), a, q.store.as_deref())
    })
    .await
}

async fn add_staff(
    axum::extract::State(state): St,
    token: SessionToken,
    Body(req): Body<NewStaffRequest>,
) -> Result<(StatusCode, Json<StaffView>), ApiError> {
    creating(&state, token, move |s, a| {
        chain::add_staff(s.store(), a, &req, s.now())
    })
    .await
}

async fn update_staff(
    axum::extract::State(state): St,
    token: SessionToken,
    StrictPath(id): StrictPath<i64>,
    Body(req): Body<StaffUpdate>,
) -> Result<Json<StaffView>, ApiError> {
    changing(&state, token, move |s, a| {
        chain::update_staff(s.store(), a, id, &req, s.now())
    })
    .await
}

async fn list_terminals(
    axum::extract::State(state): St,
    token: SessionToken,
    StrictQuery(q): StrictQuery<StoreQuery>,
) -> Result<Json<Vec<TerminalView>>, ApiError> {
    reading(&state, token, move |s, a| {
        chain::terminals(s.store(), a, q.store.as_deref(), s.now())
    })
    .await
}

async fn enrollment_code(
    axum::extract::State(state): St,
    token: SessionToken,
    Body(req): Body<EnrollmentCodeRequest>,
) -> Result<(StatusCode, Json<EnrollmentCodeResponse>), ApiError> {
    creating(&state, token, move |s, a| {
        chain::enrollment_code(s.store(), a, &req.store_id, s.now())
    })
    .await
}

async fn revoke_terminal(
    axum::extract::State(state): St,
    token: SessionToken,
    StrictPath(id): StrictPath<String>,
) -> Result<Json<TerminalView>, ApiError> {
    changing(&state, token, move |s, a| {
        chain::revoke_terminal(s.store(), a, &id, s.now())
    })
    .await
}

async fn unlock_terminal(
    axum::extract::State(state): St,
    token: SessionToken,
    StrictPath(id): StrictPath<String>,
) -> Result<Json<TerminalView>, ApiError> {
    changing(&state, token, move |s, a| {
        chain::unlock_terminal(s.store(), a, &id, s.now())
    })
    .await
}

async fn list_rules(
    axum::extract::State(state): St,
    token: SessionToken,
) -> Result<Json<Vec<RulesVersionView>>, ApiError> {
    reading(&state, token, |s, _| rules::versions(s.store())).await
}

async fn upload_rules(
    axum::extract::State(state): St,
    token: SessionToken,
    Body(req): Body<RulesUploadRequest>,
) -> Result<(StatusCode, Json<RulesVersionView>), ApiError> {
    let view = write(&state, move |s| {
        let actor = token.actor(s)?;
        Ok(rules::upload(
            s.store(),
            &actor,
            &req.text,
            &req.comment,
            req.activate,
            s.now(),
        )?)
    })
    .await?;
    if view.active {
        picked_up(&state).await;
    }
    Ok((StatusCode::CREATED, axum::Json(view)))
}

/// This process takes an activated version at once; other API processes on the same
/// database take it at their next rules check.
async fn picked_up(state: &Arc<State>) {
    let _ = read(state, |s| {
        s.refresh_rules();
        Ok(())
    })
    .await;
}

async fn rules_version(
    axum::extract::State(state): St,
    token: SessionToken,
    StrictPath(version): StrictPath<i64>,
) -> Result<Json<RulesVersionText>, ApiError> {
    reading(&state, token, move |s, _| {
        rules::version(s.store(), version)
    })
    .await
}

async fn activate_rules(
    axum::extract::State(state): St,
    token: SessionToken,
    StrictPath(version): StrictPath<i64>,
) -> Result<Json<RulesVersionView>, ApiError> {
    let view = write(&state, move |s| {
        let actor = token.actor(s)?;
        Ok(rules::activate(s.store(), &actor, version, s.now())?)
    })
    .await?;
    picked_up(&state).await;
    Ok(axum::Json(view))
}

async fn roll_back_rules(
    axum::extract::State(state): St,
    token: SessionToken,
) -> Result<Json<RulesVersionView>, ApiError> {
    let view = write(&state, move |s| {
        let actor = token.actor(s)?;
        Ok(rules::roll_back(s.store(), &actor, s.now())?)
    })
    .await?;
    picked_up(&state).await;
    Ok(axum::Json(view))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DiffQuery {
    from: i64,
    to: i64,
}

async fn diff_rules(
    axum::extract::State(state): St,
    token: SessionToken,
    StrictQuery(q): StrictQuery<DiffQuery>,
) -> Result<Json<RulesDiff>, ApiError> {
    reading(&state, token, move |s, _| {
        rules::diff(s.store(), q.from, q.to)
    })
    .await
}

async fn try_rules(
    axum::extract::State(state): St,
    token: SessionToken,
    StrictPath(version): StrictPath<i64>,
    Body(req): Body<RulesTryRequest>,
) -> Result<Json<RulesTryResponse>, ApiError> {
    reading(&state, token, move |s, _| {
        rules::try_receipt(s.store(), version, &req, s.now())
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitQuery {
    limit: Option<u32>,
}

async fn audit(
    axum::extract::State(state): St,
    token: SessionToken,
    StrictQuery(q): StrictQuery<LimitQuery>,
) -> Result<Json<Vec<AuditEvent>>, ApiError> {
    read(&state, move |s| {
        let actor = token.actor(s)?;
        let limit = i64::from(q.limit.unwrap_or(100).min(1000));
        let rows = store::read(s.store(), |r| r.admin_audit(actor.store_filter(), limit))?;
        let parse = |j: &Option<String>| j.as_deref().and_then(|j| serde_json::from_str(j).ok());
        Ok(axum::Json(
            rows.iter()
                .map(|a| AuditEvent {
                    at: a.at,
                    actor: a.actor.clone(),
                    action: a.action.clone(),
                    target: a.target.clone(),
                    store_id: a.store_id.clone(),
                    before: parse(&a.before),
                    after: parse(&a.after),
                })
                .collect(),
        ))
    })
    .await
}

/// `POST /terminal/status`: what a till reports of itself on every refresh — its
/// version, its queue — for the back office's list of terminals.
pub(crate) async fn terminal_status(
    axum::extract::State(state): St,
    token: Token,
    Body(req): Body<TerminalStatusRequest>,
) -> Result<StatusCode, ApiError> {
    write(&state, move |s| {
        let terminal = token.terminal(s)?;
        chain::report_terminal(s.store(), &terminal.id, &req, s.now())?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchQuery {
    q: String,
}

async fn search_customers(
    axum::extract::State(state): St,
    token: SessionToken,
    StrictQuery(q): StrictQuery<SearchQuery>,
) -> Result<Json<Vec<CustomerListItem>>, ApiError> {
    reading(&state, token, move |s, a| {
        customers::search(s.store(), a, &q.q)
    })
    .await
}

async fn customer_page(
    axum::extract::State(state): St,
    token: SessionToken,
    StrictPath(id): StrictPath<String>,
) -> Result<Json<CustomerPage>, ApiError> {
    reading(&state, token, move |s, a| {
        customers::page(s.store(), a, &id, s.now())
    })
    .await
}

/// A change of a customer, answered with their page as it is after it.
async fn change_customer(
    state: Arc<State>,
    token: SessionToken,
    id: String,
    f: impl FnOnce(&State, &Actor, &str) -> Result<(), BackofficeError> + Send + 'static,
) -> Result<Json<CustomerPage>, ApiError> {
    changing(&state, token, move |s, a| {
        f(s, a, &id)?;
        customers::page(s.store(), a, &id, s.now())
    })
    .await
}

async fn customer_questionnaire(
    axum::extract::State(state): St,
    token: SessionToken,
    StrictPath(id): StrictPath<String>,
    Body(req): Body<CustomerQuestionnaire>,
) -> Result<Json<CustomerPage>, ApiError> {
    change_customer(state, token, id, move |s, actor, id| {
        customers::update_questionnaire(s.store(), actor, id, &req, s.now()).map(|_| ())
    })
    .await
}

async fn customer_block_card(
    axum::extract::State(state): St,
    token: SessionToken,
    StrictPath(id): StrictPath<String>,
    Body(req): Body<CardBlockRequest>,
) -> Result<Json<CustomerPage>, ApiError> {
    change_customer(state, token, id, move |s, actor, id| {
        customers::block_card(s.store(), actor, id, &req.reason, s.now())
    })
    .await
}

async fn customer_replace_card(
    axum::extract::State(state): St,
    token: SessionToken,
    StrictPath(id): StrictPath<String>,
    Body(req): Body<CardReplaceRequest>,
) -> Result<Json<CustomerPage>, ApiError> {
    change_customer(state, token, id, move |s, actor, id| {
        let number = req.number.as_ref().map(|n| n.expose());
        customers::replace_card(s.store(), actor, id, number, &req.reason, s.now()).map(|_| ())
    })
    .await
}

async fn customer_bonuses(
    axum::extract::State(state): St,
    token: SessionToken,
    StrictPath(id): StrictPath<String>,
    Body(req): Body<ManualChangeRequest>,
) -> Result<Json<CustomerPage>, ApiError> {
    change_customer(state, token, id, move |s, actor, id| {
        customers::manual_change(s.store(), actor, id, &req, s.now()).map(|_| ())
    })
    .await
}

async fn customer_consents(
    axum::extract::State(state): St,
    token: SessionToken,
    StrictPath(id): StrictPath<String>,
    Body(req): Body<ConsentsUpdate>,
) -> Result<Json<CustomerPage>, ApiError> {
    change_customer(state, token, id, move |s, actor, id| {
        customers::set_consents(s.store(), actor, id, &req, s.now())
    })
    .await
}

async fn customer_merge(
    axum::extract::State(state): St,
    token: SessionToken,
    StrictPath(id): StrictPath<String>,
    Body(req): Body<MergeRequest>,
) -> Result<Json<CustomerPage>, ApiError> {
    changing(&state, token, move |s, a| {
        customers::merge(s.store(), a, &id, &req.duplicate_id, s.now())
    })
    .await
}

async fn customer_erase(
    axum::extract::State(state): St,
    token: SessionToken,
    StrictPath(id): StrictPath<String>,
) -> Result<Json<CustomerPage>, ApiError> {
    change_customer(state, token, id, move |s, actor, id| {
        customers::erase(s.store(), actor, id, s.now())
    })
    .await
}

async fn customer_status(
    axum::extract::State(state): St,
    token: SessionToken,
    StrictPath(id): StrictPath<String>,
    Body(req): Body<StatusRequest>,
) -> Result<Json<CustomerPage>, ApiError> {
    change_customer(state, token, id, move |s, actor, id| {
        let rules = s.current_rules();
        customers::set_status(s.store(), actor, id, &req, &rules.rules, s.now())
    })
    .await
}

// --- Reports ----------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportQuery {
    from: String,
    to: String,
    by: Option<String>,
    store: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportQuery {
    from: String,
    to: String,
    by: Option<String>,
    store: Option<String>,
    /// `csv` (the default) or `xlsx`.
    format: Option<String>,
}

fn asked<'a>(
    from: &'a str,
    to: &'a str,
    by: &'a Option<String>,
    store: &'a Option<String>,
) -> reports::Asked<'a> {
    reports::Asked {
        from,
        to,
        by: by.as_deref(),
        store: store.as_deref(),
    }
}

async fn report(
    axum::extract::State(state): St,
    token: SessionToken,
    StrictQuery(q): StrictQuery<ReportQuery>,
) -> Result<Json<crate::protocol::reports::ReportView>, ApiError> {
    read(&state, move |s| {
        let actor = token.actor(s)?;
        let asked = asked(&q.from, &q.to, &q.by, &q.store);
        let report = reports::report_for(s.store(), &actor, &asked)?;
        Ok(axum::Json(reports::view(&report)))
    })
    .await
}

/// The report as a file: CSV for Russian Excel or XLSX, as an attachment.
async fn export_report(
    axum::extract::State(state): St,
    token: SessionToken,
    StrictQuery(q): StrictQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    read(&state, move |s| {
        let actor = token.actor(s)?;
        let asked = asked(&q.from, &q.to, &q.by, &q.store);
        let report = reports::report_for(s.store(), &actor, &asked)?;
        let format = q.format.as_deref().unwrap_or("csv");
        let (bytes, media, name) = reports::export_file(&report, format)?;
        let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
            .map_err(|_| ApiError::internal())?;
        Ok((
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(media)),
                (header::CONTENT_DISPOSITION, disposition),
            ],
            bytes,
        )
            .into_response())
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LiabilityQuery {
    at: Option<String>,
    store: Option<String>,
}

async fn liability(
    axum::extract::State(state): St,
    token: SessionToken,
    StrictQuery(q): StrictQuery<LiabilityQuery>,
) -> Result<Json<crate::protocol::reports::LiabilityView>, ApiError> {
    read(&state, move |s| {
        let actor = token.actor(s)?;
        Ok(axum::Json(reports::liability_for(
            s.store(),
            &actor,
            q.at.as_deref(),
            q.store.as_deref(),
            s.now(),
        )?))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportQuery {
    store: String,
    #[serde(default)]
    dry_run: bool,
}

impl From<crate::server::import::ImportError> for ApiError {
    fn from(e: crate::server::import::ImportError) -> ApiError {
        use crate::server::import::ImportError as E;
        let message = e.to_string();
        match e {
            E::Store(e) => e.into(),
            E::Forbidden(_) => ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, message),
            E::UnknownStore(_) => {
                ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, message)
            }
            _ => ApiError::bad_request(message),
        }
    }
}

/// `POST /admin/imports?store=ID[&dry_run=true]`: the body is the customer base file
/// itself (CSV or XLSX, up to `import::MAX_FILE_BYTES`); the answer is the report, whether
/// or not it wrote (`written`, `problems`).
async fn import_customers(
    axum::extract::State(state): St,
    token: SessionToken,
    StrictQuery(q): StrictQuery<ImportQuery>,
    request: axum::extract::Request,
) -> Result<Json<crate::server::import::ImportReport>, ApiError> {
    use crate::server::import;
    // The file is larger than the API's JSON bodies: read here with its own cap.
    let file = axum::body::to_bytes(request.into_body(), import::MAX_FILE_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::PayloadTooLarge,
                format!(
                    "the file is larger than {} bytes; split it into several files",
                    import::MAX_FILE_BYTES
                ),
            )
        })?;
    write(&state, move |s| {
        let actor = token.actor(s)?;
        let rules = s.current_rules();
        Ok(axum::Json(import::import(
            s.store(),
            &actor,
            &rules.rules,
            &file,
            &q.store,
            q.dry_run,
            s.now(),
        )?))
    })
    .await
}
