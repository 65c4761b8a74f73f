//! The server's web pages: the chain's cabinet (`/admin`, over the back-office services)
//! and the customer's own page (`/r/{store}`), served by the same `serve` as the API.
//!
//! Server-rendered HTML (`maud`), plain forms that work without JavaScript, one style sheet
//! and one small script embedded in the binary: nothing is fetched from elsewhere, at build
//! or at run time. Every page goes out with a strict Content-Security-Policy (only this
//! server's own style sheet, script and images; no inline script), `no-store`, and no
//! referrer. Every form that changes something carries a CSRF token: in the cabinet it is
//! derived from the session, on the public page it is a double-submit cookie. No phone
//! number, name or code ever goes into a URL: searches and sign-ins are POSTed.
//!
//! Russian by default; a link in the footer switches to English (the `bk_lang` cookie).

pub(crate) mod cabinet;
pub(crate) mod public;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::State;
use super::backoffice::BackofficeError;
use super::store::StoreError;

/// The cabinet's style sheet and script, embedded.
const CSS: &str = include_str!("../../../assets/web/bonuskassa.css");
const JS: &str = include_str!("../../../assets/web/bonuskassa.js");
/// Where they are served; the name carries a digest of the content so a new build's pages
/// never meet an old cached copy.
pub(crate) const CSS_PATH: &str = "/static/bonuskassa.css";
pub(crate) const JS_PATH: &str = "/static/bonuskassa.js";

/// The policy every page is sent with: this server's own style sheet, script and images
/// (and `data:` images: the QR codes and barcodes are drawn inline as SVG), forms posted
/// only back here, never framed.
pub(crate) const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; \
     img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The pages' routes: the cabinet, the public page, the static files.
pub(crate) fn router() -> Router<Arc<State>> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/admin") }))
        .route(CSS_PATH, get(css))
        .route(JS_PATH, get(js))
        .route("/lang/{code}", get(switch_language))
        .merge(cabinet::router())
        .merge(public::router())
        .layer(middleware::from_fn(security_headers))
}

async fn css() -> Response {
    static_file(CSS, "text/css; charset=utf-8")
}

async fn js() -> Response {
    static_file(JS, "text/javascript; charset=utf-8")
}

fn static_file(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// Adds the security headers to every page (static files keep their own cache header).
async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    resp
}

/// The language of the pages: the `bk_lang` cookie, Russian without one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Lang {
    #[default]
    Ru,
    En,
}

const LANG_COOKIE: &str = "bk_lang";

impl Lang {
    pub(crate) fn from_headers(headers: &HeaderMap) -> Lang {
        match cookie(headers, LANG_COOKIE) {
            Some("en") => Lang::En,
            _ => Lang::Ru,
        }
    }

    /// The Russian or the English text.
    pub(crate) fn t<'a>(self, ru: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Ru => ru,
            Lang::En => en,
        }
    }

    pub(crate) fn code(self) -> &'static str {
        match self {
            Lang::Ru => "ru",
            Lang::En => "en",
        }
    }

    /// A moment as the reader reads it, in a time zone (the store's, or Moscow's).
    pub(crate) fn datetime(self, at: chrono::DateTime<chrono::Utc>, tz: chrono_tz::Tz) -> String {
        let local = at.with_timezone(&tz);
        match self {
            Lang::Ru => local.format("%d.%m.%Y %H:%M").to_string(),
            Lang::En => local.format("%Y-%m-%d %H:%M").to_string(),
        }
    }

    pub(crate) fn date(self, d: chrono::NaiveDate) -> String {
        match self {
            Lang::Ru => d.format("%d.%m.%Y").to_string(),
            Lang::En => d.format("%Y-%m-%d").to_string(),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Lang, Self::Rejection> {
        Ok(Lang::from_headers(&parts.headers))
    }
}

/// The zone the cabinet shows chain-wide moments in.
pub(crate) const CHAIN_TZ: chrono_tz::Tz = chrono_tz::Europe::Moscow;

#[derive(Deserialize)]
struct Back {
    back: Option<String>,
}

/// `/lang/en?back=/admin/stores`: keeps the choice in a cookie and goes back.
async fn switch_language(
    axum::extract::Path(code): axum::extract::Path<String>,
    axum::extract::Query(q): axum::extract::Query<Back>,
) -> Response {
    let lang = if code == "en" { "en" } else { "ru" };
    let back = q.back.filter(|b| local_path(b)).unwrap_or("/admin".into());
    let cookie = format!("{LANG_COOKIE}={lang}; Path=/; SameSite=Lax; Max-Age=31536000");
    ([(header::SET_COOKIE, cookie)], Redirect::to(&back)).into_response()
}

/// A path on this server (never `//host` or a scheme): safe to redirect to.
pub(crate) fn local_path(p: &str) -> bool {
    p.starts_with('/')
        && !p.starts_with("//")
        && !p.starts_with("/\\")
        && p.len() <= 200
        && !p.chars().any(|c| c.is_control())
}

/// A cookie's value from the request's headers.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// What a page shows around its content.
pub(crate) struct Chrome<'a> {
    pub lang: Lang,
    pub title: &'a str,
    /// The path of this page, for the language switch to come back to.
    pub path: &'a str,
    /// The navigation bar (the cabinet's, when signed in).
    pub nav: Option<Markup>,
    /// A page for a phone first (the customer's page).
    pub narrow: bool,
}

/// A whole HTML document.
pub(crate) fn document(c: &Chrome, notice: Option<&Notice>, body: Markup) -> Markup {
    let other = match c.lang {
        Lang::Ru => ("en", "English"),
        Lang::En => ("ru", "Русский"),
    };
    let back = if local_path(c.path) { c.path } else { "/admin" };
    html! {
        (DOCTYPE)
        html lang=(c.lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (c.title) " — bonuskassa" }
                link rel="stylesheet" href=(CSS_PATH);
                script src=(JS_PATH) defer {}
            }
            body class=[c.narrow.then_some("narrow")] {
                @if let Some(nav) = &c.nav { (nav) }
                main {
                    h1 { (c.title) }
                    @if let Some(n) = notice { (n.render()) }
                    (body)
                }
                footer {
                    a href={ "/lang/" (other.0) "?back=" (urlencode(back)) } hreflang=(other.0) { (other.1) }
                    span.muted { " · bonuskassa " (env!("CARGO_PKG_VERSION")) }
                }
            }
        }
    }
}

/// Percent-encodes a query value.
pub(crate) fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A message at the top of a page: what was done, or what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Notice {
    Done(String),
    Error(String),
}

impl Notice {
    fn render(&self) -> Markup {
        match self {
            Notice::Done(m) => html! { p.notice.done role="status" { (m) } },
            Notice::Error(m) => html! { p.notice.error role="alert" { (m) } },
        }
    }
}

/// An HTML answer with a status.
pub(crate) fn page(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}

/// A redirect after a POST: the browser GETs the next page, so a reload repeats nothing.
pub(crate) fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// A failed page: its status and the sentence shown, in the reader's language.
#[derive(Debug)]
pub(crate) struct WebError {
    pub status: StatusCode,
    pub message: String,
}

impl WebError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> WebError {
        WebError {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> WebError {
        WebError::new(StatusCode::BAD_REQUEST, message)
    }

    /// A back-office refusal worded for the page: a headline in the reader's language and
    /// the service's own sentence, which names the field or the rule.
    pub(crate) fn of(lang: Lang, e: BackofficeError) -> WebError {
        let detail = e.to_string();
        let (status, head) = match &e {
            BackofficeError::BadRequest(_) => (
                StatusCode::BAD_REQUEST,
                lang.t("Проверьте введённое", "Check what you entered"),
            ),
            BackofficeError::NotFound(_) => {
                (StatusCode::NOT_FOUND, lang.t("Не найдено", "Not found"))
            }
            BackofficeError::Forbidden(_) => {
                (StatusCode::FORBIDDEN, lang.t("Нет доступа", "Not allowed"))
            }
            BackofficeError::AlreadyExists(_) => {
                (StatusCode::CONFLICT, lang.t("Уже есть", "Already exists"))
            }
            BackofficeError::RulesInvalid(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                lang.t("Ошибка в файле правил", "The rules file has a mistake"),
            ),
            BackofficeError::SignInFailed => {
                return WebError::new(
                    StatusCode::UNAUTHORIZED,
                    lang.t("Неверный e-mail или пароль.", "Wrong e-mail or password."),
                );
            }
            BackofficeError::Locked { retry_after_s } => {
                return WebError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    match lang {
                        Lang::Ru => format!(
                            "Слишком много неверных паролей. Попробуйте через {retry_after_s} с."
                        ),
                        Lang::En => {
                            format!("Too many wrong passwords. Try again in {retry_after_s} s.")
                        }
                    },
                );
            }
            BackofficeError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                lang.t("Войдите снова", "Sign in again"),
            ),
            BackofficeError::PasswordChangeRequired => (
                StatusCode::FORBIDDEN,
                lang.t("Смените пароль", "Change the password"),
            ),
            BackofficeError::Store(StoreError::Conflict(_) | StoreError::Unavailable(_)) => {
                tracing::warn!(error = %e, "a page's store work did not go through");
                return WebError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    lang.t(
                        "База данных занята или недоступна; ничего не изменено, повторите.",
                        "The database is busy or unreachable; nothing was changed, try again.",
                    ),
                );
            }
            BackofficeError::Store(_) => {
                tracing::error!(error = %e, "a page's store work failed");
                return WebError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    lang.t(
                        "Внутренняя ошибка сервера; ничего не изменено.",
                        "Internal server error; nothing was changed.",
                    ),
                );
            }
        };
        WebError::new(status, format!("{head}: {detail}"))
    }

    pub(crate) fn notice(&self) -> Notice {
        Notice::Error(self.message.clone())
    }
}

/// Runs store work on the read pool.
pub(crate) async fn reading<T: Send + 'static>(
    state: &Arc<State>,
    lang: Lang,
    f: impl FnOnce(&State) -> Result<T, BackofficeError> + Send + 'static,
) -> Result<T, WebError> {
    let s = state.clone();
    match state.workers.read(move || f(&s)).await {
        Ok(r) => r.map_err(|e| WebError::of(lang, e)),
        Err(e) => Err(task_failed(lang, e)),
    }
}

/// Runs store work on the write pool.
pub(crate) async fn writing<T: Send + 'static>(
    state: &Arc<State>,
    lang: Lang,
    f: impl FnOnce(&State) -> Result<T, BackofficeError> + Send + 'static,
) -> Result<T, WebError> {
    let s = state.clone();
    match state.workers.write(move || f(&s)).await {
        Ok(r) => r.map_err(|e| WebError::of(lang, e)),
        Err(e) => Err(task_failed(lang, e)),
    }
}

fn task_failed(lang: Lang, e: super::workers::TaskFailed) -> WebError {
    tracing::error!(error = %e, "a page's store task failed");
    WebError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        lang.t(
            "Внутренняя ошибка сервера; ничего не изменено.",
            "Internal server error; nothing was changed.",
        ),
    )
}

/// The CSRF token of a session: a digest of its token, so it needs no storage and dies
/// with the session; a page from another site cannot read it.
pub(crate) fn session_csrf(session_token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"bonuskassa-cabinet-csrf\0");
    h.update(session_token.as_bytes());
    crate::crypto::hex(&h.finalize()[..16])
}

/// The public page's CSRF cookie (double submit: the form's field must equal it).
pub(crate) const PUBLIC_CSRF_COOKIE: &str = "bk_csrf";

/// The public page's CSRF token: the cookie's, or a new one with the cookie to set.
pub(crate) fn public_csrf(headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    match cookie(headers, PUBLIC_CSRF_COOKIE).filter(|v| v.len() == 32) {
        Some(v) => (v.to_string(), None),
        None => {
            let token = crate::crypto::hex(&rand::random::<[u8; 16]>());
            let set = HeaderValue::from_str(&format!(
                "{PUBLIC_CSRF_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
            ))
            .expect("a hex token makes a valid header");
            (token, Some(set))
        }
    }
}

/// Whether a form's token is the expected one (in constant time).
pub(crate) fn csrf_ok(expected: &str, given: &str) -> bool {
    !expected.is_empty() && crate::crypto::ct_eq(expected.as_bytes(), given.as_bytes())
}

/// The hidden field that carries the CSRF token in a form.
pub(crate) fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(token); }
}

/// A posted form (`application/x-www-form-urlencoded`) parsed strictly into `T`, with its
/// CSRF token taken apart for the handler to check. Empty fields read as absent, as a
/// browser sends an untouched optional input.
pub(crate) struct Form<T> {
    pub csrf: String,
    pub value: T,
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Form<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let lang = Lang::from_headers(req.headers());
        let bad = |m: String| bad_form(lang, m);
        let urlencoded = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if !urlencoded {
            return Err(bad(
                "the form must be sent as application/x-www-form-urlencoded".into(),
            ));
        }
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|e| bad(format!("cannot read the form: {e}")))?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
            .map_err(|e| bad(format!("the form does not parse: {e}")))?;
        let (csrf, fields) = split_csrf(pairs);
        let value = form_value(fields).map_err(bad)?;
        Ok(Form { csrf, value })
    }
}

/// Takes the `csrf` field out; drops empty fields and refuses a NUL anywhere.
pub(crate) fn split_csrf(pairs: Vec<(String, String)>) -> (String, Vec<(String, String)>) {
    let mut csrf = String::new();
    let mut rest = Vec::with_capacity(pairs.len());
    for (k, v) in pairs {
        if k == "csrf" {
            csrf = v;
        } else if !v.trim().is_empty() {
            rest.push((k, v));
        }
    }
    (csrf, rest)
}

/// Parses the remaining fields into `T`, naming a bad field.
pub(crate) fn form_value<T: DeserializeOwned>(fields: Vec<(String, String)>) -> Result<T, String> {
    if fields
        .iter()
        .any(|(k, v)| k.contains('\0') || v.contains('\0'))
    {
        return Err("a field holds a NUL character".into());
    }
    let encoded = serde_urlencoded::to_string(&fields).map_err(|e| e.to_string())?;
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(encoded.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        if path == "." || path.is_empty() {
            format!("the form: {}", e.inner())
        } else {
            format!("{path}: {}", e.inner())
        }
    })
}

fn bad_form(lang: Lang, message: String) -> Response {
    let chrome = Chrome {
        lang,
        title: lang.t("Ошибка в форме", "The form has a mistake"),
        path: "/admin",
        nav: None,
        narrow: false,
    };
    let body = html! {
        p { (message) }
        p { a href="javascript:history.back()" { (lang.t("Назад", "Back")) } }
    };
    page(StatusCode::BAD_REQUEST, document(&chrome, None, body))
}

/// A `multipart/form-data` upload (a rules or an import file): its text fields, its files,
/// and the CSRF token taken apart.
pub(crate) struct Upload {
    pub csrf: String,
    pub fields: Vec<(String, String)>,
    pub files: Vec<UploadedFile>,
}

pub(crate) struct UploadedFile {
    pub field: String,
    pub file_name: String,
    pub bytes: Bytes,
}

impl Upload {
    pub(crate) fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn file(&self, name: &str) -> Option<&UploadedFile> {
        self.files
            .iter()
            .find(|f| f.field == name && !f.bytes.is_empty())
    }
}

impl<S: Send + Sync> FromRequest<S> for Upload {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let lang = Lang::from_headers(req.headers());
        let bad = |m: String| bad_form(lang, m);
        let mut multipart = axum::extract::Multipart::from_request(req, state)
            .await
            .map_err(|e| bad(format!("the upload does not parse: {}", e.body_text())))?;
        let mut up = Upload {
            csrf: String::new(),
            fields: Vec::new(),
            files: Vec::new(),
        };
        while let Some(field) = multipart
            .next_field()
            .await
            .map_err(|e| bad(format!("the upload does not parse: {}", e.body_text())))?
        {
            let name = field.name().unwrap_or_default().to_string();
            match field.file_name().map(str::to_string) {
                Some(file_name) => {
                    let bytes = field
                        .bytes()
                        .await
                        .map_err(|e| bad(format!("cannot read the file: {}", e.body_text())))?;
                    up.files.push(UploadedFile {
                        field: name,
                        file_name,
                        bytes,
                    });
                }
                None => {
                    let text = field
                        .text()
                        .await
                        .map_err(|e| bad(format!("cannot read {name}: {}", e.body_text())))?;
                    if text.contains('\0') {
                        return Err(bad(format!("{name}: holds a NUL character")));
                    }
                    if name == "csrf" {
                        up.csrf = text;
                    } else {
                        up.fields.push((name, text));
                    }
                }
            }
        }
        Ok(up)
    }
}

/// A button that posts a small form (with the CSRF token): an action such as «Активировать».
/// `confirm` is asked first by the page's script (a plain browser posts at once).
pub(crate) fn action_button(
    action: &str,
    csrf: &str,
    label: &str,
    confirm: Option<&str>,
    class: Option<&str>,
) -> Markup {
    html! {
        form.inline method="post" action=(action) data-confirm=[confirm] {
            (csrf_field(csrf))
            button type="submit" class=[class] { (label) }
        }
    }
}

/// Escapes nothing: for a trusted, server-drawn SVG.
pub(crate) fn trusted_svg(svg: String) -> Markup {
    PreEscaped(svg)
}
