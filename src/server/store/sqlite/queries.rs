//! The store interface in SQLite's SQL: the reads every connection answers, and the writes
//! of the writer's transaction.
//!
//! Times are fixed-width RFC 3339 UTC text (`crate::sqlite::ts`), so SQL compares
//! them as text in time order. Locks are no-ops here: the writer's `BEGIN IMMEDIATE` already
//! makes every read-write transaction the only one.

use std::sync::MutexGuard;

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{Connection, OptionalExtension, Row, named_params, params};

use super::ReaderPool;
use crate::protocol::server::Role;
use crate::server::store::*;
use crate::sqlite::{parse_ts_column, ts};

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

fn customer(r: &Row<'_>) -> rusqlite::Result<Customer> {
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

impl<T: Conn> ReadTx for T {
    fn newest_rules(&mut self) -> Result<Option<(i64, String)>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached("SELECT version, text FROM rules ORDER BY version DESC LIMIT 1")?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    fn store(&mut self, id: &str) -> Result<Option<StoreRow>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached("SELECT id, name, utc_offset_minutes FROM stores WHERE id = ?1")?
            .query_row([id], |r| {
                Ok(StoreRow {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    utc_offset_minutes: r.get(2)?,
                })
            })
            .optional()?)
    }

    fn lookup_key(&mut self, store_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached("SELECT key FROM lookup_keys WHERE store_id = ?1")?
            .query_row([store_id], |r| r.get(0))
            .optional()?)
    }

    fn terminal_by_token(&mut self, token_hash: &[u8]) -> Result<Option<TerminalAuth>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT id, store_id, revoked_at IS NOT NULL FROM terminals WHERE token_hash = ?1",
            )?
            .query_row([token_hash], |r| {
                Ok(TerminalAuth {
                    id: r.get(0)?,
                    store_id: r.get(1)?,
                    revoked: r.get(2)?,
                })
            })
            .optional()?)
    }

    fn cashiers(&mut self, store_id: &str) -> Result<Vec<CashierRow>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT id, name, role, code_salt, code_hash FROM cashiers
             WHERE store_id = ?1 AND active = 1 ORDER BY id",
        )?;
        let rows = stmt.query_map([store_id], |r| {
            Ok(CashierRow {
                id: r.get(0)?,
                name: r.get(1)?,
                role: role_from_name(&r.get::<_, String>(2)?),
                code_salt: r.get(3)?,
                code_hash: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn cashier_role(
        &mut self,
        store_id: &str,
        cashier_id: i64,
    ) -> Result<Option<Role>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT role FROM cashiers WHERE id = ?1 AND store_id = ?2 AND active = 1",
            )?
            .query_row(params![cashier_id, store_id], |r| r.get::<_, String>(0))
            .optional()?
            .map(|r| role_from_name(&r)))
    }

    fn customer(&mut self, key: CustomerKey<'_>) -> Result<Option<Customer>, StoreError> {
        let (column, value) = key.column();
        Ok(self
            .conn()
            .prepare_cached(&format!(
                "SELECT {CUSTOMER_COLUMNS} FROM customers c WHERE {column} = ?1"
            ))?
            .query_row([value], customer)
            .optional()?)
    }

    fn customer_with_balance(
        &mut self,
        key: CustomerKey<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<(Customer, Balance)>, StoreError> {
        let (column, value) = key.column();
        Ok(self
            .conn()
            .prepare_cached(&format!(
                "SELECT {CUSTOMER_COLUMNS}, c.bonus_total, {BALANCE_PARTS}
                 FROM customers c WHERE {column} = :key"
            ))?
            .query_row(named_params! { ":key": value, ":now": ts(now) }, |r| {
                Ok((customer(r)?, balance_col(r, CUSTOMER_WIDTH)?))
            })
            .optional()?)
    }

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

    fn feed(
        &mut self,
        since: i64,
        limit: i64,
        now: DateTime<Utc>,
    ) -> Result<(Vec<FeedRow>, i64), StoreError> {
        let conn = self.conn();
        let remaining: i64 = conn
            .prepare_cached("SELECT COUNT(*) FROM customers WHERE change_seq > ?1")?
            .query_row([since], |r| r.get(0))?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {CUSTOMER_COLUMNS}, c.bonus_total, {BALANCE_PARTS}, c.change_seq
             FROM customers c WHERE c.change_seq > :since ORDER BY c.change_seq LIMIT :limit"
        ))?;
        let rows = all(stmt.query_map(
            named_params! { ":since": since, ":limit": limit, ":now": ts(now) },
            |r| {
                Ok(FeedRow {
                    customer: customer(r)?,
                    balance: balance_col(r, CUSTOMER_WIDTH)?,
                    seq: r.get(CUSTOMER_WIDTH + 3)?,
                })
            },
        )?)?;
        Ok((rows, remaining))
    }

    fn operation_answer(&mut self, id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached("SELECT answer FROM operations WHERE id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?)
    }

    fn sequence_used(&mut self, terminal_id: &str, seq: i64) -> Result<bool, StoreError> {
        Ok(self
            .conn()
            .prepare_cached("SELECT 1 FROM operations WHERE terminal_id = ?1 AND seq = ?2")?
            .query_row(params![terminal_id, seq], |_| Ok(()))
            .optional()?
            .is_some())
    }

    fn sale(&mut self, terminal_id: &str, receipt_id: &str) -> Result<Option<SaleRow>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT customer_id, sale, returned FROM sales
                 WHERE receipt_id = ?1 AND terminal_id = ?2",
            )?
            .query_row(params![receipt_id, terminal_id], |r| {
                Ok(SaleRow {
                    customer_id: r.get(0)?,
                    sale: r.get(1)?,
                    returned: r.get(2)?,
                })
            })
            .optional()?)
    }

    fn has_purchases(&mut self, customer_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn()
            .prepare_cached("SELECT 1 FROM purchases WHERE customer_id = ?1 LIMIT 1")?
            .query_row([customer_id], |_| Ok(()))
            .optional()?
            .is_some())
    }

    fn purchase_totals(
        &mut self,
        customer_id: &str,
        since: Option<DateTime<Utc>>,
        until: DateTime<Utc>,
    ) -> Result<PurchaseTotals, StoreError> {
        // Returns count against the sum, not the count.
        let since = since.map(ts).unwrap_or_default();
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT COALESCE(SUM(sum), 0), COUNT(CASE WHEN sum >= 0 THEN 1 END)
                 FROM purchases WHERE customer_id = ?1 AND at > ?2 AND at <= ?3",
            )?
            .query_row(params![customer_id, since, ts(until)], |r| {
                Ok(PurchaseTotals {
                    sum: r.get(0)?,
                    count: r.get(1)?,
                })
            })?)
    }

    fn census(&mut self) -> Result<Census, StoreError> {
        let conn = self.conn();
        let count =
            |sql: &str| -> Result<i64, StoreError> { Ok(conn.query_row(sql, [], |r| r.get(0))?) };
        Ok(Census {
            customers: count("SELECT COUNT(*) FROM customers")?,
            applied: count("SELECT COUNT(*) FROM operations WHERE status = 'applied'")?,
            rejected: count("SELECT COUNT(*) FROM operations WHERE status = 'rejected'")?,
            sales: count("SELECT COUNT(*) FROM sales")?,
            purchases: count("SELECT COUNT(*) FROM purchases")?,
            ledger_entries: count("SELECT COUNT(*) FROM ledger_entries")?,
            batches: count("SELECT COUNT(*) FROM bonus_batches")?,
            unbalanced: count(
                "SELECT COUNT(*) FROM customers c
                 WHERE c.bonus_total <> (SELECT COALESCE(SUM(remaining), 0) FROM bonus_batches WHERE customer_id = c.id)
                    OR c.bonus_total <> (SELECT COALESCE(SUM(amount), 0) FROM ledger_entries WHERE customer_id = c.id)",
            )?,
            doubled_entries: count(
                "SELECT COUNT(*) FROM (SELECT 1 FROM ledger_entries WHERE operation_id IS NOT NULL
                 GROUP BY operation_id, customer_id, kind, amount > 0 HAVING COUNT(*) > 1)",
            )?,
        })
    }

    fn count_operations(&mut self, ids: &[&str]) -> Result<i64, StoreError> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT COUNT(*) FROM operations WHERE id = ?1")?;
        let mut n = 0;
        for id in ids {
            n += stmt.query_row([id], |r| r.get::<_, i64>(0))?;
        }
        Ok(n)
    }
}

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

    fn insert_rules(
        &mut self,
        version: i64,
        text: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO rules (version, text, loaded_at) VALUES (?1, ?2, ?3)",
            params![version, text, ts(at)],
        )?;
        Ok(())
    }

    fn insert_store(
        &mut self,
        store: &StoreRow,
        lookup_key: &[u8],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO stores (id, name, utc_offset_minutes, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![store.id, store.name, store.utc_offset_minutes, ts(at)],
        )?;
        self.conn.execute(
            "INSERT INTO lookup_keys (store_id, key) VALUES (?1, ?2)",
            params![store.id, lookup_key],
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
        self.conn.execute(
            "INSERT INTO cashiers (store_id, name, role, code_salt, code_hash) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![store_id, name, role_name(role), code_salt, code_hash],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    fn insert_enrollment_code(
        &mut self,
        code_hash: &[u8],
        store_id: &str,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO enrollment_codes (code_hash, store_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
            params![code_hash, store_id, ts(at), ts(expires_at)],
        )?;
        Ok(())
    }

    fn claim_enrollment_code(
        &mut self,
        code_hash: &[u8],
        terminal_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "UPDATE enrollment_codes SET used_at = ?1, terminal_id = ?2
                 WHERE code_hash = ?3 AND used_at IS NULL AND expires_at > ?1
                 RETURNING store_id",
                params![ts(now), terminal_id, code_hash],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn insert_terminal(&mut self, t: &NewTerminal<'_>) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO terminals (id, store_id, name, token_hash, enrolled_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![t.id, t.store_id, t.name, t.token_hash, ts(t.enrolled_at)],
        )?;
        Ok(())
    }

    fn revoke_terminal(&mut self, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        Ok(self.conn.execute(
            "UPDATE terminals SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL",
            params![ts(at), id],
        )? == 1)
    }

    fn login_state(&mut self, terminal_id: &str) -> Result<LoginState, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT login_failures, login_locked_until FROM terminals WHERE id = ?1",
            )?
            .query_row([terminal_id], |r| {
                Ok(LoginState {
                    failures: r.get(0)?,
                    locked_until: opt_time_col(r, 1)?,
                })
            })
            .optional()?
            .unwrap_or_default())
    }

    fn set_login_state(&mut self, terminal_id: &str, s: LoginState) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE terminals SET login_failures = ?1, login_locked_until = ?2 WHERE id = ?3",
            params![s.failures, s.locked_until.map(ts), terminal_id],
        )?;
        Ok(())
    }

    fn insert_customer(&mut self, c: &NewCustomer) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "INSERT INTO customers (id, phone, card_number, card_status, phone_verified, last_name,
                 first_name, middle_name, gender, birth_date, email, referrer_id, registered_at,
                 store_id, terminal_id, cashier, change_seq, bonus_total)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, 0, 0)
             ON CONFLICT DO NOTHING",
            params![
                c.id,
                c.phone,
                c.card_number,
                c.card_status,
                c.phone_verified,
                c.last_name,
                c.first_name,
                c.middle_name,
                c.gender,
                c.birth_date.map(|d| d.format("%Y-%m-%d").to_string()),
                c.email,
                c.referrer_id,
                ts(c.registered_at),
                c.store_id,
                c.terminal_id,
                c.cashier,
            ],
        )?;
        Ok(n == 1)
    }

    fn set_card_status(&mut self, customer_id: &str, status: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE customers SET card_status = ?1 WHERE id = ?2",
            params![status, customer_id],
        )?;
        Ok(())
    }

    fn set_phone_verified(&mut self, customer_id: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE customers SET phone_verified = 1 WHERE id = ?1",
            [customer_id],
        )?;
        Ok(())
    }

    fn insert_consent(&mut self, c: &NewConsent<'_>) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO consents (customer_id, kind, granted, at, terminal_id, cashier) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![c.customer_id, c.kind, c.granted, ts(c.at), c.terminal_id, c.cashier],
        )?;
        Ok(())
    }

    fn insert_audit(&mut self, a: &NewAudit<'_>) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO audit_events (operation_id, terminal_id, cashier_id, cashier, event, customer_id, reason, at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![a.operation_id, a.terminal_id, a.cashier_id, a.cashier, a.event, a.customer_id, a.reason, ts(a.at)],
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
        let last: i64 = self.conn.query_row(
            "UPDATE feed_counter SET last = last + ?1 WHERE id = 1 RETURNING last",
            [ids.len() as i64],
            |r| r.get(0),
        )?;
        let first = last - ids.len() as i64 + 1;
        let mut stmt = self
            .conn
            .prepare_cached("UPDATE customers SET change_seq = ?1 WHERE id = ?2")?;
        for (i, id) in ids.iter().enumerate() {
            stmt.execute(params![first + i as i64, id])?;
        }
        Ok(())
    }

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

    fn insert_purchase(
        &mut self,
        customer_id: &str,
        at: DateTime<Utc>,
        sum: i64,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("INSERT INTO purchases (customer_id, at, sum) VALUES (?1, ?2, ?3)")?
            .execute(params![customer_id, ts(at), sum])?;
        Ok(())
    }

    fn record_operation(&mut self, op: &NewOperation<'_>) -> Result<bool, StoreError> {
        let n = self
            .conn
            .prepare_cached(
                "INSERT INTO operations (id, terminal_id, seq, kind, received_at, status, answer)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO NOTHING",
            )?
            .execute(params![
                op.id,
                op.terminal_id,
                op.seq,
                op.kind,
                ts(op.received_at),
                if op.rejected { "rejected" } else { "applied" },
                op.answer
            ])?;
        if n == 0 {
            return Ok(false);
        }
        self.conn
            .prepare_cached("UPDATE terminals SET last_seq = MAX(last_seq, ?1) WHERE id = ?2")?
            .execute(params![op.seq, op.terminal_id])?;
        Ok(true)
    }

    fn insert_sale(&mut self, s: &NewSale<'_>) -> Result<bool, StoreError> {
        let n = self
            .conn
            .prepare_cached(
                "INSERT INTO sales (receipt_id, terminal_id, operation_id, customer_id, at, sale)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
            )?
            .execute(params![
                s.receipt_id,
                s.terminal_id,
                s.operation_id,
                s.customer_id,
                ts(s.at),
                s.sale
            ])?;
        Ok(n == 1)
    }

    fn set_sale_returned(
        &mut self,
        terminal_id: &str,
        receipt_id: &str,
        returned: &str,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE sales SET returned = ?1 WHERE receipt_id = ?2 AND terminal_id = ?3",
            params![returned, receipt_id, terminal_id],
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
        let last_to_phone = self
            .conn
            .prepare_cached("SELECT MAX(created_at) FROM sms_codes WHERE phone = ?1")?
            .query_row([phone], |r| opt_time_col(r, 0))?;
        let window = |sql: &str, value: &str, since: DateTime<Utc>| {
            let mut stmt = self.conn.prepare_cached(sql)?;
            all(stmt.query_map(params![value, ts(since)], |r| time_col(r, 0))?)
        };
        Ok(SmsUsage {
            last_to_phone,
            phone_window: window(
                "SELECT created_at FROM sms_codes WHERE phone = ?1 AND created_at > ?2 ORDER BY created_at",
                phone,
                phone_since,
            )?,
            terminal_window: window(
                "SELECT created_at FROM sms_codes WHERE terminal_id = ?1 AND created_at > ?2 ORDER BY created_at",
                terminal_id,
                terminal_since,
            )?,
        })
    }

    fn insert_sms_code(&mut self, c: &NewSmsCode<'_>) -> Result<i64, StoreError> {
        self.conn.execute(
            "INSERT INTO sms_codes (phone, purpose, salt, code_hash, created_at, expires_at,
                 tries_left, verified_at, terminal_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, ?8)",
            params![
                c.phone,
                c.purpose,
                c.salt,
                c.code_hash,
                ts(c.created_at),
                ts(c.expires_at),
                c.tries,
                c.terminal_id
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    fn latest_sms_code(
        &mut self,
        phone: &str,
        purpose: &str,
    ) -> Result<Option<SmsCodeRow>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT id, salt, code_hash, expires_at, tries_left, verified_at IS NOT NULL
                 FROM sms_codes WHERE phone = ?1 AND purpose = ?2 ORDER BY id DESC LIMIT 1",
            )?
            .query_row(params![phone, purpose], |r| {
                Ok(SmsCodeRow {
                    id: r.get(0)?,
                    salt: r.get(1)?,
                    code_hash: r.get(2)?,
                    expires_at: time_col(r, 3)?,
                    tries_left: r.get(4)?,
                    verified: r.get(5)?,
                })
            })
            .optional()?)
    }

    fn set_sms_tries(&mut self, id: i64, tries_left: i64) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE sms_codes SET tries_left = ?1 WHERE id = ?2",
            params![tries_left, id],
        )?;
        Ok(())
    }

    fn mark_sms_verified(&mut self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE sms_codes SET verified_at = ?1 WHERE id = ?2",
            params![ts(at), id],
        )?;
        Ok(())
    }

    fn delete_sms_code(&mut self, id: i64) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM sms_codes WHERE id = ?1", [id])?;
        Ok(())
    }

    fn insert_verification(
        &mut self,
        token_hash: &[u8],
        phone: &str,
        purpose: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO verifications (token_hash, phone, purpose, expires_at, used_at)
             VALUES (?1, ?2, ?3, ?4, NULL)",
            params![token_hash, phone, purpose, ts(expires_at)],
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
        Ok(self.conn.execute(
            "UPDATE verifications SET used_at = ?1 WHERE token_hash = ?2 AND phone = ?3
             AND purpose = ?4 AND used_at IS NULL AND expires_at > ?1",
            params![ts(now), token_hash, phone, purpose],
        )? == 1)
    }

    fn prune_sms(
        &mut self,
        codes_before: DateTime<Utc>,
        verifications_before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let codes = self.conn.execute(
            "DELETE FROM sms_codes WHERE created_at <= ?1",
            [ts(codes_before)],
        )?;
        let verifications = self.conn.execute(
            "DELETE FROM verifications WHERE expires_at <= ?1",
            [ts(verifications_before)],
        )?;
        Ok((codes + verifications) as u64)
    }

    fn customers_to_burn(
        &mut self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT DISTINCT customer_id FROM bonus_batches
             WHERE burns_at IS NOT NULL AND burns_at <= ?1 AND remaining > 0 LIMIT ?2",
        )?;
        let ids = stmt
            .query_map(params![ts(now), limit], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(ids)
    }

    fn customers_changed_by_time(
        &mut self,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT DISTINCT customer_id FROM bonus_batches
             WHERE (burns_at <= ?1 AND remaining > 0) OR (active_from > ?2 AND active_from <= ?1)",
        )?;
        let ids = stmt
            .query_map(params![ts(now), ts(since)], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(ids)
    }

    fn birthday_customers(
        &mut self,
        month: u32,
        day: u32,
        year: i32,
    ) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT c.id FROM customers c
             WHERE c.birth_date IS NOT NULL AND substr(c.birth_date, 6, 5) = ?1
               AND NOT EXISTS (SELECT 1 FROM birthday_grants g WHERE g.customer_id = c.id AND g.year = ?2)
             ORDER BY c.id",
        )?;
        let ids = stmt
            .query_map(params![format!("{month:02}-{day:02}"), year], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(ids)
    }

    fn claim_birthday(&mut self, customer_id: &str, year: i32) -> Result<bool, StoreError> {
        Ok(self.conn.execute(
            "INSERT INTO birthday_grants (customer_id, year) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            params![customer_id, year],
        )? == 1)
    }
}
