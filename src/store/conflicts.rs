//! The manager's conflicts list: operations the server refused after the till had
//! confirmed them offline, with the customer and the receipt they belong to, until a
//! manager marks them resolved.

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::{StoreError, TerminalStore};
use crate::sqlite::ts;

/// An operation the server refused, as the manager's conflicts list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub operation_id: String,
    /// The operation's kind as queued (`sale`, `return`, …).
    pub kind: String,
    /// The server's reason code (`INSUFFICIENT_BALANCE`…), or `UNKNOWN`.
    pub reason: String,
    /// The server's own words, for the log: the till words the reason itself.
    pub message: String,
    /// The customer as the till's cache names them ("Карина С.", or the masked phone).
    pub customer: Option<String>,
    /// The register's receipt the operation belongs to (a sale or a return).
    pub receipt: Option<String>,
    pub at: DateTime<Utc>,
    pub offline: bool,
    /// Bonuses the refused operation spent, in kopecks.
    pub spend: i64,
}

impl Conflict {
    /// The server's reason as its closed code; `None` for one this till does not know.
    pub fn reject_reason(&self) -> Option<crate::protocol::server::RejectReason> {
        serde_json::from_value(serde_json::Value::String(self.reason.clone())).ok()
    }
}

/// The receipt id inside a queued operation's JSON (a sale or a return), if it has one.
fn receipt_of(payload: &str) -> Option<String> {
    use crate::protocol::server::{Operation, OperationBody};
    match serde_json::from_str::<Operation>(payload).ok()?.body {
        OperationBody::Sale { receipt, .. } | OperationBody::Return { receipt, .. } => {
            Some(receipt.id)
        }
        _ => None,
    }
}

impl TerminalStore {
    /// The conflicts list: refused operations a manager has not resolved, oldest first.
    pub fn conflicts(&self) -> Result<Vec<Conflict>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT c.operation_id, o.kind, c.reason, c.message, c.at, o.offline, o.spend,
                    o.payload, cc.name, cc.phone_masked
             FROM conflicts c JOIN outbox o ON o.id = c.operation_id
             LEFT JOIN customers_cache cc ON cc.id = o.customer_id
             WHERE c.resolved_at IS NULL ORDER BY o.seq",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Conflict {
                    operation_id: r.get(0)?,
                    kind: r.get(1)?,
                    reason: r.get(2)?,
                    message: r.get(3)?,
                    at: crate::sqlite::parse_ts_column(&r.get::<_, String>(4)?, 4)?,
                    offline: r.get(5)?,
                    spend: r.get(6)?,
                    receipt: receipt_of(&r.get::<_, String>(7)?),
                    customer: match (r.get::<_, Option<String>>(8)?, r.get(9)?) {
                        (Some(name), _) if !name.is_empty() => Some(name),
                        (_, phone) => phone,
                    },
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Marks a conflict resolved by a manager. False when there is no open conflict with
    /// this id.
    pub fn resolve_conflict(
        &mut self,
        operation_id: &str,
        manager: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "UPDATE conflicts SET resolved_at = ?1, resolved_by = ?2
             WHERE operation_id = ?3 AND resolved_at IS NULL",
            params![ts(now), manager, operation_id],
        )?;
        Ok(n == 1)
    }
}
