//! Budget (SPEC.md §6): the central server answers calculations over loopback on 2 cores at
//! ≥ 3 000 requests/s with p99 ≤ 20 ms; and how many sale operations per second it ingests
//! through `POST /api/v1/operations`.
//!
//! One server runs in-process on 127.0.0.1 with the demo data in a temp dir; the clients run
//! on a tokio runtime of their own, so they never queue behind the server's workers (they
//! still share the machine's cores with it, as a load generator on the same box does).
//! Every run is bounded: fixed request counts, criterion's short sample plan, and the server
//! stops when the fixture drops. Besides criterion's figures, each part prints one line with
//! the figure the budget names, from a fixed run outside criterion's timing.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bonuskassa::server::{self, ManualClock, RunningServer, ServerConfig, admin};
use chrono::{DateTime, TimeZone, Utc};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Client tasks in flight at once: many tills hitting one server, each on a kept-alive
/// connection of the shared pool.
const CONCURRENCY: usize = 32;
/// Calculations per criterion iteration.
const CALC_PER_ITER: u64 = 500;
/// The fixed run whose every latency is kept for p50 and p99.
const CALC_FIXED_RUN: usize = 20_000;
/// Operations per `/operations` batch, as a till's queue drains them.
const OPS_PER_BATCH: usize = 100;
/// Batches in the fixed ingestion run.
const INGEST_FIXED_BATCHES: usize = 20;

const PHONES: [&str; 4] = [
    "+79990000001",
    "+79990000002",
    "+79990000003",
    "+79990000004",
];

/// Goods of a coffee shop: (name, category, price, quantity); a fractional quantity is
/// weighed.
const GOODS: [(&str, &str, &str, &str); 10] = [
    ("Капучино", "coffee", "250.00", "1"),
    ("Латте", "coffee", "270.00", "2"),
    ("Круассан", "bakery", "180.00", "1"),
    ("Сырники", "food", "320.00", "1"),
    ("Печенье на вес", "bakery", "890.00", "0.235"),
    ("Лимонад", "bar", "210.00", "1"),
    ("Чизкейк", "bakery", "290.00", "1"),
    ("Вино красное", "alcohol", "650.00", "1"),
    ("Сэндвич", "food", "360.00", "1"),
    ("Эспрессо", "coffee", "150.00", "3"),
];

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
}

/// A sale receipt of 5 to 10 positions, chosen by `n` so consecutive requests differ.
fn receipt(id: &str, n: usize) -> Value {
    let lines = 5 + n % 6;
    let positions: Vec<Value> = (0..lines)
        .map(|i| {
            let g = (n + i) % GOODS.len();
            let (name, category, price, quantity) = GOODS[g];
            let measure = if quantity.contains('.') { "weight" } else { "piece" };
            json!({ "id": (i + 1).to_string(), "sku": format!("46012345678{g:02}"), "name": name,
                    "category": category, "price": price, "quantity": quantity, "measure": measure })
        })
        .collect();
    json!({ "id": id, "kind": "sale", "at": "2026-11-23T12:00:00+03:00", "positions": positions })
}

/// Fields drop in order: the clients and their connections go first, so the server's
/// graceful stop has no open connection to wait for, and the data dir goes last.
struct Fixture {
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
    server: RunningServer,
    _dir: tempfile::TempDir,
    token: String,
    customers: Vec<String>,
    /// The till's operation counter, carried across every ingestion run.
    seq: u64,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        admin::demo_data(data, t0()).unwrap();
        let code = admin::enroll_code(data, admin::DEMO_STORE, t0()).unwrap();
        let config = ServerConfig::new(data);
        let server = server::spawn(config, ManualClock::at(t0()), "127.0.0.1:0").unwrap();
        // Two workers: the clients' share of the 2 cores, apart from the server's runtime.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(CONCURRENCY)
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let base = format!("{}/api/v1", server.url());
        let (token, customers) = rt.block_on(async {
            let resp = http
                .post(format!("{base}/enroll"))
                .json(&json!({ "code": code, "name": "Касса 1" }))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            let body: Value = resp.json().await.unwrap();
            let token = body["token"].as_str().unwrap().to_string();
            let mut customers = Vec::new();
            for phone in PHONES {
                let resp = http
                    .post(format!("{base}/customers/lookup"))
                    .bearer_auth(&token)
                    .json(&json!({ "phone": phone }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), StatusCode::OK);
                let v: Value = resp.json().await.unwrap();
                customers.push(v["id"].as_str().unwrap().to_string());
            }
            (token, customers)
        });
        Fixture {
            http,
            rt,
            server,
            _dir: dir,
            token,
            customers,
            seq: 0,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.server.url())
    }

    /// Calculation bodies, serialized once so the clients spend their time on HTTP, not on
    /// building JSON: every demo customer with every receipt size.
    fn calc_bodies(&self) -> Arc<Vec<String>> {
        let bodies = (0..self.customers.len() * 6)
            .map(|n| {
                let customer = &self.customers[n % self.customers.len()];
                json!({ "customer_id": customer, "receipt": receipt(&format!("calc-{n}"), n / 4),
                        "spend": "0" })
                .to_string()
            })
            .collect();
        Arc::new(bodies)
    }

    /// Fires `total` calculations from `CONCURRENCY` tasks; returns the wall time and every
    /// request's latency.
    fn fire_calcs(&self, bodies: &Arc<Vec<String>>, total: usize) -> (Duration, Vec<Duration>) {
        let url = Arc::new(self.url("/calc"));
        let auth = Arc::new(format!("Bearer {}", self.token));
        let next = Arc::new(AtomicUsize::new(0));
        self.rt.block_on(async {
            let start = Instant::now();
            let tasks: Vec<_> = (0..CONCURRENCY)
                .map(|_| {
                    let (http, url, auth, next, bodies) = (
                        self.http.clone(),
                        url.clone(),
                        auth.clone(),
                        next.clone(),
                        bodies.clone(),
                    );
                    tokio::spawn(async move {
                        let mut latencies = Vec::new();
                        loop {
                            let n = next.fetch_add(1, Ordering::Relaxed);
                            if n >= total {
                                return latencies;
                            }
                            let sent = Instant::now();
                            let resp = http
                                .post(url.as_str())
                                .header(reqwest::header::AUTHORIZATION, auth.as_str())
                                .header(reqwest::header::CONTENT_TYPE, "application/json")
                                .body(bodies[n % bodies.len()].clone())
                                .send()
                                .await
                                .unwrap();
                            let status = resp.status();
                            // Read the whole answer: that is what a till waits for, and it
                            // frees the connection for the next request.
                            let body = resp.bytes().await.unwrap();
                            assert_eq!(
                                status,
                                StatusCode::OK,
                                "{}",
                                String::from_utf8_lossy(&body)
                            );
                            latencies.push(sent.elapsed());
                        }
                    })
                })
                .collect();
            let mut latencies = Vec::with_capacity(total);
            for t in tasks {
                latencies.extend(t.await.unwrap());
            }
            (start.elapsed(), latencies)
        })
    }

    /// The next batch of sale operations: fresh UUID v7 ids, increasing sequence numbers,
    /// unique receipts, no spend, customers in turn.
    fn sale_batch(&mut self) -> String {
        let at = t0().to_rfc3339();
        let operations: Vec<Value> = (0..OPS_PER_BATCH)
            .map(|_| {
                self.seq += 1;
                let n = self.seq as usize;
                let customer = &self.customers[n % self.customers.len()];
                json!({ "id": uuid::Uuid::now_v7().to_string(), "seq": self.seq, "at": at,
                        "cashier": "Кассир Мария", "cashier_id": 1,
                        "body": { "kind": "sale", "customer_id": customer,
                                  "receipt": receipt(&format!("sale-{n}"), n), "spend": "0" } })
            })
            .collect();
        json!({ "operations": operations }).to_string()
    }

    /// Posts the batches one after another, as one till's queue drains; returns the wall time.
    fn ingest(&self, batches: Vec<String>) -> Duration {
        let url = self.url("/operations");
        self.rt.block_on(async {
            let start = Instant::now();
            for batch in batches {
                let resp = self
                    .http
                    .post(&url)
                    .bearer_auth(&self.token)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(batch)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), StatusCode::OK);
                let v: Value = resp.json().await.unwrap();
                let results = v["results"].as_array().unwrap();
                assert_eq!(results.len(), OPS_PER_BATCH);
                // A rejected sale costs the server less than an applied one: the figure
                // would flatter it.
                for r in results {
                    assert_eq!(r["status"], "applied", "{r}");
                }
            }
            start.elapsed()
        })
    }
}

/// The nearest-rank percentile of sorted latencies, in milliseconds.
fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1000.0
}

fn bench(c: &mut Criterion) {
    // Without `--bench` criterion only checks that each benchmark runs (`cargo test
    // --benches`); the fixed runs shrink then too, so such a check stays quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let mut f = Fixture::new();

    // Calculations first: ingestion adds bonus batches and purchases to the demo customers,
    // which every later calculation would have to read.
    let bodies = f.calc_bodies();
    // Opens the pool's connections and warms the server's caches before anything is timed.
    f.fire_calcs(&bodies, 2 * CONCURRENCY * 10);
    let mut group = c.benchmark_group("server calc");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8))
        .throughput(Throughput::Elements(CALC_PER_ITER));
    group.bench_function(format!("{CONCURRENCY} clients, 5-10 positions"), |b| {
        b.iter_custom(|iters| f.fire_calcs(&bodies, (iters * CALC_PER_ITER) as usize).0)
    });
    group.finish();

    let total = if quick { 1_000 } else { CALC_FIXED_RUN };
    let (elapsed, mut latencies) = f.fire_calcs(&bodies, total);
    latencies.sort_unstable();
    println!(
        "server calc: {:.0} req/s, p50 {:.1} ms, p99 {:.1} ms over {total} requests from {CONCURRENCY} clients (budget ≥ 3000 req/s, p99 ≤ 20 ms)",
        total as f64 / elapsed.as_secs_f64(),
        percentile_ms(&latencies, 50.0),
        percentile_ms(&latencies, 99.0),
    );

    // The fixed ingestion run comes before criterion's, on the smaller database.
    let count = if quick { 2 } else { INGEST_FIXED_BATCHES };
    let batches: Vec<String> = (0..count).map(|_| f.sale_batch()).collect();
    let elapsed = f.ingest(batches);
    println!(
        "server ingestion: {:.0} ops/s over {count} batches of {OPS_PER_BATCH} sales, one after another, with no earlier sales",
        (count * OPS_PER_BATCH) as f64 / elapsed.as_secs_f64(),
    );

    let mut group = c.benchmark_group("server ingestion");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8))
        .throughput(Throughput::Elements(OPS_PER_BATCH as u64));
    group.bench_function(format!("batches of {OPS_PER_BATCH} sales"), |b| {
        b.iter_custom(|iters| {
            // Built outside the timing: the figure is the server's, not the client's JSON.
            let batches = (0..iters).map(|_| f.sale_batch()).collect();
            f.ingest(batches)
        })
    });
    group.finish();

    // Every sale adds a bonus batch and a purchase to one of only four customers; the same
    // run again shows what that history costs each later operation.
    let before = f.seq;
    let batches: Vec<String> = (0..count).map(|_| f.sale_batch()).collect();
    let elapsed = f.ingest(batches);
    println!(
        "server ingestion: {:.0} ops/s over {count} batches of {OPS_PER_BATCH} sales after {before} earlier sales to the {} demo customers",
        (count * OPS_PER_BATCH) as f64 / elapsed.as_secs_f64(),
        f.customers.len(),
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
