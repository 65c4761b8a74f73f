//! Budget (SPEC.md §6): drain 10 000 queued operations to a server on loopback at
//! ≥ 2 000 operations/s. Client and server share the machine's two cores, as on a till
//! whose server runs in-process for the demo (a real server has cores of its own).

use std::time::{Duration, Instant};

use bonuskassa::protocol::server::OperationBody;
use bonuskassa::server::{self, ServerConfig, SystemClock, admin};
use bonuskassa::store::TerminalStore;
use bonuskassa::sync::client::ServerClient;
use bonuskassa::sync::plan::Backoff;
use bonuskassa::sync::worker::{Drained, drain};
use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};

const QUEUED: usize = 10_000;

struct Setup {
    _dir: tempfile::TempDir,
    _server: server::RunningServer,
    client: ServerClient,
    customers: Vec<String>,
    store: TerminalStore,
    rt: tokio::runtime::Runtime,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    admin::demo_data(&data, Utc::now()).unwrap();
    let code = admin::enroll_code(&data, admin::DEMO_STORE, Utc::now()).unwrap();
    let running = server::spawn(
        ServerConfig::new(&data),
        std::sync::Arc::new(SystemClock),
        "127.0.0.1:0",
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let http = reqwest::Client::new();
    let url = running.url();
    let (token, customers) = rt.block_on(async {
        let e: serde_json::Value = http
            .post(format!("{url}/api/v1/enroll"))
            .json(&serde_json::json!({ "code": code, "name": "bench" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = e["token"].as_str().unwrap().to_string();
        let mut ids = Vec::new();
        for phone in [
            "+79990000001",
            "+79990000002",
            "+79990000003",
            "+79990000004",
        ] {
            let c: serde_json::Value = http
                .post(format!("{url}/api/v1/customers/lookup"))
                .bearer_auth(&token)
                .json(&serde_json::json!({ "phone": phone }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            ids.push(c["id"].as_str().unwrap().to_string());
        }
        (token, ids)
    });
    let client = ServerClient::new(&url, &token, None, Duration::from_secs(30)).unwrap();
    let store = TerminalStore::open(&dir.path().join("till")).unwrap();
    Setup {
        _dir: dir,
        _server: running,
        client,
        customers,
        store,
        rt,
    }
}

/// Queues `n` operations: consents and small sales, as a day at a till makes them.
fn fill(s: &mut Setup, n: usize, round: usize) {
    for i in 0..n {
        let customer = s.customers[i % s.customers.len()].clone();
        let body = if i % 2 == 0 {
            OperationBody::Consent {
                customer_id: customer,
                processing: None,
                advertising: Some(i % 4 == 0),
            }
        } else {
            OperationBody::Sale {
                customer_id: customer,
                receipt: serde_json::from_value(serde_json::json!({ "id": format!("r-{round}-{i}"), "kind": "sale",
                    "at": "2026-11-23T12:00:00+03:00",
                    "positions": [ { "id": "1", "category": "coffee", "price": "234.00", "quantity": "1" } ] }))
                .unwrap(),
                spend: "0".parse().unwrap(),
                verification: None,
                fiscal: None,
                hold: None,
            }
        };
        s.store
            .enqueue(body, "Кассир", Some(1), true, Utc::now(), |_, _| {
                Ok(())
            })
            .unwrap();
    }
}

fn drain_all(s: &mut Setup) -> usize {
    let Setup {
        store, client, rt, ..
    } = s;
    match rt
        .block_on(drain(store, client, 200, 0, Backoff::default()))
        .unwrap()
    {
        Drained::Empty { sent } => sent,
        other => panic!("the queue did not drain: {other:?}"),
    }
}

fn bench(c: &mut Criterion) {
    let mut s = setup();
    let quick = !std::env::args().any(|a| a == "--bench");
    let n = if quick { 200 } else { QUEUED };
    fill(&mut s, n, 0);
    let start = Instant::now();
    let sent = drain_all(&mut s);
    let secs = start.elapsed().as_secs_f64();
    println!(
        "sync drain: {sent} queued operations in {secs:.2} s = {:.0} ops/s (budget ≥ 2000 ops/s)",
        sent as f64 / secs
    );
    let mut group = c.benchmark_group("sync");
    group.sample_size(10);
    group.throughput(criterion::Throughput::Elements(1000));
    let mut round = 1;
    group.bench_function("drain 1000 queued operations", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                fill(&mut s, 1000, round);
                round += 1;
                let t = Instant::now();
                drain_all(&mut s);
                total += t.elapsed();
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
