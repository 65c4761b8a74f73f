//! The terminal's memory: its SQLite database in the data dir, with the operation outbox,
//! the rules and customer caches, the sales a return needs, and the receipts applied and not
//! yet closed by the register (`applied.rs`), the server holds it must still release
//! (`releases.rs`), and the loyalty shifts with their reports (`shifts.rs`).
//!
//! Every operation made at the till is written together with its outbox row in one
//! transaction before the cashier sees "done" ([`TerminalStore::enqueue`]); its JSON is
//! stored once and resent byte for byte. The database is opened with WAL and
//! synchronous=FULL (checked, not assumed), its files are readable by the owner only, and
//! a database newer than the program is refused.
//!
//! Architecture Invariant: `store` never talks to the network; `sync` moves what is here.

mod applied;
mod conflicts;
mod releases;
mod sales;
mod shifts;

pub use applied::{Kept, KeptReceipt, KeptServerSale, KeptState};
pub use conflicts::Conflict;
pub use shifts::{
    CashierFigures, Shift, ShiftBy, ShiftClose, ShiftFigures, ShiftOpen, ShiftReport,
};

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, params};

use crate::protocol::server::{
    FeedCustomer, Operation, OperationBody, OperationResult, OperationStatus,
};
use crate::sqlite::{SqliteError, configure_durable, migrate, parse_ts, ts};

const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_init",
        include_str!("../../migrations/terminal/0001_init.sql"),
    ),
    (
        "0002_offline",
        include_str!("../../migrations/terminal/0002_offline.sql"),
    ),
    (
        "0003_applied_receipts",
        include_str!("../../migrations/terminal/0003_applied_receipts.sql"),
    ),
    (
        "0004_hold_releases",
        include_str!("../../migrations/terminal/0004_hold_releases.sql"),
    ),
    (
        "0005_shifts",
        include_str!("../../migrations/terminal/0005_shifts.sql"),
    ),
    (
        "0006_consents",
        include_str!("../../migrations/terminal/0006_consents.sql"),
    ),
];

/// The database file in a terminal's data dir.
pub const DB_FILE: &str = "terminal.sqlite3";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Sqlite(#[from] SqliteError),
    #[error(
        "the till's disk is full: nothing was saved (the operation is NOT saved); free space on the till and try again (everything saved before is intact)"
    )]
    DiskFull,
    #[error(
        "the till's database cannot be written ({0}): nothing was saved (the operation is NOT saved); check the till's disk and call support (everything saved before is intact)"
    )]
    Io(String),
    #[error("the till's database {path} cannot be opened: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "the till's database {0} opened read-only: make it writable by the till's user and start again"
    )]
    ReadOnly(PathBuf),
    #[error("data dir {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("a stored value does not parse: {0}")]
    Corrupt(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        use rusqlite::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => StoreError::DiskFull,
            Some(ErrorCode::SystemIoFailure) | Some(ErrorCode::ReadOnly) => {
                StoreError::Io(e.to_string())
            }
            _ => StoreError::Sqlite(SqliteError::Sqlite(e)),
        }
    }
}

/// What the status bar shows of the queue.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueueStatus {
    pub pending: u64,
    pub oldest_pending_at: Option<DateTime<Utc>>,
    /// Bonuses spent offline and not yet confirmed by the server, in kopecks.
    pub unsynced_offline_spend: i64,
    pub conflicts: u64,
}

/// One operation waiting to be sent: its sequence number and its exact JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub seq: u64,
    pub id: String,
    pub payload: String,
}

/// A customer as the terminal cache keeps them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedCustomer {
    pub id: String,
    pub phone_masked: String,
    pub name: String,
    pub card_status: String,
    pub phone_verified: bool,
    pub balance: i64,
    pub pending: i64,
    /// The consent to the processing of personal data, as the feed or this till last
    /// recorded it.
    pub consent_processing: bool,
    /// The consent to advertising SMS, likewise.
    pub consent_advertising: bool,
}

pub struct TerminalStore {
    conn: Connection,
}

impl TerminalStore {
    /// Opens (creating if needed) the store in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<TerminalStore, StoreError> {
        create_private_dir(data_dir)?;
        let path = data_dir.join(DB_FILE);
        let mut conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
        // SQLite quietly opens a write-protected file read-only; every sale would then fail
        // until a restart. Say so now, at start.
        if conn.is_readonly(rusqlite::MAIN_DB)? {
            return Err(StoreError::ReadOnly(path));
        }
        configure_durable(&conn)?;
        conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
        migrate(&conn, MIGRATIONS)?;
        owner_only(&path)?;
        Ok(TerminalStore { conn })
    }

    /// An in-memory store for tests.
    pub fn open_in_memory() -> Result<TerminalStore, StoreError> {
        let conn = Connection::open_in_memory()?;
        migrate(&conn, MIGRATIONS)?;
        Ok(TerminalStore { conn })
    }

    /// The underlying connection, for benchmarks and tests.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    fn meta(tx: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
        tx.prepare_cached("SELECT value FROM meta WHERE key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()
    }

    fn set_meta(tx: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
        tx.prepare_cached(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )?
        .execute(params![key, value])?;
        Ok(())
    }

    /// Writes an operation and its outbox row in one transaction, with whatever else the
    /// operation changes on the till (`also`), and returns it once it is on disk.
    pub fn enqueue(
        &mut self,
        body: OperationBody,
        cashier: &str,
        cashier_id: Option<i64>,
        offline: bool,
        now: DateTime<Utc>,
        also: impl FnOnce(&Transaction, &Operation) -> Result<(), StoreError>,
    ) -> Result<Operation, StoreError> {
        let id = uuid::Uuid::now_v7();
        self.enqueue_as(id, body, cashier, cashier_id, offline, now, also)
    }

    /// [`TerminalStore::enqueue`] under an id chosen beforehand (the register was told it
    /// when the receipt was applied). The id is the outbox's key, so the same operation can
    /// never be queued twice.
    #[allow(clippy::too_many_arguments)]
    pub fn enqueue_as<E: From<StoreError>>(
        &mut self,
        id: uuid::Uuid,
        body: OperationBody,
        cashier: &str,
        cashier_id: Option<i64>,
        offline: bool,
        now: DateTime<Utc>,
        also: impl FnOnce(&Transaction, &Operation) -> Result<(), E>,
    ) -> Result<Operation, E> {
        let tx = self.conn.transaction().map_err(StoreError::from)?;
        let op = Self::insert_outbox(&tx, id, body, cashier, cashier_id, offline, now)?;
        also(&tx, &op)?;
        crate::failpoint::hit("before_local_commit");
        tx.commit().map_err(StoreError::from)?;
        crate::failpoint::hit("after_local_commit");
        Ok(op)
    }

    /// Queues one more operation inside a transaction that queues another (an audit
    /// record beside the sale it explains).
    pub fn enqueue_in(
        tx: &Transaction,
        id: uuid::Uuid,
        body: OperationBody,
        cashier: &str,
        cashier_id: Option<i64>,
        offline: bool,
        now: DateTime<Utc>,
    ) -> Result<Operation, StoreError> {
        Self::insert_outbox(tx, id, body, cashier, cashier_id, offline, now)
    }

    /// Writes the outbox row of a new operation, numbered after the last one.
    fn insert_outbox(
        tx: &Transaction,
        id: uuid::Uuid,
        body: OperationBody,
        cashier: &str,
        cashier_id: Option<i64>,
        offline: bool,
        now: DateTime<Utc>,
    ) -> Result<Operation, StoreError> {
        let seq = Self::meta(tx, "last_seq")?
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            + 1;
        let op = Operation {
            id: id.to_string(),
            seq,
            at: now,
            cashier: cashier.to_string(),
            cashier_id,
            offline,
            body,
        };
        let spend = match &op.body {
            OperationBody::Sale { spend, .. } => spend.kopecks(),
            _ => 0,
        };
        let customer_id = match &op.body {
            OperationBody::Sale { customer_id, .. }
            | OperationBody::Registration { customer_id, .. }
            | OperationBody::Consent { customer_id, .. }
            | OperationBody::VerifyPhone { customer_id, .. }
            | OperationBody::ManualChange { customer_id, .. } => Some(customer_id.as_str()),
            OperationBody::Audit { customer_id, .. } => customer_id.as_deref(),
            OperationBody::Return { .. } => None,
        };
        let payload = serde_json::to_string(&op).expect("an operation serializes");
        tx.prepare_cached(
            "INSERT INTO outbox (seq, id, kind, payload, created_at, offline, spend, state, customer_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8)",
        )?
        .execute(params![
            seq as i64,
            op.id,
            op.body.kind(),
            payload,
            ts(now),
            offline,
            spend,
            customer_id
        ])?;
        Self::set_meta(tx, "last_seq", &seq.to_string())?;
        Ok(op)
    }

    /// The oldest pending operations, in sequence order, as first written.
    pub fn pending(&self, limit: usize) -> Result<Vec<Pending>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, id, payload FROM outbox WHERE state = 'pending' ORDER BY seq LIMIT ?1",
        )?;
        let rows = stmt
            .query_map([limit as i64], |r| {
                Ok(Pending {
                    seq: r.get::<_, i64>(0)? as u64,
                    id: r.get(1)?,
                    payload: r.get(2)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Records the server's answers: applied and duplicate are done; rejected ones go to
    /// the conflicts list, final. Answers for unknown or already answered ids are ignored.
    pub fn record_answers(
        &mut self,
        answers: &[OperationResult],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        for (i, a) in answers.iter().enumerate() {
            if i == answers.len() / 2 && i > 0 {
                crate::failpoint::hit("mid_batch");
            }
            let answer = serde_json::to_string(a).expect("an answer serializes");
            // A duplicate carries the original answer: when the first answer was a refusal
            // that never reached the till (it died, the connection dropped), the resend
            // is a duplicate with the refusal's reason, and still a conflict.
            let refused = match a.status {
                OperationStatus::Applied => false,
                OperationStatus::Duplicate => a.reason.is_some(),
                OperationStatus::Rejected => true,
            };
            let state = if refused { "rejected" } else { "done" };
            let changed = tx
                .prepare_cached(
                    "UPDATE outbox SET state = ?1, answer = ?2, answered_at = ?3
                     WHERE id = ?4 AND state = 'pending'",
                )?
                .execute(params![state, answer, ts(now), a.id])?;
            if changed == 1 && refused {
                let reason = a
                    .reason
                    .and_then(|r| serde_json::to_value(r).ok())
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_else(|| "UNKNOWN".into());
                tx.prepare_cached(
                    "INSERT OR IGNORE INTO conflicts (operation_id, reason, message, at) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![a.id, reason, a.message, ts(now)])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The server's answer to a queued operation, once it has one.
    pub fn answer(&self, operation_id: &str) -> Result<Option<OperationResult>, StoreError> {
        let text: Option<String> = self
            .conn
            .query_row(
                "SELECT answer FROM outbox WHERE id = ?1",
                [operation_id],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    pub fn queue_status(&self) -> Result<QueueStatus, StoreError> {
        let (pending, oldest, spend): (i64, Option<String>, i64) = self.conn.query_row(
            "SELECT COUNT(*), MIN(created_at), COALESCE(SUM(CASE WHEN offline THEN spend ELSE 0 END), 0)
             FROM outbox WHERE state = 'pending'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let conflicts: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM conflicts WHERE resolved_at IS NULL",
            [],
            |r| r.get(0),
        )?;
        Ok(QueueStatus {
            pending: pending as u64,
            oldest_pending_at: oldest.as_deref().and_then(parse_ts),
            unsynced_offline_spend: spend,
            conflicts: conflicts as u64,
        })
    }

    /// Caches the server's active rules version; cached versions newer than it (rolled
    /// back on the server) are dropped.
    pub fn put_rules(
        &mut self,
        version: i64,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        // Versions newer than the server's active one were rolled back there: drop them,
        // so the newest cached version is always the one the server uses.
        tx.execute("DELETE FROM rules_cache WHERE version > ?1", [version])?;
        tx.execute(
            "INSERT INTO rules_cache (version, text, fetched_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (version) DO UPDATE SET text = excluded.text, fetched_at = excluded.fetched_at",
            params![version, text, ts(now)],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The version of the newest cached rules, without their text.
    pub fn rules_version(&self) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT MAX(version) FROM rules_cache")?
            .query_row([], |r| r.get(0))?)
    }

    /// The newest cached rules: version and text.
    pub fn rules(&self) -> Result<Option<(i64, String)>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT version, text FROM rules_cache ORDER BY version DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// Stores a page of the server's customer feed and the cursor after it, together.
    pub fn apply_feed(
        &mut self,
        customers: &[FeedCustomer],
        cursor: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO customers_cache (id, phone_hash, card_hash, phone_masked, name, card_status, phone_verified, balance, pending, seq, cached_at,
                   consent_processing, consent_advertising)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
                 ON CONFLICT (id) DO UPDATE SET phone_hash = excluded.phone_hash, card_hash = excluded.card_hash,
                   phone_masked = excluded.phone_masked, name = excluded.name, card_status = excluded.card_status,
                   phone_verified = excluded.phone_verified, balance = excluded.balance, pending = excluded.pending,
                   seq = excluded.seq, cached_at = excluded.cached_at,
                   consent_processing = excluded.consent_processing, consent_advertising = excluded.consent_advertising",
            )?;
            let mut forget = tx.prepare_cached("DELETE FROM customers_cache WHERE id = ?1")?;
            for c in customers {
                if c.gone {
                    forget.execute([&c.id])?;
                    continue;
                }
                stmt.execute(params![
                    c.id,
                    c.phone_hash,
                    c.card_hash,
                    c.phone_masked,
                    c.name,
                    c.card_status,
                    c.phone_verified,
                    c.balance.kopecks(),
                    c.pending.kopecks(),
                    c.seq,
                    ts(now),
                    c.consent_processing,
                    c.consent_advertising
                ])?;
            }
        }
        Self::set_meta(&tx, "feed_cursor", &cursor.to_string())?;
        tx.commit()?;
        Ok(())
    }

    /// Where the next feed page starts.
    pub fn feed_cursor(&self) -> Result<i64, StoreError> {
        Ok(Self::meta(&self.conn, "feed_cursor")?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    /// A cached customer by the keyed hash of their phone or card number.
    pub fn customer_by_hash(
        &self,
        phone_or_card_hash: &str,
    ) -> Result<Option<CachedCustomer>, StoreError> {
        let find = |sql: &str| -> rusqlite::Result<Option<CachedCustomer>> {
            self.conn
                .prepare_cached(sql)?
                .query_row([phone_or_card_hash], cached_customer)
                .optional()
        };
        if let Some(c) = find(&format!(
            "SELECT {COLS} FROM customers_cache WHERE phone_hash = ?1"
        ))? {
            return Ok(Some(c));
        }
        Ok(find(&format!(
            "SELECT {COLS} FROM customers_cache WHERE card_hash = ?1"
        ))?)
    }
}

/// A cashier who logged in here while the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedCashier {
    pub cashier_id: i64,
    pub name: String,
    /// `cashier` or `manager`.
    pub role: String,
}

impl TerminalStore {
    /// A setting that is not a secret (terminal id, store, last sync).
    pub fn get_meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(Self::meta(&self.conn, key)?)
    }

    pub fn put_meta(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        Ok(Self::set_meta(&self.conn, key, value)?)
    }

    /// The last time the server answered this till (a batch, the rules or the feed).
    pub fn last_sync(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(Self::meta(&self.conn, "last_sync")?
            .as_deref()
            .and_then(parse_ts))
    }

    pub fn set_last_sync(&mut self, at: DateTime<Utc>) -> Result<(), StoreError> {
        Ok(Self::set_meta(&self.conn, "last_sync", &ts(at))?)
    }

    /// Bonuses (kopecks) this till spent for `customer_id` that the cached balance does not
    /// show yet: operations still queued, and those answered after the customer's row came
    /// from the feed. Refused ones count too until a manager resolves them: the till never
    /// undoes a spend it confirmed.
    pub fn spent_since_cache(conn: &Connection, customer_id: &str) -> Result<i64, StoreError> {
        Ok(conn
            .prepare_cached(
                "SELECT COALESCE(SUM(o.spend), 0) FROM outbox o
                 LEFT JOIN customers_cache c ON c.id = o.customer_id
                 WHERE o.customer_id = ?1 AND o.spend > 0
                   AND (o.state != 'done' OR c.cached_at IS NULL OR o.answered_at > c.cached_at)",
            )?
            .query_row([customer_id], |r| r.get(0))?)
    }

    /// Bonuses (kopecks) spent offline at this till that the server has not confirmed.
    pub fn unsynced_offline_spend(conn: &Connection) -> Result<i64, StoreError> {
        Ok(conn
            .prepare_cached(
                "SELECT COALESCE(SUM(spend), 0) FROM outbox WHERE offline AND state = 'pending'",
            )?
            .query_row([], |r| r.get(0))?)
    }

    /// A cached customer by id.
    pub fn customer_by_id(&self, id: &str) -> Result<Option<CachedCustomer>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(&format!("SELECT {COLS} FROM customers_cache WHERE id = ?1"))?
            .query_row([id], cached_customer)
            .optional()?)
    }

    /// Adds a customer registered at this till to the cache, inside the transaction that
    /// queues the registration, so they can be found and served before the server has
    /// seen them. The server's feed overwrites the row when it arrives.
    pub fn cache_registered(
        tx: &Transaction,
        customer: &CachedCustomer,
        phone_hash: &str,
        card_hash: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        tx.prepare_cached(
            "INSERT INTO customers_cache (id, phone_hash, card_hash, phone_masked, name, card_status, phone_verified, balance, pending, seq, cached_at,
               consent_processing, consent_advertising)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0, ?10, ?11, ?12)",
        )?
        .execute(params![
            customer.id,
            phone_hash,
            card_hash,
            customer.phone_masked,
            customer.name,
            customer.card_status,
            customer.phone_verified,
            customer.balance,
            customer.pending,
            ts(now),
            customer.consent_processing,
            customer.consent_advertising
        ])?;
        Ok(())
    }

    /// Records a consent the cashier changed in the cached customer, inside the
    /// transaction that queues the consent operation: the till prices and shows the new
    /// state at once, online or offline, until the feed brings the server's.
    pub fn cache_consent(
        tx: &Transaction,
        customer_id: &str,
        processing: Option<bool>,
        advertising: Option<bool>,
    ) -> Result<(), StoreError> {
        tx.prepare_cached(
            "UPDATE customers_cache SET consent_processing = COALESCE(?2, consent_processing),
               consent_advertising = COALESCE(?3, consent_advertising) WHERE id = ?1",
        )?
        .execute(params![customer_id, processing, advertising])?;
        Ok(())
    }

    /// Marks a cached customer's phone verified, inside the transaction that queues the
    /// verification.
    pub fn cache_verified(tx: &Transaction, customer_id: &str) -> Result<(), StoreError> {
        tx.prepare_cached("UPDATE customers_cache SET phone_verified = 1 WHERE id = ?1")?
            .execute([customer_id])?;
        Ok(())
    }

    /// How many customers the cache holds.
    pub fn cached_customers(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM customers_cache", [], |r| r.get(0))?;
        Ok(n as u64)
    }

    /// Remembers a cashier the server let in, by the keyed hash of their code.
    pub fn remember_cashier(
        &mut self,
        code_hash: &str,
        cashier: &CachedCashier,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        // A cashier whose code changed leaves no old code behind.
        tx.execute(
            "DELETE FROM cashiers_cache WHERE cashier_id = ?1",
            [cashier.cashier_id],
        )?;
        tx.execute(
            "INSERT INTO cashiers_cache (code_hash, cashier_id, name, role, seen_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (code_hash) DO UPDATE SET cashier_id = excluded.cashier_id, name = excluded.name,
               role = excluded.role, seen_at = excluded.seen_at",
            params![code_hash, cashier.cashier_id, cashier.name, cashier.role, ts(now)],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// A cashier remembered by the keyed hash of their code.
    pub fn cashier_by_code_hash(
        &self,
        code_hash: &str,
    ) -> Result<Option<CachedCashier>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT cashier_id, name, role FROM cashiers_cache WHERE code_hash = ?1",
            )?
            .query_row([code_hash], |r| {
                Ok(CachedCashier {
                    cashier_id: r.get(0)?,
                    name: r.get(1)?,
                    role: r.get(2)?,
                })
            })
            .optional()?)
    }

    /// `PRAGMA integrity_check`: `ok`, or what SQLite found.
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        Ok(self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
    }
}

/// The columns [`cached_customer`] reads, in its order.
const COLS: &str = "id, phone_masked, name, card_status, phone_verified, balance, pending, consent_processing, consent_advertising";

fn cached_customer(r: &rusqlite::Row) -> rusqlite::Result<CachedCustomer> {
    Ok(CachedCustomer {
        id: r.get(0)?,
        phone_masked: r.get(1)?,
        name: r.get(2)?,
        card_status: r.get(3)?,
        phone_verified: r.get(4)?,
        balance: r.get(5)?,
        pending: r.get(6)?,
        consent_processing: r.get(7)?,
        consent_advertising: r.get(8)?,
    })
}

fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    let err = |source| StoreError::DataDir {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    Ok(())
}

/// The database and its WAL files are readable by the owner only.
fn owner_only(db: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut files = vec![db.to_path_buf()];
        for suffix in ["-wal", "-shm"] {
            let mut p = db.as_os_str().to_owned();
            p.push(suffix);
            files.push(PathBuf::from(p));
        }
        for f in files.iter().filter(|f| f.exists()) {
            std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o600)).map_err(
                |source| StoreError::DataDir {
                    path: f.clone(),
                    source,
                },
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
