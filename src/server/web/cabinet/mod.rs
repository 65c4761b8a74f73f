//! The chain's cabinet, `/admin`: the back office in a browser, for the owner and the
//! store managers. Every page calls the same services as `/api/v1/admin`
//! (`server::backoffice`), so scope checks and audit events are the API's own.
//!
//! A page without a session sends the browser to the sign-in page; an account that must
//! still change its one-time password is sent to the password page. Every POST checks the
//! form's CSRF token against the session's before anything else.

mod audit;
mod chain;
mod customers;
mod imports;
mod reports;
mod rules;
mod sign_in;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use maud::{Markup, html};

use super::{Chrome, Lang, Notice, WebError, document, page};
use crate::server::State;
use crate::server::backoffice::{Actor, BackofficeError, accounts};
use crate::server::store::{self, AccountRole};

pub(crate) fn router() -> Router<Arc<State>> {
    Router::new()
        .route("/admin", get(home))
        .route("/admin/", get(home))
        .merge(sign_in::router())
        .merge(chain::router())
        .merge(rules::router())
        .merge(audit::router())
        .merge(customers::router())
        .merge(imports::router())
        .merge(reports::router())
}

/// A signed-in request: who, in which language, and the token its forms must carry.
pub(crate) struct Cab {
    pub actor: Actor,
    pub lang: Lang,
    pub csrf: String,
    /// The request's path, for the language switch.
    pub path: String,
    /// The session's token (to sign it out).
    pub(crate) token: String,
}

impl FromRequestParts<Arc<State>> for Cab {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<State>) -> Result<Cab, Response> {
        let lang = Lang::from_headers(&parts.headers);
        let path = parts.uri.path().to_string();
        let Some(token) = super::cookie(&parts.headers, sign_in::SESSION_COOKIE) else {
            return Err(to_sign_in(&path));
        };
        let token = token.to_string();
        let t = token.clone();
        let account = super::reading(state, lang, move |s| {
            let now = s.now();
            Ok(store::read(s.store(), |r| {
                accounts::authenticate(r, &t, now)
            })?)
        })
        .await
        .map_err(|e| e.into_page(lang))?;
        let Some(account) = account else {
            return Err(to_sign_in(&path));
        };
        if account.must_change {
            return Err(Redirect::to("/admin/password").into_response());
        }
        Ok(Cab {
            actor: Actor::of(&account),
            lang,
            csrf: super::session_csrf(&token),
            path,
            token,
        })
    }
}

fn to_sign_in(path: &str) -> Response {
    // Only the path goes along (never a query: a search never travels in one anyway).
    if path == "/admin" || path == "/admin/" || !super::local_path(path) {
        Redirect::to("/admin/sign-in").into_response()
    } else {
        Redirect::to(&format!("/admin/sign-in?next={}", super::urlencode(path))).into_response()
    }
}

impl Cab {
    pub(crate) fn t<'a>(&self, ru: &'a str, en: &'a str) -> &'a str {
        self.lang.t(ru, en)
    }

    /// Refuses a form whose CSRF token is not this session's.
    pub(crate) fn check(&self, csrf: &str) -> Result<(), WebError> {
        if super::csrf_ok(&self.csrf, csrf) {
            Ok(())
        } else {
            Err(WebError::new(
                StatusCode::FORBIDDEN,
                self.t(
                    "Форма устарела или открыта с другого сайта. Обновите страницу и повторите.",
                    "The form is stale or came from another site. Reload the page and try again.",
                ),
            ))
        }
    }

    /// A change posted by a form: its CSRF token checked, then `f` on the write pool as
    /// this actor.
    pub(crate) async fn change<T: Send + 'static>(
        &self,
        state: &Arc<State>,
        csrf: &str,
        f: impl FnOnce(&State, &Actor) -> Result<T, BackofficeError> + Send + 'static,
    ) -> Result<T, WebError> {
        self.check(csrf)?;
        let actor = self.actor.clone();
        super::writing(state, self.lang, move |s| f(s, &actor)).await
    }

    /// A whole page of the cabinet, with the navigation.
    pub(crate) fn page(&self, title: &str, notice: Option<&Notice>, body: Markup) -> Response {
        self.page_with(StatusCode::OK, title, notice, body)
    }

    pub(crate) fn page_with(
        &self,
        status: StatusCode,
        title: &str,
        notice: Option<&Notice>,
        body: Markup,
    ) -> Response {
        let chrome = Chrome {
            lang: self.lang,
            title,
            path: &self.path,
            nav: Some(self.nav()),
            narrow: false,
        };
        page(status, document(&chrome, notice, body))
    }

    /// An error as a page of the cabinet.
    pub(crate) fn error(&self, e: WebError) -> Response {
        let title = self.t("Не получилось", "Not done");
        self.page_with(e.status, title, Some(&e.notice()), html! {})
    }

    fn nav(&self) -> Markup {
        let items: &[(&str, &str, &str)] = &[
            ("/admin/customers", "Клиенты", "Customers"),
            ("/admin/reports", "Отчёты", "Reports"),
            ("/admin/stores", "Магазины", "Stores"),
            ("/admin/staff", "Кассиры", "Staff"),
            ("/admin/terminals", "Кассы", "Terminals"),
            ("/admin/rules", "Правила", "Rules"),
            ("/admin/import", "Импорт", "Import"),
            ("/admin/audit", "Журнал", "Log"),
        ];
        let owner_items: &[(&str, &str, &str)] = &[("/admin/accounts", "Доступ", "Accounts")];
        let owner = self.actor.role == AccountRole::Owner;
        html! {
            header.top {
                nav aria-label=(self.t("Разделы", "Sections")) {
                    a.brand href="/admin" { "bonuskassa" }
                    @for (href, ru, en) in items.iter().chain(owner.then_some(owner_items).into_iter().flatten()) {
                        a href=(href) aria-current=[self.path.starts_with(href).then_some("page")] {
                            (self.t(ru, en))
                        }
                    }
                }
                div.who {
                    span.muted { (self.actor.name) }
                    (super::action_button("/admin/sign-out", &self.csrf, self.t("Выйти", "Sign out"), None, Some("link")))
                }
            }
        }
    }

    /// `?ok=KEY` after a change: the sentence it stands for (the key never holds data).
    pub(crate) fn done(&self, ok: Option<&str>, known: &[(&str, &str, &str)]) -> Option<Notice> {
        let key = ok?;
        known
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, ru, en)| Notice::Done(self.t(ru, en).to_string()))
    }
}

impl WebError {
    /// This error as a page without the cabinet's navigation (before a session is known).
    pub(crate) fn into_page(self, lang: Lang) -> Response {
        let chrome = Chrome {
            lang,
            title: lang.t("Не получилось", "Not done"),
            path: "/admin",
            nav: None,
            narrow: false,
        };
        page(
            self.status,
            document(&chrome, Some(&self.notice()), html! {}),
        )
    }
}

/// The query every page takes after a change.
#[derive(serde::Deserialize, Default)]
pub(crate) struct Done {
    pub ok: Option<String>,
}

/// The cabinet opens on the customers; a notice from the password change goes along.
async fn home(_cab: Cab, axum::extract::Query(q): axum::extract::Query<Done>) -> Response {
    match q.ok.as_deref() {
        Some("password") => Redirect::to("/admin/customers?ok=password").into_response(),
        _ => Redirect::to("/admin/customers").into_response(),
    }
}

/// Maps a service refusal to a page error in the cabinet's language.
pub(crate) fn refused(cab: &Cab, e: BackofficeError) -> WebError {
    WebError::of(cab.lang, e)
}
