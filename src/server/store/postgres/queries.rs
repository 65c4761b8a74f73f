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

use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::Object;
use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, ToSql};

use tokio::runtime::Handle;

use super::{PgStore, block_on, statement_error};
use crate::protocol::server::Role;
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

fn customer(r: &Row) -> Result<Customer, StoreError> {
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
macro_rules! impl_read_tx {
    ($($t:ty),*) => {$(
impl ReadTx for $t {
    fn newest_rules(&mut self) -> Result<Option<(i64, String)>, StoreError> {
        self.session()
            .query_opt(
                "SELECT version, text FROM rules ORDER BY version DESC LIMIT 1",
                &[],
            )?
            .map(|r| Ok((col(&r, 0)?, col(&r, 1)?)))
            .transpose()
    }

    fn store(&mut self, id: &str) -> Result<Option<StoreRow>, StoreError> {
        self.session()
            .query_opt(
                "SELECT id, name, utc_offset_minutes FROM stores WHERE id = $1",
                &[&id],
            )?
            .map(|r| {
                Ok(StoreRow {
                    id: col(&r, 0)?,
                    name: col(&r, 1)?,
                    utc_offset_minutes: col(&r, 2)?,
                })
            })
            .transpose()
    }

    fn lookup_key(&mut self, store_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.session()
            .query_opt(
                "SELECT key FROM lookup_keys WHERE store_id = $1",
                &[&store_id],
            )?
            .map(|r| col(&r, 0))
            .transpose()
    }

    fn terminal_by_token(&mut self, token_hash: &[u8]) -> Result<Option<TerminalAuth>, StoreError> {
        self.session()
            .query_opt(
                "SELECT id, store_id, revoked_at IS NOT NULL FROM terminals WHERE token_hash = $1",
                &[&token_hash],
            )?
            .map(|r| {
                Ok(TerminalAuth {
                    id: col(&r, 0)?,
                    store_id: col(&r, 1)?,
                    revoked: col(&r, 2)?,
                })
            })
            .transpose()
    }

    fn cashiers(&mut self, store_id: &str) -> Result<Vec<CashierRow>, StoreError> {
        self.session()
            .query(
                "SELECT id, name, role, code_salt, code_hash FROM cashiers
                 WHERE store_id = $1 AND active ORDER BY id",
                &[&store_id],
            )?
            .iter()
            .map(|r| {
                Ok(CashierRow {
                    id: col(r, 0)?,
                    name: col(r, 1)?,
                    role: role_from_name(col(r, 2)?),
                    code_salt: col(r, 3)?,
                    code_hash: col(r, 4)?,
                })
            })
            .collect()
    }

    fn cashier_role(
        &mut self,
        store_id: &str,
        cashier_id: i64,
    ) -> Result<Option<Role>, StoreError> {
        self.session()
            .query_opt(
                "SELECT role FROM cashiers WHERE id = $1 AND store_id = $2 AND active",
                &[&cashier_id, &store_id],
            )?
            .map(|r| Ok(role_from_name(col(&r, 0)?)))
            .transpose()
    }

    fn customer(&mut self, key: CustomerKey<'_>) -> Result<Option<Customer>, StoreError> {
        let (column, value) = key.column();
        let sql = format!("SELECT {CUSTOMER_COLUMNS} FROM customers c WHERE {column} = $1");
        self.session()
            .query_opt(&sql, &[&value])?
            .map(|r| customer(&r))
            .transpose()
    }

    fn customer_with_balance(
        &mut self,
        key: CustomerKey<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<(Customer, Balance)>, StoreError> {
        let (column, value) = key.column();
        let sql = format!(
            "SELECT {CUSTOMER_COLUMNS}, c.bonus_total, {BALANCE_PARTS}
             FROM customers c WHERE {column} = $1"
        );
        self.session()
            .query_opt(&sql, &[&value, &now])?
            .map(|r| Ok((customer(&r)?, balance_at(&r, CUSTOMER_WIDTH)?)))
            .transpose()
    }

    fn balance(&mut self, customer_id: &str, now: DateTime<Utc>) -> Result<Balance, StoreError> {
        let sql = format!("SELECT c.bonus_total, {BALANCE_PARTS} FROM customers c WHERE c.id = $1");
        Ok(self
            .session()
            .query_opt(&sql, &[&customer_id, &now])?
            .map(|r| balance_at(&r, 0))
            .transpose()?
            .unwrap_or_default())
    }

    fn history(&mut self, customer_id: &str, limit: usize) -> Result<Vec<HistoryRow>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.session()
            .query(
                "SELECT at, amount, kind, description, actor FROM ledger_entries
                 WHERE customer_id = $1 ORDER BY at DESC, seq DESC LIMIT $2",
                &[&customer_id, &limit],
            )?
            .iter()
            .map(|r| {
                Ok(HistoryRow {
                    at: col(r, 0)?,
                    amount: col(r, 1)?,
                    kind: source(&col::<String>(r, 2)?)?,
                    description: col(r, 3)?,
                    actor: col(r, 4)?,
                })
            })
            .collect()
    }

    fn batches(&mut self, customer_id: &str) -> Result<Vec<Batch>, StoreError> {
        let sql =
            format!("SELECT {BATCH_COLUMNS} FROM bonus_batches WHERE customer_id = $1 ORDER BY seq");
        self.session().batches(&sql, &[&customer_id])
    }

    fn history_sum(&mut self, customer_id: &str) -> Result<i64, StoreError> {
        self.session().count(
            "SELECT COALESCE(SUM(amount), 0)::bigint FROM ledger_entries WHERE customer_id = $1",
            &[&customer_id],
        )
    }

    fn feed(
        &mut self,
        since: i64,
        limit: i64,
        now: DateTime<Utc>,
    ) -> Result<(Vec<FeedRow>, i64), StoreError> {
        let s = self.session();
        let remaining = s.count(
            "SELECT COUNT(*) FROM customers WHERE change_seq > $1",
            &[&since],
        )?;
        let sql = format!(
            "SELECT {CUSTOMER_COLUMNS}, c.bonus_total, {BALANCE_PARTS}, c.change_seq
             FROM customers c WHERE c.change_seq > $1 ORDER BY c.change_seq LIMIT $3"
        );
        let rows = s
            .query(&sql, &[&since, &now, &no_limit_if_negative(limit)])?
            .iter()
            .map(|r| {
                Ok(FeedRow {
                    customer: customer(r)?,
                    balance: balance_at(r, CUSTOMER_WIDTH)?,
                    seq: col(r, CUSTOMER_WIDTH + 3)?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok((rows, remaining))
    }

    fn operation_answer(&mut self, id: &str) -> Result<Option<String>, StoreError> {
        self.session()
            .query_opt("SELECT answer FROM operations WHERE id = $1", &[&id])?
            .map(|r| col(&r, 0))
            .transpose()
    }

    fn sequence_used(&mut self, terminal_id: &str, seq: i64) -> Result<bool, StoreError> {
        Ok(self
            .session()
            .query_opt(
                "SELECT 1 FROM operations WHERE terminal_id = $1 AND seq = $2 LIMIT 1",
                &[&terminal_id, &seq],
            )?
            .is_some())
    }

    fn sale(&mut self, terminal_id: &str, receipt_id: &str) -> Result<Option<SaleRow>, StoreError> {
        self.session()
            .query_opt(
                "SELECT customer_id, sale, returned FROM sales
                 WHERE terminal_id = $1 AND receipt_id = $2",
                &[&terminal_id, &receipt_id],
            )?
            .map(|r| {
                Ok(SaleRow {
                    customer_id: col(&r, 0)?,
                    sale: col(&r, 1)?,
                    returned: col(&r, 2)?,
                })
            })
            .transpose()
    }

    fn has_purchases(&mut self, customer_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .session()
            .query_opt(
                "SELECT 1 FROM purchases WHERE customer_id = $1 LIMIT 1",
                &[&customer_id],
            )?
            .is_some())
    }

    fn purchase_totals(
        &mut self,
        customer_id: &str,
        since: Option<DateTime<Utc>>,
        until: DateTime<Utc>,
    ) -> Result<PurchaseTotals, StoreError> {
        // Returns count against the sum, not the count.
        let row = self.session().query_one(
            "SELECT COALESCE(SUM(sum), 0)::bigint, COUNT(CASE WHEN sum >= 0 THEN 1 END)
             FROM purchases
             WHERE customer_id = $1 AND ($2::timestamptz IS NULL OR at > $2) AND at <= $3",
            &[&customer_id, &since, &until],
        )?;
        Ok(PurchaseTotals {
            sum: col(&row, 0)?,
            count: col(&row, 1)?,
        })
    }

    fn census(&mut self) -> Result<Census, StoreError> {
        let s = self.session();
        Ok(Census {
            customers: s.count("SELECT COUNT(*) FROM customers", &[])?,
            applied: s.count(
                "SELECT COUNT(*) FROM operations WHERE status = 'applied'",
                &[],
            )?,
            rejected: s.count(
                "SELECT COUNT(*) FROM operations WHERE status = 'rejected'",
                &[],
            )?,
            sales: s.count("SELECT COUNT(*) FROM sales", &[])?,
            purchases: s.count("SELECT COUNT(*) FROM purchases", &[])?,
            ledger_entries: s.count("SELECT COUNT(*) FROM ledger_entries", &[])?,
            batches: s.count("SELECT COUNT(*) FROM bonus_batches", &[])?,
            unbalanced: s.count(
                "SELECT COUNT(*) FROM customers c
                 WHERE c.bonus_total <> (SELECT COALESCE(SUM(remaining), 0) FROM bonus_batches WHERE customer_id = c.id)
                    OR c.bonus_total <> (SELECT COALESCE(SUM(amount), 0) FROM ledger_entries WHERE customer_id = c.id)",
                &[],
            )?,
            doubled_entries: s.count(
                "SELECT COUNT(*) FROM (SELECT 1 FROM ledger_entries WHERE operation_id IS NOT NULL
                 GROUP BY operation_id, customer_id, kind, amount > 0 HAVING COUNT(*) > 1) AS doubled",
                &[],
            )?,
        })
    }

    fn count_operations(&mut self, ids: &[&str]) -> Result<i64, StoreError> {
        // An id named twice counts twice, as one lookup per id would.
        self.session().count(
            "SELECT COUNT(*) FROM unnest($1::text[]) AS u(id) JOIN operations o ON o.id = u.id",
            &[&ids],
        )
    }
}
    )*};
}

impl_read_tx!(PgRead<'_>, PgTx<'_>);

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

    fn insert_rules(
        &mut self,
        version: i64,
        text: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.s.execute(
            "INSERT INTO rules (version, text, loaded_at) VALUES ($1, $2, $3)",
            &[&version, &text, &at],
        )?;
        Ok(())
    }

    fn insert_store(
        &mut self,
        store: &StoreRow,
        lookup_key: &[u8],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.s.execute(
            "INSERT INTO stores (id, name, utc_offset_minutes, created_at) VALUES ($1, $2, $3, $4)",
            &[&store.id, &store.name, &store.utc_offset_minutes, &at],
        )?;
        self.s.execute(
            "INSERT INTO lookup_keys (store_id, key) VALUES ($1, $2)",
            &[&store.id, &lookup_key],
        )?;
        Ok(())
    }

    fn insert_cashier(
        &mut self,
        store_id: &str,
        name: &str,
        role: Role,
        code_salt: &[u8],
        code_hash: &[u8],
    ) -> Result<i64, StoreError> {
        let row = self.s.query_one(
            "INSERT INTO cashiers (store_id, name, role, code_salt, code_hash)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
            &[&store_id, &name, &role_name(role), &code_salt, &code_hash],
        )?;
        col(&row, 0)
    }

    fn insert_enrollment_code(
        &mut self,
        code_hash: &[u8],
        store_id: &str,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.s.execute(
            "INSERT INTO enrollment_codes (code_hash, store_id, created_at, expires_at)
             VALUES ($1, $2, $3, $4)",
            &[&code_hash, &store_id, &at, &expires_at],
        )?;
        Ok(())
    }

    fn claim_enrollment_code(
        &mut self,
        code_hash: &[u8],
        terminal_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        // One conditional update: a second claimer waits for the first and then finds the
        // code used.
        self.s
            .query_opt(
                "UPDATE enrollment_codes SET used_at = $1, terminal_id = $2
                 WHERE code_hash = $3 AND used_at IS NULL AND expires_at > $1
                 RETURNING store_id",
                &[&now, &terminal_id, &code_hash],
            )?
            .map(|r| col(&r, 0))
            .transpose()
    }

    fn insert_terminal(&mut self, t: &NewTerminal<'_>) -> Result<(), StoreError> {
        self.s.execute(
            "INSERT INTO terminals (id, store_id, name, token_hash, enrolled_at)
             VALUES ($1, $2, $3, $4, $5)",
            &[&t.id, &t.store_id, &t.name, &t.token_hash, &t.enrolled_at],
        )?;
        Ok(())
    }

    fn revoke_terminal(&mut self, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        Ok(self.s.execute(
            "UPDATE terminals SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
            &[&at, &id],
        )? == 1)
    }

    fn login_state(&mut self, terminal_id: &str) -> Result<LoginState, StoreError> {
        let row = self.s.query_opt(
            "SELECT login_failures, login_locked_until FROM terminals WHERE id = $1 FOR UPDATE",
            &[&terminal_id],
        )?;
        match row {
            None => Ok(LoginState::default()),
            Some(r) => Ok(LoginState {
                failures: col(&r, 0)?,
                locked_until: col(&r, 1)?,
            }),
        }
    }

    fn set_login_state(&mut self, terminal_id: &str, s: LoginState) -> Result<(), StoreError> {
        self.s.execute(
            "UPDATE terminals SET login_failures = $1, login_locked_until = $2 WHERE id = $3",
            &[&s.failures, &s.locked_until, &terminal_id],
        )?;
        Ok(())
    }

    fn insert_customer(&mut self, c: &NewCustomer) -> Result<bool, StoreError> {
        let n = self.s.execute(
            "INSERT INTO customers (id, phone, card_number, card_status, phone_verified, last_name,
                 first_name, middle_name, gender, birth_date, email, referrer_id, registered_at,
                 store_id, terminal_id, cashier, change_seq, bonus_total, ledger_seq)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, 0, 0, 0)
             ON CONFLICT DO NOTHING",
            &[
                &c.id,
                &c.phone,
                &c.card_number,
                &c.card_status,
                &c.phone_verified,
                &c.last_name,
                &c.first_name,
                &c.middle_name,
                &c.gender,
                &c.birth_date,
                &c.email,
                &c.referrer_id,
                &c.registered_at,
                &c.store_id,
                &c.terminal_id,
                &c.cashier,
            ],
        )?;
        Ok(n == 1)
    }

    fn set_card_status(&mut self, customer_id: &str, status: &str) -> Result<(), StoreError> {
        self.s.execute(
            "UPDATE customers SET card_status = $1 WHERE id = $2",
            &[&status, &customer_id],
        )?;
        Ok(())
    }

    fn set_phone_verified(&mut self, customer_id: &str) -> Result<(), StoreError> {
        self.s.execute(
            "UPDATE customers SET phone_verified = true WHERE id = $1",
            &[&customer_id],
        )?;
        Ok(())
    }

    fn insert_consent(&mut self, c: &NewConsent<'_>) -> Result<(), StoreError> {
        let row = self.s.query_opt(
            "WITH s AS (
                 UPDATE customers SET ledger_seq = ledger_seq + 1 WHERE id = $1::text
                 RETURNING ledger_seq)
             INSERT INTO consents (customer_id, seq, kind, granted, at, terminal_id, cashier)
             SELECT $1::text, s.ledger_seq, $2::text, $3::boolean, $4::timestamptz, $5::text, $6::text
             FROM s RETURNING seq",
            &[
                &c.customer_id,
                &c.kind,
                &c.granted,
                &c.at,
                &c.terminal_id,
                &c.cashier,
            ],
        )?;
        row.map(drop)
            .ok_or_else(|| no_customer("a consent", c.customer_id))
    }

    fn insert_audit(&mut self, a: &NewAudit<'_>) -> Result<(), StoreError> {
        self.s.execute(
            "INSERT INTO audit_events (operation_id, terminal_id, cashier_id, cashier, event,
                 customer_id, reason, at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &a.operation_id,
                &a.terminal_id,
                &a.cashier_id,
                &a.cashier,
                &a.event,
                &a.customer_id,
                &a.reason,
                &a.at,
            ],
        )?;
        Ok(())
    }

    fn bump_feed(&mut self, customer_ids: &[&str]) -> Result<(), StoreError> {
        let mut ids = customer_ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(());
        }
        let n = ids.len() as i64;
        // The counter row stays locked until this transaction ends, so a later bump waits
        // for this commit: positions are handed out in commit order and a terminal that
        // read up to a position never misses one committed below it later.
        let row = self.s.query_one(
            "UPDATE feed_counter SET last = last + $1 WHERE id = 1 RETURNING last",
            &[&n],
        )?;
        let last: i64 = col(&row, 0)?;
        let seqs: Vec<i64> = (last - n + 1..=last).collect();
        self.s.execute(
            "UPDATE customers SET change_seq = u.seq
             FROM unnest($1::text[], $2::bigint[]) AS u(id, seq) WHERE customers.id = u.id",
            &[&ids, &seqs],
        )?;
        Ok(())
    }

    fn debts(&mut self, customer_id: &str) -> Result<Vec<Batch>, StoreError> {
        let sql = format!(
            "SELECT {BATCH_COLUMNS} FROM bonus_batches
             WHERE customer_id = $1 AND remaining < 0 ORDER BY seq"
        );
        self.s.batches(&sql, &[&customer_id])
    }

    fn spendable(
        &mut self,
        customer_id: &str,
        now: DateTime<Utc>,
        need: i64,
    ) -> Result<Vec<Batch>, StoreError> {
        // Two walks of `batches_spendable` in index order (both orders hold on engines that
        // sort NULLs first, too): the burning ones soonest first, then the never-burning
        // ones in the order granted.
        let mut need = need;
        let mut out = Vec::new();
        let burning = format!(
            "SELECT {BATCH_COLUMNS} FROM bonus_batches
             WHERE customer_id = $1 AND remaining > 0 AND burns_at > $2 AND active_from <= $2
             ORDER BY burns_at, seq LIMIT $3 OFFSET $4"
        );
        self.s
            .batches_covering(&burning, &[&customer_id, &now], &mut need, &mut out)?;
        let lasting = format!(
            "SELECT {BATCH_COLUMNS} FROM bonus_batches
             WHERE customer_id = $1 AND remaining > 0 AND burns_at IS NULL AND active_from <= $2
             ORDER BY seq LIMIT $3 OFFSET $4"
        );
        self.s
            .batches_covering(&lasting, &[&customer_id, &now], &mut need, &mut out)?;
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
        let sql = format!(
            "SELECT {BATCH_COLUMNS} FROM bonus_batches
             WHERE customer_id = $1 AND remaining <> 0 AND remaining > 0
               AND active_from > $2 AND (burns_at IS NULL OR burns_at > $2)
             ORDER BY active_from, burns_at NULLS LAST, seq LIMIT $3 OFFSET $4"
        );
        self.s
            .batches_covering(&sql, &[&customer_id, &now], &mut need, &mut out)?;
        Ok(out)
    }

    fn due_to_burn(
        &mut self,
        customer_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Batch>, StoreError> {
        let sql = format!(
            "SELECT {BATCH_COLUMNS} FROM bonus_batches
             WHERE customer_id = $1 AND remaining > 0 AND burns_at <= $2
             ORDER BY burns_at, seq"
        );
        self.s.batches(&sql, &[&customer_id, &now])
    }

    fn insert_batch(&mut self, b: &NewBatch<'_>) -> Result<BatchKey, StoreError> {
        // The batch's key and the running balance move in the one statement that inserts
        // it, under the customer's row lock.
        let row = self.s.query_opt(
            "WITH s AS (
                 UPDATE customers
                 SET ledger_seq = ledger_seq + 1, bonus_total = bonus_total + $3::bigint
                 WHERE id = $1::text RETURNING ledger_seq)
             INSERT INTO bonus_batches
                 (customer_id, seq, amount, remaining, source, active_from, burns_at, created_at, operation_id)
             SELECT $1::text, s.ledger_seq, $2::bigint, $3::bigint, $4::text, $5::timestamptz,
                    $6::timestamptz, $7::timestamptz, $8::text
             FROM s RETURNING seq",
            &[
                &b.customer_id,
                &b.amount,
                &b.remaining,
                &b.source.as_str(),
                &b.active_from,
                &b.burns_at,
                &b.created_at,
                &b.operation_id,
            ],
        )?;
        match row {
            Some(r) => col(&r, 0),
            None => Err(no_customer("a batch", b.customer_id)),
        }
    }

    fn adjust_batch(
        &mut self,
        customer_id: &str,
        key: BatchKey,
        delta: i64,
    ) -> Result<(), StoreError> {
        let n = self.s.execute(
            "UPDATE bonus_batches SET remaining = remaining + $1 WHERE customer_id = $2 AND seq = $3",
            &[&delta, &customer_id, &key],
        )?;
        if n != 1 {
            return Err(StoreError::Corrupt(format!(
                "batch {key} of customer {customer_id} not found"
            )));
        }
        self.s.execute(
            "UPDATE customers SET bonus_total = bonus_total + $1 WHERE id = $2",
            &[&delta, &customer_id],
        )?;
        Ok(())
    }

    fn insert_entry(&mut self, e: &NewEntry<'_>) -> Result<(), StoreError> {
        let row = self.s.query_opt(
            "WITH s AS (
                 UPDATE customers SET ledger_seq = ledger_seq + 1 WHERE id = $1::text
                 RETURNING ledger_seq)
             INSERT INTO ledger_entries
                 (customer_id, seq, at, amount, kind, description, operation_id, actor)
             SELECT $1::text, s.ledger_seq, $2::timestamptz, $3::bigint, $4::text, $5::text,
                    $6::text, $7::text
             FROM s RETURNING seq",
            &[
                &e.customer_id,
                &e.at,
                &e.amount,
                &e.kind.as_str(),
                &e.description,
                &e.operation_id,
                &e.actor,
            ],
        )?;
        row.map(drop)
            .ok_or_else(|| no_customer("a history line", e.customer_id))
    }

    fn insert_purchase(
        &mut self,
        customer_id: &str,
        at: DateTime<Utc>,
        sum: i64,
    ) -> Result<(), StoreError> {
        let row = self.s.query_opt(
            "WITH s AS (
                 UPDATE customers SET ledger_seq = ledger_seq + 1 WHERE id = $1::text
                 RETURNING ledger_seq)
             INSERT INTO purchases (customer_id, seq, at, sum)
             SELECT $1::text, s.ledger_seq, $2::timestamptz, $3::bigint FROM s RETURNING seq",
            &[&customer_id, &at, &sum],
        )?;
        row.map(drop)
            .ok_or_else(|| no_customer("a purchase", customer_id))
    }

    fn record_operation(&mut self, op: &NewOperation<'_>) -> Result<bool, StoreError> {
        // The primary key decides, across connections and processes: a second transaction
        // with the same id waits for the first and inserts nothing.
        let status = if op.rejected { "rejected" } else { "applied" };
        let n = self.s.execute(
            "INSERT INTO operations (id, terminal_id, seq, kind, received_at, status, answer)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
            &[
                &op.id,
                &op.terminal_id,
                &op.seq,
                &op.kind,
                &op.received_at,
                &status,
                &op.answer,
            ],
        )?;
        if n == 0 {
            return Ok(false);
        }
        self.s.execute(
            "UPDATE terminals SET last_seq = GREATEST(last_seq, $1) WHERE id = $2",
            &[&op.seq, &op.terminal_id],
        )?;
        Ok(true)
    }

    fn insert_sale(&mut self, s: &NewSale<'_>) -> Result<bool, StoreError> {
        let n = self.s.execute(
            "INSERT INTO sales (terminal_id, receipt_id, operation_id, customer_id, at, sale)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            &[
                &s.terminal_id,
                &s.receipt_id,
                &s.operation_id,
                &s.customer_id,
                &s.at,
                &s.sale,
            ],
        )?;
        Ok(n == 1)
    }

    fn set_sale_returned(
        &mut self,
        terminal_id: &str,
        receipt_id: &str,
        returned: &str,
    ) -> Result<(), StoreError> {
        self.s.execute(
            "UPDATE sales SET returned = $1 WHERE terminal_id = $2 AND receipt_id = $3",
            &[&returned, &terminal_id, &receipt_id],
        )?;
        Ok(())
    }

    fn sms_usage(
        &mut self,
        phone: &str,
        phone_since: DateTime<Utc>,
        terminal_id: &str,
        terminal_since: DateTime<Utc>,
    ) -> Result<SmsUsage, StoreError> {
        // Lock the phone's slot, then the terminal, before reading: two sends to one phone
        // or from one terminal see each other's codes, so both cannot pass a limit.
        let slot = sms_slot(phone);
        if self
            .s
            .query_opt(
                "SELECT slot FROM sms_locks WHERE slot = $1 FOR UPDATE",
                &[&slot],
            )?
            .is_none()
        {
            return Err(StoreError::Corrupt(format!(
                "the SMS lock slot {slot} is missing from sms_locks"
            )));
        }
        self.s.query_opt(
            "SELECT id FROM terminals WHERE id = $1 FOR UPDATE",
            &[&terminal_id],
        )?;
        let last_row = self.s.query_one(
            "SELECT MAX(created_at) FROM sms_codes WHERE phone = $1",
            &[&phone],
        )?;
        let last_to_phone: Option<DateTime<Utc>> = col(&last_row, 0)?;
        let times = |rows: Vec<Row>| -> Result<Vec<DateTime<Utc>>, StoreError> {
            rows.iter().map(|r| col(r, 0)).collect()
        };
        let phone_window = times(self.s.query(
            "SELECT created_at FROM sms_codes WHERE phone = $1 AND created_at > $2
             ORDER BY created_at",
            &[&phone, &phone_since],
        )?)?;
        let terminal_window = times(self.s.query(
            "SELECT created_at FROM sms_codes WHERE terminal_id = $1 AND created_at > $2
             ORDER BY created_at",
            &[&terminal_id, &terminal_since],
        )?)?;
        Ok(SmsUsage {
            last_to_phone,
            phone_window,
            terminal_window,
        })
    }

    fn insert_sms_code(&mut self, c: &NewSmsCode<'_>) -> Result<i64, StoreError> {
        let row = self.s.query_one(
            "INSERT INTO sms_codes (phone, purpose, salt, code_hash, created_at, expires_at,
                 tries_left, verified_at, terminal_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8) RETURNING id",
            &[
                &c.phone,
                &c.purpose,
                &c.salt,
                &c.code_hash,
                &c.created_at,
                &c.expires_at,
                &c.tries,
                &c.terminal_id,
            ],
        )?;
        col(&row, 0)
    }

    fn latest_sms_code(
        &mut self,
        phone: &str,
        purpose: &str,
    ) -> Result<Option<SmsCodeRow>, StoreError> {
        // Latest by creation time; the generated id only breaks ties (it is no commit
        // order on a distributed cluster).
        self.s
            .query_opt(
                "SELECT id, salt, code_hash, expires_at, tries_left, verified_at IS NOT NULL
                 FROM sms_codes WHERE phone = $1 AND purpose = $2
                 ORDER BY created_at DESC, id DESC LIMIT 1 FOR UPDATE",
                &[&phone, &purpose],
            )?
            .map(|r| {
                Ok(SmsCodeRow {
                    id: col(&r, 0)?,
                    salt: col(&r, 1)?,
                    code_hash: col(&r, 2)?,
                    expires_at: col(&r, 3)?,
                    tries_left: col(&r, 4)?,
                    verified: col(&r, 5)?,
                })
            })
            .transpose()
    }

    fn set_sms_tries(&mut self, id: i64, tries_left: i64) -> Result<(), StoreError> {
        self.s.execute(
            "UPDATE sms_codes SET tries_left = $1 WHERE id = $2",
            &[&tries_left, &id],
        )?;
        Ok(())
    }

    fn mark_sms_verified(&mut self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.s.execute(
            "UPDATE sms_codes SET verified_at = $1 WHERE id = $2",
            &[&at, &id],
        )?;
        Ok(())
    }

    fn delete_sms_code(&mut self, id: i64) -> Result<(), StoreError> {
        self.s
            .execute("DELETE FROM sms_codes WHERE id = $1", &[&id])?;
        Ok(())
    }

    fn insert_verification(
        &mut self,
        token_hash: &[u8],
        phone: &str,
        purpose: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.s.execute(
            "INSERT INTO verifications (token_hash, phone, purpose, expires_at, used_at)
             VALUES ($1, $2, $3, $4, NULL)",
            &[&token_hash, &phone, &purpose, &expires_at],
        )?;
        Ok(())
    }

    fn consume_verification(
        &mut self,
        token_hash: &[u8],
        phone: &str,
        purpose: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(self.s.execute(
            "UPDATE verifications SET used_at = $1 WHERE token_hash = $2 AND phone = $3
             AND purpose = $4 AND used_at IS NULL AND expires_at > $1",
            &[&now, &token_hash, &phone, &purpose],
        )? == 1)
    }

    fn prune_sms(
        &mut self,
        codes_before: DateTime<Utc>,
        verifications_before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let codes = self.s.execute(
            "DELETE FROM sms_codes WHERE created_at <= $1",
            &[&codes_before],
        )?;
        let verifications = self.s.execute(
            "DELETE FROM verifications WHERE expires_at <= $1",
            &[&verifications_before],
        )?;
        Ok(codes + verifications)
    }

    fn customers_to_burn(
        &mut self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        self.s.ids(
            "SELECT DISTINCT customer_id FROM bonus_batches
             WHERE burns_at IS NOT NULL AND burns_at <= $1 AND remaining > 0 LIMIT $2",
            &[&now, &no_limit_if_negative(limit)],
        )
    }

    fn customers_changed_by_time(
        &mut self,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        self.s.ids(
            "SELECT DISTINCT customer_id FROM bonus_batches
             WHERE (burns_at <= $1 AND remaining > 0) OR (active_from > $2 AND active_from <= $1)",
            &[&now, &since],
        )
    }

    fn birthday_customers(
        &mut self,
        month: u32,
        day: u32,
        year: i32,
    ) -> Result<Vec<String>, StoreError> {
        // Out-of-range numbers match no date, as SQLite's text comparison does.
        let (Ok(month), Ok(day)) = (i32::try_from(month), i32::try_from(day)) else {
            return Ok(Vec::new());
        };
        self.s.ids(
            "SELECT c.id FROM customers c
             WHERE c.birth_date IS NOT NULL
               AND EXTRACT(MONTH FROM c.birth_date)::integer = $1
               AND EXTRACT(DAY FROM c.birth_date)::integer = $2
               AND NOT EXISTS (SELECT 1 FROM birthday_grants g
                               WHERE g.customer_id = c.id AND g.year = $3)
             ORDER BY c.id",
            &[&month, &day, &year],
        )
    }

    fn claim_birthday(&mut self, customer_id: &str, year: i32) -> Result<bool, StoreError> {
        Ok(self.s.execute(
            "INSERT INTO birthday_grants (customer_id, year) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&customer_id, &year],
        )? == 1)
    }
}
