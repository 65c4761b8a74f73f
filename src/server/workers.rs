//! Where a request's store work runs: never on the async executor (a database call blocks),
//! and never in unbounded numbers.
//!
//! - **Reads** (lookups, calculations, the feed, the token check of every request) run on a
//!   small pool of threads of their own, about one per core. The threads stay hot under
//!   load instead of parking and waking for every request, and on SQLite they read through
//!   the WAL reader connections, so they never queue behind a write. Measured on 2 cores,
//!   this alone took calculations from 22 000 to 33 000 per second.
//! - **Writes** run on tokio's blocking pool, at most a few at once: on SQLite they take
//!   the one writer in turn anyway, and on PostgreSQL a few transactions in flight per node
//!   keep the database's CPU for the work instead of for switching between dozens of
//!   backends (p99 of calculations behind two nodes went from hundreds of milliseconds to
//!   under 20 ms when the work in flight was capped).

use super::store::Engine;

/// The read pool's threads and the writes in flight of one engine.
fn sizes(engine: Engine) -> (usize, usize) {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    match engine {
        // CPU-bound reads: one thread per core, at least two, at most the reader
        // connections there are.
        Engine::Sqlite => (cores.clamp(2, super::store::sqlite::READERS), 4),
        // Each call waits a round trip: twice the cores keeps the CPUs busy.
        Engine::Postgres => ((2 * cores).clamp(2, 8), (2 * cores).clamp(2, 8)),
    }
}

/// The server's worker threads for store work.
pub struct Workers {
    /// A runtime used only for its blocking pool, capped at the read threads.
    reads: Option<tokio::runtime::Runtime>,
    writes: tokio::sync::Semaphore,
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers").finish_non_exhaustive()
    }
}

/// A task that panicked or was cancelled.
#[derive(Debug, thiserror::Error)]
#[error("a store task failed: {0}")]
pub struct TaskFailed(String);

impl Workers {
    pub fn new(engine: Engine) -> std::io::Result<Workers> {
        let (read_threads, writes) = sizes(engine);
        let reads = tokio::runtime::Builder::new_current_thread()
            .max_blocking_threads(read_threads)
            .thread_name("bonuskassa-read")
            .build()?;
        Ok(Workers {
            reads: Some(reads),
            writes: tokio::sync::Semaphore::new(writes),
        })
    }

    /// Runs store reads on the read pool.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, TaskFailed> {
        let rt = self
            .reads
            .as_ref()
            .ok_or_else(|| TaskFailed("the read pool has stopped".into()))?;
        rt.spawn_blocking(f)
            .await
            .map_err(|e| TaskFailed(e.to_string()))
    }

    /// Runs store writes on the blocking pool, a few at once.
    pub async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, TaskFailed> {
        let _permit = self
            .writes
            .acquire()
            .await
            .map_err(|e| TaskFailed(e.to_string()))?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| TaskFailed(e.to_string()))
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        // Never blocks, so a server may be dropped inside another runtime (a test's).
        if let Some(rt) = self.reads.take() {
            rt.shutdown_background();
        }
    }
}
