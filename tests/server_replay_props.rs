//! Replaying operations changes nothing (SPEC.md §4): whatever batch a terminal resends —
//! the whole batch, a shuffled part of it, one operation at a time — every operation id is
//! applied at most once, and a resend gets the original answers.

use bonuskassa::protocol::server::{Operation, OperationBody, OperationStatus};
use bonuskassa::server::auth::Terminal;
use bonuskassa::server::ops::apply_batch;
use bonuskassa::server::{ManualClock, Server, ServerConfig, admin};
use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
}

/// Everything an operation can change, read back from the database.
fn snapshot(server: &Server) -> Vec<String> {
    server.state().with_db(|c| {
        let q = |sql: &str| -> String {
            c.query_row(sql, [], |r| r.get::<_, Option<String>>(0))
                .unwrap()
                .unwrap_or_default()
        };
        vec![
            q("SELECT group_concat(customer_id || ':' || remaining, ',') FROM (SELECT * FROM bonus_batches ORDER BY id)"),
            q("SELECT CAST(COUNT(*) AS TEXT) || '/' || CAST(COALESCE(SUM(amount), 0) AS TEXT) FROM ledger_entries"),
            q("SELECT group_concat(card_status, ',') FROM (SELECT card_status FROM customers ORDER BY id)"),
            q("SELECT CAST(COUNT(*) AS TEXT) FROM purchases"),
            q("SELECT group_concat(returned, ';') FROM (SELECT returned FROM sales ORDER BY receipt_id)"),
            q("SELECT CAST(COUNT(*) AS TEXT) FROM customers"),
        ]
    })
}

fn setup() -> (tempfile::TempDir, Server, Terminal, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    admin::demo_data(dir.path(), t0()).unwrap();
    let server = Server::open(ServerConfig::new(dir.path()), ManualClock::at(t0())).unwrap();
    let terminal = Terminal {
        id: "terminal-1".into(),
        store_id: admin::DEMO_STORE.into(),
    };
    let ids = server.state().with_db(|c| {
        let mut s = c
            .prepare("SELECT id FROM customers ORDER BY phone")
            .unwrap();
        s.query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    });
    (dir, server, terminal, ids)
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

fn operations(steps: &[Step], customers: &[String]) -> Vec<Operation> {
    let mut sales: Vec<String> = Vec::new();
    steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let body = match s {
                Step::Sale { customer, price, qty, spend } => {
                    let id = format!("receipt-{i}");
                    sales.push(id.clone());
                    let receipt = serde_json::json!({ "id": id, "kind": "sale", "at": "2026-11-23T12:00:00+03:00",
                        "positions": [ { "id": "1", "category": "coffee", "price": format!("{}.{:02}", price / 100, price % 100), "quantity": qty.to_string() } ] });
                    OperationBody::Sale {
                        customer_id: customers[*customer].clone(),
                        receipt: serde_json::from_value(receipt).unwrap(),
                        spend: spend.to_string().parse().unwrap(),
                        verification: None,
                    }
                }
                Step::Return { of_sale, qty } => {
                    let original = sales.get(*of_sale).cloned().unwrap_or_else(|| "missing".into());
                    let receipt = serde_json::json!({ "id": format!("return-{i}"), "kind": "return", "at": "2026-11-23T13:00:00+03:00",
                        "original_receipt": original,
                        "positions": [ { "id": "1", "price": "1.00", "quantity": qty.to_string() } ] });
                    OperationBody::Return { receipt: serde_json::from_value(receipt).unwrap() }
                }
                Step::Manual { customer, amount } => OperationBody::ManualChange {
                    customer_id: customers[*customer].clone(),
                    amount: rust_decimal::Decimal::new(i64::from(*amount), 2).to_string().parse().unwrap(),
                    reason: "проверка".into(),
                    lifetime_days: None,
                },
                Step::Register { phone, without_code } => OperationBody::Registration {
                    customer_id: uuid::Uuid::now_v7().to_string(),
                    phone: format!("+7999111000{phone}").parse().unwrap(),
                    verification: if *without_code { None } else { Some(bonuskassa::protocol::server::Secret("forged".into())) },
                    questionnaire: Default::default(),
                    consent_processing: true,
                    consent_advertising: false,
                    card: None,
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
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn replaying_any_part_of_a_batch_changes_nothing(
        steps in prop::collection::vec(step(), 1..14),
        picks in prop::collection::vec(any::<prop::sample::Index>(), 0..14),
    ) {
        let (_dir, server, terminal, customers) = setup();
        let ops = operations(&steps, &customers);
        let first = apply_batch(server.state(), &terminal, ops.clone()).unwrap();
        prop_assert_eq!(first.len(), ops.len());
        prop_assert!(first.iter().all(|r| r.status != OperationStatus::Duplicate));
        let after = snapshot(&server);

        // The whole batch again, then a shuffled selection, then one by one.
        let again = apply_batch(server.state(), &terminal, ops.clone()).unwrap();
        for (a, f) in again.iter().zip(&first) {
            prop_assert_eq!(a.status, OperationStatus::Duplicate);
            prop_assert_eq!(a.reason, f.reason);
            prop_assert_eq!(a.answer.as_ref().unwrap(), &serde_json::to_value(f).unwrap());
        }
        let part: Vec<Operation> = picks.iter().map(|i| ops[i.index(ops.len())].clone()).rev().collect();
        apply_batch(server.state(), &terminal, part).unwrap();
        for op in &ops {
            apply_batch(server.state(), &terminal, vec![op.clone()]).unwrap();
        }
        prop_assert_eq!(snapshot(&server), after);
        let counted: i64 = server.state().with_db(|c| c.query_row("SELECT COUNT(*) FROM operations", [], |r| r.get(0)).unwrap());
        prop_assert_eq!(counted, ops.len() as i64);
    }
}

#[test]
fn a_manager_cannot_be_impersonated_by_a_cashier_id_of_another_store() {
    let (_dir, server, _, customers) = setup();
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
    let r = apply_batch(server.state(), &stranger, vec![op]).unwrap();
    assert_eq!(r[0].status, OperationStatus::Rejected);
}
