//! Signing in and out, and the password change every account makes first.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;

use super::super::{
    Chrome, Form, Lang, Notice, csrf_field, csrf_ok, document, local_path, page, public_csrf,
    reading, session_csrf, writing,
};
use super::Cab;
use crate::server::State;
use crate::server::backoffice::accounts;
use crate::server::store;

/// The session cookie; the JSON API reads the same one.
pub(crate) const SESSION_COOKIE: &str = crate::protocol::admin::SESSION_COOKIE;

pub(super) fn router() -> Router<Arc<State>> {
    Router::new()
        .route("/admin/sign-in", get(sign_in_page).post(sign_in))
        .route("/admin/sign-out", post(sign_out))
        .route("/admin/password", get(password_page).post(change_password))
}

#[derive(Deserialize, Default)]
struct Next {
    next: Option<String>,
}

fn next_or_home(next: Option<&str>) -> String {
    next.filter(|n| local_path(n) && n.starts_with("/admin"))
        .unwrap_or("/admin")
        .to_string()
}

fn sign_in_form(lang: Lang, csrf: &str, next: &str, email: &str) -> Markup {
    html! {
        form.card.narrow method="post" action="/admin/sign-in" {
            (csrf_field(csrf))
            input type="hidden" name="next" value=(next);
            label { (lang.t("E-mail", "E-mail"))
                input type="email" name="email" value=(email) required autocomplete="username" autofocus; }
            label { (lang.t("Пароль", "Password"))
                input type="password" name="password" required autocomplete="current-password"; }
            button type="submit" { (lang.t("Войти", "Sign in")) }
        }
    }
}

fn sign_in_response(
    lang: Lang,
    status: StatusCode,
    headers: &HeaderMap,
    next: &str,
    email: &str,
    notice: Option<Notice>,
) -> Response {
    let (csrf, set) = public_csrf(headers);
    let chrome = Chrome {
        lang,
        title: lang.t("Вход в кабинет", "Sign in to the cabinet"),
        path: "/admin/sign-in",
        nav: None,
        narrow: true,
    };
    let mut resp = page(
        status,
        document(
            &chrome,
            notice.as_ref(),
            sign_in_form(lang, &csrf, next, email),
        ),
    );
    if let Some(set) = set {
        resp.headers_mut().append(header::SET_COOKIE, set);
    }
    resp
}

async fn sign_in_page(lang: Lang, headers: HeaderMap, Query(q): Query<Next>) -> Response {
    let next = next_or_home(q.next.as_deref());
    sign_in_response(lang, StatusCode::OK, &headers, &next, "", None)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
    /// The sign-in button's name, when a browser sends it.
    #[serde(default)]
    #[allow(dead_code)]
    submit: Option<String>,
}

fn session_cookie(token: &str, max_age_s: i64) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}"
    ))
    .expect("a hex token makes a valid header")
}

async fn sign_in(
    AxState(state): AxState<Arc<State>>,
    lang: Lang,
    headers: HeaderMap,
    form: Form<SignInForm>,
) -> Response {
    let f = form.value;
    let next = next_or_home(f.next.as_deref());
    let expected = super::super::cookie(&headers, super::super::PUBLIC_CSRF_COOKIE).unwrap_or("");
    if !csrf_ok(expected, &form.csrf) {
        let n = Notice::Error(
            lang.t(
                "Страница входа устарела. Попробуйте ещё раз.",
                "The sign-in page was stale. Try again.",
            )
            .into(),
        );
        return sign_in_response(lang, StatusCode::FORBIDDEN, &headers, &next, "", Some(n));
    }
    let email = f.email.clone();
    let result = writing(&state, lang, move |s| {
        let now = s.now();
        let session = accounts::sign_in(s.store(), &f.email, &f.password, now)?;
        tracing::info!(account = session.account.id, "cabinet sign-in");
        Ok((session, now))
    })
    .await;
    match result {
        Ok((session, now)) => {
            let max_age = (session.expires_at - now).num_seconds().max(0);
            let to = if session.account.must_change {
                "/admin/password".to_string()
            } else {
                next
            };
            (
                [(
                    header::SET_COOKIE,
                    session_cookie(session.token.expose(), max_age),
                )],
                Redirect::to(&to),
            )
                .into_response()
        }
        Err(e) => sign_in_response(lang, e.status, &headers, &next, &email, Some(e.notice())),
    }
}

async fn sign_out(AxState(state): AxState<Arc<State>>, cab: Cab, form: Form<Empty>) -> Response {
    if let Err(e) = cab.check(&form.csrf) {
        return cab.error(e);
    }
    let token = cab.token.clone();
    let _ = writing(&state, cab.lang, move |s| {
        accounts::sign_out(s.store(), &token)?;
        Ok(())
    })
    .await;
    (
        [(header::SET_COOKIE, session_cookie("", 0))],
        Redirect::to("/admin/sign-in"),
    )
        .into_response()
}

/// A form with nothing but its CSRF token.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Empty {}

/// The password page reads the session itself: it is the one page an account with a
/// one-time password may open.
async fn signed_in_account(
    state: &Arc<State>,
    lang: Lang,
    headers: &HeaderMap,
) -> Result<(store::AccountRow, String), Response> {
    let Some(token) = super::super::cookie(headers, SESSION_COOKIE).map(str::to_string) else {
        return Err(Redirect::to("/admin/sign-in").into_response());
    };
    let t = token.clone();
    let account = reading(state, lang, move |s| {
        let now = s.now();
        Ok(store::read(s.store(), |r| {
            accounts::authenticate(r, &t, now)
        })?)
    })
    .await
    .map_err(|e| e.into_page(lang))?;
    match account {
        Some(a) => Ok((a, token)),
        None => Err(Redirect::to("/admin/sign-in").into_response()),
    }
}

fn password_response(
    lang: Lang,
    status: StatusCode,
    account: &store::AccountRow,
    token: &str,
    notice: Option<Notice>,
) -> Response {
    let chrome = Chrome {
        lang,
        title: lang.t("Смена пароля", "Change the password"),
        path: "/admin/password",
        nav: None,
        narrow: true,
    };
    let body = html! {
        @if account.must_change {
            p { (lang.t(
                "Вы вошли с одноразовым паролем. Придумайте свой пароль: не короче 10 символов.",
                "You signed in with a one-time password. Choose your own: at least 10 characters."
            )) }
        }
        form.card.narrow method="post" action="/admin/password" {
            (csrf_field(&session_csrf(token)))
            p.muted { (account.email) }
            label { (lang.t("Текущий пароль", "Current password"))
                input type="password" name="current" required autocomplete="current-password"; }
            label { (lang.t("Новый пароль", "New password"))
                input type="password" name="new" required minlength="10" autocomplete="new-password"; }
            label { (lang.t("Новый пароль ещё раз", "New password again"))
                input type="password" name="again" required minlength="10" autocomplete="new-password"; }
            button type="submit" { (lang.t("Сменить пароль", "Change the password")) }
        }
        @if !account.must_change {
            p { a href="/admin" { (lang.t("В кабинет", "To the cabinet")) } }
        }
    };
    page(status, document(&chrome, notice.as_ref(), body))
}

async fn password_page(
    AxState(state): AxState<Arc<State>>,
    lang: Lang,
    headers: HeaderMap,
) -> Response {
    match signed_in_account(&state, lang, &headers).await {
        Ok((account, token)) => password_response(lang, StatusCode::OK, &account, &token, None),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    again: String,
}

async fn change_password(
    AxState(state): AxState<Arc<State>>,
    lang: Lang,
    headers: HeaderMap,
    form: Form<PasswordForm>,
) -> Response {
    let (account, token) = match signed_in_account(&state, lang, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    if !csrf_ok(&session_csrf(&token), &form.csrf) {
        let n = Notice::Error(
            lang.t(
                "Страница устарела. Повторите.",
                "The page was stale. Try again.",
            )
            .into(),
        );
        return password_response(lang, StatusCode::FORBIDDEN, &account, &token, Some(n));
    }
    let f = form.value;
    if f.new != f.again {
        let n = Notice::Error(
            lang.t(
                "Новые пароли не совпадают.",
                "The two new passwords differ.",
            )
            .into(),
        );
        return password_response(lang, StatusCode::BAD_REQUEST, &account, &token, Some(n));
    }
    let a = account.clone();
    let result = writing(&state, lang, move |s| {
        let now = s.now();
        let session = accounts::change_password(s.store(), &a, &f.current, &f.new, now)?;
        Ok((session, now))
    })
    .await;
    match result {
        Ok((session, now)) => {
            let max_age = (session.expires_at - now).num_seconds().max(0);
            (
                [(
                    header::SET_COOKIE,
                    session_cookie(session.token.expose(), max_age),
                )],
                Redirect::to("/admin?ok=password"),
            )
                .into_response()
        }
        Err(e) => password_response(lang, e.status, &account, &token, Some(e.notice())),
    }
}
