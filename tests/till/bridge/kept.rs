//! Applied receipts kept over a restart of the till, through the real bridge: `GET`,
//! `close` and `cancel` answered from the till's disk after the runner and its bridge
//! start again on the same data dir; a close queues the sale exactly once, with the fiscal
//! document the register reports; receipts never closed go to the manager, who books or
//! drops them with an audit record.

use super::*;

/// A plausible fiscal document for a sale of `sum` (a demo drive number).
fn fiscal(sum: &str, fd: u32) -> Value {
    json!({
        "fn": "9960440300112233",
        "fd": fd,
        "fp": "2837461902",
        "at": "2026-12-03T10:15:00",
        "sum": sum,
        "kind": "sale",
    })
}

impl Register<'_> {
    async fn close_fiscal(&self, printed: &Receipt, fiscal: &Value) -> Answer {
        let body = json!({ "receipt": printed, "fiscal": fiscal }).to_string();
        self.post(&format!("/v1/receipts/{}/close", printed.id), body)
            .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_applied_sale_survives_a_restart_and_its_close_queues_it_exactly_once() {
    let rig = Rig::new();
    let mut till = Headless::start(&rig, Some(CASHIER), LONG).await;
    let r = receipt("kept-1", "300.00");
    let applied = {
        let reg = Register::new(&till);
        applied_sale(&till, &reg, &r, true).await
    };
    let operation_id = applied.result.clone().unwrap().data.operation_id;
    assert_eq!(till.pending(), 0, "nothing is queued before the close");

    till.restart(&rig, LONG).await;
    let reg = Register::new(&till);
    // The new bridge answers from the till's disk: the same prices, the same operation.
    let status = reg.get("kept-1", 0).await.ok(200);
    assert_eq!(status, applied, "the GET after a restart");
    // Posted again, it is where it stands; posted changed, it must be settled first.
    assert_eq!(reg.open(&r).await.ok(200), applied);
    reg.open(&receipt("kept-1", "310.00"))
        .await
        .refused(409, "busy");
    // It does not hold the panel: another receipt goes to the panel (where nobody is
    // logged in since the restart).
    reg.open(&receipt("kept-2", "10.00"))
        .await
        .refused(409, "no_cashier");

    // A bad fiscal document is refused, naming the field, and records nothing.
    let mut bad = fiscal("300.00", 4021);
    bad["fn"] = json!("99604403");
    let m = reg.close_fiscal(&r, &bad).await.refused(400, "bad_request");
    assert!(m.contains("fiscal.fn"), "{m}");
    let mut unknown = fiscal("300.00", 4021);
    unknown["qr"] = json!("t=…");
    let m = reg
        .close_fiscal(&r, &unknown)
        .await
        .refused(400, "bad_request");
    assert!(m.contains("qr"), "{m}");
    // A printed receipt that is not the applied one is refused after a restart too.
    let m = reg
        .close(&receipt("kept-1", "310.00"))
        .await
        .refused(409, "receipt_changed");
    assert!(!m.is_empty());
    assert_eq!(till.pending(), 0);

    let closed = reg.close_fiscal(&r, &fiscal("300.00", 4021)).await.ok(200);
    assert_eq!(closed.state, State::Closed);
    assert_eq!(closed.result, applied.result);
    assert_eq!(till.pending(), 1, "the close queued the sale");
    // A repeated close (the register lost the answer) gets the same answer, queues nothing.
    assert_eq!(
        reg.close_fiscal(&r, &fiscal("300.00", 4021)).await.ok(200),
        closed
    );
    assert_eq!(reg.close(&r).await.ok(200), closed);
    assert_eq!(till.pending(), 1, "still one operation");
    reg.cancel("kept-1").await.refused(409, "already_closed");
    let kept = till.terminal.kept_receipt("kept-1").unwrap().unwrap();
    let fiscal = kept.fiscal.expect("the fiscal document is kept");
    assert_eq!(
        (fiscal.fn_number.as_str(), fiscal.fd),
        ("9960440300112233", 4021)
    );

    // Once more after a second restart: still closed, still one operation.
    till.restart(&rig, LONG).await;
    let reg = Register::new(&till);
    assert_eq!(reg.get("kept-1", 0).await.ok(200).state, State::Closed);
    assert_eq!(reg.close(&r).await.ok(200).state, State::Closed);
    assert_eq!(till.pending(), 1);
    reg.open(&r).await.refused(409, "already_closed");
    till.sync().await;
    assert_eq!(rig.applied(&operation_id), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_cancelled_after_a_restart_records_nothing() {
    let rig = Rig::new();
    let mut till = Headless::start(&rig, Some(CASHIER), LONG).await;
    let r = receipt("kept-c", "200.00");
    {
        let reg = Register::new(&till);
        applied_sale(&till, &reg, &r, false).await;
    }
    till.restart(&rig, LONG).await;
    let reg = Register::new(&till);
    assert_eq!(reg.cancel("kept-c").await.ok(200).state, State::Cancelled);
    assert_eq!(reg.cancel("kept-c").await.ok(200).state, State::Cancelled);
    let m = reg.close(&r).await.refused(409, "cancelled");
    assert!(m.contains("nothing was recorded"), "{m}");
    assert_eq!(till.pending(), 0);
    // The same receipt may be handed over again, to a logged-in cashier.
    tap(
        &till,
        Action::Login {
            code: CASHIER.into(),
        },
    )
    .await;
    assert_eq!(reg.open(&r).await.ok(201).state, State::Open);
    reg.cancel("kept-c").await.ok(200);
    assert!(till.terminal.unconfirmed().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_never_closed_go_to_the_manager_who_books_or_drops_them_with_an_audit() {
    let rig = Rig::new();
    let short = Duration::from_millis(400);
    let mut till = Headless::start(&rig, Some(CASHIER), LONG).await;
    let booked = receipt("never-1", "300.00");
    let booked_id = {
        let reg = Register::new(&till);
        let s = applied_sale(&till, &reg, &booked, true).await;
        s.result.unwrap().data.operation_id
    };
    // The till restarts and the register never comes back for it.
    till.restart(&rig, short).await;
    let reg = Register::new(&till);
    let since = Instant::now();
    while till.terminal.unconfirmed().unwrap().is_empty() {
        assert!(since.elapsed() < Duration::from_secs(10), "never listed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = reg.get("never-1", 0).await.ok(200);
    assert_eq!(status.state, State::Expired, "{status:?}");
    assert!(status.reason.unwrap().contains("manager"));
    assert_eq!(till.pending(), 0, "listed, not queued");

    // A second one expires without a restart.
    tap(
        &till,
        Action::Login {
            code: CASHIER.into(),
        },
    )
    .await;
    let dropped = receipt("never-2", "150.00");
    let dropped_id = applied_sale(&till, &reg, &dropped, false)
        .await
        .result
        .unwrap()
        .data
        .operation_id;
    let since = Instant::now();
    while till.terminal.unconfirmed().unwrap().len() < 2 {
        assert!(since.elapsed() < Duration::from_secs(10), "never listed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let list = till.terminal.unconfirmed().unwrap();
    assert_eq!(
        list.iter()
            .map(|k| k.receipt.id.as_str())
            .collect::<Vec<_>>(),
        ["never-1", "never-2"]
    );
    assert_eq!(list[0].customer.as_deref(), Some("Карина С."));
    assert!(!list[0].spend().is_zero());

    let cashier = till.terminal.login(CASHIER).await.unwrap();
    let manager = till.terminal.login("9999").await.unwrap();
    assert!(
        till.terminal
            .book_unconfirmed(&cashier, &booked_id)
            .is_err()
    );
    // Booked: the sale and its audit record are queued, once.
    let done = till
        .terminal
        .book_unconfirmed(&manager, &booked_id)
        .unwrap();
    assert!(matches!(done, bonuskassa::terminal::KeptClose::Queued(_)));
    assert_eq!(till.pending(), 2);
    let again = till
        .terminal
        .book_unconfirmed(&manager, &booked_id)
        .unwrap();
    assert!(matches!(again, bonuskassa::terminal::KeptClose::Already(_)));
    assert_eq!(till.pending(), 2);
    // A late close of a booked receipt is an answer, not a second sale.
    assert_eq!(reg.close(&booked).await.ok(200).state, State::Closed);
    assert_eq!(till.pending(), 2);
    // Dropped: an audit record, no sale.
    assert!(
        till.terminal
            .drop_unconfirmed(&manager, &dropped_id)
            .unwrap()
    );
    assert!(
        !till
            .terminal
            .drop_unconfirmed(&manager, &dropped_id)
            .unwrap()
    );
    assert_eq!(till.pending(), 3);
    assert!(till.terminal.unconfirmed().unwrap().is_empty());
    // The register closes the dropped one after all: refused, nothing recorded.
    let m = reg.close(&dropped).await.refused(409, "cancelled");
    assert!(m.contains("dropped"), "{m}");
    assert_eq!(till.pending(), 3);

    // A third expires, and the register closes it late with its fiscal document: it was
    // printed, so the close books it, once, without the manager.
    let late = receipt("never-3", "120.00");
    let late_id = applied_sale(&till, &reg, &late, false)
        .await
        .result
        .unwrap()
        .data
        .operation_id;
    let since = Instant::now();
    while till.terminal.unconfirmed().unwrap().is_empty() {
        assert!(since.elapsed() < Duration::from_secs(10), "never listed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(reg.get("never-3", 0).await.ok(200).state, State::Expired);
    let closed = reg
        .close_fiscal(&late, &fiscal("120.00", 4023))
        .await
        .ok(200);
    assert_eq!(closed.state, State::Closed, "{closed:?}");
    assert_eq!(till.pending(), 4);
    assert_eq!(reg.close(&late).await.ok(200).state, State::Closed);
    assert_eq!(till.pending(), 4, "closed once");
    assert!(till.terminal.unconfirmed().unwrap().is_empty());
    let kept = till.terminal.kept_receipt("never-3").unwrap().unwrap();
    assert_eq!(kept.fiscal.map(|f| f.fd), Some(4023));
    // The manager's booking of it now is an answer, not a second sale.
    assert!(matches!(
        till.terminal.book_unconfirmed(&manager, &late_id).unwrap(),
        bonuskassa::terminal::KeptClose::Already(_)
    ));
    assert_eq!(till.pending(), 4);

    till.sync().await;
    assert_eq!(
        till.terminal.status().queue.conflicts,
        0,
        "the server took all"
    );
    assert_eq!(rig.applied(&booked_id), 1);
    assert_eq!(rig.applied(&dropped_id), 0);
    assert_eq!(rig.applied(&late_id), 1);
    let events: Vec<String> = crate::common::server::audit_events(&rig.server_data)
        .into_iter()
        .map(|(event, _)| event)
        .collect();
    assert_eq!(
        events,
        ["unconfirmed_receipt_booked", "unconfirmed_receipt_dropped"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_applied_return_survives_a_restart_and_is_queued_once() {
    let rig = Rig::new();
    let mut till = Headless::start(&rig, Some(CASHIER), LONG).await;
    let sale = receipt("rk-1", "2000.00");
    let ret = return_of("rk-ret-1", "rk-1", "1");
    let applied = {
        let reg = Register::new(&till);
        applied_sale(&till, &reg, &sale, true).await;
        assert_eq!(reg.close(&sale).await.ok(200).state, State::Closed);
        reg.open(&ret).await.ok(201);
        tap(&till, Action::Apply).await;
        reg.get("rk-ret-1", 5).await.ok(200)
    };
    assert_eq!(applied.state, State::Applied);
    assert_eq!(till.pending(), 1, "the sale only");

    till.restart(&rig, LONG).await;
    let reg = Register::new(&till);
    assert_eq!(reg.get("rk-ret-1", 0).await.ok(200), applied);
    let (a, b) = tokio::join!(reg.close(&ret), reg.close(&ret));
    let (a, b) = (a.ok(200), b.ok(200));
    assert_eq!((a.state, &a), (State::Closed, &b));
    assert_eq!(till.pending(), 2, "the sale and the return, once");
    // What was returned is recorded: the same croissant cannot come back twice.
    tap(
        &till,
        Action::Login {
            code: CASHIER.into(),
        },
    )
    .await;
    let again = return_of("rk-ret-2", "rk-1", "2");
    reg.open(&again).await.refused(422, "bad_return");
    till.sync().await;
    let operation_id = applied.result.unwrap().data.operation_id;
    assert_eq!(rig.applied(&operation_id), 1);
}
