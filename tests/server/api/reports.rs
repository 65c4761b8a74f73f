//! The back office's reports over real HTTP, on every engine: the owner's report of a sale
//! at a Moscow till, by store, exported as CSV and XLSX; the liability; and a store
//! manager of Yekaterinburg who sees none of Moscow's figures and is refused Moscow when
//! they ask for it.

use std::io::Cursor;

use super::*;
use bonuskassa::server::store::AccountRole;
use calamine::{Data, Reader, Xlsx};

// `Fixture::session` is the customers' tests' (`customers_admin.rs`).
impl Fixture {
    async fn admin_raw(&self, path_and_query: &str, session: &str) -> reqwest::Response {
        self.http
            .get(format!(
                "{}/api/v1/admin{path_and_query}",
                self.server.url()
            ))
            .bearer_auth(session)
            .send()
            .await
            .unwrap()
    }

    async fn admin_json(&self, path_and_query: &str, session: &str) -> (StatusCode, Value) {
        let resp = self.admin_raw(path_and_query, session).await;
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test]
async fn the_owner_reads_and_exports_the_chains_figures_and_a_manager_only_their_stores() {
    for engine in engines() {
        let f = Fixture::new(engine).await;
        // A 300 ₽ coffee at the Moscow till, at 12:00 Moscow time (the Standard card: no
        // discount, 2 % back).
        let id = f.customer_id("+79990000004").await;
        let r = f
            .op(
                1,
                json!({ "kind": "sale", "customer_id": id, "spend": "0",
                        "receipt": ReceiptJson::sale("r-1").line(coffee("300.00")).json() }),
            )
            .await;
        assert_eq!(r["status"], "applied", "{r}");

        let owner = f.session("owner@example.ru", AccountRole::Owner, &[]).await;
        let day = t0().date_naive();
        let q = format!("from={day}&to={day}&by=store");
        let (s, v) = f.admin_json(&format!("/reports?{q}"), &owner).await;
        assert_eq!(s, StatusCode::OK, "{engine}: {v}");
        assert_eq!(v["by"], "store");
        let moscow = v["lines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["store_id"] == admin::DEMO_STORE)
            .cloned()
            .unwrap_or_else(|| panic!("{engine}: no Moscow line in {v}"));
        assert_eq!(moscow["figures"]["receipts"], 1, "{engine}: {v}");
        assert_eq!(moscow["figures"]["revenue"], "300.00", "{engine}: {v}");
        assert_eq!(v["total"]["revenue"], "300.00", "{engine}: {v}");

        // The same as a file: CSV for Russian Excel, and XLSX.
        let resp = f
            .admin_raw(&format!("/reports/export?{q}&format=csv"), &owner)
            .await;
        assert_eq!(resp.status(), StatusCode::OK, "{engine}");
        let headers = resp.headers().clone();
        assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
        assert!(
            headers["content-disposition"]
                .to_str()
                .unwrap()
                .starts_with("attachment; filename=\"report-"),
            "{headers:?}"
        );
        let bytes = resp.bytes().await.unwrap();
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(
            text.starts_with("\u{feff}Магазин;Чеков с картой;Выручка, ₽;"),
            "{text}"
        );
        assert!(text.contains("\r\nИтого;1;300,00;0,00;"), "{text}");
        let resp = f
            .admin_raw(&format!("/reports/export?{q}&format=xlsx"), &owner)
            .await;
        assert_eq!(resp.status(), StatusCode::OK, "{engine}");
        let mut book: Xlsx<_> =
            calamine::open_workbook_from_rs(Cursor::new(resp.bytes().await.unwrap().to_vec()))
                .unwrap();
        let sheet = book.worksheet_range("Отчёт").unwrap();
        let last = sheet.height() as u32 - 1;
        assert_eq!(
            sheet.get_value((last, 0)),
            Some(&Data::String("Итого".into()))
        );
        assert_eq!(sheet.get_value((last, 2)), Some(&Data::Float(300.0)));

        // What the chain owes now: the demo balances and the 6 bonuses of the coffee.
        let (s, v) = f.admin_json("/liability", &owner).await;
        assert_eq!(s, StatusCode::OK, "{engine}: {v}");
        let total: f64 = v["total"].as_str().unwrap().parse().unwrap();
        assert!(total >= 6.0, "{engine}: {v}");

        // The Yekaterinburg manager: nothing of Moscow, and Moscow refused.
        let manager = f
            .session(
                "ekb@example.ru",
                AccountRole::Manager,
                &[admin::DEMO_STORE_EAST],
            )
            .await;
        let (s, v) = f.admin_json(&format!("/reports?{q}"), &manager).await;
        assert_eq!(s, StatusCode::OK, "{engine}: {v}");
        let stores: Vec<&str> = v["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["store_id"].as_str().unwrap())
            .collect();
        assert_eq!(stores, [admin::DEMO_STORE_EAST], "{engine}: {v}");
        assert_eq!(v["total"]["receipts"], 0, "{engine}: {v}");
        for path in [
            format!("/reports?{q}&store={}", admin::DEMO_STORE),
            format!("/reports/export?{q}&store={}", admin::DEMO_STORE),
            format!("/liability?store={}", admin::DEMO_STORE),
        ] {
            let (s, v) = f.admin_json(&path, &manager).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{engine} {path}: {v}");
            assert_eq!(v["code"], "FORBIDDEN", "{engine}: {v}");
        }
        let (s, v) = f.admin_json("/liability", &manager).await;
        assert_eq!(s, StatusCode::OK, "{engine}: {v}");
        assert_eq!(
            v["total"], "0.00",
            "{engine}: no customer's home is Yekaterinburg"
        );

        // Bad questions, named.
        let (s, v) = f
            .admin_json("/reports?from=2026-12-01&to=2026-11-01", &owner)
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{engine}: {v}");
        assert_eq!(
            v["message"],
            "the period ends (2026-11-01) before it begins (2026-12-01)"
        );
        let (s, v) = f
            .admin_json(&format!("/reports?{q}&store=spb"), &owner)
            .await;
        assert_eq!(
            (s, v["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("NOT_FOUND")),
            "{v}"
        );
        let (s, v) = f
            .admin_json(&format!("/reports/export?{q}&format=pdf"), &owner)
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{engine}: {v}");
        // A terminal's token is no session.
        let (s, _) = f.admin_json(&format!("/reports?{q}"), &f.token).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{engine}");
    }
}
