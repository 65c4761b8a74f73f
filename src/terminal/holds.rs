//! Holds at the till: the spend of a sale priced online is reserved at the server when the
//! cashier applies it, under the operation id the register is given, so a second till
//! computing the same customer sees only what is left. The sale names its hold when it is
//! queued (the server consumes it); a withdrawn receipt releases it; one the till cannot
//! release (offline) expires by itself after the register's time to close the receipt.
use super::{Priced, Terminal, TerminalError};
use crate::domain::money::Bonus;
use crate::protocol::server::{ErrorCode, HoldRequest, MAX_HOLD_S};
use crate::sync::client::ClientError;

/// What the hold outlives the register's `close_timeout_s` by: the time a closed sale takes
/// to reach the server through the queue.
pub const HOLD_MARGIN_S: u64 = 300;

/// What became of the hold of an applied sale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// The server holds the spend until the sale reaches it or the hold is released.
    Placed,
    /// Nothing to hold: no spend, or the sale was priced offline.
    NotNeeded,
    /// The server did not answer in time: the sale goes on offline, within the limits.
    Offline,
}

impl Terminal {
    /// How long a hold lives: the register's time to close the receipt, and a margin.
    pub fn hold_seconds(&self) -> u64 {
        (self.config.bridge.close_timeout_s + HOLD_MARGIN_S).min(MAX_HOLD_S)
    }

    /// Reserves the spend of a sale priced online at the server, named by `operation_id`.
    /// Refused with [`TerminalError::BonusesTaken`] when another till holds or spent the
    /// bonuses meanwhile.
    pub async fn hold_spend(
        &self,
        operation_id: uuid::Uuid,
        priced: &Priced,
    ) -> Result<Held, TerminalError> {
        if priced.offline || priced.spend <= Bonus::ZERO {
            return Ok(Held::NotNeeded);
        }
        let req = HoldRequest {
            id: operation_id.to_string(),
            customer_id: priced.customer.id.clone(),
            amount: priced.spend,
            expires_in_s: self.hold_seconds(),
        };
        match self.api.place_hold(&req).await {
            Ok(_) => {
                self.saw_server(true, None);
                self.release_unreleased().await;
                Ok(Held::Placed)
            }
            Err(ClientError::Api(body)) if body.code == ErrorCode::InsufficientBalance => {
                self.saw_server(true, None);
                Err(TerminalError::BonusesTaken)
            }
            Err(e) if e.is_offline() => {
                self.saw_server(false, Some(&e));
                Ok(Held::Offline)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Releases the hold of a withdrawn sale. One the server does not hear of (offline) is
    /// released when the till next reaches the server, or expires by itself.
    pub async fn release_hold(&self, operation_id: uuid::Uuid) {
        if self.try_release(operation_id).await {
            self.release_unreleased().await;
        }
    }

    /// Releases the holds earlier releases could not, now that the server answers.
    pub(super) async fn release_unreleased(&self) {
        let pending =
            std::mem::take(&mut *self.unreleased.lock().unwrap_or_else(|p| p.into_inner()));
        let mut left = pending.into_iter();
        for id in left.by_ref() {
            if !self.try_release(id).await {
                // The server went away again: the rest wait with the one just kept.
                break;
            }
        }
        self.unreleased
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(left);
    }

    /// `false` (and the hold kept for later) when the server did not answer.
    async fn try_release(&self, id: uuid::Uuid) -> bool {
        match self.api.release_hold(&id.to_string()).await {
            Ok(_) => {
                self.saw_server(true, None);
                true
            }
            Err(e) if e.is_offline() => {
                self.saw_server(false, Some(&e));
                tracing::warn!(hold = %id, error = %e, "a hold was not released; released later, or it expires by itself");
                self.unreleased
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(id);
                false
            }
            Err(e) => {
                // Refused for good (another till's hold, a revoked token): nothing to retry.
                tracing::warn!(hold = %id, error = %e, "the server refused to release a hold");
                true
            }
        }
    }
}
