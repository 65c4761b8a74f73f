//! Budget (SPEC.md §6): client start to first frame ≤ 0.5 s; resident memory ≤ 80 MB.
//!
//! A real server runs in this process with the demo data, and a till is enrolled against
//! it the way an installer does it (`bonuskassa enroll`, secrets in a `file:` vault, so the
//! window needs no keyring). Then the release binary is started again and again as the
//! till starts, `bonuskassa ui --data DIR` with its default software renderer, in an Xvfb
//! of the window's preferred size that this bench starts (`-fbdir`: the screen is a file
//! the bench reads).
//!
//! Slint's software renderer cannot tell the process its own first frame (see
//! `src/ui/first_frame.rs`), so the frame is seen from outside: the bench polls the
//! framebuffer until the window covers the screen, which is the frame the cashier sees,
//! and then writes a line to the window's standard input. The window, started with
//! `BONUSKASSA_EXIT_AFTER_FIRST_FRAME=1`, answers `first-frame ms=… rss_kb=… hwm_kb=…`
//! (its `VmRSS` and `VmHWM`, the peak so far) and exits 0.
//!
//! Figures per start, in a table beside their budgets: spawn to pixels on screen (wall
//! clock), process start to the report (the window's own, by the kernel's clock, to
//! 10 ms), spawn to the report line, and the memory at the first frame. One start before
//! the timed ones warms the disk and font caches and is shown apart; a last one stays 3 s
//! after its first frame, the session and the sync worker running, and reports its memory
//! then.
//!
//! Without `Xvfb` on the `PATH` the bench says it is skipped and exits 0 (`apt-get install
//! xvfb`). `cargo test --benches` (no `--bench` argument) makes 2 timed starts only.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bonuskassa::clock::SystemClock;
use bonuskassa::server::{self, ServerConfig, admin};
use chrono::Utc;

const BONUSKASSA: &str = env!("CARGO_BIN_EXE_bonuskassa");
const RUNS: usize = 15;
const QUICK_RUNS: usize = 2;
const FIRST_FRAME_BUDGET_MS: f64 = 500.0;
/// 80 MB, in the kB (KiB) of `/proc/PID/status`.
const MEMORY_BUDGET_KB: u64 = 80_000_000 / 1024;
const SETTLE_MS: u64 = 3_000;
/// A start that shows nothing in this long is a failure.
const RUN_TIMEOUT: Duration = Duration::from_secs(30);
const SCREEN: (u32, u32) = (1280, 800);

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let display = match Display::open() {
        Ok(Some(display)) => display,
        Ok(None) => {
            println!("startup: skipped: needs Xvfb (apt-get install xvfb)");
            return;
        }
        Err(e) => panic!("cannot start Xvfb: {e}"),
    };
    let dir = tempfile::tempdir().expect("a temp dir");
    let server_data = dir.path().join("server");
    admin::demo_data(&server_data, Utc::now()).expect("the demo data");
    let running = server::spawn(
        ServerConfig::new(&server_data),
        Arc::new(SystemClock),
        "127.0.0.1:0",
    )
    .expect("the server");
    let till = dir.path().join("till");
    enroll(
        &server_data,
        &running.url(),
        &till,
        &dir.path().join("secrets"),
    );

    let log = dir.path().join("ui.log");
    let cold = start(&display, &till, &log, None);
    let runs = if quick { QUICK_RUNS } else { RUNS };
    let timed: Vec<Start> = (0..runs)
        .map(|_| start(&display, &till, &log, None))
        .collect();
    let settle = if quick { 500 } else { SETTLE_MS };
    let settled = start(&display, &till, &log, Some(settle));

    report(&display, &timed, &cold, &settled, settle);
    drop(running);
}

/// Enrolls a till in `till` as an installer does, its secrets in the vault `secrets`.
fn enroll(server_data: &Path, url: &str, till: &Path, secrets: &Path) {
    let code =
        admin::enroll_code(server_data, admin::DEMO_STORE, Utc::now()).expect("an enroll code");
    let out = Command::new(BONUSKASSA)
        .arg("enroll")
        .arg("--data")
        .arg(till)
        .args(["--server", url, "--code", &code, "--name", "Касса 1"])
        .arg("--secrets")
        .arg(format!("file:{}", secrets.display()))
        .output()
        .expect("bonuskassa enroll runs");
    assert!(
        out.status.success(),
        "bonuskassa enroll: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The bench's own Xvfb, stopped on drop.
struct Display {
    name: String,
    xvfb: Child,
    framebuffer: Framebuffer,
    _fbdir: tempfile::TempDir,
}

impl Display {
    /// A new Xvfb, or `None` when there is no `Xvfb` program.
    fn open() -> std::io::Result<Option<Display>> {
        if !on_path("Xvfb") {
            return Ok(None);
        }
        let fbdir = tempfile::tempdir()?;
        // `-displayfd 1`: Xvfb takes the first free display number and, once it accepts
        // clients, writes that number to its standard output. `-br`: a black screen.
        let mut xvfb = Command::new("Xvfb")
            .args(["-displayfd", "1", "-nolisten", "tcp", "-br", "-screen", "0"])
            .arg(format!("{}x{}x24", SCREEN.0, SCREEN.1))
            .arg("-fbdir")
            .arg(fbdir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = xvfb.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let number = rx
            .recv_timeout(Duration::from_secs(20))
            .ok()
            .map(|line| line.trim().to_string())
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        let framebuffer = Framebuffer::open(&fbdir.path().join("Xvfb_screen0"));
        match (number, framebuffer) {
            (Some(number), Ok(framebuffer)) => Ok(Some(Display {
                name: format!(":{number}"),
                xvfb,
                framebuffer,
                _fbdir: fbdir,
            })),
            (number, framebuffer) => {
                let _ = xvfb.kill();
                let _ = xvfb.wait();
                Err(std::io::Error::other(match number {
                    None => "Xvfb did not say its display number".to_string(),
                    Some(_) => format!(
                        "Xvfb's framebuffer: {}",
                        framebuffer.err().expect("an error")
                    ),
                }))
            }
        }
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        let _ = self.xvfb.kill();
        let _ = self.xvfb.wait();
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// Xvfb's screen as an XWD file (`-fbdir`), which the server keeps mapped and draws into.
struct Framebuffer {
    file: File,
    data: u64,
    bytes_per_line: u64,
    bytes_per_pixel: u64,
}

impl Framebuffer {
    fn open(path: &Path) -> std::io::Result<Framebuffer> {
        let file = File::open(path)?;
        // The XWD header: big-endian 32-bit fields.
        let mut header = [0u8; 100];
        file.read_exact_at(&mut header, 0)?;
        let field = |i: usize| {
            u32::from_be_bytes(header[i * 4..i * 4 + 4].try_into().expect("4 bytes")) as u64
        };
        let (header_size, bits_per_pixel, bytes_per_line, ncolors) =
            (field(0), field(11), field(12), field(19));
        let (width, height) = (field(4), field(5));
        if !bits_per_pixel.is_multiple_of(8)
            || bits_per_pixel < 24
            || width < SCREEN.0 as u64
            || height < SCREEN.1 as u64
        {
            return Err(std::io::Error::other(format!(
                "unexpected Xvfb framebuffer: {width}x{height}, {bits_per_pixel} bits per pixel"
            )));
        }
        Ok(Framebuffer {
            file,
            // Each colormap entry of an XWD file is 12 bytes.
            data: header_size + ncolors * 12,
            bytes_per_line,
            bytes_per_pixel: bits_per_pixel / 8,
        })
    }

    /// True when the window's first frame covers the screen: nearly all of 8×8 sample
    /// points are not the black of the empty screen (`-br`; every colour of the login
    /// page, the dark header and text included, is lighter), and they are not all one
    /// colour, as a window merely filled with its background by the X server would be.
    fn window_shown(&self) -> bool {
        let n = self.bytes_per_pixel.min(4) as usize;
        let mut lit = 0;
        let mut colours = std::collections::HashSet::new();
        for row in 0..8u64 {
            for col in 0..8u64 {
                let x = (2 * col + 1) * u64::from(SCREEN.0) / 16;
                let y = (2 * row + 1) * u64::from(SCREEN.1) / 16;
                let mut pixel = [0u8; 4];
                let at = self.data + y * self.bytes_per_line + x * self.bytes_per_pixel;
                if self.file.read_exact_at(&mut pixel[..n], at).is_ok() {
                    let rgb = [pixel[0], pixel[1], pixel[2]];
                    if rgb != [0, 0, 0] {
                        lit += 1;
                    }
                    colours.insert(rgb);
                }
            }
        }
        lit >= 58 && colours.len() > 1
    }
}

/// What one start of the window showed.
struct Start {
    /// Spawn to the window's pixels on screen.
    pixels: Duration,
    /// Spawn to the `first-frame` line.
    line: Duration,
    /// The `ms` the window reported: from its process start, by the kernel's clock.
    self_ms: Option<f64>,
    via: String,
    rss_kb: Option<u64>,
    hwm_kb: Option<u64>,
    /// From the `settled` line, when the start stayed.
    settled_rss_kb: Option<u64>,
    settled_hwm_kb: Option<u64>,
}

/// Starts the window on the enrolled till, waits for its pixels on screen, tells it, and
/// waits for its `first-frame` line (and its `settled` line when it stays) and its exit.
/// Its standard error goes to `log`.
fn start(display: &Display, till: &Path, log: &Path, stay_ms: Option<u64>) -> Start {
    let fb = &display.framebuffer;
    // The screen is empty again after the previous window.
    let deadline = Instant::now() + Duration::from_secs(5);
    while fb.window_shown() {
        assert!(Instant::now() < deadline, "the screen stays covered");
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut command = Command::new(BONUSKASSA);
    command
        .arg("ui")
        .arg("--data")
        .arg(till)
        .env("DISPLAY", &display.name)
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("SLINT_BACKEND")
        .env("BONUSKASSA_EXIT_AFTER_FIRST_FRAME", "1")
        .env_remove("BONUSKASSA_STAY_AFTER_FIRST_FRAME_MS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(File::create(log).expect("the log file"));
    if let Some(ms) = stay_ms {
        command.env("BONUSKASSA_STAY_AFTER_FIRST_FRAME_MS", ms.to_string());
    }
    let spawned = Instant::now();
    let mut child = command.spawn().expect("bonuskassa ui starts");
    let mut stdin = child.stdin.take();
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });

    let log_text = || std::fs::read_to_string(log).unwrap_or_default();
    let mut pixels: Option<Instant> = None;
    let mut first: Option<(Instant, String)> = None;
    let mut settled: Option<String> = None;
    let mut take = |at: Instant, line: String| {
        if line.starts_with("first-frame ") && first.is_none() {
            first = Some((at, line));
        } else if line.starts_with("settled ") {
            settled = Some(line);
        }
    };
    let status = loop {
        if pixels.is_none() && fb.window_shown() {
            pixels = Some(Instant::now());
            if let Some(mut stdin) = stdin.take() {
                // The window may already be gone; its exit status tells then.
                let _ = stdin.write_all(b"frame\n").and_then(|()| stdin.flush());
            }
        }
        while let Ok((at, line)) = rx.try_recv() {
            take(at, line);
        }
        if let Some(status) = child.try_wait().expect("the child's state") {
            // Lines written just before the exit.
            while let Ok((at, line)) = rx.recv_timeout(Duration::from_secs(1)) {
                take(at, line);
            }
            break status;
        }
        if spawned.elapsed() > RUN_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "bonuskassa ui: no first frame in {RUN_TIMEOUT:?} (pixels seen: {}); its log:\n{}",
                pixels.is_some(),
                log_text()
            );
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    assert!(
        status.success(),
        "bonuskassa ui: {status}; its log:\n{}",
        log_text()
    );
    let (Some(pixels), Some((at, line))) = (pixels, first) else {
        panic!(
            "bonuskassa ui exited without its pixels on screen or its first-frame line; its log:\n{}",
            log_text()
        );
    };
    let first = figures(&line);
    let settled = settled.as_deref().map(figures);
    let value = |key: &str| {
        first
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    Start {
        pixels: pixels - spawned,
        line: at - spawned,
        self_ms: value("ms").and_then(|v| v.parse().ok()),
        via: value("via").unwrap_or("?").to_string(),
        rss_kb: kb(&first, "rss_kb"),
        hwm_kb: kb(&first, "hwm_kb"),
        settled_rss_kb: settled.as_deref().and_then(|s| kb(s, "rss_kb")),
        settled_hwm_kb: settled.as_deref().and_then(|s| kb(s, "hwm_kb")),
    }
}

/// `key=value` pairs of a report line.
fn figures(line: &str) -> Vec<(String, String)> {
    line.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn kb(figures: &[(String, String)], key: &str) -> Option<u64> {
    figures.iter().find(|(k, _)| k == key)?.1.parse().ok()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mb(kb: u64) -> f64 {
    kb as f64 * 1024.0 / 1e6
}

/// Median, min and max.
fn spread(mut values: Vec<f64>) -> Option<(f64, f64, f64)> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    let median = if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    };
    Some((median, values[0], values[values.len() - 1]))
}

fn report(display: &Display, timed: &[Start], cold: &Start, settled: &Start, settle_ms: u64) {
    let via = timed.first().map_or("?", |s| s.via.as_str());
    println!(
        "startup: {} starts of `bonuskassa ui --data <enrolled till>`, software renderer, Xvfb {} {}x{} (report via {via})",
        timed.len(),
        display.name,
        SCREEN.0,
        SCREEN.1,
    );
    println!(
        "  {:<46} {:>9} {:>9} {:>9}  {:<9} verdict",
        "figure", "median", "min", "max", "budget"
    );
    let row = |name: &str, values: Vec<f64>, unit: &str, budget: Option<f64>| {
        let Some((median, min, max)) = spread(values) else {
            println!("  {name:<46} {:>9}", "unknown");
            return;
        };
        let (budget, verdict) = match budget {
            Some(b) => (
                format!("≤ {b:.0} {unit}"),
                if max <= b { "ok" } else { "OVER" },
            ),
            None => (String::new(), ""),
        };
        println!(
            "  {name:<46} {median:>6.1} {unit} {min:>6.1} {unit} {max:>6.1} {unit}  {budget:<9} {verdict}"
        );
    };
    let time = Some(FIRST_FRAME_BUDGET_MS);
    let memory = Some(mb(MEMORY_BUDGET_KB));
    row(
        "spawn → window's pixels on screen",
        timed.iter().map(|s| ms(s.pixels)).collect(),
        "ms",
        time,
    );
    row(
        "process start → first-frame report (own clock)",
        timed.iter().filter_map(|s| s.self_ms).collect(),
        "ms",
        time,
    );
    row(
        "spawn → first-frame line",
        timed.iter().map(|s| ms(s.line)).collect(),
        "ms",
        time,
    );
    row(
        "resident memory at first frame (VmRSS)",
        timed.iter().filter_map(|s| s.rss_kb).map(mb).collect(),
        "MB",
        memory,
    );
    row(
        "peak resident memory to first frame (VmHWM)",
        timed.iter().filter_map(|s| s.hwm_kb).map(mb).collect(),
        "MB",
        memory,
    );
    let text =
        |v: Option<f64>, unit: &str| v.map_or("unknown".into(), |v| format!("{v:.1} {unit}"));
    println!(
        "  first start (cold caches, not in the table): pixels {}, line {}, VmRSS {}, VmHWM {}",
        text(Some(ms(cold.pixels)), "ms"),
        text(Some(ms(cold.line)), "ms"),
        text(cold.rss_kb.map(mb), "MB"),
        text(cold.hwm_kb.map(mb), "MB"),
    );
    let verdict = |kb: Option<u64>| match kb {
        Some(kb) if kb <= MEMORY_BUDGET_KB => "ok",
        Some(_) => "OVER",
        None => "",
    };
    println!(
        "  {settle_ms} ms after the first frame (session and sync worker running): VmRSS {} {}, VmHWM {} {} (budget ≤ 80 MB)",
        text(settled.settled_rss_kb.map(mb), "MB"),
        verdict(settled.settled_rss_kb),
        text(settled.settled_hwm_kb.map(mb), "MB"),
        verdict(settled.settled_hwm_kb),
    );
}
