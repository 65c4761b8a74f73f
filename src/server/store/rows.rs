//! The row types of the storage seam: plain data, times as `DateTime<Utc>`, bonuses as `i64`
//! kopecks.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};

use super::StoreError;
use crate::protocol::server::Role;

/// Where bonuses came from, or why they left: a batch's source and a history line's kind,
/// the same value the wire calls a history line's `kind`; [`Source::as_str`] is its stored
/// name.
pub use crate::protocol::server::HistoryKind as Source;

impl Source {
    pub const ALL: [Source; 11] = [
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
        Source::Import,
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
            Source::Import => "import",
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
    /// The consent to the processing of personal data as it stands now: withdrawn, the
    /// customer neither accrues nor spends until it is given again.
    pub consent_processing: bool,
    /// The separate consent to advertising SMS as it stands now.
    pub consent_advertising: bool,
    /// Erased on request, or merged into another record: the tills forget it.
    pub gone: bool,
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
pub(crate) const CUSTOMER_COLUMNS: &str = "c.id, c.phone, c.card_number, c.card_status, c.phone_verified, c.first_name, c.last_name, c.birth_date, c.registered_at, c.referrer_id, c.consent_processing, c.consent_advertising, (c.erased_at IS NOT NULL OR c.merged_into IS NOT NULL)";

/// The number of columns [`CUSTOMER_COLUMNS`] names.
pub(crate) const CUSTOMER_WIDTH: usize = 13;

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
    /// The offset of `time_zone` when the store was last saved (Russia has no daylight
    /// saving time; kept for readers that want a plain number).
    pub utc_offset_minutes: i32,
    pub address: String,
    /// An IANA time zone name (`Europe/Moscow`): the store's local day for birthdays and
    /// reports.
    pub time_zone: String,
}

impl StoreRow {
    /// The store's time zone; a name that does not parse (it never should: the back office
    /// checks it) counts as Moscow, where the chain's first stores are.
    pub fn tz(&self) -> chrono_tz::Tz {
        self.time_zone.parse().unwrap_or(chrono_tz::Europe::Moscow)
    }

    /// The store's local date at `at`.
    pub fn local_date(&self, at: DateTime<Utc>) -> chrono::NaiveDate {
        at.with_timezone(&self.tz()).date_naive()
    }
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
    pub terminal_id: String,
    /// The till's name, for the cashier choosing between sales.
    pub terminal_name: String,
    pub receipt_id: String,
    pub customer_id: String,
    pub at: DateTime<Utc>,
    pub sale: String,
    pub returned: String,
    /// JSON of `domain::fiscal::FiscalData`, when the register reported it.
    pub fiscal: Option<String>,
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
    /// The fiscal document the register printed: its drive (ФН), its number (ФД), and the
    /// whole of it as JSON.
    pub fiscal: Option<SaleFiscal<'a>>,
}

/// A sale's fiscal document, as kept: the unique key and the JSON.
#[derive(Debug, Clone, Copy)]
pub struct SaleFiscal<'a> {
    pub fn_number: &'a str,
    pub fd: i64,
    pub json: &'a str,
}

/// A consent given or withdrawn: a row of the customer's consent history, and the
/// customer's current state of that consent (`Customer::consent_*`) set with it.
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

/// A consent given or withdrawn, as the history of the customer's consents keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRow {
    /// `"processing"` or `"advertising"`.
    pub kind: String,
    pub granted: bool,
    pub at: DateTime<Utc>,
    pub terminal_id: Option<String>,
    pub cashier: Option<String>,
}

/// The `customers` column that keeps the current state of a consent of this kind.
pub(crate) fn consent_column(kind: &str) -> Result<&'static str, StoreError> {
    match kind {
        "processing" => Ok("consent_processing"),
        "advertising" => Ok("consent_advertising"),
        other => Err(StoreError::Other(format!(
            "unknown consent kind {other:?}: expected processing or advertising"
        ))),
    }
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

/// What became of a hold; the stable name in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldState {
    /// Counts against the customer's spendable balance until it expires.
    Live,
    /// The sale was cancelled; counts nowhere.
    Released,
    /// The sale operation naming it was applied; its bonuses are spent.
    Consumed,
}

impl HoldState {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldState::Live => "live",
            HoldState::Released => "released",
            HoldState::Consumed => "consumed",
        }
    }

    pub fn parse(s: &str) -> Option<HoldState> {
        [HoldState::Live, HoldState::Released, HoldState::Consumed]
            .into_iter()
            .find(|h| h.as_str() == s)
    }
}

/// Bonuses a till reserved for a sale it is about to close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldRow {
    pub id: String,
    pub customer_id: String,
    pub terminal_id: String,
    /// Kopecks, positive.
    pub amount: i64,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub state: HoldState,
}

/// A hold to place.
#[derive(Debug, Clone, Copy)]
pub struct NewHold<'a> {
    pub id: &'a str,
    pub customer_id: &'a str,
    pub terminal_id: &'a str,
    pub amount: i64,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::Source;

    #[test]
    fn a_source_is_stored_under_the_name_the_wire_gives_it() {
        for source in Source::ALL {
            assert_eq!(
                serde_json::to_value(source).unwrap(),
                source.as_str(),
                "{source:?}"
            );
            assert_eq!(Source::parse(source.as_str()), Some(source));
        }
        assert_eq!(Source::parse("gift"), None);
    }
}
