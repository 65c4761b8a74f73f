//! The journal: the back office's latest changes, who made them, before and after. A store
//! manager sees their stores' events only (the store's own filter).

use std::sync::Arc;

use axum::Router;
use axum::extract::State as AxState;
use axum::response::Response;
use axum::routing::get;
use maud::html;

use super::super::{CHAIN_TZ, reading};
use super::Cab;
use crate::server::State;
use crate::server::store;

/// How many of the latest events the page shows.
const SHOWN: i64 = 200;

pub(super) fn router() -> Router<Arc<State>> {
    Router::new().route("/admin/audit", get(audit_page))
}

/// An event's JSON side, indented for reading.
fn pretty(json: Option<&str>) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(json?).ok()?;
    serde_json::to_string_pretty(&v).ok()
}

async fn audit_page(AxState(state): AxState<Arc<State>>, cab: Cab) -> Response {
    let actor = cab.actor.clone();
    let rows = match reading(&state, cab.lang, move |s| {
        Ok(store::read(s.store(), |r| {
            r.admin_audit(actor.store_filter(), SHOWN)
        })?)
    })
    .await
    {
        Ok(r) => r,
        Err(e) => return cab.error(e),
    };
    let body = html! {
        p.muted { (cab.t("Последние изменения в кабинете, в API и из командной строки сервера.",
            "The latest changes made in the cabinet, through the API and on the server's command line.")) }
        @if rows.is_empty() { p { (cab.t("Изменений пока нет.", "No changes yet.")) } }
        table.list hidden[rows.is_empty()] {
            thead { tr {
                th { (cab.t("Когда", "When")) } th { (cab.t("Кто", "Who")) }
                th { (cab.t("Что", "What")) } th { (cab.t("Магазин", "Store")) } th {}
            } }
            tbody { @for e in &rows {
                tr {
                    td data-label=(cab.t("Когда", "When")) { (cab.lang.datetime(e.at, CHAIN_TZ)) }
                    td data-label=(cab.t("Кто", "Who")) { (e.actor) }
                    td data-label=(cab.t("Что", "What")) { code { (e.action) } br; span.muted { (e.target) } }
                    td data-label=(cab.t("Магазин", "Store")) { (e.store_id.as_deref().unwrap_or("—")) }
                    td {
                        @let (before, after) = (pretty(e.before.as_deref()), pretty(e.after.as_deref()));
                        @if before.is_some() || after.is_some() {
                            details {
                                summary { (cab.t("До и после", "Before and after")) }
                                @if let Some(b) = before { p.muted { (cab.t("до", "before")) } pre { (b) } }
                                @if let Some(a) = after { p.muted { (cab.t("после", "after")) } pre { (a) } }
                            }
                        }
                    }
                }
            } }
        }
    };
    cab.page(cab.t("Журнал изменений", "Change log"), None, body)
}
