//! The customer's consents from the card, driven action by action as the touch UI drives
//! them, against a real server on 127.0.0.1: the consents panel in place of the tabs, the
//! withdrawal of the processing consent after a confirmation (the preview at once without
//! loyalty, a spend refused with the reason, the sale booked without loyalty at the
//! server), the consent given again, the advertising switch, and all of it offline.

use std::sync::Arc;

use crate::common::server as srv;
use crate::common::{Rig, quick_sync, receipt, wait_for};
use bonuskassa::checkout::{Action, CustomerPanel, CustomerTab, Problem, Screen, Session};
use bonuskassa::clock::SystemClock;
use bonuskassa::domain::money::{Bonus, Money};
use bonuskassa::protocol::server::CustomerView;
use bonuskassa::terminal::{ConsentChange, Priced};

const KARINA: &str = "+79990000001";

async fn logged_in(rig: &Rig) -> Session {
    let terminal = Arc::new(rig.enroll(Arc::new(SystemClock)).await);
    terminal.start_sync(quick_sync()).unwrap();
    wait_for(&terminal, "the cache", |s| s.cached_customers == 4).await;
    let mut s = Session::new(terminal, Arc::new(SystemClock));
    s.act(Action::Login {
        code: "1111".into(),
    })
    .await;
    assert_eq!(s.problem(), None);
    s
}

/// The card: the customer as shown, the preview, the spend typed and the panel.
fn card(s: &Session) -> (&CustomerView, &Priced, &str, &CustomerPanel) {
    match s.screen() {
        Screen::Customer {
            found,
            priced,
            spend_text,
            panel,
            ..
        } => (&found.customer, priced, spend_text, panel),
        other => panic!("{other:?} {:?}", s.problem()),
    }
}

fn without_loyalty(p: &Priced) -> bool {
    let c = &p.calculation;
    c.discount == Money::ZERO
        && c.accrued == Bonus::ZERO
        && c.spent == Bonus::ZERO
        && c.max_spend == Bonus::ZERO
        && c.to_pay == c.total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdrawn_processing_consent_stops_the_loyalty_until_it_is_given_again() {
    let rig = Rig::new();
    let mut s = logged_in(&rig).await;
    s.act(Action::OpenReceipt(receipt("c-1", "2000.00"))).await;
    s.act(Action::FindByPhone(KARINA.into())).await;
    s.act(Action::SetSpend("100".into())).await;
    let (customer, priced, _, _) = card(&s);
    assert!(customer.consent_processing && customer.consent_advertising);
    assert!(!without_loyalty(priced));

    // «Согласия» opens the panel in place of the tabs; the withdrawal asks first.
    s.act(Action::ShowConsents).await;
    assert_eq!(card(&s).3, &CustomerPanel::Consents { confirming: false });
    s.act(Action::SetConsent(ConsentChange::Processing(false)))
        .await;
    assert_eq!(s.problem(), None);
    assert_eq!(card(&s).3, &CustomerPanel::Consents { confirming: true });
    assert!(card(&s).0.consent_processing, "nothing withdrawn yet");
    // «Не отзывать» goes back to the panel.
    s.act(Action::ShowConsents).await;
    assert_eq!(card(&s).3, &CustomerPanel::Consents { confirming: false });
    s.act(Action::SetConsent(ConsentChange::Processing(false)))
        .await;
    s.act(Action::SetConsent(ConsentChange::Processing(false)))
        .await;
    assert_eq!(s.problem(), None);
    let (customer, priced, spend, panel) = card(&s);
    assert!(!customer.consent_processing && !priced.customer.consent_processing);
    assert_eq!(
        (spend, panel),
        ("0", &CustomerPanel::Consents { confirming: false })
    );
    assert!(without_loyalty(priced), "{:?}", priced.calculation);
    assert!(!priced.offline);

    // The spend keypad refuses, saying why.
    s.act(Action::SetSpend("100".into())).await;
    assert_eq!(s.problem(), Some(&Problem::ProcessingConsentWithdrawn));
    s.act(Action::SpendNothing).await;
    assert_eq!(s.problem(), None);

    // The sale is booked without loyalty at the server too.
    s.act(Action::Apply).await;
    let Some(bonuskassa::checkout::Outcome::Applied(applied)) = s.take_outcome() else {
        panic!("{:?}", s.problem())
    };
    s.act(Action::Close {
        receipt_id: applied.receipt.id.clone(),
        printed: applied.receipt.clone(),
        fiscal: None,
    })
    .await;
    assert_eq!(s.problem(), None);
    wait_for(s.terminal(), "the sale to sync", |st| st.queue.pending == 0).await;
    let rows = srv::consents(&rig.server_data, KARINA);
    let last = rows.last().unwrap();
    assert_eq!((last.kind.as_str(), last.granted), ("processing", false));
    assert_eq!(last.cashier.as_deref(), Some("Кассир Мария"));
    assert!(last.terminal_id.is_some());

    // The next receipt: the server's lookup says withdrawn; the consent is given again.
    s.act(Action::OpenReceipt(receipt("c-2", "2000.00"))).await;
    s.act(Action::FindByPhone(KARINA.into())).await;
    let (customer, priced, _, _) = card(&s);
    assert!(!customer.consent_processing);
    assert!(without_loyalty(priced));
    s.act(Action::ShowConsents).await;
    s.act(Action::SetConsent(ConsentChange::Processing(true)))
        .await;
    assert_eq!(s.problem(), None);
    let (customer, priced, _, _) = card(&s);
    assert!(customer.consent_processing);
    assert!(priced.calculation.accrued > Bonus::ZERO && !priced.offline);
    s.act(Action::SetSpend("100".into())).await;
    assert_eq!(s.problem(), None);
    assert_eq!(card(&s).1.calculation.spent, Bonus::new(100.into()));

    // Given already: a second tap records nothing (the history below has no second row).
    s.act(Action::SetConsent(ConsentChange::Processing(true)))
        .await;
    assert_eq!(s.problem(), None);

    // The advertising switch; «Готово» goes back to the spend, which stays.
    s.act(Action::SetConsent(ConsentChange::Advertising(false)))
        .await;
    assert_eq!(s.problem(), None);
    assert!(!card(&s).0.consent_advertising);
    s.act(Action::ShowCustomerTab(CustomerTab::Spend)).await;
    let (_, _, spend, panel) = card(&s);
    assert_eq!((spend, panel), ("100", &CustomerPanel::Spend));
    wait_for(s.terminal(), "the consents to sync", |st| {
        st.queue.pending == 0
    })
    .await;
    let rows = srv::consents(&rig.server_data, KARINA);
    assert_eq!(
        srv::consent_changes(&rows),
        [
            ("processing", false),
            ("processing", true),
            ("advertising", false)
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_a_withdrawal_waits_in_the_queue_and_the_cache_prices_without_loyalty() {
    let mut rig = Rig::new();
    let mut s = logged_in(&rig).await;
    rig.stop_server();
    s.act(Action::OpenReceipt(receipt("o-1", "1000.00"))).await;
    s.act(Action::FindByPhone(KARINA.into())).await;
    let (_, priced, _, _) = card(&s);
    assert!(priced.offline && !without_loyalty(priced));
    s.act(Action::ShowConsents).await;
    s.act(Action::SetConsent(ConsentChange::Processing(false)))
        .await;
    s.act(Action::SetConsent(ConsentChange::Processing(false)))
        .await;
    assert_eq!(s.problem(), None);
    let (customer, priced, _, _) = card(&s);
    assert!(!customer.consent_processing);
    assert!(priced.offline && without_loyalty(priced));
    assert_eq!(s.terminal().status().queue.pending, 1, "the consent waits");
    s.act(Action::SetSpend("10".into())).await;
    assert_eq!(s.problem(), Some(&Problem::ProcessingConsentWithdrawn));

    // Found again from the cache, the customer is still without it.
    s.act(Action::Cancel).await;
    s.act(Action::OpenReceipt(receipt("o-2", "1000.00"))).await;
    s.act(Action::FindByPhone(KARINA.into())).await;
    let (customer, priced, _, _) = card(&s);
    assert!(!customer.consent_processing && without_loyalty(priced));
    s.act(Action::Cancel).await;

    // The server hears of it when it is back.
    rig.start_server();
    wait_for(s.terminal(), "the queue to sync", |st| {
        st.queue.pending == 0
    })
    .await;
    let last = srv::consents(&rig.server_data, KARINA).pop().unwrap();
    assert_eq!((last.kind.as_str(), last.granted), ("processing", false));
}
