//! The terminal's queue drained to a real server on 127.0.0.1: answers recorded, rejections
//! become conflicts, a server that is gone or refuses the token loses nothing.

use std::time::Duration;

use bonuskassa::protocol::server::OperationBody;
use bonuskassa::server::{ManualClock, admin};
use bonuskassa::store::TerminalStore;
use bonuskassa::sync::client::ServerClient;
use bonuskassa::sync::plan::{Backoff, PauseReason};
use bonuskassa::sync::worker::{Drained, drain};
use chrono::{TimeZone, Utc};

use crate::common::receipts::{ReceiptJson, coffee};
use crate::common::server as srv;

fn sale(customer: &str, receipt: &str, spend: &str) -> OperationBody {
    OperationBody::Sale {
        customer_id: customer.into(),
        receipt: ReceiptJson::sale(receipt).line(coffee("200.00")).receipt(),
        spend: spend.parse().unwrap(),
        verification: None,
        fiscal: None,
        hold: None,
    }
}

#[tokio::test]
async fn a_queue_drains_to_the_server_and_survives_its_absence() {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let running = srv::demo(&data, ManualClock::at(t0), false);
    let http = reqwest::Client::new();
    let enrolled = srv::enroll(&http, &running, &data, t0).await;
    let token = enrolled.token.as_str();
    let customer: serde_json::Value = http
        .post(format!("{}/api/v1/customers/lookup", running.url()))
        .bearer_auth(token)
        .json(&serde_json::json!({ "phone": "+79990000001" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let customer = customer["id"].as_str().unwrap().to_string();

    let mut store = TerminalStore::open(&dir.path().join("till")).unwrap();
    for i in 0..25 {
        store
            .enqueue(
                sale(&customer, &format!("r-{i}"), "0"),
                "Мария",
                Some(1),
                false,
                Utc::now(),
                |_, _| Ok(()),
            )
            .unwrap();
    }
    // 100 000 bonuses is far more than Карина has: the server refuses it for good.
    store
        .enqueue(
            sale(&customer, "r-big", "100000"),
            "Мария",
            Some(1),
            true,
            Utc::now(),
            |_, _| Ok(()),
        )
        .unwrap();
    let client = ServerClient::new(&running.url(), token, None, Duration::from_secs(5)).unwrap();
    let backoff = Backoff::default();
    let d = drain(&mut store, &client, 10, 0, backoff).await.unwrap();
    assert_eq!(d, Drained::Empty { sent: 26 });
    let st = store.queue_status().unwrap();
    assert_eq!((st.pending, st.conflicts), (0, 1));

    // The server goes away: a new operation waits, nothing is lost.
    let url = running.url();
    running.stop().unwrap();
    store
        .enqueue(
            sale(&customer, "r-late", "0"),
            "Мария",
            Some(1),
            false,
            Utc::now(),
            |_, _| Ok(()),
        )
        .unwrap();
    let client = ServerClient::new(&url, token, None, Duration::from_millis(500)).unwrap();
    let d = drain(&mut store, &client, 10, 0, backoff).await.unwrap();
    assert!(matches!(d, Drained::RetryAfter { sent: 0, .. }), "{d:?}");
    assert_eq!(store.queue_status().unwrap().pending, 1);

    // Back, but with the token revoked: the queue pauses and says why.
    let running = srv::spawn(srv::config(&data, false), ManualClock::at(t0));
    admin::revoke_terminal(&data, &enrolled.terminal_id, t0).unwrap();
    let client = ServerClient::new(&running.url(), token, None, Duration::from_secs(5)).unwrap();
    let d = drain(&mut store, &client, 10, 0, backoff).await.unwrap();
    assert_eq!(
        d,
        Drained::Paused {
            sent: 0,
            reason: PauseReason::Unauthorized
        }
    );
    assert_eq!(store.queue_status().unwrap().pending, 1);
}
