//! Kill -9 torture (SPEC.md §7): a till process that queues and syncs sales
//! (`bonuskassa-till-load`) is killed with SIGKILL at every named failpoint and at random
//! moments under load, against a real server on 127.0.0.1. After every kill the till's
//! database passes `integrity_check`, holds every operation it ever confirmed, and agrees
//! with the server (what it marked sent is applied there, nothing it rolled back reached
//! it, nothing was applied twice); at the end the queue drains and every operation is
//! applied exactly once, with exactly one accrual.
//!
//! Runs at the points between the apply and the close (`before_applied_commit` …
//! `after_close_queue`), and every other random kill, sell the register's way
//! (`--keep`): each sale is applied and kept on disk, then closed; the next such run
//! first closes what the killed one left applied, as a register does after a restart of
//! the till. Every receipt ever announced applied ends up queued exactly once.
//!
//! Two tills, each with its own server, are tortured side by side ([`WORLDS`]), so the
//! kills of one overlap the other's waits. `BONUSKASSA_TORTURE_ROUNDS` (default 39) sets how
//! many rounds each runs; each round kills once at every failpoint and
//! [`RANDOM_PER_ROUND`] times at random: over 1 000 kills in all by default.
#![cfg(unix)]

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use bonuskassa::clock::SystemClock;
use bonuskassa::failpoint;
use bonuskassa::secrets::{FileVault, SecretBackend};
use bonuskassa::server;

use crate::common::server as srv;
use bonuskassa::store::TerminalStore;
use bonuskassa::terminal::{Terminal, TerminalConfig};
use chrono::Utc;
use rusqlite::{Connection, OpenFlags, params};

const LOAD: &str = env!("CARGO_BIN_EXE_bonuskassa-till-load");
/// Карина, a demo customer.
const PHONE: &str = "+79990000001";
/// Sales a failpoint run queues at most: far more than it needs to reach its point.
const FAILPOINT_COUNT: u32 = 40;
/// Sales a random-kill run would queue: it never gets to the end.
const RANDOM_COUNT: u32 = 1000;
const RANDOM_PER_ROUND: usize = 3;
/// How long a child may take to reach its failpoint (a loaded CI machine is slow).
const FAILPOINT_TIMEOUT: Duration = Duration::from_secs(30);
/// The points where the sync worker stops holding no lock, so the till goes on selling.
const WORKER_POINTS: [&str; 3] = ["before_send", "after_server_commit", "after_answer"];
/// The points between the apply and the close: runs at them sell the register's way.
const KEPT_POINTS: [&str; 4] = [
    "before_applied_commit",
    "after_applied_commit",
    "before_close_queue",
    "after_close_queue",
];
/// While the worker is stopped at one of [`WORKER_POINTS`], sales go on: the kill waits
/// for this many more, so they are queued behind a stuck sync. It also leaves the next run
/// a backlog, which `mid_batch` needs: its first batch then holds two answers or more.
const SALES_WHILE_STUCK: usize = 3;

/// A line from the child, or the end of one of its two streams.
enum Line {
    Out(String),
    Err(String),
    Closed,
}

fn reader(
    stream: impl Read + Send + 'static,
    wrap: fn(String) -> Line,
    tx: std::sync::mpsc::Sender<Line>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            match line {
                Ok(l) => {
                    if tx.send(wrap(l)).is_err() {
                        return;
                    }
                }
                Err(_) => break,
            }
        }
        let _ = tx.send(Line::Closed);
    });
}

/// A running `bonuskassa-till-load` and what it said so far.
struct Load {
    label: String,
    child: Child,
    lines: Receiver<Line>,
    open_streams: usize,
    confirmed: Vec<String>,
    applied: Vec<String>,
    stderr: Vec<String>,
}

/// How a run ended.
struct Ended {
    confirmed: Vec<String>,
    applied: Vec<String>,
    stderr: Vec<String>,
    status: ExitStatus,
}

const SIGKILL: i32 = 9;

impl Ended {
    fn killed(&self) -> bool {
        self.status.signal() == Some(SIGKILL)
    }
}

impl Load {
    fn spawn(
        label: String,
        till: &Path,
        prefix: &str,
        count: u32,
        point: Option<&str>,
        keep: bool,
    ) -> Load {
        let mut cmd = Command::new(LOAD);
        if keep {
            cmd.arg("--keep");
        }
        cmd.arg("--data")
            .arg(till)
            .args(["--phone", PHONE, "--prefix", prefix, "--drain"])
            .args(["--count", &count.to_string()])
            .env("BONUSKASSA_LOG", "warn")
            .env_remove(failpoint::VAR)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(p) = point {
            cmd.env(failpoint::VAR, p);
        }
        let mut child = cmd.spawn().unwrap();
        let (tx, rx) = channel();
        reader(child.stdout.take().unwrap(), Line::Out, tx.clone());
        reader(child.stderr.take().unwrap(), Line::Err, tx);
        Load {
            label,
            child,
            lines: rx,
            open_streams: 2,
            confirmed: Vec::new(),
            applied: Vec::new(),
            stderr: Vec::new(),
        }
    }

    fn take(&mut self, line: Line) {
        match line {
            Line::Out(l) => {
                if let Some(id) = l.strip_prefix("CONFIRMED ") {
                    self.confirmed.push(id.to_string());
                } else if let Some(id) = l.strip_prefix("APPLIED ") {
                    self.applied.push(id.to_string());
                }
            }
            Line::Err(l) => self.stderr.push(l),
            Line::Closed => self.open_streams -= 1,
        }
    }

    /// Waits until the child says it stopped at `point`; panics (with its stderr) if it
    /// ends or takes too long first.
    fn wait_for_failpoint(&mut self, point: &str) {
        let deadline = Instant::now() + FAILPOINT_TIMEOUT;
        let wanted = format!("FAILPOINT {point}");
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(Line::Err(l)) if l == wanted => return,
                Ok(line) => self.take(line),
                Err(RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    panic!(
                        "{}: no {wanted} within {FAILPOINT_TIMEOUT:?}; stderr: {:?}",
                        self.label, self.stderr
                    );
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().unwrap();
                    panic!(
                        "{}: the child ended ({status}) without reaching {point}; stderr: {:?}",
                        self.label, self.stderr
                    );
                }
            }
        }
    }

    /// Waits until the child has confirmed `n` sales in all.
    fn wait_for_confirmed(&mut self, n: usize) {
        let deadline = Instant::now() + FAILPOINT_TIMEOUT;
        while self.confirmed.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.take(line),
                Err(e) => {
                    let _ = self.child.kill();
                    panic!(
                        "{}: {} of {n} sales confirmed ({e}); stderr: {:?}",
                        self.label,
                        self.confirmed.len(),
                        self.stderr
                    );
                }
            }
        }
    }

    /// SIGKILL (if it still runs), reap, and read what it printed before it died.
    fn kill(mut self) -> Ended {
        let _ = self.child.kill();
        self.finish()
    }

    /// Reaps the child (waiting for it to end by itself unless killed) and reads the rest
    /// of its output.
    fn finish(mut self) -> Ended {
        let status = self.child.wait().unwrap();
        while self.open_streams > 0 {
            match self.lines.recv_timeout(Duration::from_secs(10)) {
                Ok(line) => self.take(line),
                Err(e) => panic!("{}: the child's output did not end: {e}", self.label),
            }
        }
        Ended {
            confirmed: self.confirmed,
            applied: self.applied,
            stderr: self.stderr,
            status,
        }
    }
}

/// The till's data dir, the server's database, and what the till has confirmed so far.
struct World {
    till: PathBuf,
    server_db: PathBuf,
    terminal_id: String,
    confirmed: HashSet<String>,
}

impl World {
    /// The server's database, read-only, while the server runs. Raw SQL: the test lists
    /// every operation of its till (the store finds one by its id only), and reads beside a
    /// server under load without opening (and migrating) a store.
    fn server(&self) -> Connection {
        Connection::open_with_flags(&self.server_db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
    }

    /// The operations the server holds from this till: id → status.
    fn server_operations(&self, db: &Connection) -> HashMap<String, String> {
        let mut stmt = db
            .prepare("SELECT id, status FROM operations WHERE terminal_id = ?1")
            .unwrap();
        stmt.query_map([&self.terminal_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// The till's outbox: id → state.
    fn outbox(store: &TerminalStore) -> HashMap<String, String> {
        let mut stmt = store
            .connection()
            .prepare("SELECT id, state FROM outbox")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// What must hold after every kill. Returns the till's outbox.
    fn check(&self, label: &str) -> HashMap<String, String> {
        let store = TerminalStore::open(&self.till).unwrap();
        assert_eq!(
            store.integrity_check().unwrap(),
            "ok",
            "{label}: the till's database"
        );
        let outbox = Self::outbox(&store);
        drop(store);
        for id in &self.confirmed {
            assert!(
                outbox.contains_key(id),
                "{label}: confirmed operation {id} is not in the outbox"
            );
        }
        let db = self.server();
        let on_server = self.server_operations(&db);
        for (id, state) in &outbox {
            assert_ne!(state, "rejected", "{label}: the server refused {id}");
            if state == "done" {
                assert_eq!(
                    on_server.get(id).map(String::as_str),
                    Some("applied"),
                    "{label}: {id} is marked sent but not applied on the server"
                );
            }
        }
        for (id, status) in &on_server {
            assert!(
                outbox.contains_key(id),
                "{label}: the server has {id}, which the till never committed"
            );
            assert_eq!(status, "applied", "{label}: {id}");
        }
        assert_no_double_application(&db, label);
        outbox
    }
}

/// No operation left two ledger lines or two bonus batches of one kind for one customer.
fn assert_no_double_application(db: &Connection, label: &str) {
    for sql in [
        "SELECT operation_id, kind, customer_id, COUNT(*) FROM ledger_entries
         WHERE operation_id IS NOT NULL GROUP BY 1, 2, 3 HAVING COUNT(*) > 1",
        "SELECT operation_id, source, customer_id, COUNT(*) FROM bonus_batches
         WHERE operation_id IS NOT NULL GROUP BY 1, 2, 3 HAVING COUNT(*) > 1",
    ] {
        let twice: Vec<(String, String, String, i64)> = db
            .prepare(sql)
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(twice.is_empty(), "{label}: applied twice: {twice:?}");
    }
}

fn pending_in(outbox: &HashMap<String, String>) -> usize {
    outbox.values().filter(|s| *s == "pending").count()
}

fn rounds() -> usize {
    std::env::var("BONUSKASSA_TORTURE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(39)
}

/// Tills tortured side by side.
const WORLDS: usize = 2;

#[test]
fn kill_9_at_every_step_and_at_random_loses_nothing_and_applies_nothing_twice() {
    let started = Instant::now();
    let worlds: Vec<_> = (0..WORLDS)
        .map(|w| {
            std::thread::Builder::new()
                .name(format!("torture-{w}"))
                .spawn(torture_one_till)
                .unwrap()
        })
        .collect();
    let kills: usize = worlds
        .into_iter()
        .map(|w| w.join().expect("a tortured till failed its checks"))
        .sum();
    let _ = writeln!(
        std::io::stderr(),
        "torture: {kills} kills in all in {:?}",
        started.elapsed()
    );
    assert!(
        kills >= 1000 || rounds() < 39,
        "only {kills} kills: the torture needs at least 1000"
    );
}

/// One till and its server through [`rounds`] rounds of kills; the number of kills.
fn torture_one_till() -> usize {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let server_data = dir.path().join("server");
    let running = srv::demo(&server_data, Arc::new(SystemClock), false);
    let code = srv::enroll_code(&server_data, Utc::now());

    let till = dir.path().join("till");
    let vault = dir.path().join("till-secrets");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let terminal = runtime
        .block_on(Terminal::enroll(
            &till,
            TerminalConfig::new(
                &running.url(),
                "Касса 1",
                SecretBackend::File(vault.clone()),
            ),
            Arc::new(FileVault::new(&vault).unwrap()),
            &code,
            Arc::new(SystemClock),
        ))
        .unwrap();
    drop(terminal);
    drop(runtime);
    let terminal_id = TerminalStore::open(&till)
        .unwrap()
        .get_meta("terminal_id")
        .unwrap()
        .unwrap();

    let mut world = World {
        till: till.clone(),
        server_db: server::database_path(&server_data),
        terminal_id,
        confirmed: HashSet::new(),
    };
    let mut kills = 0usize;
    let mut by_point: HashMap<&str, usize> = HashMap::new();
    let mut run = 0usize;
    let mut pending = 0usize;
    let mut random_confirmed = Vec::new();
    let mut rolled_back = Vec::new();
    let mut committed_unconfirmed = Vec::new();
    let mut applied = HashSet::new();
    for round in 0..rounds() {
        for point in failpoint::ALL {
            run += 1;
            let label = format!("run {run} (round {round}, {point})");
            if point == "mid_batch" {
                assert!(
                    pending >= 2,
                    "{label}: a backlog of 2 or more makes the first batch reach mid_batch, \
                     but {pending} are pending"
                );
            }
            let mut load = Load::spawn(
                label.clone(),
                &till,
                &format!("r{run}"),
                FAILPOINT_COUNT,
                Some(point),
                KEPT_POINTS.contains(&point),
            );
            load.wait_for_failpoint(point);
            if WORKER_POINTS.contains(&point) {
                let n = load.confirmed.len() + SALES_WHILE_STUCK;
                load.wait_for_confirmed(n);
            }
            let ended = load.kill();
            assert!(ended.killed(), "{label}: {}", ended.status);
            kills += 1;
            *by_point.entry(point).or_default() += 1;
            // The first sale of the run is the one stopped at a local-commit point.
            let first = format!("r{run}-0");
            match point {
                "before_local_commit" => rolled_back.push(first),
                "after_local_commit" => committed_unconfirmed.push(first),
                _ => {}
            }
            world.confirmed.extend(ended.confirmed);
            applied.extend(ended.applied);
            pending = pending_in(&world.check(&label));
        }
        for i in 0..RANDOM_PER_ROUND {
            run += 1;
            let after = Duration::from_millis(rand::random_range(5..=150));
            let keep = (round + i) % 2 == 1;
            let label = format!("run {run} (round {round}, random after {after:?}, keep {keep})");
            let load = Load::spawn(
                label.clone(),
                &till,
                &format!("r{run}"),
                RANDOM_COUNT,
                None,
                keep,
            );
            std::thread::sleep(after);
            let ended = load.kill();
            if ended.killed() {
                kills += 1;
                *by_point.entry("random").or_default() += 1;
            } else {
                // It cannot finish 1000 sales in 150 ms; an exit means it failed.
                panic!(
                    "{label}: the child ended by itself ({}): {:?}",
                    ended.status, ended.stderr
                );
            }
            random_confirmed.push(ended.confirmed.len());
            world.confirmed.extend(ended.confirmed);
            applied.extend(ended.applied);
            pending = pending_in(&world.check(&label));
        }
    }

    // A last run without a failpoint, the register's way: it closes whatever is left
    // applied, sells a few more, then the queue drains.
    run += 1;
    let label = format!("run {run} (drain)");
    let load = Load::spawn(label.clone(), &till, &format!("r{run}"), 5, None, true);
    let ended = load.finish();
    assert!(
        ended.status.success(),
        "{label}: {} {:?}",
        ended.status,
        ended.stderr
    );
    world.confirmed.extend(ended.confirmed);
    applied.extend(ended.applied);
    let outbox = world.check(&label);
    assert!(
        outbox.values().all(|s| s == "done"),
        "{label}: the queue did not drain"
    );

    // Every operation the till holds is applied exactly once, with exactly one accrual;
    // the till and the server hold the same operations.
    let db = world.server();
    let on_server = world.server_operations(&db);
    let ours: HashSet<&String> = outbox.keys().collect();
    let theirs: HashSet<&String> = on_server.keys().collect();
    assert_eq!(ours, theirs);
    let mut accruals = db
        .prepare(
            "SELECT COUNT(*) FROM ledger_entries
             WHERE operation_id = ?1 AND kind = 'purchase' AND amount > 0",
        )
        .unwrap();
    let mut sales = db
        .prepare("SELECT COUNT(*) FROM sales WHERE operation_id = ?1")
        .unwrap();
    for id in outbox.keys() {
        let n: i64 = accruals.query_row(params![id], |r| r.get(0)).unwrap();
        assert_eq!(n, 1, "accruals of {id}");
        let n: i64 = sales.query_row(params![id], |r| r.get(0)).unwrap();
        assert_eq!(n, 1, "sales of {id}");
    }
    drop((accruals, sales));

    // A sale killed before its commit is nowhere; one killed after it (never confirmed to
    // the cashier) is kept and sent like any other.
    let till_db = TerminalStore::open(&till).unwrap();
    let sold = |db: &Connection, receipt: &str| -> i64 {
        db.query_row(
            "SELECT COUNT(*) FROM sales WHERE receipt_id = ?1",
            [receipt],
            |r| r.get(0),
        )
        .unwrap()
    };
    for receipt in &rolled_back {
        assert_eq!(
            sold(till_db.connection(), receipt),
            0,
            "{receipt} at the till"
        );
        assert_eq!(sold(&db, receipt), 0, "{receipt} on the server");
    }
    for receipt in &committed_unconfirmed {
        assert_eq!(
            sold(till_db.connection(), receipt),
            1,
            "{receipt} at the till"
        );
        assert_eq!(sold(&db, receipt), 1, "{receipt} on the server");
    }
    // Every receipt announced applied was closed and queued, exactly once (the outbox
    // holds each id once); none is left applied, none was lost.
    let left: i64 = till_db
        .connection()
        .query_row(
            "SELECT COUNT(*) FROM applied_receipts WHERE state != 'closed'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(left, 0, "applied receipts never closed");
    assert!(
        !applied.is_empty(),
        "no receipt was applied the register's way"
    );
    for id in &applied {
        assert_eq!(
            outbox.get(id).map(String::as_str),
            Some("done"),
            "applied receipt {id}: its sale is not queued and sent"
        );
    }
    let kept: i64 = till_db
        .connection()
        .query_row("SELECT COUNT(*) FROM applied_receipts", [], |r| r.get(0))
        .unwrap();
    let fiscal: i64 = till_db
        .connection()
        .query_row(
            "SELECT COUNT(*) FROM outbox WHERE json_extract(payload, '$.body.fiscal.fn') IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        fiscal, kept,
        "every closed receipt's sale carries its fiscal document"
    );

    // Lost answers were really resent: the server answered some operations as duplicates.
    let duplicates: i64 = till_db
        .connection()
        .query_row(
            "SELECT COUNT(*) FROM outbox WHERE json_extract(answer, '$.status') = 'duplicate'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(duplicates > 0, "no operation was ever resent");
    drop(till_db);
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok", "the server's database");

    let elapsed = started.elapsed();
    // Straight to the process's stderr, past the test harness's capture: the count shows
    // in every `cargo test` run.
    let _ = writeln!(
        std::io::stderr(),
        "torture: {kills} kills ({by_point:?}) in {elapsed:?}; {} operations, {} confirmed, \
         {} applied the register's way, {duplicates} answered as duplicates of a lost answer; \
         sales confirmed before each random kill: {random_confirmed:?}",
        outbox.len(),
        world.confirmed.len(),
        applied.len(),
    );
    running.stop().unwrap();
    kills
}
