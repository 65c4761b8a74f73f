//! The fleet simulator (`bonuskassa-server fleet-sim`): many simulated tills against one
//! or more server nodes, then a check from the database that nothing was lost or doubled.
//!
//! Each till does what a real one does, through the till's own HTTP client
//! ([`crate::sync::client::ServerClient`]) and its own retry rules ([`crate::sync::plan`]):
//! it enrolls with a one-time code, a cashier logs in, it pulls the customer feed, and for
//! each operation it looks a customer up and calculates before it queues a sale with a spend,
//! a return of one of its own earlier sales, or a walk-in registration «Без кода». Queued
//! operations go out in batches with the till's sequence numbers; a batch the server did
//! not answer is sent again, byte for byte, and some answered batches are sent again too, as
//! a till whose answer was lost on the way does. Every till numbers its receipts from 1, as
//! registers do.
//!
//! Afterwards the simulator reads the store: every operation id it sent must be recorded
//! once (0 lost), no operation may have written its history lines twice (0 doubled), every
//! customer's running balance must equal their batches and their history, and each resent
//! batch must have come back `duplicate` with the original answers.
//!
//! It is a load tool, not a test: it is never part of `cargo test` at full size (the
//! contract suite runs a small fleet).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::server::admin;
use crate::server::auth;
use crate::server::ledger::{self, Grant, Source};
use crate::server::store::{self, Census, Location, NewCustomer, Store, StoreError};

mod till;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// The database the nodes serve: prepared before, checked after.
    pub location: Location,
    /// Nodes already running (`http://127.0.0.1:8700`, …); empty: start `nodes` of them.
    pub servers: Vec<String>,
    /// Server processes to start on `location` when `servers` is empty.
    pub nodes: usize,
    /// The `bonuskassa-server` executable that starts them.
    pub server_exe: PathBuf,
    pub tills: usize,
    /// Operations each till queues.
    pub ops_per_till: usize,
    /// Operations per `/operations` request.
    pub batch: usize,
    /// Tills working at the same moment.
    pub concurrency: usize,
    /// Customers made before the tills start, each with bonuses to spend.
    pub customers: usize,
    /// The share of answered batches sent again as if their answer had been lost.
    pub lost_answers: f64,
    pub seed: u64,
}

impl FleetConfig {
    pub fn new(location: Location, server_exe: PathBuf) -> FleetConfig {
        FleetConfig {
            location,
            servers: Vec::new(),
            nodes: 1,
            server_exe,
            tills: 1000,
            ops_per_till: 20,
            batch: 5,
            concurrency: 64,
            customers: 2000,
            lost_answers: 0.1,
            seed: 1,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("preparing the database: {0}")]
    Prepare(String),
    #[error("starting a server node: {0}")]
    Node(String),
    #[error("till {till}: {what}")]
    Till { till: usize, what: String },
}

/// Latencies of one endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointFigures {
    pub endpoint: &'static str,
    pub requests: usize,
    pub p50: Duration,
    pub p99: Duration,
}

/// What the fleet did and what the database says about it.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetReport {
    pub tills: usize,
    pub nodes: usize,
    /// Operations the tills queued (each sent until answered).
    pub operations: usize,
    /// How long the tills took, from the first enrollment to the last answer.
    pub wall: Duration,
    pub endpoints: Vec<EndpointFigures>,
    pub applied: usize,
    pub rejected: usize,
    /// Batches sent again after an answer, and how many of their operations came back
    /// other than `duplicate` with the original answer (must be 0).
    pub resent_batches: usize,
    pub resend_mismatches: usize,
    /// Sent operation ids the database does not hold (must be 0).
    pub lost: usize,
    /// The database before and after the run.
    pub before: Census,
    pub census: Census,
}

impl FleetReport {
    /// Operations per second over the whole run, reads and enrollments included.
    pub fn operations_per_s(&self) -> f64 {
        self.operations as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    /// Whether every check passed: nothing lost, nothing doubled, every balance equal to
    /// its ledger, every resend answered as the original.
    pub fn ok(&self) -> bool {
        self.lost == 0
            && self.resend_mismatches == 0
            && self.census.doubled_entries == 0
            && self.census.unbalanced == 0
            && (self.census.applied - self.before.applied) as usize == self.applied
            && (self.census.rejected - self.before.rejected) as usize == self.rejected
    }
}

impl std::fmt::Display for FleetReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} tills on {} node(s): {} operations in {:.1} s = {:.0} operations/s",
            self.tills,
            self.nodes,
            self.operations,
            self.wall.as_secs_f64(),
            self.operations_per_s()
        )?;
        for e in &self.endpoints {
            writeln!(
                f,
                "  {:<22} {:>7} requests  p50 {:>7.2} ms  p99 {:>7.2} ms",
                e.endpoint,
                e.requests,
                e.p50.as_secs_f64() * 1e3,
                e.p99.as_secs_f64() * 1e3
            )?;
        }
        writeln!(
            f,
            "  applied {}, rejected {} (spends the balance no longer covered, returns beyond the sale)",
            self.applied, self.rejected
        )?;
        writeln!(
            f,
            "  resent after an answer: {} batches, {} answers that were not the original",
            self.resent_batches, self.resend_mismatches
        )?;
        writeln!(
            f,
            "  database: {} lost, {} doubled history lines, {} customers whose balance differs from their ledger ({} customers, {} ledger rows)",
            self.lost,
            self.census.doubled_entries,
            self.census.unbalanced,
            self.census.customers,
            self.census.ledger_entries
        )?;
        write!(f, "  {}", if self.ok() { "OK" } else { "FAILED" })
    }
}

/// The phone of the `n`-th prepared customer (invented, +7 999 …).
fn customer_phone(n: usize) -> String {
    format!("+7999{:07}", 5_000_000 + n)
}

/// Runs the fleet and checks the database afterwards.
pub fn run(config: &FleetConfig) -> Result<FleetReport, FleetError> {
    let store = store::open(&config.location)?;
    let codes = prepare(&*store, config)?;
    let before = store::read(&*store, |r| r.census())?;
    let mut nodes = Vec::new();
    let servers = if config.servers.is_empty() {
        for _ in 0..config.nodes.max(1) {
            nodes.push(Node::start(config)?);
        }
        nodes.iter().map(|n| n.base.clone()).collect()
    } else {
        config.servers.clone()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| FleetError::Prepare(format!("cannot start a runtime: {e}")))?;
    let figures = Arc::new(Figures::default());
    let started = Instant::now();
    let tills = runtime.block_on(till::drive(config, &servers, codes, figures.clone()))?;
    let wall = started.elapsed();
    drop(runtime);
    drop(nodes);

    let mut report = FleetReport {
        tills: config.tills,
        nodes: servers.len(),
        operations: 0,
        wall,
        endpoints: figures.summary(),
        applied: 0,
        rejected: 0,
        resent_batches: 0,
        resend_mismatches: 0,
        lost: 0,
        before,
        census: Census::default(),
    };
    let mut ids = Vec::new();
    for t in tills {
        report.operations += t.ids.len();
        report.applied += t.applied;
        report.rejected += t.rejected;
        report.resent_batches += t.resent_batches;
        report.resend_mismatches += t.resend_mismatches;
        ids.extend(t.ids);
    }
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let recorded = refs
        .chunks(1000)
        .map(|chunk| store::read(&*store, |r| r.count_operations(chunk)))
        .sum::<Result<i64, _>>()?;
    report.lost = ids.len().saturating_sub(recorded as usize);
    report.census = store::read(&*store, |r| r.census())?;
    Ok(report)
}

/// The demo data if the database has none, `customers` customers with bonuses, and one
/// enrollment code per till.
fn prepare(store: &dyn Store, config: &FleetConfig) -> Result<Vec<String>, FleetError> {
    let now = Utc::now();
    if store::read(store, |r| r.store(admin::DEMO_STORE))?.is_none() {
        admin::demo_data_in(store, now).map_err(|e| FleetError::Prepare(e.to_string()))?;
    }
    // Customers in transactions of a few hundred, each with 500 bonuses for a year.
    for first in (0..config.customers).step_by(500) {
        let last = (first + 500).min(config.customers);
        store::write(store, |tx| {
            let mut ids = Vec::new();
            for n in first..last {
                let c = NewCustomer {
                    id: format!("fleet-{n:07}"),
                    phone: customer_phone(n),
                    card_status: "Стандартная".into(),
                    phone_verified: true,
                    first_name: Some("Покупатель".into()),
                    registered_at: now,
                    store_id: Some(admin::DEMO_STORE.into()),
                    ..NewCustomer::default()
                };
                if !tx.insert_customer(&c)? {
                    continue;
                }
                ledger::grant(
                    tx,
                    &Grant {
                        customer_id: &c.id,
                        amount: 50_000,
                        source: Source::Manual,
                        description: "Ручное изменение: перенос баланса".into(),
                        active_from: now,
                        burns_at: Some(now + chrono::Duration::days(365)),
                        operation_id: None,
                        actor: Some("fleet-sim"),
                    },
                    now,
                )
                .map_err(|e| match e {
                    ledger::LedgerError::Store(e) => e,
                    other => StoreError::Other(other.to_string()),
                })?;
                ids.push(c.id);
            }
            tx.bump_feed(&ids.iter().map(String::as_str).collect::<Vec<_>>())
        })?;
    }
    let codes = store::write(store, |tx| {
        let mut codes = Vec::with_capacity(config.tills);
        for _ in 0..config.tills {
            match auth::issue_enrollment_code(tx, admin::DEMO_STORE, now) {
                Ok(code) => codes.push(code),
                Err(auth::CashierError::Store(e)) => return Err(e),
                Err(other) => return Err(StoreError::Other(other.to_string())),
            }
        }
        Ok(codes)
    })?;
    Ok(codes)
}

/// A server process on the fleet's database, stopped when dropped.
struct Node {
    child: Child,
    base: String,
}

impl Node {
    fn start(config: &FleetConfig) -> Result<Node, FleetError> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| FleetError::Node(e.to_string()))?
            .port();
        let listen = format!("127.0.0.1:{port}");
        let mut cmd = Command::new(&config.server_exe);
        cmd.arg("serve");
        match &config.location {
            Location::Sqlite(dir) => cmd.arg("--data").arg(dir),
            Location::Postgres(url) => cmd.arg("--database").arg(url),
        };
        let child = cmd
            .args(["--listen", &listen])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| FleetError::Node(format!("{}: {e}", config.server_exe.display())))?;
        let node = Node {
            child,
            base: format!("http://{listen}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if std::net::TcpStream::connect(&listen).is_ok() {
                return Ok(node);
            }
            if Instant::now() > deadline {
                return Err(FleetError::Node(format!("no answer on {listen}")));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Latencies per endpoint, from every till.
#[derive(Default)]
struct Figures {
    by_endpoint: Mutex<HashMap<&'static str, Vec<Duration>>>,
}

impl Figures {
    fn add(&self, endpoint: &'static str, took: Duration) {
        self.by_endpoint
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(endpoint)
            .or_default()
            .push(took);
    }

    fn summary(&self) -> Vec<EndpointFigures> {
        let mut all = self.by_endpoint.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<EndpointFigures> = all
            .iter_mut()
            .map(|(endpoint, v)| {
                v.sort_unstable();
                let at = |q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)];
                EndpointFigures {
                    endpoint,
                    requests: v.len(),
                    p50: at(0.50),
                    p99: at(0.99),
                }
            })
            .collect();
        out.sort_by_key(|e| e.endpoint);
        out
    }
}

/// What one till did.
#[derive(Debug, Default)]
struct TillResult {
    ids: Vec<String>,
    applied: usize,
    rejected: usize,
    resent_batches: usize,
    resend_mismatches: usize,
}
