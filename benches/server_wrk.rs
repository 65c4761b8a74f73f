//! Budgets (SPEC.md §6), measured with `wrk` against the release `bonuskassa-server serve`
//! on 2 cores, load generator and server sharing them:
//!
//! 1. Reads do not queue behind the writer (SQLite): calculations reach ≥ 40 % of the same
//!    server's `/health` throughput, both measured in one run with `wrk -t2 -c32 -d10s`.
//!    Then the calculations run again while a second till posts batches of 100 sales in a
//!    loop, and both calculation figures are printed, with their latency distributions.
//! 2. Calculations on SQLite: ≥ 3 000 requests/s with p99 ≤ 20 ms (the run of 1).
//! 3. Calculations on PostgreSQL behind two nodes: ≥ 3 000 requests/s summed, p99 ≤ 20 ms
//!    at the worse node, two wrk processes at once (16 connections each, one per node).
//!    Needs `BONUSKASSA_BENCH_PG_URL=postgres://USER@HOST:PORT/DB`, a user that may create
//!    databases: the bench makes a scratch database there and drops it afterwards.
//!
//! The servers are child processes of the binary cargo built for this bench
//! (`CARGO_BIN_EXE_bonuskassa-server`), each on a port of its own on 127.0.0.1, so they run
//! exactly as installed, with their own runtime and nothing of this process in the way. The
//! demo data and the enrollment codes are made through the library beforehand; the tills
//! enroll over HTTP. A calculation names one of the four demo customers and a receipt of 5
//! to 10 positions, from a Lua script written at run time into the temp dir (wrk sends its
//! requests in turn; building them once keeps wrk's own CPU share small).
//!
//! The writer's sales are dated two days back, as a till's queue drains after being
//! offline, so their accruals are spendable at once. Dated now, the gold card's one-day
//! activation would leave every accrual pending, and ten seconds of writing would pile up
//! thousands of pending batches on the same four customers (more than any customer makes
//! in a day), whose sum each balance read then adds up batch by batch: the figure would
//! measure that pile, not whether reads wait for the writer.
//!
//! Without `wrk` on the `PATH` the bench says it is skipped and exits 0 (`apt-get install
//! wrk`). `cargo test --benches` (no `--bench`) runs every part for a second only.

mod common;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bonuskassa::server::admin;
use bonuskassa::server::store::Location;
use bonuskassa::server::store::postgres::Scratch;
use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};

use common::{PHONES, receipt};

const SERVER: &str = env!("CARGO_BIN_EXE_bonuskassa-server");
/// wrk's threads and connections against one server: a till fleet's worth of kept-alive
/// connections, one load thread per core.
const THREADS: usize = 2;
const CONNECTIONS: usize = 32;
/// Seconds per measured wrk run, and per warm-up run before the first.
const RUN_S: u64 = 10;
const WARM_UP_S: u64 = 2;
const QUICK_S: u64 = 1;
/// Sale operations per `/operations` batch, as a till's queue drains them.
const OPS_PER_BATCH: usize = 100;
/// A request slower than this is an error to wrk (see [`Wrk::start`]).
const WRK_TIMEOUT_S: u64 = 30;
/// A server that does not answer `/health` in this long did not start.
const START_TIMEOUT: Duration = Duration::from_secs(30);
const CALC_BUDGET_RPS: f64 = 3_000.0;
const P99_BUDGET_MS: f64 = 20.0;
const RATIO_BUDGET: f64 = 0.40;

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    if !on_path("wrk") {
        println!("server_wrk: skipped: needs wrk (apt-get install wrk)");
        return;
    }
    let (run_s, warm_s) = if quick {
        (QUICK_S, QUICK_S)
    } else {
        (RUN_S, WARM_UP_S)
    };
    // The load generator shares the 2 cores with the servers.
    common::warn_if_busy("server_wrk");
    let dir = tempfile::tempdir().expect("a temp dir");
    let http = Http::new();
    sqlite(&http, dir.path(), run_s, warm_s);
    match std::env::var("BONUSKASSA_BENCH_PG_URL") {
        Ok(url) if !url.is_empty() => postgres(&http, dir.path(), &url, run_s, warm_s),
        _ => println!(
            "server_wrk postgres: skipped: set BONUSKASSA_BENCH_PG_URL=postgres://USER@HOST:PORT/DB (a user that may create databases)"
        ),
    }
}

/// Budgets 1 and 2: one server on the embedded SQLite database.
fn sqlite(http: &Http, dir: &Path, run_s: u64, warm_s: u64) {
    let data = dir.join("sqlite");
    let now = Utc::now();
    admin::demo_data(&data, now).expect("the demo data");
    let calc_code = admin::enroll_code(&data, admin::DEMO_STORE, now).expect("an enroll code");
    let writer_code = admin::enroll_code(&data, admin::DEMO_STORE, now).expect("an enroll code");
    let node = Node::start(
        &["--data".as_ref(), data.as_os_str()],
        &dir.join("sqlite.log"),
        http,
    );
    let token = http.enroll(&node.base, &calc_code, "Касса 1");
    let customers = http.customers(&node.base, &token);
    let script = calc_script(dir, &token, &customers);
    let calc_url = format!("{}/api/v1/calc", node.base);
    let health_url = format!("{}/api/v1/health", node.base);
    let label = format!("wrk -t{THREADS} -c{CONNECTIONS} -d{run_s}s");

    // Opens the connections and warms the server's caches and its reader pool.
    Wrk::start(THREADS, CONNECTIONS, warm_s, Some(&script), &calc_url).finish();
    let health = Wrk::start(THREADS, CONNECTIONS, run_s, None, &health_url).finish();
    let calc = Wrk::start(THREADS, CONNECTIONS, run_s, Some(&script), &calc_url).finish();

    let writer_token = http.enroll(&node.base, &writer_code, "Касса 2");
    let writer = Writer::start(node.base.clone(), writer_token, customers.clone());
    let busy = Wrk::start(THREADS, CONNECTIONS, run_s, Some(&script), &calc_url).finish();
    let written = writer.stop();

    println!(
        "server_wrk sqlite health: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms ({label})",
        health.rps, health.p50_ms, health.p99_ms,
    );
    println!(
        "server_wrk sqlite calc: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms ({label}; budget ≥ {CALC_BUDGET_RPS:.0} req/s, p99 ≤ {P99_BUDGET_MS:.0} ms){}",
        calc.rps,
        calc.p50_ms,
        calc.p99_ms,
        verdict(calc.rps >= CALC_BUDGET_RPS && calc.p99_ms <= P99_BUDGET_MS),
    );
    println!(
        "server_wrk sqlite calc/health: {:.0} % ({:.0} / {:.0} req/s; budget ≥ {:.0} %){}",
        100.0 * calc.rps / health.rps,
        calc.rps,
        health.rps,
        100.0 * RATIO_BUDGET,
        verdict(calc.rps / health.rps >= RATIO_BUDGET),
    );
    println!(
        "server_wrk sqlite calc with a writer: {:.0} req/s ({:.0} % of health, {:.0} % of calc alone), p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms; the writer applied {:.0} sales/s meanwhile ({} batches of {OPS_PER_BATCH}, one after another)",
        busy.rps,
        100.0 * busy.rps / health.rps,
        100.0 * busy.rps / calc.rps,
        busy.p50_ms,
        busy.p90_ms,
        busy.p99_ms,
        busy.max_ms,
        written.ops as f64 / written.elapsed.as_secs_f64(),
        written.ops / OPS_PER_BATCH as u64,
    );
    drop(node);
}

/// Budget 3: two server processes on one scratch PostgreSQL database.
fn postgres(http: &Http, dir: &Path, admin_url: &str, run_s: u64, warm_s: u64) {
    let scratch = Scratch::create(admin_url).expect("a scratch database (BONUSKASSA_BENCH_PG_URL)");
    let location = Location::Postgres(scratch.url().into());
    let now = Utc::now();
    admin::demo_data(&location, now).expect("the demo data");
    let code = admin::enroll_code(&location, admin::DEMO_STORE, now).expect("an enroll code");
    let url = scratch.url();
    let nodes = [
        Node::start(
            &["--database".as_ref(), url.as_ref()],
            &dir.join("pg-a.log"),
            http,
        ),
        Node::start(
            &["--database".as_ref(), url.as_ref()],
            &dir.join("pg-b.log"),
            http,
        ),
    ];
    // One till: its token is in the shared database, so it is good at either node.
    let token = http.enroll(&nodes[0].base, &code, "Касса 1");
    let customers = http.customers(&nodes[1].base, &token);
    let script = calc_script(dir, &token, &customers);
    let urls: Vec<String> = nodes
        .iter()
        .map(|n| format!("{}/api/v1/calc", n.base))
        .collect();
    let per_node = CONNECTIONS / nodes.len();
    let threads = THREADS / nodes.len();

    let both = |seconds| {
        let runs: Vec<Wrk> = urls
            .iter()
            .map(|u| Wrk::start(threads, per_node, seconds, Some(&script), u))
            .collect();
        runs.into_iter().map(Wrk::finish).collect::<Vec<_>>()
    };
    both(warm_s);
    let runs = both(run_s);
    let rps: f64 = runs.iter().map(|r| r.rps).sum();
    let p99 = runs.iter().map(|r| r.p99_ms).fold(0.0, f64::max);
    let p50 = runs.iter().map(|r| r.p50_ms).fold(0.0, f64::max);
    let each = |f: fn(&WrkRun) -> String, sep| runs.iter().map(f).collect::<Vec<_>>().join(sep);
    println!(
        "server_wrk postgres calc, two nodes: {rps:.0} req/s ({} req/s), p50 {p50:.2} ms, p99 {p99:.2} ms at the worse node (p99 {} ms, max {} ms) (two wrk -t{threads} -c{per_node} -d{run_s}s at once; budget ≥ {CALC_BUDGET_RPS:.0} req/s, p99 ≤ {P99_BUDGET_MS:.0} ms){}",
        each(|r| format!("{:.0}", r.rps), " + "),
        each(|r| format!("{:.2}", r.p99_ms), " / "),
        each(|r| format!("{:.0}", r.max_ms), " / "),
        verdict(rps >= CALC_BUDGET_RPS && p99 <= P99_BUDGET_MS),
    );
    // The servers close their connections before the scratch database is dropped.
    drop(nodes);
    drop(scratch);
}

fn verdict(met: bool) -> &'static str {
    if met { "" } else { " MISSED" }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// The bench's HTTP client for setup and the writer: a runtime of its own on the calling
/// thread, so it never competes with wrk for more than the one thread that drives it.
struct Http {
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
}

impl Http {
    fn new() -> Http {
        Http {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("an HTTP client"),
        }
    }

    /// Whether `url` answers 200.
    fn ok(&self, url: &str) -> bool {
        self.rt.block_on(async {
            matches!(self.client.get(url).send().await, Ok(r) if r.status() == StatusCode::OK)
        })
    }

    /// POSTs a JSON body and returns the answer's JSON; anything but 200 is a failed bench.
    fn post(&self, url: &str, token: Option<&str>, body: String) -> Value {
        self.rt.block_on(async {
            let mut req = self
                .client
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
            if let Some(token) = token {
                req = req.bearer_auth(token);
            }
            let resp = req.send().await.expect("the server answers");
            let status = resp.status();
            let text = resp.text().await.expect("an answer body");
            assert_eq!(status, StatusCode::OK, "POST {url}: {text}");
            serde_json::from_str(&text).expect("a JSON answer")
        })
    }

    /// Enrolls a till; its bearer token.
    fn enroll(&self, base: &str, code: &str, name: &str) -> String {
        let body = json!({ "code": code, "name": name }).to_string();
        let v = self.post(&format!("{base}/api/v1/enroll"), None, body);
        v["token"].as_str().expect("a token").to_string()
    }

    /// The ids of the demo customers, looked up by phone as a till does.
    fn customers(&self, base: &str, token: &str) -> Vec<String> {
        PHONES
            .iter()
            .map(|phone| {
                let body = json!({ "phone": phone }).to_string();
                let v = self.post(
                    &format!("{base}/api/v1/customers/lookup"),
                    Some(token),
                    body,
                );
                v["id"].as_str().expect("a customer id").to_string()
            })
            .collect()
    }
}

/// A `bonuskassa-server serve` child process, stopped (SIGINT, as an operator's Ctrl-C)
/// when dropped.
struct Node {
    child: Child,
    base: String,
}

impl Node {
    /// Starts a server on a free port of 127.0.0.1 and waits until it answers `/health`.
    fn start(db: &[&std::ffi::OsStr], log: &Path, http: &Http) -> Node {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(SERVER)
            .arg("serve")
            .args(db)
            .args(["--listen", &addr])
            // Warnings and errors only: a log line per request would cost the server time.
            .env("BONUSKASSA_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(log).expect("a log file"))
            .spawn()
            .expect("bonuskassa-server starts");
        let mut node = Node {
            child,
            base: format!("http://{addr}"),
        };
        let health = format!("{}/api/v1/health", node.base);
        let started = Instant::now();
        while !http.ok(&health) {
            let exited = node.child.try_wait().expect("the server's status");
            if exited.is_some() || started.elapsed() > START_TIMEOUT {
                panic!(
                    "bonuskassa-server did not start ({exited:?}): {}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        node
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let asked = Instant::now();
        while asked.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nobody listens on now. The server binds it a moment later; another process
/// taking it in between would make the start fail loudly, not measure the wrong thing.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The wrk script of the calculations: every demo customer with every receipt size, each
/// request formatted once in `init`, then sent in turn.
fn calc_script(dir: &Path, token: &str, customers: &[String]) -> PathBuf {
    let at = "2026-11-23T12:00:00+03:00";
    let bodies: Vec<String> = (0..customers.len() * 6)
        .map(|n| {
            let customer = &customers[n % customers.len()];
            json!({ "customer_id": customer, "receipt": receipt(&format!("calc-{n}"), n / 4, at),
                    "spend": "0" })
            .to_string()
        })
        .collect();
    let mut lua = String::from("local bodies = {\n");
    for body in &bodies {
        // A level-2 long bracket: no JSON text can close it by accident.
        assert!(!body.contains("]==]"));
        lua.push_str(&format!("  [==[{body}]==],\n"));
    }
    lua.push_str(&format!(
        r#"}}
local headers = {{ ["Content-Type"] = "application/json", ["Authorization"] = "Bearer {token}" }}
local requests = {{}}
local next = 0
function init(args)
  for i, body in ipairs(bodies) do
    requests[i] = wrk.format("POST", nil, headers, body)
  end
end
function request()
  next = next % #requests + 1
  return requests[next]
end
"#
    ));
    let path = dir.join(format!("calc-{}.lua", uuid::Uuid::new_v4().simple()));
    std::fs::write(&path, lua).expect("the wrk script");
    path
}

/// One wrk process under way.
struct Wrk {
    child: Child,
    what: String,
}

/// What wrk measured.
#[derive(Debug, Default)]
struct WrkRun {
    rps: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

impl Wrk {
    fn start(
        threads: usize,
        connections: usize,
        seconds: u64,
        script: Option<&Path>,
        url: &str,
    ) -> Wrk {
        let mut cmd = Command::new("wrk");
        cmd.arg(format!("-t{threads}"))
            .arg(format!("-c{connections}"))
            .arg(format!("-d{seconds}s"))
            // wrk leaves a request slower than its timeout (2 s by default) out of the
            // latency figures and counts it as an error: a slow tail would vanish from the
            // p99 it belongs to. Long enough that only a hung server reaches it.
            .arg(format!("--timeout={WRK_TIMEOUT_S}s"))
            .arg("--latency");
        if let Some(script) = script {
            cmd.arg("-s").arg(script);
        }
        let child = cmd
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("wrk starts");
        Wrk {
            child,
            what: url.to_string(),
        }
    }

    /// Waits for wrk and reads its report. Any answer but 2xx, or any socket error (a
    /// timeout included: a request that hung), fails the bench: a refused or broken request
    /// costs the server less and would flatter it.
    fn finish(self) -> WrkRun {
        let out = self.child.wait_with_output().expect("wrk runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "wrk {}: {}{}",
            self.what,
            text,
            String::from_utf8_lossy(&out.stderr)
        );
        parse_wrk(&text).unwrap_or_else(|e| panic!("wrk {}: {e}:\n{text}", self.what))
    }
}

/// Reads wrk's `--latency` report.
fn parse_wrk(text: &str) -> Result<WrkRun, String> {
    let mut run = WrkRun::default();
    let (mut rps, mut p50, mut p90, mut p99) = (None, None, None, None);
    for line in text.lines().map(str::trim) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            ["Requests/sec:", v] => rps = v.parse().ok(),
            ["50%", v] => p50 = duration_ms(v),
            ["90%", v] => p90 = duration_ms(v),
            ["99%", v] => p99 = duration_ms(v),
            ["Latency", _avg, _stdev, max, ..] => run.max_ms = duration_ms(max).unwrap_or(0.0),
            ["Non-2xx", "or", "3xx", "responses:", n] => {
                return Err(format!("{n} answers were not 2xx"));
            }
            ["Socket", "errors:", ..] => return Err(line.to_string()),
            _ => {}
        }
    }
    run.rps = rps.ok_or("no Requests/sec line")?;
    run.p50_ms = p50.ok_or("no 50% line")?;
    run.p90_ms = p90.ok_or("no 90% line")?;
    run.p99_ms = p99.ok_or("no 99% line")?;
    Ok(run)
}

/// A wrk time (`812.00us`, `1.25ms`, `2.00s`, `1.00m`) in milliseconds.
fn duration_ms(s: &str) -> Option<f64> {
    let split = s.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = s.split_at(split);
    let n: f64 = number.parse().ok()?;
    Some(match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        "h" => n * 3_600_000.0,
        _ => return None,
    })
}

/// What a writer did.
struct Written {
    ops: u64,
    elapsed: Duration,
}

/// A second till draining its queue into the server as fast as it answers: batches of
/// sales for the demo customers, one after another, on a thread of its own.
struct Writer {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Written>,
}

impl Writer {
    fn start(base: String, token: String, customers: Vec<String>) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let http = Http::new();
            let url = format!("{base}/api/v1/operations");
            // Two days back: see the module's doc.
            let at = (Utc::now() - chrono::Duration::days(2)).to_rfc3339();
            let mut seq = 0u64;
            let start = Instant::now();
            while !flag.load(Ordering::Relaxed) {
                let operations: Vec<Value> = (0..OPS_PER_BATCH)
                    .map(|_| {
                        seq += 1;
                        let n = seq as usize;
                        json!({ "id": uuid::Uuid::now_v7().to_string(), "seq": seq, "at": at,
                                "cashier": "Кассир Мария", "cashier_id": 1,
                                "body": { "kind": "sale", "customer_id": customers[n % customers.len()],
                                          "receipt": receipt(&format!("w-{n}"), n, &at), "spend": "0" } })
                    })
                    .collect();
                let body = json!({ "operations": operations }).to_string();
                let v = http.post(&url, Some(&token), body);
                let results = v["results"].as_array().expect("results");
                assert_eq!(results.len(), OPS_PER_BATCH);
                for r in results {
                    assert_eq!(r["status"], "applied", "{r}");
                }
            }
            Written {
                ops: seq,
                elapsed: start.elapsed(),
            }
        });
        Writer { stop, thread }
    }

    fn stop(self) -> Written {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the writer thread")
    }
}
