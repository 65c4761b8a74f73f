//! The import of a customer base (`crate::server::import`): upload a CSV or XLSX file, read
//! the dry run's report (the bad rows as a table: row, column, reason), then import the
//! same file.
//!
//! Between the two steps the file stays on the server, in memory, under a random id (128
//! bits) bound to the session that uploaded it and to the store chosen, for at most
//! [`KEEP_FOR`]; the import takes it out, so it is imported at most once. Only one file per
//! session is kept, and all the kept files together are capped at [`KEPT_BYTES`] (the oldest
//! go first). A restart forgets them: the page then asks for the file again.
//!
//! The upload is larger than the server's default body limit, so this route takes
//! `import::MAX_FILE_BYTES` (and a little for the form around the file), as
//! `POST /api/v1/admin/imports` does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State as AxState};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;

use super::super::{Form, Lang, Notice, Upload, WebError, csrf_field, reading};
use super::Cab;
use crate::protocol::admin::StoreView;
use crate::server::State;
use crate::server::backoffice::chain;
use crate::server::import::{self, ImportError, ImportReport, Problem};

pub(super) fn router() -> Router<Arc<State>> {
    Router::new()
        .route(
            "/admin/import",
            get(import_page).post(check).layer(DefaultBodyLimit::max(
                import::MAX_FILE_BYTES + FORM_ALLOWANCE,
            )),
        )
        .route("/admin/import/run", post(run))
}

/// The multipart form around the file: the boundaries, the token, the store.
const FORM_ALLOWANCE: usize = 64 * 1024;
/// How long a checked file waits for its import.
pub(crate) const KEEP_FOR: Duration = Duration::from_secs(15 * 60);
/// The most the kept files hold together.
pub(crate) const KEPT_BYTES: usize = 256 * 1024 * 1024;

/// A checked file waiting for its import.
struct Kept {
    /// The CSRF token of the session that uploaded it (derived from the session).
    session: String,
    store: String,
    file_name: String,
    file: Bytes,
    at: Instant,
}

fn kept() -> &'static Mutex<HashMap<String, Kept>> {
    static KEPT: OnceLock<Mutex<HashMap<String, Kept>>> = OnceLock::new();
    KEPT.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Keeps a checked file; the id to import it by.
fn keep(session: &str, store: &str, file_name: &str, file: Bytes) -> String {
    let id = crate::crypto::hex(&rand::random::<[u8; 16]>());
    let mut all = kept().lock().unwrap_or_else(|p| p.into_inner());
    let now = Instant::now();
    all.retain(|_, k| now.duration_since(k.at) < KEEP_FOR && k.session != session);
    while all.values().map(|k| k.file.len()).sum::<usize>() + file.len() > KEPT_BYTES {
        let Some(oldest) = all
            .iter()
            .min_by_key(|(_, k)| k.at)
            .map(|(id, _)| id.clone())
        else {
            break;
        };
        all.remove(&oldest);
    }
    all.insert(
        id.clone(),
        Kept {
            session: session.to_string(),
            store: store.to_string(),
            file_name: file_name.to_string(),
            file,
            at: now,
        },
    );
    id
}

/// Takes a kept file out: only by the session that checked it, for the store it was
/// checked for, within its time.
fn take(id: &str, session: &str, store: &str) -> Option<(Bytes, String)> {
    let mut all = kept().lock().unwrap_or_else(|p| p.into_inner());
    let fits = all.get(id).is_some_and(|k| {
        super::super::csrf_ok(&k.session, session) && k.store == store && k.at.elapsed() < KEEP_FOR
    });
    if fits {
        all.remove(id).map(|k| (k.file, k.file_name))
    } else {
        None
    }
}

async fn stores_of(state: &Arc<State>, cab: &Cab) -> Result<Vec<StoreView>, WebError> {
    let actor = cab.actor.clone();
    reading(state, cab.lang, move |s| {
        chain::stores(s.store(), &actor, s.now())
    })
    .await
}

async fn import_page(AxState(state): AxState<Arc<State>>, cab: Cab) -> Response {
    view(&state, &cab, None, StatusCode::OK, None, None).await
}

/// What a step answered: the report, and (after a good dry run) the id to import by.
struct Outcome {
    report: ImportReport,
    /// The uploaded file's name, as the browser gave it.
    file_name: String,
    store: String,
    kept: Option<String>,
}

async fn view(
    state: &Arc<State>,
    cab: &Cab,
    notice: Option<Notice>,
    status: StatusCode,
    outcome: Option<Outcome>,
    chosen: Option<&str>,
) -> Response {
    let stores = match stores_of(state, cab).await {
        Ok(s) => s,
        Err(e) => return cab.error(e),
    };
    let chosen = chosen.or(outcome.as_ref().map(|o| o.store.as_str()));
    let body = html! {
        @if let Some(o) = &outcome { (report(cab, o)) }
        h2 { (cab.t("Загрузить файл", "Upload a file")) }
        p.muted {
            (cab.t("CSV или XLSX со столбцами шаблона: ", "CSV or XLSX with the template's columns: "))
            (import::Column::ALL.iter().map(|c| c.header()).collect::<Vec<_>>().join(", "))
            (cab.t(". Сначала файл проверяется без записи.", ". The file is checked first; nothing is written."))
        }
        form.card method="post" action="/admin/import" enctype="multipart/form-data" {
            (csrf_field(&cab.csrf))
            label { (cab.t("Магазин, к которому отнести клиентов", "The store the customers belong to"))
                select name="store" required {
                    @for s in &stores { option value=(s.id) selected[Some(s.id.as_str()) == chosen] { (s.name) " (" (s.id) ")" } }
                }
            }
            label { (cab.t("Файл (CSV или XLSX)", "File (CSV or XLSX)"))
                input type="file" name="file" required
                    accept=".csv,.xlsx,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"; }
            button type="submit" { (cab.t("Проверить файл", "Check the file")) }
        }
    };
    cab.page_with(
        status,
        cab.t("Импорт клиентов", "Customer import"),
        notice.as_ref(),
        body,
    )
}

fn report(cab: &Cab, o: &Outcome) -> Markup {
    let r = &o.report;
    let outcome = match (r.dry_run, r.written, r.ok()) {
        (true, _, true) if r.new_customers > 0 => cab.t(
            "Проверка пройдена: все строки в порядке, ничего не записано.",
            "Dry run: every row is good; nothing was written.",
        ),
        (true, _, true) => cab.t(
            "Проверка пройдена, но новых клиентов в файле нет.",
            "Dry run: every row is good, but the file brings nobody new.",
        ),
        (true, _, false) => cab.t(
            "Проверка: исправьте строки ниже и загрузите файл снова; ничего не записано.",
            "Dry run: fix the rows below and upload the file again; nothing was written.",
        ),
        (false, true, _) => cab.t("Клиенты импортированы.", "The customers were imported."),
        (false, false, true) => cab.t("Нечего импортировать.", "Nothing new to import."),
        (false, false, false) => cab.t(
            "Ничего не импортировано: исправьте строки ниже и загрузите файл снова.",
            "Nothing was imported: fix the rows below and upload the file again.",
        ),
    };
    html! {
        section.card.import-report role="status" {
            h2 { @if r.dry_run { (cab.t("Результат проверки", "Dry run report")) } @else { (cab.t("Результат импорта", "Import report")) } }
            p.outcome { strong { (outcome) } }
            dl {
                dt { (cab.t("Файл", "File")) } dd { (o.file_name) " (" (r.format) ")" }
                dt { (cab.t("Магазин", "Store")) } dd { (o.store) }
                dt { (cab.t("Строк", "Rows")) } dd.rows { (r.rows) }
                dt { (cab.t("Новых клиентов", "New customers")) } dd.new { (r.new_customers) }
                dt { (cab.t("Уже импортированы", "Imported before")) } dd { (r.already_imported) }
                dt { (cab.t("Бонусов", "Bonuses")) } dd { (r.bonuses) }
                dt { (cab.t("Сумма покупок", "Purchases sum")) } dd { (r.purchases_sum) " ₽" }
                dt { (cab.t("Столбцы", "Columns")) } dd { (r.columns.iter().map(|c| c.header()).collect::<Vec<_>>().join(", ")) }
                @if !r.ignored_columns.is_empty() {
                    dt { (cab.t("Не прочитаны", "Ignored")) } dd { (r.ignored_columns.join(", ")) }
                }
            }
            @if !r.problems.is_empty() {
                h3 { (cab.t("Строки с ошибками", "Bad rows")) ": " (r.bad_rows()) }
                table.list.problems {
                    thead { tr {
                        th.num { (cab.t("Строка", "Row")) } th { (cab.t("Столбец", "Column")) } th { (cab.t("Причина", "Reason")) }
                    } }
                    tbody { @for p in &r.problems {
                        tr {
                            td.num data-label=(cab.t("Строка", "Row")) { (p.row) }
                            td data-label=(cab.t("Столбец", "Column")) { (p.column.map(|c| c.header()).unwrap_or("—")) }
                            td data-label=(cab.t("Причина", "Reason")) { (problem_text(cab.lang, &p.problem)) }
                        }
                    } }
                }
            }
            @if let Some(id) = &o.kept {
                form.card method="post" action="/admin/import/run"
                    data-confirm=(cab.t("Импортировать клиентов из этого файла?", "Import the customers of this file?")) {
                    (csrf_field(&cab.csrf))
                    input type="hidden" name="kept" value=(id);
                    input type="hidden" name="store" value=(o.store);
                    p { (cab.t("Файл хранится на сервере 15 минут.", "The file is kept on the server for 15 minutes.")) }
                    button type="submit" { (cab.t("Импортировать", "Import")) " " (r.new_customers) }
                }
            }
        }
    }
}

/// A row's problem in the reader's language (never quoting personal data: the service's
/// problems hold none).
fn problem_text(lang: Lang, p: &Problem) -> String {
    if lang == Lang::En {
        return p.to_string();
    }
    match p {
        Problem::MissingPhone => "нет телефона: он нужен каждому клиенту".into(),
        Problem::BadPhone { reason } => format!("не российский номер телефона: {reason}"),
        Problem::BankCard => {
            "похоже на номер банковской карты: такие номера не принимаются и не хранятся".into()
        }
        Problem::BadCard { reason } => format!("не номер карты этой программы: {reason}"),
        Problem::DuplicatePhone { first_row } => {
            format!("этот телефон уже есть в строке {first_row}")
        }
        Problem::DuplicateCard { first_row } => {
            format!("этот номер карты уже есть в строке {first_row}")
        }
        Problem::PhoneTaken => "клиент с этим телефоном уже есть в bonuskassa (зарегистрирован на кассе или импортирован с другими данными); уберите строку или измените клиента в кабинете".into(),
        Problem::CardTaken => "этот номер карты принадлежит клиенту с другим телефоном".into(),
        Problem::UnknownStatus { value, known } => format!(
            "неизвестный статус карты «{value}»; в правилах есть {}",
            known.iter().map(|k| format!("«{k}»")).collect::<Vec<_>>().join(", ")
        ),
        Problem::Negative => "отрицательная сумма".into(),
        Problem::NotANumber { value } => format!("«{value}» — не число"),
        Problem::TooPrecise { value } => format!("в «{value}» больше двух знаков после запятой"),
        Problem::TooLarge { value } => format!("«{value}» больше десяти миллиардов"),
        Problem::BadDate { value } => {
            format!("«{value}» — не дата: пишите ДД.ММ.ГГГГ, например 05.03.1990")
        }
        Problem::DateOutOfRange { value } => format!("«{value}» — раньше 1900 года или в будущем"),
        Problem::BadGender { value } => format!("«{value}» — не пол: пишите м или ж"),
        Problem::BadEmail => "не адрес электронной почты".into(),
        Problem::TooLong { max } => format!("длиннее {max} символов"),
    }
}

/// Why a file was not read at all, as a page error.
fn import_error(lang: Lang, e: ImportError) -> WebError {
    let detail = e.to_string();
    let (status, head) = match &e {
        ImportError::Store(_) | ImportError::StoredRules(_) => {
            tracing::error!(error = %e, "the import page's store work failed");
            return WebError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                lang.t(
                    "База данных недоступна или правила не читаются; ничего не записано.",
                    "The database is unreachable or the rules do not read; nothing was written.",
                ),
            );
        }
        ImportError::Forbidden(_) => (StatusCode::FORBIDDEN, lang.t("Нет доступа", "Not allowed")),
        ImportError::UnknownStore(_) => (StatusCode::NOT_FOUND, lang.t("Не найдено", "Not found")),
        _ => (
            StatusCode::BAD_REQUEST,
            lang.t("Файл не читается", "The file cannot be read"),
        ),
    };
    WebError::new(status, format!("{head}: {detail}"))
}

/// Runs the import (or its dry run) on the write pool: it reads the active rules there.
async fn run_import(
    state: &Arc<State>,
    cab: &Cab,
    file: Bytes,
    store: String,
    dry_run: bool,
) -> Result<ImportReport, WebError> {
    let actor = cab.actor.clone();
    let lang = cab.lang;
    let s = state.clone();
    let work = move || {
        let rules = s.current_rules();
        import::import(
            s.store(),
            &actor,
            &rules.rules,
            &file,
            &store,
            dry_run,
            s.now(),
        )
    };
    let done = if dry_run {
        state.workers.read(work).await
    } else {
        state.workers.write(work).await
    };
    match done {
        Ok(r) => r.map_err(|e| import_error(lang, e)),
        Err(_) => Err(WebError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            lang.t(
                "Внутренняя ошибка сервера; ничего не записано.",
                "Internal server error; nothing was written.",
            ),
        )),
    }
}

/// Step one: the dry run of an uploaded file.
async fn check(AxState(state): AxState<Arc<State>>, cab: Cab, up: Upload) -> Response {
    if let Err(e) = cab.check(&up.csrf) {
        return cab.error(e);
    }
    let store = up.field("store").unwrap_or_default().trim().to_string();
    let Some((file, file_name)) = up
        .file("file")
        .map(|f| (f.bytes.clone(), f.file_name.clone()))
    else {
        let n = Notice::Error(
            cab.t("Выберите файл CSV или XLSX.", "Choose a CSV or XLSX file.")
                .into(),
        );
        return view(
            &state,
            &cab,
            Some(n),
            StatusCode::BAD_REQUEST,
            None,
            Some(&store),
        )
        .await;
    };
    if store.is_empty() {
        let n = Notice::Error(cab.t("Выберите магазин.", "Choose a store.").into());
        return view(&state, &cab, Some(n), StatusCode::BAD_REQUEST, None, None).await;
    }
    match run_import(&state, &cab, file.clone(), store.clone(), true).await {
        Ok(report) => {
            let kept = (report.ok() && report.new_customers > 0)
                .then(|| keep(&cab.csrf, &store, &file_name, file));
            let outcome = Outcome {
                report,
                file_name,
                store,
                kept,
            };
            view(&state, &cab, None, StatusCode::OK, Some(outcome), None).await
        }
        Err(e) => view(&state, &cab, Some(e.notice()), e.status, None, Some(&store)).await,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunForm {
    kept: Option<String>,
    store: Option<String>,
}

/// Step two: the import of the file the dry run checked.
async fn run(AxState(state): AxState<Arc<State>>, cab: Cab, form: Form<RunForm>) -> Response {
    if let Err(e) = cab.check(&form.csrf) {
        return cab.error(e);
    }
    let store = form.value.store.unwrap_or_default();
    let id = form.value.kept.unwrap_or_default();
    let Some((file, file_name)) = take(&id, &cab.csrf, &store) else {
        let n = Notice::Error(
            cab.t(
                "Проверенный файл больше не хранится (прошло 15 минут, он уже импортирован или сервер перезапущен): загрузите его снова.",
                "The checked file is no longer kept (15 minutes passed, it was imported, or the server restarted): upload it again.",
            )
            .into(),
        );
        return view(&state, &cab, Some(n), StatusCode::GONE, None, Some(&store)).await;
    };
    match run_import(&state, &cab, file, store.clone(), false).await {
        Ok(report) => {
            let outcome = Outcome {
                report,
                file_name,
                store,
                kept: None,
            };
            view(&state, &cab, None, StatusCode::OK, Some(outcome), None).await
        }
        Err(e) => view(&state, &cab, Some(e.notice()), e.status, None, Some(&store)).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_file_is_taken_once_by_its_session_for_its_store() {
        let file = Bytes::from_static(b"phone\n+79990000001\n");
        let id = keep("session-a", "store-1", "base.csv", file.clone());
        assert_eq!(take(&id, "session-b", "store-1"), None, "another session");
        assert_eq!(take(&id, "session-a", "ekb-1"), None, "another store");
        assert_eq!(
            take(&id, "session-a", "store-1"),
            Some((file, "base.csv".to_string()))
        );
        assert_eq!(take(&id, "session-a", "store-1"), None, "taken once");
    }

    #[test]
    fn a_session_keeps_one_file() {
        let first = keep("session-c", "store-1", "a.csv", Bytes::from_static(b"1"));
        let second = keep("session-c", "store-1", "b.csv", Bytes::from_static(b"2"));
        assert_ne!(first, second);
        assert_eq!(take(&first, "session-c", "store-1"), None);
        assert_eq!(
            take(&second, "session-c", "store-1"),
            Some((Bytes::from_static(b"2"), "b.csv".to_string()))
        );
    }
}
