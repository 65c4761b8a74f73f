//! Receipts the cashier applied and handed to the register, kept on disk from the apply to
//! the register's close, so that a restart of the till in between loses nothing: the
//! bridge answers the register from here, the close queues the sale exactly once (the
//! state changes in the transaction that queues it), and a receipt the register never
//! closes waits on the manager's list «Неподтверждённые чеки» to be booked or dropped.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};

use super::{StoreError, TerminalStore};
use crate::domain::calc::Calculation;
use crate::domain::fiscal::FiscalData;
use crate::domain::money::{Bonus, Money};
use crate::domain::receipt::{Receipt, ReceiptKind};
use crate::domain::returns::{ReturnResult, Sale};
use crate::protocol::server::OperationBody;
use crate::sqlite::{parse_ts_column, ts};

/// Where a kept receipt stands (the `state` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeptState {
    /// The register has the prices and is printing.
    Applied,
    /// The register closed it: its operation is queued.
    Closed,
    /// Taken back by the register or the cashier: nothing recorded.
    Cancelled,
    /// The register never closed it in time: on the manager's list.
    Unconfirmed,
    /// A manager booked it: its operation is queued.
    Booked,
    /// A manager dropped it: no sale.
    Dropped,
}

impl KeptState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeptState::Applied => "applied",
            KeptState::Closed => "closed",
            KeptState::Cancelled => "cancelled",
            KeptState::Unconfirmed => "unconfirmed",
            KeptState::Booked => "booked",
            KeptState::Dropped => "dropped",
        }
    }

    fn parse(s: &str) -> Option<KeptState> {
        Some(match s {
            "applied" => KeptState::Applied,
            "closed" => KeptState::Closed,
            "cancelled" => KeptState::Cancelled,
            "unconfirmed" => KeptState::Unconfirmed,
            "booked" => KeptState::Booked,
            "dropped" => KeptState::Dropped,
            _ => return None,
        })
    }

    /// Its operation is queued.
    pub fn is_queued(self) -> bool {
        matches!(self, KeptState::Closed | KeptState::Booked)
    }
}

/// What was handed to the register and what its close queues.
// One is read or written at a time, so the size of the larger variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Kept {
    Sale {
        /// The operation the close queues (its `fiscal` filled in then).
        body: OperationBody,
        /// The figures the register was given.
        calculation: Calculation,
        /// The customer's balance when it was priced.
        balance: Bonus,
        /// What the `sales` table keeps for a later return.
        sale: Sale,
    },
    Return {
        result: ReturnResult,
        /// The server's sale it takes back when it was found there (made at any till);
        /// none: the sale kept here.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        server_sale: Option<KeptServerSale>,
    },
}

/// The server's sale a kept return takes back, as it was found at the apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptServerSale {
    pub sale: crate::protocol::sales::KeptSale,
    /// Found by its fiscal document or picked from the customer's purchases.
    pub by_reference: bool,
}

/// One applied receipt as the till keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct KeptReceipt {
    pub operation_id: String,
    pub receipt: Receipt,
    pub state: KeptState,
    pub kept: Kept,
    pub customer_id: Option<String>,
    /// The customer's short name ("Карина С.") or masked phone.
    pub customer: Option<String>,
    pub cashier: String,
    pub cashier_id: Option<i64>,
    pub offline: bool,
    pub applied_at: DateTime<Utc>,
    pub fiscal: Option<FiscalData>,
    pub settled_at: Option<DateTime<Utc>>,
    pub settled_by: Option<String>,
}

impl KeptReceipt {
    /// The receipt's sum.
    pub fn total(&self) -> Money {
        self.receipt.total()
    }

    /// Bonuses the sale spends.
    pub fn spend(&self) -> Bonus {
        match &self.kept {
            Kept::Sale { calculation, .. } => calculation.spent,
            Kept::Return { .. } => Bonus::ZERO,
        }
    }

    /// The server hold the sale's close consumes, if one was placed at the apply.
    pub fn hold(&self) -> Option<&str> {
        match &self.kept {
            Kept::Sale {
                body: OperationBody::Sale { hold, .. },
                ..
            } => hold.as_deref(),
            _ => None,
        }
    }
}

const COLUMNS: &str = "operation_id, receipt, state, kept, customer_id, customer, cashier, \
     cashier_id, offline, applied_at, fiscal, settled_at, settled_by";

fn corrupt(e: impl std::fmt::Display) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.to_string().into())
}

fn kept_row(r: &rusqlite::Row) -> rusqlite::Result<KeptReceipt> {
    let json = |i: usize| -> rusqlite::Result<String> { r.get(i) };
    let state: String = r.get(2)?;
    Ok(KeptReceipt {
        operation_id: r.get(0)?,
        receipt: serde_json::from_str(&json(1)?).map_err(corrupt)?,
        state: KeptState::parse(&state)
            .ok_or_else(|| corrupt(format!("unknown applied receipt state {state:?}")))?,
        kept: serde_json::from_str(&json(3)?).map_err(corrupt)?,
        customer_id: r.get(4)?,
        customer: r.get(5)?,
        cashier: r.get(6)?,
        cashier_id: r.get(7)?,
        offline: r.get(8)?,
        applied_at: parse_ts_column(&r.get::<_, String>(9)?, 9)?,
        fiscal: r
            .get::<_, Option<String>>(10)?
            .map(|f| serde_json::from_str(&f).map_err(corrupt))
            .transpose()?,
        settled_at: r
            .get::<_, Option<String>>(11)?
            .map(|t| parse_ts_column(&t, 11))
            .transpose()?,
        settled_by: r.get(12)?,
    })
}

impl TerminalStore {
    /// Keeps a receipt the cashier applied, before the register hears its prices.
    pub fn keep_applied(&mut self, kept: &KeptReceipt) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        let kind = match kept.receipt.kind {
            ReceiptKind::Sale => "sale",
            ReceiptKind::Return => "return",
        };
        tx.prepare_cached(
            "INSERT INTO applied_receipts (operation_id, receipt_id, kind, state, receipt, kept,
                 customer_id, customer, cashier, cashier_id, offline, total, spend, applied_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        )?
        .execute(params![
            kept.operation_id,
            kept.receipt.id,
            kind,
            kept.state.as_str(),
            serde_json::to_string(&kept.receipt).expect("a receipt serializes"),
            serde_json::to_string(&kept.kept).expect("a kept receipt serializes"),
            kept.customer_id,
            kept.customer,
            kept.cashier,
            kept.cashier_id,
            kept.offline,
            kept.total().kopecks(),
            kept.spend().kopecks(),
            ts(kept.applied_at),
        ])?;
        crate::failpoint::hit("before_applied_commit");
        tx.commit()?;
        crate::failpoint::hit("after_applied_commit");
        Ok(())
    }

    /// The latest receipt applied under this register id.
    pub fn kept_by_receipt(&self, receipt_id: &str) -> Result<Option<KeptReceipt>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM applied_receipts WHERE receipt_id = ?1
                 ORDER BY applied_at DESC, rowid DESC LIMIT 1"
            ))?
            .query_row([receipt_id], kept_row)
            .optional()?)
    }

    /// A kept receipt by its operation id.
    pub fn kept(&self, operation_id: &str) -> Result<Option<KeptReceipt>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM applied_receipts WHERE operation_id = ?1"
            ))?
            .query_row([operation_id], kept_row)
            .optional()?)
    }

    /// Receipts in `state`, oldest first.
    pub fn kept_in(&self, state: KeptState) -> Result<Vec<KeptReceipt>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM applied_receipts WHERE state = ?1 ORDER BY applied_at, rowid"
        ))?;
        let rows = stmt
            .query_map([state.as_str()], kept_row)?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Moves a kept receipt from one of `from` to `to`, inside `tx` (the transaction that
    /// queues its operation, when it has one). False when it is in none of `from`: then
    /// somebody settled it first, and the caller must not queue.
    pub fn settle_kept(
        tx: &Transaction,
        operation_id: &str,
        from: &[KeptState],
        to: KeptState,
        fiscal: Option<&FiscalData>,
        by: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let Some(current) = tx
            .prepare_cached("SELECT state FROM applied_receipts WHERE operation_id = ?1")?
            .query_row([operation_id], |r| r.get::<_, String>(0))
            .optional()?
        else {
            return Ok(false);
        };
        if !from.iter().any(|s| s.as_str() == current) {
            return Ok(false);
        }
        let fiscal = fiscal.map(|f| serde_json::to_string(f).expect("fiscal data serializes"));
        tx.prepare_cached(
            "UPDATE applied_receipts SET state = ?1, fiscal = COALESCE(?2, fiscal),
                 settled_at = ?3, settled_by = ?4
             WHERE operation_id = ?5",
        )?
        .execute(params![to.as_str(), fiscal, ts(now), by, operation_id])?;
        Ok(true)
    }

    /// [`TerminalStore::settle_kept`] in a transaction of its own, for the changes that
    /// queue nothing (a cancel, the move to the manager's list).
    pub fn settle_kept_alone(
        &mut self,
        operation_id: &str,
        from: &[KeptState],
        to: KeptState,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let tx = self.conn.transaction()?;
        let changed = Self::settle_kept(&tx, operation_id, from, to, None, None, now)?;
        tx.commit()?;
        Ok(changed)
    }

    /// Receipts applied before `before` that the register has not closed: they go to the
    /// manager's list. Their operation ids.
    pub fn unconfirm_overdue(
        &mut self,
        before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        let overdue = |conn: &rusqlite::Connection| -> Result<Vec<String>, StoreError> {
            Ok(conn
                .prepare_cached(
                    "SELECT operation_id FROM applied_receipts
                     WHERE state = 'applied' AND applied_at < ?1 ORDER BY applied_at",
                )?
                .query_map([ts(before)], |r| r.get(0))?
                .collect::<Result<_, _>>()?)
        };
        // Asked on every tick of the bridge: a read, and a write only when there is one.
        if overdue(&self.conn)?.is_empty() {
            return Ok(Vec::new());
        }
        let tx = self.conn.transaction()?;
        let ids = overdue(&tx)?;
        for id in &ids {
            Self::settle_kept(
                &tx,
                id,
                &[KeptState::Applied],
                KeptState::Unconfirmed,
                None,
                None,
                now,
            )?;
        }
        tx.commit()?;
        Ok(ids)
    }
}
