//! What only a manager may send: an audit event and a manual change of a balance.

use super::{Cx, Failure, burn_date, reject};
use crate::domain::money::Bonus;
use crate::protocol::server::{AuditEvent, RejectReason};
use crate::server::auth;
use crate::server::ledger::{self, Grant, Source, Spend};
use crate::server::store::NewAudit;

impl Cx<'_> {
    /// Records an audit event; only a manager may send one.
    pub(super) fn audit(
        &mut self,
        event: AuditEvent,
        customer_id: Option<&str>,
        reason: &str,
    ) -> Result<serde_json::Value, Failure> {
        let manager = match self.op.cashier_id {
            Some(id) if auth::is_manager(self.tx, &self.terminal.store_id, id)? => id,
            _ => {
                return reject(
                    RejectReason::NotPermitted,
                    "only a manager may allow what the rules do not",
                );
            }
        };
        if reason.trim().is_empty() {
            return reject(RejectReason::Invalid, "an audit event needs a reason");
        }
        let event_name = serde_json::to_value(event)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        self.tx.insert_audit(&NewAudit {
            operation_id: &self.op.id,
            terminal_id: &self.terminal.id,
            cashier_id: manager,
            cashier: &self.op.cashier,
            event: &event_name,
            customer_id,
            reason: reason.trim(),
            at: self.now,
        })?;
        Ok(serde_json::json!({ "event": event_name }))
    }

    pub(super) fn manual_change(
        &mut self,
        customer_id: &str,
        amount: Bonus,
        reason: &str,
        lifetime_days: Option<u32>,
    ) -> Result<serde_json::Value, Failure> {
        let (op, now) = (self.op, self.now);
        let manager = match op.cashier_id {
            Some(id) => auth::is_manager(self.tx, &self.terminal.store_id, id)?,
            None => false,
        };
        if !manager {
            return reject(
                RejectReason::NotPermitted,
                "a manual change needs a manager of this store",
            );
        }
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 200 {
            return reject(
                RejectReason::Invalid,
                "give a reason of 1 to 200 characters",
            );
        }
        let c = self.customer(customer_id)?;
        let k = amount.kopecks();
        let description = format!("Ручное изменение: {reason}");
        if k > 0 {
            ledger::grant(
                self.tx,
                &Grant {
                    customer_id: &c.id,
                    amount: k,
                    source: Source::Manual,
                    description,
                    active_from: now,
                    burns_at: burn_date(now, lifetime_days),
                    operation_id: Some(&op.id),
                    actor: Some(&op.cashier),
                },
                now,
            )?;
        } else if k < 0 {
            ledger::spend(
                self.tx,
                &Spend {
                    customer_id: &c.id,
                    amount: -k,
                    source: Source::Manual,
                    description: &description,
                    operation_id: Some(&op.id),
                    actor: Some(&op.cashier),
                },
                now,
            )?;
        } else {
            return reject(RejectReason::Invalid, "the amount must not be zero");
        }
        self.touch(&c.id);
        let balance = self.tx.balance(&c.id, now)?;
        Ok(serde_json::json!({ "balance": Bonus::from_kopecks(balance.active) }))
    }
}
