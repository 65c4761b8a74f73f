//! The server's storage seam: everything the services read and write, behind one interface
//! with two engines, embedded SQLite ([`sqlite`], the default) and PostgreSQL ([`postgres`],
//! several stateless API processes on one database).
//!
//! The interface is shaped by what the services need — find a customer with their balance,
//! the batches a spend takes in order, record an operation once, the SMS usage of a phone,
//! the batches due to burn — not one method per statement; the services (`ledger`, `ops`,
//! `sms`, `auth`, `customers`, `jobs`) are written once over it and never name an engine.
//! Every row type here is plain data: times are `DateTime<Utc>`, bonuses `i64` kopecks.
//!
//! # Transactions
//! [`Store::begin`] opens a read-write transaction ([`Tx`]); dropping it without
//! [`Tx::commit`] rolls it back. [`write`] runs a closure in one and retries the whole
//! closure when the engine reports a serialization failure or a deadlock (SQLSTATE 40001 /
//! 40P01, [`StoreError::is_retryable`]), so the same code runs on Postgres-wire distributed
//! SQL (CockroachDB, YugabyteDB). A closure may therefore run more than once: it must not
//! do anything outside the transaction that cannot be repeated.
//!
//! [`Store::begin_read`] gives a [`ReadTx`] for lookups and calculations: on SQLite one of a
//! small pool of WAL reader connections, so reads never queue behind the writer; each call
//! sees the latest committed state (there is no snapshot across calls).
//!
//! # Concurrency contract (what every engine guarantees)
//! - Every change of a customer's bonuses happens after [`Tx::lock_customers`] named that
//!   customer in the same transaction (the ledger service does it), so two transactions
//!   never interleave on one customer. Locks are taken in sorted id order.
//! - [`Tx::record_operation`] is the one place an operation id becomes applied: a unique key,
//!   never a check-then-insert, so an id is recorded once across connections and processes.
//! - Claims ([`Tx::claim_enrollment_code`], [`Tx::claim_birthday`],
//!   [`Tx::consume_verification`]) succeed for exactly one transaction.
//!
//! Architecture Invariant: no module outside `server/store/` names `rusqlite` or
//! `tokio_postgres` (`tests/tidy.rs`), and nothing here knows of HTTP.

pub mod postgres;
pub mod sqlite;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};

use crate::protocol::server::Role;

/// Which engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
        })
    }
}

/// Where the server keeps its data: `--data DIR` (embedded SQLite) or `--database URL`.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// A data dir holding `bonuskassa-server.sqlite3` (and the SMS log).
    Sqlite(PathBuf),
    /// A `postgres://USER@HOST:PORT/DB` URL; the password comes from `PGPASSWORD` or
    /// `PGPASSFILE`/`~/.pgpass`, never from the URL or the command line.
    Postgres(String),
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(dir) => write!(f, "sqlite:{}", dir.display()),
            Location::Postgres(url) => write!(f, "{}", postgres::redacted(url)),
        }
    }
}

impl From<&std::path::Path> for Location {
    fn from(dir: &std::path::Path) -> Location {
        Location::Sqlite(dir.to_path_buf())
    }
}

impl From<&PathBuf> for Location {
    fn from(dir: &PathBuf) -> Location {
        Location::Sqlite(dir.clone())
    }
}

impl From<PathBuf> for Location {
    fn from(dir: PathBuf) -> Location {
        Location::Sqlite(dir)
    }
}

impl From<&Location> for Location {
    fn from(l: &Location) -> Location {
        l.clone()
    }
}

impl Location {
    /// The data dir of an embedded store.
    pub fn data_dir(&self) -> Option<&std::path::Path> {
        match self {
            Location::Sqlite(dir) => Some(dir),
            Location::Postgres(_) => None,
        }
    }
}

/// Opens (creating and migrating if needed) the store at `location`.
pub fn open(location: &Location) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match location {
        Location::Sqlite(dir) => Arc::new(sqlite::SqliteStore::open(dir)?),
        Location::Postgres(url) => Arc::new(postgres::PgStore::open(url)?),
    })
}

/// Why a store call failed. Knows nothing of HTTP; carries no SQL values, so no phone
/// number or name can leak through an error message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A serialization failure or deadlock: the transaction was rolled back and may be
    /// retried as a whole.
    #[error("the transaction conflicted with another one ({0}); retry it")]
    Conflict(String),
    /// The database cannot be reached or refused the connection.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// A stored value does not read back as what was written (a malformed time, …).
    #[error("stored data does not read back: {0}")]
    Corrupt(String),
    #[error(
        "the database has schema version {found}, newer than this program's {known}; run a newer bonuskassa-server"
    )]
    TooNew { found: i64, known: i64 },
    /// The data dir or the database file cannot be prepared.
    #[error("{0}")]
    Setup(String),
    #[error("database error: {0}")]
    Other(String),
}

impl StoreError {
    /// Whether running the whole transaction again may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Conflict(_))
    }
}

/// How often [`write`] and [`read`] run a transaction that keeps conflicting.
pub const MAX_ATTEMPTS: u32 = 12;

/// Transactions run again after a conflict, since the process started.
static RETRIED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many transactions this process ran again after a serialization failure or a
/// deadlock (a figure to watch: it grows with contention on the same customers).
pub fn conflicts_retried() -> u64 {
    RETRIED.load(std::sync::atomic::Ordering::Relaxed)
}

fn retried(e: &StoreError, attempt: u32) {
    RETRIED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    tracing::debug!(attempt, error = %e, "a transaction conflicted; running it again");
    backoff(attempt);
}

/// Runs `f` in a read-write transaction and commits it; runs it again (up to
/// [`MAX_ATTEMPTS`]) when the engine reports a conflict. `f` may return a business refusal
/// inside `T`; the transaction commits anyway (a wrong SMS code must stay counted).
pub fn write<T>(
    store: &dyn Store,
    mut f: impl FnMut(&mut dyn Tx) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = store.begin().and_then(|mut tx| {
            let value = f(&mut *tx)?;
            tx.commit()?;
            Ok(value)
        });
        match result {
            Err(e) if e.is_retryable() && attempt < MAX_ATTEMPTS => retried(&e, attempt),
            other => return other,
        }
    }
}

/// Runs `f` on a read view, again on a conflict (a read can conflict on a serializable
/// cluster too).
pub fn read<T>(
    store: &dyn Store,
    mut f: impl FnMut(&mut dyn ReadTx) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = store.begin_read().and_then(|mut r| f(&mut *r));
        match result {
            Err(e) if e.is_retryable() && attempt < MAX_ATTEMPTS => retried(&e, attempt),
            other => return other,
        }
    }
}

/// A short random sleep before a retry, growing with the attempt, so two transactions that
/// collided do not collide again in lockstep.
fn backoff(attempt: u32) {
    use rand::Rng;
    let cap_ms = 2u64.pow(attempt.min(7)).min(100);
    let ms = rand::rng().random_range(0..=cap_ms);
    std::thread::sleep(std::time::Duration::from_millis(ms));
}

/// A database the server keeps its state in.
pub trait Store: Send + Sync {
    fn engine(&self) -> Engine;
    /// A read-write transaction; dropping it uncommitted rolls it back.
    fn begin(&self) -> Result<Box<dyn Tx + '_>, StoreError>;
    /// A read view for lookups and calculations.
    fn begin_read(&self) -> Result<Box<dyn ReadTx + '_>, StoreError>;
}

// --- Row types ---------------------------------------------------------------------------------

/// Where bonuses came from, or why they left; the stored name of a batch's source and of a
/// history line's kind.
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

/// A customer as stored. `Debug` shows only the id and the card status.
#[derive(Clone, PartialEq, Eq)]
pub struct Customer {
    pub id: String,
    /// E.164.
    pub phone: String,
    pub card_number: Option<String>,
    pub card_status: String,
    pub phone_verified: bool,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub birth_date: Option<NaiveDate>,
    pub registered_at: DateTime<Utc>,
    pub referrer_id: Option<String>,
}

impl fmt::Debug for Customer {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.debug_struct("Customer")
            .field("id", &self.id)
            .field("card_status", &self.card_status)
            .finish_non_exhaustive()
    }
}

/// A customer to insert. `Debug` shows only the id.
#[derive(Clone, Default)]
pub struct NewCustomer {
    pub id: String,
    pub phone: String,
    pub card_number: Option<String>,
    pub card_status: String,
    pub phone_verified: bool,
    pub last_name: Option<String>,
    pub first_name: Option<String>,
    pub middle_name: Option<String>,
    /// `"male"` or `"female"`.
    pub gender: Option<&'static str>,
    pub birth_date: Option<NaiveDate>,
    pub email: Option<String>,
    pub referrer_id: Option<String>,
    pub registered_at: DateTime<Utc>,
    pub store_id: Option<String>,
    pub terminal_id: Option<String>,
    pub cashier: Option<String>,
}

impl fmt::Debug for NewCustomer {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.debug_struct("NewCustomer")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Which customer: by id, by E.164 phone, or by card number.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum CustomerKey<'a> {
    Id(&'a str),
    Phone(&'a str),
    Card(&'a str),
}

impl fmt::Debug for CustomerKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            CustomerKey::Id(id) => write!(f, "Id({id})"),
            CustomerKey::Phone(_) => f.write_str("Phone(***)"),
            CustomerKey::Card(_) => f.write_str("Card(***)"),
        }
    }
}

impl CustomerKey<'_> {
    /// The column of `customers c` the key is, and its value: for the engines' SQL.
    pub(crate) fn column(&self) -> (&'static str, &str) {
        match *self {
            CustomerKey::Id(v) => ("c.id", v),
            CustomerKey::Phone(v) => ("c.phone", v),
            CustomerKey::Card(v) => ("c.card_number", v),
        }
    }
}

/// The columns of `customers c` a [`Customer`] is read from, in its fields' order.
pub(crate) const CUSTOMER_COLUMNS: &str = "c.id, c.phone, c.card_number, c.card_status, c.phone_verified, c.first_name, c.last_name, c.birth_date, c.registered_at, c.referrer_id";

/// The number of columns [`CUSTOMER_COLUMNS`] names.
pub(crate) const CUSTOMER_WIDTH: usize = 10;

/// The stored name of a cashier's role.
pub(crate) fn role_name(r: Role) -> &'static str {
    match r {
        Role::Cashier => "cashier",
        Role::Manager => "manager",
    }
}

/// The role a stored name names; anything but `manager` is a cashier (the schema's CHECK
/// allows only the two).
pub(crate) fn role_from_name(s: &str) -> Role {
    if s == "manager" {
        Role::Manager
    } else {
        Role::Cashier
    }
}

/// A customer's bonuses at one moment, in kopecks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Balance {
    /// Spendable now. Negative while a claw-back debt is unpaid.
    pub active: i64,
    /// Granted but not active yet.
    pub pending: i64,
}

/// A batch's handle within its customer: increases with every batch the customer gets, so
/// it breaks ties in spending order (first granted, first spent).
pub type BatchKey = i64;

/// A bonus batch as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub key: BatchKey,
    pub amount: i64,
    pub remaining: i64,
    pub source: Source,
    pub active_from: DateTime<Utc>,
    pub burns_at: Option<DateTime<Utc>>,
}

/// A batch to insert; `remaining` may be less than `amount` (a debt was paid off first) or
/// negative (a debt).
#[derive(Debug, Clone)]
pub struct NewBatch<'a> {
    pub customer_id: &'a str,
    pub amount: i64,
    pub remaining: i64,
    pub source: Source,
    pub active_from: DateTime<Utc>,
    pub burns_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub operation_id: Option<&'a str>,
}

/// One line of «История бонусов» to write.
#[derive(Debug, Clone)]
pub struct NewEntry<'a> {
    pub customer_id: &'a str,
    pub at: DateTime<Utc>,
    /// Signed kopecks.
    pub amount: i64,
    pub kind: Source,
    pub description: &'a str,
    pub operation_id: Option<&'a str>,
    pub actor: Option<&'a str>,
}

/// One line of «История бонусов» as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    pub at: DateTime<Utc>,
    /// Signed kopecks: + for a grant, − for a spend, claw-back or expiry.
    pub amount: i64,
    pub kind: Source,
    pub description: String,
    /// Who did it, for manual changes.
    pub actor: Option<String>,
}

/// A store (a shop of the chain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreRow {
    pub id: String,
    pub name: String,
    pub utc_offset_minutes: i32,
}

/// A cashier as stored: the code only as a salted hash.
#[derive(Clone, PartialEq, Eq)]
pub struct CashierRow {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub code_salt: Vec<u8>,
    pub code_hash: Vec<u8>,
}

impl fmt::Debug for CashierRow {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.debug_struct("CashierRow")
            .field("id", &self.id)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// A terminal found by its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalAuth {
    pub id: String,
    pub store_id: String,
    pub revoked: bool,
}

/// A terminal to insert.
#[derive(Debug, Clone)]
pub struct NewTerminal<'a> {
    pub id: &'a str,
    pub store_id: &'a str,
    pub name: &'a str,
    pub token_hash: &'a [u8],
    pub enrolled_at: DateTime<Utc>,
}

/// The cashier-code lockout of one terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoginState {
    pub failures: i64,
    pub locked_until: Option<DateTime<Utc>>,
}

/// What became of an operation id, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOperation<'a> {
    pub id: &'a str,
    pub terminal_id: &'a str,
    pub seq: i64,
    pub kind: &'a str,
    pub received_at: DateTime<Utc>,
    pub rejected: bool,
    /// The JSON answer, returned again for a duplicate.
    pub answer: &'a str,
}

/// A kept sale: what a later return needs. `sale` and `returned` are JSON the ops service
/// reads and writes (`domain::returns::Sale`, `Returned`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleRow {
    pub customer_id: String,
    pub sale: String,
    pub returned: String,
}

/// A sale to keep.
#[derive(Debug, Clone)]
pub struct NewSale<'a> {
    pub terminal_id: &'a str,
    pub receipt_id: &'a str,
    pub operation_id: &'a str,
    pub customer_id: &'a str,
    pub at: DateTime<Utc>,
    pub sale: &'a str,
}

/// A consent given or withdrawn.
#[derive(Debug, Clone)]
pub struct NewConsent<'a> {
    pub customer_id: &'a str,
    /// `"processing"` or `"advertising"`.
    pub kind: &'a str,
    pub granted: bool,
    pub at: DateTime<Utc>,
    pub terminal_id: Option<&'a str>,
    pub cashier: Option<&'a str>,
}

/// An audit event from a till.
#[derive(Debug, Clone)]
pub struct NewAudit<'a> {
    pub operation_id: &'a str,
    pub terminal_id: &'a str,
    pub cashier_id: i64,
    pub cashier: &'a str,
    pub event: &'a str,
    pub customer_id: Option<&'a str>,
    pub reason: &'a str,
    pub at: DateTime<Utc>,
}

/// Purchases over a window: the ruble sum (returns subtract) and the count of sales.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PurchaseTotals {
    pub sum: i64,
    pub count: i64,
}

/// An SMS code as stored: only its salted hash.
#[derive(Clone, PartialEq, Eq)]
pub struct SmsCodeRow {
    pub id: i64,
    pub salt: Vec<u8>,
    pub code_hash: Vec<u8>,
    pub expires_at: DateTime<Utc>,
    pub tries_left: i64,
    pub verified: bool,
}

impl fmt::Debug for SmsCodeRow {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.debug_struct("SmsCodeRow")
            .field("id", &self.id)
            .field("tries_left", &self.tries_left)
            .finish_non_exhaustive()
    }
}

/// A code to record.
#[derive(Clone)]
pub struct NewSmsCode<'a> {
    pub phone: &'a str,
    pub purpose: &'a str,
    pub salt: &'a [u8],
    pub code_hash: &'a [u8],
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub tries: i64,
    pub terminal_id: &'a str,
}

/// When codes were sent, for the limits: the latest to the phone, and the send times
/// within each rolling window (oldest first).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SmsUsage {
    pub last_to_phone: Option<DateTime<Utc>>,
    pub phone_window: Vec<DateTime<Utc>>,
    pub terminal_window: Vec<DateTime<Utc>>,
}

/// One customer of the terminals' feed, with their balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedRow {
    pub customer: Customer,
    pub balance: Balance,
    pub seq: i64,
}

/// What a store holds, counted: for the fleet simulator's and the tests' checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Census {
    pub customers: i64,
    /// Operation ids recorded, applied and rejected.
    pub applied: i64,
    pub rejected: i64,
    pub sales: i64,
    /// Purchase rows: one per applied sale, one per applied return.
    pub purchases: i64,
    pub ledger_entries: i64,
    pub batches: i64,
    /// Customers whose running balance differs from the sum of their batches, or whose
    /// history does not add up to that sum.
    pub unbalanced: i64,
    /// History lines written twice by one operation: more than one line with the same
    /// operation, customer, kind and sign (an operation applied twice would make them).
    pub doubled_entries: i64,
}

// --- The interface ---------------------------------------------------------------------------

/// Reads, on a read view or inside a transaction.
pub trait ReadTx {
    /// The newest rules version and its text.
    fn newest_rules(&mut self) -> Result<Option<(i64, String)>, StoreError>;
    fn store(&mut self, id: &str) -> Result<Option<StoreRow>, StoreError>;
    /// The key of the store's keyed lookup hashes.
    fn lookup_key(&mut self, store_id: &str) -> Result<Option<Vec<u8>>, StoreError>;
    fn terminal_by_token(&mut self, token_hash: &[u8]) -> Result<Option<TerminalAuth>, StoreError>;
    /// The active cashiers of a store.
    fn cashiers(&mut self, store_id: &str) -> Result<Vec<CashierRow>, StoreError>;
    /// The role of an active cashier of the store.
    fn cashier_role(&mut self, store_id: &str, cashier_id: i64)
    -> Result<Option<Role>, StoreError>;

    fn customer(&mut self, key: CustomerKey<'_>) -> Result<Option<Customer>, StoreError>;
    /// A customer with their balance at `now`, in one read.
    fn customer_with_balance(
        &mut self,
        key: CustomerKey<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<(Customer, Balance)>, StoreError>;
    /// The balance at `now`: batches past `burns_at` count nowhere, whether or not the
    /// expiry job has burnt them yet; a batch counts as active from `active_from` on.
    fn balance(&mut self, customer_id: &str, now: DateTime<Utc>) -> Result<Balance, StoreError>;
    /// The last `limit` history lines, newest first (ties in time: last written first).
    fn history(&mut self, customer_id: &str, limit: usize) -> Result<Vec<HistoryRow>, StoreError>;
    /// Every batch of the customer, in the order they were granted.
    fn batches(&mut self, customer_id: &str) -> Result<Vec<Batch>, StoreError>;
    /// The sum of the customer's history lines.
    fn history_sum(&mut self, customer_id: &str) -> Result<i64, StoreError>;
    /// Customers changed after `since` in feed order, at most `limit`, each with the
    /// balance at `now`; and how many are after `since` in all.
    fn feed(
        &mut self,
        since: i64,
        limit: i64,
        now: DateTime<Utc>,
    ) -> Result<(Vec<FeedRow>, i64), StoreError>;
    /// The recorded answer of an operation id, if it was ever seen.
    fn operation_answer(&mut self, id: &str) -> Result<Option<String>, StoreError>;
    /// Whether another operation of the terminal already has this sequence number.
    fn sequence_used(&mut self, terminal_id: &str, seq: i64) -> Result<bool, StoreError>;
    /// A kept sale by the till that made it and its receipt number.
    fn sale(&mut self, terminal_id: &str, receipt_id: &str) -> Result<Option<SaleRow>, StoreError>;
    fn has_purchases(&mut self, customer_id: &str) -> Result<bool, StoreError>;
    /// Purchases in `(since, until]` (`since = None`: from the start).
    fn purchase_totals(
        &mut self,
        customer_id: &str,
        since: Option<DateTime<Utc>>,
        until: DateTime<Utc>,
    ) -> Result<PurchaseTotals, StoreError>;
    /// Everything counted, and the customers whose running balance disagrees with their
    /// batches or history.
    fn census(&mut self) -> Result<Census, StoreError>;
    /// How many of these operation ids are recorded.
    fn count_operations(&mut self, ids: &[&str]) -> Result<i64, StoreError>;
}

/// A read-write transaction. Dropping it without [`Tx::commit`] rolls it back.
pub trait Tx: ReadTx {
    fn commit(self: Box<Self>) -> Result<(), StoreError>;
    /// Starts a savepoint; one level at a time.
    fn savepoint(&mut self) -> Result<(), StoreError>;
    /// Keeps what was done since the savepoint.
    fn release_savepoint(&mut self) -> Result<(), StoreError>;
    /// Undoes what was done since the savepoint, and ends it.
    fn rollback_savepoint(&mut self) -> Result<(), StoreError>;

    /// Locks these customers' rows until the transaction ends, in sorted id order; a
    /// customer already locked in this transaction costs nothing. Unknown ids are skipped.
    fn lock_customers(&mut self, ids: &[&str]) -> Result<(), StoreError>;

    fn insert_rules(
        &mut self,
        version: i64,
        text: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    fn insert_store(
        &mut self,
        store: &StoreRow,
        lookup_key: &[u8],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    fn insert_cashier(
        &mut self,
        store_id: &str,
        name: &str,
        role: Role,
        code_salt: &[u8],
        code_hash: &[u8],
    ) -> Result<i64, StoreError>;
    fn insert_enrollment_code(
        &mut self,
        code_hash: &[u8],
        store_id: &str,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Spends an unused, unexpired enrollment code for `terminal_id`; its store, or `None`.
    fn claim_enrollment_code(
        &mut self,
        code_hash: &[u8],
        terminal_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError>;
    fn insert_terminal(&mut self, t: &NewTerminal<'_>) -> Result<(), StoreError>;
    /// Revokes a terminal's token; `false` if there is no such unrevoked terminal.
    fn revoke_terminal(&mut self, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError>;
    /// The terminal's lockout state, locked until the transaction ends.
    fn login_state(&mut self, terminal_id: &str) -> Result<LoginState, StoreError>;
    fn set_login_state(&mut self, terminal_id: &str, s: LoginState) -> Result<(), StoreError>;

    /// Inserts a customer; `false` (and nothing written) when the id, the phone or the card
    /// number is taken.
    fn insert_customer(&mut self, c: &NewCustomer) -> Result<bool, StoreError>;
    fn set_card_status(&mut self, customer_id: &str, status: &str) -> Result<(), StoreError>;
    fn set_phone_verified(&mut self, customer_id: &str) -> Result<(), StoreError>;
    fn insert_consent(&mut self, c: &NewConsent<'_>) -> Result<(), StoreError>;
    fn insert_audit(&mut self, a: &NewAudit<'_>) -> Result<(), StoreError>;
    /// Moves these customers to the end of the terminals' feed, in one step of the feed
    /// counter. Feed positions are handed out in commit order.
    fn bump_feed(&mut self, customer_ids: &[&str]) -> Result<(), StoreError>;

    /// The customer's debts (batches with a negative remainder), oldest first.
    fn debts(&mut self, customer_id: &str) -> Result<Vec<Batch>, StoreError>;
    /// The customer's spendable batches at `now` in spending order — soonest burning first,
    /// never burning last, then first granted first — enough of them to cover `need`
    /// (all of them when they do not).
    fn spendable(
        &mut self,
        customer_id: &str,
        now: DateTime<Utc>,
        need: i64,
    ) -> Result<Vec<Batch>, StoreError>;
    /// The customer's pending batches at `now` (not active yet, not burnt) in the order a
    /// claw-back takes them — earliest activating first — enough to cover `need`.
    fn pending(
        &mut self,
        customer_id: &str,
        now: DateTime<Utc>,
        need: i64,
    ) -> Result<Vec<Batch>, StoreError>;
    /// The customer's batches due to burn at `now` that still hold bonuses, by `burns_at`.
    fn due_to_burn(
        &mut self,
        customer_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Batch>, StoreError>;
    /// Inserts a batch; the customer's running balance moves by its remainder.
    fn insert_batch(&mut self, b: &NewBatch<'_>) -> Result<BatchKey, StoreError>;
    /// Moves a batch's remainder (and the customer's running balance) by `delta`.
    fn adjust_batch(
        &mut self,
        customer_id: &str,
        key: BatchKey,
        delta: i64,
    ) -> Result<(), StoreError>;
    fn insert_entry(&mut self, e: &NewEntry<'_>) -> Result<(), StoreError>;
    /// A purchase (positive kopecks paid) or a return (negative).
    fn insert_purchase(
        &mut self,
        customer_id: &str,
        at: DateTime<Utc>,
        sum: i64,
    ) -> Result<(), StoreError>;

    /// Records what became of an operation id and moves the terminal's last sequence
    /// number; `false` (and nothing written) when the id was already recorded, by any
    /// transaction of any process.
    fn record_operation(&mut self, op: &NewOperation<'_>) -> Result<bool, StoreError>;
    /// Keeps a sale; `false` when the till already has a sale with this receipt number.
    fn insert_sale(&mut self, s: &NewSale<'_>) -> Result<bool, StoreError>;
    fn set_sale_returned(
        &mut self,
        terminal_id: &str,
        receipt_id: &str,
        returned: &str,
    ) -> Result<(), StoreError>;

    /// The SMS sends that count against a phone's and a terminal's limits, from `since`
    /// on; locks the phone and the terminal for the rest of the transaction, so two sends
    /// cannot both pass a limit.
    fn sms_usage(
        &mut self,
        phone: &str,
        phone_since: DateTime<Utc>,
        terminal_id: &str,
        terminal_since: DateTime<Utc>,
    ) -> Result<SmsUsage, StoreError>;
    fn insert_sms_code(&mut self, c: &NewSmsCode<'_>) -> Result<i64, StoreError>;
    /// The latest code for the phone and purpose, used or not, locked until the transaction
    /// ends.
    fn latest_sms_code(
        &mut self,
        phone: &str,
        purpose: &str,
    ) -> Result<Option<SmsCodeRow>, StoreError>;
    fn set_sms_tries(&mut self, id: i64, tries_left: i64) -> Result<(), StoreError>;
    fn mark_sms_verified(&mut self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError>;
    fn delete_sms_code(&mut self, id: i64) -> Result<(), StoreError>;
    fn insert_verification(
        &mut self,
        token_hash: &[u8],
        phone: &str,
        purpose: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Uses up an unexpired, unused verification for this phone and purpose: `true` once.
    fn consume_verification(
        &mut self,
        token_hash: &[u8],
        phone: &str,
        purpose: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Deletes codes created at or before `codes_before` and verifications expired at
    /// `verifications_before`; how many rows went.
    fn prune_sms(
        &mut self,
        codes_before: DateTime<Utc>,
        verifications_before: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// Customers with bonuses past their burning time (up to `limit`).
    fn customers_to_burn(
        &mut self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<String>, StoreError>;
    /// Customers whose balance changed by itself in `(since, now]`: bonuses that burnt or
    /// became active.
    fn customers_changed_by_time(
        &mut self,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError>;
    /// Customers born on this month and day who have no birthday grant for `year`.
    fn birthday_customers(
        &mut self,
        month: u32,
        day: u32,
        year: i32,
    ) -> Result<Vec<String>, StoreError>;
    /// Claims the birthday grant of a customer and year: `true` for exactly one caller.
    fn claim_birthday(&mut self, customer_id: &str, year: i32) -> Result<bool, StoreError>;
}
