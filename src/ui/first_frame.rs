//! Start-up figures for `benches/startup.rs` (SPEC.md §6: client start to first frame
//! ≤ 0.5 s, resident memory ≤ 80 MB).
//!
//! With `BONUSKASSA_EXIT_AFTER_FIRST_FRAME=1` the window prints one line to standard output
//! once its first frame is drawn, then ends the event loop, so the process exits 0:
//!
//! ```text
//! first-frame ms=412 rss_kb=61234 hwm_kb=61234 via=stdin
//! ```
//!
//! `ms` counts from the start of the process (from `/proc`, to 10 ms), `rss_kb` and
//! `hwm_kb` are `VmRSS` and `VmHWM` (the peak so far) of `/proc/self/status`; each is
//! `unknown` where there is no `/proc`. With `BONUSKASSA_STAY_AFTER_FIRST_FRAME_MS=N` as
//! well the window stays N ms longer, the session and the sync worker running as they do,
//! and prints a second line, `settled ms=… rss_kb=… hwm_kb=…`, before it closes. Without
//! the variable nothing here runs.
//!
//! Who says the first frame is drawn (`via`):
//! - `notifier`: Slint's rendering notifier, after the first rendering. The GPU renderers
//!   (FemtoVG, Skia, chosen with `SLINT_BACKEND`) have one.
//! - `stdin`: the software renderer, the default, has none in Slint 1.18
//!   (`SetRenderingNotifierError::Unsupported`), and no public call tells when the winit
//!   backend has created or drawn the window. The frame is then seen from outside: the
//!   figures are taken when a line arrives on standard input, which `benches/startup.rs`
//!   writes as soon as the window's pixels are in the X server's framebuffer. The end of
//!   input without a line reports nothing.
//!
//! The login page of an enrolled till (or the installer's setup) is chosen before the
//! window is shown, so the first frame already shows it.

use std::cell::Cell;
use std::io::{BufRead, Write};
use std::rc::Rc;
use std::time::Duration;

use slint::{ComponentHandle, RenderingState};

use super::AppWindow;

/// Set to `1` to print the figures at the first frame and exit.
const EXIT_VAR: &str = "BONUSKASSA_EXIT_AFTER_FIRST_FRAME";
/// Milliseconds to stay after the first frame before the second report and the exit.
const STAY_VAR: &str = "BONUSKASSA_STAY_AFTER_FIRST_FRAME_MS";

/// Prepares the report of the first frame when [`EXIT_VAR`] is `1`; call it just before
/// the window runs. Does nothing otherwise.
pub(super) fn install(window: &AppWindow) {
    if std::env::var_os(EXIT_VAR).is_none_or(|v| v != "1") {
        return;
    }
    let stay = std::env::var(STAY_VAR)
        .ok()
        .and_then(|ms| ms.trim().parse::<u64>().ok())
        .map(Duration::from_millis);
    let done = Rc::new(Cell::new(false));
    let notified = window
        .window()
        .set_rendering_notifier(move |state, _| {
            if matches!(state, RenderingState::AfterRendering) && !done.replace(true) {
                // Not from inside the rendering: the report ends the event loop.
                slint::Timer::single_shot(Duration::ZERO, move || first_frame("notifier", stay));
            }
        })
        .is_ok();
    if !notified {
        told_on_stdin(stay);
    }
}

/// Reports the first frame when a line arrives on standard input.
fn told_on_stdin(stay: Option<Duration>) {
    let reader = std::thread::Builder::new()
        .name("bonuskassa-first-frame".into())
        .spawn(move || {
            let mut line = String::new();
            match std::io::stdin().lock().read_line(&mut line) {
                Ok(n) if n > 0 => {
                    if let Err(e) =
                        slint::invoke_from_event_loop(move || first_frame("stdin", stay))
                    {
                        tracing::warn!(error = %e, "cannot report the first frame");
                    }
                }
                _ => tracing::warn!("standard input ended: no first-frame figures"),
            }
        });
    if let Err(e) = reader {
        tracing::warn!(error = %e, "cannot wait for the first frame");
    }
}

/// Prints and logs the figures of the first frame, then ends the event loop now or after
/// `stay`.
fn first_frame(via: &str, stay: Option<Duration>) {
    let figures = Figures::now();
    tracing::info!(
        ms = %figures.ms,
        rss_kb = %figures.rss_kb,
        hwm_kb = %figures.hwm_kb,
        via,
        "first frame"
    );
    print_line(&format!("first-frame {figures} via={via}"));
    match stay {
        None => quit(),
        Some(stay) => slint::Timer::single_shot(stay, || {
            let figures = Figures::now();
            tracing::info!(
                ms = %figures.ms,
                rss_kb = %figures.rss_kb,
                hwm_kb = %figures.hwm_kb,
                "settled after the first frame"
            );
            print_line(&format!("settled {figures}"));
            quit();
        }),
    }
}

fn print_line(line: &str) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
        tracing::warn!("cannot write the first-frame figures to standard output");
    }
}

fn quit() {
    if let Err(e) = slint::quit_event_loop() {
        tracing::warn!(error = %e, "cannot end the event loop after the first frame");
    }
}

/// The figures of one report, each `unknown` when the system does not tell.
struct Figures {
    ms: String,
    rss_kb: String,
    hwm_kb: String,
}

impl Figures {
    fn now() -> Figures {
        let text = |v: Option<u64>| v.map_or_else(|| "unknown".to_string(), |v| v.to_string());
        let (rss, hwm) = memory_kb();
        Figures {
            ms: text(since_start_ms()),
            rss_kb: text(rss),
            hwm_kb: text(hwm),
        }
    }
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ms={} rss_kb={} hwm_kb={}",
            self.ms, self.rss_kb, self.hwm_kb
        )
    }
}

/// Milliseconds since this process started: `/proc/uptime` less the start time in
/// `/proc/self/stat` (field 22, in clock ticks of 1/100 s; Linux's USER_HZ is 100).
fn since_start_ms() -> Option<u64> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    const TICKS_PER_S: u64 = 100;
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) is in parentheses and may hold spaces or parentheses;
    // the fields after the last `)` start at field 3.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let start_ticks: u64 = after_name.split_whitespace().nth(22 - 3)?.parse().ok()?;
    let uptime = std::fs::read_to_string("/proc/uptime").ok()?;
    let uptime_s: f64 = uptime.split_whitespace().next()?.parse().ok()?;
    let uptime_ms = (uptime_s * 1000.0).round() as u64;
    uptime_ms.checked_sub(start_ticks * 1000 / TICKS_PER_S)
}

/// `VmRSS` and `VmHWM` of `/proc/self/status`, in kB.
fn memory_kb() -> (Option<u64>, Option<u64>) {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return (None, None);
    };
    (status_kb(&status, "VmRSS:"), status_kb(&status, "VmHWM:"))
}

fn status_kb(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(key))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_give_kilobytes() {
        let status = "Name:\tbonuskassa\nVmHWM:\t   61234 kB\nVmRSS:\t   59000 kB\n";
        assert_eq!(status_kb(status, "VmRSS:"), Some(59_000));
        assert_eq!(status_kb(status, "VmHWM:"), Some(61_234));
        assert_eq!(status_kb(status, "VmSwap:"), None);
    }

    #[test]
    fn the_figures_read_this_process_or_say_unknown() {
        let (rss, hwm) = memory_kb();
        let ms = since_start_ms();
        if cfg!(target_os = "linux") {
            assert!(rss.is_some_and(|kb| kb > 0), "{rss:?}");
            assert!(hwm >= rss, "{hwm:?} {rss:?}");
            // A test process has not run for a day.
            assert!(ms.is_some_and(|ms| ms < 86_400_000), "{ms:?}");
        }
        assert!(!Figures::now().to_string().is_empty());
    }
}
