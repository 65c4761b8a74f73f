//! The chain's back office: the owner's and the store managers' side of the server.
//!
//! - [`accounts`]: back-office accounts (argon2id passwords, one-time passwords changed
//!   at first sign-in, a lock after five wrong passwords), their sessions;
//! - [`chain`]: stores with their time zones, staff, terminals;
//! - [`rules`]: rules versions — upload, difference, try, activate, roll back.
//!
//! Every service takes the signed-in [`Actor`] and checks its scope itself (a store manager
//! sees only their stores), and every change writes an audit event in the same
//! transaction: who, when, what, before and after. Engine-free: everything goes through
//! the store seam. `http` puts it on `/api/v1/admin`.

pub mod accounts;
pub mod chain;
pub mod cli;
pub mod customers;
pub(crate) mod http;
pub mod rules;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::store::{AccountRole, AccountRow, NewAdminAudit, StoreError, Tx};

/// Who acts in the back office: a signed-in account, or the server's command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `None` for the command line on the server (it acts as the owner).
    pub account_id: Option<i64>,
    /// The account's e-mail, or `cli`.
    pub name: String,
    pub role: AccountRole,
    /// A manager's stores.
    pub stores: Vec<String>,
}

impl Actor {
    /// The server's command line: the owner's rights, audited as `cli`.
    pub fn cli() -> Actor {
        Actor {
            account_id: None,
            name: "cli".into(),
            role: AccountRole::Owner,
            stores: Vec::new(),
        }
    }

    pub fn of(account: &AccountRow) -> Actor {
        Actor {
            account_id: Some(account.id),
            name: account.email.clone(),
            role: account.role,
            stores: account.stores.clone(),
        }
    }

    pub fn is_owner(&self) -> bool {
        self.role == AccountRole::Owner
    }

    /// The stores this actor may see: `None` for all of them.
    pub fn store_filter(&self) -> Option<&[String]> {
        (!self.is_owner()).then_some(self.stores.as_slice())
    }

    /// Refuses a store this actor does not manage.
    pub fn require_store(&self, store_id: &str) -> Result<(), BackofficeError> {
        match self.store_filter() {
            Some(mine) if !mine.iter().any(|s| s == store_id) => Err(BackofficeError::Forbidden(
                format!("store {store_id} is not one of this account's stores"),
            )),
            _ => Ok(()),
        }
    }

    /// Refuses everything but the owner.
    pub fn require_owner(&self, what: &str) -> Result<(), BackofficeError> {
        if self.is_owner() {
            Ok(())
        } else {
            Err(BackofficeError::Forbidden(format!(
                "only the chain's owner may {what}"
            )))
        }
    }
}

/// Why a back-office action was refused.
#[derive(Debug, thiserror::Error)]
pub enum BackofficeError {
    /// A field is wrong; the message names it.
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    /// The e-mail, the store id or the code is taken.
    #[error("{0}")]
    AlreadyExists(String),
    /// A rules file that does not parse: the message names the line and key.
    #[error("the rules file does not parse: {0}")]
    RulesInvalid(crate::domain::rules::RulesError),
    #[error("wrong e-mail or password")]
    SignInFailed,
    #[error("too many wrong passwords; try again in {retry_after_s} s")]
    Locked { retry_after_s: u64 },
    #[error("no session, or it expired; sign in again")]
    Unauthorized,
    #[error("change the one-time password first (POST /api/v1/admin/password)")]
    PasswordChangeRequired,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Writes an audit event for a change: `before` and `after` as JSON (never a secret).
#[allow(clippy::too_many_arguments)]
pub fn audit<B: Serialize, A: Serialize>(
    tx: &mut dyn Tx,
    actor: &Actor,
    at: DateTime<Utc>,
    action: &str,
    target: &str,
    store_id: Option<&str>,
    before: Option<&B>,
    after: Option<&A>,
) -> Result<(), StoreError> {
    // Serializing plain data cannot fail; if it ever did, the event still says what.
    let before = before.map(|b| serde_json::to_string(b).unwrap_or_default());
    let after = after.map(|a| serde_json::to_string(a).unwrap_or_default());
    tx.insert_admin_audit(&NewAdminAudit {
        at,
        account_id: actor.account_id,
        actor: &actor.name,
        action,
        target,
        store_id,
        before: before.as_deref(),
        after: after.as_deref(),
    })
}

/// Checks a required text field: trimmed, 1 to `max` characters.
pub(crate) fn text_field(name: &str, value: &str, max: usize) -> Result<String, BackofficeError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(BackofficeError::BadRequest(format!(
            "{name}: give 1 to {max} characters, no control characters"
        )));
    }
    Ok(v.to_string())
}
