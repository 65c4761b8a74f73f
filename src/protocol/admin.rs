//! Wire types of the back office, `/api/v1/admin`: the owner's and the store managers'
//! API (and, in the next step, the web cabinet's).
//!
//! Every request refuses unknown fields; an optional field left out changes nothing.
//! Passwords, cashier codes and session tokens are [`Secret`]s: they never print.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::server::Secret;
use crate::domain::calc::Calculation;
use crate::domain::money::Bonus;
use crate::domain::receipt::Receipt;

/// The name of the back office's session cookie.
pub const SESSION_COOKIE: &str = "bk_session";

/// What a back-office account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountRoleWire {
    /// The chain's owner: everything.
    Owner,
    /// A store manager: their stores only.
    Manager,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    pub email: String,
    pub password: Secret,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInResponse {
    /// The session token, for `Authorization: Bearer`; the browser gets it as an HttpOnly
    /// cookie too.
    pub token: Secret,
    pub expires_at: DateTime<Utc>,
    pub account: AccountView,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountView {
    pub id: i64,
    pub email: String,
    pub role: AccountRoleWire,
    /// The stores a manager manages (empty for the owner, who sees all).
    pub stores: Vec<String>,
    /// A one-time password is in use: change it before anything else.
    pub must_change_password: bool,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current: Secret,
    /// At least 10 characters, not the e-mail, not the current one.
    pub new: Secret,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccountRequest {
    pub email: String,
    pub role: AccountRoleWire,
    /// A manager's stores (at least one); must be empty for an owner.
    #[serde(default)]
    pub stores: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub stores: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub active: Option<bool>,
    /// Give the account a new one-time password (it is in the answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub reset_password: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountCreated {
    pub account: AccountView,
    /// Shown once; the account must change it at its first sign-in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub one_time_password: Option<Secret>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StoreView {
    pub id: String,
    pub name: String,
    pub address: String,
    /// An IANA time zone (`Europe/Moscow`, `Asia/Yekaterinburg`).
    pub time_zone: String,
    /// The zone's offset from UTC now, in minutes.
    pub utc_offset_minutes: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStoreRequest {
    /// Latin letters, digits, `-` and `_`, 1 to 40; never changes.
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub address: String,
    /// An IANA time zone; `Europe/Moscow` when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub time_zone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StoreUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub time_zone: Option<String>,
}

/// A cashier's or a till manager's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    Cashier,
    Manager,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffView {
    pub id: i64,
    pub store_id: String,
    pub name: String,
    pub role: StaffRole,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStaffRequest {
    pub store_id: String,
    pub name: String,
    pub role: StaffRole,
    /// 4 to 8 digits, unique within the store.
    pub code: Secret,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub role: Option<StaffRole>,
    /// A new code, 4 to 8 digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub code: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub active: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TerminalView {
    pub id: String,
    pub store_id: String,
    pub name: String,
    pub enrolled_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub revoked_at: Option<DateTime<Utc>>,
    /// What the till said of itself at its last sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub app_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub last_sync_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub queue_length: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub oldest_queued_at: Option<DateTime<Utc>>,
    /// Cashier logins at this till are locked by wrong codes until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub logins_locked_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollmentCodeRequest {
    pub store_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollmentCodeResponse {
    /// Typed at the till's setup page; valid once, for 24 hours.
    pub code: Secret,
    pub store_id: String,
    pub expires_at: DateTime<Utc>,
}

/// What a till reports of itself on every sync (`POST /terminal/status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TerminalStatusRequest {
    pub app_version: String,
    /// Operations waiting in the till's queue.
    pub queue_length: u32,
    /// When the oldest of them was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub oldest_queued_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RulesVersionView {
    pub version: i64,
    pub loaded_at: DateTime<Utc>,
    /// Who uploaded it (an e-mail; empty for one loaded with `serve --rules`).
    pub uploaded_by: String,
    pub comment: String,
    /// Whether the chain uses it now.
    pub active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub activated_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub activated_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RulesUploadRequest {
    /// The rules file (TOML).
    pub text: String,
    #[serde(default)]
    pub comment: String,
    /// Activate it at once (the default keeps it for trying first).
    #[serde(default)]
    pub activate: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RulesVersionText {
    pub version: RulesVersionView,
    pub text: String,
}

/// One line of the difference between two rules versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiffLine {
    /// `" "` the same in both, `"-"` only in `from`, `"+"` only in `to`.
    pub op: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RulesDiff {
    pub from: i64,
    pub to: i64,
    /// The unified diff, three lines of context, as `diff -u` prints it.
    pub unified: String,
    pub lines: Vec<DiffLine>,
}

/// A receipt to price with a rules version before activating it: for a real customer
/// (their status and balance now), or for a customer described here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RulesTryRequest {
    pub receipt: Receipt,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub customer_id: Option<String>,
    /// Without `customer_id`: the card status (the rules' first one when left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub card: Option<String>,
    /// Without `customer_id`: the active bonuses.
    #[serde(default)]
    #[schema(value_type = crate::protocol::schema::BonusInput)]
    pub balance: Bonus,
    #[serde(default)]
    #[schema(value_type = crate::protocol::schema::BonusInput)]
    pub spend: Bonus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RulesTryResponse {
    pub version: i64,
    pub card: String,
    pub calculation: Calculation,
}

/// One change made in the back office.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditEvent {
    pub at: DateTime<Utc>,
    /// The e-mail of the account, or `cli` for the server's command line.
    pub actor: String,
    pub action: String,
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub store_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub before: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub after: Option<serde_json::Value>,
}

// --- Customers ---------------------------------------------------------------------------

/// A customer found by the back office's search: masked as on the till.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerListItem {
    pub id: String,
    /// First name and the initial of the last (`Карина С.`).
    pub name: String,
    pub phone_masked: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub card_masked: Option<String>,
    pub card_status: String,
    /// Where they registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub home_store: Option<String>,
}

/// A customer's questionnaire as the back office edits it: every field, left out = none.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerQuestionnaire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub middle_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub gender: Option<super::server::Gender>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub birth_date: Option<chrono::NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub email: Option<String>,
}

/// One batch of a customer's bonuses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchView {
    pub amount: Bonus,
    /// What is left of it; negative for a debt.
    pub remaining: Bonus,
    pub source: super::server::HistoryKind,
    pub active_from: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub burns_at: Option<DateTime<Utc>>,
}

/// One consent given or withdrawn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentChange {
    /// `processing` or `advertising`.
    pub kind: String,
    pub granted: bool,
    pub at: DateTime<Utc>,
    /// The till, or none for the back office.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub terminal_id: Option<String>,
    /// The cashier, or the back-office account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub by: Option<String>,
}

/// A card number taken off the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockedCardView {
    pub card_number: String,
    pub blocked_at: DateTime<Utc>,
    pub reason: String,
}

/// The customer's page: everything the back office knows of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerPage {
    pub id: String,
    /// E.164; empty once erased.
    pub phone: String,
    pub phone_verified: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub card_number: Option<String>,
    pub card_status: String,
    pub questionnaire: CustomerQuestionnaire,
    pub registered_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub home_store: Option<String>,
    pub balance: Bonus,
    pub pending: Bonus,
    pub batches: Vec<BatchView>,
    pub history: Vec<super::server::HistoryEntry>,
    pub purchases: Vec<super::sales::KeptSale>,
    pub consent_processing: bool,
    pub consent_advertising: bool,
    pub consents: Vec<ConsentChange>,
    pub blocked_cards: Vec<BlockedCardView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub erased_at: Option<DateTime<Utc>>,
    /// Merged into this record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub merged_into: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardBlockRequest {
    /// Why: lost, stolen, damaged (1 to 200 characters).
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardReplaceRequest {
    /// A plastic card's number; a new virtual card when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub number: Option<Secret>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ManualChangeRequest {
    /// Signed: positive adds bonuses, negative takes them.
    #[schema(value_type = crate::protocol::schema::BonusInput)]
    pub amount: Bonus,
    pub reason: String,
    /// Days the added bonuses live; the card status's own when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, format = "uint32", maximum = 4294967295_u32)]
    pub lifetime_days: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// The other record of the same person: its balance, history and purchases move here.
    pub duplicate_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentsUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub processing: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub advertising: Option<bool>,
}
