//! Budgets (SPEC.md §6): the central server answers calculations over loopback on 2 cores at
//! ≥ 3 000 requests/s with p99 ≤ 20 ms; on SQLite it ingests ≥ 3 000 sale operations/s
//! through `POST /api/v1/operations` on a fresh database, and still ≥ 2 500/s once its
//! ledger holds 1 000 000 rows.
//!
//! One server runs in-process on 127.0.0.1 with the demo data in a temp dir; the clients run
//! on a tokio runtime of their own, so they never queue behind the server's workers (they
//! still share the machine's cores with it, as a load generator on the same box does).
//! Every run is bounded: fixed request counts, criterion's short sample plan, and the server
//! stops when the fixture drops. Besides criterion's figures, each part prints one line with
//! the figure the budget names, from a fixed run outside criterion's timing.
//!
//! The million ledger rows are the pathological case of the design that summed every live
//! batch per operation (20 000 sales to 4 customers took ingestion from 2 830 to 510
//! ops/s): four heavy customers with 300 days of history, most of their batches still
//! live. They are written through the library, `ledger::grant` and `ledger::spend` in
//! `store::write` transactions of a few thousand calls on the server's own store (no raw
//! SQL, so every row is what the server itself would write, and the running balances stay
//! right, which the store's census checks). The prefill takes about 25 s on 2 cores and
//! prints how long; `cargo test --benches` (no `--bench`) fills only 20 000 rows. The sales
//! measured after it spend and accrue for those same customers.
//!
//! The measured sales are dated two days before the server's clock ([`SALE_AGE_DAYS`]),
//! so their accruals are spendable at once; one line measures sales made at the clock,
//! whose gold-card accruals all stay pending, on its own.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bonuskassa::server::ledger::{self, Grant, LedgerError, Source, Spend};
use bonuskassa::server::store::{self, StoreError};
use bonuskassa::server::{self, ManualClock, RunningServer, ServerConfig, admin};
use chrono::{DateTime, TimeZone, Utc};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use reqwest::StatusCode;
use serde_json::{Value, json};

use common::{PHONES, receipt};

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
/// The ledger rows the heavy customers hold before the second ingestion budget is measured.
const HEAVY_LEDGER_ROWS: i64 = 1_000_000;
/// The same for `cargo test --benches`, which only checks that the bench runs.
const QUICK_LEDGER_ROWS: i64 = 20_000;
/// Ledger calls per prefill transaction: enough to spread each commit's fsync thin, few
/// enough that no transaction holds the writer for long.
const PREFILL_CALLS_PER_TX: i64 = 5_000;
/// Of every this many prefill calls for a customer, the last is a spend and the others are
/// grants: a spend of [`PREFILL_SPEND`] takes a quarter of what four grants gave, so most
/// batches stay live and the spends still walk the spending order.
const PREFILL_CYCLE: i64 = 5;
/// Kopecks per prefill spend; the grants are 5 000 to 11 000 (8 000 on average).
const PREFILL_SPEND: i64 = 8_000;
/// How long before the server's clock the measured sales were made: a till's queue drained
/// two days late. By then the gold card's one-day activation has passed, so each sale's
/// accrual is spendable at once, as it is for a customer who buys once a day or so. Made
/// at the clock instead, every gold-card accrual of a run stays pending (the clock stands
/// still), and the balance reads, which still sum pending batches one by one, would grow
/// with the run: the pending line below measures that case on its own.
const SALE_AGE_DAYS: i64 = 2;
/// Sales made at the clock before the pending line's run: pending batches per customer are
/// a quarter of it.
const PENDING_SALES: usize = 5_000;
/// The bonuses spent by every second measured sale with spends: whole bonuses, within every
/// demo card's share of the receipt and below the demo rules' SMS-code limit.
const SALE_SPEND: &str = "100";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
}

/// When the measured sales were made (see [`SALE_AGE_DAYS`]).
fn sold_at() -> DateTime<Utc> {
    t0() - chrono::Duration::days(SALE_AGE_DAYS)
}

/// When the calculated receipts were made: `t0` on a Moscow till.
const RECEIPT_AT: &str = "2026-11-23T12:00:00+03:00";

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
                json!({ "customer_id": customer, "receipt": receipt(&format!("calc-{n}"), n / 4, RECEIPT_AT),
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

    /// The next batch of sale operations made at `at`: fresh UUID v7 ids, increasing
    /// sequence numbers, unique receipts, customers in turn. With `spend`, every second sale
    /// spends that many bonuses (a till's mix of paying with bonuses and only collecting
    /// them); without, none does.
    fn sale_batch(&mut self, spend: Option<&str>, at: DateTime<Utc>) -> String {
        let at = at.to_rfc3339();
        let operations: Vec<Value> = (0..OPS_PER_BATCH)
            .map(|_| {
                self.seq += 1;
                let n = self.seq as usize;
                let customer = &self.customers[n % self.customers.len()];
                // Every customer gets both kinds in turn: `n / len` alternates per customer.
                let spend = match spend {
                    Some(s) if (n / self.customers.len()).is_multiple_of(2) => s,
                    _ => "0",
                };
                json!({ "id": uuid::Uuid::now_v7().to_string(), "seq": self.seq, "at": at,
                        "cashier": "Кассир Мария", "cashier_id": 1,
                        "body": { "kind": "sale", "customer_id": customer,
                                  "receipt": receipt(&format!("sale-{n}"), n, &at), "spend": spend } })
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

/// What the prefill wrote, and what it left.
struct Prefilled {
    grants: i64,
    spends: i64,
    /// Ledger rows in the whole store, by its census.
    ledger_entries: i64,
    batches: i64,
    /// Batches of the heavy customers that still hold bonuses and have not burnt.
    live: usize,
    /// The writing alone.
    written_in: Duration,
    /// The census and the count of live batches.
    checked_in: Duration,
}

impl Fixture {
    /// The server's own store: the prefill writes through the library, as the server does.
    fn store(&self) -> &dyn store::Store {
        self.server.server.state().store()
    }

    /// Gives every demo customer one large grant, active at once, so sales may spend on a
    /// database with no history.
    fn grant_each(&self, kopecks: i64) {
        let at = t0() - chrono::Duration::days(1);
        store::write(self.store(), |tx| {
            for c in &self.customers {
                let g = Grant {
                    customer_id: c,
                    amount: kopecks,
                    source: Source::Manual,
                    description: "Ручное изменение: бонусы для замера".into(),
                    active_from: at,
                    burns_at: Some(t0() + chrono::Duration::days(365)),
                    operation_id: None,
                    actor: Some("bench"),
                };
                booked(ledger::grant(tx, &g, at))?;
            }
            Ok(())
        })
        .unwrap();
    }

    /// Writes grants and spends for the demo customers until the store holds `rows` ledger
    /// rows: per customer four grants and then one spend, customers in turn.
    ///
    /// The history spans the 300 days before the clock, in the order it happened: each
    /// grant is active at once and burns a year later, as a purchase accrual does, so every
    /// batch the spends leave is live when the sales come, and the spends (soonest burning
    /// first) take the oldest bonuses, as they would have.
    fn prefill(&self, rows: i64) -> Prefilled {
        let store = self.store();
        let start = Instant::now();
        let before = store::read(store, |r| r.census()).unwrap().ledger_entries;
        let calls_total = (rows - before).max(0);
        let span = chrono::Duration::days(300);
        let first = t0() - span;
        let at = |k: i64| {
            first + chrono::Duration::milliseconds(span.num_milliseconds() * k / calls_total)
        };
        let (mut grants, mut spends) = (0, 0);
        let mut i: i64 = 0;
        while i < calls_total {
            let calls = PREFILL_CALLS_PER_TX.min(calls_total - i);
            let (g, s) = store::write(store, |tx| {
                let (mut g, mut s) = (0, 0);
                for k in i..i + calls {
                    let customer =
                        &self.customers[(k / PREFILL_CYCLE) as usize % self.customers.len()];
                    let now = at(k);
                    if k % PREFILL_CYCLE == PREFILL_CYCLE - 1 {
                        let description = format!("Списание при оплате покупки (чек {k:08})");
                        let spend = Spend {
                            customer_id: customer,
                            amount: PREFILL_SPEND,
                            source: Source::Purchase,
                            description: &description,
                            operation_id: None,
                            actor: Some("Кассир Мария"),
                        };
                        booked(ledger::spend(tx, &spend, now))?;
                        s += 1;
                    } else {
                        let grant = Grant {
                            customer_id: customer,
                            amount: 5_000 + (k % 7) * 1_000,
                            source: Source::Purchase,
                            description: format!("Начисление за покупку (чек {k:08})"),
                            active_from: now,
                            burns_at: Some(now + chrono::Duration::days(365)),
                            operation_id: None,
                            actor: Some("Кассир Мария"),
                        };
                        booked(ledger::grant(tx, &grant, now))?;
                        g += 1;
                    }
                }
                Ok((g, s))
            })
            .unwrap();
            grants += g;
            spends += s;
            i += calls;
        }
        let written_in = start.elapsed();

        let start = Instant::now();
        let census = store::read(store, |r| r.census()).unwrap();
        assert!(census.ledger_entries >= rows, "{census:?}");
        assert_eq!(
            census.unbalanced, 0,
            "the prefill left a wrong running balance"
        );
        let mut live = 0;
        for c in &self.customers {
            let batches = store::read(store, |r| r.batches(c)).unwrap();
            live += batches
                .iter()
                .filter(|b| b.remaining > 0 && b.burns_at.is_none_or(|at| at > t0()))
                .count();
        }
        Prefilled {
            grants,
            spends,
            ledger_entries: census.ledger_entries,
            batches: census.batches,
            live,
            written_in,
            checked_in: start.elapsed(),
        }
    }
}

/// A ledger refusal in the prefill is a bug of the prefill: it must never happen.
fn booked(r: Result<(), LedgerError>) -> Result<(), StoreError> {
    r.map_err(|e| match e {
        LedgerError::Store(e) => e,
        other => panic!("the prefill asked the ledger for something it refuses: {other}"),
    })
}

/// Ops/s of a run of `count` batches.
fn ops_per_s(count: usize, elapsed: Duration) -> f64 {
    (count * OPS_PER_BATCH) as f64 / elapsed.as_secs_f64()
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
    common::warn_if_busy("server");
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
    let batches: Vec<String> = (0..count).map(|_| f.sale_batch(None, sold_at())).collect();
    let elapsed = f.ingest(batches);
    println!(
        "server ingestion: {:.0} ops/s over {count} batches of {OPS_PER_BATCH} sales, one after another, with no earlier sales (budget ≥ 3000 ops/s)",
        ops_per_s(count, elapsed),
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
            let batches = (0..iters).map(|_| f.sale_batch(None, sold_at())).collect();
            f.ingest(batches)
        })
    });
    group.finish();

    // Every sale adds a bonus batch and a purchase to one of only four customers; the same
    // run again shows what that history costs each later operation.
    let before = f.seq;
    let batches: Vec<String> = (0..count).map(|_| f.sale_batch(None, sold_at())).collect();
    let elapsed = f.ingest(batches);
    println!(
        "server ingestion: {:.0} ops/s over {count} batches of {OPS_PER_BATCH} sales after {before} earlier sales to the {} demo customers",
        ops_per_s(count, elapsed),
        f.customers.len(),
    );

    // Sales made at the clock: every gold-card accrual stays pending, and a balance still
    // sums the pending batches one by one (the running balance covers the rest).
    let pending = if quick {
        2 * OPS_PER_BATCH
    } else {
        PENDING_SALES
    };
    let batches: Vec<String> = (0..pending / OPS_PER_BATCH)
        .map(|_| f.sale_batch(None, t0()))
        .collect();
    f.ingest(batches);
    let batches: Vec<String> = (0..count).map(|_| f.sale_batch(None, t0())).collect();
    let elapsed = f.ingest(batches);
    println!(
        "server ingestion: {:.0} ops/s over {count} batches of {OPS_PER_BATCH} sales made at the clock, after {pending} such sales whose accruals are all still pending (the gold card activates a day later; the clock stands still) (reported)",
        ops_per_s(count, elapsed),
    );
    drop(f);

    // The same sale mix the heavy customers get below, with spends, on a fresh database: what
    // the million rows cost is the difference between the two lines, not the spends.
    let mut f = Fixture::new();
    f.grant_each(100_000_000);
    let batches: Vec<String> = (0..count)
        .map(|_| f.sale_batch(Some(SALE_SPEND), sold_at()))
        .collect();
    let elapsed = f.ingest(batches);
    println!(
        "server ingestion: {:.0} ops/s over {count} batches of {OPS_PER_BATCH} sales, every second one spending {SALE_SPEND} bonuses, on a fresh database (one grant per customer) (budget ≥ 3000 ops/s)",
        ops_per_s(count, elapsed),
    );
    drop(f);

    let mut f = Fixture::new();
    let rows = if quick {
        QUICK_LEDGER_ROWS
    } else {
        HEAVY_LEDGER_ROWS
    };
    let p = f.prefill(rows);
    println!(
        "server prefill: {} ledger rows ({} grants, {} spends) for the {} demo customers in {:.1} s ({:.0} rows/s) through ledger::grant/spend, {PREFILL_CALLS_PER_TX} calls per transaction; {} batches, {} still live; census and live count {:.1} s",
        p.ledger_entries,
        p.grants,
        p.spends,
        f.customers.len(),
        p.written_in.as_secs_f64(),
        (p.grants + p.spends) as f64 / p.written_in.as_secs_f64(),
        p.batches,
        p.live,
        p.checked_in.as_secs_f64(),
    );
    let batches: Vec<String> = (0..count)
        .map(|_| f.sale_batch(Some(SALE_SPEND), sold_at()))
        .collect();
    let elapsed = f.ingest(batches);
    println!(
        "server ingestion: {:.0} ops/s over {count} batches of {OPS_PER_BATCH} sales, every second one spending {SALE_SPEND} bonuses, to the {} customers holding {} ledger rows (budget ≥ 2500 ops/s)",
        ops_per_s(count, elapsed),
        f.customers.len(),
        p.ledger_entries,
    );

    let mut group = c.benchmark_group("server ingestion after 1M ledger rows");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8))
        .throughput(Throughput::Elements(OPS_PER_BATCH as u64));
    group.bench_function(
        format!("batches of {OPS_PER_BATCH} sales, half spending"),
        |b| {
            b.iter_custom(|iters| {
                let batches = (0..iters)
                    .map(|_| f.sale_batch(Some(SALE_SPEND), sold_at()))
                    .collect();
                f.ingest(batches)
            })
        },
    );
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
