//! A fault proxy between a till and a real server on 127.0.0.1: the server down, failing
//! with 503, hanging, slow, and the connection dropped (or timed out) after the server
//! committed a batch. Through all of it the invariants hold: no operation the till
//! confirmed is lost, none is applied twice on the server, and the queue drains once the
//! network is good again. The online-first lookup falls back to the cache after its
//! timeout (the 2 s budget is `cargo bench --bench fallback`), and offline spend keeps to the rules' `[offline]` limits.
//! A server that gave no answer is waited for once: until the probe hears it again, the
//! till's requests answer from the cache or fail as needing the server without reaching
//! the proxy; a server that answers, if with 503, is asked every time.
//!
//! The proxy is a TCP pipe, so it needs no knowledge of HTTP beyond reading one request
//! (for the faults that answer or swallow it). It decides what to do when it accepts a
//! connection, and closes every open connection when its mode changes, so a pooled
//! keep-alive connection cannot carry a request past a fault.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bonuskassa::clock::SystemClock;
use bonuskassa::domain::money::Bonus;
use bonuskassa::domain::phone::Phone;
use bonuskassa::domain::receipt::Receipt;
use bonuskassa::protocol::server::{Operation, OperationBody, SmsPurpose};
use bonuskassa::secrets::{MemoryStore, SecretBackend};
use bonuskassa::server::{self, RunningServer, admin};
use bonuskassa::sync::plan::Backoff;
use bonuskassa::sync::worker::{SyncOptions, SyncStatus};
use bonuskassa::terminal::{
    Cashier, Held, Lookup, OfflineLimit, Terminal, TerminalConfig, TerminalError,
};
use chrono::Utc;
use rusqlite::{Connection, OpenFlags};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::common::receipts::{ReceiptJson, coffee};
use crate::common::server as srv;

// ---------------------------------------------------------------------------------------
// The proxy

/// What the network between the till and the server does to a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Mode {
    /// Bytes pass both ways.
    Pass,
    /// The server is down: the connection is closed at once, before a request is read.
    Down,
    /// Something in front of the server fails: `503`, `Retry-After: 0`, connection closed.
    Error5xx,
    /// The request is read and never answered: the till's timeout ends it.
    Hang,
    /// Every answer starts [`SLOW`] late, then passes.
    Slow,
    /// The request reaches the server; when its answer starts (the server answers only
    /// after its commit) the connection is closed and the answer never reaches the till.
    DropAfterCommit,
    /// Like `DropAfterCommit`, but the connection stays open and silent: the till's timeout
    /// ends it, with the operations committed on the server.
    TimeoutAfterCommit,
}

/// How late a slow answer starts: past a lookup's timeout in [`fast_config`], well within
/// a batch's.
const SLOW: Duration = Duration::from_millis(800);

/// The batch path: requests to it are what the counters follow.
const BATCH: &[u8] = b"POST /api/v1/operations ";

/// The requests of the till's own that the tests count.
const LOOKUP: &str = "POST /api/v1/customers/lookup";
const CALC: &str = "POST /api/v1/calc";
const HOLD: &str = "POST /api/v1/holds";
const FIND_SALE: &str = "POST /api/v1/sales/find";
const SMS: &str = "POST /api/v1/sms/send";
const LOGIN: &str = "POST /api/v1/cashiers/login";
const HEALTH: &str = "GET /api/v1/health";

/// What the proxy did, per mode: connections accepted, batches that met the fault (for
/// the after-commit faults: batches the server answered, so committed), and requests by
/// method and path.
#[derive(Debug, Default)]
struct Stats {
    connections: Mutex<HashMap<Mode, usize>>,
    batches: Mutex<HashMap<Mode, usize>>,
    requests: Mutex<HashMap<(Mode, String), usize>>,
}

/// "POST /api/v1/calc" of bytes that start a request, without the query.
fn request_line(bytes: &[u8]) -> Option<String> {
    let line = bytes.split(|&b| b == b'\r').next()?;
    let (method, rest) = std::str::from_utf8(line).ok()?.split_once(' ')?;
    if !matches!(method, "GET" | "POST" | "PUT" | "PATCH" | "DELETE") {
        return None;
    }
    let path = rest.split([' ', '?']).next()?;
    Some(format!("{method} {path}"))
}

impl Stats {
    fn count<K: std::hash::Hash + Eq>(map: &Mutex<HashMap<K, usize>>, key: K) {
        *map.lock().unwrap().entry(key).or_default() += 1;
    }

    /// Bytes the proxy read: counted when they start a request.
    fn saw(&self, mode: Mode, bytes: &[u8]) {
        if bytes.starts_with(BATCH) {
            Self::count(&self.batches, mode);
        }
        if let Some(line) = request_line(bytes) {
            Self::count(&self.requests, (mode, line));
        }
    }

    /// Requests like "POST /api/v1/calc" that met `mode`.
    fn requests(&self, mode: Mode, line: &str) -> usize {
        self.requests
            .lock()
            .unwrap()
            .get(&(mode, line.to_string()))
            .copied()
            .unwrap_or(0)
    }

    fn batches(&self, mode: Mode) -> usize {
        self.batches
            .lock()
            .unwrap()
            .get(&mode)
            .copied()
            .unwrap_or(0)
    }

    fn connections(&self, mode: Mode) -> usize {
        self.connections
            .lock()
            .unwrap()
            .get(&mode)
            .copied()
            .unwrap_or(0)
    }
}

struct Proxy {
    addr: SocketAddr,
    mode: Arc<watch::Sender<Mode>>,
    stats: Arc<Stats>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mode = Arc::new(watch::Sender::new(Mode::Pass));
        let stats = Arc::new(Stats::default());
        let accept = tokio::spawn({
            let mode = mode.clone();
            let stats = stats.clone();
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    let mut changed = mode.subscribe();
                    let now = *changed.borrow_and_update();
                    Stats::count(&stats.connections, now);
                    let stats = stats.clone();
                    tokio::spawn(async move {
                        // A new mode closes every connection the old one opened.
                        tokio::select! {
                            _ = serve(client, upstream, now, &stats) => {}
                            _ = changed.changed() => {}
                        }
                    });
                }
            }
        });
        Proxy {
            addr,
            mode,
            stats,
            accept,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Switches the mode, and gives the till's HTTP clients a moment to see their pooled
    /// connections closed.
    async fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

// The proxy reads and writes through `&TcpStream` readiness, which needs only tokio's
// `net` feature, and lets both directions of one connection run in one task.

async fn read_some(s: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        s.readable().await?;
        match s.try_read(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            other => return other,
        }
    }
}

async fn write_all(s: &TcpStream, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        s.writable().await?;
        match s.try_write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads one whole HTTP/1.1 request: the head, and a body of its `Content-Length` (the
/// till's client sends no chunked bodies).
async fn read_request(s: &TcpStream) -> io::Result<Vec<u8>> {
    let mut request = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if request.len() >= end + 4 + length {
                return Ok(request);
            }
        }
        let n = read_some(s, &mut buf).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        request.extend_from_slice(&buf[..n]);
    }
}

/// Copies one direction until EOF. With `delay`, a burst that follows a pause (an answer)
/// is held back that long first.
async fn forward(
    from: &TcpStream,
    to: &TcpStream,
    delay: Duration,
    stats: &Stats,
    mode: Mode,
) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut last = Instant::now() - Duration::from_secs(1);
    loop {
        let n = read_some(from, &mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        if !delay.is_zero() && last.elapsed() > Duration::from_millis(50) {
            tokio::time::sleep(delay).await;
        }
        stats.saw(mode, &buf[..n]);
        write_all(to, &buf[..n]).await?;
        last = Instant::now();
    }
}

/// Reads and discards until the other side closes.
async fn swallow(s: &TcpStream) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = read_some(s, &mut buf).await {
        if n == 0 {
            return;
        }
    }
}

async fn serve(
    client: TcpStream,
    upstream: SocketAddr,
    mode: Mode,
    stats: &Stats,
) -> io::Result<()> {
    match mode {
        Mode::Down => Ok(()),
        Mode::Error5xx => {
            let request = read_request(&client).await?;
            // Counted before the answer, so that whoever got it sees it counted.
            stats.saw(mode, &request);
            let body = "the server is unavailable (fault proxy)";
            let answer = format!(
                "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0\r\nContent-Type: text/plain\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            write_all(&client, answer.as_bytes()).await?;
            Ok(())
        }
        Mode::Hang => {
            let request = read_request(&client).await?;
            stats.saw(mode, &request);
            swallow(&client).await;
            Ok(())
        }
        Mode::Pass | Mode::Slow => {
            let server = TcpStream::connect(upstream).await?;
            let delay = if mode == Mode::Slow {
                SLOW
            } else {
                Duration::ZERO
            };
            tokio::select! {
                r = forward(&client, &server, Duration::ZERO, stats, mode) => r,
                r = forward(&server, &client, delay, stats, mode) => r,
            }
        }
        Mode::DropAfterCommit | Mode::TimeoutAfterCommit => {
            let server = TcpStream::connect(upstream).await?;
            let request = read_request(&client).await?;
            write_all(&server, &request).await?;
            let mut first = [0u8; 1];
            if read_some(&server, &mut first).await? == 0 {
                return Ok(());
            }
            // The server has answered, so it has committed: the answer is lost here.
            stats.saw(mode, &request);
            drop(server);
            if mode == Mode::TimeoutAfterCommit {
                swallow(&client).await;
            }
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------------------
// The rig: a server, the proxy in front of it, and a till enrolled through the proxy

/// Dropped in field order: the till stops before the proxy, the proxy before the server,
/// and the files go last.
struct Rig {
    terminal: Terminal,
    proxy: Proxy,
    _server: RunningServer,
    dir: tempfile::TempDir,
}

/// Short timeouts, so that a fault costs the test little time, yet long enough that a
/// server on a busy machine answers a lookup in time.
fn fast_config(url: &str) -> TerminalConfig {
    let mut c = TerminalConfig::new(url, "Касса 1", SecretBackend::Memory);
    c.timeout_ms = 500;
    c.sync_timeout_s = 2;
    c
}

fn quick_sync() -> SyncOptions {
    SyncOptions {
        batch: 3,
        backoff: Backoff {
            base: Duration::from_millis(20),
            max: Duration::from_millis(200),
        },
        probe_every: Duration::from_millis(200),
        ..SyncOptions::default()
    }
}

impl Rig {
    async fn new(config: impl FnOnce(&str) -> TerminalConfig) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("server");
        let server = srv::demo(&data, Arc::new(SystemClock), false);
        let proxy = Proxy::start(server.addr).await;
        let code = srv::enroll_code(&data, Utc::now());
        let terminal = Terminal::enroll(
            &dir.path().join("till"),
            config(&proxy.url()),
            Arc::new(MemoryStore::new()),
            &code,
            Arc::new(SystemClock),
        )
        .await
        .unwrap();
        terminal.start_sync(quick_sync()).unwrap();
        let rig = Rig {
            terminal,
            proxy,
            _server: server,
            dir,
        };
        rig.wait_for("the cache", Duration::from_secs(20), |s| {
            s.cached_customers == 4 && !s.cache.loading && s.rules_version.is_some()
        })
        .await;
        rig
    }

    async fn wait_for(&self, what: &str, limit: Duration, ok: impl Fn(&SyncStatus) -> bool) {
        let deadline = Instant::now() + limit;
        loop {
            let status = self.terminal.status();
            if ok(&status) {
                return;
            }
            assert!(Instant::now() < deadline, "waiting for {what}: {status:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn wait_for_batch(&self, mode: Mode, before: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.proxy.stats.batches(mode) <= before {
            assert!(
                Instant::now() < deadline,
                "no batch met {mode:?}: {:?}",
                self.proxy.stats
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The server's data dir.
    fn server_data(&self) -> std::path::PathBuf {
        self.dir.path().join("server")
    }

    /// The server's database, read-only, while the server runs. Raw SQL only where the
    /// store's API has no such read: the ledger's rows by operation and by kind.
    fn server_db(&self) -> Connection {
        let path = server::database_path(&self.dir.path().join("server"));
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
    }

    /// The till's database, read-only, while the till runs.
    fn till_db(&self) -> Connection {
        let path = self
            .dir
            .path()
            .join("till")
            .join(bonuskassa::store::DB_FILE);
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
    }

    fn terminal_id(&self) -> String {
        self.till_db()
            .query_row(
                "SELECT value FROM meta WHERE key = 'terminal_id'",
                [],
                |r| r.get(0),
            )
            .unwrap()
    }

    /// A whole sale at the till: find the customer, calculate, confirm.
    async fn sale(
        &self,
        cashier: &Cashier,
        phone: &str,
        receipt_id: &str,
        spend: &str,
    ) -> (Operation, bool) {
        let lookup = Lookup::Phone(Phone::parse(phone).unwrap());
        let found = self.terminal.lookup(&lookup).await.unwrap().unwrap();
        let priced = self
            .terminal
            .calculate(&found.customer, &receipt(receipt_id, "1000.00"), b(spend))
            .await
            .unwrap();
        assert_eq!(priced.offline, found.offline);
        assert_eq!(priced.calculation.spent, b(spend));
        let op = self.terminal.sell(cashier, &priced, None).unwrap();
        (op, found.offline)
    }

    /// The invariants, once the queue has drained: every confirmed operation applied once
    /// on the server, nothing else applied, no effect of a sale doubled, nothing pending or
    /// refused at the till.
    fn assert_each_applied_once(&self, confirmed: &[Operation], purchases_before: i64) {
        // The ledger and the kept sales by operation: raw SQL, the store reads the ledger by
        // customer and a sale by its receipt only.
        let db = self.server_db();
        let terminal = self.terminal_id();
        // The rig's till is the server's only one: every operation the server holds is its.
        let census = srv::census(self.server_data());
        assert_eq!(
            (census.applied + census.rejected) as usize,
            confirmed.len(),
            "the server has no other operations"
        );
        for op in confirmed {
            let answer = srv::answer_json(self.server_data(), &op.id).unwrap();
            assert_eq!(answer["status"], "applied", "{} (seq {})", op.id, op.seq);
            let OperationBody::Sale { .. } = op.body else {
                continue;
            };
            // The sale's ledger lines are exactly what the server's one answer said.
            let calc = &answer["answer"]["calculation"];
            let accrued: Bonus = serde_json::from_value(calc["accrued"].clone()).unwrap();
            let spent: Bonus = serde_json::from_value(calc["spent"].clone()).unwrap();
            let (plus, minus): (i64, i64) = db
                .query_row(
                    "SELECT COALESCE(SUM(CASE WHEN amount > 0 THEN amount END), 0),
                            COALESCE(SUM(CASE WHEN amount < 0 THEN -amount END), 0)
                     FROM ledger_entries WHERE operation_id = ?1 AND kind = 'purchase'",
                    [&op.id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap();
            assert_eq!(
                (plus, minus),
                (accrued.kopecks(), spent.kopecks()),
                "{}",
                op.id
            );
        }
        let doubled: Vec<(String, String, i64)> = db
            .prepare(
                "SELECT operation_id, kind, COUNT(*) FROM ledger_entries
                 WHERE operation_id IS NOT NULL GROUP BY operation_id, kind, amount > 0
                 HAVING COUNT(*) > 1
                 UNION ALL
                 SELECT operation_id, source, COUNT(*) FROM bonus_batches
                 WHERE operation_id IS NOT NULL GROUP BY operation_id, source
                 HAVING COUNT(*) > 1",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(doubled.is_empty(), "applied twice: {doubled:?}");
        let sales: HashSet<String> = db
            .prepare("SELECT operation_id FROM sales WHERE terminal_id = ?1")
            .unwrap()
            .query_map([&terminal], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let sold: HashSet<String> = confirmed
            .iter()
            .filter(|o| matches!(o.body, OperationBody::Sale { .. }))
            .map(|o| o.id.clone())
            .collect();
        assert_eq!(sales, sold);
        let purchases: i64 = db
            .query_row("SELECT COUNT(*) FROM purchases", [], |r| r.get(0))
            .unwrap();
        assert_eq!(purchases - purchases_before, sold.len() as i64);

        // The till: every operation answered and done, none pending, none refused.
        let till = self.till_db();
        let states: HashMap<String, String> = till
            .prepare("SELECT id, state FROM outbox")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(states.len(), confirmed.len());
        for op in confirmed {
            assert_eq!(states[&op.id], "done", "{}", op.id);
        }
        let status = self.terminal.status();
        assert_eq!(
            (status.queue.pending, status.queue.conflicts),
            (0, 0),
            "{status:?}"
        );
        assert!(self.terminal.conflicts().unwrap().is_empty());
    }

    fn purchases(&self) -> i64 {
        srv::census(self.server_data()).purchases
    }

    /// The till's operations the server answered as `duplicate`: sent again after an
    /// answer was lost.
    fn duplicates(&self) -> HashSet<String> {
        self.till_db()
            .prepare("SELECT id FROM outbox WHERE json_extract(answer, '$.status') = 'duplicate'")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }
}

fn receipt(id: &str, price: &str) -> Receipt {
    ReceiptJson::sale(id).line(coffee(price)).receipt()
}

fn b(s: &str) -> Bonus {
    s.parse().unwrap()
}

const CUSTOMERS: [(&str, &str); 4] = [
    ("+79990000001", "5"),  // Карина, 500 bonuses
    ("+79990000002", "10"), // Илья, 1200; «Серебряная» spends 10 at least
    ("+79990000003", "20"), // Анна, 3500
    ("+79990000004", "0"),  // Денис, nothing to spend
];

// ---------------------------------------------------------------------------------------
// The tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_operation_is_lost_or_applied_twice_whatever_the_network_does() {
    let started = Instant::now();
    let rig = Rig::new(fast_config).await;
    let purchases_before = rig.purchases();
    let cashier = rig.terminal.login(admin::DEMO_CASHIER_CODE).await.unwrap();
    assert!(!cashier.offline);

    let plan = [
        Mode::Pass,
        Mode::Down,
        Mode::Error5xx,
        Mode::Hang,
        Mode::Slow,
        Mode::DropAfterCommit,
        // Slow drains the queue, so that the next fault meets a batch of its own round.
        Mode::Slow,
        Mode::TimeoutAfterCommit,
        Mode::Down,
        Mode::Pass,
    ];
    let mut confirmed = Vec::new();
    let mut after_commit = Vec::new();
    let mut saw_offline = false;
    for (round, &mode) in plan.iter().enumerate() {
        let batches = rig.proxy.stats.batches(mode);
        rig.proxy.set(mode).await;
        if mode == Mode::Pass {
            // A fault that gave no answer left the till silent: it asks again once the
            // probe hears the server.
            rig.wait_for("the probe", Duration::from_secs(10), |s| !s.silent)
                .await;
        }
        for k in 0..3 {
            let (phone, spend) = CUSTOMERS[(round + k) % CUSTOMERS.len()];
            let (op, offline) = rig
                .sale(&cashier, phone, &format!("r-{round}-{k}"), spend)
                .await;
            // Online first: only a server that answered in time is trusted.
            assert_eq!(offline, mode != Mode::Pass, "{mode:?}");
            assert_eq!(op.offline, offline);
            if matches!(mode, Mode::DropAfterCommit | Mode::TimeoutAfterCommit) {
                after_commit.push((mode, op.id.clone()));
            }
            confirmed.push(op);
            saw_offline |= rig.terminal.status().online == Some(false);
        }
        match mode {
            Mode::Pass => {}
            // Nothing of a request gets through: the till says it is offline.
            Mode::Down => {
                rig.wait_for("offline", Duration::from_secs(10), |s| {
                    s.online == Some(false) && s.queue.pending > 0
                })
                .await;
                saw_offline = true;
            }
            // A slow server still takes the queue, within the batch timeout.
            Mode::Slow => {
                rig.wait_for("the slow drain", Duration::from_secs(20), |s| {
                    s.queue.pending == 0
                })
                .await;
                assert!(rig.proxy.stats.batches(mode) > batches);
            }
            // The worker met this fault with a batch at least once.
            _ => rig.wait_for_batch(mode, batches).await,
        }
        let status = rig.terminal.status();
        eprintln!(
            "{:>5} ms {mode:?}: {} pending, online {:?}",
            started.elapsed().as_millis(),
            status.queue.pending,
            status.online
        );
    }
    assert!(saw_offline, "the status said offline during the faults");

    rig.terminal.refresh();
    rig.wait_for("the queue to drain", Duration::from_secs(30), |s| {
        s.queue.pending == 0 && s.online == Some(true)
    })
    .await;
    assert_eq!(rig.terminal.status().online, Some(true));
    rig.assert_each_applied_once(&confirmed, purchases_before);
    // The answers lost after the server's commit came back as duplicates on the resend:
    // in each after-commit round, some of the round's own operations.
    let duplicates = rig.duplicates();
    for mode in [Mode::DropAfterCommit, Mode::TimeoutAfterCommit] {
        let resent = after_commit
            .iter()
            .filter(|(m, id)| *m == mode && duplicates.contains(id))
            .count();
        assert!(
            resent > 0,
            "{mode:?}: no operation was resent after its commit"
        );
    }
    assert!(rig.proxy.stats.connections(Mode::Down) > 0);
    eprintln!(
        "{} operations, {} answered as duplicates, {:?}; {} ms",
        confirmed.len(),
        duplicates.len(),
        rig.proxy.stats,
        started.elapsed().as_millis()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_offline_fallback_is_on_screen_within_two_seconds_and_keeps_to_the_limits() {
    // The default lookup timeout, 1.5 s; batches time out after 2 s rather than 30, so
    // that the worker is not stuck behind the hang for long.
    let rig = Rig::new(|url| TerminalConfig {
        timeout_ms: TerminalConfig::new(url, "", SecretBackend::Memory).timeout_ms,
        ..fast_config(url)
    })
    .await;
    assert_eq!(rig.terminal.config().timeout(), Duration::from_millis(1500));
    let cashier = rig.terminal.login(admin::DEMO_CASHIER_CODE).await.unwrap();
    let karina = Lookup::Phone(Phone::parse(CUSTOMERS[0].0).unwrap());
    let anna = Lookup::Phone(Phone::parse(CUSTOMERS[2].0).unwrap());
    let purchases_before = rig.purchases();

    // The server hangs: the till waits out its timeout, then answers from the cache.
    rig.proxy.set(Mode::Hang).await;
    let clock = Instant::now();
    let found = rig.terminal.lookup(&karina).await.unwrap().unwrap();
    let lookup_took = clock.elapsed();
    assert!(found.offline);
    assert_eq!(found.customer.name, "Карина С.");
    eprintln!(
        "server hangs, timeout {} ms: the offline lookup took {} ms",
        rig.terminal.config().timeout_ms,
        lookup_took.as_millis(),
    );
    // The lower bound says the till did ask the server first (a timer never fires early);
    // the upper one only that it did not hang. The 2 s budget of SPEC.md §6 is measured by
    // `cargo bench --bench fallback`, not by a timed test.
    assert!(
        lookup_took >= Duration::from_millis(1500) && lookup_took < Duration::from_secs(10),
        "{lookup_took:?}"
    );
    // The server is known silent now: the calculation does not ask it.
    let priced = rig
        .terminal
        .calculate(&found.customer, &receipt("r-hang", "1000.00"), b("50"))
        .await
        .unwrap();
    assert!(priced.offline);
    assert_eq!(priced.calculation.spent, b("50"));
    assert_eq!(rig.proxy.stats.requests(Mode::Hang, CALC), 0);
    assert_eq!(rig.terminal.status().online, Some(false));
    let hung_sale = rig.terminal.sell(&cashier, &priced, None).unwrap();
    assert!(hung_sale.offline);

    // A failing server (503) answers the probe, so the till asks it again; its 503 is
    // offline at once, and offline spend keeps to the limits.
    rig.proxy.set(Mode::Error5xx).await;
    rig.wait_for("the probe to hear the 503", Duration::from_secs(10), |s| {
        !s.silent
    })
    .await;
    let clock = Instant::now();
    let rich = rig.terminal.lookup(&anna).await.unwrap().unwrap();
    eprintln!(
        "server answers 503: the offline lookup took {} ms",
        clock.elapsed().as_millis()
    );
    assert!(rich.offline);
    assert!(clock.elapsed() < Duration::from_secs(10));
    assert_eq!(rig.proxy.stats.requests(Mode::Error5xx, LOOKUP), 1);
    assert!(!rig.terminal.status().silent);
    let within = rig
        .terminal
        .calculate(&rich.customer, &receipt("r-503", "3000.00"), b("500"))
        .await
        .unwrap();
    assert!(within.offline);
    assert_eq!(within.calculation.spent, b("500"));
    assert_eq!(
        within.allowance.unwrap().limit,
        Some(OfflineLimit::PerOperation { max: b("1000") })
    );
    let spend_sale = rig.terminal.sell(&cashier, &within, None).unwrap();
    let pending = rig.terminal.status().queue.pending;
    let err = rig
        .terminal
        .calculate(&rich.customer, &receipt("r-503-big", "9000.00"), b("1500"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            TerminalError::Offline(OfflineLimit::PerOperation { max }) if max == b("1000")
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("offline") && message.contains("1000"),
        "{message}"
    );
    assert_eq!(rig.terminal.status().queue.pending, pending);

    // Back online: both sales applied once, the spend exactly once.
    rig.proxy.set(Mode::Pass).await;
    rig.terminal.refresh();
    rig.wait_for("the queue to drain", Duration::from_secs(20), |s| {
        s.queue.pending == 0 && s.online == Some(true)
    })
    .await;
    rig.assert_each_applied_once(&[hung_sale, spend_sale], purchases_before);
    let spent: i64 = rig
        .server_db()
        .query_row(
            "SELECT -SUM(amount) FROM ledger_entries WHERE amount < 0 AND kind = 'purchase'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(spent, b("550").kopecks());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_is_waited_for_once_until_the_probe_hears_it_again() {
    let rig = Rig::new(fast_config).await;
    let timeout = rig.terminal.config().timeout();
    let cashier = rig.terminal.login(admin::DEMO_CASHIER_CODE).await.unwrap();
    let karina = Lookup::Phone(Phone::parse(CUSTOMERS[0].0).unwrap());
    let anna = Lookup::Phone(Phone::parse(CUSTOMERS[2].0).unwrap());
    // Анна's spend is priced while the server answers; the cashier applies it later.
    let found = rig.terminal.lookup(&anna).await.unwrap().unwrap();
    assert!(!found.offline);
    let priced = rig
        .terminal
        .calculate(&found.customer, &receipt("r-silent", "2000.00"), b("100"))
        .await
        .unwrap();
    assert!(!priced.offline);

    // The server hangs: the first lookup waits out the timeout and falls back.
    rig.proxy.set(Mode::Hang).await;
    let clock = Instant::now();
    let first = rig.terminal.lookup(&karina).await.unwrap().unwrap();
    let took = clock.elapsed();
    assert!(first.offline);
    assert!(
        took >= timeout && took < Duration::from_secs(10),
        "{took:?}"
    );
    assert_eq!(rig.proxy.stats.requests(Mode::Hang, LOOKUP), 1);
    let status = rig.terminal.status();
    assert!(status.silent, "{status:?}");
    assert_eq!(status.online, Some(false));

    // Known silent: nothing the till asks reaches the server. What has an offline answer
    // gives it from the cache; what needs the server says so.
    let second = rig.terminal.lookup(&anna).await.unwrap().unwrap();
    assert!(second.offline);
    assert_eq!(second.customer.name, "Анна М.");
    let offline = rig
        .terminal
        .calculate(
            &second.customer,
            &receipt("r-silent-2", "2000.00"),
            b("100"),
        )
        .await
        .unwrap();
    assert!(offline.offline);
    assert_eq!(offline.calculation.spent, b("100"));
    // The spend priced online is applied: its hold is not asked for, and the sale goes on
    // offline, within the offline limits.
    let held = rig
        .terminal
        .hold_spend(uuid::Uuid::now_v7(), &priced)
        .await
        .unwrap();
    assert_eq!(held, Held::Offline);
    let again = rig.terminal.login(admin::DEMO_CASHIER_CODE).await.unwrap();
    assert!(again.offline);
    let elsewhere = ReceiptJson::return_of("r-silent-ret", "r-other-till")
        .line(coffee("100.00"))
        .receipt();
    assert!(matches!(
        rig.terminal.find_return_sale(&elsewhere).await,
        Err(TerminalError::SaleElsewhereOffline)
    ));
    let new_phone = Phone::parse("+79995550101").unwrap();
    assert!(matches!(
        rig.terminal
            .send_code(&new_phone, SmsPurpose::Registration)
            .await,
        Err(TerminalError::NeedsServer(_))
    ));
    for line in [LOOKUP, CALC, HOLD, LOGIN, FIND_SALE, SMS] {
        let expected = usize::from(line == LOOKUP);
        assert_eq!(
            rig.proxy.stats.requests(Mode::Hang, line),
            expected,
            "{line}"
        );
    }
    let sale = rig.terminal.sell(&cashier, &offline, None).unwrap();
    assert!(sale.offline);
    // Meanwhile the probe asks, and gets no answer either.
    let deadline = Instant::now() + Duration::from_secs(10);
    while rig.proxy.stats.requests(Mode::Hang, HEALTH) == 0 {
        assert!(Instant::now() < deadline, "no probe: {:?}", rig.proxy.stats);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(rig.terminal.status().silent);

    // The network heals: the probe hears the server, the till is online again, the queue
    // drains, and a lookup asks the server.
    rig.proxy.set(Mode::Pass).await;
    rig.wait_for(
        "the probe to hear the server",
        Duration::from_secs(10),
        |s| !s.silent && s.online == Some(true) && s.queue.pending == 0,
    )
    .await;
    let online = rig.terminal.lookup(&karina).await.unwrap().unwrap();
    assert!(!online.offline);
    assert_eq!(srv::applied(rig.server_data(), &sale.id), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_makes_the_till_silent_and_a_503_does_not() {
    let rig = Rig::new(fast_config).await;
    let karina = Lookup::Phone(Phone::parse(CUSTOMERS[0].0).unwrap());

    // The server answers, if only with 503: every lookup asks it, and falls back.
    rig.proxy.set(Mode::Error5xx).await;
    for asked in 1..=2 {
        let found = rig.terminal.lookup(&karina).await.unwrap().unwrap();
        assert!(found.offline);
        assert_eq!(rig.proxy.stats.requests(Mode::Error5xx, LOOKUP), asked);
        let status = rig.terminal.status();
        assert!(!status.silent && status.online == Some(false), "{status:?}");
    }

    // The connection is closed before a word: no answer at all, so the till is silent
    // and the next lookup is answered from the cache without a connection.
    rig.proxy.set(Mode::Down).await;
    let found = rig.terminal.lookup(&karina).await.unwrap().unwrap();
    assert!(found.offline);
    assert!(rig.terminal.status().silent);
    rig.proxy.set(Mode::Pass).await;
    rig.wait_for(
        "the probe to hear the server",
        Duration::from_secs(10),
        |s| !s.silent,
    )
    .await;
    assert!(!rig.terminal.lookup(&karina).await.unwrap().unwrap().offline);
}
