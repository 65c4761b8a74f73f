//! The store interface in PostgreSQL's SQL: the reads a read view and a transaction both
//! answer, and the writes of a transaction.
//!
//! Every statement is prepared once per connection (`prepare_cached`) and run with typed
//! parameters; no value is ever spliced into SQL text. Locks are real here, unlike on
//! SQLite where one writer excludes the rest: [`Tx::lock_customers`], the SMS and login
//! reads lock rows `FOR UPDATE` until the transaction ends. Nothing here retries: a
//! serialization failure or deadlock surfaces as [`StoreError::Conflict`] and
//! [`crate::server::store::write`] runs the whole transaction again.

use std::collections::HashSet;
use std::marker::PhantomData;

use chrono::NaiveDate;
use deadpool_postgres::Object;
use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, ToSql};

use tokio::runtime::Handle;

use super::{PgStore, block_on, statement_error};
use crate::server::store::*;

type Param<'p> = &'p (dyn ToSql + Sync);

/// A pooled connection and the statements run on it.
pub(super) struct Session {
    /// The store's runtime, entered while a statement runs.
    handle: Handle,
    /// `None` only while a transaction gives its connection up in `Drop`.
    client: Option<Object>,
    /// The first error of a statement in the open transaction: PostgreSQL refuses every
    /// later statement, and a `COMMIT` would silently roll back, so `commit` reports it.
    failure: Option<StoreError>,
}

impl Session {
    fn new(handle: &Handle, client: Object) -> Session {
        Session {
            handle: handle.clone(),
            client: Some(client),
            failure: None,
        }
    }

    fn client(&self) -> Result<&Object, StoreError> {
        self.client
            .as_ref()
            .ok_or_else(|| StoreError::Unavailable("the connection was given up".into()))
    }

    fn failed(&mut self, e: &tokio_postgres::Error) -> StoreError {
        let err = statement_error(e);
        if self.failure.is_none() {
            self.failure = Some(err.clone());
        }
        err
    }

    fn query(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>, StoreError> {
        let client = self.client()?;
        let result = block_on(&self.handle, async {
            let stmt = client.prepare_cached(sql).await?;
            client.query(&stmt, params).await
        });
        result.map_err(|e| self.failed(&e))
    }

    fn query_opt(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Option<Row>, StoreError> {
        let client = self.client()?;
        let result = block_on(&self.handle, async {
            let stmt = client.prepare_cached(sql).await?;
            client.query_opt(&stmt, params).await
        });
        result.map_err(|e| self.failed(&e))
    }

    fn query_one(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Row, StoreError> {
        let client = self.client()?;
        let result = block_on(&self.handle, async {
            let stmt = client.prepare_cached(sql).await?;
            client.query_one(&stmt, params).await
        });
        result.map_err(|e| self.failed(&e))
    }

    /// Runs a statement; how many rows it touched.
    fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64, StoreError> {
        let client = self.client()?;
        let result = block_on(&self.handle, async {
            let stmt = client.prepare_cached(sql).await?;
            client.execute(&stmt, params).await
        });
        result.map_err(|e| self.failed(&e))
    }

    /// Runs parameterless statements (transaction control) over the simple protocol.
    fn simple(&mut self, sql: &str) -> Result<(), StoreError> {
        let client = self.client()?;
        let result = block_on(&self.handle, client.batch_execute(sql));
        result.map_err(|e| self.failed(&e))
    }

    fn count(&mut self, sql: &str, params: &[Param<'_>]) -> Result<i64, StoreError> {
        let row = self.query_one(sql, params)?;
        col(&row, 0)
    }

    fn ids(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<String>, StoreError> {
        self.query(sql, params)?.iter().map(|r| col(r, 0)).collect()
    }

    fn batches(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Batch>, StoreError> {
        self.query(sql, params)?.iter().map(batch).collect()
    }

    /// Batches from `sql` (whose last two parameters are `LIMIT` and `OFFSET`) read a page
    /// at a time until their remainders cover `need`, so a customer with thousands of live
    /// batches reads only the few a spend takes.
    fn batches_covering(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
        need: &mut i64,
        out: &mut Vec<Batch>,
    ) -> Result<(), StoreError> {
        let mut page: i64 = FIRST_PAGE;
        let mut offset: i64 = 0;
        while *need > 0 {
            let mut all: Vec<Param<'_>> = params.to_vec();
            all.push(&page);
            all.push(&offset);
            let rows = self.query(sql, &all)?;
            let read = rows.len() as i64;
            for row in &rows {
                let b = batch(row)?;
                *need -= b.remaining;
                out.push(b);
                if *need <= 0 {
                    return Ok(());
                }
            }
            if read < page {
                break;
            }
            offset += read;
            page = (page * 4).min(LAST_PAGE);
        }
        Ok(())
    }
}

/// Batches read by the first page of a spend's walk; later pages grow up to the last.
const FIRST_PAGE: i64 = 16;
const LAST_PAGE: i64 = 1024;

/// Something that answers the reads: a read view or a transaction.
pub(super) trait Conn {
    fn session(&mut self) -> &mut Session;
}

/// A read view: a pooled connection running each statement on its own (autocommit), so
/// each call sees the latest committed state.
pub(super) struct PgRead<'a> {
    s: Session,
    /// Not to outlive the store, whose runtime drives the connection.
    _store: PhantomData<&'a PgStore>,
}

impl PgRead<'_> {
    pub(super) fn new(handle: &Handle, client: Object) -> Self {
        PgRead {
            s: Session::new(handle, client),
            _store: PhantomData,
        }
    }
}

impl Conn for PgRead<'_> {
    fn session(&mut self) -> &mut Session {
        &mut self.s
    }
}

/// A read-write transaction on a pooled connection: `BEGIN` at the cluster's default
/// isolation (read committed or serializable both hold the contract: the row locks below
/// make the first safe, and the second turns what they miss into a retried conflict).
pub(super) struct PgTx<'a> {
    s: Session,
    /// Not to outlive the store, whose runtime drives the connection.
    _store: PhantomData<&'a PgStore>,
    done: bool,
    /// Customers locked in this transaction, so locking one again costs nothing.
    locked: HashSet<String>,
    /// `locked` as it was when the savepoint was taken: rolling back to the savepoint
    /// releases the locks taken after it.
    locked_at_savepoint: Option<HashSet<String>>,
}

impl PgTx<'_> {
    pub(super) fn begin(handle: &Handle, client: Object) -> Result<Self, StoreError> {
        let mut tx = PgTx {
            s: Session::new(handle, client),
            _store: PhantomData,
            done: false,
            locked: HashSet::new(),
            locked_at_savepoint: None,
        };
        tx.s.simple("BEGIN")?;
        Ok(tx)
    }
}

impl Conn for PgTx<'_> {
    fn session(&mut self) -> &mut Session {
        &mut self.s
    }
}

impl Drop for PgTx<'_> {
    fn drop(&mut self) {
        let Some(client) = self.s.client.take() else {
            return;
        };
        if self.done {
            return;
        }
        // A connection that cannot even roll back (it broke mid-transaction) must not go
        // back to the pool with a transaction possibly open: detach it, which closes it.
        if block_on(&self.s.handle, client.batch_execute("ROLLBACK")).is_err() {
            drop(Object::take(client));
        }
    }
}

/// A column, with a value that does not convert reported as corrupt data.
fn col<'r, T: FromSql<'r>>(row: &'r Row, idx: usize) -> Result<T, StoreError> {
    row.try_get(idx).map_err(|e| {
        // The text names the column and the types, never the value.
        let why = match std::error::Error::source(&e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        };
        StoreError::Corrupt(why)
    })
}

fn source(s: &str) -> Result<Source, StoreError> {
    Source::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown batch source {s:?}")))
}

pub(super) fn customer(r: &Row) -> Result<Customer, StoreError> {
    Ok(Customer {
        id: col(r, 0)?,
        phone: col(r, 1)?,
        card_number: col(r, 2)?,
        card_status: col(r, 3)?,
        phone_verified: col(r, 4)?,
        first_name: col(r, 5)?,
        last_name: col(r, 6)?,
        birth_date: col::<Option<NaiveDate>>(r, 7)?,
        registered_at: col(r, 8)?,
        referrer_id: col(r, 9)?,
        consent_processing: col(r, 10)?,
        consent_advertising: col(r, 11)?,
        gone: col(r, 12)?,
    })
}

/// The pending part and the part past its burning time of a customer's balance at `$2`,
/// as two correlated sums that read only such batches through the partial indexes
/// `batches_pending` and `batches_spendable`.
const BALANCE_PARTS: &str = "
    (SELECT COALESCE(SUM(b.remaining), 0)::bigint FROM bonus_batches b
      WHERE b.customer_id = c.id AND b.remaining <> 0 AND b.active_from > $2
        AND (b.burns_at IS NULL OR b.burns_at > $2)),
    (SELECT COALESCE(SUM(b.remaining), 0)::bigint FROM bonus_batches b
      WHERE b.customer_id = c.id AND b.remaining > 0 AND b.burns_at <= $2)";

/// A balance from the running total and the parts read at columns `at`, `at + 1`,
/// `at + 2`.
fn balance_at(r: &Row, at: usize) -> Result<Balance, StoreError> {
    let total: i64 = col(r, at)?;
    let pending: i64 = col(r, at + 1)?;
    let burnt: i64 = col(r, at + 2)?;
    Ok(Balance {
        active: total - pending - burnt,
        pending,
    })
}

const BATCH_COLUMNS: &str = "seq, amount, remaining, source, active_from, burns_at";

fn batch(r: &Row) -> Result<Batch, StoreError> {
    Ok(Batch {
        key: col(r, 0)?,
        amount: col(r, 1)?,
        remaining: col(r, 2)?,
        source: source(col::<&str>(r, 3)?)?,
        active_from: col(r, 4)?,
        burns_at: col(r, 5)?,
    })
}

/// The lock slot of a phone's SMS sends: a stable hash (64-bit FNV-1a of its UTF-8 bytes)
/// modulo the 1024 rows of `sms_locks`. Stable across versions and processes: every
/// server sharing a database must pick the same slot for a phone.
pub(super) fn sms_slot(phone: &str) -> i32 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = phone
        .bytes()
        .fold(OFFSET, |h, b| (h ^ u64::from(b)).wrapping_mul(PRIME));
    (hash % 1024) as i32
}

/// A `LIMIT` as SQLite reads it: a negative one means none (PostgreSQL refuses it, and
/// takes `LIMIT NULL` as none).
fn no_limit_if_negative(limit: i64) -> Option<i64> {
    (limit >= 0).then_some(limit)
}

/// An insert that takes the customer's next `seq` from `customers.ledger_seq` in the same
/// statement, under the customer's row lock; no row when there is no such customer.
fn no_customer(what: &str, customer_id: &str) -> StoreError {
    StoreError::Other(format!("cannot insert {what}: no customer {customer_id}"))
}

/// The reads, written once for the read view and the transaction. (A blanket impl over
/// [`Conn`] would overlap the SQLite engine's blanket impl of the same trait.)
macro_rules! impl_reads {
    (impl $trait:ident { $($body:tt)* }) => {
        impl $trait for PgRead<'_> { $($body)* }
        impl $trait for PgTx<'_> { $($body)* }
    };
}

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

impl ReadTx for PgRead<'_> {}
impl ReadTx for PgTx<'_> {}

impl Tx for PgTx<'_> {
    fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        // After a failed statement PostgreSQL answers COMMIT with a rollback, not an
        // error: report the failure instead of pretending the writes are kept.
        if let Some(failure) = self.s.failure.take() {
            return Err(failure);
        }
        self.s.simple("COMMIT")?;
        self.done = true;
        Ok(())
    }

    fn savepoint(&mut self) -> Result<(), StoreError> {
        self.s.simple("SAVEPOINT op")?;
        self.locked_at_savepoint = Some(self.locked.clone());
        Ok(())
    }

    fn release_savepoint(&mut self) -> Result<(), StoreError> {
        self.s.simple("RELEASE SAVEPOINT op")?;
        self.locked_at_savepoint = None;
        Ok(())
    }

    fn rollback_savepoint(&mut self) -> Result<(), StoreError> {
        self.s.simple("ROLLBACK TO SAVEPOINT op")?;
        // What failed after the savepoint is undone with it: the transaction goes on.
        self.s.failure = None;
        if let Some(locked) = self.locked_at_savepoint.take() {
            self.locked = locked;
        }
        self.s.simple("RELEASE SAVEPOINT op")
    }

    fn lock_customers(&mut self, ids: &[&str]) -> Result<(), StoreError> {
        let mut wanted: Vec<&str> = ids
            .iter()
            .copied()
            .filter(|id| !self.locked.contains(*id))
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        if wanted.is_empty() {
            return Ok(());
        }
        // One statement, rows locked in id order: two transactions locking overlapping
        // sets take the common rows in the same order and cannot deadlock on them.
        let locked = self.s.ids(
            "SELECT id FROM customers WHERE id = ANY($1) ORDER BY id FOR UPDATE",
            &[&wanted],
        )?;
        self.locked.extend(locked);
        Ok(())
    }
}
