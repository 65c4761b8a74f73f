//! The owner's rules reach the tills: a version activated in the back office is taken at
//! the till's next refresh, a roll-back too (the till drops the newer version it had), and
//! each refresh reports the till's version and queue to the back office's list.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::server as srv;
use crate::common::{Rig, quick_sync};
use bonuskassa::clock::SystemClock;
use bonuskassa::server::admin;
use bonuskassa::server::store::AccountRole;
use bonuskassa::store::TerminalStore;
use serde_json::{Value, json};

/// The till's refresh period here: 5 s (the shortest `refresh_s`) unless
/// `BONUSKASSA_PICKUP_REFRESH_S` says otherwise (60, the default, measures what a chain
/// gets out of the box).
fn refresh_s() -> u64 {
    std::env::var("BONUSKASSA_PICKUP_REFRESH_S")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
}

/// Waits until the till's cached rules are `version`; how long it took.
async fn picked_up(rig: &Rig, terminal: &bonuskassa::terminal::Terminal, version: i64) -> Duration {
    let started = Instant::now();
    // One refresh period, and the requests a refresh makes.
    let deadline = started + Duration::from_secs(refresh_s() + 15);
    loop {
        if terminal.status().rules_version == Some(version) {
            let cached = TerminalStore::open(&rig.till_data)
                .unwrap()
                .rules()
                .unwrap();
            assert_eq!(cached.map(|(v, _)| v), Some(version));
            return started.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "the till did not take rules version {version}: {:?}",
            terminal.status()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_activated_version_and_a_roll_back_reach_the_till_at_its_next_refresh() {
    let rig = Rig::new();
    let code = srv::enroll_code(&rig.server_data, chrono::Utc::now());
    let mut config = rig.config();
    config.refresh_s = refresh_s();
    let terminal = bonuskassa::terminal::Terminal::enroll(
        &rig.till_data,
        config,
        rig.secrets(),
        &code,
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    terminal.start_sync(quick_sync()).unwrap();
    picked_up(&rig, &terminal, 1).await;

    let http = reqwest::Client::new();
    let server = rig.server.as_ref().unwrap();
    let owner = srv::admin_session(
        &http,
        server,
        &rig.server_data,
        "owner@example.ru",
        AccountRole::Owner,
        &[],
    )
    .await;
    let admin_url = |p: &str| format!("http://{}/api/v1/admin{p}", rig.addr);

    // The till told the back office about itself on its first refresh.
    let list: Value = http
        .get(admin_url("/terminals"))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["app_version"], env!("CARGO_PKG_VERSION"), "{list}");
    assert_eq!(list[0]["queue_length"], 0, "{list}");
    assert!(list[0]["last_sync_at"].is_string(), "{list}");

    let richer = admin::DEMO_RULES.replacen("percent = \"2\" }", "percent = \"4\" }", 1);
    let r = http
        .post(admin_url("/rules"))
        .bearer_auth(&owner)
        .json(&json!({ "text": richer, "activate": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    let took = picked_up(&rig, &terminal, 2).await;
    eprintln!(
        "rules version 2 reached the till {took:?} after its activation (refresh_s = {})",
        refresh_s()
    );
    let cached = TerminalStore::open(&rig.till_data)
        .unwrap()
        .rules()
        .unwrap()
        .unwrap();
    assert_eq!(cached.1, richer);

    let r = http
        .post(admin_url("/rules/rollback"))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let took = picked_up(&rig, &terminal, 1).await;
    eprintln!(
        "the roll-back to version 1 reached the till {took:?} after it (refresh_s = {})",
        refresh_s()
    );
    terminal.stop_sync();
}

/// A till that prices a receipt online with rules newer than its cache takes them at once,
/// not an hour later at its next refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_calculation_with_newer_rules_makes_the_till_fetch_them_at_once() {
    let rig = Rig::new();
    let code = srv::enroll_code(&rig.server_data, chrono::Utc::now());
    let mut config = rig.config();
    config.refresh_s = 3600;
    let terminal = bonuskassa::terminal::Terminal::enroll(
        &rig.till_data,
        config,
        rig.secrets(),
        &code,
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    terminal.start_sync(quick_sync()).unwrap();
    crate::common::wait_for(&terminal, "the cache", |s| {
        s.rules_version == Some(1) && s.cached_customers == 4 && !s.cache.loading
    })
    .await;
    // Activated on the command line, beside the running server (as on another node): the
    // server takes it at its next check of the database.
    let store = bonuskassa::server::store::open(&rig.server_data.as_path().into()).unwrap();
    let actor = bonuskassa::server::backoffice::Actor::cli();
    let richer = admin::DEMO_RULES.replacen("percent = \"2\" }", "percent = \"4\" }", 1);
    bonuskassa::server::backoffice::rules::upload(
        &*store,
        &actor,
        &richer,
        "",
        true,
        chrono::Utc::now(),
    )
    .unwrap();
    let karina = bonuskassa::terminal::Lookup::Phone(
        bonuskassa::domain::phone::Phone::parse("+7 999 000-00-01").unwrap(),
    );
    let found = terminal.lookup(&karina).await.unwrap().unwrap();
    let mut version = 0;
    for _ in 0..100 {
        let priced = terminal
            .calculate(
                &found.customer,
                &crate::common::receipts::receipt("r-1", "1000.00"),
                bonuskassa::domain::money::Bonus::ZERO,
            )
            .await
            .unwrap();
        version = priced.rules_version;
        if version == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(version, 2, "the server never priced with version 2");
    picked_up(&rig, &terminal, 2).await;
    terminal.stop_sync();
}
