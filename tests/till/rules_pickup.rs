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

/// Waits until the till's cached rules are `version`; how long it took.
async fn picked_up(rig: &Rig, terminal: &bonuskassa::terminal::Terminal, version: i64) -> Duration {
    let started = Instant::now();
    // A refresh every 5 s (the shortest `refresh_s`), and the requests it makes.
    let deadline = started + Duration::from_secs(20);
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
    config.refresh_s = 5;
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
    eprintln!("rules version 2 reached the till {took:?} after its activation (refresh_s = 5)");
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
    eprintln!("the roll-back to version 1 reached the till {took:?} after it (refresh_s = 5)");
    terminal.stop_sync();
}
