//! The rules pages: the versions, one version's text, an upload (a mistake is shown beside
//! its line), the difference between two versions, activate, roll back, try a receipt.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State as AxState};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;

use super::super::{Form, Notice, Upload, action_button, csrf_field, reading, see_other};
use super::sign_in::Empty;
use super::{Cab, Done};
use crate::domain::money::Bonus;
use crate::protocol::admin::{RulesDiff, RulesTryRequest, RulesTryResponse, RulesVersionView};
use crate::server::State;
use crate::server::backoffice::{BackofficeError, rules};

pub(super) fn router() -> Router<Arc<State>> {
    Router::new()
        .route("/admin/rules", get(rules_page).post(upload))
        .route("/admin/rules/diff", get(diff_page))
        .route("/admin/rules/rollback", post(roll_back))
        .route("/admin/rules/{version}", get(version_page))
        .route("/admin/rules/{version}/activate", post(activate))
        .route("/admin/rules/{version}/try", post(try_receipt))
}

const RULES_DONE: &[(&str, &str, &str)] = &[
    (
        "stored",
        "Версия сохранена, но не активна.",
        "The version was stored, not activated.",
    ),
    (
        "activated",
        "Версия активна: кассы получат её при следующей синхронизации (до 30 с).",
        "The version is active: tills pick it up at their next sync (within 30 s).",
    ),
    (
        "rolled-back",
        "Возвращена предыдущая версия.",
        "The previous version is active again.",
    ),
];

/// A refused upload, to show again with its mistake beside its line.
struct Rejected {
    text: String,
    comment: String,
    line: Option<usize>,
    message: String,
}

async fn rules_page(
    AxState(state): AxState<Arc<State>>,
    cab: Cab,
    Query(q): Query<Done>,
) -> Response {
    let notice = cab.done(q.ok.as_deref(), RULES_DONE);
    rules_view(&state, &cab, notice, StatusCode::OK, None).await
}

async fn rules_view(
    state: &Arc<State>,
    cab: &Cab,
    notice: Option<Notice>,
    status: StatusCode,
    rejected: Option<Rejected>,
) -> Response {
    let data = reading(state, cab.lang, move |s| {
        let versions = rules::versions(s.store())?;
        let active = versions.iter().find(|v| v.active).map(|v| v.version);
        let text = match active {
            Some(v) => Some(rules::version(s.store(), v)?.text),
            None => None,
        };
        Ok((versions, text))
    })
    .await;
    let (versions, active_text) = match data {
        Ok(d) => d,
        Err(e) => return cab.error(e),
    };
    let owner = cab.actor.is_owner();
    let newest = versions.iter().map(|v| v.version).max().unwrap_or(0);
    let active = versions.iter().find(|v| v.active).map(|v| v.version);
    let body = html! {
        (versions_table(cab, &versions))
        @if versions.len() >= 2 {
            form.filters method="get" action="/admin/rules/diff" {
                label { (cab.t("Сравнить версию", "Compare version"))
                    (version_select("from", &versions, active.unwrap_or(newest))) }
                label { (cab.t("с версией", "with version"))
                    (version_select("to", &versions, newest)) }
                button type="submit" { (cab.t("Показать разницу", "Show the difference")) }
            }
        }
        @if owner {
            @if versions.iter().filter(|v| v.activated_at.is_some()).count() >= 2 {
                (action_button("/admin/rules/rollback", &cab.csrf,
                    cab.t("Вернуть предыдущую версию", "Roll back to the previous version"),
                    Some(cab.t("Вернуть предыдущую активную версию правил?", "Activate the previous version again?")),
                    Some("danger")))
            }
            h2 { (cab.t("Загрузить новую версию", "Upload a new version")) }
            @if let Some(r) = &rejected { (numbered(cab, &r.text, r.line, Some(&r.message))) }
            form.card.wide method="post" action="/admin/rules" enctype="multipart/form-data" {
                (csrf_field(&cab.csrf))
                label { (cab.t("Файл правил (TOML)", "Rules file (TOML)")) input type="file" name="file" accept=".toml,text/plain"; }
                label { (cab.t("…или текст правил", "…or the rules text"))
                    textarea name="text" rows="18" spellcheck="false" {
                        @match (&rejected, &active_text) {
                            (Some(r), _) => (r.text),
                            (None, Some(t)) => (t),
                            (None, None) => "",
                        }
                    }
                }
                label { (cab.t("Комментарий", "Comment"))
                    input name="comment" maxlength="200" value=[rejected.as_ref().map(|r| r.comment.as_str())]; }
                label.check { input type="checkbox" name="activate" value="true"; (cab.t("Сразу активировать", "Activate at once")) }
                button type="submit" { (cab.t("Проверить и сохранить", "Check and store")) }
            }
        }
    };
    cab.page_with(
        status,
        cab.t("Правила программы", "Loyalty rules"),
        notice.as_ref(),
        body,
    )
}

fn versions_table(cab: &Cab, versions: &[RulesVersionView]) -> Markup {
    let tz = super::super::CHAIN_TZ;
    html! {
        table.list {
            thead { tr {
                th { (cab.t("Версия", "Version")) } th { (cab.t("Загружена", "Uploaded")) }
                th { (cab.t("Комментарий", "Comment")) } th { (cab.t("Активна", "Active")) } th {}
            } }
            tbody { @for v in versions.iter().rev() {
                tr.current[v.active] {
                    td data-label=(cab.t("Версия", "Version")) { a href={ "/admin/rules/" (v.version) } { "v" (v.version) } }
                    td data-label=(cab.t("Загружена", "Uploaded")) { (cab.lang.datetime(v.loaded_at, tz)) br; span.muted { (v.uploaded_by) } }
                    td data-label=(cab.t("Комментарий", "Comment")) { (v.comment) }
                    td data-label=(cab.t("Активна", "Active")) {
                        @if v.active { strong { (cab.t("активна", "active")) } }
                        @if let Some(at) = v.activated_at { br; span.muted { (cab.t("активирована", "activated")) " " (cab.lang.datetime(at, tz)) } }
                    }
                    td {
                        @if !v.active && cab.actor.is_owner() {
                            (action_button(&format!("/admin/rules/{}/activate", v.version), &cab.csrf,
                                cab.t("Активировать", "Activate"),
                                Some(cab.t("Активировать эту версию для всех касс?", "Activate this version for every till?")), None))
                        }
                    }
                }
            } }
        }
    }
}

fn version_select(name: &str, versions: &[RulesVersionView], selected: i64) -> Markup {
    html! {
        select name=(name) {
            @for v in versions.iter().rev() {
                option value=(v.version) selected[v.version == selected] { "v" (v.version) }
            }
        }
    }
}

/// A rules text with line numbers; a mistake's line marked, its message beside it.
fn numbered(cab: &Cab, text: &str, bad: Option<usize>, message: Option<&str>) -> Markup {
    html! {
        @if let Some(m) = message {
            p.notice.error role="alert" {
                @if let Some(l) = bad { (cab.t("Строка", "Line")) " " (l) ": " }
                (m)
            }
        }
        ol.source {
            @for (i, line) in text.lines().enumerate() {
                @let n = i + 1;
                li.bad[Some(n) == bad] id={ "L" (n) } {
                    code { (line) }
                    @if Some(n) == bad { @if let Some(m) = message { span.why { "← " (m) } } }
                }
            }
        }
    }
}

async fn upload(AxState(state): AxState<Arc<State>>, cab: Cab, up: Upload) -> Response {
    if let Err(e) = cab.check(&up.csrf) {
        return cab.error(e);
    }
    let text = match up.file("file") {
        Some(f) => match std::str::from_utf8(&f.bytes) {
            Ok(t) => t.to_string(),
            Err(_) => {
                let n = Notice::Error(
                    cab.t(
                        "Файл правил должен быть в UTF-8.",
                        "The rules file must be UTF-8 text.",
                    )
                    .into(),
                );
                return rules_view(&state, &cab, Some(n), StatusCode::BAD_REQUEST, None).await;
            }
        },
        None => up.field("text").unwrap_or_default().replace("\r\n", "\n"),
    };
    let comment = up.field("comment").unwrap_or_default().to_string();
    let activate = up.field("activate") == Some("true");
    let actor = cab.actor.clone();
    let (t, c) = (text.clone(), comment.clone());
    let result = state.workers.write({
        let s = state.clone();
        move || rules::upload(s.store(), &actor, &t, &c, activate, s.now())
    });
    match result.await {
        Ok(Ok(_)) if activate => see_other("/admin/rules?ok=activated"),
        Ok(Ok(_)) => see_other("/admin/rules?ok=stored"),
        Ok(Err(BackofficeError::RulesInvalid(r))) => {
            let rejected = Rejected {
                text,
                comment,
                line: r.line,
                message: if r.path.is_empty() {
                    r.problem.clone()
                } else {
                    format!("{}: {}", r.path, r.problem)
                },
            };
            let n = Notice::Error(
                cab.t(
                    "Файл правил не принят: ошибка отмечена ниже.",
                    "The rules file was refused: the mistake is marked below.",
                )
                .into(),
            );
            rules_view(
                &state,
                &cab,
                Some(n),
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(rejected),
            )
            .await
        }
        Ok(Err(e)) => {
            let e = super::refused(&cab, e);
            rules_view(&state, &cab, Some(e.notice()), e.status, None).await
        }
        Err(_) => cab.error(super::super::WebError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            cab.t("Внутренняя ошибка сервера.", "Internal server error."),
        )),
    }
}

async fn version_page(
    AxState(state): AxState<Arc<State>>,
    cab: Cab,
    Path(version): Path<i64>,
) -> Response {
    version_view(&state, &cab, version, None, StatusCode::OK, None).await
}

/// What the try form held, to show it again with its answer.
#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct TryForm {
    receipt: String,
    card: Option<String>,
    balance: Option<String>,
    spend: Option<String>,
}

const SAMPLE_RECEIPT: &str = r#"{
  "id": "try-1",
  "kind": "sale",
  "at": "2026-06-01T12:00:00+03:00",
  "positions": [
    {"id": "1", "name": "Капучино", "category": "coffee", "price": "250.00", "quantity": "2"},
    {"id": "2", "name": "Круассан", "category": "bakery", "price": "180.00", "quantity": "1"}
  ]
}"#;

async fn version_view(
    state: &Arc<State>,
    cab: &Cab,
    version: i64,
    notice: Option<Notice>,
    status: StatusCode,
    tried: Option<(TryForm, RulesTryResponse)>,
) -> Response {
    let data = reading(state, cab.lang, move |s| rules::version(s.store(), version)).await;
    let v = match data {
        Ok(v) => v,
        Err(e) => return cab.error(e),
    };
    let form = tried.as_ref().map(|(f, _)| f.clone());
    let title = format!(
        "{} v{}",
        cab.t("Правила, версия", "Rules, version"),
        version
    );
    let body = html! {
        p {
            @if v.version.active { strong { (cab.t("Активная версия.", "The active version.")) } " " }
            (cab.t("Загружена", "Uploaded")) " " (cab.lang.datetime(v.version.loaded_at, super::super::CHAIN_TZ))
            " · " (v.version.uploaded_by)
            @if !v.version.comment.is_empty() { " · " (v.version.comment) }
        }
        @if !v.version.active && cab.actor.is_owner() {
            (action_button(&format!("/admin/rules/{version}/activate"), &cab.csrf,
                cab.t("Активировать", "Activate"),
                Some(cab.t("Активировать эту версию для всех касс?", "Activate this version for every till?")), None))
        }
        section.two {
            div { (numbered(cab, &v.text, None, None)) }
            div {
                h2 { (cab.t("Проверить чек", "Try a receipt")) }
                @if let Some((_, r)) = &tried { (try_result(cab, r)) }
                form.card method="post" action={ "/admin/rules/" (version) "/try" } {
                    (csrf_field(&cab.csrf))
                    label { (cab.t("Чек (JSON, как его передаёт касса)", "The receipt (JSON, as the register sends it)"))
                        textarea name="receipt" rows="12" spellcheck="false" {
                            (form.as_ref().map(|f| f.receipt.as_str()).unwrap_or(SAMPLE_RECEIPT))
                        }
                    }
                    label { (cab.t("Статус карты (пусто — первый в правилах)", "Card status (empty: the rules' first)"))
                        input name="card" value=[form.as_ref().and_then(|f| f.card.as_deref())]; }
                    label { (cab.t("Бонусов на счёте", "Bonuses on the account"))
                        input name="balance" inputmode="decimal" value=[form.as_ref().and_then(|f| f.balance.as_deref())]; }
                    label { (cab.t("Списать бонусов", "Bonuses to spend"))
                        input name="spend" inputmode="decimal" value=[form.as_ref().and_then(|f| f.spend.as_deref())]; }
                    button type="submit" { (cab.t("Рассчитать", "Calculate")) }
                }
            }
        }
    };
    cab.page_with(status, &title, notice.as_ref(), body)
}

fn try_result(cab: &Cab, r: &RulesTryResponse) -> Markup {
    let c = &r.calculation;
    html! {
        section.card.result role="status" {
            dl {
                dt { (cab.t("Статус карты", "Card status")) } dd { (r.card) }
                dt { (cab.t("Сумма чека", "Receipt total")) } dd { (c.total) " ₽" }
                dt { (cab.t("Скидка", "Discount")) } dd { (c.discount) " ₽" }
                dt { (cab.t("Можно списать", "May be spent")) } dd { (c.max_spend) }
                dt { (cab.t("Списано", "Spent")) } dd { (c.spent) }
                dt { (cab.t("К оплате", "To pay")) } dd { strong { (c.to_pay) " ₽" } }
                dt { (cab.t("Начислится", "Accrued")) } dd { (c.accrued) }
            }
        }
    }
}

fn bonus_field(cab: &Cab, name: &str, value: Option<&str>) -> Result<Bonus, Notice> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(Bonus::ZERO),
        Some(v) => v
            .replace(',', ".")
            .parse::<Bonus>()
            .map_err(|e| Notice::Error(format!("{}: {e}", cab.t(name, name)))),
    }
}

async fn try_receipt(
    AxState(state): AxState<Arc<State>>,
    cab: Cab,
    Path(version): Path<i64>,
    form: Form<TryForm>,
) -> Response {
    if let Err(e) = cab.check(&form.csrf) {
        return cab.error(e);
    }
    let f = form.value;
    let bad = |n: Notice| {
        version_view(
            &state,
            &cab,
            version,
            Some(n),
            StatusCode::BAD_REQUEST,
            None,
        )
    };
    let receipt = match crate::protocol::parse_json(f.receipt.as_bytes()) {
        Ok(r) => r,
        Err(m) => {
            return bad(Notice::Error(format!(
                "{}: {m}",
                cab.t("Чек не читается", "The receipt does not parse")
            )))
            .await;
        }
    };
    let balance = match bonus_field(&cab, "balance", f.balance.as_deref()) {
        Ok(b) => b,
        Err(n) => return bad(n).await,
    };
    let spend = match bonus_field(&cab, "spend", f.spend.as_deref()) {
        Ok(b) => b,
        Err(n) => return bad(n).await,
    };
    let req = RulesTryRequest {
        receipt,
        customer_id: None,
        card: f.card.clone().filter(|c| !c.trim().is_empty()),
        balance,
        spend,
    };
    let r = reading(&state, cab.lang, move |s| {
        rules::try_receipt(s.store(), version, &req, s.now())
    })
    .await;
    match r {
        Ok(answer) => {
            version_view(
                &state,
                &cab,
                version,
                None,
                StatusCode::OK,
                Some((f, answer)),
            )
            .await
        }
        Err(e) => version_view(&state, &cab, version, Some(e.notice()), e.status, None).await,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DiffQuery {
    from: i64,
    to: i64,
}

async fn diff_page(
    AxState(state): AxState<Arc<State>>,
    cab: Cab,
    Query(q): Query<DiffQuery>,
) -> Response {
    let (from, to) = (q.from, q.to);
    let r: Result<RulesDiff, _> =
        reading(&state, cab.lang, move |s| rules::diff(s.store(), from, to)).await;
    let d = match r {
        Ok(d) => d,
        Err(e) => return cab.error(e),
    };
    let title = format!("{} v{} → v{}", cab.t("Разница", "Difference"), d.from, d.to);
    let body = html! {
        @if d.lines.iter().all(|l| l.op == " ") {
            p { (cab.t("Версии совпадают.", "The versions are the same.")) }
        }
        ol.source.diff {
            @for l in &d.lines {
                li.add[l.op == "+"] .del[l.op == "-"] {
                    code { (l.op) " " (l.text.trim_end_matches('\n')) }
                }
            }
        }
        p { a href="/admin/rules" { (cab.t("К версиям", "Back to the versions")) } }
    };
    cab.page(&title, None, body)
}

async fn activate(
    AxState(state): AxState<Arc<State>>,
    cab: Cab,
    Path(version): Path<i64>,
    form: Form<Empty>,
) -> Response {
    let r = cab
        .change(&state, &form.csrf, move |s, a| {
            rules::activate(s.store(), a, version, s.now()).map(drop)
        })
        .await;
    match r {
        Ok(()) => see_other("/admin/rules?ok=activated"),
        Err(e) => rules_view(&state, &cab, Some(e.notice()), e.status, None).await,
    }
}

async fn roll_back(AxState(state): AxState<Arc<State>>, cab: Cab, form: Form<Empty>) -> Response {
    let r = cab
        .change(&state, &form.csrf, move |s, a| {
            rules::roll_back(s.store(), a, s.now()).map(drop)
        })
        .await;
    match r {
        Ok(()) => see_other("/admin/rules?ok=rolled-back"),
        Err(e) => rules_view(&state, &cab, Some(e.notice()), e.status, None).await,
    }
}
