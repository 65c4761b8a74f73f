//! The central server's bonus ledger: bonus batches and the customer's «История бонусов».
//!
//! Every bonus a customer has lives in a batch (`bonus_batches`): an amount, where it came
//! from, when it becomes spendable (`active_from`) and when it burns (`burns_at`). Spending
//! takes from the batch that burns soonest, so expiry only ever burns what is still unspent.
//! Every change of a balance also writes one `ledger_entries` row in the customer's words
//! (time, signed amount, Russian description), so the sum of the history always equals the
//! sum of the batches.
//!
//! A return that claws back more than the customer still has leaves a debt: a batch with a
//! negative `remaining`. A debt makes the active balance negative, which blocks spending,
//! and the next grant pays it off before anything else.
//!
//! Amounts are `i64` kopecks of bonuses (1 bonus = 100). Times are `DateTime<Utc>` stored
//! as fixed-width RFC 3339 text ([`ts`]), so SQL compares them as text in time order; they
//! are kept to the microsecond.
//!
//! This module never opens, commits or rolls back a transaction (the caller decides what
//! one operation is), never reads the clock (`now` is an argument), and knows nothing of
//! rules, receipts or operations: it is told an amount and a description and books them.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

/// Where bonuses came from, or why they left; stored in `bonus_batches.source` and
/// `ledger_entries.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    Purchase,
    Welcome,
    FirstPurchase,
    Birthday,
    Referral,
    Promotion,
    Manual,
    ReturnRefund,
    ReturnClawback,
    Expiry,
}

impl Source {
    pub const ALL: [Source; 10] = [
        Source::Purchase,
        Source::Welcome,
        Source::FirstPurchase,
        Source::Birthday,
        Source::Referral,
        Source::Promotion,
        Source::Manual,
        Source::ReturnRefund,
        Source::ReturnClawback,
        Source::Expiry,
    ];

    /// The stable name in the database; renaming one would orphan stored rows.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Purchase => "purchase",
            Source::Welcome => "welcome",
            Source::FirstPurchase => "first_purchase",
            Source::Birthday => "birthday",
            Source::Referral => "referral",
            Source::Promotion => "promotion",
            Source::Manual => "manual",
            Source::ReturnRefund => "return_refund",
            Source::ReturnClawback => "return_clawback",
            Source::Expiry => "expiry",
        }
    }

    /// The inverse of [`Source::as_str`].
    pub fn parse(s: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Bonuses to add to a customer's account.
#[derive(Debug, Clone)]
pub struct Grant<'a> {
    pub customer_id: &'a str,
    /// Kopecks of bonuses, > 0.
    pub amount: i64,
    pub source: Source,
    /// The history line, e.g. "Начисление за покупку".
    pub description: String,
    /// Spendable from this moment; later than `now` for `activate_after_days`.
    pub active_from: DateTime<Utc>,
    /// Burns at this moment; `None`: never burns.
    pub burns_at: Option<DateTime<Utc>>,
    pub operation_id: Option<&'a str>,
    /// Who did it, for manual changes (a cashier or manager).
    pub actor: Option<&'a str>,
}

/// A customer's bonuses at one moment, in kopecks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Balance {
    /// Spendable now. Negative while a claw-back debt is unpaid.
    pub active: i64,
    /// Granted but not active yet.
    pub pending: i64,
}

/// One line of «История бонусов».
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    pub at: DateTime<Utc>,
    /// Signed kopecks: + for a grant, − for a spend, claw-back or expiry.
    pub amount: i64,
    pub description: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// `available` is the active balance, negative when a debt is unpaid.
    #[error("not enough bonuses: {available} kopecks available")]
    Insufficient { available: i64 },
    #[error("amount must be positive")]
    NotPositive,
    #[error(transparent)]
    Db(#[from] rusqlite::Error),
}

/// The history line of an expiry.
pub const EXPIRY_DESCRIPTION: &str = "Сгорание бонусов";

pub use crate::store::sqlite::{parse_ts, ts};

/// Reads a stored time column, turning a malformed one into a row error rather than a
/// made-up time.
fn ts_column(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<DateTime<Utc>> {
    let s: String = row.get(idx)?;
    crate::store::sqlite::parse_ts_column(&s, idx)
}

/// The condition "neither burnt nor past its burning time", for a `?now` parameter. A batch
/// past `burns_at` counts as burnt even before [`expire`] has run, so a late expiry job
/// never lets a customer spend bonuses that should be gone.
const UNBURNT: &str = "(burns_at IS NULL OR burns_at > :now)";

/// Adds `g.amount` to the customer's bonuses: a new batch and a `+amount` history line.
///
/// If the customer owes bonuses (a claw-back debt), the new bonuses pay the debt off first,
/// oldest debt first, even when the new batch is not active yet: a debt is settled by the
/// next bonuses the customer receives, and a debt never sits next to positive bonuses.
pub fn grant(tx: &Connection, g: &Grant, now: DateTime<Utc>) -> Result<(), LedgerError> {
    if g.amount <= 0 {
        return Err(LedgerError::NotPositive);
    }
    let mut left = g.amount;
    let debts = batches(
        tx,
        "SELECT id, remaining FROM bonus_batches
         WHERE customer_id = :customer AND remaining <> 0 AND remaining < 0
         ORDER BY id",
        g.customer_id,
        None,
    )?;
    for (id, remaining) in debts {
        if left == 0 {
            break;
        }
        let pay = left.min(-remaining);
        set_remaining(tx, id, remaining + pay)?;
        left -= pay;
    }
    tx.execute(
        "INSERT INTO bonus_batches
             (customer_id, amount, remaining, source, active_from, burns_at, created_at, operation_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            g.customer_id,
            g.amount,
            left,
            g.source.as_str(),
            ts(g.active_from),
            g.burns_at.map(ts),
            ts(now),
            g.operation_id,
        ],
    )?;
    entry(
        tx,
        g.customer_id,
        now,
        g.amount,
        g.source,
        &g.description,
        g.operation_id,
        g.actor,
    )?;
    Ok(())
}

/// Spends `amount` of the customer's active bonuses, oldest-burning first, and writes one
/// `−amount` history line. When the active balance (a debt included) is below `amount`,
/// fails with [`LedgerError::Insufficient`] and changes nothing.
#[allow(
    clippy::too_many_arguments,
    reason = "the callers' API: one argument per ledger column"
)]
pub fn spend(
    tx: &Connection,
    customer_id: &str,
    amount: i64,
    source: Source,
    description: &str,
    operation_id: Option<&str>,
    actor: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), LedgerError> {
    if amount <= 0 {
        return Err(LedgerError::NotPositive);
    }
    let available = balance(tx, customer_id, now)?.active;
    if available < amount {
        return Err(LedgerError::Insufficient { available });
    }
    let left = take(tx, &active_batches(tx, customer_id, now)?, amount)?;
    // The balance check above counted every active batch, debts included; a debt only
    // lowers it, so the positive batches always cover the amount.
    debug_assert_eq!(left, 0);
    entry(
        tx,
        customer_id,
        now,
        -amount,
        source,
        description,
        operation_id,
        actor,
    )?;
    Ok(())
}

/// Takes back `amount` for a return: from active bonuses oldest-burning first, then from
/// pending ones earliest-activating first; what the customer does not have becomes a debt
/// (a `ReturnClawback` batch with negative remaining, active now, never burning). Writes one
/// `−amount` history line. Never fails for lack of bonuses: a return must always go through.
pub fn claw_back(
    tx: &Connection,
    customer_id: &str,
    amount: i64,
    description: &str,
    operation_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), LedgerError> {
    if amount <= 0 {
        return Err(LedgerError::NotPositive);
    }
    let mut left = take(tx, &active_batches(tx, customer_id, now)?, amount)?;
    if left > 0 {
        let pending = batches(
            tx,
            &format!(
                "SELECT id, remaining FROM bonus_batches
                 WHERE customer_id = :customer AND remaining <> 0 AND remaining > 0
                   AND active_from > :now AND {UNBURNT}
                 ORDER BY active_from, burns_at IS NULL, burns_at, id"
            ),
            customer_id,
            Some(now),
        )?;
        left = take(tx, &pending, left)?;
    }
    if left > 0 {
        tx.execute(
            "INSERT INTO bonus_batches
                 (customer_id, amount, remaining, source, active_from, burns_at, created_at, operation_id)
             VALUES (?1, ?2, ?2, ?3, ?4, NULL, ?4, ?5)",
            params![
                customer_id,
                -left,
                Source::ReturnClawback.as_str(),
                ts(now),
                operation_id,
            ],
        )?;
    }
    entry(
        tx,
        customer_id,
        now,
        -amount,
        Source::ReturnClawback,
        description,
        operation_id,
        None,
    )?;
    Ok(())
}

/// The customer's balance at `now`. Batches past their burning time count nowhere, whether
/// or not [`expire`] has run yet.
pub fn balance(
    conn: &Connection,
    customer_id: &str,
    now: DateTime<Utc>,
) -> Result<Balance, rusqlite::Error> {
    // `remaining <> 0` as written matches the partial index `batches_live`, which holds
    // only batches with bonuses left: a long-standing customer's spent batches are never
    // read, and prepare_cached spares the parse on every call.
    conn.prepare_cached(&format!(
        "SELECT
             COALESCE(SUM(CASE WHEN active_from <= :now THEN remaining END), 0),
             COALESCE(SUM(CASE WHEN active_from > :now THEN remaining END), 0)
         FROM bonus_batches
         WHERE customer_id = :customer AND remaining <> 0 AND {UNBURNT}"
    ))?
    .query_row(
        rusqlite::named_params! { ":customer": customer_id, ":now": ts(now) },
        |r| {
            Ok(Balance {
                active: r.get(0)?,
                pending: r.get(1)?,
            })
        },
    )
}

/// Burns every batch whose `burns_at` has come and that still has bonuses: its remainder
/// goes to 0 and one "Сгорание бонусов" line is written per batch, dated at `burns_at`
/// (when the bonuses stopped counting), not at the moment this job happened to run.
/// Returns how many batches burnt. All customers at once; run it periodically.
pub fn expire(tx: &Connection, now: DateTime<Utc>) -> Result<u32, rusqlite::Error> {
    let due: Vec<(i64, String, i64, DateTime<Utc>)> = {
        let mut stmt = tx.prepare(
            "SELECT id, customer_id, remaining, burns_at FROM bonus_batches
             WHERE burns_at IS NOT NULL AND burns_at <= ?1 AND remaining > 0
             ORDER BY burns_at, id",
        )?;
        stmt.query_map([ts(now)], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, ts_column(r, 3)?))
        })?
        .collect::<Result<_, _>>()?
    };
    for (id, customer_id, remaining, burns_at) in &due {
        set_remaining(tx, *id, 0)?;
        entry(
            tx,
            customer_id,
            *burns_at,
            -remaining,
            Source::Expiry,
            EXPIRY_DESCRIPTION,
            None,
            None,
        )?;
    }
    Ok(u32::try_from(due.len()).unwrap_or(u32::MAX))
}

/// The customer's last `limit` history lines, newest first (ties in time: last written
/// first).
pub fn history(
    conn: &Connection,
    customer_id: &str,
    limit: usize,
) -> Result<Vec<HistoryRow>, rusqlite::Error> {
    let mut stmt = conn.prepare(
        "SELECT at, amount, description FROM ledger_entries
         WHERE customer_id = ?1
         ORDER BY at DESC, id DESC
         LIMIT ?2",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    stmt.query_map(params![customer_id, limit], |r| {
        Ok(HistoryRow {
            at: ts_column(r, 0)?,
            amount: r.get(1)?,
            description: r.get(2)?,
        })
    })?
    .collect()
}

/// The customer's spendable batches, in the order they are spent: soonest burning first,
/// never-burning last, then in the order they were granted.
fn active_batches(
    conn: &Connection,
    customer_id: &str,
    now: DateTime<Utc>,
) -> rusqlite::Result<Vec<(i64, i64)>> {
    batches(
        conn,
        &format!(
            "SELECT id, remaining FROM bonus_batches
             WHERE customer_id = :customer AND remaining <> 0 AND remaining > 0
               AND active_from <= :now AND {UNBURNT}
             ORDER BY burns_at IS NULL, burns_at, id"
        ),
        customer_id,
        Some(now),
    )
}

/// `(id, remaining)` of the batches a query selects; the query names `:customer` and, when
/// `now` is given, `:now`.
fn batches(
    conn: &Connection,
    sql: &str,
    customer_id: &str,
    now: Option<DateTime<Utc>>,
) -> rusqlite::Result<Vec<(i64, i64)>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let map = |r: &rusqlite::Row<'_>| Ok((r.get(0)?, r.get(1)?));
    match now {
        Some(now) => stmt
            .query_map(
                rusqlite::named_params! { ":customer": customer_id, ":now": ts(now) },
                map,
            )?
            .collect(),
        None => stmt
            .query_map(rusqlite::named_params! { ":customer": customer_id }, map)?
            .collect(),
    }
}

/// Takes up to `amount` from the given positive batches in order; returns what is left.
fn take(tx: &Connection, batches: &[(i64, i64)], amount: i64) -> rusqlite::Result<i64> {
    let mut left = amount;
    for &(id, remaining) in batches {
        if left == 0 {
            break;
        }
        let part = left.min(remaining);
        set_remaining(tx, id, remaining - part)?;
        left -= part;
    }
    Ok(left)
}

fn set_remaining(tx: &Connection, id: i64, remaining: i64) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE bonus_batches SET remaining = ?1 WHERE id = ?2",
        params![remaining, id],
    )?;
    Ok(())
}

#[allow(
    clippy::too_many_arguments,
    reason = "one argument per ledger_entries column"
)]
fn entry(
    tx: &Connection,
    customer_id: &str,
    at: DateTime<Utc>,
    amount: i64,
    kind: Source,
    description: &str,
    operation_id: Option<&str>,
    actor: Option<&str>,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO ledger_entries (customer_id, at, amount, kind, description, operation_id, actor)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            customer_id,
            ts(at),
            amount,
            kind.as_str(),
            description,
            operation_id,
            actor
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn t(day: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap() + Duration::days(day)
    }

    fn db() -> Connection {
        let conn = crate::server::db::open_in_memory().unwrap();
        for (id, phone) in [("c1", "+79990000001"), ("c2", "+79990000002")] {
            conn.execute(
                "INSERT INTO customers (id, phone, card_status, phone_verified, registered_at, change_seq)
                 VALUES (?1, ?2, 'Стандартная', 1, ?3, 1)",
                params![id, phone, ts(t(0))],
            )
            .unwrap();
        }
        conn
    }

    fn give(
        conn: &mut Connection,
        amount: i64,
        active_from: DateTime<Utc>,
        burns_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) {
        let tx = conn.transaction().unwrap();
        let g = Grant {
            customer_id: "c1",
            amount,
            source: Source::Purchase,
            description: "Начисление за покупку".into(),
            active_from,
            burns_at,
            operation_id: None,
            actor: None,
        };
        grant(&tx, &g, now).unwrap();
        tx.commit().unwrap();
    }

    fn pay(conn: &mut Connection, amount: i64, now: DateTime<Utc>) -> Result<(), LedgerError> {
        let tx = conn.transaction().unwrap();
        spend(
            &tx,
            "c1",
            amount,
            Source::Purchase,
            "Списание при оплате покупки",
            None,
            None,
            now,
        )?;
        tx.commit().unwrap();
        Ok(())
    }

    fn remaining(conn: &Connection) -> Vec<i64> {
        let mut stmt = conn
            .prepare("SELECT remaining FROM bonus_batches WHERE customer_id = 'c1' ORDER BY id")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// Everything in both tables, to show an operation changed nothing.
    fn snapshot(conn: &Connection) -> String {
        let mut out = String::new();
        for sql in [
            "SELECT id, amount, remaining, active_from, IFNULL(burns_at, '') FROM bonus_batches ORDER BY id",
            "SELECT id, amount, at, description FROM ledger_entries ORDER BY id",
        ] {
            let mut stmt = conn.prepare(sql).unwrap();
            let n = stmt.column_count();
            let rows = stmt
                .query_map([], |r| {
                    (0..n)
                        .map(|i| {
                            r.get::<_, rusqlite::types::Value>(i)
                                .map(|v| format!("{v:?}"))
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
                .unwrap();
            for row in rows {
                out.push_str(&row.unwrap().join("|"));
                out.push('\n');
            }
        }
        out
    }

    fn ledger_sum(conn: &Connection) -> i64 {
        conn.query_row(
            "SELECT COALESCE(SUM(amount), 0) FROM ledger_entries WHERE customer_id = 'c1'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    }

    #[test]
    fn times_are_stored_fixed_width_so_text_order_is_time_order() {
        let a = ts(t(0));
        assert_eq!(a, "2026-03-01T12:00:00.000000Z");
        let b = ts(t(0) + Duration::microseconds(1));
        assert_eq!(a.len(), b.len());
        assert!(a < b);
        assert_eq!(parse_ts(&b), Some(t(0) + Duration::microseconds(1)));
        assert_eq!(parse_ts("вчера"), None);
        for s in Source::ALL {
            assert_eq!(Source::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn spend_takes_the_oldest_burning_batch_first_and_never_burning_last() {
        let mut conn = db();
        give(&mut conn, 1000, t(0), None, t(0)); // never burns
        give(&mut conn, 1000, t(0), Some(t(30)), t(0));
        give(&mut conn, 1000, t(0), Some(t(10)), t(0));
        give(&mut conn, 1000, t(0), Some(t(10)), t(0)); // same day: granted later, spent later
        pay(&mut conn, 1500, t(1)).unwrap();
        assert_eq!(remaining(&conn), [1000, 1000, 0, 500]);
        pay(&mut conn, 1000, t(2)).unwrap();
        assert_eq!(remaining(&conn), [1000, 500, 0, 0]);
        pay(&mut conn, 1000, t(3)).unwrap();
        assert_eq!(remaining(&conn), [500, 0, 0, 0]);
        let b = balance(&conn, "c1", t(3)).unwrap();
        assert_eq!(
            b,
            Balance {
                active: 500,
                pending: 0
            }
        );
    }

    #[test]
    fn spend_refuses_more_than_the_active_balance_and_changes_nothing() {
        let mut conn = db();
        give(&mut conn, 1000, t(0), Some(t(10)), t(0));
        give(&mut conn, 500, t(0), None, t(0));
        let before = snapshot(&conn);
        match pay(&mut conn, 1501, t(1)) {
            Err(LedgerError::Insufficient { available }) => assert_eq!(available, 1500),
            other => panic!("expected Insufficient, got {other:?}"),
        }
        assert_eq!(snapshot(&conn), before);
        assert!(matches!(
            pay(&mut conn, 0, t(1)),
            Err(LedgerError::NotPositive)
        ));
        assert!(matches!(
            pay(&mut conn, -5, t(1)),
            Err(LedgerError::NotPositive)
        ));
        assert_eq!(snapshot(&conn), before);
        pay(&mut conn, 1500, t(1)).unwrap();
        assert_eq!(balance(&conn, "c1", t(1)).unwrap().active, 0);
    }

    #[test]
    fn pending_bonuses_are_not_spendable_until_active_from() {
        let mut conn = db();
        give(&mut conn, 700, t(2), Some(t(30)), t(0));
        let b = balance(&conn, "c1", t(1)).unwrap();
        assert_eq!(
            b,
            Balance {
                active: 0,
                pending: 700
            }
        );
        assert!(matches!(
            pay(&mut conn, 100, t(1)),
            Err(LedgerError::Insufficient { available: 0 })
        ));
        // Exactly at active_from the bonuses count.
        let b = balance(&conn, "c1", t(2)).unwrap();
        assert_eq!(
            b,
            Balance {
                active: 700,
                pending: 0
            }
        );
        pay(&mut conn, 100, t(2)).unwrap();
        assert_eq!(remaining(&conn), [600]);
    }

    #[test]
    fn expiry_burns_only_the_unspent_remainder() {
        let mut conn = db();
        give(&mut conn, 1000, t(0), Some(t(10)), t(0));
        give(&mut conn, 400, t(0), Some(t(20)), t(0));
        pay(&mut conn, 300, t(1)).unwrap();

        let tx = conn.transaction().unwrap();
        assert_eq!(expire(&tx, t(9)).unwrap(), 0);
        tx.commit().unwrap();
        // Past burns_at the batch stops counting even before the expiry job runs.
        assert_eq!(balance(&conn, "c1", t(10)).unwrap().active, 400);
        assert!(pay(&mut conn, 401, t(10)).is_err());

        let tx = conn.transaction().unwrap();
        assert_eq!(expire(&tx, t(11)).unwrap(), 1);
        assert_eq!(expire(&tx, t(11)).unwrap(), 0, "a batch burns once");
        tx.commit().unwrap();
        assert_eq!(remaining(&conn), [0, 400]);
        let h = history(&conn, "c1", 1).unwrap();
        assert_eq!(
            h,
            [HistoryRow {
                at: t(10),
                amount: -700,
                description: "Сгорание бонусов".into()
            }]
        );
        assert_eq!(ledger_sum(&conn), 400);

        // A fully spent batch leaves nothing to burn.
        pay(&mut conn, 400, t(12)).unwrap();
        let tx = conn.transaction().unwrap();
        assert_eq!(expire(&tx, t(40)).unwrap(), 0);
        tx.commit().unwrap();
        assert_eq!(ledger_sum(&conn), 0);
    }

    #[test]
    fn a_claw_back_takes_active_then_pending_bonuses() {
        let mut conn = db();
        give(&mut conn, 300, t(0), None, t(0));
        give(&mut conn, 300, t(0), Some(t(5)), t(0));
        give(&mut conn, 300, t(3), Some(t(9)), t(0)); // pending
        give(&mut conn, 300, t(2), None, t(0)); // pending, activates first
        let tx = conn.transaction().unwrap();
        claw_back(&tx, "c1", 1000, "Отмена начисления по возврату", None, t(1)).unwrap();
        tx.commit().unwrap();
        assert_eq!(remaining(&conn), [0, 0, 200, 0]);
        let b = balance(&conn, "c1", t(1)).unwrap();
        assert_eq!(
            b,
            Balance {
                active: 0,
                pending: 200
            }
        );
        assert_eq!(ledger_sum(&conn), 200);
    }

    #[test]
    fn a_claw_back_beyond_the_balance_makes_a_debt_that_blocks_spending_until_paid_off() {
        let mut conn = db();
        give(&mut conn, 500, t(0), Some(t(30)), t(0));
        let tx = conn.transaction().unwrap();
        claw_back(
            &tx,
            "c1",
            800,
            "Отмена начисления по возврату",
            Some("op-1"),
            t(1),
        )
        .unwrap();
        tx.commit().unwrap();
        let (source, amount, rem, burns): (String, i64, i64, Option<String>) = conn
            .query_row(
                "SELECT source, amount, remaining, burns_at FROM bonus_batches ORDER BY id DESC",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(
            (source.as_str(), amount, rem, burns),
            ("return_clawback", -300, -300, None)
        );
        assert_eq!(balance(&conn, "c1", t(1)).unwrap().active, -300);
        let before = snapshot(&conn);
        assert!(matches!(
            pay(&mut conn, 1, t(2)),
            Err(LedgerError::Insufficient { available: -300 })
        ));
        assert_eq!(snapshot(&conn), before);

        // A debt deeper still: another debt batch, paid off in order.
        let tx = conn.transaction().unwrap();
        claw_back(&tx, "c1", 100, "Отмена начисления по возврату", None, t(2)).unwrap();
        tx.commit().unwrap();
        assert_eq!(balance(&conn, "c1", t(2)).unwrap().active, -400);

        give(&mut conn, 350, t(3), None, t(3));
        assert_eq!(remaining(&conn), [0, 0, -50, 0]);
        assert_eq!(balance(&conn, "c1", t(3)).unwrap().active, -50);
        give(&mut conn, 1000, t(4), Some(t(60)), t(4));
        assert_eq!(remaining(&conn), [0, 0, 0, 0, 950]);
        assert_eq!(balance(&conn, "c1", t(4)).unwrap().active, 950);
        pay(&mut conn, 950, t(4)).unwrap();
        assert_eq!(ledger_sum(&conn), 0);
    }

    #[test]
    fn a_pending_grant_pays_a_debt_at_once() {
        let mut conn = db();
        let tx = conn.transaction().unwrap();
        claw_back(&tx, "c1", 200, "Отмена начисления по возврату", None, t(0)).unwrap();
        tx.commit().unwrap();
        give(&mut conn, 500, t(5), None, t(1));
        assert_eq!(remaining(&conn), [0, 300]);
        let b = balance(&conn, "c1", t(1)).unwrap();
        assert_eq!(
            b,
            Balance {
                active: 0,
                pending: 300
            }
        );
    }

    #[test]
    fn grants_and_claw_backs_refuse_non_positive_amounts() {
        let mut conn = db();
        let tx = conn.transaction().unwrap();
        let mut g = Grant {
            customer_id: "c1",
            amount: 0,
            source: Source::Welcome,
            description: "Приветственные бонусы".into(),
            active_from: t(0),
            burns_at: None,
            operation_id: None,
            actor: None,
        };
        assert!(matches!(
            grant(&tx, &g, t(0)),
            Err(LedgerError::NotPositive)
        ));
        g.amount = -1;
        assert!(matches!(
            grant(&tx, &g, t(0)),
            Err(LedgerError::NotPositive)
        ));
        assert!(matches!(
            claw_back(&tx, "c1", 0, "Отмена начисления по возврату", None, t(0)),
            Err(LedgerError::NotPositive)
        ));
        tx.commit().unwrap();
        assert_eq!(snapshot(&conn), "");
    }

    #[test]
    fn history_reads_newest_first_in_russian_and_per_customer() {
        let mut conn = db();
        let tx = conn.transaction().unwrap();
        let welcome = Grant {
            customer_id: "c1",
            amount: 10_000,
            source: Source::Welcome,
            description: "Приветственные бонусы".into(),
            active_from: t(0),
            burns_at: Some(t(7)),
            operation_id: None,
            actor: None,
        };
        grant(&tx, &welcome, t(0)).unwrap();
        grant(
            &tx,
            &Grant {
                customer_id: "c2",
                ..welcome.clone()
            },
            t(0),
        )
        .unwrap();
        let manual = Grant {
            amount: 2_500,
            source: Source::Manual,
            description: "Ручное изменение: подарок постоянному покупателю".into(),
            active_from: t(1),
            burns_at: None,
            actor: Some("Иванова"),
            ..welcome.clone()
        };
        grant(&tx, &manual, t(1)).unwrap();
        spend(
            &tx,
            "c1",
            5_000,
            Source::Purchase,
            "Списание при оплате покупки",
            Some("op-7"),
            None,
            t(2),
        )
        .unwrap();
        assert_eq!(expire(&tx, t(8)).unwrap(), 2);
        tx.commit().unwrap();

        let h = history(&conn, "c1", 100).unwrap();
        let lines: Vec<(DateTime<Utc>, i64, &str)> = h
            .iter()
            .map(|r| (r.at, r.amount, r.description.as_str()))
            .collect();
        assert_eq!(
            lines,
            [
                (t(7), -5_000, "Сгорание бонусов"),
                (t(2), -5_000, "Списание при оплате покупки"),
                (
                    t(1),
                    2_500,
                    "Ручное изменение: подарок постоянному покупателю"
                ),
                (t(0), 10_000, "Приветственные бонусы"),
            ]
        );
        assert_eq!(history(&conn, "c1", 2).unwrap(), h[..2]);
        assert_eq!(history(&conn, "c2", 100).unwrap().len(), 2);
        assert_eq!(history(&conn, "nobody", 100).unwrap(), []);
        let actor: Option<String> = conn
            .query_row(
                "SELECT actor FROM ledger_entries WHERE kind = 'manual'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(actor.as_deref(), Some("Иванова"));
        assert_eq!(balance(&conn, "c1", t(8)).unwrap().active, 2_500);
    }
}
