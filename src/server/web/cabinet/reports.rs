//! The reports page: the figures of a period (by day, store or cashier, of one store or
//! all the reader's), their export to CSV and XLSX, a chart of the last 30 days (bonuses
//! accrued, spent and burnt, and the loyalty revenue) drawn here as SVG with `plotters`
//! and inlined in the page, and the bonus liability as of now.
//!
//! The period, the grouping and a store id travel in the query: no personal data.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State as AxState};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{Duration, NaiveDate};
use maud::{Markup, html};
use plotters::prelude::*;
use serde::Deserialize;

use super::super::{CHAIN_TZ, Lang, WebError, reading, trusted_svg, urlencode};
use super::Cab;
use crate::protocol::admin::StoreView;
use crate::protocol::reports::{LiabilityView, ReportFigures, ReportView};
use crate::server::State;
use crate::server::backoffice::chain;
use crate::server::reports::{self, Asked, Report, ReportError};

pub(super) fn router() -> Router<Arc<State>> {
    Router::new()
        .route("/admin/reports", get(reports_page))
        .route("/admin/reports/export", get(export))
}

/// The days the chart covers, today included.
pub(crate) const CHART_DAYS: i64 = 30;

#[derive(Deserialize, Default)]
struct ReportQuery {
    from: Option<String>,
    to: Option<String>,
    by: Option<String>,
    store: Option<String>,
}

#[derive(Deserialize)]
struct ExportQuery {
    from: Option<String>,
    to: Option<String>,
    by: Option<String>,
    store: Option<String>,
    format: Option<String>,
}

/// A report refusal as a page error: the request's fault names the field.
fn report_error(lang: Lang, e: ReportError) -> WebError {
    let detail = e.to_string();
    let (status, head) = match &e {
        ReportError::Store(_) | ReportError::Export(_) => {
            tracing::error!(error = %e, "a report page failed");
            return WebError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                lang.t(
                    "Отчёт не собран: база данных недоступна, повторите.",
                    "The report was not made: the database is unreachable, try again.",
                ),
            );
        }
        ReportError::NotYours(_) => (StatusCode::FORBIDDEN, lang.t("Нет доступа", "Not allowed")),
        ReportError::UnknownStore(_) => (StatusCode::NOT_FOUND, lang.t("Не найдено", "Not found")),
        _ => (
            StatusCode::BAD_REQUEST,
            lang.t("Проверьте период", "Check the period"),
        ),
    };
    WebError::new(status, format!("{head}: {detail}"))
}

/// Today in Moscow, the chain's zone.
fn today(state: &State) -> NaiveDate {
    state.now().with_timezone(&CHAIN_TZ).date_naive()
}

/// What the page shows, read in one hop.
struct Data {
    stores: Vec<StoreView>,
    report: Result<ReportView, ReportError>,
    chart: Result<Report, ReportError>,
    liability: Result<LiabilityView, ReportError>,
}

async fn reports_page(
    AxState(state): AxState<Arc<State>>,
    cab: Cab,
    Query(q): Query<ReportQuery>,
) -> Response {
    let to_day = today(&state);
    let from = q
        .from
        .filter(|f| !f.trim().is_empty())
        .unwrap_or_else(|| (to_day - Duration::days(CHART_DAYS - 1)).to_string());
    let to =
        q.to.filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| to_day.to_string());
    let by =
        q.by.filter(|b| !b.is_empty())
            .unwrap_or_else(|| "day".into());
    let store = q.store.filter(|s| !s.is_empty());
    let actor = cab.actor.clone();
    let (f, t, b, st) = (from.clone(), to.clone(), by.clone(), store.clone());
    let data = reading(&state, cab.lang, move |s| {
        let stores = chain::stores(s.store(), &actor, s.now())?;
        let asked = Asked {
            from: &f,
            to: &t,
            by: Some(&b),
            store: st.as_deref(),
        };
        let report = reports::report_for(s.store(), &actor, &asked).map(|r| reports::view(&r));
        let last = today(s);
        let (cf, ct) = (
            (last - Duration::days(CHART_DAYS - 1)).to_string(),
            last.to_string(),
        );
        let chart = reports::report_for(
            s.store(),
            &actor,
            &Asked {
                from: &cf,
                to: &ct,
                by: Some("day"),
                store: st.as_deref(),
            },
        );
        let liability = reports::liability_for(s.store(), &actor, None, st.as_deref(), s.now());
        Ok(Data {
            stores,
            report,
            chart,
            liability,
        })
    })
    .await;
    let data = match data {
        Ok(d) => d,
        Err(e) => return cab.error(e),
    };
    let mut status = StatusCode::OK;
    let mut notice = None;
    let report = match data.report {
        Ok(r) => Some(r),
        Err(e) => {
            let e = report_error(cab.lang, e);
            status = e.status;
            notice = Some(e.notice());
            None
        }
    };
    let query = format!(
        "from={}&to={}&by={}{}",
        urlencode(&from),
        urlencode(&to),
        urlencode(&by),
        store
            .as_deref()
            .map(|s| format!("&store={}", urlencode(s)))
            .unwrap_or_default()
    );
    let body = html! {
        form.filters method="get" action="/admin/reports" {
            label { (cab.t("С", "From")) input type="date" name="from" value=(from); }
            label { (cab.t("По", "To")) input type="date" name="to" value=(to); }
            label { (cab.t("Магазин", "Store"))
                select name="store" {
                    @if cab.actor.is_owner() || data.stores.len() > 1 {
                        option value="" selected[store.is_none()] { (cab.t("все", "all")) }
                    }
                    @for s in &data.stores {
                        option value=(s.id) selected[store.as_deref() == Some(s.id.as_str())] { (s.name) }
                    }
                }
            }
            label { (cab.t("Строки", "Lines"))
                select name="by" {
                    option value="day" selected[by == "day"] { (cab.t("по дням", "by day")) }
                    option value="store" selected[by == "store"] { (cab.t("по магазинам", "by store")) }
                    option value="cashier" selected[by == "cashier"] { (cab.t("по кассирам", "by cashier")) }
                }
            }
            button type="submit" { (cab.t("Показать", "Show")) }
        }
        @if let Ok(l) = &data.liability {
            section.card.liability {
                h2 { (cab.t("Бонусные обязательства на сегодня", "Bonus liability as of today")) }
                dl {
                    dt { (cab.t("Доступно клиентам", "Spendable")) } dd { (l.active) }
                    dt { (cab.t("Ожидают начисления", "Pending")) } dd { (l.pending) }
                    dt { (cab.t("Всего", "Total")) } dd.total { strong { (l.total) } }
                }
                p.muted { (cab.t("На", "As of")) " " (cab.lang.datetime(l.at, CHAIN_TZ)) }
            }
        }
        @if let Ok(chart) = &data.chart {
            section.chart {
                h2 { (cab.t("Последние 30 дней", "The last 30 days")) }
                (trusted_svg(chart_svg(cab.lang, chart)))
            }
        }
        @if let Some(r) = &report {
            h2 { (cab.t("Показатели за период", "The figures of the period")) }
            p.exports {
                a.export-csv href={ "/admin/reports/export?format=csv&" (query) } download { (cab.t("Скачать CSV", "Download CSV")) }
                " · "
                a.export-xlsx href={ "/admin/reports/export?format=xlsx&" (query) } download { (cab.t("Скачать XLSX", "Download XLSX")) }
            }
            (figures_table(&cab, r))
        }
    };
    cab.page_with(status, cab.t("Отчёты", "Reports"), notice.as_ref(), body)
}

fn figures_table(cab: &Cab, r: &ReportView) -> Markup {
    use crate::protocol::reports::ReportBy;
    let key = |l: &crate::protocol::reports::ReportLine| -> String {
        match r.by {
            ReportBy::Day => l.day.map(|d| cab.lang.date(d)).unwrap_or_default(),
            ReportBy::Store => l.store_name.clone().unwrap_or_default(),
            ReportBy::Cashier => format!(
                "{} — {}",
                l.store_name.as_deref().unwrap_or_default(),
                match l.cashier.as_deref() {
                    None | Some("") => cab.t("без кассира", "nobody at a till"),
                    Some(c) => c,
                }
            ),
        }
    };
    let head = match r.by {
        ReportBy::Day => cab.t("День", "Day"),
        ReportBy::Store => cab.t("Магазин", "Store"),
        ReportBy::Cashier => cab.t("Магазин — кассир", "Store — cashier"),
    };
    let cols: [(&str, &str); 8] = [
        ("Чеков", "Receipts"),
        ("Выручка, ₽", "Revenue, ₽"),
        ("Скидка, ₽", "Discount, ₽"),
        ("Начислено", "Accrued"),
        ("Списано", "Spent"),
        ("Сгорело", "Burnt"),
        ("Возвратов", "Returns"),
        ("Новых клиентов", "New customers"),
    ];
    let cells = |f: &ReportFigures| -> [String; 8] {
        [
            f.receipts.to_string(),
            f.revenue.to_string(),
            f.discount.to_string(),
            f.accrued.to_string(),
            f.spent.to_string(),
            f.burnt.to_string(),
            f.returns.to_string(),
            f.new_customers.to_string(),
        ]
    };
    html! {
        table.list.figures {
            thead { tr { th { (head) } @for (ru, en) in cols { th.num { (cab.t(ru, en)) } } } }
            tbody {
                @for l in &r.lines {
                    tr {
                        td data-label=(head) { (key(l)) }
                        @for ((ru, en), v) in cols.iter().zip(cells(&l.figures)) {
                            td.num data-label=(cab.t(ru, en)) { (v) }
                        }
                    }
                }
                tr.total {
                    td { strong { (cab.t("Итого", "Total")) } }
                    @for ((ru, en), v) in cols.iter().zip(cells(&r.total)) {
                        td.num data-label=(cab.t(ru, en)) { strong { (v) } }
                    }
                }
            }
        }
    }
}

/// The chart of a by-day report: bonuses accrued, spent and burnt above, the loyalty
/// revenue below, as one SVG document. Drawn with plotters' SVG backend: the text is SVG
/// text in a generic font family (no font is loaded), and nothing outside the document is
/// referred to.
pub(crate) fn chart_svg(lang: Lang, report: &Report) -> String {
    let days: Vec<NaiveDate> = report.lines.iter().filter_map(|l| l.day).collect();
    let series = |f: fn(&crate::server::store::Figures) -> i64| -> Vec<(i32, f64)> {
        report
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| (i as i32, f(&l.figures) as f64 / 100.0))
            .collect()
    };
    let accrued = series(|f| f.accrued);
    let spent = series(|f| f.spent);
    let burnt = series(|f| f.burnt);
    let revenue = series(|f| f.revenue);
    let mut svg = String::new();
    let drawn = draw(lang, &days, &accrued, &spent, &burnt, &revenue, &mut svg);
    if let Err(e) = drawn {
        tracing::error!(error = %e, "the report chart was not drawn");
        return String::new();
    }
    svg
}

type Points = [(i32, f64)];

#[allow(clippy::too_many_arguments)]
fn draw(
    lang: Lang,
    days: &[NaiveDate],
    accrued: &Points,
    spent: &Points,
    burnt: &Points,
    revenue: &Points,
    out: &mut String,
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::with_string(out, (960, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(320);
    let n = days.len().max(1) as i32;
    let label = |i: &i32| -> String {
        days.get(*i as usize)
            .map(|d| d.format("%d.%m").to_string())
            .unwrap_or_default()
    };
    let max_of = |pts: &[&Points]| -> f64 {
        pts.iter()
            .flat_map(|p| p.iter().map(|(_, v)| *v))
            .fold(0.0, f64::max)
            .max(1.0)
            * 1.1
    };
    let accrued_color = RGBColor(0x1f, 0x6f, 0xd1);
    let spent_color = RGBColor(0xd9, 0x7a, 0x06);
    let burnt_color = RGBColor(0xc0, 0x2b, 0x2b);
    let revenue_color = RGBColor(0x1b, 0x8a, 0x4b);

    let mut chart = ChartBuilder::on(&top)
        .caption(
            lang.t("Бонусы за день", "Bonuses per day"),
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(28)
        .y_label_area_size(70)
        .build_cartesian_2d(0..(n - 1).max(1), 0.0..max_of(&[accrued, spent, burnt]))?;
    chart
        .configure_mesh()
        .x_labels(10)
        .x_label_formatter(&label)
        .y_labels(6)
        .light_line_style(WHITE)
        .draw()?;
    for (pts, color, name) in [
        (accrued, accrued_color, lang.t("начислено", "accrued")),
        (spent, spent_color, lang.t("списано", "spent")),
        (burnt, burnt_color, lang.t("сгорело", "burnt")),
    ] {
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.3))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;

    let mut chart = ChartBuilder::on(&bottom)
        .caption(
            lang.t("Выручка по программе, ₽", "Loyalty revenue, ₽"),
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(28)
        .y_label_area_size(70)
        .build_cartesian_2d(0..(n - 1).max(1), 0.0..max_of(&[revenue]))?;
    chart
        .configure_mesh()
        .x_labels(10)
        .x_label_formatter(&label)
        .y_labels(5)
        .light_line_style(WHITE)
        .draw()?;
    chart.draw_series(LineSeries::new(
        revenue.iter().copied(),
        revenue_color.stroke_width(2),
    ))?;
    root.present()?;
    Ok(())
}

/// `GET /admin/reports/export?format=csv|xlsx&from&to&by&store`: the report as a file.
async fn export(
    AxState(state): AxState<Arc<State>>,
    cab: Cab,
    Query(q): Query<ExportQuery>,
) -> Response {
    let actor = cab.actor.clone();
    let lang = cab.lang;
    let s = state.clone();
    let done = state
        .workers
        .read(move || {
            let asked = Asked {
                from: q.from.as_deref().unwrap_or_default(),
                to: q.to.as_deref().unwrap_or_default(),
                by: q.by.as_deref().filter(|b| !b.is_empty()),
                store: q.store.as_deref().filter(|s| !s.is_empty()),
            };
            let report = reports::report_for(s.store(), &actor, &asked)?;
            reports::export_file(&report, q.format.as_deref().unwrap_or("csv"))
        })
        .await;
    let (bytes, media, name) = match done {
        Ok(Ok(file)) => file,
        Ok(Err(e)) => return cab.error(report_error(lang, e)),
        Err(_) => {
            return cab.error(WebError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                lang.t("Внутренняя ошибка сервера.", "Internal server error."),
            ));
        }
    };
    let Ok(disposition) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) else {
        return cab.error(WebError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            lang.t("Внутренняя ошибка сервера.", "Internal server error."),
        ));
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(media)),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::reports::{GroupBy, Period, ReportLine};
    use crate::server::store::Figures;

    fn month() -> Report {
        let first = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        let lines: Vec<ReportLine> = (0..30)
            .map(|i| ReportLine {
                day: Some(first + Duration::days(i)),
                store: None,
                cashier: None,
                figures: Figures {
                    receipts: 10 + i,
                    revenue: 1_000_000 + i * 10_000,
                    accrued: 20_000 + i * 100,
                    spent: 5_000,
                    burnt: if i % 7 == 0 { 3_000 } else { 0 },
                    ..Figures::default()
                },
            })
            .collect();
        Report {
            period: Period::new(first, first + Duration::days(29)).unwrap(),
            by: GroupBy::Day,
            lines,
            total: Figures::default(),
        }
    }

    /// How many polylines have `points` points (the axes and ticks have two).
    fn day_lines(svg: &str, points: usize) -> usize {
        svg.split("<polyline")
            .skip(1)
            .filter_map(|p| p.split("points=\"").nth(1))
            .filter_map(|p| p.split('"').next())
            .filter(|p| p.split_whitespace().count() == points)
            .count()
    }

    #[test]
    fn the_chart_is_one_self_contained_svg_with_four_lines() {
        let svg = chart_svg(Lang::Ru, &month());
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(day_lines(&svg, 30), 4, "accrued, spent, burnt, revenue");
        assert!(svg.contains("Бонусы за день"));
        assert!(svg.contains("начислено") && svg.contains("сгорело"));
        assert!(svg.contains("01.03") || svg.contains("02.03"));
        // Nothing outside the document: no links, no external images, fonts or styles.
        for outside in [
            "href",
            "url(",
            "@import",
            "<image",
            "<script",
            "<foreignObject",
        ] {
            assert!(
                !svg.contains(outside),
                "the chart refers outside: {outside}"
            );
        }
        // Only the SVG namespace names an address.
        assert_eq!(
            svg.matches("http").count(),
            svg.matches("http://www.w3.org/2000/svg").count()
        );
    }

    #[test]
    fn an_empty_month_still_draws() {
        let mut r = month();
        for l in &mut r.lines {
            l.figures = Figures::default();
        }
        let svg = chart_svg(Lang::En, &r);
        assert!(svg.contains("Bonuses per day"));
        assert_eq!(day_lines(&svg, 30), 4);
    }
}
