//! The store interface in SQLite's SQL: the reads every connection answers, and the writes
//! of the writer's transaction.
//!
//! Times are fixed-width RFC 3339 UTC text (`crate::sqlite::ts`), so SQL compares
//! them as text in time order. Locks are no-ops here: the writer's `BEGIN IMMEDIATE` already
//! makes every read-write transaction the only one.

use std::sync::MutexGuard;

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{Connection, Row};

use super::ReaderPool;
use crate::server::store::*;
use crate::sqlite::parse_ts_column;

mod backoffice;
mod customers;
mod holds;
mod import;
mod jobs;
mod ledger;
mod operations;
mod reports;
mod selfreg;
mod setup;
mod sms;
mod statuses;

/// A connection that answers the reads.
pub(super) trait Conn {
    fn conn(&self) -> &Connection;
}

/// The writer's transaction.
pub(super) struct SqliteTx<'a> {
    conn: MutexGuard<'a, Connection>,
    done: bool,
}

impl<'a> SqliteTx<'a> {
    pub(super) fn new(conn: MutexGuard<'a, Connection>) -> SqliteTx<'a> {
        SqliteTx { conn, done: false }
    }
}

impl Drop for SqliteTx<'_> {
    fn drop(&mut self) {
        if !self.done && !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

impl Conn for SqliteTx<'_> {
    fn conn(&self) -> &Connection {
        &self.conn
    }
}

/// A read view: a pooled reader, or the writer's connection of an in-memory store.
pub(super) enum SqliteRead<'a> {
    Pooled(Option<Connection>, &'a ReaderPool),
    Shared(MutexGuard<'a, Connection>),
}

impl Conn for SqliteRead<'_> {
    fn conn(&self) -> &Connection {
        match self {
            SqliteRead::Pooled(c, _) => c.as_ref().expect("a reader until dropped"),
            SqliteRead::Shared(c) => c,
        }
    }
}

impl Drop for SqliteRead<'_> {
    fn drop(&mut self) {
        if let SqliteRead::Pooled(conn, pool) = self
            && let Some(conn) = conn.take()
        {
            pool.give_back(conn);
        }
    }
}

/// A stored time from column `idx`; one that does not read is a conversion failure
/// ([`StoreError::Corrupt`]), never a made-up time.
fn time_col(r: &Row<'_>, idx: usize) -> rusqlite::Result<DateTime<Utc>> {
    let s: String = r.get(idx)?;
    parse_ts_column(&s, idx)
}

fn opt_time_col(r: &Row<'_>, idx: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    let s: Option<String> = r.get(idx)?;
    s.map(|s| parse_ts_column(&s, idx)).transpose()
}

fn source_col(r: &Row<'_>, idx: usize) -> rusqlite::Result<Source> {
    let s: String = r.get(idx)?;
    Source::parse(&s).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            rusqlite::types::Type::Text,
            format!("unknown batch source {s:?}").into(),
        )
    })
}

pub(super) fn customer(r: &Row<'_>) -> rusqlite::Result<Customer> {
    let birth: Option<String> = r.get(7)?;
    Ok(Customer {
        id: r.get(0)?,
        phone: r.get(1)?,
        card_number: r.get(2)?,
        card_status: r.get(3)?,
        phone_verified: r.get(4)?,
        first_name: r.get(5)?,
        last_name: r.get(6)?,
        // A birth date is optional: one that does not read is treated as not given, rather
        // than locking the customer out of every lookup.
        birth_date: birth.and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()),
        registered_at: time_col(r, 8)?,
        referrer_id: r.get(9)?,
        consent_processing: r.get(10)?,
        consent_advertising: r.get(11)?,
        gone: r.get(12)?,
    })
}

/// The pending part and the part past its burning time of a customer's balance, as two
/// correlated sums over the partial indexes (they read only such batches).
const BALANCE_PARTS: &str = "
    (SELECT COALESCE(SUM(b.remaining), 0) FROM bonus_batches b
      WHERE b.customer_id = c.id AND b.remaining <> 0 AND b.active_from > :now
        AND (b.burns_at IS NULL OR b.burns_at > :now)),
    (SELECT COALESCE(SUM(b.remaining), 0) FROM bonus_batches b
      WHERE b.customer_id = c.id AND b.remaining > 0 AND b.burns_at <= :now)";

fn balance_of(total: i64, pending: i64, burnt: i64) -> Balance {
    Balance {
        active: total - pending - burnt,
        pending,
    }
}

const BATCH_COLUMNS: &str = "id, amount, remaining, source, active_from, burns_at";

fn batch(r: &Row<'_>) -> rusqlite::Result<Batch> {
    Ok(Batch {
        key: r.get(0)?,
        amount: r.get(1)?,
        remaining: r.get(2)?,
        source: source_col(r, 3)?,
        active_from: time_col(r, 4)?,
        burns_at: opt_time_col(r, 5)?,
    })
}

/// A customer's balance from the running total and the parts at columns `at`, `at + 1`,
/// `at + 2`.
fn balance_col(r: &Row<'_>, at: usize) -> rusqlite::Result<Balance> {
    Ok(balance_of(r.get(at)?, r.get(at + 1)?, r.get(at + 2)?))
}

/// Collects rows, keeping the first error.
fn all<T>(rows: impl Iterator<Item = rusqlite::Result<T>>) -> Result<Vec<T>, StoreError> {
    Ok(rows.collect::<rusqlite::Result<Vec<T>>>()?)
}

impl<T: Conn> ReadTx for T {}

impl Tx for SqliteTx<'_> {
    fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        self.conn.execute_batch("COMMIT")?;
        self.done = true;
        Ok(())
    }

    fn savepoint(&mut self) -> Result<(), StoreError> {
        Ok(self.conn.execute_batch("SAVEPOINT op")?)
    }

    fn release_savepoint(&mut self) -> Result<(), StoreError> {
        Ok(self.conn.execute_batch("RELEASE op")?)
    }

    fn rollback_savepoint(&mut self) -> Result<(), StoreError> {
        Ok(self.conn.execute_batch("ROLLBACK TO op; RELEASE op")?)
    }

    fn lock_customers(&mut self, _ids: &[&str]) -> Result<(), StoreError> {
        // BEGIN IMMEDIATE holds the database's one write lock already.
        Ok(())
    }
}
