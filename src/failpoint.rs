//! Named crash points for the kill -9 tests.
//!
//! A test starts a child process with `BONUSKASSA_FAILPOINT=<name>`; when the child reaches
//! that point it writes `FAILPOINT <name>` to stderr and stops there, and the test kills it
//! with SIGKILL. Without the variable every point is one relaxed load of a cached `None`.
//! The names are the steps of queueing and sync the reliability tests (SPEC.md §7) cover:
//!
//! - `before_local_commit` — an operation is written but its transaction not committed;
//! - `after_local_commit` — committed, not yet confirmed to the cashier;
//! - `before_send` — a batch is read from the outbox, not yet sent;
//! - `after_server_commit` — the server answered (so it committed), the answer not read;
//! - `after_answer` — the answer is read, not yet recorded;
//! - `mid_batch` — half of a batch's answers are recorded inside the uncommitted transaction;
//! - `before_applied_commit` — an applied receipt is written, its transaction not committed;
//! - `after_applied_commit` — the applied receipt is on disk, the register not yet told;
//! - `before_close_queue` — the register's close arrived, its sale not yet queued;
//! - `after_close_queue` — the close's sale is queued, the register not yet answered.

use std::io::Write;
use std::sync::OnceLock;

/// The environment variable naming the point to stop at.
pub const VAR: &str = "BONUSKASSA_FAILPOINT";

/// Every named point, for tests that walk them all.
pub const ALL: [&str; 10] = [
    "before_local_commit",
    "after_local_commit",
    "before_send",
    "after_server_commit",
    "after_answer",
    "mid_batch",
    "before_applied_commit",
    "after_applied_commit",
    "before_close_queue",
    "after_close_queue",
];

fn armed() -> Option<&'static str> {
    static ARMED: OnceLock<Option<String>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            std::env::var(VAR)
                .ok()
                .filter(|v| ALL.contains(&v.as_str()))
        })
        .as_deref()
}

/// Stops the process here, forever, when `name` is the armed point.
pub fn hit(name: &'static str) {
    if armed() == Some(name) {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "FAILPOINT {name}");
        let _ = err.flush();
        drop(err);
        loop {
            std::thread::park();
        }
    }
}
