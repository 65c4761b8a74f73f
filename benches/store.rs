//! Budget (SPEC.md §6): durably queueing one operation (WAL, synchronous=FULL) costs at most
//! 1.5 × a bare SQLite insert + commit with the same settings, measured side by side.

use bonuskassa::protocol::server::OperationBody;
use bonuskassa::sqlite::configure_durable;
use bonuskassa::store::TerminalStore;
use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let bare = rusqlite::Connection::open(dir.path().join("bare.sqlite3")).unwrap();
    configure_durable(&bare).unwrap();
    bare.execute_batch("CREATE TABLE t (seq INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
        .unwrap();
    let mut store = TerminalStore::open(&dir.path().join("terminal")).unwrap();
    // A payload the size of a real consent operation's JSON.
    let payload = "x".repeat(260);
    let mut group = c.benchmark_group("durable enqueue");
    group.bench_function("bare insert + commit", |b| {
        b.iter(|| {
            bare.execute_batch("BEGIN IMMEDIATE").unwrap();
            bare.execute("INSERT INTO t (payload) VALUES (?1)", [&payload])
                .unwrap();
            bare.execute_batch("COMMIT").unwrap();
        })
    });
    group.bench_function("TerminalStore::enqueue", |b| {
        b.iter(|| {
            store
                .enqueue(
                    OperationBody::Consent {
                        customer_id: "0190f7a4-8c1e-7d3a-9b2e-5f4c3d2e1a0b".into(),
                        processing: None,
                        advertising: Some(true),
                    },
                    "Кассир Мария",
                    Some(1),
                    false,
                    Utc::now(),
                    |_, _| Ok(()),
                )
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
