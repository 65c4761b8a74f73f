//! The IO around `plan`: read pending operations from the store, send them, record what
//! the plan decides. One call drains what it can and says why it stopped.

use std::time::Duration;

use chrono::Utc;

use super::client::ServerClient;
use super::plan::{Backoff, Decision, PauseReason, decide};
use crate::store::{StoreError, TerminalStore};

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
