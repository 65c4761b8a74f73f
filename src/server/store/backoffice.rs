//! The store interface of the back office: accounts and their sessions, the audit log,
//! stores and staff as the owner edits them, terminals as the tills reported them, and
//! rules versions with their activations.

use std::fmt;

use chrono::{DateTime, Utc};

use super::StoreError;
use crate::protocol::server::Role;

/// What a back-office account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountRole {
    /// The chain's owner: everything.
    Owner,
    /// A store manager: only their stores, their staff, their customers' cards, their
    /// reports.
    Manager,
}

impl AccountRole {
    pub fn name(self) -> &'static str {
        match self {
            AccountRole::Owner => "owner",
            AccountRole::Manager => "manager",
        }
    }

    pub fn parse(s: &str) -> Option<AccountRole> {
        match s {
            "owner" => Some(AccountRole::Owner),
            "manager" => Some(AccountRole::Manager),
            _ => None,
        }
    }
}

/// A back-office account as stored: the password only as an argon2id hash.
#[derive(Clone, PartialEq, Eq)]
pub struct AccountRow {
    pub id: i64,
    pub email: String,
    pub role: AccountRole,
    /// The argon2id PHC string.
    pub password: String,
    pub must_change: bool,
    pub failed_tries: i64,
    /// How many times the account locked: each lock lasts twice the one before.
    pub locks: i64,
    pub locked_until: Option<DateTime<Utc>>,
    pub active: bool,
    /// The stores a manager manages, sorted.
    pub stores: Vec<String>,
}

impl fmt::Debug for AccountRow {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.debug_struct("AccountRow")
            .field("id", &self.id)
            .field("role", &self.role)
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

/// An account to create.
pub struct NewAccount<'a> {
    pub email: &'a str,
    pub role: AccountRole,
    pub password: &'a str,
    pub must_change: bool,
    pub at: DateTime<Utc>,
}

/// An account's sign-in failures and lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AccountLock {
    pub failed_tries: i64,
    pub locks: i64,
    pub locked_until: Option<DateTime<Utc>>,
}

/// One change made in the back office.
#[derive(Debug, Clone)]
pub struct NewAdminAudit<'a> {
    pub at: DateTime<Utc>,
    /// `None`: the command line on the server.
    pub account_id: Option<i64>,
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub store_id: Option<&'a str>,
    /// JSON of what it was and what it became; never a secret.
    pub before: Option<&'a str>,
    pub after: Option<&'a str>,
}

/// One change made in the back office, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminAuditRow {
    pub at: DateTime<Utc>,
    pub account_id: Option<i64>,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub store_id: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// A cashier or manager of a store, as the back office lists them (no code hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffRow {
    pub id: i64,
    pub store_id: String,
    pub name: String,
    pub role: Role,
    pub active: bool,
}

/// A terminal, with what the till said of itself at its last sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalRow {
    pub id: String,
    pub store_id: String,
    pub name: String,
    pub enrolled_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub app_version: Option<String>,
    pub last_sync_at: Option<DateTime<Utc>>,
    pub queue_length: Option<i64>,
    pub oldest_queued_at: Option<DateTime<Utc>>,
    /// Cashier logins at this till locked until then by wrong codes.
    pub login_locked_until: Option<DateTime<Utc>>,
}

/// What a till reports of itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalReport<'a> {
    pub app_version: &'a str,
    pub queue_length: i64,
    pub oldest_queued_at: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
}

/// A rules version, without its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesVersionRow {
    pub version: i64,
    pub loaded_at: DateTime<Utc>,
    pub uploaded_by: String,
    pub comment: String,
    /// When it was last activated, if ever.
    pub activated_at: Option<DateTime<Utc>>,
    pub activated_by: Option<String>,
    /// Whether the chain uses it now.
    pub active: bool,
}

/// A rules version to store.
#[derive(Debug, Clone)]
pub struct NewRulesVersion<'a> {
    pub version: i64,
    pub text: &'a str,
    pub at: DateTime<Utc>,
    pub uploaded_by: &'a str,
    pub comment: &'a str,
}

/// How the back office looks a customer up.
#[derive(Debug, Clone, Copy)]
pub enum CustomerSearch<'a> {
    /// An E.164 phone.
    Phone(&'a str),
    /// A card number as stored.
    Card(&'a str),
    /// Spellings of a part of a name (as typed, lower case, capitalised, upper case): a
    /// customer matches when their last, first or middle name contains one of them.
    Name(&'a [String]),
}

/// Everything the back office shows and edits of a customer's record.
#[derive(Clone, PartialEq, Eq)]
pub struct CustomerProfile {
    pub customer: super::Customer,
    pub middle_name: Option<String>,
    /// `"male"` or `"female"`.
    pub gender: Option<String>,
    pub email: Option<String>,
    /// Where they registered: their home store.
    pub store_id: Option<String>,
    pub terminal_id: Option<String>,
    pub cashier: Option<String>,
    pub erased_at: Option<DateTime<Utc>>,
    pub merged_into: Option<String>,
}

impl fmt::Debug for CustomerProfile {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.debug_struct("CustomerProfile")
            .field("customer", &self.customer)
            .field("erased_at", &self.erased_at)
            .field("merged_into", &self.merged_into)
            .finish_non_exhaustive()
    }
}

/// A customer's questionnaire as the back office writes it: every field, `None` cleared.
#[derive(Clone, Default)]
pub struct QuestionnaireRow {
    pub last_name: Option<String>,
    pub first_name: Option<String>,
    pub middle_name: Option<String>,
    pub gender: Option<&'static str>,
    pub birth_date: Option<chrono::NaiveDate>,
    pub email: Option<String>,
}

/// A card number that no longer opens a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockedCard {
    pub card_number: String,
    pub blocked_at: DateTime<Utc>,
    pub reason: String,
}

/// Reads of the back office.
pub trait BackofficeRead {
    /// Customers found (not erased or merged), by id, at most `limit`.
    fn search_customers(
        &mut self,
        by: CustomerSearch<'_>,
        limit: i64,
    ) -> Result<Vec<super::Customer>, StoreError>;
    /// A customer's whole record, erased and merged ones too.
    fn customer_profile(&mut self, id: &str) -> Result<Option<CustomerProfile>, StoreError>;
    /// The cards blocked on a customer's record, oldest first.
    fn blocked_cards(&mut self, customer_id: &str) -> Result<Vec<BlockedCard>, StoreError>;
    /// Whether a card number was blocked (on anyone's record).
    fn card_blocked(&mut self, card_number: &str) -> Result<bool, StoreError>;
    fn account(&mut self, id: i64) -> Result<Option<AccountRow>, StoreError>;
    /// The account with this e-mail (lower case).
    fn account_by_email(&mut self, email: &str) -> Result<Option<AccountRow>, StoreError>;
    fn accounts(&mut self) -> Result<Vec<AccountRow>, StoreError>;
    /// The active account of an unexpired session.
    fn session_account(
        &mut self,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Option<AccountRow>, StoreError>;
    /// Every store, by id.
    fn stores(&mut self) -> Result<Vec<super::StoreRow>, StoreError>;
    /// The staff of a store (all stores: `None`), deactivated ones included, by id.
    fn staff(&mut self, store_id: Option<&str>) -> Result<Vec<StaffRow>, StoreError>;
    fn staff_member(&mut self, id: i64) -> Result<Option<StaffRow>, StoreError>;
    /// The terminals of a store (all stores: `None`), revoked ones included, by store and
    /// name.
    fn terminals(&mut self, store_id: Option<&str>) -> Result<Vec<TerminalRow>, StoreError>;
    /// Every rules version, newest first.
    fn rules_versions(&mut self) -> Result<Vec<RulesVersionRow>, StoreError>;
    /// One rules version's text.
    fn rules_text(&mut self, version: i64) -> Result<Option<String>, StoreError>;
    /// The last `limit` audit events (of these stores only, when given), newest first.
    fn admin_audit(
        &mut self,
        stores: Option<&[String]>,
        limit: i64,
    ) -> Result<Vec<AdminAuditRow>, StoreError>;
}

/// Writes of the back office.
pub trait BackofficeTx {
    fn set_questionnaire(&mut self, id: &str, q: &QuestionnaireRow) -> Result<(), StoreError>;
    /// Blocks the customer's card: the number is kept as blocked and leaves the record.
    fn block_card(
        &mut self,
        customer_id: &str,
        card_number: &str,
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<(), StoreError>;
    /// Gives the customer a card number; `false` (nothing written) when another record has
    /// it.
    fn set_card_number(&mut self, customer_id: &str, card_number: &str)
    -> Result<bool, StoreError>;
    /// Removes a customer's personal data (phone, names, birth date, e-mail, card, SMS
    /// codes sent to the phone); the ledger, purchases and sales stay on the record.
    fn erase_customer(&mut self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// Moves everything of `from` — batches and the running balance, history, purchases,
    /// sales, consents, holds, referrals, till audit events — to `into`, and marks `from`
    /// merged, without personal data. Both are locked by the caller.
    fn merge_customers(&mut self, from: &str, into: &str) -> Result<(), StoreError>;
    /// Creates an account; `None` (and nothing written) when the e-mail is taken.
    fn insert_account(&mut self, a: &NewAccount<'_>) -> Result<Option<i64>, StoreError>;
    fn set_account_password(
        &mut self,
        id: i64,
        password: &str,
        must_change: bool,
    ) -> Result<(), StoreError>;
    fn set_account_lock(&mut self, id: i64, lock: AccountLock) -> Result<(), StoreError>;
    fn set_account_active(&mut self, id: i64, active: bool) -> Result<(), StoreError>;
    /// Replaces the stores a manager manages.
    fn set_account_stores(&mut self, id: i64, stores: &[String]) -> Result<(), StoreError>;
    fn insert_session(
        &mut self,
        token_hash: &[u8],
        account_id: i64,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    fn delete_session(&mut self, token_hash: &[u8]) -> Result<(), StoreError>;
    /// Ends every session of an account (a new password, a deactivation).
    fn delete_sessions_of(&mut self, account_id: i64) -> Result<(), StoreError>;
    /// Deletes sessions expired at or before `before`; how many went.
    fn prune_sessions(&mut self, before: DateTime<Utc>) -> Result<u64, StoreError>;
    fn insert_admin_audit(&mut self, a: &NewAdminAudit<'_>) -> Result<(), StoreError>;
    /// Changes a store's name, address and time zone (and the offset kept beside it).
    fn update_store(&mut self, s: &super::StoreRow) -> Result<bool, StoreError>;
    fn set_staff_name_role(&mut self, id: i64, name: &str, role: Role) -> Result<(), StoreError>;
    fn set_staff_code(&mut self, id: i64, salt: &[u8], hash: &[u8]) -> Result<(), StoreError>;
    fn set_staff_active(&mut self, id: i64, active: bool) -> Result<(), StoreError>;
    /// Records what a till said of itself; `false` for an unknown terminal.
    fn report_terminal(&mut self, id: &str, r: &TerminalReport<'_>) -> Result<bool, StoreError>;
    fn insert_rules_version(&mut self, r: &NewRulesVersion<'_>) -> Result<(), StoreError>;
    /// Makes a stored version the chain's rules. Of two activations at once one may fail
    /// with [`StoreError::Conflict`]; [`super::write`] runs it again.
    fn activate_rules(
        &mut self,
        version: i64,
        at: DateTime<Utc>,
        actor: &str,
    ) -> Result<(), StoreError>;
}
