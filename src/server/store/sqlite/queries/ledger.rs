//! The store interface in SQLite's SQL for bonuses: the balance, the batches and the
//! history, the batches a change takes in order, new batches and history lines.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, named_params, params};

use super::{
    BALANCE_PARTS, BATCH_COLUMNS, Conn, SqliteTx, all, balance_col, batch, source_col, time_col,
};
use crate::server::store::*;
use crate::sqlite::ts;

/// Batches of one customer from `sql` (which names `:customer` and `:now`), read until
/// their remainders cover `need`.
fn batches_covering(
    conn: &Connection,
    sql: &str,
    customer_id: &str,
    now: DateTime<Utc>,
    need: &mut i64,
    out: &mut Vec<Batch>,
) -> Result<(), StoreError> {
    if *need <= 0 {
        return Ok(());
    }
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(named_params! { ":customer": customer_id, ":now": ts(now) })?;
    while let Some(r) = rows.next()? {
        let b = batch(r)?;
        *need -= b.remaining;
        out.push(b);
        if *need <= 0 {
            break;
        }
    }
    Ok(())
}

impl<T: Conn> LedgerRead for T {
    fn balance(&mut self, customer_id: &str, now: DateTime<Utc>) -> Result<Balance, StoreError> {
        Ok(self
            .conn()
            .prepare_cached(&format!(
                "SELECT c.bonus_total, {BALANCE_PARTS} FROM customers c WHERE c.id = :key"
            ))?
            .query_row(
                named_params! { ":key": customer_id, ":now": ts(now) },
                |r| balance_col(r, 0),
            )
            .optional()?
            .unwrap_or_default())
    }

    fn history(&mut self, customer_id: &str, limit: usize) -> Result<Vec<HistoryRow>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT at, amount, kind, description, actor FROM ledger_entries
             WHERE customer_id = ?1 ORDER BY at DESC, id DESC LIMIT ?2",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        all(stmt.query_map(params![customer_id, limit], |r| {
            Ok(HistoryRow {
                at: time_col(r, 0)?,
                amount: r.get(1)?,
                kind: source_col(r, 2)?,
                description: r.get(3)?,
                actor: r.get(4)?,
            })
        })?)
    }

    fn batches(&mut self, customer_id: &str) -> Result<Vec<Batch>, StoreError> {
        let mut stmt = self.conn().prepare_cached(&format!(
            "SELECT {BATCH_COLUMNS} FROM bonus_batches WHERE customer_id = ?1 ORDER BY id"
        ))?;
        all(stmt.query_map([customer_id], batch)?)
    }

    fn history_sum(&mut self, customer_id: &str) -> Result<i64, StoreError> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT COALESCE(SUM(amount), 0) FROM ledger_entries WHERE customer_id = ?1",
            )?
            .query_row([customer_id], |r| r.get(0))?)
    }
}

impl LedgerTx for SqliteTx<'_> {
    fn debts(&mut self, customer_id: &str) -> Result<Vec<Batch>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {BATCH_COLUMNS} FROM bonus_batches
             WHERE customer_id = ?1 AND remaining <> 0 AND remaining < 0 ORDER BY id"
        ))?;
        all(stmt.query_map([customer_id], batch)?)
    }

    fn spendable(
        &mut self,
        customer_id: &str,
        now: DateTime<Utc>,
        need: i64,
    ) -> Result<Vec<Batch>, StoreError> {
        // Two walks of `batches_spendable` in index order, so a customer with thousands of
        // live batches reads only the few a spend takes: the burning ones soonest first,
        // then the never-burning ones in the order granted.
        let mut need = need;
        let mut out = Vec::new();
        batches_covering(
            &self.conn,
            &format!(
                "SELECT {BATCH_COLUMNS} FROM bonus_batches
                 WHERE customer_id = :customer AND remaining > 0 AND burns_at > :now
                   AND active_from <= :now
                 ORDER BY burns_at, id"
            ),
            customer_id,
            now,
            &mut need,
            &mut out,
        )?;
        batches_covering(
            &self.conn,
            &format!(
                "SELECT {BATCH_COLUMNS} FROM bonus_batches
                 WHERE customer_id = :customer AND remaining > 0 AND burns_at IS NULL
                   AND active_from <= :now
                 ORDER BY id"
            ),
            customer_id,
            now,
            &mut need,
            &mut out,
        )?;
        Ok(out)
    }

    fn pending(
        &mut self,
        customer_id: &str,
        now: DateTime<Utc>,
        need: i64,
    ) -> Result<Vec<Batch>, StoreError> {
        let mut need = need;
        let mut out = Vec::new();
        batches_covering(
            &self.conn,
            &format!(
                "SELECT {BATCH_COLUMNS} FROM bonus_batches
                 WHERE customer_id = :customer AND remaining <> 0 AND remaining > 0
                   AND active_from > :now AND (burns_at IS NULL OR burns_at > :now)
                 ORDER BY active_from, burns_at IS NULL, burns_at, id"
            ),
            customer_id,
            now,
            &mut need,
            &mut out,
        )?;
        Ok(out)
    }

    fn due_to_burn(
        &mut self,
        customer_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Batch>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {BATCH_COLUMNS} FROM bonus_batches
             WHERE customer_id = ?1 AND remaining > 0 AND burns_at <= ?2
             ORDER BY burns_at, id"
        ))?;
        all(stmt.query_map(params![customer_id, ts(now)], batch)?)
    }

    fn insert_batch(&mut self, b: &NewBatch<'_>) -> Result<BatchKey, StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO bonus_batches
                     (customer_id, amount, remaining, source, active_from, burns_at, created_at, operation_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                b.customer_id,
                b.amount,
                b.remaining,
                b.source.as_str(),
                ts(b.active_from),
                b.burns_at.map(ts),
                ts(b.created_at),
                b.operation_id,
            ])?;
        let key = self.conn.last_insert_rowid();
        if b.remaining != 0 {
            self.conn
                .prepare_cached(
                    "UPDATE customers SET bonus_total = bonus_total + ?1 WHERE id = ?2",
                )?
                .execute(params![b.remaining, b.customer_id])?;
        }
        Ok(key)
    }

    fn adjust_batch(
        &mut self,
        customer_id: &str,
        key: BatchKey,
        delta: i64,
    ) -> Result<(), StoreError> {
        let n = self
            .conn
            .prepare_cached(
                "UPDATE bonus_batches SET remaining = remaining + ?1 WHERE id = ?2 AND customer_id = ?3",
            )?
            .execute(params![delta, key, customer_id])?;
        if n != 1 {
            return Err(StoreError::Corrupt(format!(
                "batch {key} of customer {customer_id} not found"
            )));
        }
        self.conn
            .prepare_cached("UPDATE customers SET bonus_total = bonus_total + ?1 WHERE id = ?2")?
            .execute(params![delta, customer_id])?;
        Ok(())
    }

    fn insert_entry(&mut self, e: &NewEntry<'_>) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO ledger_entries (customer_id, at, amount, kind, description, operation_id, actor)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                e.customer_id,
                ts(e.at),
                e.amount,
                e.kind.as_str(),
                e.description,
                e.operation_id,
                e.actor
            ])?;
        Ok(())
    }
}
