//! Replaying operations changes nothing (SPEC.md §4): whatever batch a terminal resends —
//! the whole batch, a shuffled part of it, one operation at a time — every operation id is
//! applied at most once, and a resend gets the original answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::common::db::{TestDb, engines};
use crate::common::receipts::{ReceiptJson, coffee};
use bonuskassa::domain::rules::Rules;
use bonuskassa::protocol::server::{Operation, OperationBody, OperationStatus};
use bonuskassa::server::admin;
use bonuskassa::server::auth::Terminal;
use bonuskassa::server::ops::apply_batch;
use bonuskassa::server::store::{self, Engine, Store};
use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
}

/// Everything an operation can change, read back through the store: every customer's
/// card, balance, batches and history, every kept sale's returns, and the counts.
fn snapshot(store: &dyn Store, terminal: &Terminal, receipts: &[String]) -> Vec<String> {
    store::read(store, |r| {
        let mut out = Vec::new();
        let (rows, _) = r.feed(0, 10_000, t0())?;
        let mut rows: Vec<_> = rows.into_iter().map(|f| f.customer).collect();
        rows.sort_by(|a, b| a.id.cmp(&b.id));
        for c in rows {
            out.push(format!(
                "{} {} {:?} {:?} {:?}",
                c.id,
                c.card_status,
                r.balance(&c.id, t0())?,
                r.batches(&c.id)?,
                r.history(&c.id, 10_000)?
            ));
        }
        for receipt in receipts {
            out.push(format!("{receipt}: {:?}", r.sale(&terminal.id, receipt)?));
        }
        let mut census = r.census()?;
        // Rejected operations are recorded too, but replays add no new ids at all.
        census.rejected = 0;
        out.push(format!("{census:?}"));
        Ok(out)
    })
    .unwrap()
}

/// One engine's database with the demo data, shared by the cases of one test: each case
/// uses a terminal of its own, so its receipts and sequence numbers never meet another's.
struct Setup {
    _db: TestDb,
    store: Arc<dyn Store>,
    rules: Rules,
    customers: Vec<String>,
}

fn setup(engine: Engine) -> Setup {
    let db = TestDb::new(engine);
    let store = db.open();
    admin::demo_data_in(&*store, t0()).unwrap();
    let mut customers: Vec<(String, String)> = store::read(&*store, |r| r.feed(0, 100, t0()))
        .unwrap()
        .0
        .into_iter()
        .map(|f| (f.customer.phone, f.customer.id))
        .collect();
    customers.sort();
    Setup {
        _db: db,
        store,
        rules: Rules::from_toml_str(admin::DEMO_RULES).unwrap(),
        customers: customers.into_iter().map(|(_, id)| id).collect(),
    }
}

fn terminal() -> (u64, Terminal) {
    static N: AtomicU64 = AtomicU64::new(1);
    let n = N.fetch_add(1, Ordering::Relaxed);
    (
        n,
        Terminal {
            id: format!("terminal-{n}"),
            store_id: admin::DEMO_STORE.into(),
        },
    )
}

#[derive(Debug, Clone)]
enum Step {
    Sale {
        customer: usize,
        price: u32,
        qty: u32,
        spend: u32,
    },
    Return {
        of_sale: usize,
        qty: u32,
    },
    Manual {
        customer: usize,
        amount: i32,
    },
    Register {
        phone: u32,
        without_code: bool,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0usize..4, 100u32..500_000, 1u32..5, 0u32..400).prop_map(|(customer, price, qty, spend)| Step::Sale { customer, price, qty, spend }),
        2 => (0usize..8, 1u32..4).prop_map(|(of_sale, qty)| Step::Return { of_sale, qty }),
        1 => (0usize..4, -20_000i32..20_000).prop_map(|(customer, amount)| Step::Manual { customer, amount }),
        1 => (0u32..5, any::<bool>()).prop_map(|(phone, without_code)| Step::Register { phone, without_code }),
    ]
}

fn operations(case: u64, steps: &[Step], customers: &[String]) -> (Vec<Operation>, Vec<String>) {
    let mut sales: Vec<String> = Vec::new();
    let ops = steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let body = match s {
                Step::Sale { customer, price, qty, spend } => {
                    let id = format!("receipt-{i}");
                    sales.push(id.clone());
                    let mut line = coffee(&format!("{}.{:02}", price / 100, price % 100));
                    line["quantity"] = qty.to_string().into();
                    let receipt = ReceiptJson::sale(&id).line(line).json();
                    OperationBody::Sale {
                        customer_id: customers[*customer].clone(),
                        receipt: serde_json::from_value(receipt).unwrap(),
                        spend: spend.to_string().parse().unwrap(),
                        verification: None,
                        fiscal: None,
                        hold: None,
                    }
                }
                Step::Return { of_sale, qty } => {
                    let original = sales.get(*of_sale).cloned().unwrap_or_else(|| "missing".into());
                    let receipt = serde_json::json!({ "id": format!("return-{i}"), "kind": "return", "at": "2026-11-23T13:00:00+03:00",
                        "original_receipt": original,
                        "positions": [ { "id": "1", "price": "1.00", "quantity": qty.to_string() } ] });
                    OperationBody::Return { receipt: serde_json::from_value(receipt).unwrap(), sale: None }
                }
                Step::Manual { customer, amount } => OperationBody::ManualChange {
                    customer_id: customers[*customer].clone(),
                    amount: rust_decimal::Decimal::new(i64::from(*amount), 2).to_string().parse().unwrap(),
                    reason: "проверка".into(),
                    lifetime_days: None,
                },
                Step::Register { phone, without_code } => OperationBody::Registration {
                    customer_id: uuid::Uuid::now_v7().to_string(),
                    phone: format!("+7999{:05}{phone:02}", case % 100_000).parse().unwrap(),
                    verification: if *without_code { None } else { Some(bonuskassa::protocol::server::Secret("forged".into())) },
                    questionnaire: Default::default(),
                    consent_processing: true,
                    consent_advertising: false,
                    card: None,
                    card_status: None,
                },
            };
            Operation {
                id: uuid::Uuid::now_v7().to_string(),
                seq: i as u64 + 1,
                at: t0(),
                cashier: "Управляющий Олег".into(),
                cashier_id: Some(2),
                offline: false,
                body,
            }
        })
        .collect();
    (ops, sales)
}

/// The first application, then the whole batch again, a shuffled selection of it, and each
/// operation alone: the database is as after the first, and every resend got the original
/// answer.
fn replay(
    setup: &Setup,
    steps: &[Step],
    picks: &[prop::sample::Index],
) -> Result<(), TestCaseError> {
    let (case, terminal) = terminal();
    let store = &*setup.store;
    let rules = &setup.rules;
    let (ops, receipts) = operations(case, steps, &setup.customers);
    let first = apply_batch(store, rules, &terminal, ops.clone(), t0).unwrap();
    prop_assert_eq!(first.len(), ops.len());
    prop_assert!(first.iter().all(|r| r.status != OperationStatus::Duplicate));
    let after = snapshot(store, &terminal, &receipts);

    let again = apply_batch(store, rules, &terminal, ops.clone(), t0).unwrap();
    for (a, f) in again.iter().zip(&first) {
        prop_assert_eq!(a.status, OperationStatus::Duplicate);
        prop_assert_eq!(a.reason, f.reason);
        prop_assert_eq!(
            a.answer.as_ref().unwrap(),
            &serde_json::to_value(f).unwrap()
        );
    }
    let part: Vec<Operation> = picks
        .iter()
        .map(|i| ops[i.index(ops.len())].clone())
        .rev()
        .collect();
    apply_batch(store, rules, &terminal, part, t0).unwrap();
    for op in &ops {
        apply_batch(store, rules, &terminal, vec![op.clone()], t0).unwrap();
    }
    prop_assert_eq!(snapshot(store, &terminal, &receipts), after);
    let ids: Vec<&str> = ops.iter().map(|o| o.id.as_str()).collect();
    let counted = store::read(store, |r| r.count_operations(&ids)).unwrap();
    prop_assert_eq!(counted, ops.len() as i64);
    Ok(())
}

#[test]
fn replaying_any_part_of_a_batch_changes_nothing() {
    for engine in engines() {
        let setup = setup(engine);
        let cases = match engine {
            Engine::Sqlite => 48,
            Engine::Postgres => 24,
        };
        let mut runner = TestRunner::new(ProptestConfig::with_cases(cases));
        runner
            .run(
                &(
                    prop::collection::vec(step(), 1..14),
                    prop::collection::vec(any::<prop::sample::Index>(), 0..14),
                ),
                |(steps, picks)| replay(&setup, &steps, &picks),
            )
            .unwrap_or_else(|e| panic!("{engine}: {e}"));
    }
}

#[test]
fn a_manager_cannot_be_impersonated_by_a_cashier_id_of_another_store() {
    let setup = setup(Engine::Sqlite);
    let customers = &setup.customers;
    let stranger = Terminal {
        id: "t-x".into(),
        store_id: "store-elsewhere".into(),
    };
    let op = Operation {
        id: uuid::Uuid::now_v7().to_string(),
        seq: 1,
        at: t0(),
        cashier: "x".into(),
        cashier_id: Some(2),
        offline: false,
        body: OperationBody::ManualChange {
            customer_id: customers[0].clone(),
            amount: "10".parse().unwrap(),
            reason: "r".into(),
            lifetime_days: None,
        },
    };
    let r = apply_batch(&*setup.store, &setup.rules, &stranger, vec![op], t0).unwrap();
    assert_eq!(r[0].status, OperationStatus::Rejected);
}
