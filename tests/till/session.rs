//! The checkout session driven action by action, as the touch UI drives it, against a real
//! server on 127.0.0.1: a sale with spend, registration with an SMS code (wrong, expired,
//! «Без кода»), a spend that needs a code, a return, offline, and cancel at every step.

use std::sync::Arc;

use crate::common::receipts::{ReceiptJson, croissants};
use crate::common::{Rig, b, last_sms_code, quick_sync, receipt, return_of, wait_for};
use bonuskassa::checkout::{
    Action, CardChoice, CustomerPanel, CustomerPurchases, CustomerTab, Outcome, Problem,
    RegistrationStep, Screen, Session,
};
use bonuskassa::clock::{ManualClock, SystemClock};
use bonuskassa::domain::money::Bonus;
use bonuskassa::domain::returns::ReturnedPart;
use bonuskassa::protocol::server::Questionnaire;
use bonuskassa::store::ShiftBy;

async fn session(rig: &Rig, clock: Arc<dyn bonuskassa::clock::Clock>) -> Session {
    let terminal = Arc::new(rig.enroll(clock.clone()).await);
    terminal.start_sync(quick_sync()).unwrap();
    wait_for(&terminal, "the cache", |s| s.cached_customers == 4).await;
    Session::new(terminal, clock)
}

/// A session at a till of `rig` with the cashier of `code` logged in.
async fn logged_in(rig: &Rig, code: &str) -> Session {
    let mut s = session(rig, Arc::new(SystemClock)).await;
    s.act(Action::Login { code: code.into() }).await;
    assert_eq!(s.problem(), None);
    s
}

/// The customer and purchases the return screen lists.
fn listed_for_return(s: &Session) -> &CustomerPurchases {
    match s.screen() {
        Screen::Return {
            purchases: Some(purchases),
            ..
        } => purchases,
        other => panic!("{other:?} {:?}", s.problem()),
    }
}

fn name(s: &Session) -> &'static str {
    match s.screen() {
        Screen::Login => "login",
        Screen::Waiting => "waiting",
        Screen::Find { .. } => "find",
        Screen::NotFound { .. } => "not found",
        Screen::Customer { .. } => "customer",
        Screen::Register { .. } => "register",
        Screen::Return { .. } => "return",
        Screen::Manager => "manager",
        Screen::Conflicts(_) => "conflicts",
        Screen::Unconfirmed(_) => "unconfirmed",
        Screen::ShiftReport(_) => "shift report",
        Screen::SelfRegistration { .. } => "self-registration",
        Screen::AtRegister(_) => "at register",
    }
}

/// The manager logs in and opens the menu.
async fn manager_menu(s: &mut Session) {
    s.act(Action::Login {
        code: "9999".into(),
    })
    .await;
    s.act(Action::OpenManagerMenu).await;
    assert_eq!(name(s), "manager");
}

/// Plays the register after the cashier applied: it prints what it was given and closes
/// the receipt, which queues the operation. Returns the closed outcome.
async fn print(s: &mut Session) -> Option<Outcome> {
    let Some(Outcome::Applied(applied)) = s.take_outcome() else {
        panic!("nothing applied: {:?}", s.problem())
    };
    assert_eq!(name(s), "at register");
    s.act(Action::Close {
        receipt_id: applied.receipt.id.clone(),
        printed: applied.receipt.clone(),
        fiscal: None,
    })
    .await;
    assert_eq!((name(s), s.problem()), ("waiting", None));
    let closed = s.take_outcome();
    // Queued only now, under the id the register was told when it was applied.
    let operation = match &closed {
        Some(Outcome::Sale { operation, .. }) | Some(Outcome::Return { operation, .. }) => {
            operation
        }
        other => panic!("not closed: {other:?}"),
    };
    assert_eq!(operation.id, applied.operation_id.to_string());
    closed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_with_spend_then_its_return() {
    let rig = Rig::new();
    let mut s = session(&rig, Arc::new(SystemClock)).await;

    // Nothing before login; a wrong code says so.
    s.act(Action::OpenReceipt(receipt("r-1", "2000.00"))).await;
    assert_eq!(s.problem(), Some(&Problem::NotLoggedIn));
    s.act(Action::Login {
        code: "0000".into(),
    })
    .await;
    assert!(
        matches!(s.problem(), Some(Problem::WrongCashierCode { .. })),
        "{:?}",
        s.problem()
    );
    assert_eq!(name(&s), "login");
    s.act(Action::Login {
        code: "1111".into(),
    })
    .await;
    assert_eq!((name(&s), s.problem()), ("waiting", None));

    s.act(Action::OpenReceipt(receipt("r-1", "2000.00"))).await;
    assert_eq!(name(&s), "find");
    // One receipt at a time.
    s.act(Action::OpenReceipt(receipt("r-2", "10.00"))).await;
    assert_eq!(s.problem(), Some(&Problem::Busy));
    s.act(Action::FindByPhone("8 (999) 12".into())).await;
    assert_eq!(s.problem(), Some(&Problem::BadPhone));
    assert_eq!(name(&s), "find");
    s.act(Action::FindByPhone("8 (999) 000-00-01".into())).await;
    assert_eq!(name(&s), "customer");

    s.act(Action::SetSpend("abc".into())).await;
    assert_eq!(s.problem(), Some(&Problem::BadSpend));
    s.act(Action::SetSpend("100000".into())).await;
    assert!(matches!(s.problem(), Some(Problem::SpendAboveMax { .. })));
    // The typed text stays, so the cashier sees what was refused.
    let Screen::Customer { spend_text, .. } = s.screen() else {
        panic!()
    };
    assert_eq!(spend_text, "100000");
    s.act(Action::SpendMax).await;
    let Screen::Customer { priced, found, .. } = s.screen() else {
        panic!()
    };
    assert!(!found.offline && !priced.offline);
    assert_eq!(priced.spend, priced.calculation.max_spend);
    assert!(priced.spend > Bonus::ZERO && priced.spend <= b("500"));
    s.act(Action::Apply).await;
    assert_eq!((name(&s), s.problem()), ("at register", None));
    let Some(Outcome::Sale { operation, priced }) = print(&mut s).await else {
        panic!("no sale outcome")
    };
    assert_eq!(priced.receipt.id, "r-1");
    wait_for(s.terminal(), "the sale to sync", |st| st.queue.pending == 0).await;
    assert_eq!(rig.applied(&operation.id), 1);

    // The return of one croissant.
    s.act(Action::OpenReceipt(return_of("ret-1", "r-1", "1")))
        .await;
    let Screen::Return { preview, .. } = s.screen() else {
        panic!("{:?}", s.problem())
    };
    assert!(preview.as_ref().expect("the sale is found").refunded > Bonus::ZERO);
    s.act(Action::Apply).await;
    assert!(matches!(print(&mut s).await, Some(Outcome::Return { .. })));
    // A return of a sale no till has under this number: the till waits for the sale
    // receipt's fiscal QR code. A customer's card scanned instead is refused; the fiscal
    // code of another till's sale finds it, and the return goes through.
    rig.sell_at_another_till(
        "+79990000001",
        &serde_json::to_value(receipt("s-7", "700.00")).unwrap(),
        FISCAL_QR,
    );
    s.act(Action::OpenReceipt(return_of("ret-2", "elsewhere", "1")))
        .await;
    assert_eq!(s.problem(), None);
    assert!(matches!(s.screen(), Screen::Return { sale: None, .. }));
    s.act(Action::Apply).await;
    assert_eq!(s.problem(), Some(&Problem::SaleNotKept));
    // The customer's purchases, for a return without the receipt: only a manager picks.
    s.act(Action::FindByPhone("+7 999 000-00-01".into())).await;
    let purchases = listed_for_return(&s);
    assert!(
        purchases
            .sales
            .iter()
            .any(|p| p.sale_ref.receipt_id == "s-7")
    );
    // Whose purchases they are, as the customer card names them.
    assert_eq!(purchases.customer.name, "Карина С.");
    assert_eq!(
        purchases.phone.as_ref().map(|p| p.masked()).as_deref(),
        Some("+7 *** ***-**-01")
    );
    s.act(Action::PickPurchase(0)).await;
    assert_eq!(s.problem(), Some(&Problem::ManagerOnly));
    s.act(Action::Scan(
        b"t=20261123T1200&s=1.00&fn=1&i=1&fp=1&n=1".to_vec(),
    ))
    .await;
    assert!(
        matches!(s.problem(), Some(Problem::BadScan(_))),
        "a bad fiscal code"
    );
    s.act(Action::Scan(
        b"t=20261123T1200&s=1.00&fn=9960440300000001&i=99&fp=1&n=1".to_vec(),
    ))
    .await;
    assert_eq!(s.problem(), Some(&Problem::FiscalSaleNotFound));
    s.act(Action::Scan(FISCAL_QR.as_bytes().to_vec())).await;
    let Screen::Return {
        sale: Some(_),
        preview: Some(preview),
        ..
    } = s.screen()
    else {
        panic!("{:?}", s.problem())
    };
    assert_eq!(preview.original_receipt, "s-7");
    s.act(Action::Apply).await;
    let Some(Outcome::Return { operation, .. }) = print(&mut s).await else {
        panic!("{:?}", s.problem())
    };
    wait_for(s.terminal(), "the return to sync", |st| {
        st.queue.pending == 0
    })
    .await;
    assert_eq!(rig.applied(&operation.id), 1);
}

/// Sells `receipt` to the customer with this phone, spending nothing, and prints it.
async fn sell_to(s: &mut Session, receipt: bonuskassa::domain::receipt::Receipt, phone: &str) {
    s.act(Action::OpenReceipt(receipt)).await;
    s.act(Action::FindByPhone(phone.into())).await;
    s.act(Action::Apply).await;
    assert!(
        matches!(print(s).await, Some(Outcome::Sale { .. })),
        "{:?}",
        s.problem()
    );
}

/// Takes back a return receipt of a sale made here, and prints it.
async fn take_back(s: &mut Session, receipt: bonuskassa::domain::receipt::Receipt) {
    s.act(Action::OpenReceipt(receipt)).await;
    s.act(Action::Apply).await;
    assert!(
        matches!(print(s).await, Some(Outcome::Return { .. })),
        "{:?}",
        s.problem()
    );
}

/// The customer card's «Покупки»: the customer's purchases at every till, newest first,
/// with what came back of each, asked of the server as the tab opens; the spend typed stays
/// through the tabs. Offline the tab says the list needs the server, and the card goes on.
/// On a return whose sale is not found, the customer scanned by card is named above their
/// purchases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_card_lists_the_customers_purchases_at_every_till_and_keeps_the_spend() {
    let mut rig = Rig::new();
    let mut s = logged_in(&rig, "1111").await;
    s.act(Action::ShowCustomerTab(CustomerTab::Purchases)).await;
    assert_eq!(s.problem(), Some(&Problem::NothingOpen));

    // Here: one sale comes back in part, another (croissants only) in full; then a sale
    // at «Касса 7».
    let karina = "+79990000001";
    sell_to(&mut s, receipt("p-1", "500.00"), karina).await;
    let only_croissants = ReceiptJson::sale("p-2").line(croissants("2")).receipt();
    sell_to(&mut s, only_croissants, karina).await;
    take_back(&mut s, return_of("p-ret-1", "p-1", "1")).await;
    take_back(&mut s, return_of("p-ret-2", "p-2", "2")).await;
    wait_for(s.terminal(), "the sales to sync", |st| {
        st.queue.pending == 0
    })
    .await;
    rig.sell_at_another_till(
        karina,
        &serde_json::to_value(receipt("p-7", "700.00")).unwrap(),
        FISCAL_QR,
    );

    s.act(Action::OpenReceipt(receipt("p-3", "1000.00"))).await;
    s.act(Action::FindByPhone(karina.into())).await;
    s.act(Action::SetSpend("100".into())).await;
    assert_eq!(s.problem(), None);
    s.act(Action::ShowCustomerTab(CustomerTab::Purchases)).await;
    let Screen::Customer {
        panel: CustomerPanel::Purchases(sales),
        spend_text,
        priced,
        ..
    } = s.screen()
    else {
        panic!("{:?} {:?}", s.screen(), s.problem())
    };
    let listed: Vec<(&str, &str, ReturnedPart)> = sales
        .iter()
        .map(|p| {
            (
                p.sale_ref.receipt_id.as_str(),
                p.terminal_name.as_str(),
                p.sale.returned_part(&p.returned),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("p-7", "Касса 7", ReturnedPart::Nothing),
            ("p-2", "Касса 1", ReturnedPart::All),
            ("p-1", "Касса 1", ReturnedPart::Part),
        ]
    );
    assert_eq!((spend_text.as_str(), priced.spend), ("100", b("100")));

    // Back to the keypad: the spend is as typed.
    s.act(Action::ShowCustomerTab(CustomerTab::Spend)).await;
    let Screen::Customer {
        panel, spend_text, ..
    } = s.screen()
    else {
        panic!()
    };
    assert_eq!((panel, spend_text.as_str()), (&CustomerPanel::Spend, "100"));

    // A return whose receipt is lost: the customer's card scanned (typed) names them above
    // their purchases.
    s.act(Action::Cancel).await;
    s.act(Action::OpenReceipt(return_of("p-ret-lost", "lost", "1")))
        .await;
    s.act(Action::FindByCard("2900000000018".into())).await;
    let purchases = listed_for_return(&s);
    assert_eq!(purchases.customer.name, "Карина С.");
    assert_eq!(purchases.customer.card_masked.as_deref(), Some("****0018"));
    assert_eq!(purchases.phone, None);
    assert_eq!(purchases.sales.len(), 3);
    // Scanned from the card, the same customer.
    s.act(Action::Scan(b"2900000000018".to_vec())).await;
    let purchases = listed_for_return(&s);
    assert_eq!(
        (purchases.customer.name.as_str(), purchases.sales.len()),
        ("Карина С.", 3)
    );
    s.act(Action::Cancel).await;

    // Offline: the tab says the list needs the server; the spend stays and still prices.
    s.act(Action::OpenReceipt(receipt("p-4", "1000.00"))).await;
    s.act(Action::FindByPhone(karina.into())).await;
    s.act(Action::SetSpend("100".into())).await;
    rig.stop_server();
    s.act(Action::ShowCustomerTab(CustomerTab::Purchases)).await;
    assert_eq!(s.problem(), None);
    let Screen::Customer {
        panel, spend_text, ..
    } = s.screen()
    else {
        panic!()
    };
    assert_eq!(
        (panel, spend_text.as_str()),
        (&CustomerPanel::PurchasesNeedServer, "100")
    );
    s.act(Action::SetSpend("50".into())).await;
    assert_eq!(s.problem(), None);
    let Screen::Customer { panel, priced, .. } = s.screen() else {
        panic!()
    };
    assert_eq!(
        (panel, priced.spend, priced.offline),
        (&CustomerPanel::PurchasesNeedServer, b("50"), true)
    );
    s.act(Action::Cancel).await;
    assert_eq!(name(&s), "waiting");
}

/// The customer card's «История»: asked of the server as the tab opens — Анна's sale here
/// is its newest line, its accrual waits a day to activate (Золотая), the first-purchase
/// gift burns first — and the spend typed stays. A customer registered here whom the
/// server has not received yet has an empty history; offline the tab says the history
/// needs the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_card_shows_the_customers_history_what_activates_and_what_burns() {
    use bonuskassa::protocol::server::HistoryKind;
    let mut rig = Rig::new();
    let mut s = logged_in(&rig, "1111").await;
    s.act(Action::ShowCustomerTab(CustomerTab::History)).await;
    assert_eq!(s.problem(), Some(&Problem::NothingOpen));

    let anna = "+79990000003";
    sell_to(&mut s, receipt("h-1", "1000.00"), anna).await;
    wait_for(s.terminal(), "the sale to sync", |st| st.queue.pending == 0).await;
    s.act(Action::OpenReceipt(receipt("h-2", "500.00"))).await;
    s.act(Action::FindByPhone(anna.into())).await;
    s.act(Action::SetSpend("100".into())).await;
    s.act(Action::ShowCustomerTab(CustomerTab::History)).await;
    assert_eq!(s.problem(), None);
    let Screen::Customer {
        panel: CustomerPanel::History(history),
        spend_text,
        ..
    } = s.screen()
    else {
        panic!("{:?} {:?}", s.screen(), s.problem())
    };
    let kinds: Vec<HistoryKind> = history.entries.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            HistoryKind::FirstPurchase,
            HistoryKind::Purchase,
            HistoryKind::Manual
        ]
    );
    assert_eq!(history.activating.len(), 1, "{history:?}");
    assert_eq!(history.activating[0].amount, history.entries[1].amount);
    assert_eq!(history.burning[0].amount, b("100"));
    assert_eq!(spend_text, "100");

    // A customer the server has not received yet (registered here, queued): no history.
    let unknown = uuid::Uuid::now_v7().to_string();
    let empty = s.terminal().customer_history(&unknown).await.unwrap();
    assert!(empty.entries.is_empty() && empty.burning.is_empty());

    s.act(Action::Cancel).await;
    rig.stop_server();
    s.act(Action::OpenReceipt(receipt("h-3", "300.00"))).await;
    s.act(Action::FindByPhone(anna.into())).await;
    s.act(Action::ShowCustomerTab(CustomerTab::History)).await;
    assert_eq!(s.problem(), None);
    let Screen::Customer { panel, .. } = s.screen() else {
        panic!()
    };
    assert_eq!(panel, &CustomerPanel::HistoryNeedsServer);
    s.act(Action::ShowCustomerTab(CustomerTab::Spend)).await;
    let Screen::Customer { panel, .. } = s.screen() else {
        panic!()
    };
    assert_eq!(panel, &CustomerPanel::Spend);
    s.act(Action::Cancel).await;
    rig.start_server();
}

/// The fiscal QR code of a sale receipt printed at another till.
const FISCAL_QR: &str = "t=20261123T1200&s=1000.00&fn=9960440300112233&i=4021&fp=2837461902&n=1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_with_a_code_a_wrong_code_and_an_expired_one() {
    let clock = ManualClock::at(chrono::Utc::now());
    let rig = Rig::with_server_clock(clock.clone());
    let mut s = session(&rig, clock.clone()).await;
    s.act(Action::Login {
        code: "1111".into(),
    })
    .await;
    s.act(Action::OpenReceipt(receipt("r-reg", "700.00"))).await;
    s.act(Action::FindByPhone("+7 999 321-00-00".into())).await;
    assert_eq!(name(&s), "not found");
    s.act(Action::StartRegistration {
        phone: "+7 999 321-00-00".into(),
    })
    .await;
    assert_eq!(name(&s), "register");

    s.act(Action::SendCode).await;
    assert_eq!(s.problem(), None);
    // The resend waits for the cooldown.
    s.act(Action::SendCode).await;
    assert!(matches!(s.problem(), Some(Problem::Cooldown { .. })));
    s.act(Action::EnterCode("000000".into())).await;
    assert!(matches!(
        s.problem(),
        Some(Problem::CodeWrong {
            tries_left: Some(4)
        })
    ));
    let Screen::Register { registration, .. } = s.screen() else {
        panic!()
    };
    assert_eq!(registration.tries_left, Some(4));

    // Six minutes later the code has expired; a new one is sent and accepted.
    let old = last_sms_code(rig.addr).await;
    clock.advance(chrono::Duration::minutes(6));
    s.act(Action::EnterCode(old)).await;
    assert_eq!(s.problem(), Some(&Problem::CodeExpired));
    s.act(Action::SendCode).await;
    assert_eq!(s.problem(), None);
    s.act(Action::EnterCode(last_sms_code(rig.addr).await))
        .await;
    assert_eq!(s.problem(), None);

    // Cancel goes one step back, not out.
    let step = |s: &Session| match s.screen() {
        Screen::Register { registration, .. } => registration.step,
        other => panic!("{other:?}"),
    };
    assert_eq!(step(&s), RegistrationStep::Questionnaire);
    s.act(Action::Questionnaire(Questionnaire {
        email: Some("not an address".into()),
        ..Default::default()
    }))
    .await;
    assert_eq!(s.problem(), Some(&Problem::BadEmail));
    s.act(Action::Questionnaire(Questionnaire {
        first_name: Some("Вера".into()),
        last_name: Some("Тестова".into()),
        ..Default::default()
    }))
    .await;
    assert_eq!(step(&s), RegistrationStep::Consents);
    s.act(Action::Cancel).await;
    assert_eq!(step(&s), RegistrationStep::Questionnaire);
    s.act(Action::Questionnaire(Questionnaire {
        first_name: Some("Вера".into()),
        ..Default::default()
    }))
    .await;
    s.act(Action::Consents {
        processing: false,
        advertising: true,
    })
    .await;
    assert_eq!(s.problem(), Some(&Problem::ConsentRequired));
    s.act(Action::Consents {
        processing: true,
        advertising: false,
    })
    .await;
    assert_eq!(step(&s), RegistrationStep::Card);
    s.act(Action::IssueCard(CardChoice::Plastic(
        "4276 1234 5678 9012".into(),
    )))
    .await;
    assert!(
        matches!(s.problem(), Some(Problem::BadCard(_))),
        "{:?}",
        s.problem()
    );
    s.act(Action::IssueCard(CardChoice::Virtual)).await;
    assert_eq!(s.problem(), None);
    let Screen::Customer { found, .. } = s.screen() else {
        panic!("{:?}", s.screen())
    };
    assert!(found.customer.phone_verified);
    assert_eq!(found.customer.name, "Вера");
    s.act(Action::Apply).await;
    assert!(matches!(print(&mut s).await, Some(Outcome::Sale { .. })));
    wait_for(s.terminal(), "the registration to sync", |st| {
        st.queue.pending == 0
    })
    .await;
    assert_eq!(s.terminal().conflicts().unwrap(), vec![]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_big_spend_asks_for_a_code_and_offline_it_cannot() {
    let mut rig = Rig::new();
    let mut s = session(&rig, Arc::new(SystemClock)).await;
    s.act(Action::Login {
        code: "1111".into(),
    })
    .await;
    // Анна has 3 500 bonuses; a spend above the rules' 1 000 needs a code.
    s.act(Action::OpenReceipt(receipt("r-big", "9000.00")))
        .await;
    s.act(Action::FindByPhone("+79990000003".into())).await;
    s.act(Action::SetSpend("1500".into())).await;
    assert_eq!(s.problem(), None);
    s.act(Action::Apply).await;
    assert_eq!(s.problem(), Some(&Problem::SpendNeedsCode));
    let Screen::Customer { code, .. } = s.screen() else {
        panic!()
    };
    assert!(code.is_some());
    s.act(Action::SendCode).await;
    assert_eq!(s.problem(), None);
    s.act(Action::EnterCode(last_sms_code(rig.addr).await))
        .await;
    assert_eq!(s.problem(), None);
    let Some(Outcome::Sale { operation, .. }) = print(&mut s).await else {
        panic!()
    };
    wait_for(s.terminal(), "the sale to sync", |st| st.queue.pending == 0).await;
    assert_eq!(rig.applied(&operation.id), 1);

    // Offline: found from the cache, a small spend goes, a code cannot be had.
    rig.stop_server();
    s.act(Action::OpenReceipt(receipt("r-off", "3000.00")))
        .await;
    s.act(Action::FindByPhone("+79990000003".into())).await;
    let Screen::Customer { found, .. } = s.screen() else {
        panic!("{:?}", s.problem())
    };
    assert!(found.offline);
    s.act(Action::SetSpend("1500".into())).await;
    assert!(
        matches!(s.problem(), Some(Problem::Offline(_))),
        "{:?}",
        s.problem()
    );
    s.act(Action::SetSpend("200".into())).await;
    assert_eq!(s.problem(), None);
    s.act(Action::Apply).await;
    let Some(Outcome::Sale { operation, .. }) = print(&mut s).await else {
        panic!("{:?}", s.problem())
    };
    assert!(operation.offline);
    assert_eq!(s.terminal().status().queue.pending, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_at_every_step_hands_the_receipt_back_without_loyalty() {
    let rig = Rig::new();
    let mut s = session(&rig, Arc::new(SystemClock)).await;
    s.act(Action::Login {
        code: "1111".into(),
    })
    .await;

    // From the find screen, the customer card, and "not found".
    for (i, steps) in [
        vec![],
        vec![Action::FindByPhone("+79990000001".into())],
        vec![Action::FindByPhone("+79990009999".into())],
        vec![
            Action::FindByPhone("+79990009999".into()),
            Action::StartRegistration {
                phone: "+79990009999".into(),
            },
            Action::WithoutCode,
        ],
    ]
    .into_iter()
    .enumerate()
    {
        let id = format!("r-cancel-{i}");
        s.act(Action::OpenReceipt(receipt(&id, "100.00"))).await;
        for a in steps {
            s.act(a).await;
            assert_eq!(s.problem(), None);
        }
        // Out of a registration, cancel goes back step by step to "not found", then out.
        while name(&s) != "waiting" {
            s.act(Action::Cancel).await;
        }
        assert_eq!(
            s.take_outcome(),
            Some(Outcome::Cancelled { receipt_id: id })
        );
    }
    // Nothing was queued.
    assert_eq!(s.terminal().status().queue.pending, 0);

    // The manager menu is for managers.
    s.act(Action::OpenManagerMenu).await;
    assert_eq!(s.problem(), Some(&Problem::ManagerOnly));
    s.act(Action::Logout).await;
    manager_menu(&mut s).await;
    s.act(Action::ManualChange {
        phone: "+79990000004".into(),
        amount: "250".into(),
        reason: "".into(),
    })
    .await;
    assert_eq!(s.problem(), Some(&Problem::ReasonRequired));
    s.act(Action::ManualChange {
        phone: "+79990000004".into(),
        amount: "250".into(),
        reason: "компенсация".into(),
    })
    .await;
    assert_eq!(s.problem(), None);
    s.act(Action::RegisterWalkIn).await;
    register_without_code(&mut s, "+79990001111").await;
    assert_eq!((name(&s), s.problem()), ("manager", None));
    s.act(Action::ShowSelfRegistrationQr).await;
    let Screen::SelfRegistration { url, qr } = s.screen() else {
        panic!("{:?}", s.problem())
    };
    assert_eq!(url, crate::common::SELF_REGISTRATION_URL);
    assert_eq!(qr.dark.len(), qr.width * qr.width);
    s.act(Action::Cancel).await;
    s.act(Action::ShowConflicts).await;
    assert_eq!(s.screen(), &Screen::Conflicts(vec![]));
    s.act(Action::Cancel).await;
    s.act(Action::Cancel).await;
    assert_eq!(name(&s), "waiting");
    wait_for(s.terminal(), "the manager's operations to sync", |st| {
        st.queue.pending == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_registered_without_a_code_verifies_their_phone_later() {
    let rig = Rig::new();
    let mut s = session(&rig, Arc::new(SystemClock)).await;
    s.act(Action::Login {
        code: "1111".into(),
    })
    .await;
    let phone = "+7 999 444-55-66";
    s.act(Action::OpenReceipt(receipt("r-a", "400.00"))).await;
    s.act(Action::FindByPhone(phone.into())).await;
    register_without_code(&mut s, phone).await;
    s.act(Action::Apply).await;
    assert!(matches!(print(&mut s).await, Some(Outcome::Sale { .. })));
    wait_for(s.terminal(), "the registration to sync", |st| {
        st.queue.pending == 0
    })
    .await;

    // Next visit: found, unverified, so the code form comes again, with «Без кода».
    s.act(Action::OpenReceipt(receipt("r-b", "400.00"))).await;
    s.act(Action::FindByPhone(phone.into())).await;
    let Screen::Register { registration, .. } = s.screen() else {
        panic!("{:?} {:?}", s.screen(), s.problem())
    };
    assert!(registration.existing.is_some() && registration.without_code_allowed);
    // «Без кода»: their card, accrual only.
    s.act(Action::WithoutCode).await;
    let Screen::Customer { priced, .. } = s.screen() else {
        panic!("{:?}", s.problem())
    };
    assert_eq!(priced.calculation.max_spend, Bonus::ZERO);
    s.act(Action::Cancel).await;

    // With the code: verified, on the till at once and on the server after the sync.
    s.act(Action::OpenReceipt(receipt("r-c", "400.00"))).await;
    s.act(Action::FindByPhone(phone.into())).await;
    s.act(Action::SendCode).await;
    s.act(Action::EnterCode(last_sms_code(rig.addr).await))
        .await;
    assert_eq!(s.problem(), None);
    let Screen::Customer { found, .. } = s.screen() else {
        panic!("{:?}", s.screen())
    };
    assert!(found.customer.phone_verified);
    s.act(Action::Apply).await;
    wait_for(s.terminal(), "the verification to sync", |st| {
        st.queue.pending == 0
    })
    .await;
    assert!(s.terminal().conflicts().unwrap().is_empty());
    let again = s
        .terminal()
        .lookup(&bonuskassa::terminal::Lookup::Phone(
            bonuskassa::domain::phone::Phone::parse(phone).unwrap(),
        ))
        .await
        .unwrap()
        .unwrap();
    assert!(again.customer.phone_verified && !again.offline);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_lets_an_offline_spend_past_the_horizon_and_it_is_audited() {
    let clock = ManualClock::at(chrono::Utc::now());
    let mut rig = Rig::new();
    let mut s = session(&rig, clock.clone()).await;
    // The manager has logged in here before, so the till knows their code offline.
    s.act(Action::Login {
        code: "9999".into(),
    })
    .await;
    s.act(Action::Logout).await;
    s.act(Action::Login {
        code: "1111".into(),
    })
    .await;
    rig.stop_server();
    clock.advance(chrono::Duration::hours(80));

    s.act(Action::OpenReceipt(receipt("r-h", "2000.00"))).await;
    s.act(Action::FindByPhone("+79990000001".into())).await;
    s.act(Action::SetSpend("200".into())).await;
    assert!(
        matches!(
            s.problem(),
            Some(Problem::Offline(
                bonuskassa::terminal::OfflineLimit::HorizonPassed { .. }
            ))
        ),
        "{:?}",
        s.problem()
    );
    let override_with = |code: &str, reason: &str| Action::AllowOfflineSpend {
        manager_code: code.into(),
        reason: reason.into(),
    };
    s.act(override_with("9999", " ")).await;
    assert_eq!(s.problem(), Some(&Problem::ReasonRequired));
    s.act(override_with("1111", "постоянный клиент")).await;
    assert_eq!(s.problem(), Some(&Problem::ManagerOnly));
    s.act(override_with("9999", "постоянный клиент")).await;
    assert_eq!(s.problem(), None);
    let Screen::Customer { priced, .. } = s.screen() else {
        panic!()
    };
    assert_eq!(priced.spend, b("200"));
    s.act(Action::Apply).await;
    assert!(matches!(print(&mut s).await, Some(Outcome::Sale { .. })));

    // The override was for that sale only.
    s.act(Action::OpenReceipt(receipt("r-h2", "2000.00"))).await;
    s.act(Action::FindByPhone("+79990000001".into())).await;
    s.act(Action::SetSpend("10".into())).await;
    assert!(matches!(s.problem(), Some(Problem::Offline(_))));
    s.act(Action::Cancel).await;

    // Back online, the audit event reaches the server with the manager and the reason.
    rig.start_server();
    s.terminal().refresh();
    wait_for(s.terminal(), "the queue to drain", |st| {
        st.queue.pending == 0
    })
    .await;
    let (event, reason) = crate::common::server::audit_events(&rig.server_data)
        .into_iter()
        .next()
        .unwrap();
    assert_eq!(event, "offline_spend_override");
    assert_eq!(reason, "постоянный клиент");
    assert!(s.terminal().conflicts().unwrap().is_empty());
}

/// Registers `phone` «Без кода»: empty questionnaire, the processing consent only, no card.
async fn register_without_code(s: &mut Session, phone: &str) {
    s.act(Action::StartRegistration {
        phone: phone.into(),
    })
    .await;
    s.act(Action::WithoutCode).await;
    s.act(Action::Questionnaire(Questionnaire::default())).await;
    s.act(Action::Consents {
        processing: true,
        advertising: false,
    })
    .await;
    s.act(Action::IssueCard(CardChoice::None)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_waits_while_a_walk_in_registration_or_the_manager_menu_is_open() {
    let rig = Rig::new();
    let mut s = session(&rig, Arc::new(SystemClock)).await;
    manager_menu(&mut s).await;
    s.act(Action::OpenReceipt(receipt("w-1", "100.00"))).await;
    assert_eq!((name(&s), s.problem()), ("manager", Some(&Problem::Busy)));

    s.act(Action::RegisterWalkIn).await;
    s.act(Action::StartRegistration {
        phone: "+7 999 777-11-22".into(),
    })
    .await;
    assert_eq!(name(&s), "register");
    let result = s
        .act_for_register(Action::OpenReceipt(receipt("w-2", "100.00")))
        .await;
    assert_eq!(result, Err(Problem::Busy));
    // The registration is still there, for the same phone, and the refusal is the
    // register's, not the manager's screen's.
    let Screen::Register {
        registration,
        receipt: None,
    } = s.screen()
    else {
        panic!("{:?}", s.screen())
    };
    assert_eq!(registration.phone.as_e164(), "+79997771122");
    assert_eq!(s.problem(), None);
    assert_eq!(s.take_outcome(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_lifts_the_lock_after_too_many_wrong_codes_online_and_offline() {
    let mut rig = Rig::new();
    let mut s = session(&rig, Arc::new(SystemClock)).await;
    let login = |code: &str| Action::Login { code: code.into() };
    let unlock = |code: &str| Action::UnlockLogins { code: code.into() };
    // The manager logs in here once, so the till knows their code offline too.
    s.act(login("9999")).await;
    s.act(Action::Logout).await;
    for _ in 0..5 {
        s.act(login("0000")).await;
    }
    s.act(login("1111")).await;
    assert!(
        matches!(s.problem(), Some(Problem::CashierLocked { .. })),
        "{:?}",
        s.problem()
    );
    // A cashier's code is no manager's: one more wrong code, still locked.
    s.act(unlock("1111")).await;
    assert!(
        matches!(
            s.problem(),
            Some(Problem::WrongCashierCode { .. }) | Some(Problem::CashierLocked { .. })
        ),
        "{:?}",
        s.problem()
    );
    s.act(login("1111")).await;
    assert!(matches!(s.problem(), Some(Problem::CashierLocked { .. })));
    // The manager's code lifts it; the cashier logs in.
    s.act(unlock("9999")).await;
    assert_eq!(s.problem(), None);
    assert_eq!(name(&s), "login");
    s.act(login("1111")).await;
    assert_eq!((name(&s), s.problem()), ("waiting", None));
    s.act(Action::Logout).await;

    // Offline, the till's own lock: the manager who logged in here before lifts it.
    rig.stop_server();
    for _ in 0..5 {
        s.act(login("0000")).await;
    }
    s.act(login("1111")).await;
    assert!(
        matches!(s.problem(), Some(Problem::CashierLocked { .. })),
        "{:?}",
        s.problem()
    );
    s.act(unlock("4242")).await;
    assert!(
        matches!(s.problem(), Some(Problem::WrongCashierCode { .. })),
        "{:?}",
        s.problem()
    );
    s.act(unlock("9999")).await;
    assert_eq!(s.problem(), None);
    s.act(login("1111")).await;
    assert_eq!((name(&s), s.problem()), ("waiting", None));

    // Both unlocks are audited at the server once the queue drains.
    rig.start_server();
    s.terminal()
        .start_sync(crate::common::quick_sync())
        .unwrap();
    wait_for(s.terminal(), "the queue to drain", |st| {
        st.queue.pending == 0 && st.online == Some(true)
    })
    .await;
    let events: Vec<String> = crate::common::server::audit_events(&rig.server_data)
        .into_iter()
        .map(|(event, _)| event)
        .collect();
    assert_eq!(events, ["logins_unlocked", "logins_unlocked"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_cashier_is_logged_out_but_never_in_the_middle_of_something() {
    let rig = Rig::new();
    let clock = ManualClock::at(chrono::Utc::now());
    let mut s = session(&rig, clock.clone()).await;
    let minutes = |m: i64| chrono::Duration::minutes(m);
    assert_eq!(s.terminal().config().idle_logout_s, 900, "the default");
    s.act(Action::Login {
        code: "1111".into(),
    })
    .await;
    // Nearly a quarter of an hour: still in; a tap starts the count again.
    clock.advance(minutes(14));
    assert!(!s.logout_if_idle());
    s.act(Action::OpenManagerMenu).await;
    s.act(Action::Cancel).await;
    clock.advance(minutes(14));
    assert!(!s.logout_if_idle());
    assert_eq!(name(&s), "waiting");
    // A receipt the register handed over waits for the cashier however long it takes.
    s.act(Action::OpenReceipt(receipt("idle-1", "100.00")))
        .await;
    clock.advance(minutes(60));
    assert!(!s.logout_if_idle());
    assert_eq!(name(&s), "find");
    s.act(Action::Cancel).await;
    // Idle on the waiting screen: logged out, and the login screen says why.
    clock.advance(minutes(15));
    assert!(s.logout_if_idle());
    assert_eq!(name(&s), "login");
    assert_eq!(s.problem(), Some(&Problem::LoggedOutIdle { minutes: 15 }));
    assert!(!s.logout_if_idle(), "once");
    s.act(Action::OpenReceipt(receipt("idle-2", "100.00")))
        .await;
    assert_eq!(s.problem(), Some(&Problem::NotLoggedIn));
}

/// The shift report is the manager's: a cashier is refused; from the menu the manager sees
/// the sale the cashier made, opens the shift, closes it (the report then shows the final
/// figures, and the next shift is empty); «Назад» leads back to the menu.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_manager_opens_reads_and_closes_the_shift_from_the_menu() {
    let rig = Rig::new();
    let mut s = session(&rig, Arc::new(SystemClock)).await;
    s.act(Action::Login {
        code: "1111".into(),
    })
    .await;
    let sale = receipt("r-shift", "400.00");
    s.act(Action::OpenReceipt(sale.clone())).await;
    s.act(Action::FindByPhone("+79990000001".into())).await;
    s.act(Action::Apply).await;
    assert!(matches!(print(&mut s).await, Some(Outcome::Sale { .. })));
    s.act(Action::ShowShiftReport).await;
    assert_eq!(s.problem(), Some(&Problem::ManagerOnly));

    s.act(Action::Logout).await;
    manager_menu(&mut s).await;
    // Opening or closing needs the report on screen first.
    s.act(Action::CloseShift).await;
    assert_eq!(s.problem(), Some(&Problem::NothingOpen));
    s.act(Action::ShowShiftReport).await;
    let shown = |s: &Session| match s.screen() {
        Screen::ShiftReport(report) => (**report).clone(),
        other => panic!("{other:?} {:?}", s.problem()),
    };
    let report = shown(&s);
    assert_eq!(report.shift.opened_by, ShiftBy::Implicit);
    assert_eq!(report.cashiers.len(), 1);
    assert_eq!(report.total.receipts, 1);
    assert_eq!(report.total.sum, sale.total());

    s.act(Action::OpenShift).await;
    let open = shown(&s);
    assert_eq!(
        (open.shift.number, open.shift.opened_by),
        (1, ShiftBy::Manager)
    );
    assert_eq!(
        open.shift.opener.as_deref(),
        Some(s.cashier().unwrap().name.as_str())
    );
    assert_eq!(
        open.total, report.total,
        "opened late, it counts the sale before"
    );
    s.act(Action::CloseShift).await;
    let closed = shown(&s);
    assert_eq!(closed.shift.closed_by, Some(ShiftBy::Manager));
    assert_eq!(closed.total, report.total);
    assert_eq!(s.terminal().shift_report().unwrap().shift.number, 2);
    s.act(Action::Cancel).await;
    assert_eq!(name(&s), "manager");
}

/// Registers `phone` with its SMS code, a first name, both consents asked, and a virtual card.
async fn register_with_virtual_card(s: &mut Session, rig: &Rig, phone: &str, name: &str) {
    s.act(Action::StartRegistration {
        phone: phone.into(),
    })
    .await;
    s.act(Action::SendCode).await;
    s.act(Action::EnterCode(last_sms_code(rig.addr).await))
        .await;
    s.act(Action::Questionnaire(Questionnaire {
        first_name: Some(name.into()),
        ..Default::default()
    }))
    .await;
    s.act(Action::Consents {
        processing: true,
        advertising: false,
    })
    .await;
    s.act(Action::IssueCard(CardChoice::Virtual)).await;
    assert_eq!(s.problem(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_card_shows_its_welcome_bonus_and_virtual_number_at_once() {
    let rig = Rig::new();
    let mut s = logged_in(&rig, "1111").await;
    // Two customers one after the other: each card agrees with itself at once.
    for (i, phone) in ["+7 999 610-00-01", "+7 999 610-00-02"]
        .into_iter()
        .enumerate()
    {
        let id = format!("r-new-{i}");
        s.act(Action::OpenReceipt(receipt(&id, "700.00"))).await;
        s.act(Action::FindByPhone(phone.into())).await;
        register_with_virtual_card(&mut s, &rig, phone, "Ольга").await;
        let Screen::Customer { found, priced, .. } = s.screen() else {
            panic!("{:?} {:?}", s.screen(), s.problem())
        };
        // The demo rules' welcome bonus: 100, spendable now, and the spend agrees.
        assert!(!found.offline && !priced.offline);
        assert_eq!(priced.customer.balance, b("100"));
        assert_eq!(found.customer.balance, b("100"));
        assert_eq!(priced.calculation.max_spend, priced.customer.balance);
        let card = found.issued_card.clone().expect("the server issued a card");
        assert!(
            card.len() == 13 && card.starts_with('2') && card.chars().all(|c| c.is_ascii_digit()),
            "{card}"
        );
        assert_eq!(priced.issued_card.as_deref(), Some(card.as_str()));
        // The spend keeps the number: the slip prints it.
        s.act(Action::SetSpend("50".into())).await;
        assert_eq!(s.problem(), None);
        s.act(Action::Apply).await;
        let Some(Outcome::Applied(applied)) = s.take_outcome() else {
            panic!("not applied: {:?}", s.problem())
        };
        let lines = bonuskassa::bridge::loyalty_result(&applied)
            .printable_data
            .lines;
        assert!(lines.contains(&format!("Номер карты: {card}")), "{lines:?}");
        assert!(
            lines.contains(&"Бонусов на счёте: 50".to_string()),
            "{lines:?}"
        );
        s.act(Action::Close {
            receipt_id: applied.receipt.id.clone(),
            printed: applied.receipt.clone(),
            fiscal: None,
        })
        .await;
        assert_eq!((name(&s), s.problem()), ("waiting", None));
    }
    // Found again later, the card is masked: the number was shown and printed once.
    s.act(Action::OpenReceipt(receipt("r-again", "100.00")))
        .await;
    s.act(Action::FindByPhone("+7 999 610-00-01".into())).await;
    let Screen::Customer { found, priced, .. } = s.screen() else {
        panic!("{:?}", s.problem())
    };
    assert_eq!(found.issued_card, None);
    assert_eq!(priced.issued_card, None);
    assert!(found.customer.card_masked.is_some());
    assert_eq!(s.terminal().conflicts().unwrap(), vec![]);
}

/// The registration as it stands on the screen.
fn registration(s: &Session) -> &bonuskassa::checkout::Registration {
    match s.screen() {
        Screen::Register { registration, .. } => registration,
        other => panic!("{other:?} {:?}", s.problem()),
    }
}

/// Walks a registration of `phone` to its card step, «Без кода».
async fn to_the_card_step(s: &mut Session, phone: &str) {
    s.act(Action::StartRegistration {
        phone: phone.into(),
    })
    .await;
    s.act(Action::WithoutCode).await;
    s.act(Action::Questionnaire(Questionnaire::default())).await;
    s.act(Action::Consents {
        processing: true,
        advertising: false,
    })
    .await;
    assert_eq!(registration(s).step, RegistrationStep::Card);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cashier_picks_a_card_status_the_rules_let_them_issue_online_and_offline() {
    let mut rig = Rig::new();
    rig.two_cashier_statuses();
    let mut s = logged_in(&rig, "1111").await;

    // Online: the choice is offered, a status outside it is refused, the pick registers.
    s.act(Action::OpenReceipt(receipt("st-1", "700.00"))).await;
    s.act(Action::FindByPhone("+7 999 620-00-01".into())).await;
    to_the_card_step(&mut s, "+7 999 620-00-01").await;
    let r = registration(&s);
    assert_eq!(r.statuses, ["Стандартная", "Серебряная"]);
    assert_eq!((r.status.as_str(), r.status_picked), ("Стандартная", false));
    s.act(Action::ChooseStatus("Золотая".into())).await;
    assert_eq!(
        s.problem(),
        Some(&Problem::StatusNotIssuable("Золотая".into()))
    );
    s.act(Action::ChooseStatus("Серебряная".into())).await;
    assert_eq!(s.problem(), None);
    assert_eq!(registration(&s).status, "Серебряная");
    s.act(Action::IssueCard(CardChoice::None)).await;
    let Screen::Customer { found, .. } = s.screen() else {
        panic!("{:?} {:?}", s.screen(), s.problem())
    };
    assert!(!found.offline);
    assert_eq!(found.customer.card_status, "Серебряная");
    s.act(Action::Cancel).await;

    // Offline: the till applies the same rule from its cached rules, and the server agrees
    // when the queue drains.
    rig.stop_server();
    s.act(Action::OpenReceipt(receipt("st-2", "700.00"))).await;
    s.act(Action::FindByPhone("+7 999 620-00-02".into())).await;
    to_the_card_step(&mut s, "+7 999 620-00-02").await;
    s.act(Action::ChooseStatus("Серебряная".into())).await;
    s.act(Action::IssueCard(CardChoice::None)).await;
    let Screen::Customer { found, .. } = s.screen() else {
        panic!("{:?} {:?}", s.screen(), s.problem())
    };
    assert!(found.offline);
    assert_eq!(found.customer.card_status, "Серебряная");
    s.act(Action::Cancel).await;
    rig.start_server();
    wait_for(s.terminal(), "the registration to sync", |st| {
        st.queue.pending == 0
    })
    .await;
    let store = crate::common::server::open(&rig.server_data);
    for phone in ["+79996200001", "+79996200002"] {
        let c = bonuskassa::server::store::read(&*store, |r| {
            r.customer(bonuskassa::server::store::CustomerKey::Phone(phone))
        })
        .unwrap()
        .unwrap();
        assert_eq!(c.card_status, "Серебряная", "{phone}");
    }
    assert!(s.terminal().conflicts().unwrap().is_empty());
}

/// Without a configured page, the manager's self-registration QR code points at the
/// customer's page of the till's own server for the till's store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_self_registration_qr_defaults_to_the_servers_customer_page() {
    let rig = Rig::new();
    let mut config = rig.config();
    config.self_registration_url = None;
    let code = crate::common::server::enroll_code(&rig.server_data, chrono::Utc::now());
    let terminal = bonuskassa::terminal::Terminal::enroll(
        &rig.till_data,
        config,
        rig.secrets(),
        &code,
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    let mut s = Session::new(Arc::new(terminal), Arc::new(SystemClock));
    manager_menu(&mut s).await;
    s.act(Action::ShowSelfRegistrationQr).await;
    let Screen::SelfRegistration { url, qr } = s.screen() else {
        panic!("{:?}", s.problem())
    };
    assert_eq!(url, &format!("http://{}/r/store-1", rig.addr));
    assert_eq!(qr.dark.len(), qr.width * qr.width);
    assert_eq!(
        bonuskassa::terminal::default_self_registration_url("https://loyalty.example/", "шоп 1"),
        "https://loyalty.example/r/%D1%88%D0%BE%D0%BF%201"
    );
}
