//! The till's loyalty shifts and their report («Отчёт лояльности за смену»).
//!
//! A shift is a span of the outbox: the operations after the last one of the shift before
//! it, up to its close. So every operation made at the till belongs to exactly one shift,
//! and one made while no shift was open (before the first, or between a close and the next
//! open) counts in the next shift: the one opened next, or, when the register or a
//! manager closes without opening, the implicit shift that close records. The figures are
//! read from what the till recorded in the same transactions as its operations: the
//! outbox, the sales kept for returns, and the receipts kept for the register.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::applied::Kept;
use super::{StoreError, TerminalStore};
use crate::domain::money::{Bonus, Money};
use crate::domain::returns::Sale;
use crate::protocol::server::{Operation, OperationBody};
use crate::sqlite::{parse_ts_column, ts};

/// Who opened or closed a shift.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShiftBy {
    /// The register, with its own shift, through the bridge.
    Register,
    /// A manager, from the manager's menu.
    Manager,
    /// Nobody: the shift was never opened, its operations were made before its close.
    Implicit,
}

impl ShiftBy {
    fn as_str(self) -> &'static str {
        match self {
            ShiftBy::Register => "register",
            ShiftBy::Manager => "manager",
            ShiftBy::Implicit => "implicit",
        }
    }

    fn parse(s: &str) -> Option<ShiftBy> {
        Some(match s {
            "register" => ShiftBy::Register,
            "manager" => ShiftBy::Manager,
            "implicit" => ShiftBy::Implicit,
            _ => return None,
        })
    }
}

/// One shift of this till.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shift {
    /// 1, 2, ... at this till; the implicit shift not yet recorded has the next number.
    pub number: i64,
    /// The shift counts the outbox's operations after this sequence number...
    pub after_seq: i64,
    /// ... up to and including this one once closed.
    pub until_seq: Option<i64>,
    pub opened_at: DateTime<Utc>,
    pub opened_by: ShiftBy,
    /// The manager who opened it.
    pub opener: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_by: Option<ShiftBy>,
    pub closer: Option<String>,
}

impl Shift {
    pub fn is_open(&self) -> bool {
        self.closed_at.is_none()
    }
}

/// What a shift's operations add up to, for one cashier or for the whole shift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShiftFigures {
    /// Sales with a loyalty card.
    pub receipts: u32,
    /// Their sum before loyalty.
    pub sum: Money,
    /// The rubles the cards' discounts took off them.
    pub discount: Money,
    pub spent: Bonus,
    pub accrued: Bonus,
    /// Customers registered.
    pub registrations: u32,
    /// Returns with a loyalty card, and the money they gave back.
    pub returns: u32,
    pub returned: Money,
    /// Bonuses the returns gave back, and the accrued ones they took back.
    pub refunded: Bonus,
    pub clawed_back: Bonus,
}

impl Default for ShiftFigures {
    fn default() -> ShiftFigures {
        ShiftFigures {
            receipts: 0,
            sum: Money::ZERO,
            discount: Money::ZERO,
            spent: Bonus::ZERO,
            accrued: Bonus::ZERO,
            registrations: 0,
            returns: 0,
            returned: Money::ZERO,
            refunded: Bonus::ZERO,
            clawed_back: Bonus::ZERO,
        }
    }
}

impl ShiftFigures {
    fn add(&mut self, o: &ShiftFigures) {
        self.receipts += o.receipts;
        self.sum += o.sum;
        self.discount += o.discount;
        self.spent += o.spent;
        self.accrued += o.accrued;
        self.registrations += o.registrations;
        self.returns += o.returns;
        self.returned += o.returned;
        self.refunded += o.refunded;
        self.clawed_back += o.clawed_back;
    }
}

/// One cashier's part of a shift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CashierFigures {
    pub cashier: String,
    pub figures: ShiftFigures,
}

/// A shift and what it adds up to: per cashier, in the order they first worked in it, and
/// in total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShiftReport {
    pub shift: Shift,
    pub cashiers: Vec<CashierFigures>,
    pub total: ShiftFigures,
}

/// What an open did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShiftOpen {
    pub shift: Shift,
    /// It was open already: nothing changed.
    pub already: bool,
}

/// What a close did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShiftClose {
    pub report: ShiftReport,
    /// Nothing was open and nothing was made since the last close: its report again.
    pub already: bool,
}

const SHIFT_COLS: &str =
    "number, after_seq, until_seq, opened_at, opened_by, opener, closed_at, closed_by, closer";

fn shift_row(r: &rusqlite::Row) -> rusqlite::Result<Shift> {
    let by = |idx: usize, s: String| {
        ShiftBy::parse(&s).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                idx,
                rusqlite::types::Type::Text,
                format!("not who opens or closes a shift: {s:?}").into(),
            )
        })
    };
    Ok(Shift {
        number: r.get(0)?,
        after_seq: r.get(1)?,
        until_seq: r.get(2)?,
        opened_at: parse_ts_column(&r.get::<_, String>(3)?, 3)?,
        opened_by: by(4, r.get(4)?)?,
        opener: r.get(5)?,
        closed_at: r
            .get::<_, Option<String>>(6)?
            .map(|s| parse_ts_column(&s, 6))
            .transpose()?,
        closed_by: r
            .get::<_, Option<String>>(7)?
            .map(|s| by(7, s))
            .transpose()?,
        closer: r.get(8)?,
    })
}

impl TerminalStore {
    /// Opens a shift, or answers the one open already.
    pub fn open_shift(
        &mut self,
        by: ShiftBy,
        who: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<ShiftOpen, StoreError> {
        let tx = self.conn.transaction()?;
        if let Some(shift) = open_shift_in(&tx)? {
            return Ok(ShiftOpen {
                shift,
                already: true,
            });
        }
        let after = last_closed_seq(&tx)?;
        tx.prepare_cached(
            "INSERT INTO shifts (after_seq, opened_at, opened_by, opener) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![after, ts(now), by.as_str(), who])?;
        let shift = open_shift_in(&tx)?
            .ok_or_else(|| StoreError::Corrupt("the shift just opened is not open".to_string()))?;
        tx.commit()?;
        Ok(ShiftOpen {
            shift,
            already: false,
        })
    }

    /// Closes the open shift (or records the implicit one, when operations were made since
    /// the last close) and returns its final report. With nothing open and nothing made
    /// since the last close, the last closed shift's report again.
    pub fn close_shift(
        &mut self,
        by: ShiftBy,
        who: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<ShiftClose, StoreError> {
        let tx = self.conn.transaction()?;
        let last_seq = last_seq(&tx)?;
        let (number, already) = match open_shift_in(&tx)? {
            Some(open) => {
                tx.prepare_cached(
                    "UPDATE shifts SET until_seq = ?1, closed_at = ?2, closed_by = ?3, closer = ?4
                     WHERE number = ?5",
                )?
                .execute(params![
                    last_seq,
                    ts(now),
                    by.as_str(),
                    who,
                    open.number
                ])?;
                (open.number, false)
            }
            None => {
                let after = last_closed_seq(&tx)?;
                match last_closed(&tx)? {
                    Some(last) if after >= last_seq => (last.number, true),
                    _ => {
                        let opened_at = first_operation_at(&tx, after)?.unwrap_or(now);
                        tx.prepare_cached(
                            "INSERT INTO shifts (after_seq, until_seq, opened_at, opened_by, closed_at, closed_by, closer)
                             VALUES (?1, ?2, ?3, 'implicit', ?4, ?5, ?6)",
                        )?
                        .execute(params![after, last_seq, ts(opened_at), ts(now), by.as_str(), who])?;
                        (tx.last_insert_rowid(), false)
                    }
                }
            }
        };
        let shift = shift_by_number(&tx, number)?
            .ok_or_else(|| StoreError::Corrupt(format!("shift {number} is gone")))?;
        let report = report_in(&tx, shift)?;
        tx.commit()?;
        Ok(ShiftClose { report, already })
    }

    /// The report of the shift under way: the open one, or the implicit one of the
    /// operations made since the last close.
    pub fn current_shift_report(&self, now: DateTime<Utc>) -> Result<ShiftReport, StoreError> {
        let shift = match open_shift_in(&self.conn)? {
            Some(open) => open,
            None => {
                let after = last_closed_seq(&self.conn)?;
                let number: i64 = self.conn.query_row(
                    "SELECT COALESCE(MAX(number), 0) + 1 FROM shifts",
                    [],
                    |r| r.get(0),
                )?;
                Shift {
                    number,
                    after_seq: after,
                    until_seq: None,
                    opened_at: first_operation_at(&self.conn, after)?.unwrap_or(now),
                    opened_by: ShiftBy::Implicit,
                    opener: None,
                    closed_at: None,
                    closed_by: None,
                    closer: None,
                }
            }
        };
        report_in(&self.conn, shift)
    }
}

fn open_shift_in(conn: &Connection) -> Result<Option<Shift>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {SHIFT_COLS} FROM shifts WHERE closed_at IS NULL"
        ))?
        .query_row([], shift_row)
        .optional()?)
}

fn shift_by_number(conn: &Connection, number: i64) -> Result<Option<Shift>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {SHIFT_COLS} FROM shifts WHERE number = ?1"
        ))?
        .query_row([number], shift_row)
        .optional()?)
}

fn last_closed(conn: &Connection) -> Result<Option<Shift>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {SHIFT_COLS} FROM shifts WHERE closed_at IS NOT NULL ORDER BY number DESC LIMIT 1"
        ))?
        .query_row([], shift_row)
        .optional()?)
}

/// The last operation of the last closed shift (0: none was ever closed).
fn last_closed_seq(conn: &Connection) -> Result<i64, StoreError> {
    Ok(last_closed(conn)?.and_then(|s| s.until_seq).unwrap_or(0))
}

/// The outbox's last sequence number.
fn last_seq(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn
        .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM outbox")?
        .query_row([], |r| r.get(0))?)
}

fn first_operation_at(conn: &Connection, after: i64) -> Result<Option<DateTime<Utc>>, StoreError> {
    let at: Option<String> = conn
        .prepare_cached("SELECT created_at FROM outbox WHERE seq > ?1 ORDER BY seq LIMIT 1")?
        .query_row([after], |r| r.get(0))
        .optional()?;
    at.map(|s| parse_ts_column(&s, 0).map_err(StoreError::from))
        .transpose()
}

fn corrupt(what: &str, e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

/// Adds up the shift's operations, per cashier and in total.
fn report_in(conn: &Connection, shift: Shift) -> Result<ShiftReport, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT o.payload, s.sale, a.kept FROM outbox o
         LEFT JOIN sales s ON s.operation_id = o.id
         LEFT JOIN applied_receipts a ON a.operation_id = o.id
         WHERE o.seq > ?1 AND (?2 IS NULL OR o.seq <= ?2)
           AND o.kind IN ('sale', 'return', 'registration')
         ORDER BY o.seq",
    )?;
    let rows = stmt
        .query_map(params![shift.after_seq, shift.until_seq], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut order: Vec<String> = Vec::new();
    let mut by_cashier: HashMap<String, ShiftFigures> = HashMap::new();
    for (payload, sale, kept) in rows {
        let op: Operation =
            serde_json::from_str(&payload).map_err(|e| corrupt("an operation", e))?;
        let mut f = ShiftFigures::default();
        match &op.body {
            OperationBody::Sale { receipt, spend, .. } => {
                let sum = receipt.total();
                f.receipts = 1;
                f.sum = sum;
                f.spent = *spend;
                if let Some(sale) = sale {
                    let sale: Sale =
                        serde_json::from_str(&sale).map_err(|e| corrupt("a kept sale", e))?;
                    let paid: Money = sale.positions.iter().map(|p| p.paid).sum();
                    let spent: Bonus = sale.positions.iter().map(|p| p.spent).sum();
                    f.accrued = sale.positions.iter().map(|p| p.accrued).sum();
                    f.discount = (sum - paid - Money::from_bonus(spent)).max(Money::ZERO);
                }
            }
            OperationBody::Return { receipt, .. } => {
                f.returns = 1;
                f.returned = receipt.total();
                if let Some(kept) = kept {
                    let kept: Kept =
                        serde_json::from_str(&kept).map_err(|e| corrupt("a kept receipt", e))?;
                    if let Kept::Return { result, .. } = kept {
                        f.refunded = result.refunded;
                        f.clawed_back = result.clawed_back;
                    }
                }
            }
            OperationBody::Registration { .. } => f.registrations = 1,
            _ => continue,
        }
        if !by_cashier.contains_key(&op.cashier) {
            order.push(op.cashier.clone());
        }
        by_cashier.entry(op.cashier).or_default().add(&f);
    }
    let mut total = ShiftFigures::default();
    let cashiers = order
        .into_iter()
        .map(|cashier| {
            let figures = by_cashier.remove(&cashier).unwrap_or_default();
            total.add(&figures);
            CashierFigures { cashier, figures }
        })
        .collect();
    Ok(ShiftReport {
        shift,
        cashiers,
        total,
    })
}
