//! The chain's pages: stores, staff, terminals and (for the owner) the cabinet's accounts.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State as AxState};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, Duration, Utc};
use maud::{Markup, html};
use serde::Deserialize;

use super::super::{Form, Notice, action_button, csrf_field, reading, see_other, writing};
use super::sign_in::Empty;
use super::{Cab, Done};
use crate::protocol::admin::{
    AccountRoleWire, NewStaffRequest, NewStoreRequest, StaffRole, StaffUpdate, StoreUpdate,
    StoreView, TerminalView,
};
use crate::protocol::server::Secret;
use crate::server::State;
use crate::server::backoffice::{accounts, chain};
use crate::server::store::AccountRole;

pub(super) fn router() -> Router<Arc<State>> {
    Router::new()
        .route("/admin/stores", get(stores_page).post(add_store))
        .route("/admin/stores/{id}", post(update_store))
        .route("/admin/staff", get(staff_page).post(add_staff))
        .route("/admin/staff/{id}", post(update_staff))
        .route("/admin/terminals", get(terminals_page))
        .route("/admin/terminals/enrollment-code", post(enrollment_code))
        .route("/admin/terminals/{id}/revoke", post(revoke_terminal))
        .route("/admin/terminals/{id}/unlock", post(unlock_terminal))
        .route("/admin/accounts", get(accounts_page).post(add_account))
        .route("/admin/accounts/{id}", post(update_account))
}

/// The common ending of a change: back to the page with its notice, or the page again
/// with the refusal.
async fn finish<F, Fut>(result: Result<(), super::super::WebError>, ok: &str, again: F) -> Response
where
    F: FnOnce(Option<Notice>, StatusCode) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    match result {
        Ok(()) => see_other(ok),
        Err(e) => again(Some(e.notice()), e.status).await,
    }
}

// ---- stores ------------------------------------------------------------------------

const STORE_DONE: &[(&str, &str, &str)] = &[
    ("added", "Магазин добавлен.", "The store was added."),
    ("saved", "Магазин сохранён.", "The store was saved."),
];

async fn stores_page(
    AxState(state): AxState<Arc<State>>,
    cab: Cab,
    Query(q): Query<Done>,
) -> Response {
    let notice = cab.done(q.ok.as_deref(), STORE_DONE);
    stores_view(&state, &cab, notice, StatusCode::OK).await
}

async fn stores_view(
    state: &Arc<State>,
    cab: &Cab,
    notice: Option<Notice>,
    status: StatusCode,
) -> Response {
    let actor = cab.actor.clone();
    let list = match reading(state, cab.lang, move |s| {
        chain::stores(s.store(), &actor, s.now())
    })
    .await
    {
        Ok(l) => l,
        Err(e) => return cab.error(e),
    };
    let owner = cab.actor.is_owner();
    let body = html! {
        table.list {
            thead { tr {
                th { (cab.t("Код", "Id")) } th { (cab.t("Название", "Name")) }
                th { (cab.t("Адрес", "Address")) } th { (cab.t("Часовой пояс", "Time zone")) }
                th {}
            } }
            tbody {
                @for s in &list {
                    tr {
                        td data-label=(cab.t("Код", "Id")) { code { (s.id) } }
                        td data-label=(cab.t("Название", "Name")) { (s.name) }
                        td data-label=(cab.t("Адрес", "Address")) { (s.address) }
                        td data-label=(cab.t("Часовой пояс", "Time zone")) {
                            (s.time_zone) " " span.muted { "(UTC" (offset(s.utc_offset_minutes)) ")" }
                        }
                        td { (store_edit(cab, s)) }
                    }
                }
            }
        }
        @if owner {
            h2 { (cab.t("Новый магазин", "New store")) }
            form.card method="post" action="/admin/stores" {
                (csrf_field(&cab.csrf))
                label { (cab.t("Код (латиница, цифры, - и _)", "Id (Latin letters, digits, - and _)"))
                    input name="id" required pattern="[A-Za-z0-9_-]{1,40}" maxlength="40"; }
                label { (cab.t("Название", "Name")) input name="name" required maxlength="200"; }
                label { (cab.t("Адрес", "Address")) input name="address" maxlength="300"; }
                label { (cab.t("Часовой пояс (IANA)", "Time zone (IANA)"))
                    input name="time_zone" value="Europe/Moscow" list="zones"; }
                (zones())
                button type="submit" { (cab.t("Добавить магазин", "Add the store")) }
            }
        }
    };
    cab.page_with(status, cab.t("Магазины", "Stores"), notice.as_ref(), body)
}

fn offset(minutes: i32) -> String {
    let sign = if minutes < 0 { '−' } else { '+' };
    let m = minutes.abs();
    if m % 60 == 0 {
        format!("{sign}{}", m / 60)
    } else {
        format!("{sign}{}:{:02}", m / 60, m % 60)
    }
}

/// The Russian zones a store is most likely in, offered as the field's suggestions.
fn zones() -> Markup {
    const ZONES: &[&str] = &[
        "Europe/Kaliningrad",
        "Europe/Moscow",
        "Europe/Samara",
        "Asia/Yekaterinburg",
        "Asia/Omsk",
        "Asia/Novosibirsk",
        "Asia/Krasnoyarsk",
        "Asia/Irkutsk",
        "Asia/Yakutsk",
        "Asia/Vladivostok",
        "Asia/Magadan",
        "Asia/Kamchatka",
    ];
    html! { datalist id="zones" { @for z in ZONES { option value=(z) {} } } }
}

fn store_edit(cab: &Cab, s: &StoreView) -> Markup {
    html! {
        details {
            summary { (cab.t("Изменить", "Edit")) }
            form.card method="post" action={ "/admin/stores/" (s.id) } {
                (csrf_field(&cab.csrf))
                label { (cab.t("Название", "Name")) input name="name" value=(s.name) required maxlength="200"; }
                label { (cab.t("Адрес", "Address")) input name="address" value=(s.address) maxlength="300"; }
                label { (cab.t("Часовой пояс", "Time zone")) input name="time_zone" value=(s.time_zone) list="zones"; }
                button type="submit" { (cab.t("Сохранить", "Save")) }
            }
        }
    }
}

async fn add_store(
    AxState(state): AxState<Arc<State>>,
    cab: Cab,
    form: Form<NewStoreRequest>,
) -> Response {
    let req = form.value;
    let r = cab
        .change(&state, &form.csrf, move |s, a| {
            chain::add_store(s.store(), a, &req, s.now()).map(drop)
        })
        .await;
    finish(r, "/admin/stores?ok=added", |n, st| {
        stores_view(&state, &cab, n, st)
    })
    .await
}

async fn update_store(
    AxState(state): AxState<Arc<State>>,
    cab: Cab,
    Path(id): Path<String>,
    form: Form<StoreUpdate>,
) -> Response {
    let mut req = form.value;
    // An emptied address field means no address.
    req.address.get_or_insert_with(String::new);
    let r = cab
        .change(&state, &form.csrf, move |s, a| {
            chain::update_store(s.store(), a, &id, &req, s.now()).map(drop)
        })
        .await;
    finish(r, "/admin/stores?ok=saved", |n, st| {
        stores_view(&state, &cab, n, st)
    })
    .await
}

// ---- staff -------------------------------------------------------------------------

const STAFF_DONE: &[(&str, &str, &str)] = &[
    (
        "added",
        "Сотрудник добавлен.",
        "The staff member was added.",
    ),
    ("saved", "Изменения сохранены.", "The change was saved."),
    ("code", "Код сменён.", "The code was changed."),
    (
        "unlocked",
        "Вход на кассе разблокирован.",
        "The till's logins were unlocked.",
    ),
];

#[derive(Deserialize, Default)]
struct StaffQuery {
    store: Option<String>,
    ok: Option<String>,
}

async fn staff_page(
    AxState(state): AxState<Arc<State>>,
    cab: Cab,
    Query(q): Query<StaffQuery>,
) -> Response {
    let notice = cab.done(q.ok.as_deref(), STAFF_DONE);
    staff_view(&state, &cab, q.store, notice, StatusCode::OK).await
}

async fn staff_view(
    state: &Arc<State>,
    cab: &Cab,
    store: Option<String>,
    notice: Option<Notice>,
    status: StatusCode,
) -> Response {
    let actor = cab.actor.clone();
    let filter = store.clone().filter(|s| !s.is_empty());
    let data = reading(state, cab.lang, move |s| {
        let now = s.now();
        let stores = chain::stores(s.store(), &actor, now)?;
        let staff = chain::staff(s.store(), &actor, filter.as_deref())?;
        let terminals = chain::terminals(s.store(), &actor, filter.as_deref(), now)?;
        Ok((stores, staff, terminals, now))
    })
    .await;
    let (stores, staff, terminals, now) = match data {
        Ok(d) => d,
        Err(e) => return cab.error(e),
    };
    let locked: Vec<&TerminalView> = terminals
        .iter()
        .filter(|t| t.logins_locked_until.is_some_and(|u| u > now) && t.revoked_at.is_none())
        .collect();
    let selected = store.unwrap_or_default();
    let store_name = |id: &str| {
        stores
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.name.clone())
            .unwrap_or_else(|| id.to_string())
    };
    let body = html! {
        form.filters method="get" action="/admin/staff" {
            label { (cab.t("Магазин", "Store"))
                select name="store" {
                    option value="" selected[selected.is_empty()] { (cab.t("Все", "All")) }
                    @for s in &stores { option value=(s.id) selected[selected == s.id] { (s.name) } }
                }
            }
            button type="submit" { (cab.t("Показать", "Show")) }
        }
        @if !locked.is_empty() {
            section.card.warn {
                h2 { (cab.t("Вход заблокирован после неверных кодов", "Logins locked after wrong codes")) }
                ul { @for t in &locked {
                    li { (t.name) " — " (store_name(&t.store_id)) " "
                        (action_button(&format!("/admin/terminals/{}/unlock?back=staff", t.id), &cab.csrf,
                            cab.t("Разблокировать", "Unlock"), None, None)) }
                } }
            }
        }
        @if staff.is_empty() {
            p.muted { (cab.t("Кассиров пока нет.", "No cashiers yet.")) }
        }
        table.list hidden[staff.is_empty()] {
            thead { tr {
                th { (cab.t("Имя", "Name")) } th { (cab.t("Магазин", "Store")) }
                th { (cab.t("Роль", "Role")) } th { (cab.t("Состояние", "State")) } th {}
            } }
            tbody { @for m in &staff {
                tr.inactive[!m.active] {
                    td data-label=(cab.t("Имя", "Name")) { (m.name) }
                    td data-label=(cab.t("Магазин", "Store")) { (store_name(&m.store_id)) }
                    td data-label=(cab.t("Роль", "Role")) { (role_name(cab, m.role)) }
                    td data-label=(cab.t("Состояние", "State")) {
                        @if m.active { (cab.t("работает", "active")) } @else { (cab.t("отключён", "deactivated")) }
                    }
                    td {
                        details {
                            summary { (cab.t("Изменить", "Change")) }
                            form.card method="post" action={ "/admin/staff/" (m.id) } {
                                (csrf_field(&cab.csrf))
                                label { (cab.t("Имя", "Name")) input name="name" value=(m.name) maxlength="100"; }
                                label { (cab.t("Роль", "Role")) (role_select(cab, Some(m.role))) }
                                label { (cab.t("Новый код (4–8 цифр), если нужно сменить", "A new code (4–8 digits), to change it"))
                                    input name="code" inputmode="numeric" pattern="[0-9]{4,8}" autocomplete="off"; }
                                label.check {
                                    input type="checkbox" name="active" value="true" checked[m.active];
                                    (cab.t("Работает", "Active"))
                                }
                                input type="hidden" name="active_shown" value="1";
                                button type="submit" { (cab.t("Сохранить", "Save")) }
                            }
                        }
                    }
                }
            } }
        }
        h2 { (cab.t("Новый кассир или менеджер", "New cashier or till manager")) }
        form.card method="post" action="/admin/staff" {
            (csrf_field(&cab.csrf))
            label { (cab.t("Магазин", "Store"))
                select name="store_id" required {
                    @for s in &stores { option value=(s.id) selected[selected == s.id] { (s.name) } }
                }
            }
            label { (cab.t("Имя", "Name")) input name="name" required maxlength="100"; }
            label { (cab.t("Роль", "Role")) (role_select(cab, None)) }
            label { (cab.t("Код входа (4–8 цифр)", "Login code (4–8 digits)"))
                input name="code" required inputmode="numeric" pattern="[0-9]{4,8}" autocomplete="off"; }
            button type="submit" { (cab.t("Добавить", "Add")) }
        }
    };
    cab.page_with(
        status,
        cab.t("Кассиры и менеджеры", "Cashiers and till managers"),
        notice.as_ref(),
        body,
    )
}

fn role_name(cab: &Cab, r: StaffRole) -> &str {
    match r {
        StaffRole::Cashier => cab.t("кассир", "cashier"),
        StaffRole::Manager => cab.t("менеджер", "manager"),
    }
}

fn role_select(cab: &Cab, current: Option<StaffRole>) -> Markup {
    html! {
        select name="role" {
            option value="cashier" selected[current == Some(StaffRole::Cashier)] { (cab.t("Кассир", "Cashier")) }
            option value="manager" selected[current == Some(StaffRole::Manager)] { (cab.t("Менеджер", "Manager")) }
        }
    }
}

async fn add_staff(
    AxState(state): AxState<Arc<State>>,
    cab: Cab,
    form: Form<NewStaffRequest>,
) -> Response {
    let req = form.value;
    let store = req.store_id.clone();
    let r = cab
        .change(&state, &form.csrf, move |s, a| {
            chain::add_staff(s.store(), a, &req, s.now()).map(drop)
        })
        .await;
    let ok = format!(
        "/admin/staff?store={}&ok=added",
        super::super::urlencode(&store)
    );
    finish(r, &ok, |n, st| staff_view(&state, &cab, Some(store), n, st)).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StaffForm {
    name: Option<String>,
    role: Option<StaffRole>,
    code: Option<String>,
    active: Option<bool>,
    /// Present when the form showed the «active» box: an unticked box sends nothing.
    active_shown: Option<String>,
}

async fn update_staff(
    AxState(state): AxState<Arc<State>>,
    cab: Cab,
    Path(id): Path<i64>,
    form: Form<StaffForm>,
) -> Response {
    let f = form.value;
    let new_code = f.code.is_some();
    let req = StaffUpdate {
        name: f.name,
        role: f.role,
        code: f.code.map(Secret),
        active: match (f.active, f.active_shown) {
            (Some(a), _) => Some(a),
            (None, Some(_)) => Some(false),
            (None, None) => None,
        },
    };
    let r = cab
        .change(&state, &form.csrf, move |s, a| {
            chain::update_staff(s.store(), a, id, &req, s.now()).map(drop)
        })
        .await;
    let ok = if new_code {
        "/admin/staff?ok=code"
    } else {
        "/admin/staff?ok=saved"
    };
    finish(r, ok, |n, st| staff_view(&state, &cab, None, n, st)).await
}

// ---- terminals ---------------------------------------------------------------------

const TERMINAL_DONE: &[(&str, &str, &str)] = &[
    (
        "revoked",
        "Касса отключена: её токен больше не действует.",
        "The till was revoked: its token no longer works.",
    ),
    (
        "unlocked",
        "Вход на кассе разблокирован.",
        "The till's logins were unlocked.",
    ),
];

/// A till that has not synced for this long is shown in red.
const STALE: Duration = Duration::days(1);

async fn terminals_page(
    AxState(state): AxState<Arc<State>>,
    cab: Cab,
    Query(q): Query<StaffQuery>,
) -> Response {
    let notice = cab.done(q.ok.as_deref(), TERMINAL_DONE);
    terminals_view(&state, &cab, q.store, notice, StatusCode::OK, None).await
}

async fn terminals_view(
    state: &Arc<State>,
    cab: &Cab,
    store: Option<String>,
    notice: Option<Notice>,
    status: StatusCode,
    code: Option<crate::protocol::admin::EnrollmentCodeResponse>,
) -> Response {
    let actor = cab.actor.clone();
    let filter = store.clone().filter(|s| !s.is_empty());
    let data = reading(state, cab.lang, move |s| {
        let now = s.now();
        let stores = chain::stores(s.store(), &actor, now)?;
        let terminals = chain::terminals(s.store(), &actor, filter.as_deref(), now)?;
        Ok((stores, terminals, now))
    })
    .await;
    let (stores, terminals, now) = match data {
        Ok(d) => d,
        Err(e) => return cab.error(e),
    };
    let selected = store.unwrap_or_default();
    let store_name = |id: &str| {
        stores
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.name.clone())
            .unwrap_or_else(|| id.to_string())
    };
    let body = html! {
        @if let Some(c) = &code {
            section.card.code role="status" {
                p { (cab.t("Код подключения кассы к магазину", "The enrollment code for a till of")) " «" (store_name(&c.store_id)) "»:" }
                p.big-code { (c.code.expose()) }
                p.muted { (cab.t("Действует до", "Valid until")) " " (cab.lang.datetime(c.expires_at, super::super::CHAIN_TZ))
                    ". " (cab.t("Введите его в настройке кассы; он срабатывает один раз.", "Type it into the till's setup; it works once.")) }
            }
        }
        form.filters method="get" action="/admin/terminals" {
            label { (cab.t("Магазин", "Store"))
                select name="store" {
                    option value="" selected[selected.is_empty()] { (cab.t("Все", "All")) }
                    @for s in &stores { option value=(s.id) selected[selected == s.id] { (s.name) } }
                }
            }
            button type="submit" { (cab.t("Показать", "Show")) }
        }
        @if terminals.is_empty() {
            p.muted { (cab.t("Касс пока нет: получите код подключения ниже и введите его в настройке кассы.",
                "No tills yet: get an enrollment code below and type it into the till's setup.")) }
        }
        table.list hidden[terminals.is_empty()] {
            thead { tr {
                th { (cab.t("Касса", "Till")) } th { (cab.t("Магазин", "Store")) }
                th { (cab.t("Версия", "Version")) } th { (cab.t("Последняя синхронизация", "Last sync")) }
                th { (cab.t("Очередь", "Queue")) } th {}
            } }
            tbody { @for t in &terminals {
                @let stale = t.revoked_at.is_none() && t.last_sync_at.is_none_or(|at| now - at > STALE);
                tr.stale[stale] .inactive[t.revoked_at.is_some()] {
                    td data-label=(cab.t("Касса", "Till")) { (t.name) br; span.muted { code { (t.id) } } }
                    td data-label=(cab.t("Магазин", "Store")) { (store_name(&t.store_id)) }
                    td data-label=(cab.t("Версия", "Version")) { (t.app_version.as_deref().unwrap_or("—")) }
                    td data-label=(cab.t("Последняя синхронизация", "Last sync")) {
                        @match t.last_sync_at {
                            Some(at) => { (cab.lang.datetime(at, super::super::CHAIN_TZ)) br; span.muted { (ago(cab, now, at)) } }
                            None => { (cab.t("ни разу", "never")) }
                        }
                        @if stale { br; strong { (cab.t("нет связи больше суток", "no sync for over a day")) } }
                    }
                    td data-label=(cab.t("Очередь", "Queue")) {
                        @match t.queue_length {
                            Some(n) => {
                                (n)
                                @if let Some(oldest) = t.oldest_queued_at {
                                    br; span.muted { (cab.t("старейшая", "oldest")) " " (ago(cab, now, oldest)) }
                                }
                            }
                            None => { "—" }
                        }
                    }
                    td {
                        @if let Some(at) = t.revoked_at {
                            (cab.t("отключена", "revoked")) " " (cab.lang.datetime(at, super::super::CHAIN_TZ))
                        } @else {
                            @if t.logins_locked_until.is_some_and(|u| u > now) {
                                (action_button(&format!("/admin/terminals/{}/unlock", t.id), &cab.csrf,
                                    cab.t("Разблокировать вход", "Unlock logins"), None, None))
                            }
                            (action_button(&format!("/admin/terminals/{}/revoke", t.id), &cab.csrf,
                                cab.t("Отключить", "Revoke"),
                                Some(cab.t("Отключить кассу? Её токен перестанет действовать.", "Revoke the till? Its token stops working.")),
                                Some("danger")))
                        }
                    }
                }
            } }
        }
        h2 { (cab.t("Подключить новую кассу", "Enroll a new till")) }
        form.card method="post" action="/admin/terminals/enrollment-code" {
            (csrf_field(&cab.csrf))
            label { (cab.t("Магазин", "Store"))
                select name="store_id" required {
                    @for s in &stores { option value=(s.id) selected[selected == s.id] { (s.name) } }
                }
            }
            button type="submit" { (cab.t("Получить код подключения", "Get an enrollment code")) }
        }
    };
    cab.page_with(status, cab.t("Кассы", "Terminals"), notice.as_ref(), body)
}

/// «3 ч назад» / "3 h ago".
fn ago(cab: &Cab, now: DateTime<Utc>, at: DateTime<Utc>) -> String {
    let d = now - at;
    if d < Duration::minutes(1) {
        return cab.t("только что", "just now").to_string();
    }
    let (n, ru, en) = if d.num_days() >= 1 {
        (d.num_days(), "дн.", "d")
    } else if d.num_hours() >= 1 {
        (d.num_hours(), "ч", "h")
    } else {
        (d.num_minutes().max(0), "мин", "min")
    };
    format!("{n} {} {}", cab.t(ru, en), cab.t("назад", "ago"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreField {
    store_id: String,
}

async fn enrollment_code(
    AxState(state): AxState<Arc<State>>,
    cab: Cab,
    form: Form<StoreField>,
) -> Response {
    if let Err(e) = cab.check(&form.csrf) {
        return cab.error(e);
    }
    let (actor, store) = (cab.actor.clone(), form.value.store_id);
    let s2 = store.clone();
    let r = writing(&state, cab.lang, move |s| {
        chain::enrollment_code(s.store(), &actor, &s2, s.now())
    })
    .await;
    // The code is shown once, on this answer: it is never put into a URL.
    match r {
        Ok(code) => {
            terminals_view(&state, &cab, Some(store), None, StatusCode::OK, Some(code)).await
        }
        Err(e) => terminals_view(&state, &cab, None, Some(e.notice()), e.status, None).await,
    }
}

#[derive(Deserialize, Default)]
struct BackQuery {
    back: Option<String>,
}

async fn revoke_terminal(
    AxState(state): AxState<Arc<State>>,
    cab: Cab,
    Path(id): Path<String>,
    form: Form<Empty>,
) -> Response {
    let r = cab
        .change(&state, &form.csrf, move |s, a| {
            chain::revoke_terminal(s.store(), a, &id, s.now()).map(drop)
        })
        .await;
    finish(r, "/admin/terminals?ok=revoked", |n, st| {
        terminals_view(&state, &cab, None, n, st, None)
    })
    .await
}

async fn unlock_terminal(
    AxState(state): AxState<Arc<State>>,
    cab: Cab,
    Path(id): Path<String>,
    Query(q): Query<BackQuery>,
    form: Form<Empty>,
) -> Response {
    let r = cab
        .change(&state, &form.csrf, move |s, a| {
            chain::unlock_terminal(s.store(), a, &id, s.now()).map(drop)
        })
        .await;
    let ok = if q.back.as_deref() == Some("staff") {
        "/admin/staff?ok=unlocked"
    } else {
        "/admin/terminals?ok=unlocked"
    };
    finish(r, ok, |n, st| {
        terminals_view(&state, &cab, None, n, st, None)
    })
    .await
}

// ---- accounts (the owner's) --------------------------------------------------------

const ACCOUNT_DONE: &[(&str, &str, &str)] =
    &[("saved", "Доступ изменён.", "The account was changed.")];

async fn accounts_page(
    AxState(state): AxState<Arc<State>>,
    cab: Cab,
    Query(q): Query<Done>,
) -> Response {
    let notice = cab.done(q.ok.as_deref(), ACCOUNT_DONE);
    accounts_view(&state, &cab, notice, StatusCode::OK, None).await
}

/// A one-time password to show once: the account's e-mail and the password.
type Issued = (String, Secret);

async fn accounts_view(
    state: &Arc<State>,
    cab: &Cab,
    notice: Option<Notice>,
    status: StatusCode,
    issued: Option<Issued>,
) -> Response {
    let actor = cab.actor.clone();
    let data = reading(state, cab.lang, move |s| {
        actor.require_owner("manage the cabinet's accounts")?;
        let list = accounts::list(s.store(), &actor)?;
        let stores = chain::stores(s.store(), &actor, s.now())?;
        Ok((list, stores))
    })
    .await;
    let (list, stores) = match data {
        Ok(d) => d,
        Err(e) => return cab.error(e),
    };
    let body = html! {
        @if let Some((email, password)) = &issued {
            section.card.code role="status" {
                p { (cab.t("Одноразовый пароль для", "The one-time password for")) " " strong { (email) } ":" }
                p.big-code { (password.expose()) }
                p.muted { (cab.t("Передайте его лично; при первом входе его нужно сменить. Больше он не будет показан.",
                    "Hand it over in person; it must be changed at the first sign-in. It is not shown again.")) }
            }
        }
        table.list {
            thead { tr {
                th { "E-mail" } th { (cab.t("Роль", "Role")) } th { (cab.t("Магазины", "Stores")) }
                th { (cab.t("Состояние", "State")) } th {}
            } }
            tbody { @for a in &list {
                tr.inactive[!a.active] {
                    td data-label="E-mail" { (a.email) }
                    td data-label=(cab.t("Роль", "Role")) {
                        @match a.role { AccountRole::Owner => (cab.t("владелец", "owner")), AccountRole::Manager => (cab.t("управляющий", "manager")) }
                    }
                    td data-label=(cab.t("Магазины", "Stores")) { (a.stores.join(", ")) }
                    td data-label=(cab.t("Состояние", "State")) {
                        @if !a.active { (cab.t("отключён", "deactivated")) }
                        @else if a.must_change { (cab.t("ждёт смены пароля", "must change the password")) }
                        @else { (cab.t("работает", "active")) }
                    }
                    td {
                        @if cab.actor.account_id != Some(a.id) {
                            (action_button(&format!("/admin/accounts/{}?do=reset", a.id), &cab.csrf,
                                cab.t("Новый пароль", "New password"),
                                Some(cab.t("Выдать новый одноразовый пароль? Старый перестанет действовать.", "Issue a new one-time password? The old one stops working.")), None))
                            @if a.active {
                                (action_button(&format!("/admin/accounts/{}?do=deactivate", a.id), &cab.csrf,
                                    cab.t("Отключить", "Deactivate"), Some(cab.t("Отключить доступ?", "Deactivate the account?")), Some("danger")))
                            } @else {
                                (action_button(&format!("/admin/accounts/{}?do=activate", a.id), &cab.csrf,
                                    cab.t("Включить", "Activate"), None, None))
                            }
                        }
                    }
                }
            } }
        }
        h2 { (cab.t("Новый доступ", "New account")) }
        form.card method="post" action="/admin/accounts" {
            (csrf_field(&cab.csrf))
            label { "E-mail" input type="email" name="email" required; }
            label { (cab.t("Роль", "Role"))
                select name="role" {
                    option value="manager" { (cab.t("Управляющий магазинами", "Store manager")) }
                    option value="owner" { (cab.t("Владелец сети", "Chain owner")) }
                }
            }
            fieldset {
                legend { (cab.t("Магазины управляющего", "The manager's stores")) }
                @for s in &stores {
                    label.check { input type="checkbox" name="stores" value=(s.id); (s.name) }
                }
            }
            button type="submit" { (cab.t("Создать и выдать пароль", "Create and issue a password")) }
        }
    };
    cab.page_with(
        status,
        cab.t("Доступ к кабинету", "Cabinet accounts"),
        notice.as_ref(),
        body,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountForm {
    #[serde(default)]
    email: String,
    role: AccountRoleWire,
}

async fn add_account(
    AxState(state): AxState<Arc<State>>,
    cab: Cab,
    form: super::super::Form<Vec<(String, String)>>,
) -> Response {
    if let Err(e) = cab.check(&form.csrf) {
        return cab.error(e);
    }
    // The stores are repeated fields; the rest is one of each.
    let pairs = form.value;
    let stores: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "stores")
        .map(|(_, v)| v.clone())
        .collect();
    let rest: Vec<(String, String)> = pairs.into_iter().filter(|(k, _)| k != "stores").collect();
    let parsed: Result<AccountForm, String> = super::super::form_value(rest);
    let f = match parsed {
        Ok(f) => f,
        Err(m) => {
            return accounts_view(
                &state,
                &cab,
                Some(Notice::Error(m)),
                StatusCode::BAD_REQUEST,
                None,
            )
            .await;
        }
    };
    let role = match f.role {
        AccountRoleWire::Owner => AccountRole::Owner,
        AccountRoleWire::Manager => AccountRole::Manager,
    };
    let actor = cab.actor.clone();
    let r = writing(&state, cab.lang, move |s| {
        let (account, password) =
            accounts::add_account(s.store(), &actor, &f.email, role, &stores, s.now())?;
        Ok((account.email, password))
    })
    .await;
    match r {
        Ok(issued) => accounts_view(&state, &cab, None, StatusCode::OK, Some(issued)).await,
        Err(e) => accounts_view(&state, &cab, Some(e.notice()), e.status, None).await,
    }
}

#[derive(Deserialize)]
struct AccountAction {
    #[serde(rename = "do")]
    action: String,
}

async fn update_account(
    AxState(state): AxState<Arc<State>>,
    cab: Cab,
    Path(id): Path<i64>,
    Query(q): Query<AccountAction>,
    form: Form<Empty>,
) -> Response {
    if let Err(e) = cab.check(&form.csrf) {
        return cab.error(e);
    }
    let (active, reset) = match q.action.as_str() {
        "reset" => (None, true),
        "deactivate" => (Some(false), false),
        "activate" => (Some(true), false),
        _ => {
            let n = Notice::Error(cab.t("Неизвестное действие.", "Unknown action.").into());
            return accounts_view(&state, &cab, Some(n), StatusCode::BAD_REQUEST, None).await;
        }
    };
    let actor = cab.actor.clone();
    let r = writing(&state, cab.lang, move |s| {
        let (account, password) =
            accounts::update_account(s.store(), &actor, id, None, active, reset, s.now())?;
        Ok((account.email, password))
    })
    .await;
    match r {
        Ok((email, Some(password))) => {
            accounts_view(&state, &cab, None, StatusCode::OK, Some((email, password))).await
        }
        Ok((_, None)) => see_other("/admin/accounts?ok=saved"),
        Err(e) => accounts_view(&state, &cab, Some(e.notice()), e.status, None).await,
    }
}
