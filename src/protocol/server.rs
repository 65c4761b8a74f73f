//! The central server's HTTP API, version 1 (`/api/v1`): requests, answers and errors.
//!
//! Every request body refuses unknown fields, so a terminal built against a newer API gets
//! a clear `BAD_REQUEST` naming the field instead of a silently ignored instruction.
//! Personal data in these types (phones, card numbers, codes, tokens) is masked in `Debug`.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::calc::Calculation;
use crate::domain::money::Bonus;
use crate::domain::phone::Phone;
use crate::domain::receipt::Receipt;

/// The path prefix of this version of the API.
pub const API_PREFIX: &str = "/api/v1";
/// The largest request body the server reads, in bytes.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The most operations one batch may carry.
pub const MAX_BATCH: usize = 500;

/// A secret string (token, code, enrollment code) that never prints.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct Secret(pub String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Stable error codes: a terminal decides what to do by the code, never by the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    BadRequest,
    PayloadTooLarge,
    Unauthorized,
    TokenRevoked,
    EnrollmentCodeInvalid,
    CashierCodeWrong,
    CashierLocked,
    NotFound,
    CustomerNotFound,
    AlreadyRegistered,
    CodeExpired,
    CodeWrong,
    TooManyTries,
    Cooldown,
    RateLimited,
    VerificationRequired,
    SmsFailed,
    NoRules,
    /// A hold asks for more bonuses than are spendable now, less other tills' holds.
    InsufficientBalance,
    /// A hold id already names a hold of another customer or amount.
    HoldConflict,
    /// Back office: the account may not see or change this (another store's data, or
    /// what only the owner does).
    Forbidden,
    /// Back office: a wrong e-mail or password (which of the two is not said).
    SignInFailed,
    /// Back office: too many wrong passwords; `retry_after_s` says how long.
    AccountLocked,
    /// Back office: the one-time password must be changed before anything else.
    PasswordChangeRequired,
    /// Back office: the e-mail, store id or cashier code is taken.
    AlreadyExists,
    /// Back office: a rules file does not parse; the message names the line and key.
    RulesInvalid,
    Internal,
}

/// The body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    /// Seconds to wait before trying again (cooldowns, locks), when the server knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub retry_after_s: Option<u64>,
    /// Tries left (wrong SMS or cashier code), when it matters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub tries_left: Option<u32>,
    /// A rules file's problem (`RULES_INVALID`): the 1-based line, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub line: Option<u64>,
    /// A rules file's problem: the key path, like `card[0].accrual.percent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub key: Option<String>,
}

// --- Enrollment and cashiers -----------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// The one-time code printed by `bonuskassa-server enroll-code`.
    pub code: Secret,
    /// A name for the terminal, shown to managers ("Касса 2").
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollResponse {
    pub terminal_id: String,
    /// The bearer token for every later call; shown once, kept in the terminal's secret store.
    pub token: Secret,
    pub store_id: String,
    pub store_name: String,
    /// Hex key of the store's keyed hashes for phone and card lookups in the terminal cache.
    pub lookup_key: Secret,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Cashier,
    Manager,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub code: Secret,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginResponse {
    pub cashier_id: i64,
    pub name: String,
    pub role: Role,
}

// --- Customers ----------------------------------------------------------------------------

/// Find a customer by exactly one of: phone, card number, or a scanned payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LookupRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan: Option<Secret>,
}

/// What a till shows of a customer: the minimum, never the full phone or card number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerView {
    pub id: String,
    /// First name and the initial of the last name ("Карина С."), or empty.
    pub name: String,
    pub phone_masked: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub card_masked: Option<String>,
    pub card_status: String,
    pub phone_verified: bool,
    /// Spendable now; negative after a claw-back larger than the balance.
    pub balance: Bonus,
    /// Accrued but not yet active.
    pub pending: Bonus,
    /// Reserved now for sales at other tills (their holds), and so not in `balance`;
    /// absent when nothing is.
    #[serde(default, skip_serializing_if = "nothing_held")]
    pub held: Bonus,
    #[schema(pattern = r"^\d+(\.\d{1,2})?$")]
    pub discount_percent: String,
    /// The consent to the processing of personal data as it stands now. Withdrawn
    /// (`false`), the customer neither accrues nor spends and gets no card discount until
    /// it is given again; absent means given.
    #[serde(default = "given", skip_serializing_if = "is_given")]
    pub consent_processing: bool,
    /// The separate consent to advertising SMS as it stands now; absent means not given.
    #[serde(default, skip_serializing_if = "is_not_given")]
    pub consent_advertising: bool,
}

fn nothing_held(held: &Bonus) -> bool {
    held.is_zero()
}

/// A consent that the wire leaves out is, for processing, given: every registered
/// customer gave it, and the answers of servers before the withdrawal at the till
/// carry no such field.
fn given() -> bool {
    true
}

fn is_given(consent: &bool) -> bool {
    *consent
}

fn is_not_given(consent: &bool) -> bool {
    !*consent
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SmsPurpose {
    /// Registration of a new customer, or verification of an unverified phone.
    Registration,
    /// A spend above `code_to_spend_over`.
    Spend,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmsSendRequest {
    pub phone: Phone,
    pub purpose: SmsPurpose,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmsSendResponse {
    pub expires_in_s: u64,
    pub resend_after_s: u64,
    pub tries: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmsVerifyRequest {
    pub phone: Phone,
    pub purpose: SmsPurpose,
    pub code: Secret,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmsVerifyResponse {
    /// A one-time proof of the verified phone, for the registration or spend operation.
    pub verification: Secret,
    pub expires_in_s: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalcRequest {
    pub customer_id: String,
    pub receipt: Receipt,
    #[serde(default)]
    #[schema(value_type = crate::protocol::schema::BonusInput)]
    pub spend: Bonus,
    /// The hold this till placed for this sale, when it recalculates it: not counted
    /// against the spend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub hold: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalcResponse {
    pub rules_version: i64,
    pub customer: CustomerView,
    pub calculation: Calculation,
}

// --- Operations ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Questionnaire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gender: Option<Gender>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The referrer, by phone or card number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer: Option<Secret>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Gender {
    Male,
    Female,
}

/// How a card is issued at registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CardIssue {
    /// A plastic card scanned or typed in.
    Plastic { number: Secret },
    /// A virtual number generated by the server.
    Virtual,
}

/// One operation made at a till. Its id is a UUID the terminal made; `seq` is the
/// terminal's own counter. The server applies each id at most once, forever.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Operation {
    #[schema(format = "uuid")]
    pub id: String,
    #[schema(format = "uint64", maximum = 18446744073709551615_u64)]
    pub seq: u64,
    pub at: DateTime<Utc>,
    /// The cashier's name, for the history.
    pub cashier: String,
    /// The logged-in cashier's id; manual changes need a manager's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cashier_id: Option<i64>,
    /// True when the till confirmed it without the server (offline).
    #[serde(default)]
    pub offline: bool,
    pub body: OperationBody,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum OperationBody {
    Sale {
        customer_id: String,
        receipt: Receipt,
        #[schema(value_type = crate::protocol::schema::BonusInput)]
        spend: Bonus,
        /// The spend-over-limit SMS proof, when the rules ask for one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        verification: Option<Secret>,
        /// The fiscal document the register printed, when it reported one at the close.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fiscal: Option<crate::domain::fiscal::FiscalData>,
        /// The hold the till placed for this spend at apply (`/holds`), consumed when the
        /// sale is applied; the spend is not counted against it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hold: Option<String>,
    },
    Return {
        receipt: Receipt,
        /// The sale the server keeps that this return takes back, when the till found it
        /// at the server (made at another till, or found by its fiscal document); absent:
        /// this till's sale with the receipt's `original_receipt`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sale: Option<crate::protocol::sales::SaleRef>,
    },
    Registration {
        #[schema(format = "uuid")]
        customer_id: String,
        phone: Phone,
        /// The proof from `/sms/verify`; absent for «Без кода».
        #[serde(default, skip_serializing_if = "Option::is_none")]
        verification: Option<Secret>,
        #[serde(default)]
        questionnaire: Questionnaire,
        /// Consent to the processing of personal data (required to register).
        consent_processing: bool,
        /// Separate, optional consent to advertising SMS.
        #[serde(default)]
        consent_advertising: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        card: Option<CardIssue>,
        /// The card status the cashier picked (seed 004); absent: the rules' registration
        /// status. Must be one the rules mark `cashier_can_issue = true`, or the operation
        /// is refused with `status_not_issuable`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(nullable = false)]
        card_status: Option<String>,
    },
    /// The customer gives or withdraws a consent at the till: each one present is
    /// recorded with the operation's time, till and cashier; one absent is left as it
    /// stands (operations queued before the processing consent was known carry only
    /// `advertising`). At least one is present.
    Consent {
        customer_id: String,
        /// The consent to the processing of personal data: withdrawn, the customer
        /// neither accrues nor spends (nor gets a card discount) until it is given again.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        processing: Option<bool>,
        /// The separate consent to advertising SMS.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        advertising: Option<bool>,
    },
    /// A customer registered «Без кода» confirms their phone with an SMS code later: from
    /// then on they may spend.
    VerifyPhone {
        customer_id: String,
        phone: Phone,
        /// The proof from `/sms/verify` (purpose `registration`).
        verification: Secret,
    },
    /// Something a manager allowed at the till that the rules alone would not, for the
    /// audit trail. Only a manager's `cashier_id` may send one.
    Audit {
        event: AuditEvent,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        customer_id: Option<String>,
        reason: String,
    },
    ManualChange {
        customer_id: String,
        /// Signed: positive adds bonuses, negative takes them.
        #[schema(value_type = crate::protocol::schema::BonusInput)]
        amount: Bonus,
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(format = "uint32", maximum = 4294967295_u32)]
        lifetime_days: Option<u32>,
    },
}

impl OperationBody {
    pub fn kind(&self) -> &'static str {
        match self {
            OperationBody::Sale { .. } => "sale",
            OperationBody::Return { .. } => "return",
            OperationBody::Registration { .. } => "registration",
            OperationBody::Consent { .. } => "consent",
            OperationBody::VerifyPhone { .. } => "verify_phone",
            OperationBody::Audit { .. } => "audit",
            OperationBody::ManualChange { .. } => "manual_change",
        }
    }
}

/// What an audit event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditEvent {
    /// A manager let one offline spend past the `[offline]` limits.
    OfflineSpendOverride,
    /// A manager booked a receipt the register printed but never closed: its sale is
    /// queued beside this record.
    UnconfirmedReceiptBooked,
    /// A manager dropped a receipt the register never closed: no sale.
    UnconfirmedReceiptDropped,
    /// A manager picked a sale from the customer's purchases for a return, the customer
    /// having lost the receipt.
    ReturnWithoutReceipt,
    /// A manager lifted the lock of the till's logins after too many wrong codes.
    LoginsUnlocked,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperationsRequest {
    #[schema(max_items = 500)]
    pub operations: Vec<Operation>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OperationStatus {
    Applied,
    /// Seen before: `answer` is the original answer.
    Duplicate,
    /// Final: never retried; the terminal puts it on the manager's conflicts list.
    Rejected,
}

/// Why an operation was rejected: stable codes for the conflicts list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RejectReason {
    Invalid,
    CustomerNotFound,
    InsufficientBalance,
    SpendNotAllowed,
    VerificationRequired,
    AlreadyRegistered,
    CardTaken,
    SaleNotFound,
    ReturnExceedsSale,
    NotPermitted,
    SequenceReused,
    /// The registration named a card status the rules do not let a cashier issue.
    StatusNotIssuable,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperationResult {
    pub id: String,
    pub status: OperationStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub reason: Option<RejectReason>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// What the operation did (e.g. the server's calculation of a sale), as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object, nullable = false)]
    pub answer: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperationsResponse {
    pub results: Vec<OperationResult>,
}

// --- Holds -------------------------------------------------------------------------------

/// The longest a hold may live, in seconds: a register's longest time to close a receipt
/// (a day) and a margin for the sale to reach the server.
pub const MAX_HOLD_S: u64 = 90_000;

/// Reserve bonuses for a sale about to close, so no other till can spend them meanwhile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldRequest {
    /// The sale operation's id, made by the till at apply.
    #[schema(format = "uuid")]
    pub id: String,
    pub customer_id: String,
    /// Bonuses to reserve, more than zero.
    #[schema(value_type = crate::protocol::schema::BonusInput)]
    pub amount: Bonus,
    /// Seconds until the hold stops counting by itself (the register's time to close the
    /// receipt, and a margin), 1 to 90000.
    #[schema(minimum = 1, maximum = 90000)]
    pub expires_in_s: u64,
}

/// What became of a hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HoldStatus {
    /// Counts against the customer's spendable balance until `expires_at`.
    Live,
    /// The till cancelled the sale.
    Released,
    /// The sale naming it was applied.
    Consumed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldResponse {
    pub id: String,
    pub customer_id: String,
    pub amount: Bonus,
    pub expires_at: DateTime<Utc>,
    pub status: HoldStatus,
    /// What the customer may still spend elsewhere now, with this hold counted.
    pub balance: Bonus,
}

// --- Feeds and history --------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RulesResponse {
    pub version: i64,
    pub text: String,
}

/// What a terminal may keep of a customer (SPEC.md §7): no phone, no card number, only
/// their keyed hashes for lookups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedCustomer {
    pub id: String,
    pub phone_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub card_hash: Option<String>,
    pub phone_masked: String,
    pub name: String,
    pub card_status: String,
    pub phone_verified: bool,
    pub balance: Bonus,
    pub pending: Bonus,
    pub seq: i64,
    /// As in [`CustomerView`]: absent means given.
    #[serde(default = "given", skip_serializing_if = "is_given")]
    pub consent_processing: bool,
    /// As in [`CustomerView`]: absent means not given.
    #[serde(default, skip_serializing_if = "is_not_given")]
    pub consent_advertising: bool,
    /// The customer was erased on request or merged into another record: the till
    /// forgets them (the other fields are then empty). Absent means false.
    #[serde(default, skip_serializing_if = "is_not_given")]
    pub gone: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerFeed {
    pub customers: Vec<FeedCustomer>,
    /// Pass as `since` for the next page.
    pub cursor: i64,
    pub more: bool,
    /// How many customers changed after `since`, for a progress bar.
    pub remaining: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryEntry {
    pub at: DateTime<Utc>,
    pub amount: Bonus,
    /// What the line is, for a till to word it in the cashier's language.
    pub kind: HistoryKind,
    /// The server's Russian wording, with a manual change's reason or a promotion's name.
    pub description: String,
}

/// What a history line is: where its bonuses came from, or why they left (a spend on a
/// purchase is a `purchase` line with a negative amount).
/// The server stores it under the same names (`server::store::Source::as_str`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HistoryKind {
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
    /// A balance brought over from the chain's previous loyalty program by an import.
    Import,
}

/// Bonuses of one batch that change state at a moment: become spendable, or burn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DatedBonus {
    pub amount: Bonus,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryResponse {
    pub customer_id: String,
    pub balance: Bonus,
    pub pending: Bonus,
    pub entries: Vec<HistoryEntry>,
    /// The bonuses not spendable yet, each batch with the moment it becomes spendable,
    /// soonest first.
    pub activating: Vec<DatedBonus>,
    /// What is left of the batches that burn, each with the moment it burns, soonest
    /// first (at most 100).
    pub burning: Vec<DatedBonus>,
}
