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
