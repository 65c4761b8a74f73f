//! Budgets: when the server does not answer, the offline answer is on screen within 2 s
//! (SPEC.md §6); and once it has not answered, later lookups and calculations answer from
//! the cache within 50 ms (issue 14: the till waits for a silent server once per outage).
//!
//! A till with the default 1.5 s timeout points at a server that accepts connections and
//! never answers (the worst case: a refused connection falls back at once). The first
//! group is what the cashier's first lookup of an outage does, on a till that has not yet
//! met the silence (a fresh one each iteration): ask the server, give up at the timeout,
//! answer from the cache. The second is every lookup and calculation after it, while the
//! till knows the server is silent (no sync worker runs, so no probe ends the silence).
//! The till is set up without a server: its secrets, rules and one cached customer are
//! written directly.

use std::sync::Arc;
use std::time::Duration;

use bonuskassa::clock::SystemClock;
use bonuskassa::domain::money::Bonus;
use bonuskassa::domain::phone::Phone;
use bonuskassa::domain::receipt::Receipt;
use bonuskassa::protocol::lookup_hash;
use bonuskassa::protocol::server::FeedCustomer;
use bonuskassa::secrets::{MemoryStore, SecretName, SecretStore, SecretValue};
use bonuskassa::store::TerminalStore;
use bonuskassa::terminal::{Lookup, Terminal, TerminalConfig};
use chrono::Utc;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

const KEY_HEX: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn fallback(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temp dir");
    // A "server" that takes the connection and says nothing.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let addr = silent.local_addr().expect("an address");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in silent.incoming().flatten() {
            held.push(conn);
        }
    });

    let phone = Phone::parse("+79990000001").expect("a phone");
    {
        let mut store = TerminalStore::open(dir.path()).expect("the store");
        store
            .put_rules(1, bonuskassa::server::admin::DEMO_RULES, Utc::now())
            .expect("rules");
        let key: Vec<u8> = (0..KEY_HEX.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&KEY_HEX[i..i + 2], 16).expect("hex"))
            .collect();
        let customer = FeedCustomer {
            id: "c-1".into(),
            phone_hash: lookup_hash(&key, phone.as_e164()),
            card_hash: None,
            phone_masked: phone.masked(),
            name: "Карина С.".into(),
            card_status: "Стандартная".into(),
            phone_verified: true,
            balance: Bonus::from_kopecks(50_000),
            pending: Bonus::ZERO,
            seq: 1,
            consent_processing: true,
            consent_advertising: false,
            gone: false,
        };
        store
            .apply_feed(&[customer], 1, Utc::now())
            .expect("the cache");
        // Synced a moment ago: the offline limits let the customer spend.
        store.set_last_sync(Utc::now()).expect("the last sync");
    }
    let secrets: Arc<dyn SecretStore> = Arc::new(MemoryStore::new());
    secrets
        .set(SecretName::TerminalToken, &SecretValue::new("bench-token"))
        .expect("token");
    secrets
        .set(SecretName::CacheKey, &SecretValue::new(KEY_HEX))
        .expect("key");
    let config = TerminalConfig::new(
        &format!("http://{addr}"),
        "Касса 1",
        "memory".parse().expect("backend"),
    );
    assert_eq!(
        config.timeout(),
        Duration::from_millis(1500),
        "the default timeout"
    );
    let open = || {
        Terminal::open_with(
            dir.path(),
            config.clone(),
            secrets.clone(),
            Arc::new(SystemClock),
        )
        .expect("the till")
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let lookup = Lookup::Phone(phone);

    let mut group = c.benchmark_group("offline fallback");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("first lookup of an outage, 1.5 s timeout", |b| {
        b.iter_batched(
            open,
            |terminal| {
                let found = runtime
                    .block_on(terminal.lookup(&lookup))
                    .expect("a lookup")
                    .expect("the cached customer");
                assert!(found.offline && terminal.status().silent);
                // The till goes with the measurement: its store closes outside it.
                (found, terminal)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();

    // The outage has begun: this till's first lookup waited, and nothing ends the silence.
    let terminal = open();
    let found = runtime
        .block_on(terminal.lookup(&lookup))
        .expect("a lookup")
        .expect("the cached customer");
    assert!(found.offline && terminal.status().silent);
    let receipt: Receipt = serde_json::from_str(RECEIPT).expect("the receipt");
    let spend = Bonus::from_kopecks(10_000);
    let mut group = c.benchmark_group("server known silent");
    group.bench_function("lookup", |b| {
        b.iter(|| {
            let found = runtime
                .block_on(terminal.lookup(&lookup))
                .expect("a lookup")
                .expect("the cached customer");
            assert!(found.offline);
            found
        })
    });
    group.bench_function("calculation", |b| {
        b.iter(|| {
            let priced = runtime
                .block_on(terminal.calculate(&found.customer, &receipt, spend))
                .expect("a calculation");
            assert!(priced.offline && priced.calculation.spent == spend);
            priced
        })
    });
    group.finish();
    assert!(terminal.status().silent, "nothing ended the silence");
}

/// A receipt of the demo store: a coffee and two croissants.
const RECEIPT: &str = r#"{ "id": "bench-1", "kind": "sale", "at": "2026-11-23T12:00:00+03:00",
  "positions": [
    { "id": "1", "name": "Кофе", "category": "coffee", "price": "1000.00", "quantity": "1" },
    { "id": "2", "name": "Круассан", "category": "bakery", "price": "150.00", "quantity": "2" } ] }"#;

criterion_group!(benches, fallback);
criterion_main!(benches);
