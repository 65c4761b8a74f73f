//! The IO around `plan`: read pending operations from the store, send them, record what
//! the plan decides. One call drains what it can and says why it stopped.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::client::ServerClient;
use super::link::Probe;
use super::plan::{Backoff, Decision, PauseReason, decide};
use crate::store::{QueueStatus, StoreError, TerminalStore};

/// Why a drain stopped.
#[derive(Debug, Clone, PartialEq)]
pub enum Drained {
    /// Nothing pending any more.
    Empty { sent: usize },
    /// A transient failure: try again after this long.
    RetryAfter { sent: usize, after: Duration },
    /// The queue is paused until an installer acts.
    Paused { sent: usize, reason: PauseReason },
}

/// Sends pending operations in batches until the queue is empty or a send fails.
pub async fn drain(
    store: &mut TerminalStore,
    client: &ServerClient,
    batch: usize,
    attempt: u32,
    backoff: Backoff,
) -> Result<Drained, StoreError> {
    let mut batch = batch.max(1);
    let mut sent_total = 0;
    loop {
        let pending = store.pending(batch)?;
        if pending.is_empty() {
            return Ok(Drained::Empty { sent: sent_total });
        }
        let ids: Vec<String> = pending.iter().map(|p| p.id.clone()).collect();
        crate::failpoint::hit("before_send");
        let outcome = client.send_batch(&pending).await;
        match decide(
            &ids,
            batch,
            outcome,
            attempt,
            rand::random::<f64>(),
            backoff,
        ) {
            Decision::Record {
                answers,
                unanswered,
            } => {
                crate::failpoint::hit("after_answer");
                store.record_answers(&answers, Utc::now())?;
                sent_total += answers.len();
                if unanswered > 0 {
                    return Ok(Drained::RetryAfter {
                        sent: sent_total,
                        after: backoff.delay(attempt, rand::random::<f64>()),
                    });
                }
            }
            Decision::Retry { after, batch: b } if after.is_zero() && b < batch => batch = b,
            Decision::Retry { after, .. } => {
                return Ok(Drained::RetryAfter {
                    sent: sent_total,
                    after,
                });
            }
            Decision::Pause(reason) => {
                return Ok(Drained::Paused {
                    sent: sent_total,
                    reason,
                });
            }
        }
    }
}

/// Releases the server holds the till could not release when it wanted to (the server
/// did not answer, or a manager dropped the receipt), oldest first, until the server stops
/// answering. How many were settled.
pub async fn release_holds(
    store: &TerminalStore,
    client: &ServerClient,
) -> Result<usize, StoreError> {
    let mut settled = 0;
    for id in store.releases(100)? {
        match client.release_hold(&id).await {
            Ok(_) => {}
            Err(e) if e.is_offline() => break,
            // Refused for good (a revoked token, another till's hold): nothing to retry;
            // it expires by itself.
            Err(e) => {
                tracing::warn!(hold = %id, error = %e, "the server refused to release a hold")
            }
        }
        store.released(&id)?;
        settled += 1;
    }
    Ok(settled)
}

// ---------------------------------------------------------------------------------------
// The long-lived worker

/// How far the customer cache download has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheProgress {
    /// Customers received in the current download.
    pub loaded: u64,
    /// Customers the server said were due when the download started.
    pub total: u64,
    /// True while a download is under way.
    pub loading: bool,
}

/// What the status bar shows: online or not, the queue, the last sync, the caches.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SyncStatus {
    /// `None` until the server has been tried once.
    pub online: Option<bool>,
    /// The server gave a request of the till no answer (a timeout, a refused or reset
    /// connection) and has answered nothing since: lookups and calculations answer from
    /// the cache without asking it, until the probe or a batch hears it again.
    pub silent: bool,
    /// Set while the queue is paused (401/403, a request the server calls malformed).
    pub paused: Option<PauseReason>,
    pub queue: QueueStatus,
    /// The last time the server answered this till.
    pub last_sync: Option<DateTime<Utc>>,
    pub cache: CacheProgress,
    pub cached_customers: u64,
    pub rules_version: Option<i64>,
    /// The last problem, in words, for the status line; cleared by the next success.
    pub last_error: Option<String>,
}

/// Tuning of the worker; the defaults suit a till.
#[derive(Debug, Clone, Copy)]
pub struct SyncOptions {
    pub batch: usize,
    pub backoff: Backoff,
    /// How often rules and the customer feed are pulled.
    pub refresh_every: Duration,
    /// How long a paused queue waits before it tries the server again.
    pub paused_retry: Duration,
    pub feed_page: u32,
    /// How often the server is asked whether it answers again, while it is silent.
    pub probe_every: Duration,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            batch: 100,
            backoff: Backoff::default(),
            refresh_every: Duration::from_secs(60),
            paused_retry: Duration::from_secs(60),
            feed_page: 1000,
            probe_every: Duration::from_secs(2),
        }
    }
}

enum Message {
    Nudge,
    Refresh,
    Stop,
}

/// The sync worker: its own thread and database connection, woken by [`SyncWorker::nudge`]
/// after every queued operation and by its own timers. Dropping it stops the thread.
pub struct SyncWorker {
    tx: tokio::sync::mpsc::UnboundedSender<Message>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The status every part of the till reads; the worker and the till both write it.
pub type StatusCell = std::sync::Arc<tokio::sync::watch::Sender<SyncStatus>>;

impl SyncWorker {
    /// Starts the worker on the store in `data_dir`, with the link's `probe` beside it:
    /// when the probe hears the server again, the queue is sent at once.
    pub fn spawn(
        data_dir: PathBuf,
        client: ServerClient,
        status: StatusCell,
        options: SyncOptions,
        probe: Probe,
    ) -> Result<SyncWorker, StoreError> {
        let store = TerminalStore::open(&data_dir)?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let heard = tx.clone();
        let thread = std::thread::Builder::new()
            .name("bonuskassa-sync".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::error!(error = %e, "the sync worker cannot start its runtime");
                        return;
                    }
                };
                // The probe runs beside the drain, so a batch stuck on a silent server does
                // not hold it up; it ends with the worker.
                runtime.block_on(async {
                    tokio::select! {
                        _ = run(store, client, status, options, rx) => {}
                        _ = probe.run(options.probe_every, || {
                            let _ = heard.send(Message::Nudge);
                        }) => {}
                    }
                });
            })
            .map_err(|e| StoreError::Io(format!("cannot start the sync thread: {e}")))?;
        Ok(SyncWorker {
            tx,
            thread: Some(thread),
        })
    }

    /// Something was queued: send it now.
    pub fn nudge(&self) {
        let _ = self.tx.send(Message::Nudge);
    }

    /// Pull rules and customers now, not at the next period.
    pub fn refresh(&self) {
        let _ = self.tx.send(Message::Refresh);
    }

    /// Stops the worker and waits for its thread (an exchange under way finishes first).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let _ = self.tx.send(Message::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for SyncWorker {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Re-reads the queue figures into the status.
pub fn publish_queue(store: &TerminalStore, status: &StatusCell) {
    match (store.queue_status(), store.last_sync()) {
        (Ok(queue), Ok(last_sync)) => status.send_modify(|s| {
            s.queue = queue;
            s.last_sync = last_sync.or(s.last_sync);
        }),
        (Err(e), _) | (_, Err(e)) => status.send_modify(|s| s.last_error = Some(e.to_string())),
    }
}

fn mark_answered(store: &mut TerminalStore, status: &StatusCell) {
    let now = Utc::now();
    if let Err(e) = store.set_last_sync(now) {
        tracing::warn!(error = %e, "cannot record the last sync time");
    }
    status.send_modify(|s| {
        s.online = Some(true);
        s.last_sync = Some(now);
        s.last_error = None;
    });
}

fn mark_offline(status: &StatusCell, why: String) {
    status.send_modify(|s| {
        s.online = Some(false);
        s.last_error = Some(why);
    });
}

async fn run(
    mut store: TerminalStore,
    client: ServerClient,
    status: StatusCell,
    options: SyncOptions,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Message>,
) {
    let mut attempt: u32 = 0;
    let mut next_refresh = tokio::time::Instant::now();
    publish_queue(&store, &status);
    loop {
        let mut wait = options.refresh_every;
        match drain(&mut store, &client, options.batch, attempt, options.backoff).await {
            Ok(Drained::Empty { sent }) => {
                attempt = 0;
                if sent > 0 {
                    mark_answered(&mut store, &status);
                }
                status.send_modify(|s| s.paused = None);
                if let Err(e) = release_holds(&store, &client).await {
                    tracing::error!(error = %e, "the sync worker cannot read the holds to release");
                }
            }
            Ok(Drained::RetryAfter { sent, after }) => {
                attempt = attempt.saturating_add(1);
                if sent > 0 {
                    mark_answered(&mut store, &status);
                } else {
                    mark_offline(
                        &status,
                        "the server does not answer or is busy; operations wait in the queue"
                            .into(),
                    );
                }
                wait = after;
            }
            Ok(Drained::Paused { sent, reason }) => {
                if sent > 0 {
                    mark_answered(&mut store, &status);
                }
                status.send_modify(|s| {
                    s.paused = Some(reason);
                    s.online = Some(true);
                });
                wait = options.paused_retry;
            }
            Err(e) => {
                tracing::error!(error = %e, "the sync worker cannot use the store");
                status.send_modify(|s| s.last_error = Some(e.to_string()));
                attempt = attempt.saturating_add(1);
                wait = options.backoff.delay(attempt, rand::random::<f64>());
            }
        }
        let paused = status.borrow().paused.is_some();
        if !paused && tokio::time::Instant::now() >= next_refresh {
            match refresh(&mut store, &client, &status, options.feed_page).await {
                Ok(()) => {
                    next_refresh = tokio::time::Instant::now() + options.refresh_every;
                }
                Err(e) => {
                    status.send_modify(|s| s.cache.loading = false);
                    mark_offline(&status, e);
                    // Try again with the next drain, not a whole period later.
                    next_refresh = tokio::time::Instant::now() + wait.max(Duration::from_secs(1));
                }
            }
        }
        publish_queue(&store, &status);
        let until_refresh = next_refresh.saturating_duration_since(tokio::time::Instant::now());
        let wait = if paused {
            wait
        } else {
            wait.min(until_refresh)
        };
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(Message::Nudge) => {}
                Some(Message::Refresh) => next_refresh = tokio::time::Instant::now(),
                Some(Message::Stop) | None => return,
            },
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Reports this till's version and queue to the server. A server that does not know the
/// report (an older one) or does not answer changes nothing: the refresh goes on.
async fn report_status(store: &TerminalStore, client: &ServerClient) {
    let Ok(queue) = store.queue_status() else {
        return;
    };
    let report = crate::protocol::admin::TerminalStatusRequest {
        app_version: env!("CARGO_PKG_VERSION").to_string(),
        queue_length: u32::try_from(queue.pending).unwrap_or(u32::MAX),
        oldest_queued_at: queue.oldest_pending_at,
    };
    if let Err(e) = client.report_status(&report).await {
        tracing::debug!(error = %e, "the server did not take the till's status report");
    }
}

/// Pulls the rules (when the server's active version differs from the cached one) and the
/// customer feed page by page, with progress.
async fn refresh(
    store: &mut TerminalStore,
    client: &ServerClient,
    status: &StatusCell,
    page: u32,
) -> Result<(), String> {
    report_status(store, client).await;
    let rules = client.rules().await.map_err(|e| e.to_string())?;
    let cached = store.rules().map_err(|e| e.to_string())?.map(|(v, _)| v);
    // The server's active version, newer or older: an owner may roll the rules back.
    if cached != Some(rules.version) {
        // Rules the engine cannot read are not cached: the till keeps the last good ones.
        crate::domain::rules::Rules::from_toml_str(&rules.text).map_err(|e| {
            format!(
                "the server's rules version {} do not parse: {e}",
                rules.version
            )
        })?;
        store
            .put_rules(rules.version, &rules.text, Utc::now())
            .map_err(|e| e.to_string())?;
    }
    status.send_modify(|s| s.rules_version = Some(rules.version));
    let mut cursor = store.feed_cursor().map_err(|e| e.to_string())?;
    let mut loaded = 0u64;
    let mut total = None;
    loop {
        let feed = client
            .customer_feed(cursor, page)
            .await
            .map_err(|e| e.to_string())?;
        let total = *total.get_or_insert(feed.remaining.max(0) as u64);
        store
            .apply_feed(&feed.customers, feed.cursor, Utc::now())
            .map_err(|e| e.to_string())?;
        loaded += feed.customers.len() as u64;
        cursor = feed.cursor;
        let done = !feed.more || feed.customers.is_empty();
        // Counting the cache scans it: once per download, not once per page.
        let count = if done {
            store.cached_customers().ok()
        } else {
            None
        };
        if done {
            // The server answered the whole download: say so before the cache counts, so
            // whoever sees the cache loaded also sees the till online.
            mark_answered(store, status);
        }
        status.send_modify(|s| {
            s.cache = CacheProgress {
                loaded: loaded.min(total),
                total,
                loading: !done,
            };
            if let Some(count) = count {
                s.cached_customers = count;
            }
        });
        if done {
            return Ok(());
        }
    }
}
