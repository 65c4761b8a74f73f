//! `bonuskassa-till-load`: queues synthetic accrual-only sales at an enrolled till and syncs
//! them; used by the kill -9 tests and for burn-in of a new till.
//!
//! It opens the till in `--data` (its `terminal.toml` and the secret store it names),
//! starts the sync worker, finds the customer by `--phone` and sells `--count` one-line
//! receipts `{prefix}-{i}` with no bonus spend, each priced like a cashier's (online first,
//! the cached rules when the server does not answer). Every sale that is on disk is
//! announced on standard output as `CONFIRMED <operation id>`, flushed at once, so a
//! parent that kills the process knows exactly what the till promised. With `--drain` it
//! then waits until the queue is empty and prints `DRAINED conflicts=<n>`.
//!
//! With `--keep` every sale goes the register's way instead: applied and kept on disk
//! (`APPLIED <operation id>`), then closed with a fiscal document, which queues it; and
//! first of all, like a register after a restart of the till, it closes every receipt a
//! killed run left applied.
//!
//! Exit codes: 0 done, 1 anything went wrong (one line on standard error), 2 bad
//! arguments (clap's own message).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{FixedOffset, Utc};
use clap::Parser;

use bonuskassa::clock::SystemClock;
use bonuskassa::domain::money::Bonus;
use bonuskassa::domain::phone::Phone;
use bonuskassa::domain::receipt::Receipt;
use bonuskassa::protocol::server::Role;
use bonuskassa::store::TerminalStore;
use bonuskassa::sync::plan::Backoff;
use bonuskassa::sync::worker::SyncOptions;
use bonuskassa::terminal::{Cashier, Lookup, Terminal};

#[derive(Parser)]
#[command(
    name = "bonuskassa-till-load",
    version,
    about = "Queue synthetic accrual-only sales at an enrolled till and sync them"
)]
struct Args {
    /// The data dir of an enrolled till (with its terminal.toml).
    #[arg(long)]
    data: PathBuf,
    /// The customer the sales are for, found at the server (or in the till's cache).
    #[arg(long)]
    phone: String,
    /// How many sales to queue.
    #[arg(long, default_value_t = 10)]
    count: u64,
    /// Receipt ids are `{prefix}-{i}`: give every run its own prefix.
    #[arg(long)]
    prefix: String,
    /// The price of the receipt's one line, in rubles.
    #[arg(long, default_value = "200.00")]
    price: String,
    /// Operations per batch the sync worker sends.
    #[arg(long, default_value_t = 7)]
    batch: usize,
    /// After queueing, wait until the queue is empty before exiting.
    #[arg(long)]
    drain: bool,
    /// Sell the register's way: apply and keep, then close (and first close what a
    /// killed run left applied).
    #[arg(long)]
    keep: bool,
    /// How long `--drain` waits, in seconds.
    #[arg(long, default_value_t = 60)]
    drain_timeout: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    bonuskassa::logging::init();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}")),
    };
    match runtime.block_on(run(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => fail(&message),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("bonuskassa-till-load: {message}");
    ExitCode::FAILURE
}

/// Writes one line to standard output and flushes it: a parent may kill us right after.
fn announce(line: &str) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(|e| format!("cannot write to standard output: {e}"))
}

/// A one-line sale receipt, formed now in Moscow time (the demo store's offset).
fn receipt(id: &str, price: &str) -> Result<Receipt, String> {
    let msk = FixedOffset::east_opt(3 * 3600).ok_or("the UTC+3 offset")?;
    let receipt: Receipt = serde_json::from_value(serde_json::json!({
        "id": id,
        "kind": "sale",
        "at": Utc::now().with_timezone(&msk).to_rfc3339(),
        "positions": [
            { "id": "1", "name": "Нагрузка", "category": "coffee", "price": price, "quantity": "1" }
        ]
    }))
    .map_err(|e| format!("receipt {id}: {e}"))?;
    receipt
        .validate()
        .map_err(|e| format!("receipt {id}: {e}"))?;
    Ok(receipt)
}

async fn run(args: &Args) -> Result<(), String> {
    let phone = Phone::parse(&args.phone).map_err(|e| format!("--phone: {e}"))?;
    let terminal = Terminal::open(&args.data, Arc::new(SystemClock))
        .map_err(|e| format!("{}: {e}", args.data.display()))?;
    // Started before the first sale, so sends overlap with queueing and batches form.
    terminal
        .start_sync(SyncOptions {
            batch: args.batch.max(1),
            backoff: Backoff {
                base: Duration::from_millis(50),
                max: Duration::from_secs(2),
            },
            ..SyncOptions::default()
        })
        .map_err(|e| format!("cannot start the sync worker: {e}"))?;
    let cashier = Cashier {
        id: 1,
        name: "Нагрузка".into(),
        role: Role::Cashier,
        offline: false,
    };
    let customer = terminal
        .lookup(&Lookup::Phone(phone))
        .await
        .map_err(|e| format!("looking up the customer: {e}"))?
        .ok_or("no customer has this phone (at the server or in the till's cache)")?
        .customer;
    if args.keep {
        // The register closes what it printed before the till went down.
        let left = terminal
            .kept_applied()
            .map_err(|e| format!("reading the applied receipts: {e}"))?;
        for kept in left {
            close(&terminal, &kept.operation_id, &kept.receipt)?;
        }
    }
    for i in 0..args.count {
        let receipt = receipt(&format!("{}-{i}", args.prefix), &args.price)?;
        let priced = terminal
            .calculate(&customer, &receipt, Bonus::ZERO)
            .await
            .map_err(|e| format!("calculating receipt {}: {e}", receipt.id))?;
        if args.keep {
            let id = uuid::Uuid::now_v7();
            let kept = terminal.kept_sale(id, &cashier, &priced, None, false, Utc::now());
            terminal
                .keep_applied(&kept)
                .map_err(|e| format!("applying receipt {}: {e}", receipt.id))?;
            announce(&format!("APPLIED {id}"))?;
            close(&terminal, &kept.operation_id, &receipt)?;
            continue;
        }
        let op = terminal
            .sell(&cashier, &priced, None)
            .map_err(|e| format!("selling receipt {}: {e}", receipt.id))?;
        announce(&format!("CONFIRMED {}", op.id))?;
    }
    if args.drain {
        let conflicts = drain(&terminal, &args.data, args.drain_timeout).await?;
        announce(&format!("DRAINED conflicts={conflicts}"))?;
    }
    terminal.stop_sync();
    Ok(())
}

/// The register's close of an applied receipt, with the fiscal document it printed: the
/// sale is queued once, however often it is closed.
fn close(terminal: &Terminal, operation_id: &str, receipt: &Receipt) -> Result<(), String> {
    let fiscal = bonuskassa::bridge::client::simulated_fiscal(receipt, receipt.total());
    terminal
        .close_kept(operation_id, receipt, Some(fiscal))
        .map_err(|e| format!("closing receipt {}: {e}", receipt.id))?;
    announce(&format!("CONFIRMED {operation_id}"))
}

/// Waits until nothing is pending, reading the queue from the database itself: the status
/// the worker publishes can lag a sale committed a moment before. Returns the conflicts
/// (operations the server refused) the queue holds.
async fn drain(terminal: &Terminal, data: &Path, timeout_s: u64) -> Result<u64, String> {
    let store = TerminalStore::open(data).map_err(|e| format!("{}: {e}", data.display()))?;
    let deadline = Instant::now() + Duration::from_secs(timeout_s);
    loop {
        let queue = store
            .queue_status()
            .map_err(|e| format!("reading the queue: {e}"))?;
        if queue.pending == 0 {
            return Ok(queue.conflicts);
        }
        if Instant::now() >= deadline {
            let status = terminal.status();
            let why = match (status.paused, status.last_error) {
                (Some(reason), _) => format!("the queue is paused: {reason:?}"),
                (None, Some(e)) => format!("last error: {e}"),
                (None, None) => "no error reported".into(),
            };
            return Err(format!(
                "{} operations still pending after {timeout_s} s ({why})",
                queue.pending
            ));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
