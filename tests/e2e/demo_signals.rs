//! `bonuskassa demo` on a real X server (Xvfb), stopped by a signal as a terminal's Ctrl-C or
//! a `kill` stops it: the windows close, the process exits with success within seconds, and
//! the demo's temporary directory is gone.
//!
//! Needs `Xvfb` on the PATH; without it the test says so and passes, unless
//! `BONUSKASSA_REQUIRE_XVFB=1` (as `.ci/run` sets, after installing it) makes a missing Xvfb
//! a failure.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// An Xvfb display of its own, killed when dropped.
struct Display {
    number: u32,
    xvfb: Child,
}

impl Display {
    fn start() -> Option<Display> {
        let xvfb = which("Xvfb")?;
        // A display number nobody uses: its socket does not exist yet.
        let number = (90..190)
            .find(|n| !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists())
            .expect("a free X display number");
        let child = Command::new(xvfb)
            .arg(format!(":{number}"))
            .args(["-screen", "0", "1366x768x24", "-nolisten", "tcp"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb starts");
        let display = Display {
            number,
            xvfb: child,
        };
        let socket = format!("/tmp/.X11-unix/X{number}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !Path::new(&socket).exists() {
            assert!(Instant::now() < deadline, "Xvfb :{number} did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(display)
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        let _ = self.xvfb.kill();
        let _ = self.xvfb.wait();
    }
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|p| p.is_file())
}

/// The demo's directories in `tmp`.
fn demo_dirs(tmp: &Path) -> Vec<String> {
    std::fs::read_dir(tmp)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("bonuskassa-demo-"))
        .collect()
}

/// Starts the demo on `display` with its temporary files in `tmp`, waits until it has
/// printed its addresses (both windows built, the signal watcher next), sends `signal`,
/// and returns how long it took to exit and its status.
fn stop_demo_with(display: &Display, tmp: &Path, signal: &str) -> (Duration, bool, String) {
    let mut demo = Command::new(env!("CARGO_BIN_EXE_bonuskassa"))
        .arg("demo")
        .env("DISPLAY", format!(":{}", display.number))
        .env("TMPDIR", tmp)
        .env_remove("WAYLAND_DISPLAY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the demo starts");
    let (lines, said) = mpsc::channel();
    let stderr = demo.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut log = String::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let line = said
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| {
                let _ = demo.kill();
                panic!("the demo did not come up in 120 s:\n{log}")
            });
        log.push_str(&line);
        log.push('\n');
        if line.contains("Demo customers") {
            break;
        }
    }
    assert_eq!(
        demo_dirs(tmp).len(),
        1,
        "the demo's directory exists while it runs"
    );
    // The watcher is started right after that line; give the windows a moment to show.
    std::thread::sleep(Duration::from_secs(2));
    let sent = Instant::now();
    let kill = Command::new("kill")
        .args([format!("-{signal}"), demo.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = loop {
        if let Some(status) = demo.try_wait().unwrap() {
            break status;
        }
        if sent.elapsed() > Duration::from_secs(30) {
            let _ = demo.kill();
            panic!("the demo did not stop 30 s after SIG{signal}:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = sent.elapsed();
    while let Ok(line) = said.recv_timeout(Duration::from_millis(200)) {
        log.push_str(&line);
        log.push('\n');
    }
    (took, status.success(), log)
}

#[test]
fn the_demo_stopped_by_a_signal_closes_its_windows_and_removes_its_directory() {
    let Some(display) = Display::start() else {
        assert!(
            std::env::var("BONUSKASSA_REQUIRE_XVFB").as_deref() != Ok("1"),
            "BONUSKASSA_REQUIRE_XVFB=1 but Xvfb is not on the PATH"
        );
        eprintln!("Xvfb is not installed: the demo's signal test is skipped");
        return;
    };
    for signal in ["TERM", "INT", "HUP"] {
        let tmp = tempfile::tempdir().unwrap();
        let (took, success, log) = stop_demo_with(&display, tmp.path(), signal);
        assert!(success, "SIG{signal}: the demo failed:\n{log}");
        assert!(
            log.contains("stopping on a signal"),
            "SIG{signal}: the demo did not say why it stopped:\n{log}"
        );
        assert!(
            took < Duration::from_secs(10),
            "SIG{signal}: the demo took {took:?} to stop"
        );
        assert_eq!(
            demo_dirs(tmp.path()),
            Vec::<String>::new(),
            "SIG{signal}: the demo's directory is left behind"
        );
    }
}
