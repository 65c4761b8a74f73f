//! Wire types of the back office's reports, `/api/v1/admin/reports` and
//! `/api/v1/admin/liability`: rubles as [`Money`], bonuses as [`Bonus`] (decimal strings
//! with two decimals), counts as integers.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::money::{Bonus, Money};

/// How a report's lines are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportBy {
    /// One line per local day of the period, every day, the stores summed.
    Day,
    /// One line per store.
    Store,
    /// One line per cashier of each store.
    Cashier,
}

/// The figures of a line, or of the whole report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportFigures {
    /// Sales to loyalty customers.
    pub receipts: i64,
    /// What the customers paid for them.
    pub revenue: Money,
    /// The discount they got.
    pub discount: Money,
    /// Bonuses granted: for purchases, gifts, birthdays, referrals, promotions, by hand.
    pub accrued: Bonus,
    /// Bonuses spent on purchases or taken off by hand.
    pub spent: Bonus,
    /// Bonuses that burnt.
    pub burnt: Bonus,
    /// Returns of such sales.
    pub returns: i64,
    /// What was paid back for them.
    pub returned: Money,
    /// Bonuses given back by returns.
    pub refunded: Bonus,
    /// Bonuses taken back by returns.
    pub clawed_back: Bonus,
    pub new_customers: i64,
    pub processing_given: i64,
    pub processing_withdrawn: i64,
    pub advertising_given: i64,
    pub advertising_withdrawn: i64,
}

/// One line of a report: a day, a store, or a cashier of a store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportLine {
    /// The local day (a report by day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub day: Option<NaiveDate>,
    /// The store (a report by store or cashier); `""` for customers of no store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub store_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub store_name: Option<String>,
    /// The cashier (a report by cashier); `""` for what nobody at a till did (burns,
    /// birthdays).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub cashier: Option<String>,
    pub figures: ReportFigures,
}

/// A report for a period: its lines and their total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportView {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub by: ReportBy,
    pub lines: Vec<ReportLine>,
    pub total: ReportFigures,
}

/// The bonuses customers held at a moment: what the chain owes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LiabilityView {
    pub at: DateTime<Utc>,
    /// Spendable then, less the debts returns left.
    pub active: Bonus,
    /// Granted but not active yet.
    pub pending: Bonus,
    pub total: Bonus,
}
