//! Card statuses beyond a sale's upgrade: the daily review of `keep` conditions, and a
//! status set by hand in the back office.
//!
//! Decisions (the SPEC is silent; these are what a store owner would expect):
//! - A status with `issue = "manual"` is given only by a person and taken back only by a
//!   person: purchases never raise a customer to it, `keep` never applies to it (the rules
//!   refuse `keep` there), and a `keep` drop skips it on the way down.
//! - A status is judged only once the customer has held it for its `keep` window (since
//!   registration or the last change): a customer raised yesterday has had no chance yet.
//! - The review drops a customer at most one level a day (a claim per customer and UTC day),
//!   so every server process may run it, late or twice, and a customer who fell below two
//!   `keep` conditions steps down one level a day rather than at once.
//! - Every change is a row in the status trace (`card_status_changes`: from, to, cause,
//!   who, why), never a ledger line; the customer moves to the end of the tills' feed.
//!
//! Engine-free: everything goes through the store seam.

use chrono::{DateTime, Duration, Utc};

use super::store::{
    self, CustomerKey, NewStatusChange, OperationRead, StatusCause, Store, StoreError, Tx,
};
use crate::domain::money::Money;
use crate::domain::rules::{Rules, Threshold};
use crate::domain::status::{reviewed_statuses, status_on_review_by};

/// Customers reviewed in one transaction.
const REVIEW_CHUNK: i64 = 200;

/// Whether a customer's purchases reach a threshold at `now`, answered by one indexed sum
/// over the purchases in its window (returns lower the sum, not the count).
pub fn threshold_met<R: OperationRead + ?Sized>(
    r: &mut R,
    customer_id: &str,
    t: &Threshold,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let since = t.within_days().map(|d| now - Duration::days(i64::from(d)));
    let totals = r.purchase_totals(customer_id, since, now)?;
    Ok(match t {
        Threshold::PurchasesSum { sum, .. } => Money::from_kopecks(totals.sum) >= *sum,
        Threshold::PurchasesCount { count, .. } => totals.count >= i64::from(*count),
    })
}

/// Reviews every customer holding a status with a `keep` condition and drops those below
/// it one level. Returns how many dropped. Idempotent per day: see the module's notes.
pub fn review(store: &dyn Store, rules: &Rules, now: DateTime<Utc>) -> Result<u32, StoreError> {
    let statuses = reviewed_statuses(rules);
    if statuses.is_empty() {
        return Ok(0);
    }
    let mut after = String::new();
    let mut dropped = 0;
    loop {
        let (n, last) = store::write(store, |tx| {
            let due = tx.customers_with_status(&statuses, &after, REVIEW_CHUNK)?;
            let ids: Vec<&str> = due.iter().map(|(id, _)| id.as_str()).collect();
            tx.lock_customers(&ids)?;
            let mut moved = Vec::new();
            for id in &ids {
                if review_one(tx, rules, id, now)? {
                    moved.push(*id);
                }
            }
            tx.bump_feed(&moved)?;
            Ok((moved.len() as u32, due.last().map(|(id, _)| id.clone())))
        })?;
        dropped += n;
        match last {
            Some(id) => after = id,
            None => return Ok(dropped),
        }
    }
}

/// Reviews one locked customer: re-read under the lock, so a status another process
/// changed meanwhile is judged as it stands now.
fn review_one(
    tx: &mut dyn Tx,
    rules: &Rules,
    id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let Some(c) = tx.customer(CustomerKey::Id(id))? else {
        return Ok(false);
    };
    // Held since the last change of the status, or since registration.
    let held_since = tx
        .status_changes(id)?
        .first()
        .map_or(c.registered_at, |change| change.at);
    let mut failed = None;
    let lower = status_on_review_by(rules, &c.card_status, held_since, now, |t| {
        match threshold_met(tx, id, t, now) {
            Ok(met) => met,
            Err(e) => {
                // Judged met: nothing drops on an error, which is reported below.
                failed = Some(e);
                true
            }
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    let Some(lower) = lower else {
        return Ok(false);
    };
    tx.change_card_status(&NewStatusChange {
        customer_id: id,
        from: &c.card_status,
        to: &lower.name,
        cause: StatusCause::Keep,
        actor: None,
        reason: "",
        at: now,
        review_day: Some(now.date_naive()),
    })
}

/// Why a status cannot be set by hand.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("no customer {0}")]
    NoCustomer(String),
    #[error("the active rules have no card status \"{0}\"")]
    UnknownStatus(String),
    #[error("a manual status change needs a reason")]
    NoReason,
    #[error("the customer already holds the status \"{0}\"")]
    Unchanged(String),
    #[error("the stored active rules do not parse: {0}")]
    Rules(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A status change made by hand, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetStatus {
    pub from: String,
    pub to: String,
}

/// Sets a customer's card status by hand (the back office's customer page): any status of
/// the active rules, `issue = "manual"` ones included, up or down, with a reason. Records the
/// change in the status trace with `actor_name` and moves the customer to the end of the
/// tills' feed. The caller checks the actor may touch this customer and writes its own
/// audit event.
pub fn set_card_status(
    store: &dyn Store,
    actor_name: &str,
    customer_id: &str,
    status: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<SetStatus, StatusError> {
    store::write(store, |tx| {
        let Some((_, text)) = tx.newest_rules()? else {
            return Ok(Err(StatusError::Rules("no rules are stored".into())));
        };
        let rules = match Rules::from_toml_str(&text) {
            Ok(r) => r,
            Err(e) => return Ok(Err(StatusError::Rules(e.to_string()))),
        };
        set_card_status_in(tx, &rules, actor_name, customer_id, status, reason, now)
    })?
}

/// [`set_card_status`] inside the caller's transaction, with the active rules.
pub fn set_card_status_in(
    tx: &mut dyn Tx,
    rules: &Rules,
    actor_name: &str,
    customer_id: &str,
    status: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Result<SetStatus, StatusError>, StoreError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Ok(Err(StatusError::NoReason));
    }
    if rules.card(status).is_none() {
        return Ok(Err(StatusError::UnknownStatus(status.to_string())));
    }
    tx.lock_customers(&[customer_id])?;
    let Some(c) = tx.customer(CustomerKey::Id(customer_id))? else {
        return Ok(Err(StatusError::NoCustomer(customer_id.to_string())));
    };
    if c.card_status == status {
        return Ok(Err(StatusError::Unchanged(status.to_string())));
    }
    let changed = tx.change_card_status(&NewStatusChange {
        customer_id,
        from: &c.card_status,
        to: status,
        cause: StatusCause::Manual,
        actor: Some(actor_name),
        reason,
        at: now,
        review_day: None,
    })?;
    if !changed {
        return Err(StoreError::Conflict(
            "the status changed while it was being set".into(),
        ));
    }
    tx.bump_feed(&[customer_id])?;
    Ok(Ok(SetStatus {
        from: c.card_status.clone(),
        to: status.to_string(),
    }))
}
