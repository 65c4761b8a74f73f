//! The installer's commands for a till: `enroll`, `status` and `sync`.
//!
//! They drive the same library the touch UI does ([`crate::terminal`]), so what an
//! installer sees from the command line is what the cashier's status bar will show.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::CliError;
use crate::clock::SystemClock;
use crate::secrets::SecretBackend;
use crate::sync::worker::{SyncOptions, SyncStatus};
use crate::terminal::{Terminal, TerminalConfig, TerminalError};

/// Arguments of `bonuskassa enroll`.
#[derive(Debug, Clone, clap::Args)]
pub struct EnrollArgs {
    /// The till's data dir (database and terminal.toml).
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// The central server, https://… (http:// only on a loopback address).
    #[arg(long, value_name = "URL")]
    pub server: String,
    /// The one-time code from `bonuskassa-server enroll-code`.
    #[arg(long, value_name = "CODE")]
    pub code: String,
    /// The till's name as managers see it.
    #[arg(long, default_value = "Касса 1")]
    pub name: String,
    /// Where the token and the cache key live: `keyring` (the OS keyring), or
    /// `file:/absolute/dir` on a till without a secret service.
    #[arg(long, value_name = "BACKEND", default_value = "keyring")]
    pub secrets: String,
    /// A PEM file of the private CA that signed the server's certificate.
    #[arg(long, value_name = "PEM")]
    pub ca: Option<PathBuf>,
    /// How long a lookup waits for the server before the cache answers, in ms.
    #[arg(long, value_name = "MS", default_value_t = 1500)]
    pub timeout_ms: u64,
}

/// Arguments of `bonuskassa status` and `bonuskassa sync`.
#[derive(Debug, Clone, clap::Args)]
pub struct TillArgs {
    /// The till's data dir.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// `sync` only: how long to wait for the queue to drain and the caches to load, in s.
    #[arg(long, value_name = "S", default_value_t = 60)]
    pub wait: u64,
}

pub(super) fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError {
            message: format!("cannot start: {e}"),
            exit_code: 1,
        })
}

fn failed(e: TerminalError) -> CliError {
    let exit_code = match e {
        TerminalError::Config(_) | TerminalError::NotEnrolled(_) => 2,
        _ => 1,
    };
    CliError {
        message: e.to_string(),
        exit_code,
    }
}

/// Enrolls a till and pulls its rules and customers once; returns the report to print.
pub fn enroll(args: &EnrollArgs) -> Result<String, CliError> {
    let backend: SecretBackend = args
        .secrets
        .parse()
        .map_err(|e| CliError::input(format!("--secrets: {e}")))?;
    let mut config = TerminalConfig::new(&args.server, &args.name, backend.clone());
    config.private_ca = args.ca.clone();
    config.timeout_ms = args.timeout_ms;
    let secrets = crate::secrets::open(backend).map_err(|e| CliError::input(e.to_string()))?;
    let rt = runtime()?;
    let terminal = rt
        .block_on(Terminal::enroll(
            &args.data,
            config,
            secrets.into(),
            &args.code,
            Arc::new(SystemClock),
        ))
        .map_err(failed)?;
    let status = wait_until_synced(&terminal, Duration::from_secs(60))?;
    Ok(format!(
        "enrolled: {}\n{}",
        terminal.data_dir().display(),
        describe(&terminal, &status)
    ))
}

/// The till's status, without contacting the server.
pub fn status(args: &TillArgs) -> Result<String, CliError> {
    let terminal = Terminal::open(&args.data, Arc::new(SystemClock)).map_err(failed)?;
    Ok(describe(&terminal, &terminal.status()))
}

/// Sends what is queued and pulls rules and customers; waits up to `--wait` seconds.
pub fn sync(args: &TillArgs) -> Result<String, CliError> {
    let terminal = Terminal::open(&args.data, Arc::new(SystemClock)).map_err(failed)?;
    let started = Utc::now();
    let status = wait_until_synced(&terminal, Duration::from_secs(args.wait))?;
    let report = describe(&terminal, &status);
    if status.last_sync.is_none_or(|t| t < started) {
        return Err(CliError {
            message: format!("the server was not reached:\n{report}"),
            exit_code: 1,
        });
    }
    if status.queue.pending > 0 || status.paused.is_some() {
        return Err(CliError {
            message: format!("the queue did not drain:\n{report}"),
            exit_code: 1,
        });
    }
    Ok(report)
}

fn wait_until_synced(terminal: &Terminal, wait: Duration) -> Result<SyncStatus, CliError> {
    terminal
        .start_sync(SyncOptions::default())
        .map_err(failed)?;
    let deadline = Instant::now() + wait;
    let started = Utc::now();
    loop {
        let s = terminal.status();
        let synced = s.last_sync.is_some_and(|t| t >= started) && !s.cache.loading;
        if (synced && s.queue.pending == 0) || s.paused.is_some() || Instant::now() >= deadline {
            terminal.stop_sync();
            return Ok(terminal.status());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn when(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(
        || "never".into(),
        |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    )
}

/// The status as an installer reads it.
pub fn describe(terminal: &Terminal, s: &SyncStatus) -> String {
    let online = match (s.online, s.paused) {
        (_, Some(reason)) => format!("paused ({reason:?}): enroll the till again"),
        (Some(true), None) => "online".into(),
        (Some(false), None) => "offline".into(),
        (None, None) => "not tried".into(),
    };
    let mut out = format!(
        "server: {} ({online})\nqueue: {} waiting, oldest {}\nlast sync: {}\nconflicts: {}\ncustomers cached: {}\nrules version: {}\n",
        terminal.config().server_url,
        s.queue.pending,
        when(s.queue.oldest_pending_at),
        when(s.last_sync),
        s.queue.conflicts,
        s.cached_customers,
        s.rules_version
            .map_or_else(|| "none".into(), |v| v.to_string()),
    );
    if let Some(e) = &s.last_error {
        out.push_str(&format!("last problem: {e}\n"));
    }
    out
}
