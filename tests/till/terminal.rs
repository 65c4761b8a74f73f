//! The till's library API against a real server on 127.0.0.1: enrollment into the secret
//! store, online-first lookups and calculations, the offline fallback with its limits, the
//! sync worker's status, and a queue that drains when the server is back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{Rig, b, quick_sync, receipt, return_of, wait_for};
use bonuskassa::clock::{ManualClock, SystemClock};
use bonuskassa::domain::money::Bonus;
use bonuskassa::domain::phone::Phone;
use bonuskassa::protocol::server::{Questionnaire, Role, SmsPurpose};
use bonuskassa::secrets::SecretName;
use bonuskassa::server::admin;
use bonuskassa::store::TerminalStore;
use bonuskassa::sync::plan::PauseReason;
use bonuskassa::terminal::{
    Lookup, NewCustomer, OfflineLimit, ReturnSale, Terminal, TerminalConfig, TerminalError,
};
use chrono::Utc;

fn karina() -> Lookup {
    Lookup::Phone(Phone::parse("+7 999 000-00-01").unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrollment_keeps_secrets_only_in_the_secret_store() {
    let rig = Rig::new();
    let terminal = rig.enroll(Arc::new(SystemClock)).await;
    let secrets = rig.secrets();
    let token = secrets.get(SecretName::TerminalToken).unwrap().unwrap();
    let key = secrets.get(SecretName::CacheKey).unwrap().unwrap();
    assert!(!token.is_empty() && key.expose().len() == 64);
    drop(terminal);

    // Not in the config file, not in the database.
    let config = std::fs::read_to_string(TerminalConfig::path(&rig.till_data)).unwrap();
    assert!(!config.contains(token.expose()) && !config.contains(key.expose()));
    let text = crate::common::text_of_files(&rig.till_data);
    assert!(!text.contains(token.expose()) && !text.contains(key.expose()));

    // Reopened from the data dir and the same secret store.
    let reopened = Terminal::open_with(
        &rig.till_data,
        TerminalConfig::load(&rig.till_data).unwrap(),
        rig.secrets(),
        Arc::new(SystemClock),
    )
    .unwrap();
    let cashier = reopened.login("1111").await.unwrap();
    assert_eq!(cashier.role, Role::Cashier);
    assert!(!cashier.offline);

    // Without the token the till says it is not enrolled.
    secrets.delete(SecretName::TerminalToken).unwrap();
    let err = Terminal::open_with(
        &rig.till_data,
        rig.config(),
        rig.secrets(),
        Arc::new(SystemClock),
    )
    .unwrap_err();
    assert!(matches!(
        err,
        TerminalError::NotEnrolled(SecretName::TerminalToken)
    ));
    assert!(err.to_string().contains("enroll"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_first_then_offline_from_the_cache_then_the_queue_drains() {
    let mut rig = Rig::new();
    let terminal = rig.enroll(Arc::new(SystemClock)).await;
    terminal.start_sync(quick_sync()).unwrap();
    wait_for(&terminal, "the cache", |s| {
        s.cached_customers == 4 && !s.cache.loading && s.rules_version.is_some()
    })
    .await;
    let status = terminal.status();
    assert_eq!(status.online, Some(true));
    assert_eq!(status.cache.total, 4);
    assert_eq!(status.cache.loaded, 4);
    assert!(status.last_sync.is_some());

    let cashier = terminal.login("1111").await.unwrap();
    let manager = terminal.login("9999").await.unwrap();
    assert!(manager.is_manager());

    // Online: the server answers.
    let found = terminal.lookup(&karina()).await.unwrap().unwrap();
    assert!(!found.offline);
    assert_eq!(found.customer.balance, b("500"));
    let online = terminal
        .calculate(&found.customer, &receipt("r-online", "2000.00"), b("100"))
        .await
        .unwrap();
    assert!(!online.offline);
    let op = terminal.sell(&cashier, &online, None).unwrap();
    wait_for(&terminal, "the online sale to sync", |s| {
        s.queue.pending == 0
    })
    .await;
    assert_eq!(rig.applied(&op.id), 1);

    // The server goes away.
    rig.stop_server();
    let started = Instant::now();
    let found = terminal.lookup(&karina()).await.unwrap().unwrap();
    assert!(found.offline);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(found.customer.name, "Карина С.");
    assert_eq!(terminal.status().online, Some(false));
    // The spend made online a moment ago is off the cached balance.
    assert_eq!(found.customer.balance, b("400"));

    // A cashier who logged in before can log in offline; an unknown code cannot.
    let again = terminal.login("1111").await.unwrap();
    assert!(again.offline);
    assert!(matches!(
        terminal.login("1234").await,
        Err(TerminalError::WrongCashierCode)
    ));

    // Offline spend within the limits works; above the per-purchase cap it is refused.
    let priced = terminal
        .calculate(&found.customer, &receipt("r-offline", "2000.00"), b("50"))
        .await
        .unwrap();
    assert!(priced.offline);
    assert_eq!(priced.calculation.spent, b("50"));
    let sale = terminal.sell(&cashier, &priced, None).unwrap();
    assert!(sale.offline);
    let rich = terminal
        .lookup(&Lookup::Phone(Phone::parse("+79990000003").unwrap()))
        .await
        .unwrap()
        .unwrap();
    let err = terminal
        .calculate(&rich.customer, &receipt("r-big", "9000.00"), b("1500"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            TerminalError::Offline(OfflineLimit::PerOperation { .. })
                | TerminalError::Offline(OfflineLimit::NeedsCode { .. })
        ),
        "{err}"
    );

    // Offline registration: only «Без кода»; an SMS code needs the server.
    let phone = Phone::parse("+7 999 555-12-34").unwrap();
    assert!(matches!(
        terminal.send_code(&phone, SmsPurpose::Registration).await,
        Err(TerminalError::NeedsServer(_))
    ));
    let (walk_in, registration) = terminal
        .register(
            &cashier,
            NewCustomer {
                phone: phone.clone(),
                verification: None,
                questionnaire: Questionnaire {
                    first_name: Some("Олег".into()),
                    last_name: Some("Тестов".into()),
                    ..Default::default()
                },
                consent_processing: true,
                consent_advertising: false,
                card: None,
                card_status: None,
            },
        )
        .unwrap();
    assert!(!walk_in.phone_verified);
    let again = terminal
        .lookup(&Lookup::Phone(phone.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.customer.id, walk_in.id);
    // They accrue offline but may not spend.
    let accrual = terminal
        .calculate(&walk_in, &receipt("r-walk-in", "500.00"), Bonus::ZERO)
        .await
        .unwrap();
    assert!(accrual.calculation.accrued > Bonus::ZERO);
    let walk_in_sale = terminal.sell(&cashier, &accrual, None).unwrap();

    // A partial return of the offline sale, computed from the kept sale.
    let kept = terminal
        .find_return_sale(&return_of("ret-1", "r-offline", "1"))
        .await
        .unwrap();
    assert_eq!(kept, ReturnSale::Kept, "offline, the sale kept here");
    let preview = terminal
        .preview_return(&return_of("ret-1", "r-offline", "1"), &kept)
        .unwrap();
    let (result, ret) = terminal
        .make_return(&cashier, &return_of("ret-1", "r-offline", "1"), &kept)
        .unwrap();
    assert_eq!(preview, result);
    let err = terminal
        .make_return(&cashier, &return_of("ret-2", "r-offline", "2"), &kept)
        .unwrap_err();
    assert!(matches!(err, TerminalError::Return(_)), "{err}");

    let status = terminal.status();
    assert_eq!(status.queue.pending, 4);
    assert!(status.queue.oldest_pending_at.is_some());
    assert_eq!(status.queue.unsynced_offline_spend, 5000);

    // The server is back: everything drains, each operation applied once.
    rig.start_server();
    terminal.refresh();
    wait_for(&terminal, "the queue to drain", |s| {
        s.queue.pending == 0 && s.online == Some(true)
    })
    .await;
    for id in [&sale.id, &registration.id, &walk_in_sale.id, &ret.id] {
        assert_eq!(rig.applied(id), 1, "{id}");
    }
    assert!(terminal.conflicts().unwrap().is_empty());
    let found = terminal.lookup(&karina()).await.unwrap().unwrap();
    assert!(!found.offline);
    // 500 − 100 spent online − 50 spent offline, plus the demo rules' first-purchase gift
    // (100), plus what the two sales accrued (active at once on a «Стандартная» card), plus
    // the refund, minus the claw-back of the return.
    let expected = b("450") + online.calculation.accrued + priced.calculation.accrued
        - result.clawed_back
        + result.refunded;
    assert_eq!(found.customer.balance, expected);
    // The refreshed cache agrees with the server.
    terminal.refresh();
    wait_for(&terminal, "the cache to catch up", |s| !s.cache.loading).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let cached = terminal.lookup_cached(&karina()).unwrap().unwrap();
    assert_eq!(cached.balance, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_horizon_offline_spend_stops_but_accrual_goes_on() {
    let mut rig = Rig::new();
    let clock = ManualClock::at(Utc::now());
    let terminal = rig.enroll(clock.clone()).await;
    terminal.start_sync(quick_sync()).unwrap();
    wait_for(&terminal, "the cache", |s| s.cached_customers == 4).await;
    let cashier = terminal.login("1111").await.unwrap();
    rig.stop_server();
    clock.advance(chrono::Duration::hours(73));

    let found = terminal.lookup(&karina()).await.unwrap().unwrap();
    assert!(found.offline);
    let err = terminal
        .calculate(&found.customer, &receipt("r-1", "2000.00"), b("10"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            TerminalError::Offline(OfflineLimit::HorizonPassed { hours: 72 })
        ),
        "{err}"
    );
    let accrual = terminal
        .calculate(&found.customer, &receipt("r-1", "2000.00"), Bonus::ZERO)
        .await
        .unwrap();
    assert_eq!(accrual.calculation.max_spend, Bonus::ZERO);
    assert!(accrual.calculation.accrued > Bonus::ZERO);
    terminal.sell(&cashier, &accrual, None).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_with_an_sms_code_and_a_manual_change_online() {
    let rig = Rig::new();
    let terminal = rig.enroll(Arc::new(SystemClock)).await;
    terminal.start_sync(quick_sync()).unwrap();
    wait_for(&terminal, "the cache", |s| s.cached_customers == 4).await;
    let cashier = terminal.login("1111").await.unwrap();
    let phone = Phone::parse("8 (999) 777-00-11").unwrap();
    let sent = terminal
        .send_code(&phone, SmsPurpose::Registration)
        .await
        .unwrap();
    assert!(sent.resend_after_s > 0);
    let inbox: serde_json::Value = reqwest::get(format!("http://{}/api/v1/demo/sms", rig.addr))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = inbox["messages"][0]["text"].as_str().unwrap();
    let code: String = text.chars().filter(|c| c.is_ascii_digit()).collect();
    assert_eq!(code.len(), 6, "{text}");

    let wrong = terminal
        .verify_code(&phone, SmsPurpose::Registration, "000000")
        .await;
    assert!(matches!(wrong, Err(TerminalError::Client(_))));
    let proof = terminal
        .verify_code(&phone, SmsPurpose::Registration, &code)
        .await
        .unwrap();
    let (customer, op) = terminal
        .register(
            &cashier,
            NewCustomer {
                phone: phone.clone(),
                verification: Some(proof),
                questionnaire: Questionnaire::default(),
                consent_processing: true,
                consent_advertising: true,
                card: None,
                card_status: None,
            },
        )
        .unwrap();
    assert!(customer.phone_verified);
    wait_for(&terminal, "the registration to sync", |s| {
        s.queue.pending == 0
    })
    .await;
    assert_eq!(rig.applied(&op.id), 1);
    let found = terminal
        .lookup(&Lookup::Phone(phone))
        .await
        .unwrap()
        .unwrap();
    assert!(!found.offline && found.customer.phone_verified);

    // A cashier may not change a balance; a manager may.
    assert!(matches!(
        terminal.manual_change(&cashier, &customer.id, b("100"), "подарок", None),
        Err(TerminalError::NotPermitted(_))
    ));
    let manager = terminal.login("9999").await.unwrap();
    let change = terminal
        .manual_change(&manager, &customer.id, b("100"), "подарок", None)
        .unwrap();
    wait_for(&terminal, "the change to sync", |s| s.queue.pending == 0).await;
    assert_eq!(rig.applied(&change.id), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_offline_spend_becomes_a_conflict_and_a_revoked_token_pauses() {
    let mut rig = Rig::new();
    let terminal = rig.enroll(Arc::new(SystemClock)).await;
    terminal.start_sync(quick_sync()).unwrap();
    wait_for(&terminal, "the cache", |s| s.cached_customers == 4).await;
    let cashier = terminal.login("1111").await.unwrap();
    rig.stop_server();
    let found = terminal.lookup(&karina()).await.unwrap().unwrap();
    let priced = terminal
        .calculate(&found.customer, &receipt("r-1", "3000.00"), b("400"))
        .await
        .unwrap();
    let sale = terminal.sell(&cashier, &priced, None).unwrap();

    // Meanwhile Карина spent her bonuses at another till: the server refuses this one.
    // (Changed while the server is down: once it is up the sync worker sends at once.)
    rig.spend_elsewhere("+79990000001");
    rig.start_server();
    terminal.refresh();
    wait_for(&terminal, "the conflict", |s| s.queue.conflicts == 1).await;
    let conflicts = terminal.conflicts().unwrap();
    assert_eq!(conflicts[0].operation_id, sale.id);
    assert_eq!(conflicts[0].reason, "INSUFFICIENT_BALANCE");
    assert!(conflicts[0].offline);
    // The manager's list names the customer and the receipt, and words the reason itself.
    assert_eq!(conflicts[0].receipt.as_deref(), Some("r-1"));
    assert_eq!(
        conflicts[0].customer.as_deref(),
        Some(found.customer.name.as_str())
    );
    assert_eq!(
        conflicts[0].reject_reason(),
        Some(bonuskassa::protocol::server::RejectReason::InsufficientBalance)
    );
    let manager = terminal.login("9999").await.unwrap();
    assert!(
        terminal
            .resolve_conflict(&manager, &conflicts[0].operation_id)
            .unwrap()
    );
    assert!(terminal.conflicts().unwrap().is_empty());

    // The terminal's token is revoked: the queue pauses and says so.
    let terminal_id = TerminalStore::open(&rig.till_data)
        .unwrap()
        .get_meta("terminal_id")
        .unwrap()
        .unwrap();
    admin::revoke_terminal(&rig.server_data, &terminal_id, Utc::now()).unwrap();
    terminal
        .calculate_offline(&found.customer, &receipt("r-2", "100.00"), Bonus::ZERO)
        .and_then(|p| terminal.sell(&cashier, &p, None))
        .unwrap();
    wait_for(&terminal, "the pause", |s| s.paused.is_some()).await;
    assert_eq!(terminal.status().paused, Some(PauseReason::Unauthorized));
    assert_eq!(terminal.status().queue.pending, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_installers_connection_test() {
    let mut rig = Rig::new();
    let url = format!("http://{}", rig.addr);
    let took = bonuskassa::terminal::probe_server(&url, None, Duration::from_secs(2), None)
        .await
        .unwrap();
    assert!(took < Duration::from_secs(2));
    rig.stop_server();
    let err = bonuskassa::terminal::probe_server(&url, None, Duration::from_secs(2), None)
        .await
        .unwrap_err();
    assert!(err.is_offline(), "{err}");
    let err = bonuskassa::terminal::probe_server(
        "http://loyalty.example",
        None,
        Duration::from_secs(2),
        None,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("https://"), "{err}");
}
