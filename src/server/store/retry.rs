//! Running a transaction again when the engine reports a conflict: [`write()`] and [`read()`].

use super::{ReadTx, Store, StoreError, Tx};

/// How often [`write`] and [`read`] run a transaction that keeps conflicting.
pub const MAX_ATTEMPTS: u32 = 12;

/// Transactions run again after a conflict, since the process started.
static RETRIED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many transactions this process ran again after a serialization failure or a
/// deadlock (a figure to watch: it grows with contention on the same customers).
pub fn conflicts_retried() -> u64 {
    RETRIED.load(std::sync::atomic::Ordering::Relaxed)
}

fn retried(e: &StoreError, attempt: u32) {
    RETRIED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    tracing::debug!(attempt, error = %e, "a transaction conflicted; running it again");
    backoff(attempt);
}

/// Runs `f` in a read-write transaction and commits it; runs it again (up to
/// [`MAX_ATTEMPTS`]) when the engine reports a conflict. `f` may return a business refusal
/// inside `T`; the transaction commits anyway (a wrong SMS code must stay counted).
pub fn write<T>(
    store: &dyn Store,
    mut f: impl FnMut(&mut dyn Tx) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = store.begin().and_then(|mut tx| {
            let value = f(&mut *tx)?;
            tx.commit()?;
            Ok(value)
        });
        match result {
            Err(e) if e.is_retryable() && attempt < MAX_ATTEMPTS => retried(&e, attempt),
            other => return other,
        }
    }
}

/// Runs `f` on a read view, again on a conflict (a read can conflict on a serializable
/// cluster too).
pub fn read<T>(
    store: &dyn Store,
    mut f: impl FnMut(&mut dyn ReadTx) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = store.begin_read().and_then(|mut r| f(&mut *r));
        match result {
            Err(e) if e.is_retryable() && attempt < MAX_ATTEMPTS => retried(&e, attempt),
            other => return other,
        }
    }
}

/// A short random sleep before a retry, growing with the attempt, so two transactions that
/// collided do not collide again in lockstep.
fn backoff(attempt: u32) {
    use rand::Rng;
    let cap_ms = 2u64.pow(attempt.min(7)).min(100);
    let ms = rand::rng().random_range(0..=cap_ms);
    std::thread::sleep(std::time::Duration::from_millis(ms));
}
