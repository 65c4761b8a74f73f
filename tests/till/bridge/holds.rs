//! Two tills, one customer, through their real bridges over HTTP: the bonuses one
//! register is printing are held at the server, so the other till's card offers only the
//! rest and cannot apply them again; when the first register cancels, they are back, and
//! a sale closed at the register consumes its own hold, its bonuses counted once.

use super::*;
use bonuskassa::domain::money::Bonus;

/// What the card of a till shows now: the customer's spendable balance, the bonuses held
/// at other tills, and the most this receipt may spend.
async fn card(till: &Headless) -> (Bonus, Bonus, Bonus) {
    let Screen::Customer { found, priced, .. } = till.panel.screen().await else {
        panic!("not at the card: {:?}", till.panel.problem().await)
    };
    assert!(!priced.offline, "priced offline");
    (
        priced.customer.balance,
        found.customer.held,
        priced.calculation.max_spend,
    )
}

fn b(s: &str) -> Bonus {
    s.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_registers_cannot_print_the_same_bonuses() {
    let rig = Rig::new();
    let till_a = Headless::start(&rig, Some(CASHIER), LONG).await;
    let rig_b = rig.another_till();
    let till_b = Headless::start(&rig_b, Some(CASHIER), LONG).await;
    let (reg_a, reg_b) = (Register::new(&till_a), Register::new(&till_b));

    // Both registers hand over a receipt; both cashiers open Карина's card (500 bonuses).
    let (ra, rb) = (receipt("hold-a", "3000.00"), receipt("hold-b", "3000.00"));
    assert_eq!(reg_a.open(&ra).await.ok(201).state, State::Open);
    assert_eq!(reg_b.open(&rb).await.ok(201).state, State::Open);
    tap(&till_a, Action::FindByPhone(KARINA.into())).await;
    tap(&till_b, Action::FindByPhone(KARINA.into())).await;
    assert_eq!(card(&till_b).await.0, b("500"));

    // A spends 300 and applies: its register gets the prices, the server holds the 300.
    tap(&till_a, Action::SetSpend("300".into())).await;
    tap(&till_a, Action::Apply).await;
    let applied_a = reg_a.get("hold-a", 5).await.ok(200);
    assert_eq!(applied_a.state, State::Applied);
    let result_a = applied_a.result.unwrap();
    assert_eq!(result_a.spent, b("300"));

    // B, at the same customer's card, sees only what is left, and why.
    tap(&till_b, Action::Cancel).await;
    assert_eq!(reg_b.get("hold-b", 5).await.ok(200).state, State::Cancelled);
    assert_eq!(reg_b.open(&rb).await.ok(201).state, State::Open);
    tap(&till_b, Action::FindByPhone(KARINA.into())).await;
    assert_eq!(card(&till_b).await, (b("200"), b("300"), b("200")));
    // Asking for more than is left goes no further than what is left.
    till_b.panel.cashier(Action::SetSpend("400".into())).await;
    let (_, _, max) = card(&till_b).await;
    assert_eq!(max, b("200"));

    // A's register cancels: the hold goes, and B sees the whole balance again.
    assert_eq!(reg_a.cancel("hold-a").await.ok(200).state, State::Cancelled);
    tap(&till_b, Action::Cancel).await;
    assert_eq!(
        reg_b
            .open(&receipt("hold-b2", "3000.00"))
            .await
            .ok(201)
            .state,
        State::Open
    );
    tap(&till_b, Action::FindByPhone(KARINA.into())).await;
    assert_eq!(card(&till_b).await, (b("500"), Bonus::ZERO, b("500")));

    // B spends 400, its register prints and closes: the sale consumes its own hold, and
    // once synced the balance is 500 − 400 + what the sale accrued: the 400 counted once.
    tap(&till_b, Action::SetSpend("400".into())).await;
    tap(&till_b, Action::Apply).await;
    let applied_b = reg_b.get("hold-b2", 5).await.ok(200);
    assert_eq!(applied_b.state, State::Applied);
    let result_b = applied_b.result.unwrap();
    let accrued = result_b.printable_data.accrued.unwrap();
    let operation_id = result_b.data.operation_id;
    assert_eq!(
        reg_b
            .close(&receipt("hold-b2", "3000.00"))
            .await
            .ok(200)
            .state,
        State::Closed
    );
    till_b.sync().await;
    assert_eq!(rig.applied(&operation_id), 1);
    assert_eq!(
        reg_a
            .open(&receipt("hold-a2", "3000.00"))
            .await
            .ok(201)
            .state,
        State::Open
    );
    tap(&till_a, Action::FindByPhone(KARINA.into())).await;
    // The server's ledger has the one spend of 400 (and what the sale accrued, with the
    // rules' first-purchase gift), and the other till's card shows just that balance.
    let (active, spends) = {
        use bonuskassa::server::store::{self, CustomerKey};
        let st = crate::common::server::open(&rig.server_data);
        store::read(&*st, |r| {
            let c = r.customer(CustomerKey::Phone(KARINA))?.unwrap();
            let spends: Vec<i64> = r
                .history(&c.id, 50)?
                .into_iter()
                .map(|h| h.amount)
                .filter(|a| *a < 0)
                .collect();
            Ok((r.balance(&c.id, chrono::Utc::now())?.active, spends))
        })
        .unwrap()
    };
    assert_eq!(spends, [-40_000], "the 400 spent once");
    assert!(active >= 10_000 + accrued.kopecks(), "{active}");
    let left = Bonus::from_kopecks(active);
    assert_eq!(card(&till_a).await, (left, Bonus::ZERO, left));
}

/// The server's hold of an applied sale, as the server keeps it.
fn hold_state(rig: &Rig, id: &str) -> bonuskassa::server::store::HoldState {
    use bonuskassa::server::store;
    let st = crate::common::server::open(&rig.server_data);
    store::read(&*st, |r| r.hold(id)).unwrap().unwrap().state
}

/// Waits (a few seconds at most) for the server to see the hold released.
async fn released_at_the_server(rig: &Rig, id: &str) {
    let since = Instant::now();
    while hold_state(rig, id) != bonuskassa::server::store::HoldState::Released {
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "the hold was never released"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_of_receipts_without_a_sale_are_released_even_when_the_server_was_away() {
    use bonuskassa::server::store::HoldState;
    let mut rig = Rig::new();
    let mut till = Headless::start(&rig, Some(CASHIER), LONG).await;

    // A receipt with a spend is applied; the register never closes it, the till restarts
    // and lists it for the manager. Its hold stays: the manager may still book it.
    let never = receipt("hold-never", "3000.00");
    let never_id = {
        let reg = Register::new(&till);
        let status = applied_sale(&till, &reg, &never, true).await;
        status.result.unwrap().data.operation_id
    };
    till.restart(&rig, Duration::from_millis(300)).await;
    let since = Instant::now();
    while till.terminal.unconfirmed().unwrap().is_empty() {
        assert!(since.elapsed() < Duration::from_secs(10), "never listed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(hold_state(&rig, &never_id), HoldState::Live);
    // The manager drops it (it was not printed): no sale will consume the hold, so the
    // till releases it.
    let manager = till.terminal.login("9999").await.unwrap();
    assert!(till.terminal.drop_unconfirmed(&manager, &never_id).unwrap());
    till.sync().await;
    released_at_the_server(&rig, &never_id).await;

    // The register cancels an applied receipt while the server is away: the release
    // cannot go now, so it waits on the till's disk (a restart forgets nothing), and the
    // sync worker sends it when the server is back.
    till.restart(&rig, LONG).await;
    tap(
        &till,
        Action::Login {
            code: CASHIER.into(),
        },
    )
    .await;
    let reg = Register::new(&till);
    let away = receipt("hold-away", "3000.00");
    let away_id = applied_sale(&till, &reg, &away, true)
        .await
        .result
        .unwrap()
        .data
        .operation_id;
    assert_eq!(hold_state(&rig, &away_id), HoldState::Live);
    rig.stop_server();
    assert_eq!(
        reg.cancel("hold-away").await.ok(200).state,
        State::Cancelled
    );
    let on_disk = bonuskassa::store::TerminalStore::open(&rig.till_data)
        .unwrap()
        .releases(10)
        .unwrap();
    assert_eq!(on_disk, std::slice::from_ref(&away_id));
    rig.start_server();
    assert_eq!(hold_state(&rig, &away_id), HoldState::Live);
    till.sync().await;
    released_at_the_server(&rig, &away_id).await;
    let since = Instant::now();
    while !bonuskassa::store::TerminalStore::open(&rig.till_data)
        .unwrap()
        .releases(10)
        .unwrap()
        .is_empty()
    {
        assert!(since.elapsed() < Duration::from_secs(10), "still listed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
