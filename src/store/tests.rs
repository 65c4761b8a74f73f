use super::*;
use crate::domain::money::{Bonus, Money};
use crate::domain::returns::Sale;
use crate::protocol::server::{OperationBody, RejectReason};
use chrono::TimeZone;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
}

fn consent(customer: &str) -> OperationBody {
    OperationBody::Consent {
        customer_id: customer.into(),
        processing: None,
        advertising: Some(true),
    }
}

fn sale(customer: &str, spend: &str) -> OperationBody {
    let receipt = serde_json::from_value(serde_json::json!({ "id": format!("r-{spend}"), "kind": "sale",
        "at": "2026-11-23T12:00:00+03:00", "positions": [ { "id": "1", "price": "100.00", "quantity": "1" } ] }))
    .unwrap();
    OperationBody::Sale {
        customer_id: customer.into(),
        receipt,
        spend: spend.parse().unwrap(),
        verification: None,
        fiscal: None,
        hold: None,
    }
}

fn no_more(_: &Transaction, _: &Operation) -> Result<(), StoreError> {
    Ok(())
}

#[test]
fn a_store_on_disk_is_durable_private_and_refuses_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let s = TerminalStore::open(dir.path()).unwrap();
    let sync: i64 = s
        .connection()
        .pragma_query_value(None, "synchronous", |r| r.get(0))
        .unwrap();
    assert_eq!(sync, 2);
    let mode: String = s
        .connection()
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let m = std::fs::metadata(dir.path().join(DB_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(m & 0o777, 0o600);
    }
    s.connection()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    drop(s);
    assert!(matches!(
        TerminalStore::open(dir.path()),
        Err(StoreError::Sqlite(SqliteError::TooNew { found: 99, .. }))
    ));
}

#[test]
fn operations_get_increasing_sequence_numbers_and_resend_byte_identical() {
    let mut s = TerminalStore::open_in_memory().unwrap();
    let a = s
        .enqueue(consent("c1"), "Мария", Some(1), false, now(), no_more)
        .unwrap();
    let b = s
        .enqueue(sale("c1", "5"), "Мария", Some(1), true, now(), no_more)
        .unwrap();
    assert_eq!((a.seq, b.seq), (1, 2));
    assert!(uuid::Uuid::parse_str(&a.id).is_ok_and(|u| u.get_version_num() == 7));
    let p = s.pending(10).unwrap();
    assert_eq!(p.len(), 2);
    assert_eq!(p[0].payload, serde_json::to_string(&a).unwrap());
    assert_eq!(
        p[1].payload,
        s.pending(10).unwrap()[1].payload,
        "the same bytes every time"
    );
    let back: Operation = serde_json::from_str(&p[1].payload).unwrap();
    assert_eq!(back, b);
    let st = s.queue_status().unwrap();
    assert_eq!(st.pending, 2);
    assert_eq!(st.unsynced_offline_spend, 500);
    assert_eq!(st.oldest_pending_at, Some(now()));
}

#[test]
fn a_failing_side_effect_leaves_no_operation_and_no_used_sequence_number() {
    let mut s = TerminalStore::open_in_memory().unwrap();
    let e = s.enqueue(consent("c1"), "Мария", None, false, now(), |_, _| {
        Err(StoreError::Corrupt("boom".into()))
    });
    assert!(e.is_err());
    assert!(s.pending(10).unwrap().is_empty());
    let next = s
        .enqueue(consent("c1"), "Мария", None, false, now(), no_more)
        .unwrap();
    assert_eq!(next.seq, 1);
}

#[test]
fn answers_finish_operations_and_rejections_become_conflicts_once() {
    let mut s = TerminalStore::open_in_memory().unwrap();
    let a = s
        .enqueue(consent("c1"), "Мария", None, false, now(), no_more)
        .unwrap();
    let b = s
        .enqueue(sale("c1", "10"), "Мария", None, true, now(), no_more)
        .unwrap();
    let answer = |id: &str, status, reason| OperationResult {
        id: id.into(),
        status,
        reason,
        message: "not enough bonuses".into(),
        answer: None,
    };
    let answers = [
        answer(&a.id, OperationStatus::Duplicate, None),
        answer(
            &b.id,
            OperationStatus::Rejected,
            Some(RejectReason::InsufficientBalance),
        ),
    ];
    s.record_answers(&answers, now()).unwrap();
    s.record_answers(&answers, now()).unwrap();
    assert!(s.pending(10).unwrap().is_empty());
    let st = s.queue_status().unwrap();
    assert_eq!(
        (st.pending, st.conflicts, st.unsynced_offline_spend),
        (0, 1, 0)
    );
    let reason: String = s
        .connection()
        .query_row("SELECT reason FROM conflicts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(reason, "INSUFFICIENT_BALANCE");
}

#[test]
fn a_refusal_whose_answer_was_lost_is_still_a_conflict_when_resent() {
    let mut s = TerminalStore::open_in_memory().unwrap();
    let op = s
        .enqueue(sale("c1", "10"), "Мария", None, true, now(), no_more)
        .unwrap();
    // The first answer (rejected) never arrived; the resend is answered as a duplicate
    // with the original reason.
    let duplicate = OperationResult {
        id: op.id.clone(),
        status: OperationStatus::Duplicate,
        reason: Some(RejectReason::InsufficientBalance),
        message: "not enough bonuses".into(),
        answer: Some(serde_json::json!({ "status": "rejected" })),
    };
    s.record_answers(&[duplicate], now()).unwrap();
    let st = s.queue_status().unwrap();
    assert_eq!((st.pending, st.conflicts), (0, 1));
    let state: String = s
        .connection()
        .query_row("SELECT state FROM outbox", [], |r| r.get(0))
        .unwrap();
    assert_eq!(state, "rejected");
}

#[test]
fn the_cached_rules_follow_the_servers_active_version_back_too() {
    let mut s = TerminalStore::open_in_memory().unwrap();
    assert_eq!(s.rules().unwrap(), None);
    s.put_rules(1, "one", now()).unwrap();
    s.put_rules(2, "two", now()).unwrap();
    assert_eq!(s.rules().unwrap(), Some((2, "two".into())));
    assert_eq!(s.rules_version().unwrap(), Some(2));
    // The owner rolled back to version 1: the till drops version 2.
    s.put_rules(1, "one", now()).unwrap();
    assert_eq!(s.rules().unwrap(), Some((1, "one".into())));
    assert_eq!(s.rules_version().unwrap(), Some(1));
}

#[test]
fn feed_pages_are_cached_and_found_by_keyed_hash_only() {
    let mut s = TerminalStore::open_in_memory().unwrap();
    let c = FeedCustomer {
        id: "c1".into(),
        phone_hash: "ph".into(),
        card_hash: Some("ch".into()),
        phone_masked: "+7 *** ***-**-01".into(),
        name: "Карина С.".into(),
        card_status: "Стандартная".into(),
        phone_verified: true,
        balance: Bonus::from_kopecks(50_000),
        pending: Bonus::ZERO,
        seq: 7,
        consent_processing: true,
        consent_advertising: false,
        gone: false,
    };
    s.apply_feed(std::slice::from_ref(&c), 7, Utc::now())
        .unwrap();
    assert_eq!(s.feed_cursor().unwrap(), 7);
    assert_eq!(s.customer_by_hash("ph").unwrap().unwrap().balance, 50_000);
    assert_eq!(s.customer_by_hash("ch").unwrap().unwrap().id, "c1");
    assert_eq!(s.customer_by_hash("+79990000001").unwrap(), None);
    let updated = FeedCustomer {
        balance: Bonus::from_kopecks(100),
        seq: 9,
        ..c
    };
    s.apply_feed(std::slice::from_ref(&updated), 9, Utc::now())
        .unwrap();
    assert_eq!(s.customer_by_hash("ph").unwrap().unwrap().balance, 100);
    // Erased on request or merged away: the till forgets them, by phone and by card.
    let gone = FeedCustomer {
        phone_hash: String::new(),
        card_hash: None,
        name: String::new(),
        seq: 12,
        gone: true,
        ..updated
    };
    s.apply_feed(&[gone], 12, Utc::now()).unwrap();
    assert_eq!(s.customer_by_hash("ph").unwrap(), None);
    assert_eq!(s.customer_by_hash("ch").unwrap(), None);
    assert_eq!(s.feed_cursor().unwrap(), 12);
}

#[test]
fn the_cache_keeps_both_consents_from_the_feed_and_from_a_consent_queued_here() {
    let mut s = TerminalStore::open_in_memory().unwrap();
    let c = FeedCustomer {
        id: "c1".into(),
        phone_hash: "ph".into(),
        card_hash: None,
        phone_masked: "+7 *** ***-**-02".into(),
        name: "Ольга П.".into(),
        card_status: "Стандартная".into(),
        phone_verified: true,
        balance: Bonus::from_kopecks(10_000),
        pending: Bonus::ZERO,
        seq: 3,
        consent_processing: false,
        consent_advertising: true,
        gone: false,
    };
    s.apply_feed(std::slice::from_ref(&c), 3, Utc::now())
        .unwrap();
    let cached = s.customer_by_id("c1").unwrap().unwrap();
    assert!(!cached.consent_processing);
    assert!(cached.consent_advertising);
    let given_again = OperationBody::Consent {
        customer_id: "c1".into(),
        processing: Some(true),
        advertising: None,
    };
    s.enqueue(given_again, "Мария", Some(1), true, now(), |tx, _| {
        TerminalStore::cache_consent(tx, "c1", Some(true), None)
    })
    .unwrap();
    let cached = s.customer_by_id("c1").unwrap().unwrap();
    assert!(
        cached.consent_processing,
        "the consent given again is cached"
    );
    assert!(
        cached.consent_advertising,
        "the other consent is left as it was"
    );
}

#[test]
fn a_cache_made_before_the_consents_were_kept_reads_the_feed_again_from_its_start() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut s = TerminalStore::open(dir.path()).unwrap();
        s.apply_feed(&[], 42, Utc::now()).unwrap();
        assert_eq!(s.feed_cursor().unwrap(), 42);
        // As a till updated from before 0006: the cursor kept, the migration not run.
        s.connection()
            .execute_batch(
                "ALTER TABLE customers_cache DROP COLUMN consent_processing;
                 ALTER TABLE customers_cache DROP COLUMN consent_advertising;
                 PRAGMA user_version = 5;",
            )
            .unwrap();
    }
    let s = TerminalStore::open(dir.path()).unwrap();
    assert_eq!(s.feed_cursor().unwrap(), 0);
}

#[test]
fn a_sale_is_kept_with_its_operation_for_an_offline_return() {
    let mut s = TerminalStore::open_in_memory().unwrap();
    let sold = Sale {
        receipt_id: "r-1".into(),
        positions: vec![],
    };
    let op = s
        .enqueue(
            sale("c1", "0"),
            "Мария",
            None,
            false,
            now(),
            |tx, op| TerminalStore::record_sale(tx, "c1", op, &sold),
        )
        .unwrap();
    let (customer, back, returned) = s.sale("r-1").unwrap().unwrap();
    assert_eq!((customer.as_str(), back), ("c1", sold));
    assert!(returned.is_empty());
    let op_of_sale: String = s
        .connection()
        .query_row("SELECT operation_id FROM sales", [], |r| r.get(0))
        .unwrap();
    assert_eq!(op_of_sale, op.id);
}

#[test]
fn a_database_that_cannot_be_opened_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(DB_FILE)).unwrap();
    let err = TerminalStore::open(dir.path()).err().unwrap();
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    assert!(err.to_string().contains(DB_FILE), "{err}");
}

#[test]
fn an_applied_receipt_is_kept_settled_once_and_listed_when_overdue() {
    use super::{Kept, KeptReceipt, KeptState};
    use crate::domain::returns::ReturnResult;
    let mut s = TerminalStore::open_in_memory().unwrap();
    let OperationBody::Sale { receipt, .. } = sale("c1", "0") else {
        unreachable!()
    };
    let kept = |id: &str, at: DateTime<Utc>| KeptReceipt {
        operation_id: id.into(),
        receipt: serde_json::from_value(serde_json::json!({ "id": "ret-1", "kind": "return",
            "original_receipt": receipt.id, "at": "2026-11-23T12:00:00+03:00",
            "positions": [ { "id": "1", "price": "100.00", "quantity": "1" } ] }))
        .unwrap(),
        state: KeptState::Applied,
        kept: Kept::Return {
            result: ReturnResult {
                original_receipt: receipt.id.clone(),
                paid: "100.00".parse().unwrap(),
                refunded: Bonus::ZERO,
                clawed_back: Bonus::ZERO,
                positions: vec![],
            },
            server_sale: None,
        },
        customer_id: None,
        customer: None,
        cashier: "Мария".into(),
        cashier_id: Some(1),
        offline: false,
        applied_at: at,
        fiscal: None,
        settled_at: None,
        settled_by: None,
    };
    let early = now() - chrono::Duration::minutes(20);
    s.keep_applied(&kept("op-1", early)).unwrap();
    assert_eq!(s.kept("op-1").unwrap(), Some(kept("op-1", early)));
    // The same operation id twice is refused: it is the register's idempotency key.
    assert!(s.keep_applied(&kept("op-1", early)).is_err());
    // The latest under a receipt id is the one the bridge answers with.
    s.keep_applied(&kept("op-2", now())).unwrap();
    assert_eq!(
        s.kept_by_receipt("ret-1").unwrap().unwrap().operation_id,
        "op-2"
    );

    // Overdue ones go to the manager's list; the fresh one stays applied.
    let before = now() - chrono::Duration::minutes(10);
    assert_eq!(s.unconfirm_overdue(before, now()).unwrap(), ["op-1"]);
    assert!(s.unconfirm_overdue(before, now()).unwrap().is_empty());
    let listed = s.kept_in(KeptState::Unconfirmed).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].settled_at, Some(now()));

    // Settled once: a second settle finds it moved and says so.
    let open = [KeptState::Applied, KeptState::Unconfirmed];
    assert!(
        s.settle_kept_alone("op-1", &open, KeptState::Booked, now())
            .unwrap()
    );
    assert!(
        !s.settle_kept_alone("op-1", &open, KeptState::Dropped, now())
            .unwrap()
    );
    assert!(
        !s.settle_kept_alone("op-404", &open, KeptState::Closed, now())
            .unwrap()
    );
    assert_eq!(s.kept("op-1").unwrap().unwrap().state, KeptState::Booked);
    assert!(s.kept_in(KeptState::Unconfirmed).unwrap().is_empty());
}

/// A sale of 100.00 by `cashier`: 10.00 off by the card, `spend` bonuses, 4.50 accrued.
fn sold_in_shift(s: &mut TerminalStore, cashier: &str, spend: &str) -> Operation {
    use crate::domain::returns::SoldPosition;
    let spent: Bonus = spend.parse().unwrap();
    let sold = Sale {
        receipt_id: format!("r-{spend}"),
        positions: vec![SoldPosition {
            id: "1".into(),
            quantity: "1".parse().unwrap(),
            measure: crate::domain::receipt::Measure::Piece,
            paid: Money::new(rust_decimal::Decimal::from(90)) - Money::from_bonus(spent),
            spent,
            accrued: "4.50".parse().unwrap(),
        }],
    };
    s.enqueue(
        sale("c1", spend),
        cashier,
        Some(1),
        false,
        now(),
        |tx, op| TerminalStore::record_sale(tx, "c1", op, &sold),
    )
    .unwrap()
}

#[test]
fn a_shift_adds_up_its_sales_per_cashier_and_a_close_returns_the_final_report() {
    let mut s = TerminalStore::open_in_memory().unwrap();
    // Made before any shift was opened: counts in the first shift.
    sold_in_shift(&mut s, "Мария", "10.00");
    let opened = s.open_shift(ShiftBy::Register, None, now()).unwrap();
    assert!(!opened.already);
    assert_eq!((opened.shift.number, opened.shift.after_seq), (1, 0));
    assert!(
        s.open_shift(ShiftBy::Manager, Some("Ольга"), now())
            .unwrap()
            .already
    );
    sold_in_shift(&mut s, "Пётр", "0");
    sold_in_shift(&mut s, "Мария", "5.00");
    s.enqueue(consent("c1"), "Пётр", Some(2), false, now(), no_more)
        .unwrap();

    let report = s.current_shift_report(now()).unwrap();
    assert!(report.shift.is_open());
    let names: Vec<_> = report.cashiers.iter().map(|c| c.cashier.as_str()).collect();
    assert_eq!(names, ["Мария", "Пётр"]);
    let maria = &report.cashiers[0].figures;
    assert_eq!(maria.receipts, 2);
    assert_eq!(maria.sum.to_string(), "200.00");
    assert_eq!(maria.discount.to_string(), "20.00");
    assert_eq!(maria.spent.to_string(), "15.00");
    assert_eq!(maria.accrued.to_string(), "9.00");
    assert_eq!(report.total.receipts, 3);
    assert_eq!(report.total.sum.to_string(), "300.00");

    let closed = s.close_shift(ShiftBy::Register, None, now()).unwrap();
    assert!(!closed.already);
    assert_eq!(closed.report.cashiers, report.cashiers);
    assert_eq!(closed.report.shift.until_seq, Some(4));
    assert_eq!(closed.report.shift.closed_by, Some(ShiftBy::Register));
    // A repeated close answers the same report; the next shift starts empty.
    let again = s.close_shift(ShiftBy::Register, None, now()).unwrap();
    assert!(again.already);
    assert_eq!(again.report, closed.report);
    let next = s.current_shift_report(now()).unwrap();
    assert_eq!(
        (next.shift.number, next.shift.opened_by),
        (2, ShiftBy::Implicit)
    );
    assert!(next.cashiers.is_empty());
    assert_eq!(next.total, ShiftFigures::default());
}

#[test]
fn a_close_without_an_open_records_the_implicit_shift_and_an_open_one_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut s = TerminalStore::open(dir.path()).unwrap();
        sold_in_shift(&mut s, "Мария", "0");
        let closed = s
            .close_shift(ShiftBy::Manager, Some("Ольга"), now())
            .unwrap();
        assert!(!closed.already);
        assert_eq!(closed.report.shift.opened_by, ShiftBy::Implicit);
        assert_eq!(closed.report.shift.closer.as_deref(), Some("Ольга"));
        assert_eq!(closed.report.total.receipts, 1);
        s.open_shift(ShiftBy::Manager, Some("Ольга"), now())
            .unwrap();
        sold_in_shift(&mut s, "Пётр", "2.00");
    }
    let mut s = TerminalStore::open(dir.path()).unwrap();
    let report = s.current_shift_report(now()).unwrap();
    assert_eq!(
        (
            report.shift.number,
            report.shift.opened_by,
            report.shift.opener.as_deref()
        ),
        (2, ShiftBy::Manager, Some("Ольга"))
    );
    assert_eq!(report.cashiers.len(), 1);
    assert_eq!(report.cashiers[0].cashier, "Пётр");
    let closed = s.close_shift(ShiftBy::Register, None, now()).unwrap();
    assert_eq!((closed.report.shift.number, closed.already), (2, false));
}
