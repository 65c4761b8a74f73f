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

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::protocol::server::{
    CalcRequest, EnrollRequest, LoginRequest, LookupRequest, OperationResult, OperationStatus,
    Secret,
};
use crate::server::admin;
use crate::server::auth;
use crate::server::ledger::{self, Grant, Source};
use crate::server::store::{self, Census, Location, NewCustomer, Store, StoreError};
use crate::store::Pending;
use crate::sync::client::{ClientError, ServerClient};
use crate::sync::plan::{self, Backoff, Decision};

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
    let tills = runtime.block_on(drive(config, &servers, codes, figures.clone()))?;
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

async fn drive(
    config: &FleetConfig,
    servers: &[String],
    codes: Vec<String>,
    figures: Arc<Figures>,
) -> Result<Vec<TillResult>, FleetError> {
    let permits = Arc::new(tokio::sync::Semaphore::new(config.concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, code) in codes.into_iter().enumerate() {
        let till = Till {
            n: i,
            server: servers[i % servers.len()].clone(),
            code,
            config: config.clone(),
            figures: figures.clone(),
            rng: StdRng::seed_from_u64(config.seed.wrapping_mul(1_000_003) + i as u64),
        };
        let permits = permits.clone();
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            till.run().await
        });
    }
    let mut out = Vec::with_capacity(config.tills);
    while let Some(joined) = tasks.join_next().await {
        out.push(joined.map_err(|e| FleetError::Till {
            till: usize::MAX,
            what: format!("the task failed: {e}"),
        })??);
    }
    Ok(out)
}

/// One simulated till.
struct Till {
    n: usize,
    server: String,
    code: String,
    config: FleetConfig,
    figures: Arc<Figures>,
    rng: StdRng,
}

/// A sale this till made, for a later return.
struct Sold {
    receipt: String,
    quantity: u32,
}

/// Goods of the simulated shop: name, category, price.
const GOODS: [(&str, &str, &str); 6] = [
    ("Капучино", "coffee", "250.00"),
    ("Латте", "coffee", "270.00"),
    ("Круассан", "bakery", "180.00"),
    ("Сырники", "food", "320.00"),
    ("Лимонад", "bar", "210.00"),
    ("Сэндвич", "food", "360.00"),
];

impl Till {
    fn fail(&self, what: impl std::fmt::Display) -> FleetError {
        FleetError::Till {
            till: self.n,
            what: what.to_string(),
        }
    }

    /// Times one call and keeps its latency.
    async fn timed<T>(
        &self,
        endpoint: &'static str,
        call: impl std::future::Future<Output = Result<T, ClientError>>,
    ) -> Result<T, ClientError> {
        let started = Instant::now();
        let out = call.await;
        self.figures.add(endpoint, started.elapsed());
        out
    }

    /// A call retried as the till's worker retries: transient failures again, with a short
    /// backoff; a refusal the server explained is returned.
    async fn call<T, F, Fut>(&self, endpoint: &'static str, f: F) -> Result<T, FleetError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, ClientError>>,
    {
        for attempt in 0..20u32 {
            match self.timed(endpoint, f()).await {
                Ok(v) => return Ok(v),
                Err(e) if e.is_offline() => {
                    tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt + 1))).await;
                }
                Err(e) => return Err(self.fail(format!("{endpoint}: {e}"))),
            }
        }
        Err(self.fail(format!("{endpoint}: no answer after 20 tries")))
    }

    async fn run(mut self) -> Result<TillResult, FleetError> {
        let timeout = Duration::from_secs(60);
        let anonymous =
            ServerClient::new(&self.server, "", None, timeout).map_err(|e| self.fail(e))?;
        let enroll = EnrollRequest {
            code: Secret(self.code.clone()),
            name: format!("Касса {}", self.n + 1),
        };
        let enrolled = self.call("enroll", || anonymous.enroll(&enroll)).await?;
        let client = anonymous.with_token(enrolled.token.expose());
        let login = LoginRequest {
            code: Secret(admin::DEMO_CASHIER_CODE.into()),
        };
        let cashier = self.call("cashiers/login", || client.login(&login)).await?;

        // The customer feed, page by page, as a till fills its cache.
        let mut since = 0;
        loop {
            let page = self
                .call("feed/customers", || client.customer_feed(since, 1000))
                .await?;
            since = page.cursor;
            if !page.more {
                break;
            }
        }

        let mut result = TillResult::default();
        let mut queue: Vec<Pending> = Vec::new();
        let mut sold: Vec<Sold> = Vec::new();
        let mut receipt_no = 0u32;
        for seq in 1..=self.config.ops_per_till as u64 {
            let id = uuid::Uuid::now_v7().to_string();
            let roll: f64 = self.rng.random();
            let body = if roll < 0.15 && !sold.is_empty() {
                self.return_body(&mut sold, &mut receipt_no)
            } else if roll < 0.30 {
                self.registration_body(&client, seq).await?
            } else {
                self.sale_body(&client, &mut sold, &mut receipt_no).await?
            };
            let op = json!({ "id": id, "seq": seq, "at": Utc::now(), "cashier": cashier.name,
                             "cashier_id": cashier.cashier_id, "body": body });
            queue.push(Pending {
                seq,
                id: id.clone(),
                payload: op.to_string(),
            });
            result.ids.push(id);
            if queue.len() >= self.config.batch {
                self.send(&client, &mut queue, &mut result).await?;
            }
        }
        while !queue.is_empty() {
            self.send(&client, &mut queue, &mut result).await?;
        }
        Ok(result)
    }

    /// A sale to a random customer: looked up, calculated with a spend of up to the
    /// maximum, as the cashier applies it.
    async fn sale_body(
        &mut self,
        client: &ServerClient,
        sold: &mut Vec<Sold>,
        receipt_no: &mut u32,
    ) -> Result<serde_json::Value, FleetError> {
        let phone = customer_phone(self.rng.random_range(0..self.config.customers.max(1)));
        let lookup = LookupRequest {
            phone: Some(Secret(phone)),
            ..LookupRequest::default()
        };
        let customer = self
            .call("customers/lookup", || client.lookup(&lookup))
            .await?;
        *receipt_no += 1;
        let receipt_id = receipt_no.to_string();
        let (name, category, price) = GOODS[self.rng.random_range(0..GOODS.len())];
        let quantity = self.rng.random_range(1..=3u32);
        let receipt: crate::domain::receipt::Receipt = serde_json::from_value(json!({
            "id": receipt_id, "kind": "sale", "at": now_in_moscow(),
            "positions": [ { "id": "1", "name": name, "category": category, "price": price,
                             "quantity": quantity.to_string(), "measure": "piece" } ] }))
        .map_err(|e| self.fail(e))?;
        let first = CalcRequest {
            customer_id: customer.id.clone(),
            receipt: receipt.clone(),
            spend: Default::default(),
        };
        let quote = self.call("calc", || client.calc(&first)).await?;
        let max = quote.calculation.max_spend.amount();
        let spend = if max.is_zero() || self.rng.random_bool(0.4) {
            rust_decimal::Decimal::ZERO
        } else {
            (max * rust_decimal::Decimal::from(self.rng.random_range(1..=100u32))
                / rust_decimal::Decimal::from(100))
            .floor()
        };
        let spend: crate::domain::money::Bonus =
            spend.to_string().parse().map_err(|e| self.fail(e))?;
        let applied = CalcRequest { spend, ..first };
        self.call("calc", || client.calc(&applied)).await?;
        sold.push(Sold {
            receipt: receipt_id,
            quantity,
        });
        Ok(
            json!({ "kind": "sale", "customer_id": customer.id, "receipt": receipt, "spend": spend }),
        )
    }

    /// A return of one unit of an earlier sale of this till.
    fn return_body(&mut self, sold: &mut [Sold], receipt_no: &mut u32) -> serde_json::Value {
        let i = self.rng.random_range(0..sold.len());
        let original = &mut sold[i];
        *receipt_no += 1;
        let quantity = if original.quantity > 0 { 1 } else { 2 };
        original.quantity = original.quantity.saturating_sub(1);
        json!({ "kind": "return", "receipt": {
            "id": receipt_no.to_string(), "kind": "return", "at": now_in_moscow(),
            "original_receipt": original.receipt,
            "positions": [ { "id": "1", "price": "1.00", "quantity": quantity.to_string() } ] } })
    }

    /// A walk-in registered «Без кода»: the lookup finds nobody first.
    async fn registration_body(
        &mut self,
        client: &ServerClient,
        seq: u64,
    ) -> Result<serde_json::Value, FleetError> {
        let phone = format!("+7999{:07}", 8_000_000 + self.n * 100 + seq as usize);
        let lookup = LookupRequest {
            phone: Some(Secret(phone.clone())),
            ..LookupRequest::default()
        };
        let started = Instant::now();
        let found = client.lookup(&lookup).await;
        self.figures.add("customers/lookup", started.elapsed());
        if found.is_ok() {
            return Err(self.fail("a new phone was found before it was registered"));
        }
        Ok(
            json!({ "kind": "registration", "customer_id": uuid::Uuid::now_v7().to_string(),
                   "phone": phone, "consent_processing": true, "consent_advertising": false,
                   "questionnaire": { "first_name": "Гость" } }),
        )
    }

    /// Sends the queue's head as the till's worker does, until every operation in it is
    /// answered; sometimes sends an answered batch again, as after a lost answer.
    async fn send(
        &mut self,
        client: &ServerClient,
        queue: &mut Vec<Pending>,
        result: &mut TillResult,
    ) -> Result<(), FleetError> {
        let backoff = Backoff {
            base: Duration::from_millis(50),
            max: Duration::from_secs(2),
        };
        let mut attempt = 0;
        let mut size = queue.len().min(self.config.batch.max(1));
        loop {
            let batch: Vec<Pending> = queue[..size].to_vec();
            let sent: Vec<String> = batch.iter().map(|p| p.id.clone()).collect();
            let started = Instant::now();
            let outcome = client.send_batch(&batch).await;
            self.figures.add("operations", started.elapsed());
            let jitter: f64 = self.rng.random();
            match plan::decide(&sent, size, outcome, attempt, jitter, backoff) {
                Decision::Record { answers, .. } => {
                    let mut done = Vec::new();
                    for a in &answers {
                        match a.status {
                            OperationStatus::Applied => result.applied += 1,
                            OperationStatus::Rejected => result.rejected += 1,
                            OperationStatus::Duplicate => {
                                // A resend after a timeout: the original answer counts.
                                match original_status(a) {
                                    Some(OperationStatus::Applied) => result.applied += 1,
                                    Some(OperationStatus::Rejected) => result.rejected += 1,
                                    _ => result.resend_mismatches += 1,
                                }
                            }
                        }
                        done.push(a.id.clone());
                    }
                    if self
                        .rng
                        .random_bool(self.config.lost_answers.clamp(0.0, 1.0))
                    {
                        self.resend(client, &batch, &answers, result).await;
                    }
                    queue.retain(|p| !done.contains(&p.id));
                    return Ok(());
                }
                Decision::Retry { after, batch } => {
                    attempt += 1;
                    size = batch.clamp(1, queue.len());
                    if attempt > 30 {
                        return Err(self.fail("operations: no answer after 30 tries"));
                    }
                    tokio::time::sleep(after).await;
                }
                Decision::Pause(reason) => {
                    return Err(self.fail(format!("the queue paused: {reason:?}")));
                }
            }
        }
    }

    /// The batch again, as if its answer had been lost: every operation must come back
    /// `duplicate`, carrying the first answer.
    async fn resend(
        &self,
        client: &ServerClient,
        batch: &[Pending],
        first: &[OperationResult],
        result: &mut TillResult,
    ) {
        result.resent_batches += 1;
        let started = Instant::now();
        let outcome = client.send_batch(batch).await;
        self.figures.add("operations (resent)", started.elapsed());
        let plan::Outcome::Answered(again) = outcome else {
            // Not answered this time: a real till would simply send it once more later.
            return;
        };
        for f in first {
            let same = again
                .results
                .iter()
                .find(|a| a.id == f.id)
                .is_some_and(|a| {
                    a.status == OperationStatus::Duplicate
                        && (original(a).as_ref() == Some(f)
                            || (f.status == OperationStatus::Duplicate && a.answer == f.answer))
                });
            if !same {
                result.resend_mismatches += 1;
            }
        }
    }
}

/// The original answer a `duplicate` carries.
fn original(a: &OperationResult) -> Option<OperationResult> {
    a.answer
        .as_ref()
        .and_then(|v| serde_json::from_value(v.clone()).ok())
}

fn original_status(a: &OperationResult) -> Option<OperationStatus> {
    original(a).map(|o| o.status)
}

/// Now, as a Moscow register writes it.
fn now_in_moscow() -> String {
    let offset = chrono::FixedOffset::east_opt(3 * 3600).expect("a valid offset");
    let now: DateTime<Utc> = Utc::now();
    now.with_timezone(&offset).to_rfc3339()
}
