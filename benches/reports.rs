//! The back office's reports on a chain's year: ten stores, 100 000 sales (each with its
//! accrual, one in five with a spend, one in fifty returned), 5 000 customers registering
//! through the year. SPEC.md sets no budget; the aim is a year's report in under a second.
//! And the demo's year of invented purchases, which `demo-data` plays: a few seconds at
//! most.
//!
//! The chain's year is written through the store seam (operations, figures, history lines,
//! batches, customers, consents, as the operation path writes them) in a few large
//! transactions, so the setup takes seconds rather than the minutes 100 000 batches of a
//! till would.

use std::time::Duration as StdDuration;

use bonuskassa::domain::rules::Rules;
use bonuskassa::server::demo_history::{self, HistoryStore};
use bonuskassa::server::ledger::Source;
use bonuskassa::server::reports::{self, GroupBy, Period, ReportRequest};
use bonuskassa::server::store::{
    self, Location, NewBatch, NewConsent, NewCustomer, NewEntry, NewOperation, NewReceiptFigures,
    Store,
};
use bonuskassa::server::{admin, auth};
use chrono::{DateTime, Duration, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};

const STORES: usize = 10;
const SALES: usize = 100_000;
const CUSTOMERS: usize = 5_000;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 12, 1, 0, 0, 0).unwrap()
}

/// A deterministic stand-in for randomness: the n-th value of a simple mixer.
fn mix(n: u64) -> u64 {
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 31;
    x.wrapping_mul(0xBF58_476D_1CE4_E5B9) ^ (x >> 29)
}

fn chain(store: &dyn Store) {
    let zones = [chrono_tz::Europe::Moscow, chrono_tz::Asia::Yekaterinburg];
    store::write(store, |tx| {
        for s in 0..STORES {
            auth::create_store(
                tx,
                &format!("store-{s}"),
                &format!("Магазин {s}"),
                "",
                zones[s % 2],
                start(),
            )?;
        }
        for c in 0..CUSTOMERS {
            let at = start() + Duration::minutes((c as i64) * 365 * 24 * 60 / CUSTOMERS as i64);
            let id = format!("c-{c}");
            tx.insert_customer(&NewCustomer {
                id: id.clone(),
                phone: format!("+7999{c:07}"),
                card_status: "Стандартная".into(),
                phone_verified: true,
                registered_at: at,
                store_id: Some(format!("store-{}", c % STORES)),
                cashier: Some(format!("Кассир {}", c % 3)),
                ..NewCustomer::default()
            })?;
            tx.insert_consent(&NewConsent {
                customer_id: &id,
                kind: "processing",
                granted: true,
                at,
                terminal_id: None,
                cashier: Some("Кассир 0"),
            })?;
        }
        Ok(())
    })
    .unwrap();
    for chunk in (0..SALES).collect::<Vec<_>>().chunks(10_000) {
        store::write(store, |tx| {
            for &n in chunk {
                let r = mix(n as u64);
                let at = start() + Duration::seconds((n as i64) * 365 * 24 * 3600 / SALES as i64);
                let s = n % STORES;
                let customer = format!("c-{}", r as usize % CUSTOMERS);
                let cashier = format!("Кассир {}", (r >> 8) % 3);
                let (op, terminal) = (format!("op-{n}"), format!("till-{s}"));
                let paid = 20_000 + (r >> 16) as i64 % 80_000;
                tx.record_operation(&NewOperation {
                    id: &op,
                    terminal_id: &terminal,
                    seq: n as i64 + 1,
                    kind: "sale",
                    received_at: at,
                    rejected: false,
                    answer: "{}",
                })?;
                tx.insert_receipt_figures(&NewReceiptFigures {
                    operation_id: &op,
                    kind: "sale",
                    at,
                    store_id: &format!("store-{s}"),
                    terminal_id: &terminal,
                    cashier: &cashier,
                    paid,
                    discount: paid / 20,
                })?;
                let accrued = paid / 50;
                tx.insert_batch(&NewBatch {
                    customer_id: &customer,
                    amount: accrued,
                    remaining: accrued,
                    source: Source::Purchase,
                    active_from: at,
                    burns_at: Some(at + Duration::days(365)),
                    created_at: at,
                    operation_id: Some(&op),
                })?;
                let mut entry = NewEntry {
                    customer_id: &customer,
                    at,
                    amount: accrued,
                    kind: Source::Purchase,
                    description: "Начисление за покупку",
                    operation_id: Some(&op),
                    actor: Some(&cashier),
                };
                tx.insert_entry(&entry)?;
                if r.is_multiple_of(5) {
                    entry.amount = -(accrued / 2);
                    entry.description = "Списание при оплате покупки";
                    tx.insert_entry(&entry)?;
                }
                if r % 50 == 1 {
                    let back = format!("op-return-{n}");
                    tx.insert_receipt_figures(&NewReceiptFigures {
                        operation_id: &back,
                        kind: "return",
                        at: at + Duration::days(2),
                        store_id: &format!("store-{s}"),
                        terminal_id: &terminal,
                        cashier: &cashier,
                        paid,
                        discount: 0,
                    })?;
                }
            }
            Ok(())
        })
        .unwrap();
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let s = store::open(&Location::Sqlite(dir.path().join("chain"))).unwrap();
    chain(&*s);
    let year = Period::new(
        start().date_naive(),
        (start() + Duration::days(364)).date_naive(),
    )
    .unwrap();
    let mut group = c.benchmark_group("reports");
    group.sample_size(10);
    for by in [GroupBy::Day, GroupBy::Cashier] {
        group.bench_function(
            format!("a year of 100 000 sales in 10 stores, by {by}"),
            |b| {
                b.iter(|| {
                    let r = reports::report(
                        &*s,
                        &ReportRequest {
                            period: year,
                            by,
                            stores: None,
                        },
                    )
                    .unwrap();
                    assert_eq!(r.total.receipts, SALES as i64);
                })
            },
        );
    }
    let one = ["store-3".to_string()];
    group.bench_function("a year of one store of the ten, by day", |b| {
        b.iter(|| {
            reports::report(
                &*s,
                &ReportRequest {
                    period: year,
                    by: GroupBy::Day,
                    stores: Some(&one),
                },
            )
            .unwrap()
        })
    });
    group.bench_function("the liability after the year", |b| {
        b.iter(|| reports::liability(&*s, start() + Duration::days(365), None).unwrap())
    });
    group.finish();

    let mut demo = c.benchmark_group("demo history");
    demo.sample_size(10);
    demo.measurement_time(StdDuration::from_secs(60));
    let rules = Rules::from_toml_str(admin::DEMO_RULES).unwrap();
    demo.bench_function("a year of two demo stores", |b| {
        b.iter_with_setup(
            || {
                let dir = tempfile::tempdir().unwrap();
                let s = store::open(&Location::Sqlite(dir.path().join("demo"))).unwrap();
                let now = Utc::now();
                // The demo chain: Moscow and Yekaterinburg.
                admin::demo_data_in(&*s, now).unwrap();
                let customers: Vec<String> = (1..=4)
                    .map(|n| {
                        store::read(&*s, |r| {
                            r.customer(store::CustomerKey::Phone(&format!("+7999000000{n}")))
                        })
                        .unwrap()
                        .unwrap()
                        .id
                    })
                    .collect();
                (dir, s, customers, now)
            },
            |(_dir, s, customers, now)| {
                let stores = store::read(&*s, |r| r.stores()).unwrap();
                let cashiers = ["Кассир Мария".to_string(), "Управляющий Олег".to_string()];
                let history: Vec<HistoryStore<'_>> = stores
                    .iter()
                    .map(|store| HistoryStore {
                        store,
                        cashiers: &cashiers,
                    })
                    .collect();
                demo_history::apply_year(&*s, &rules, &history, &customers, now).unwrap()
            },
        )
    });
    demo.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
