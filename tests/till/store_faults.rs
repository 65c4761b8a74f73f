//! The till's queue when its disk fails it: a full disk, or a database that can no longer be
//! written, while a sale is being queued. The cashier gets a clear error that says the
//! operation was not saved; nothing of it is left half-written (no outbox row, no sale
//! record, no used sequence number); every operation saved before is intact, byte for
//! byte; and once the fault is gone the next operation is queued with the next number.
//!
//! How the faults are made:
//! - a full disk: `PRAGMA max_page_count` pinned to the database's current size, so the
//!   next page SQLite needs fails with `SQLITE_FULL`, the code SQLite also returns when
//!   the kernel says `ENOSPC`;
//! - a database that cannot be written: `PRAGMA query_only`, which makes every write fail
//!   with `SQLITE_READONLY`, as SQLite does for a database it could only open read-only.
//!   The tests run as any user (root included), so file permissions cannot be relied on;
//!   a read-only remount or a dying disk cannot be staged without privileges.

use bonuskassa::domain::calc::{CustomerState, calculate};
use bonuskassa::domain::money::{Bonus, Money};
use bonuskassa::domain::receipt::Receipt;
use bonuskassa::domain::returns::Sale;
use bonuskassa::domain::rules::Rules;
use bonuskassa::protocol::server::{Operation, OperationBody};
use bonuskassa::server::admin::DEMO_RULES;
use bonuskassa::store::{StoreError, TerminalStore};
use chrono::{DateTime, TimeZone, Utc};

use crate::common::receipts::ReceiptJson;

const CUSTOMER: &str = "0190f0c2-0000-7000-8000-000000000001";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
}

/// A sale receipt with `positions` lines: a big receipt is a big operation.
fn receipt(id: &str, positions: usize) -> Receipt {
    (0..positions)
        .fold(ReceiptJson::sale(id), |r, i| {
            r.line(
                serde_json::json!({ "id": format!("{i}"), "sku": format!("46000000{i:05}"),
                "name": format!("Капучино большой, позиция {i}"), "category": "coffee",
                "price": "189.90", "quantity": "1" }),
            )
        })
        .receipt()
}

/// Queues a sale the way `Terminal::sell` does: the operation, its outbox row and the sale
/// record a later return needs, in one transaction.
fn sell(
    store: &mut TerminalStore,
    rules: &Rules,
    receipt_id: &str,
    positions: usize,
) -> Result<Operation, StoreError> {
    let receipt = receipt(receipt_id, positions);
    let state = CustomerState {
        card: "Стандартная".into(),
        balance: Bonus::from_kopecks(50_000),
        purchases_sum: Money::ZERO,
        purchases_count: 0,
        can_spend: true,
        loyalty: true,
    };
    let calc = calculate(rules, &state, &receipt, Bonus::ZERO).unwrap();
    let sale = Sale::from_calculation(&receipt, &calc);
    store.enqueue(
        OperationBody::Sale {
            customer_id: CUSTOMER.into(),
            receipt,
            spend: Bonus::ZERO,
            verification: None,
            fiscal: None,
            hold: None,
        },
        "Кассир Мария",
        Some(1),
        false,
        now(),
        |tx, op| TerminalStore::record_sale(tx, CUSTOMER, op, &sale),
    )
}

/// Everything an operation writes on the till, as stored.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    /// `(seq, id, payload, state)` of every outbox row.
    outbox: Vec<(i64, String, String, String)>,
    last_seq: Option<String>,
    /// `(receipt_id, operation_id, sale)` of every kept sale.
    sales: Vec<(String, String, String)>,
}

fn snapshot(store: &TerminalStore) -> Snapshot {
    let conn = store.connection();
    let outbox = conn
        .prepare("SELECT seq, id, payload, state FROM outbox ORDER BY seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let sales = conn
        .prepare("SELECT receipt_id, operation_id, sale FROM sales ORDER BY receipt_id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    Snapshot {
        outbox,
        last_seq: store.get_meta("last_seq").unwrap(),
        sales,
    }
}

/// Checks the operations confirmed so far against what the store holds: each is there,
/// pending, with exactly the JSON it was confirmed with.
fn assert_intact(store: &TerminalStore, confirmed: &[Operation]) {
    let pending = store.pending(10_000).unwrap();
    assert_eq!(pending.len(), confirmed.len());
    for (p, op) in pending.iter().zip(confirmed) {
        assert_eq!((p.seq, p.id.as_str()), (op.seq, op.id.as_str()));
        assert_eq!(
            p.payload,
            serde_json::to_string(op).unwrap(),
            "seq {}",
            p.seq
        );
    }
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

#[test]
fn a_full_disk_refuses_the_sale_clearly_and_keeps_every_earlier_one() {
    let rules = Rules::from_toml_str(DEMO_RULES).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut store = TerminalStore::open(dir.path()).unwrap();
    let mut confirmed: Vec<Operation> = (0..5)
        .map(|i| sell(&mut store, &rules, &format!("small-{i}"), 3).unwrap())
        .collect();

    // The disk fills up: the database may not grow by a single page.
    let pages: i64 = store
        .connection()
        .pragma_query_value(None, "page_count", |r| r.get(0))
        .unwrap();
    let limit: i64 = store
        .connection()
        .pragma_update_and_check(None, "max_page_count", pages, |r| r.get(0))
        .unwrap();
    assert_eq!(limit, pages, "SQLite took the page limit");

    // Big receipts fit in what free space the pages still have, until one does not.
    let mut failure = None;
    for i in 0..50 {
        let before = snapshot(&store);
        match sell(&mut store, &rules, &format!("big-{i}"), 200) {
            Ok(op) => confirmed.push(op),
            Err(e) => {
                failure = Some((format!("big-{i}"), e, before));
                break;
            }
        }
    }
    let (receipt_id, err, before) = failure.expect("a full disk refuses a sale");
    assert!(matches!(err, StoreError::DiskFull), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("disk is full") && message.contains("NOT saved"),
        "the cashier is told the operation was not saved: {message}"
    );
    eprintln!("{} operations saved, then: {message}", confirmed.len());

    // Nothing of the refused sale is left, and nothing else moved.
    assert_eq!(snapshot(&store), before);
    assert_eq!(store.sale(&receipt_id).unwrap(), None);
    assert_eq!(
        store.queue_status().unwrap().pending,
        confirmed.len() as u64
    );
    assert_eq!(
        store.get_meta("last_seq").unwrap(),
        Some(confirmed.last().unwrap().seq.to_string())
    );
    assert_intact(&store, &confirmed);

    // A small operation may still fit, or may not; either way it is all or nothing.
    let before = snapshot(&store);
    match sell(&mut store, &rules, "small-while-full", 1) {
        Ok(op) => confirmed.push(op),
        Err(e) => {
            assert!(matches!(e, StoreError::DiskFull), "{e:?}");
            assert_eq!(snapshot(&store), before);
        }
    }
    assert_intact(&store, &confirmed);

    // Space is freed: the refused sale goes through with the next number, no gap.
    store
        .connection()
        .pragma_update(None, "max_page_count", 1_073_741_823)
        .unwrap();
    let next = sell(&mut store, &rules, &receipt_id, 200).unwrap();
    assert_eq!(next.seq, confirmed.last().unwrap().seq + 1);
    confirmed.push(next);
    assert_intact(&store, &confirmed);
    assert!(store.sale(&receipt_id).unwrap().is_some());

    // And all of it is on disk: a reopened store sees the same.
    let after = snapshot(&store);
    drop(store);
    let store = TerminalStore::open(dir.path()).unwrap();
    assert_eq!(snapshot(&store), after);
    assert_intact(&store, &confirmed);
}

#[test]
fn a_database_that_cannot_be_written_refuses_the_sale_clearly_and_keeps_every_earlier_one() {
    let rules = Rules::from_toml_str(DEMO_RULES).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut store = TerminalStore::open(dir.path()).unwrap();
    let mut confirmed: Vec<Operation> = (0..3)
        .map(|i| sell(&mut store, &rules, &format!("r-{i}"), 5).unwrap())
        .collect();
    let before = snapshot(&store);

    store
        .connection()
        .pragma_update(None, "query_only", true)
        .unwrap();
    let err = sell(&mut store, &rules, "r-refused", 5).unwrap_err();
    assert!(matches!(err, StoreError::Io(_)), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("cannot be written") && message.contains("NOT saved"),
        "the cashier is told the operation was not saved: {message}"
    );
    eprintln!("a read-only database: {message}");
    assert_eq!(snapshot(&store), before);
    assert_eq!(store.sale("r-refused").unwrap(), None);
    assert_intact(&store, &confirmed);

    store
        .connection()
        .pragma_update(None, "query_only", false)
        .unwrap();
    let next = sell(&mut store, &rules, "r-refused", 5).unwrap();
    assert_eq!(next.seq, confirmed.last().unwrap().seq + 1);
    confirmed.push(next);
    assert_intact(&store, &confirmed);
}
