//! The back office's reports on every engine, against a small chain worked out by hand: two
//! stores three time zones apart, three cashiers, a sale that crosses midnight in one
//! store's time, a return at the other store's till, a customer of no store whose bonuses
//! burn. Every figure of every line is checked, the store filter leaves the other stores
//! out, and the liability is checked at moments before and after each change, with the
//! expiry job late and on time.

use crate::common::db::{TestDb, engines};
use crate::common::receipts::{ReceiptJson, coffee};
use bonuskassa::domain::rules::Rules;
use bonuskassa::protocol::server::{Operation, OperationStatus};
use bonuskassa::server::auth::{self, Terminal};
use bonuskassa::server::ledger::{self, Grant, Source};
use bonuskassa::server::ops;
use bonuskassa::server::reports::{self, GroupBy, Period, ReportRequest};
use bonuskassa::server::store::{
    self, FigureQuery, Figures, Liability, NewConsent, NewCustomer, NewTerminal, Store,
};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde_json::{Value, json};

/// One card: 5 % off, 10 % of what is paid back in bonuses, active at once, up to half a
/// receipt payable in bonuses.
const RULES: &str = r#"
version = 1
currency = "RUB"
bonus_rounding = "whole"
spend_step = "1"
min_unit_price = "0.01"

[[card]]
name = "Стандартная"
issue = "registration"
discount_percent = "5"
accrual = { percent = "10" }
activate_after_days = 0
burn_after_days = 365
spend = { max_percent = "50" }
"#;

fn at(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, hour, minute, 0)
        .unwrap()
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
}

fn till(id: &str, store: &str) -> Terminal {
    Terminal {
        id: id.into(),
        store_id: store.into(),
    }
}

/// Applies one operation made at `when` by `cashier`, received at once.
fn apply(
    store: &dyn Store,
    t: &Terminal,
    seq: u64,
    when: DateTime<Utc>,
    cashier: &str,
    body: Value,
) {
    let rules = Rules::from_toml_str(RULES).unwrap();
    let op: Operation = serde_json::from_value(json!({
        "id": uuid::Uuid::now_v7().to_string(), "seq": seq, "at": when,
        "cashier": cashier, "cashier_id": 1, "body": body }))
    .unwrap();
    let result = ops::apply_batch(store, &rules, t, vec![op], || when)
        .unwrap()
        .remove(0);
    assert_eq!(result.status, OperationStatus::Applied, "{result:?}");
}

fn sale(receipt: &str, customer: &str, price: &str, spend: &str, when: DateTime<Utc>) -> Value {
    json!({ "kind": "sale", "customer_id": customer, "spend": spend,
        "receipt": ReceiptJson::sale(receipt).with("at", when.to_rfc3339()).line(coffee(price)).json() })
}

struct Customer<'a> {
    id: &'a str,
    phone: &'a str,
    store: Option<&'a str>,
    terminal: Option<&'a str>,
    cashier: Option<&'a str>,
    registered_at: DateTime<Utc>,
}

/// The chain of the module's story, up to the moment the expiry job would run.
pub(crate) fn chain(engine: store::Engine) -> (TestDb, std::sync::Arc<dyn Store>) {
    let db = TestDb::new(engine);
    let s = db.open();
    let customers = [
        Customer {
            id: "anna",
            phone: "+79990001001",
            store: Some("msk"),
            terminal: Some("till-msk"),
            cashier: Some("Анна"),
            registered_at: at(23, 8, 0),
        },
        // 20:00 UTC is 03:00 of the next day in Novosibirsk.
        Customer {
            id: "boris",
            phone: "+79990001002",
            store: Some("nsk"),
            terminal: Some("till-nsk"),
            cashier: Some("Борис"),
            registered_at: at(23, 20, 0),
        },
        // Brought from an old program: no store, no till, no cashier.
        Customer {
            id: "clara",
            phone: "+79990001003",
            store: None,
            terminal: None,
            cashier: None,
            registered_at: at(20, 10, 0),
        },
    ];
    store::write(&*s, |tx| {
        let zones = [
            (
                "msk",
                "Кофе у Карины, Тверская 1",
                chrono_tz::Europe::Moscow,
            ),
            (
                "nsk",
                "Кофе у Карины, Красный проспект 5",
                chrono_tz::Asia::Novosibirsk,
            ),
        ];
        for (id, name, zone) in zones {
            auth::create_store(tx, id, name, "", zone, at(1, 0, 0))?;
        }
        for (id, store) in [("till-msk", "msk"), ("till-nsk", "nsk")] {
            tx.insert_terminal(&NewTerminal {
                id,
                store_id: store,
                name: id,
                token_hash: id.as_bytes(),
                enrolled_at: at(1, 0, 0),
            })?;
        }
        for c in &customers {
            assert!(tx.insert_customer(&NewCustomer {
                id: c.id.into(),
                phone: c.phone.into(),
                card_status: "Стандартная".into(),
                phone_verified: true,
                registered_at: c.registered_at,
                store_id: c.store.map(String::from),
                terminal_id: c.terminal.map(String::from),
                cashier: c.cashier.map(String::from),
                ..NewCustomer::default()
            })?);
        }
        let consents = [
            ("anna", "processing", true, at(23, 8, 0), "till-msk", "Анна"),
            (
                "boris",
                "processing",
                true,
                at(23, 20, 0),
                "till-nsk",
                "Борис",
            ),
            (
                "boris",
                "advertising",
                true,
                at(23, 20, 0),
                "till-nsk",
                "Борис",
            ),
            (
                "boris",
                "advertising",
                false,
                at(24, 5, 0),
                "till-nsk",
                "Борис",
            ),
        ];
        for (customer_id, kind, granted, when, terminal, cashier) in consents {
            tx.insert_consent(&NewConsent {
                customer_id,
                kind,
                granted,
                at: when,
                terminal_id: Some(terminal),
                cashier: Some(cashier),
            })?;
        }
        Ok(())
    })
    .unwrap();
    // Clara's balance from the old program: granted on the 20th, active from the 21st,
    // burning at midnight UTC of the 24th (03:00 Moscow time).
    store::write(&*s, |tx| {
        ledger::grant(
            tx,
            &Grant {
                customer_id: "clara",
                amount: 3000,
                source: Source::Manual,
                description: "Перенос из старой программы".into(),
                active_from: at(21, 0, 0),
                burns_at: Some(at(24, 0, 0)),
                operation_id: None,
                actor: Some("Бухгалтер"),
            },
            at(20, 10, 0),
        )
        .map_err(|e| store::StoreError::Other(e.to_string()))
    })
    .unwrap();
    let (msk, nsk) = (till("till-msk", "msk"), till("till-nsk", "nsk"));
    // 1000 ₽ less 5 % = 950 ₽ paid, 95 bonuses accrued.
    apply(
        &*s,
        &msk,
        1,
        at(23, 9, 0),
        "Анна",
        sale("r-1", "anna", "1000.00", "0", at(23, 9, 0)),
    );
    // 22:30 UTC is 01:30 of the 24th in Moscow: 200 ₽ less 5 % = 190, 50 bonuses spent,
    // 140 ₽ paid, 14 bonuses accrued.
    apply(
        &*s,
        &msk,
        2,
        at(23, 22, 30),
        "Вера",
        sale("r-2", "anna", "200.00", "50", at(23, 22, 30)),
    );
    // 400 ₽ less 5 % = 380 ₽ paid, 38 bonuses.
    apply(
        &*s,
        &nsk,
        1,
        at(24, 2, 0),
        "Борис",
        sale("r-3", "boris", "400.00", "0", at(24, 2, 0)),
    );
    // Anna brings the first coffee back to the Novosibirsk till: 950 ₽ paid back and its
    // 95 bonuses taken back (she has 59: a debt of 36 is left).
    let back = ReceiptJson::return_of("ret-1", "r-1")
        .with("at", at(24, 4, 0).to_rfc3339())
        .line(coffee("1000.00"))
        .json();
    apply(
        &*s,
        &nsk,
        2,
        at(24, 4, 0),
        "Борис",
        json!({ "kind": "return", "receipt": back,
                "sale": { "terminal_id": "till-msk", "receipt_id": "r-1" } }),
    );
    (db, s)
}

/// The expiry job, run late: on the 25th.
fn burn(s: &dyn Store) {
    store::write(s, |tx| ledger::expire(tx, "clara", at(25, 12, 0))).unwrap();
}

fn figures(f: impl FnOnce(&mut Figures)) -> Figures {
    let mut figures = Figures::default();
    f(&mut figures);
    figures
}

fn rows(s: &dyn Store, stores: &[(&str, i32)]) -> Vec<(String, NaiveDate, String, Figures)> {
    let stores: Vec<(String, i32)> = stores.iter().map(|(s, m)| (s.to_string(), *m)).collect();
    store::read(s, |r| {
        r.report_figures(&FigureQuery {
            stores: &stores,
            first_day: day(1),
            last_day: day(30),
        })
    })
    .unwrap()
    .into_iter()
    .map(|r| (r.store_id, r.day, r.cashier, r.figures))
    .collect()
}

#[test]
fn each_figure_of_each_store_day_and_cashier_is_the_one_worked_out_by_hand() {
    for engine in engines() {
        let (_db, s) = chain(engine);
        burn(&*s);
        let expected = vec![
            (
                String::new(),
                day(20),
                String::new(),
                figures(|f| f.new_customers = 1),
            ),
            (
                String::new(),
                day(20),
                "Бухгалтер".into(),
                figures(|f| f.accrued = 3000),
            ),
            // The burn is dated at its burning time, 03:00 Moscow time of the 24th, not
            // when the job ran.
            (
                String::new(),
                day(24),
                String::new(),
                figures(|f| f.burnt = 3000),
            ),
            (
                "msk".into(),
                day(23),
                "Анна".into(),
                figures(|f| {
                    f.new_customers = 1;
                    f.processing_given = 1;
                    f.receipts = 1;
                    f.revenue = 95_000;
                    f.discount = 5_000;
                    f.accrued = 9_500;
                }),
            ),
            (
                "msk".into(),
                day(24),
                "Вера".into(),
                figures(|f| {
                    f.receipts = 1;
                    f.revenue = 14_000;
                    f.discount = 1_000;
                    f.spent = 5_000;
                    f.accrued = 1_400;
                }),
            ),
            (
                "nsk".into(),
                day(24),
                "Борис".into(),
                figures(|f| {
                    f.new_customers = 1;
                    f.processing_given = 1;
                    f.advertising_given = 1;
                    f.advertising_withdrawn = 1;
                    f.receipts = 1;
                    f.revenue = 38_000;
                    f.discount = 2_000;
                    f.accrued = 3_800;
                    f.returns = 1;
                    f.returned = 95_000;
                    f.clawed_back = 9_500;
                }),
            ),
        ];
        assert_eq!(
            rows(&*s, &[("", 180), ("msk", 180), ("nsk", 420)]),
            expected,
            "{engine}"
        );
        // The same rows read in UTC: Boris's registration and Vera's sale move to the 23rd.
        let utc = rows(&*s, &[("msk", 0), ("nsk", 0)]);
        let days: Vec<(&str, NaiveDate, &str)> = utc
            .iter()
            .map(|(s, d, c, _)| (s.as_str(), *d, c.as_str()))
            .collect();
        assert_eq!(
            days,
            [
                ("msk", day(23), "Анна"),
                ("msk", day(23), "Вера"),
                ("nsk", day(23), "Борис"),
                ("nsk", day(24), "Борис"),
            ],
            "{engine}"
        );
    }
}

#[test]
fn a_store_filter_leaves_every_other_store_out() {
    for engine in engines() {
        let (_db, s) = chain(engine);
        let only_nsk = ["nsk".to_string()];
        let report = reports::report(
            &*s,
            &ReportRequest {
                period: Period::new(day(1), day(30)).unwrap(),
                by: GroupBy::Cashier,
                stores: Some(&only_nsk),
            },
        )
        .unwrap();
        let lines: Vec<(String, Option<String>)> = report
            .lines
            .iter()
            .map(|l| (l.store.clone().unwrap().id, l.cashier.clone()))
            .collect();
        assert_eq!(
            lines,
            [("nsk".to_string(), Some("Борис".to_string()))],
            "{engine}"
        );
        assert_eq!(report.total.revenue, 38_000, "{engine}");
        assert_eq!(report.total.returned, 95_000, "{engine}");
        assert_eq!(
            report.total.new_customers, 1,
            "{engine}: not Anna's, not Clara's"
        );
        // An unknown store is named, not silently empty.
        let nowhere = ["spb".to_string()];
        let err = reports::report(
            &*s,
            &ReportRequest {
                period: Period::new(day(1), day(30)).unwrap(),
                by: GroupBy::Store,
                stores: Some(&nowhere),
            },
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "there is no store \"spb\"", "{engine}");
    }
}

#[test]
fn reports_by_day_and_by_store_sum_the_same_figures() {
    for engine in engines() {
        let (_db, s) = chain(engine);
        burn(&*s);
        let request = |by| ReportRequest {
            period: Period::new(day(22), day(25)).unwrap(),
            by,
            stores: None,
        };
        let by_day = reports::report(&*s, &request(GroupBy::Day)).unwrap();
        let days: Vec<NaiveDate> = by_day.lines.iter().map(|l| l.day.unwrap()).collect();
        assert_eq!(
            days,
            [day(22), day(23), day(24), day(25)],
            "{engine}: every day"
        );
        assert_eq!(by_day.lines[0].figures, Figures::default(), "{engine}");
        assert_eq!(by_day.lines[1].figures.revenue, 95_000, "{engine}");
        assert_eq!(by_day.lines[2].figures.revenue, 14_000 + 38_000, "{engine}");
        assert_eq!(by_day.lines[2].figures.burnt, 3_000, "{engine}");
        let by_store = reports::report(&*s, &request(GroupBy::Store)).unwrap();
        let stores: Vec<&str> = by_store
            .lines
            .iter()
            .map(|l| l.store.as_ref().unwrap().id.as_str())
            .collect();
        assert_eq!(stores, ["", "msk", "nsk"], "{engine}");
        assert_eq!(
            by_store.lines[0].store.as_ref().unwrap().name,
            "Без магазина"
        );
        assert_eq!(by_day.total, by_store.total, "{engine}");
        // Clara's registration and grant on the 20th are outside this period.
        assert_eq!(by_day.total.new_customers, 2, "{engine}");
        assert_eq!(by_day.total.accrued, 9_500 + 1_400 + 3_800, "{engine}");
    }
}

/// The cashiers of a report by cashier who sold anything, in the report's order.
pub(crate) fn sellers(report: &reports::Report) -> Vec<&str> {
    report
        .lines
        .iter()
        .filter(|l| l.figures.receipts > 0)
        .map(|l| l.cashier.as_deref().unwrap())
        .collect()
}

fn owed(active: i64, pending: i64) -> Liability {
    Liability { active, pending }
}

#[test]
fn the_liability_as_of_a_moment_is_what_the_batches_held_then() {
    for engine in engines() {
        let (_db, s) = chain(engine);
        let liability =
            |when, stores: Option<&[String]>| reports::liability(&*s, when, stores).unwrap();
        // Before anything.
        assert_eq!(liability(at(19, 0, 0), None), owed(0, 0), "{engine}");
        // Clara's 30 bonuses are granted but not active before the 21st.
        assert_eq!(liability(at(20, 12, 0), None), owed(0, 3_000), "{engine}");
        // Active; and Anna's 95 from her first coffee.
        assert_eq!(
            liability(at(23, 12, 0), None),
            owed(3_000 + 9_500, 0),
            "{engine}"
        );
        // Clara's burnt at midnight though the job has not run: Anna has 95 − 50 + 14.
        assert_eq!(liability(at(24, 1, 0), None), owed(5_900, 0), "{engine}");
        burn(&*s);
        assert_eq!(
            liability(at(24, 1, 0), None),
            owed(5_900, 0),
            "{engine}: job ran"
        );
        assert_eq!(
            liability(at(23, 12, 0), None),
            owed(12_500, 0),
            "{engine}: job ran"
        );
        // After the return: Anna owes 36, Boris has 38.
        assert_eq!(
            liability(at(24, 6, 0), None),
            owed(3_800 - 3_600, 0),
            "{engine}"
        );
        let nsk = ["nsk".to_string()];
        assert_eq!(
            liability(at(24, 6, 0), Some(&nsk)),
            owed(3_800, 0),
            "{engine}"
        );
        let msk = ["msk".to_string()];
        assert_eq!(
            liability(at(24, 6, 0), Some(&msk)),
            owed(-3_600, 0),
            "{engine}"
        );
    }
}

#[test]
fn sales_and_returns_of_a_database_older_than_the_reports_are_counted_after_the_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    std::fs::create_dir(&data).unwrap();
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let path = bonuskassa::server::database_path(&data);
    std::fs::copy(format!("{fixtures}/server-v1.sqlite3"), &path).unwrap();
    // What the old server kept of its purchases: paid (positive) and paid back (negative).
    let (paid, paid_back): (i64, i64) = {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.query_row(
            "SELECT SUM(CASE WHEN sum > 0 THEN sum ELSE 0 END),
                    SUM(CASE WHEN sum < 0 THEN -sum ELSE 0 END) FROM purchases",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    };
    let s = store::open(&data.as_path().into()).unwrap();
    let report = reports::report(
        &*s,
        &ReportRequest {
            period: Period::new(day(1), day(30)).unwrap(),
            by: GroupBy::Cashier,
            stores: None,
        },
    )
    .unwrap();
    let t = report.total;
    assert_eq!((t.receipts, t.returns), (5, 1), "{t:?}");
    assert!(paid > 0 && paid_back > 0);
    assert_eq!((t.revenue, t.returned), (paid, paid_back), "{t:?}");
    // Every old sale spent or accrued, so each is under the cashier its history names.
    let sellers = sellers(&report);
    assert!(!sellers.is_empty() && !sellers.contains(&""), "{sellers:?}");
}
