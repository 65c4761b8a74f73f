//! Holds at the till: the spend of a sale priced online is reserved at the server when the
//! cashier applies it, under the operation id the register is given, so a second till
//! computing the same customer sees only what is left. The sale names its hold when it is
//! queued (the server consumes it); a withdrawn receipt releases it, and so does a manager's
//! drop of an unconfirmed one. One the till cannot release now (offline) is kept on disk
//! (`store::releases`) and released when the server answers, or expires by itself after the
//! register's time to close the receipt.
use super::{Priced, Terminal, TerminalError};
use crate::domain::money::Bonus;
use crate::protocol::server::{ErrorCode, HoldRequest, MAX_HOLD_S};
use crate::sync::client::ClientError;

/// What the hold outlives the register's `close_timeout_s` by: the time a closed sale takes
/// to reach the server through the queue.
pub const HOLD_MARGIN_S: u64 = 300;

/// How many holds waiting to be released one pass sends.
const RELEASES_AT_ONCE: usize = 50;

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
    /// kept on disk and released when the till next reaches the server (by the next
    /// lookup, calculation or hold here, or by the sync worker), or expires by itself.
    pub async fn release_hold(&self, operation_id: uuid::Uuid) {
        let id = operation_id.to_string();
        if self.try_release(&id).await {
            self.release_unreleased().await;
        } else if let Err(e) = self.store().release_later(&id, self.now()) {
            tracing::warn!(hold = %id, error = %e, "a hold to release is not kept; it expires by itself");
        }
    }

    /// Releases the holds earlier releases could not, now that the server answers.
    pub(super) async fn release_unreleased(&self) {
        let pending = match self.store().releases(RELEASES_AT_ONCE) {
            Ok(pending) => pending,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the holds to release");
                return;
            }
        };
        for id in pending {
            if !self.try_release(&id).await {
                // The server went away again: the rest wait on disk.
                break;
            }
            if let Err(e) = self.store().released(&id) {
                tracing::warn!(hold = %id, error = %e, "a released hold is still listed; released again later");
            }
        }
    }

    /// `false` when the server did not answer (the hold is to be released later).
    async fn try_release(&self, id: &str) -> bool {
        match self.api.release_hold(id).await {
            Ok(_) => {
                self.saw_server(true, None);
                true
            }
            Err(e) if e.is_offline() => {
                self.saw_server(false, Some(&e));
                tracing::warn!(hold = %id, error = %e, "a hold was not released; released later, or it expires by itself");
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
