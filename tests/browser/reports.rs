//! The reports page in chromium over the demo year: the chart of the last 30 days is an
//! inline SVG with its lines, the figures are there, and the export links download a CSV
//! and an XLSX file.

use std::time::Instant;

use bonuskassa::server::admin;
use chrono::Utc;

use crate::cabinet::{demo_server, first_sign_in, sign_in};
use crate::customers::session_cookie;
use crate::harness::{Browser, Size, available};

const OWNER: &str = "owner@test.bonuskassa.ru";
const PASSWORD: &str = "Korica-2026-sekret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reports_page_draws_the_last_30_days_and_exports() {
    if !available() {
        return;
    }
    let (dir, server, otp) = demo_server();
    let started = Instant::now();
    let year = admin::demo_year(dir.path(), Utc::now()).unwrap();
    eprintln!("the demo year took {:?}: {year:?}", started.elapsed());

    let b = Browser::start(&server.url(), Size::Desktop).await;
    first_sign_in(&b, OWNER, &otp, PASSWORD).await;
    b.goto("/admin/reports").await;
    let text = b.text().await;
    assert!(text.contains("Последние 30 дней"), "{text}");
    assert!(text.contains("Бонусные обязательства на сегодня"), "{text}");

    // The chart: an inline SVG, four lines (accrued, spent, burnt, revenue) with a point
    // for every day.
    let lines = b
        .client
        .execute(
            "return Array.from(document.querySelectorAll('section.chart svg polyline'))\
             .map(function (p) { return p.getAttribute('points').trim().split(/\\s+/).length; });",
            vec![],
        )
        .await
        .unwrap();
    let lines: Vec<u64> = serde_json::from_value(lines).unwrap();
    // (The axes and ticks are two-point lines.)
    assert_eq!(
        lines.iter().filter(|n| **n == 30).count(),
        4,
        "four lines of a point a day: {lines:?}"
    );
    assert!(b.text_of("section.chart").await.contains("начислено"));

    // The figures of the period: a line a day and the total, with sales in them.
    let total = b.text_of("table.figures tr.total").await;
    assert!(total.contains("Итого"), "{total}");
    let receipts: i64 = b
        .text_of("table.figures tr.total td:nth-child(2)")
        .await
        .trim()
        .parse()
        .unwrap();
    assert!(receipts > 0, "the demo year sold in the last 30 days");
    b.picture("reports").await;

    // The exports download with the session: a CSV for Russian Excel, an XLSX workbook.
    let cookie = session_cookie(&b).await;
    let http = reqwest::Client::new();
    for (link, check) in [("a.export-csv", "csv"), ("a.export-xlsx", "xlsx")] {
        let href = b.find(link).await.attr("href").await.unwrap().unwrap();
        assert!(href.starts_with("/admin/reports/export?"), "{href}");
        let answer = http
            .get(format!("{}{href}", server.url()))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{href}");
        let disposition = answer.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(disposition.contains(&format!(".{check}")), "{disposition}");
        let body = answer.bytes().await.unwrap();
        match check {
            "csv" => {
                let text = std::str::from_utf8(&body).unwrap();
                assert!(text.starts_with("\u{feff}День;"), "{}", &text[..80]);
                assert!(text.lines().count() >= 31, "a line a day and the total");
            }
            _ => assert!(body.starts_with(b"PK\x03\x04"), "an XLSX is a zip"),
        }
    }
    // Without the session, the export leads to the sign-in page, not to a file.
    let href = b
        .find("a.export-csv")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}{href}", server.url()))
        .send()
        .await
        .unwrap();
    assert!(anonymous.status().is_redirection());

    // A bad period is named, not a 500.
    b.goto("/admin/reports?from=2026-05-10&to=2026-05-01").await;
    assert!(b.text().await.contains("before it begins"));

    // By store.
    b.goto("/admin/reports?by=store").await;
    assert!(b.text_of("table.figures").await.contains("Кофе у Карины"));
    b.close().await;

    // On a phone: nothing scrolls sideways, the chart shrinks to the width.
    let b = Browser::start(&server.url(), Size::Phone).await;
    sign_in(&b, OWNER, PASSWORD).await;
    b.goto("/admin/reports").await;
    assert!(b.has("section.chart svg").await);
    assert!(!b.scrolls_sideways().await, "the reports scroll sideways");
    b.picture("reports").await;
    b.close().await;
}
