//! The demo's year of invented purchases, on every engine: applied through the real
//! operation path it leaves every balance equal to its batches and history, the reports
//! count exactly the sales and returns it made, the liability is the sum of the
//! customers' balances, and the same seed makes the same year.

use crate::common::db::{TestDb, engines};
use bonuskassa::domain::rules::Rules;
use bonuskassa::server::demo_history::{self, HistoryStore, HistorySummary, Pace};
use bonuskassa::server::reports::{self, GroupBy, Period, ReportRequest};
use bonuskassa::server::store::{self, Census, Engine, Figures, NewConsent, NewCustomer};
use bonuskassa::server::{admin, auth};
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 3, 18, 0, 0).unwrap()
}

/// Two stores four hours apart, twelve customers (every third with a birthday), and a
/// year of history at `pace`.
fn year(engine: Engine, pace: Pace) -> (TestDb, HistorySummary, Census, Figures) {
    let db = TestDb::new(engine);
    let s = db.open();
    let start = now() - Duration::days(400);
    let ids: Vec<String> = (1..=12).map(|n| format!("demo-{n:02}")).collect();
    store::write(&*s, |tx| {
        auth::create_store(
            tx,
            "msk",
            "Кофе у Карины, Тверская 1",
            "",
            chrono_tz::Europe::Moscow,
            start,
        )?;
        auth::create_store(
            tx,
            "nsk",
            "Кофе у Карины, Красный проспект 5",
            "",
            chrono_tz::Asia::Novosibirsk,
            start,
        )?;
        for (n, id) in ids.iter().enumerate() {
            let birth =
                (n % 3 == 0).then(|| NaiveDate::from_ymd_opt(1990, 1 + n as u32 % 12, 10).unwrap());
            tx.insert_customer(&NewCustomer {
                id: id.clone(),
                phone: format!("+7999555{:04}", n + 1),
                card_status: "Стандартная".into(),
                phone_verified: true,
                birth_date: birth,
                registered_at: start,
                store_id: Some(if n % 2 == 0 { "msk" } else { "nsk" }.into()),
                ..NewCustomer::default()
            })?;
            tx.insert_consent(&NewConsent {
                customer_id: id,
                kind: "processing",
                granted: true,
                at: start,
                terminal_id: None,
                cashier: None,
            })?;
        }
        Ok(())
    })
    .unwrap();
    let stores = store::read(&*s, |r| r.stores()).unwrap();
    let cashiers = [
        vec!["Кассир Мария".to_string(), "Кассир Олег".to_string()],
        vec!["Кассир Дина".to_string()],
    ];
    let history: Vec<HistoryStore<'_>> = stores
        .iter()
        .zip(&cashiers)
        .map(|(store, cashiers)| HistoryStore { store, cashiers })
        .collect();
    let rules = Rules::from_toml_str(admin::DEMO_RULES).unwrap();
    let summary =
        demo_history::apply_history(&*s, &rules, &history, &ids, now(), pace, demo_history::SEED)
            .unwrap();
    let census = store::read(&*s, |r| r.census()).unwrap();
    let report = reports::report(
        &*s,
        &ReportRequest {
            period: Period::new(
                (now() - Duration::days(400)).date_naive(),
                now().date_naive(),
            )
            .unwrap(),
            by: GroupBy::Cashier,
            stores: None,
        },
    )
    .unwrap();
    // The liability now is every customer's balance now, summed.
    let owed = reports::liability(&*s, now(), None).unwrap();
    let mut balances = (0, 0);
    for id in &ids {
        let b = store::read(&*s, |r| r.balance(id, now())).unwrap();
        balances = (balances.0 + b.active, balances.1 + b.pending);
    }
    assert_eq!((owed.active, owed.pending), balances, "{engine}");
    // Every cashier sold; nobody else did.
    let sellers = super::reports::sellers(&report);
    assert_eq!(
        sellers,
        ["Кассир Мария", "Кассир Олег", "Кассир Дина"],
        "{engine}"
    );
    drop(s);
    (db, summary, census, report.total)
}

#[test]
fn a_year_of_demo_purchases_is_consistent_counted_and_the_same_every_time() {
    for engine in engines() {
        let pace = Pace {
            receipts_per_day: 4,
        };
        let (_db, summary, census, total) = year(engine, pace);
        assert_eq!(census.unbalanced, 0, "{engine}: {census:?}");
        assert_eq!(census.doubled_entries, 0, "{engine}: {census:?}");
        assert_eq!(summary.rejected, 0, "{engine}: {summary:?}");
        assert!(summary.sales > 2 * 300 * 3, "{engine}: {summary:?}");
        assert!(summary.returns > 0, "{engine}: {summary:?}");
        assert!(
            summary.burnt_batches > 0,
            "{engine}: gifts burn within the year"
        );
        assert!(summary.birthdays >= 4, "{engine}: {summary:?}");
        assert_eq!(total.receipts as u64, summary.sales, "{engine}");
        assert_eq!(total.returns as u64, summary.returns, "{engine}");
        assert_eq!(census.sales as u64, summary.sales, "{engine}");
        assert!(
            total.spent > 0 && total.burnt > 0 && total.clawed_back > 0,
            "{engine}: {total:?}"
        );
        assert!(
            total.revenue > 0 && total.returned > 0,
            "{engine}: {total:?}"
        );
        // The same seed, the same year, to the kopeck (once: the year is the same code on
        // either engine).
        if engine != Engine::Sqlite {
            continue;
        }
        let (_again, summary_again, _, total_again) = year(engine, pace);
        assert_eq!(summary_again, summary, "{engine}");
        assert_eq!(total_again, total, "{engine}");
    }
}
