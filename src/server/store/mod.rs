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
//! - [`OperationTx::record_operation`] is the one place an operation id becomes applied: a
//!   unique key, never a check-then-insert, so an id is recorded once across connections and
//!   processes.
//! - Claims ([`SetupTx::claim_enrollment_code`], [`JobTx::claim_birthday`],
//!   [`SmsTx::consume_verification`]) succeed for exactly one transaction.
//!
//! Architecture Invariant: no module outside `server/store/` names `rusqlite` or
//! `tokio_postgres` (`tests/tidy.rs`), and nothing here knows of HTTP.

mod backoffice;
pub mod postgres;
mod report_rows;
mod retry;
mod rows;
mod selfreg;
pub mod sqlite;
mod statuses;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::protocol::server::Role;

pub use backoffice::*;
pub use report_rows::*;
pub use retry::{MAX_ATTEMPTS, conflicts_retried, read, write};
pub use rows::*;
pub use selfreg::*;
pub use statuses::*;

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

/// A database the server keeps its state in.
pub trait Store: Send + Sync {
    fn engine(&self) -> Engine;
    /// A read-write transaction; dropping it uncommitted rolls it back.
    fn begin(&self) -> Result<Box<dyn Tx + '_>, StoreError>;
    /// A read view for lookups and calculations.
    fn begin_read(&self) -> Result<Box<dyn ReadTx + '_>, StoreError>;
}

// --- The interface ---------------------------------------------------------------------------

/// Reads, on a read view or inside a transaction.
pub trait ReadTx:
    SetupRead
    + CustomerRead
    + LedgerRead
    + OperationRead
    + HoldRead
    + BackofficeRead
    + StatusRead
    + ReportRead
    + ImportRead
    + SelfRegRead
{
}

/// A read-write transaction. Dropping it without [`Tx::commit`] rolls it back.
pub trait Tx:
    ReadTx
    + SetupTx
    + CustomerTx
    + LedgerTx
    + OperationTx
    + HoldTx
    + SmsTx
    + JobTx
    + BackofficeTx
    + StatusTx
    + ReportTx
    + ImportTx
    + SelfRegTx
{
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
}

/// Reads of the chain's setup: rules, stores, terminals, cashiers.
pub trait SetupRead {
    /// The active rules version and its text: the latest activated one (before any
    /// activation, the newest).
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
}

/// Writes of the chain's setup, and the terminals' cashier-code lockout.
pub trait SetupTx {
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
}

/// Reads of customers, and the terminals' feed of them.
pub trait CustomerRead {
    fn customer(&mut self, key: CustomerKey<'_>) -> Result<Option<Customer>, StoreError>;
    /// A customer with their balance at `now`, in one read.
    fn customer_with_balance(
        &mut self,
        key: CustomerKey<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<(Customer, Balance)>, StoreError>;
    /// Customers changed after `since` in feed order, at most `limit`, each with the
    /// balance at `now`; and how many are after `since` in all.
    fn feed(
        &mut self,
        since: i64,
        limit: i64,
        now: DateTime<Utc>,
    ) -> Result<(Vec<FeedRow>, i64), StoreError>;
    /// Every consent the customer gave or withdrew, oldest first, with when, at which
    /// till and by which cashier.
    fn consents(&mut self, customer_id: &str) -> Result<Vec<ConsentRow>, StoreError>;
}

/// Writes of customers: registration, card status, consents, audit events, the feed.
pub trait CustomerTx {
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
}

/// Reads of a customer's bonuses: the balance, the batches, the history.
pub trait LedgerRead {
    /// The balance at `now`: batches past `burns_at` count nowhere, whether or not the
    /// expiry job has burnt them yet; a batch counts as active from `active_from` on.
    fn balance(&mut self, customer_id: &str, now: DateTime<Utc>) -> Result<Balance, StoreError>;
    /// The last `limit` history lines, newest first (ties in time: last written first).
    fn history(&mut self, customer_id: &str, limit: usize) -> Result<Vec<HistoryRow>, StoreError>;
    /// Every batch of the customer, in the order they were granted.
    fn batches(&mut self, customer_id: &str) -> Result<Vec<Batch>, StoreError>;
    /// The sum of the customer's history lines.
    fn history_sum(&mut self, customer_id: &str) -> Result<i64, StoreError>;
}

/// Writes of bonuses: the batches a change takes, new batches, history lines.
pub trait LedgerTx {
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
}

/// Reads of operations, kept sales and purchases; the census.
pub trait OperationRead {
    /// The recorded answer of an operation id, if it was ever seen.
    fn operation_answer(&mut self, id: &str) -> Result<Option<String>, StoreError>;
    /// Whether another operation of the terminal already has this sequence number.
    fn sequence_used(&mut self, terminal_id: &str, seq: i64) -> Result<bool, StoreError>;
    /// A kept sale by the till that made it and its receipt number.
    fn sale(&mut self, terminal_id: &str, receipt_id: &str) -> Result<Option<SaleRow>, StoreError>;
    /// The kept sales with this receipt number, at any till of the chain (a few at most).
    fn sales_by_receipt(&mut self, receipt_id: &str) -> Result<Vec<SaleRow>, StoreError>;
    /// The kept sale of a fiscal document: its drive (ФН) and number (ФД).
    fn sale_by_fiscal(&mut self, fn_number: &str, fd: i64) -> Result<Option<SaleRow>, StoreError>;
    /// A customer's kept sales, newest first.
    fn customer_sales(&mut self, customer_id: &str, limit: i64)
    -> Result<Vec<SaleRow>, StoreError>;
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

/// Writes of operations, kept sales and purchases.
pub trait OperationTx {
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
}

/// Reads of holds: bonuses tills reserved for sales they are about to close.
pub trait HoldRead {
    /// The hold with this id, in whatever state.
    fn hold(&mut self, id: &str) -> Result<Option<HoldRow>, StoreError>;
    /// The sum of the customer's live holds unexpired at `now`, leaving out the hold
    /// `except` (a till recalculating its own sale).
    fn held(
        &mut self,
        customer_id: &str,
        now: DateTime<Utc>,
        except: Option<&str>,
    ) -> Result<i64, StoreError>;
}

/// Writes of holds. Placing and consuming one happen under the customer's row lock
/// ([`Tx::lock_customers`]), so two holds cannot both take the last bonuses.
pub trait HoldTx {
    /// Places a live hold; `false` (and nothing written) when the id is taken, by any
    /// transaction of any process.
    fn insert_hold(&mut self, h: &NewHold<'_>) -> Result<bool, StoreError>;
    /// Moves a live hold to `state`; `false` when there is no live hold with this id.
    fn end_hold(&mut self, id: &str, state: HoldState) -> Result<bool, StoreError>;
    /// Deletes the holds that expired at or before `before`, and the ended ones made at or
    /// before it; how many rows went.
    fn prune_holds(&mut self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// SMS codes, their limits, and verifications.
pub trait SmsTx {
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
}

/// What the periodic jobs find and claim: bonuses to burn, birthdays.
pub trait JobTx {
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
    /// Customers born on this month and day who have no birthday grant for `year`, whose
    /// home store (where they registered) is one of `stores`; with `homeless`, also those
    /// without a known home store.
    fn birthday_customers(
        &mut self,
        month: u32,
        day: u32,
        year: i32,
        stores: &[String],
        homeless: bool,
    ) -> Result<Vec<String>, StoreError>;
    /// Claims the birthday grant of a customer and year: `true` for exactly one caller.
    fn claim_birthday(&mut self, customer_id: &str, year: i32) -> Result<bool, StoreError>;
}

/// Reads of the back office's reports: figures summed in the database per local day, store
/// and cashier, and the outstanding bonus liability.
pub trait ReportRead {
    /// The figures of the query's stores on its local days, one row per store, local day
    /// and cashier that has any; rows of other stores are left out.
    fn report_figures(&mut self, q: &FigureQuery<'_>) -> Result<Vec<FigureRow>, StoreError>;
    /// The bonuses customers hold at `at` (of customers of these home stores only, when
    /// `stores` is given).
    fn liability(
        &mut self,
        at: DateTime<Utc>,
        stores: Option<&[String]>,
    ) -> Result<Liability, StoreError>;
}

/// Writes of the reports' own records.
pub trait ReportTx {
    /// Records the store, cashier and money of an applied sale or return.
    fn insert_receipt_figures(&mut self, r: &NewReceiptFigures<'_>) -> Result<(), StoreError>;
}

/// Reads of an import of an existing customer base (`server::import`).
pub trait ImportRead {
    /// The customers that have one of these phones (E.164) or card numbers, each once, with
    /// the digest of the import row that made them (`None`: not made by an import).
    fn import_matches(
        &mut self,
        phones: &[&str],
        cards: &[&str],
    ) -> Result<Vec<ImportMatch>, StoreError>;
}

/// Writes of an import: which customers its rows made.
pub trait ImportTx {
    /// Records that import rows made these customers; a customer marked already keeps
    /// their first mark.
    fn insert_import_marks(&mut self, marks: &[ImportMark<'_>]) -> Result<(), StoreError>;
}

/// A customer an import row names by phone or card. `Debug` shows only the id.
#[derive(Clone, PartialEq, Eq)]
pub struct ImportMatch {
    pub customer_id: String,
    /// E.164.
    pub phone: String,
    pub card_number: Option<String>,
    /// The digest of the import row that made the customer, if one did.
    pub digest: Option<String>,
}

impl fmt::Debug for ImportMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImportMatch")
            .field("customer_id", &self.customer_id)
            .field("digest", &self.digest)
            .finish_non_exhaustive()
    }
}

/// A customer an import row made.
#[derive(Debug, Clone, Copy)]
pub struct ImportMark<'a> {
    pub customer_id: &'a str,
    /// The hex SHA-256 of the row's content.
    pub digest: &'a str,
    pub store_id: Option<&'a str>,
    pub at: DateTime<Utc>,
}
