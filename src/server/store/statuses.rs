//! The store interface for card statuses: the customers the daily `keep` review looks at,
//! and every change of a status with its cause, kept as a trace (never a ledger line).

use chrono::{DateTime, NaiveDate, Utc};

use super::StoreError;

/// What moved a customer's card status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusCause {
    /// A sale crossed the `issue` threshold of a higher status.
    Sale,
    /// The daily review found the `keep` condition no longer met.
    Keep,
    /// A person: a manager at the till or the back office.
    Manual,
}

impl StatusCause {
    pub fn name(self) -> &'static str {
        match self {
            StatusCause::Sale => "sale",
            StatusCause::Keep => "keep",
            StatusCause::Manual => "manual",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [StatusCause::Sale, StatusCause::Keep, StatusCause::Manual]
            .into_iter()
            .find(|c| c.name() == s)
    }
}

/// A change of a customer's status from `from` to `to`.
#[derive(Debug, Clone)]
pub struct NewStatusChange<'a> {
    pub customer_id: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub cause: StatusCause,
    /// Who changed it by hand; `None` for the program.
    pub actor: Option<&'a str>,
    pub reason: &'a str,
    pub at: DateTime<Utc>,
    /// For a `keep` drop: the review's day, so a customer drops at most once a day however
    /// many server processes run the review.
    pub review_day: Option<NaiveDate>,
}

/// A change of a customer's status, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChangeRow {
    pub from: String,
    pub to: String,
    pub cause: StatusCause,
    pub actor: Option<String>,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// Reads of card statuses.
pub trait StatusRead {
    /// Customers (id, status) holding one of `statuses`, ids above `after`, in id order,
    /// at most `limit`; a record merged into another or erased is not one.
    fn customers_with_status(
        &mut self,
        statuses: &[&str],
        after: &str,
        limit: i64,
    ) -> Result<Vec<(String, String)>, StoreError>;
    /// The customer's status changes, newest first.
    fn status_changes(&mut self, customer_id: &str) -> Result<Vec<StatusChangeRow>, StoreError>;
}

/// Writes of card statuses.
pub trait StatusTx {
    /// Moves the customer from `c.from` to `c.to` and records the change, only if the
    /// customer still holds `c.from` and, for a `keep` drop, no drop of theirs is recorded
    /// on `c.review_day` yet: `true` for exactly one caller, `false` (nothing written)
    /// otherwise. The caller has locked the customer ([`super::Tx::lock_customers`]); this
    /// does not bump the feed.
    fn change_card_status(&mut self, c: &NewStatusChange<'_>) -> Result<bool, StoreError>;
}
