//! The customers' pages: a search (POSTed: a phone, a card or a name never travels in a
//! URL, and the answer is rendered straight from the POST), the customer's page with
//! everything the back office knows of them, and every change the API offers — the
//! questionnaire, block or replace the card, a manual change, consents, the status, a merge
//! (the owner only) and erasure on request.
//!
//! Every read and change goes through `backoffice::customers`, so a store manager sees only
//! the customers of their stores (another store's customer is the service's 403) and every
//! change is audited there.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State as AxState};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, Utc};
use maud::{Markup, html};
use serde::Deserialize;

use super::super::{CHAIN_TZ, Form, Notice, WebError, csrf_field, reading, see_other, writing};
use super::{Cab, Done};
use crate::domain::money::Bonus;
use crate::domain::phone::Phone;
use crate::protocol::admin::{
    ConsentsUpdate, CustomerListItem, CustomerPage, CustomerQuestionnaire, ManualChangeRequest,
    StatusRequest,
};
use crate::protocol::server::{Gender, HistoryKind};
use crate::server::State;
use crate::server::backoffice::customers;

pub(super) fn router() -> Router<Arc<State>> {
    Router::new()
        .route("/admin/customers", get(search_page).post(search))
        .route("/admin/customers/{id}", get(customer_page))
        .route("/admin/customers/{id}/questionnaire", post(questionnaire))
        .route("/admin/customers/{id}/block-card", post(block_card))
        .route("/admin/customers/{id}/replace-card", post(replace_card))
        .route("/admin/customers/{id}/manual-change", post(manual_change))
        .route("/admin/customers/{id}/consents", post(consents))
        .route("/admin/customers/{id}/status", post(set_status))
        .route("/admin/customers/{id}/merge", post(merge))
        .route("/admin/customers/{id}/erase", post(erase))
}

const SEARCH_DONE: &[(&str, &str, &str)] =
    &[("password", "Пароль изменён.", "The password was changed.")];

const CUSTOMER_DONE: &[(&str, &str, &str)] = &[
    (
        "questionnaire",
        "Анкета сохранена.",
        "The questionnaire was saved.",
    ),
    ("blocked", "Карта заблокирована.", "The card was blocked."),
    (
        "replaced",
        "Карта заменена: баланс, история и статус сохранены.",
        "The card was replaced; balance, history and status are kept.",
    ),
    ("changed", "Баланс изменён.", "The balance was changed."),
    (
        "consents",
        "Согласия сохранены.",
        "The consents were saved.",
    ),
    (
        "status",
        "Статус карты изменён.",
        "The card status was changed.",
    ),
    (
        "merged",
        "Записи объединены: дубликат перенесён в эту запись.",
        "The records were merged into this one.",
    ),
    (
        "erased",
        "Персональные данные клиента удалены.",
        "The customer's personal data was erased.",
    ),
];

// ---- the search ------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchForm {
    q: Option<String>,
}

async fn search_page(
    AxState(state): AxState<Arc<State>>,
    cab: Cab,
    Query(q): Query<Done>,
) -> Response {
    let notice = cab.done(q.ok.as_deref(), SEARCH_DONE);
    // The customers who asked on their own page for their data to be erased, waiting for
    // the owner (a manager sees their stores' only).
    let actor = cab.actor.clone();
    let requests = match reading(&state, cab.lang, move |s| {
        let all = crate::server::store::read(s.store(), |r| r.open_erase_requests())?;
        Ok(all
            .into_iter()
            .filter(|r| match (actor.store_filter(), &r.store_id) {
                (None, _) => true,
                (Some(mine), Some(st)) => mine.contains(st),
                (Some(_), None) => false,
            })
            .collect::<Vec<_>>())
    })
    .await
    {
        Ok(r) => r,
        Err(e) => return cab.error(e),
    };
    if requests.is_empty() {
        search_view(&cab, notice.as_ref(), StatusCode::OK, "", None)
    } else {
        search_view_with(&cab, notice.as_ref(), &requests)
    }
}

/// The search page with the open erase requests above it.
fn search_view_with(
    cab: &Cab,
    notice: Option<&Notice>,
    requests: &[crate::server::store::EraseRequest],
) -> Response {
    let list = html! {
        section.card.warn {
            h2 { (cab.t("Просьбы стереть данные", "Requests to erase data")) }
            p.muted { (cab.t(
                "Клиенты попросили об этом на своей странице. Откройте клиента и нажмите «Стереть» (152-ФЗ: в течение 30 дней).",
                "Customers asked for it on their own page. Open the customer and erase (152-FZ: within 30 days)."
            )) }
            ul { @for r in requests {
                li {
                    a href={ "/admin/customers/" (r.customer_id) } { code { (r.customer_id) } }
                    " · " (r.store_id.as_deref().unwrap_or("—"))
                    " · " (cab.lang.datetime(r.requested_at, super::super::CHAIN_TZ))
                }
            } }
        }
    };
    search_page_body(cab, notice, StatusCode::OK, "", None, Some(list))
}

fn search_view(
    cab: &Cab,
    notice: Option<&Notice>,
    status: StatusCode,
    query: &str,
    found: Option<&[CustomerListItem]>,
) -> Response {
    search_page_body(cab, notice, status, query, found, None)
}

fn search_page_body(
    cab: &Cab,
    notice: Option<&Notice>,
    status: StatusCode,
    query: &str,
    found: Option<&[CustomerListItem]>,
    above: Option<maud::Markup>,
) -> Response {
    let body = html! {
        @if let Some(a) = above { (a) }
        form.filters method="post" action="/admin/customers" role="search" {
            (csrf_field(&cab.csrf))
            label { (cab.t("Телефон, номер карты или часть имени", "Phone, card number or part of a name"))
                input type="search" name="q" value=(query) minlength="2" maxlength="100"
                    autocomplete="off" required autofocus; }
            button type="submit" { (cab.t("Найти", "Search")) }
        }
        @if let Some(found) = found {
            @if found.is_empty() {
                p.muted { (cab.t("Никого не нашли.", "Nobody found.")) }
            } @else {
                @if found.len() as i64 >= customers::SEARCH_LIMIT {
                    p.muted { (cab.t("Показаны первые 50: уточните запрос.", "The first 50 are shown: narrow the search.")) }
                }
                table.list.customers {
                    thead { tr {
                        th { (cab.t("Клиент", "Customer")) } th { (cab.t("Телефон", "Phone")) }
                        th { (cab.t("Карта", "Card")) } th { (cab.t("Статус", "Status")) }
                        th { (cab.t("Магазин", "Store")) }
                    } }
                    tbody { @for c in found {
                        tr {
                            td data-label=(cab.t("Клиент", "Customer")) {
                                a href={ "/admin/customers/" (c.id) } {
                                    @if c.name.is_empty() { (cab.t("(без имени)", "(no name)")) } @else { (c.name) }
                                }
                            }
                            td data-label=(cab.t("Телефон", "Phone")) { (c.phone_masked) }
                            td data-label=(cab.t("Карта", "Card")) { (c.card_masked.as_deref().unwrap_or("—")) }
                            td data-label=(cab.t("Статус", "Status")) { (c.card_status) }
                            td data-label=(cab.t("Магазин", "Store")) { (c.home_store.as_deref().unwrap_or("—")) }
                        }
                    } }
                }
            }
        }
    };
    cab.page_with(status, cab.t("Клиенты", "Customers"), notice, body)
}

async fn search(AxState(state): AxState<Arc<State>>, cab: Cab, form: Form<SearchForm>) -> Response {
    if let Err(e) = cab.check(&form.csrf) {
        return cab.error(e);
    }
    let query = form.value.q.unwrap_or_default();
    let actor = cab.actor.clone();
    let q = query.clone();
    match reading(&state, cab.lang, move |s| {
        customers::search(s.store(), &actor, &q)
    })
    .await
    {
        Ok(found) => search_view(&cab, None, StatusCode::OK, &query, Some(&found)),
        Err(e) => search_view(&cab, Some(&e.notice()), e.status, &query, None),
    }
}

// ---- the customer's page ---------------------------------------------------------------

async fn customer_page(
    AxState(state): AxState<Arc<State>>,
    cab: Cab,
    Path(id): Path<String>,
    Query(q): Query<Done>,
) -> Response {
    let notice = cab.done(q.ok.as_deref(), CUSTOMER_DONE);
    customer_view(&state, &cab, &id, notice, StatusCode::OK).await
}

async fn customer_view(
    state: &Arc<State>,
    cab: &Cab,
    id: &str,
    notice: Option<Notice>,
    status: StatusCode,
) -> Response {
    let actor = cab.actor.clone();
    let i = id.to_string();
    let data = reading(state, cab.lang, move |s| {
        let page = customers::page(s.store(), &actor, &i, s.now())?;
        let statuses: Vec<String> = s
            .current_rules()
            .rules
            .cards
            .iter()
            .map(|c| c.name.clone())
            .collect();
        Ok((page, statuses, s.now()))
    })
    .await;
    let (p, statuses, now) = match data {
        Ok(d) => d,
        Err(e) => return cab.error(e),
    };
    let title = match display_name(&p.questionnaire) {
        Some(n) => n,
        None => cab.t("Клиент", "Customer").to_string(),
    };
    let live = p.erased_at.is_none() && p.merged_into.is_none();
    let body = html! {
        p { a href="/admin/customers" { "← " (cab.t("К поиску", "Back to the search")) } }
        @if let Some(at) = p.erased_at {
            p.notice.error { (cab.t("Персональные данные удалены", "Personal data erased")) " " (cab.lang.datetime(at, CHAIN_TZ)) "." }
        }
        @if let Some(into) = &p.merged_into {
            p.notice.error {
                (cab.t("Запись объединена с другой:", "This record was merged into another:")) " "
                a href={ "/admin/customers/" (into) } { (into) }
            }
        }
        (summary(cab, &p))
        (burning(cab, &p, now))
        section.two {
            div {
                h2 { (cab.t("Начисления по партиям", "Bonus batches")) }
                (batches(cab, &p))
            }
            div {
                h2 { (cab.t("История", "History")) }
                (history(cab, &p))
            }
        }
        h2 { (cab.t("Покупки", "Purchases")) }
        (purchases(cab, &p))
        section.two {
            div {
                h2 { (cab.t("Согласия и их изменения", "Consents and their changes")) }
                (consent_changes(cab, &p))
            }
            div {
                h2 { (cab.t("Изменения статуса", "Status changes")) }
                (status_changes(cab, &p))
                h2 { (cab.t("Заблокированные карты", "Blocked cards")) }
                (blocked_cards(cab, &p))
            }
        }
        @if live {
            h2 { (cab.t("Действия", "Actions")) }
            (actions(cab, &p, &statuses))
        }
    };
    cab.page_with(status, &title, notice.as_ref(), body)
}

fn display_name(q: &CustomerQuestionnaire) -> Option<String> {
    let parts: Vec<&str> = [&q.last_name, &q.first_name, &q.middle_name]
        .into_iter()
        .filter_map(|p| p.as_deref())
        .filter(|p| !p.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

fn yes_no(cab: &Cab, v: bool) -> &str {
    if v {
        cab.t("да", "yes")
    } else {
        cab.t("нет", "no")
    }
}

fn summary(cab: &Cab, p: &CustomerPage) -> Markup {
    let phone = Phone::parse(&p.phone)
        .map(|ph| ph.formatted())
        .unwrap_or_else(|_| p.phone.clone());
    let q = &p.questionnaire;
    html! {
        section.card.summary {
            dl {
                dt { (cab.t("Телефон", "Phone")) }
                dd.phone { @if phone.is_empty() { "—" } @else { (phone) }
                    @if p.phone_verified { " " span.muted { (cab.t("(подтверждён)", "(verified)")) } } }
                dt { (cab.t("Баланс", "Balance")) } dd.balance { strong { (p.balance) } }
                dt { (cab.t("Ожидают начисления", "Pending")) } dd.pending { (p.pending) }
                dt { (cab.t("Карта", "Card")) } dd.card-number { (p.card_number.as_deref().unwrap_or("—")) }
                dt { (cab.t("Статус карты", "Card status")) } dd.status { (p.card_status) }
                dt { (cab.t("Магазин регистрации", "Home store")) } dd { (p.home_store.as_deref().unwrap_or("—")) }
                dt { (cab.t("Зарегистрирован", "Registered")) } dd { (cab.lang.datetime(p.registered_at, CHAIN_TZ)) }
                dt { (cab.t("Дата рождения", "Birth date")) } dd { (q.birth_date.map(|d| cab.lang.date(d)).unwrap_or("—".into())) }
                dt { "E-mail" } dd { (q.email.as_deref().unwrap_or("—")) }
                dt { (cab.t("Согласие на обработку данных", "Consent to data processing")) } dd { (yes_no(cab, p.consent_processing)) }
                dt { (cab.t("Согласие на рекламные SMS", "Consent to advertising SMS")) } dd { (yes_no(cab, p.consent_advertising)) }
                dt { "ID" } dd { code { (p.id) } }
            }
        }
    }
}

/// What burns when: the remaining bonuses of every batch with a future burn date.
fn burning(cab: &Cab, p: &CustomerPage, now: DateTime<Utc>) -> Markup {
    let mut soon: Vec<(DateTime<Utc>, Bonus)> = p
        .batches
        .iter()
        .filter(|b| !b.remaining.is_zero())
        .filter_map(|b| {
            b.burns_at
                .filter(|at| *at > now)
                .map(|at| (at, b.remaining))
        })
        .collect();
    soon.sort_by_key(|(at, _)| *at);
    html! {
        @if !soon.is_empty() {
            section.card.burning {
                h2 { (cab.t("Что сгорит и когда", "What burns when")) }
                ul { @for (at, amount) in &soon {
                    li { strong { (amount) } " — " (cab.lang.datetime(*at, CHAIN_TZ)) }
                } }
            }
        }
    }
}

fn kind_label(cab: &Cab, k: HistoryKind) -> &str {
    match k {
        HistoryKind::Purchase => cab.t("покупка", "purchase"),
        HistoryKind::Welcome => cab.t("приветственные", "welcome"),
        HistoryKind::FirstPurchase => cab.t("первая покупка", "first purchase"),
        HistoryKind::Birthday => cab.t("день рождения", "birthday"),
        HistoryKind::Referral => cab.t("приглашение друга", "referral"),
        HistoryKind::Promotion => cab.t("акция", "promotion"),
        HistoryKind::Manual => cab.t("ручное изменение", "manual change"),
        HistoryKind::ReturnRefund => cab.t("возврат списанных", "return refund"),
        HistoryKind::ReturnClawback => cab.t("отмена начисления", "return claw-back"),
        HistoryKind::Expiry => cab.t("сгорание", "expiry"),
        HistoryKind::Import => cab.t("перенос из старой программы", "import"),
    }
}

fn batches(cab: &Cab, p: &CustomerPage) -> Markup {
    html! {
        @if p.batches.is_empty() { p.muted { (cab.t("Нет начислений.", "No batches.")) } }
        @else {
            table.list.batches {
                thead { tr {
                    th { (cab.t("Откуда", "Source")) } th.num { (cab.t("Начислено", "Amount")) }
                    th.num { (cab.t("Осталось", "Remaining")) } th { (cab.t("Активны с", "Active from")) }
                    th { (cab.t("Сгорят", "Burn")) }
                } }
                tbody { @for b in &p.batches {
                    tr {
                        td data-label=(cab.t("Откуда", "Source")) { (kind_label(cab, b.source)) }
                        td.num data-label=(cab.t("Начислено", "Amount")) { (b.amount) }
                        td.num data-label=(cab.t("Осталось", "Remaining")) { (b.remaining) }
                        td data-label=(cab.t("Активны с", "Active from")) { (cab.lang.datetime(b.active_from, CHAIN_TZ)) }
                        td data-label=(cab.t("Сгорят", "Burn")) {
                            @match b.burns_at { Some(at) => (cab.lang.datetime(at, CHAIN_TZ)), None => (cab.t("не сгорают", "never")) }
                        }
                    }
                } }
            }
        }
    }
}

fn history(cab: &Cab, p: &CustomerPage) -> Markup {
    html! {
        @if p.history.is_empty() { p.muted { (cab.t("Истории нет.", "No history.")) } }
        @else {
            table.list.history {
                thead { tr {
                    th { (cab.t("Когда", "When")) } th.num { (cab.t("Бонусы", "Bonuses")) } th { (cab.t("Что", "What")) }
                } }
                tbody { @for h in &p.history {
                    tr {
                        td data-label=(cab.t("Когда", "When")) { (cab.lang.datetime(h.at, CHAIN_TZ)) }
                        td.num data-label=(cab.t("Бонусы", "Bonuses")) { (h.amount) }
                        td data-label=(cab.t("Что", "What")) { (h.description) }
                    }
                } }
            }
        }
    }
}

fn purchases(cab: &Cab, p: &CustomerPage) -> Markup {
    html! {
        @if p.purchases.is_empty() { p.muted { (cab.t("Покупок нет.", "No purchases.")) } }
        @else {
            table.list.purchases {
                thead { tr {
                    th { (cab.t("Когда", "When")) } th { (cab.t("Касса", "Till")) } th { (cab.t("Чек", "Receipt")) }
                    th.num { (cab.t("Оплачено, ₽", "Paid, ₽")) } th.num { (cab.t("Списано", "Spent")) }
                    th.num { (cab.t("Начислено", "Accrued")) }
                } }
                tbody { @for s in &p.purchases {
                    @let spent = s.sale.positions.iter().fold(Bonus::ZERO, |a, x| a + x.spent);
                    @let accrued = s.sale.positions.iter().fold(Bonus::ZERO, |a, x| a + x.accrued);
                    tr {
                        td data-label=(cab.t("Когда", "When")) { (cab.lang.datetime(s.at, CHAIN_TZ)) }
                        td data-label=(cab.t("Касса", "Till")) { (s.terminal_name) }
                        td data-label=(cab.t("Чек", "Receipt")) { (s.sale.receipt_id) }
                        td.num data-label=(cab.t("Оплачено, ₽", "Paid, ₽")) { (s.paid()) }
                        td.num data-label=(cab.t("Списано", "Spent")) { (spent) }
                        td.num data-label=(cab.t("Начислено", "Accrued")) { (accrued) }
                    }
                } }
            }
        }
    }
}

fn consent_kind(cab: &Cab, kind: &str) -> String {
    match kind {
        "processing" => cab.t("обработка данных", "data processing").into(),
        "advertising" => cab.t("рекламные SMS", "advertising SMS").into(),
        other => other.into(),
    }
}

fn consent_changes(cab: &Cab, p: &CustomerPage) -> Markup {
    html! {
        @if p.consents.is_empty() { p.muted { (cab.t("Записей нет.", "None recorded.")) } }
        @else {
            table.list.consents {
                thead { tr {
                    th { (cab.t("Когда", "When")) } th { (cab.t("Согласие", "Consent")) }
                    th { (cab.t("Дано", "Given")) } th { (cab.t("Кем", "By")) }
                } }
                tbody { @for c in &p.consents {
                    tr {
                        td data-label=(cab.t("Когда", "When")) { (cab.lang.datetime(c.at, CHAIN_TZ)) }
                        td data-label=(cab.t("Согласие", "Consent")) { (consent_kind(cab, &c.kind)) }
                        td data-label=(cab.t("Дано", "Given")) {
                            @if c.granted { (cab.t("дано", "given")) } @else { (cab.t("отозвано", "withdrawn")) }
                        }
                        td data-label=(cab.t("Кем", "By")) {
                            (c.by.as_deref().unwrap_or(""))
                            @if let Some(t) = &c.terminal_id { " " span.muted { (t) } }
                        }
                    }
                } }
            }
        }
    }
}

fn status_changes(cab: &Cab, p: &CustomerPage) -> Markup {
    html! {
        @if p.status_changes.is_empty() { p.muted { (cab.t("Статус не менялся.", "The status never changed.")) } }
        @else {
            table.list.statuses {
                thead { tr {
                    th { (cab.t("Когда", "When")) } th { (cab.t("Изменение", "Change")) } th { (cab.t("Почему", "Why")) }
                } }
                tbody { @for c in &p.status_changes {
                    tr {
                        td data-label=(cab.t("Когда", "When")) { (cab.lang.datetime(c.at, CHAIN_TZ)) }
                        td data-label=(cab.t("Изменение", "Change")) { (c.from) " → " (c.to) }
                        td data-label=(cab.t("Почему", "Why")) {
                            (c.cause)
                            @if let Some(by) = &c.by { ", " (by) }
                            @if !c.reason.is_empty() { ": " (c.reason) }
                        }
                    }
                } }
            }
        }
    }
}

fn blocked_cards(cab: &Cab, p: &CustomerPage) -> Markup {
    html! {
        @if p.blocked_cards.is_empty() { p.muted { (cab.t("Нет.", "None.")) } }
        @else {
            table.list.blocked {
                thead { tr {
                    th { (cab.t("Карта", "Card")) } th { (cab.t("Когда", "When")) } th { (cab.t("Причина", "Reason")) }
                } }
                tbody { @for b in &p.blocked_cards {
                    tr {
                        td data-label=(cab.t("Карта", "Card")) { (b.card_number) }
                        td data-label=(cab.t("Когда", "When")) { (cab.lang.datetime(b.blocked_at, CHAIN_TZ)) }
                        td data-label=(cab.t("Причина", "Reason")) { (b.reason) }
                    }
                } }
            }
        }
    }
}

fn actions(cab: &Cab, p: &CustomerPage, statuses: &[String]) -> Markup {
    let base = format!("/admin/customers/{}", p.id);
    let q = &p.questionnaire;
    let keep = cab.t("— не менять —", "— keep —");
    html! {
        div.actions {
            details.manual open {
                summary { (cab.t("Начислить или списать бонусы", "Add or take bonuses")) }
                form.card method="post" action={ (base) "/manual-change" } {
                    (csrf_field(&cab.csrf))
                    label { (cab.t("Сколько (со знаком минус — списать)", "How many (negative: take)"))
                        input name="amount" inputmode="decimal" required; }
                    label { (cab.t("Причина", "Reason")) input name="reason" maxlength="200" required; }
                    label { (cab.t("Сгорят через, дней (пусто — не сгорают)", "Burn after, days (empty: never)"))
                        input name="lifetime_days" type="number" min="1" max="3650"; }
                    button type="submit" { (cab.t("Изменить баланс", "Change the balance")) }
                }
            }
            details.questionnaire {
                summary { (cab.t("Анкета", "Questionnaire")) }
                form.card method="post" action={ (base) "/questionnaire" } {
                    (csrf_field(&cab.csrf))
                    label { (cab.t("Фамилия", "Last name")) input name="last_name" maxlength="100" value=[q.last_name.as_deref()]; }
                    label { (cab.t("Имя", "First name")) input name="first_name" maxlength="100" value=[q.first_name.as_deref()]; }
                    label { (cab.t("Отчество", "Middle name")) input name="middle_name" maxlength="100" value=[q.middle_name.as_deref()]; }
                    label { (cab.t("Пол", "Gender"))
                        select name="gender" {
                            option value="" selected[q.gender.is_none()] { "—" }
                            option value="female" selected[q.gender == Some(Gender::Female)] { (cab.t("женский", "female")) }
                            option value="male" selected[q.gender == Some(Gender::Male)] { (cab.t("мужской", "male")) }
                        }
                    }
                    label { (cab.t("Дата рождения", "Birth date"))
                        input name="birth_date" type="date" value=[q.birth_date.map(|d| d.format("%Y-%m-%d").to_string())]; }
                    label { "E-mail" input name="email" type="email" maxlength="200" value=[q.email.as_deref()]; }
                    button type="submit" { (cab.t("Сохранить анкету", "Save the questionnaire")) }
                }
            }
            details.consents {
                summary { (cab.t("Согласия", "Consents")) }
                form.card method="post" action={ (base) "/consents" } {
                    (csrf_field(&cab.csrf))
                    label { (cab.t("Обработка персональных данных", "Processing of personal data"))
                        select name="processing" {
                            option value="" { (keep) }
                            option value="true" { (cab.t("дано", "given")) }
                            option value="false" { (cab.t("отозвано", "withdrawn")) }
                        }
                    }
                    label { (cab.t("Рекламные SMS", "Advertising SMS"))
                        select name="advertising" {
                            option value="" { (keep) }
                            option value="true" { (cab.t("дано", "given")) }
                            option value="false" { (cab.t("отозвано", "withdrawn")) }
                        }
                    }
                    button type="submit" { (cab.t("Сохранить согласия", "Save the consents")) }
                }
            }
            details.status {
                summary { (cab.t("Статус карты", "Card status")) }
                form.card method="post" action={ (base) "/status" } {
                    (csrf_field(&cab.csrf))
                    label { (cab.t("Статус", "Status"))
                        select name="status" required {
                            @for s in statuses { option value=(s) selected[*s == p.card_status] { (s) } }
                        }
                    }
                    label { (cab.t("Причина", "Reason")) input name="reason" maxlength="200" required; }
                    button type="submit" { (cab.t("Установить статус", "Set the status")) }
                }
            }
            @if p.card_number.is_some() {
                details.block {
                    summary { (cab.t("Заблокировать карту", "Block the card")) }
                    form.card method="post" action={ (base) "/block-card" }
                        data-confirm=(cab.t("Заблокировать карту? Номер больше не будет работать.", "Block the card? Its number will stop working.")) {
                        (csrf_field(&cab.csrf))
                        label { (cab.t("Причина (утеряна, украдена…)", "Reason (lost, stolen…)")) input name="reason" maxlength="200" required; }
                        button.danger type="submit" { (cab.t("Заблокировать", "Block")) }
                    }
                }
            }
            details.replace {
                summary { (cab.t("Заменить карту", "Replace the card")) }
                form.card method="post" action={ (base) "/replace-card" } {
                    (csrf_field(&cab.csrf))
                    label { (cab.t("Номер пластиковой карты (пусто — новая виртуальная)", "Plastic card number (empty: a new virtual one)"))
                        input name="number" inputmode="numeric" maxlength="40" autocomplete="off"; }
                    label { (cab.t("Причина", "Reason")) input name="reason" maxlength="200" required; }
                    button type="submit" { (cab.t("Заменить карту", "Replace the card")) }
                }
            }
            @if cab.actor.is_owner() {
                details.merge {
                    summary { (cab.t("Объединить с дубликатом", "Merge a duplicate into this record")) }
                    form.card method="post" action={ (base) "/merge" }
                        data-confirm=(cab.t("Перенести дубликат в эту запись? Это нельзя отменить.", "Move the duplicate into this record? This cannot be undone.")) {
                        (csrf_field(&cab.csrf))
                        label { (cab.t("ID записи-дубликата", "The duplicate record's ID"))
                            input name="duplicate_id" maxlength="100" autocomplete="off" required; }
                        button.danger type="submit" { (cab.t("Объединить", "Merge")) }
                    }
                }
            }
            details.erase {
                summary { (cab.t("Удалить персональные данные", "Erase the personal data")) }
                form.card method="post" action={ (base) "/erase" }
                    data-confirm=(cab.t("Удалить персональные данные клиента? Это нельзя отменить.", "Erase the customer's personal data? This cannot be undone.")) {
                    (csrf_field(&cab.csrf))
                    p { (cab.t(
                        "По просьбе клиента (152-ФЗ): телефон, имя, дата рождения, e-mail и карта удаляются; покупки и движения бонусов остаются обезличенными.",
                        "On the customer's request (152-FZ): phone, names, birth date, e-mail and card go; purchases and bonus movements stay, anonymous."
                    )) }
                    label.check { input type="checkbox" name="confirm" value="yes" required;
                        (cab.t("Клиент попросил удалить свои данные", "The customer asked for their data to be erased")) }
                    button.danger type="submit" { (cab.t("Удалить данные", "Erase the data")) }
                }
            }
        }
    }
}

// ---- the changes -------------------------------------------------------------------------

/// The end of a change: the customer's page with `?ok=`, or the page again with the refusal.
async fn finish(
    state: &Arc<State>,
    cab: &Cab,
    id: &str,
    result: Result<(), WebError>,
    ok: &str,
) -> Response {
    match result {
        Ok(()) => see_other(&format!(
            "/admin/customers/{}?ok={ok}",
            super::super::urlencode(id)
        )),
        Err(e) => customer_view(state, cab, id, Some(e.notice()), e.status).await,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuestionnaireForm {
    last_name: Option<String>,
    first_name: Option<String>,
    middle_name: Option<String>,
    gender: Option<String>,
    birth_date: Option<String>,
    email: Option<String>,
}

fn parse_questionnaire(cab: &Cab, f: QuestionnaireForm) -> Result<CustomerQuestionnaire, WebError> {
    let gender = match f.gender.as_deref() {
        None => None,
        Some("male") => Some(Gender::Male),
        Some("female") => Some(Gender::Female),
        Some(_) => {
            return Err(WebError::bad_request(cab.t(
                "Пол: выберите женский, мужской или не указывайте.",
                "Gender: choose female, male or none.",
            )));
        }
    };
    let birth_date = match f.birth_date.as_deref().map(str::trim) {
        None => None,
        Some(d) => Some(
            NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .or_else(|_| NaiveDate::parse_from_str(d, "%d.%m.%Y"))
                .map_err(|_| {
                    WebError::bad_request(cab.t(
                        "Дата рождения: укажите дату как ДД.ММ.ГГГГ.",
                        "Birth date: give a date as YYYY-MM-DD.",
                    ))
                })?,
        ),
    };
    Ok(CustomerQuestionnaire {
        last_name: f.last_name,
        first_name: f.first_name,
        middle_name: f.middle_name,
        gender,
        birth_date,
        email: f.email,
    })
}

async fn questionnaire(
    AxState(state): AxState<Arc<State>>,
    cab: Cab,
    Path(id): Path<String>,
    form: Form<QuestionnaireForm>,
) -> Response {
    if let Err(e) = cab.check(&form.csrf) {
        return cab.error(e);
    }
    let result = match parse_questionnaire(&cab, form.value) {
        Ok(q) => {
            let (actor, i) = (cab.actor.clone(), id.clone());
            writing(&state, cab.lang, move |s| {
                customers::update_questionnaire(s.store(), &actor, &i, &q, s.now()).map(drop)
            })
            .await
        }
        Err(e) => Err(e),
    };
    finish(&state, &cab, &id, result, "questionnaire").await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReasonForm {
    reason: Option<String>,
}

async fn block_card(
    AxState(state): AxState<Arc<State>>,
    cab: Cab,
    Path(id): Path<String>,
    form: Form<ReasonForm>,
) -> Response {
    if let Err(e) = cab.check(&form.csrf) {
        return cab.error(e);
    }
    let reason = form.value.reason.unwrap_or_default();
    let (actor, i) = (cab.actor.clone(), id.clone());
    let result = writing(&state, cab.lang, move |s| {
        customers::block_card(s.store(), &actor, &i, &reason, s.now())
    })
    .await;
    finish(&state, &cab, &id, result, "blocked").await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplaceForm {
    number: Option<String>,
    reason: Option<String>,
}

async fn replace_card(
    AxState(state): AxState<Arc<State>>,
    cab: Cab,
    Path(id): Path<String>,
    form: Form<ReplaceForm>,
) -> Response {
    if let Err(e) = cab.check(&form.csrf) {
        return cab.error(e);
    }
    let ReplaceForm { number, reason } = form.value;
    let reason = reason.unwrap_or_default();
    let (actor, i) = (cab.actor.clone(), id.clone());
    let result = writing(&state, cab.lang, move |s| {
        customers::replace_card(s.store(), &actor, &i, number.as_deref(), &reason, s.now())
            .map(drop)
    })
    .await;
    finish(&state, &cab, &id, result, "replaced").await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManualForm {
    amount: Option<String>,
    reason: Option<String>,
    lifetime_days: Option<u32>,
}

async fn manual_change(
    AxState(state): AxState<Arc<State>>,
    cab: Cab,
    Path(id): Path<String>,
    form: Form<ManualForm>,
) -> Response {
    if let Err(e) = cab.check(&form.csrf) {
        return cab.error(e);
    }
    let f = form.value;
    let amount = f
        .amount
        .as_deref()
        .map(|a| a.trim().replace(',', ".").replace(' ', ""))
        .unwrap_or_default();
    let amount = match amount.parse::<Bonus>() {
        Ok(a) => a,
        Err(_) => {
            let e = WebError::bad_request(cab.t(
                "Сумма: укажите число бонусов, например 150 или -50.",
                "Amount: give a number of bonuses, such as 150 or -50.",
            ));
            return finish(&state, &cab, &id, Err(e), "changed").await;
        }
    };
    let req = ManualChangeRequest {
        amount,
        reason: f.reason.unwrap_or_default(),
        lifetime_days: f.lifetime_days,
    };
    let (actor, i) = (cab.actor.clone(), id.clone());
    let result = writing(&state, cab.lang, move |s| {
        customers::manual_change(s.store(), &actor, &i, &req, s.now()).map(drop)
    })
    .await;
    finish(&state, &cab, &id, result, "changed").await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsentsForm {
    processing: Option<bool>,
    advertising: Option<bool>,
}

async fn consents(
    AxState(state): AxState<Arc<State>>,
    cab: Cab,
    Path(id): Path<String>,
    form: Form<ConsentsForm>,
) -> Response {
    if let Err(e) = cab.check(&form.csrf) {
        return cab.error(e);
    }
    let req = ConsentsUpdate {
        processing: form.value.processing,
        advertising: form.value.advertising,
    };
    let (actor, i) = (cab.actor.clone(), id.clone());
    let result = writing(&state, cab.lang, move |s| {
        customers::set_consents(s.store(), &actor, &i, &req, s.now())
    })
    .await;
    finish(&state, &cab, &id, result, "consents").await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusForm {
    status: Option<String>,
    reason: Option<String>,
}

async fn set_status(
    AxState(state): AxState<Arc<State>>,
    cab: Cab,
    Path(id): Path<String>,
    form: Form<StatusForm>,
) -> Response {
    if let Err(e) = cab.check(&form.csrf) {
        return cab.error(e);
    }
    let req = StatusRequest {
        status: form.value.status.unwrap_or_default(),
        reason: form.value.reason.unwrap_or_default(),
    };
    let (actor, i) = (cab.actor.clone(), id.clone());
    let result = writing(&state, cab.lang, move |s| {
        let rules = s.current_rules();
        customers::set_status(s.store(), &actor, &i, &req, &rules.rules, s.now())
    })
    .await;
    finish(&state, &cab, &id, result, "status").await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MergeForm {
    duplicate_id: Option<String>,
}

async fn merge(
    AxState(state): AxState<Arc<State>>,
    cab: Cab,
    Path(id): Path<String>,
    form: Form<MergeForm>,
) -> Response {
    if let Err(e) = cab.check(&form.csrf) {
        return cab.error(e);
    }
    let duplicate = form
        .value
        .duplicate_id
        .map(|d| d.trim().to_string())
        .unwrap_or_default();
    if duplicate.is_empty() {
        let e = WebError::bad_request(cab.t(
            "Укажите ID записи-дубликата.",
            "Give the duplicate record's ID.",
        ));
        return finish(&state, &cab, &id, Err(e), "merged").await;
    }
    let (actor, i) = (cab.actor.clone(), id.clone());
    let result = writing(&state, cab.lang, move |s| {
        customers::merge(s.store(), &actor, &i, &duplicate, s.now()).map(drop)
    })
    .await;
    finish(&state, &cab, &id, result, "merged").await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EraseForm {
    confirm: Option<String>,
}

async fn erase(
    AxState(state): AxState<Arc<State>>,
    cab: Cab,
    Path(id): Path<String>,
    form: Form<EraseForm>,
) -> Response {
    if let Err(e) = cab.check(&form.csrf) {
        return cab.error(e);
    }
    if form.value.confirm.as_deref() != Some("yes") {
        let e = WebError::bad_request(cab.t(
            "Отметьте, что клиент попросил удалить свои данные.",
            "Tick that the customer asked for their data to be erased.",
        ));
        return finish(&state, &cab, &id, Err(e), "erased").await;
    }
    let (actor, i) = (cab.actor.clone(), id.clone());
    let result = writing(&state, cab.lang, move |s| {
        customers::erase(s.store(), &actor, &i, s.now())
    })
    .await;
    finish(&state, &cab, &id, result, "erased").await
}
