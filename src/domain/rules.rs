//! The loyalty rules file (SPEC.md §3): parsed, validated, and queried by the engine.
//!
//! The TOML key names are a contract with tools outside this code, so the structs below
//! mirror them one to one and refuse unknown keys (a typo must not silently switch a rule
//! off). Errors name the key path (`card[0].accrual.percent`) and, where the TOML parser
//! knows it, the line. Version 1 is the only version; a new meaning gets a new `version`,
//! an old key never changes what it means.

use std::fmt;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveTime};
use rust_decimal::Decimal;
use serde::Deserialize;

use super::money::{Bonus, Money, Percent};
use super::receipt::Position;

/// The rules format version this code reads.
pub const RULES_VERSION: u32 = 1;

/// A rules file that could not be used, with where the problem is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RulesError {
    /// The key path, like `card[0].accrual.percent`; empty for a syntax error.
    pub path: String,
    /// 1-based line in the file, where the parser knows it.
    pub line: Option<usize>,
    pub problem: String,
}

impl fmt::Display for RulesError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match (&self.line, self.path.is_empty()) {
            (Some(l), false) => write!(f, "line {l}, key {}: {}", self.path, self.problem),
            (Some(l), true) => write!(f, "line {l}: {}", self.problem),
            (None, false) => write!(f, "key {}: {}", self.path, self.problem),
            (None, true) => write!(f, "{}", self.problem),
        }
    }
}

fn invalid(path: impl Into<String>, problem: impl Into<String>) -> RulesError {
    RulesError {
        path: path.into(),
        line: None,
        problem: problem.into(),
    }
}

/// How accrued bonuses are rounded per position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BonusRounding {
    /// Half-up to whole bonuses.
    #[default]
    Whole,
    /// Half-up to 0.01.
    Kopeck,
}

impl BonusRounding {
    /// Decimal places accrual is rounded to.
    pub fn dp(self) -> u32 {
        match self {
            BonusRounding::Whole => 0,
            BonusRounding::Kopeck => 2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    pub version: u32,
    pub currency: String,
    #[serde(default)]
    pub bonus_rounding: BonusRounding,
    /// Bonuses are spent in multiples of this.
    #[serde(default = "default_spend_step")]
    pub spend_step: Bonus,
    /// A unit never costs less than this after discount and spend.
    #[serde(default = "default_min_unit_price")]
    pub min_unit_price: Money,
    /// Card statuses, lowest first.
    #[serde(rename = "card")]
    pub cards: Vec<CardRule>,
    #[serde(default)]
    pub exclusions: Exclusions,
    #[serde(default, rename = "promotion")]
    pub promotions: Vec<Promotion>,
    pub referral: Option<Referral>,
    pub birthday: Option<Birthday>,
    pub first_purchase_gift: Option<FirstPurchaseGift>,
    #[serde(default)]
    pub verification: Verification,
    #[serde(default)]
    pub offline: OfflineRules,
}

fn default_spend_step() -> Bonus {
    Bonus::new(Decimal::ONE)
}
fn default_min_unit_price() -> Money {
    Money::new(Decimal::new(1, 2))
}

/// A card status (level) and everything it grants.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardRule {
    pub name: String,
    #[serde(default = "default_issue")]
    pub issue: IssueRule,
    /// Below this, the status drops one level.
    pub keep: Option<Threshold>,
    #[serde(default)]
    pub cashier_can_issue: bool,
    pub welcome_bonus: Option<BonusGrant>,
    #[serde(default)]
    pub discount_percent: Percent,
    #[serde(default)]
    pub accrual: Accrual,
    /// Bonuses become spendable this many days after they were accrued.
    #[serde(default)]
    pub activate_after_days: u32,
    /// Accrued bonuses burn this many days after activation; `None`: never.
    pub burn_after_days: Option<u32>,
    #[serde(default)]
    pub spend: SpendRule,
    /// Per product category overrides.
    #[serde(default, rename = "category")]
    pub categories: Vec<CategoryRule>,
}

fn default_issue() -> IssueRule {
    IssueRule::Manual
}

/// How a customer gets a card status.
#[derive(Debug, Clone, PartialEq)]
pub enum IssueRule {
    /// Every newly registered customer.
    Registration,
    /// Only by hand (a manager, or a cashier when `cashier_can_issue`).
    Manual,
    /// Automatically, once purchases reach a threshold.
    Reached(Threshold),
}

/// A purchases threshold, optionally counted over the last `within_days` days only.
#[derive(Debug, Clone, PartialEq)]
pub enum Threshold {
    PurchasesSum {
        sum: Money,
        within_days: Option<u32>,
    },
    PurchasesCount {
        count: u32,
        within_days: Option<u32>,
    },
}

impl Threshold {
    pub fn within_days(&self) -> Option<u32> {
        match self {
            Threshold::PurchasesSum { within_days, .. }
            | Threshold::PurchasesCount { within_days, .. } => *within_days,
        }
    }
}

/// How bonuses are accrued on what the customer pays in rubles.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Accrual {
    #[default]
    None,
    Percent(Percent),
    /// `floor(paid / every_rub) × bonus` on the receipt.
    EveryRub {
        every_rub: Money,
        bonus: Bonus,
    },
    /// The tier is picked by the receipt's ruble payment; tiers ascend by `from`.
    Progressive(Vec<Tier>),
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    pub from: Money,
    pub percent: Percent,
}

/// Whether and how far bonuses may pay for a position.
#[derive(Debug, Clone, PartialEq)]
pub enum SpendRule {
    Forbidden,
    Allowed {
        /// At most this share of the position's sum after discount.
        max_percent: Percent,
        /// A spend below this many bonuses is not offered at all.
        min_bonus: Bonus,
    },
}

impl Default for SpendRule {
    /// A card that says nothing about spending does not allow it: spending is money.
    fn default() -> Self {
        SpendRule::Forbidden
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryRule {
    pub name: String,
    pub accrual: Option<Accrual>,
    pub spend: Option<SpendRule>,
    pub discount_percent: Option<Percent>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Exclusions {
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default)]
    pub skus: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Promotion {
    pub name: String,
    /// First day, inclusive, in the receipt's UTC offset.
    #[serde(deserialize_with = "parse::date")]
    pub from: NaiveDate,
    /// Last day, inclusive.
    #[serde(deserialize_with = "parse::date")]
    pub to: NaiveDate,
    /// Category names; `"*"` matches every category.
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default)]
    pub skus: Vec<String>,
    pub discount_percent: Option<Percent>,
    pub accrual: Option<Accrual>,
    pub spend: Option<SpendRule>,
    /// "Happy hours"; empty: all day.
    #[serde(default)]
    pub hours: Vec<HappyHours>,
}

/// Days of the week and a time window, like `mon-fri 10:00-12:00`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HappyHours {
    /// Bit 0 is Monday.
    days: u8,
    from: NaiveTime,
    /// Exclusive; `None` is midnight at the end of the day (`24:00`).
    to: Option<NaiveTime>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BonusGrant {
    pub amount: Bonus,
    /// Days until the granted bonuses burn; `None`: never.
    pub lifetime_days: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferralLevel {
    pub percent: Percent,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Referral {
    /// Level 1 is the direct referrer, level 2 their referrer, and so on.
    pub levels: Vec<ReferralLevel>,
    /// Referrers are paid for the referee's purchases during this many days.
    pub pay_for_days: Option<u32>,
    pub referee_bonus: Option<BonusGrant>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Birthday {
    pub bonus: BonusGrant,
    #[serde(default)]
    pub days_before: u32,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirstPurchaseGift {
    pub bonus: BonusGrant,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Verification {
    /// "Без кода": an unverified customer may accrue, may not spend until verified.
    #[serde(default)]
    pub allow_without_code: bool,
    /// A spend above this needs a fresh SMS code; `None`: never.
    pub code_to_spend_over: Option<Bonus>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OfflineRules {
    pub spend_allowed: bool,
    pub max_spend_per_operation: Bonus,
    pub max_unsynced_spend_per_terminal: Bonus,
    /// Past this many hours without a sync, offline spend stops.
    pub horizon_hours: u32,
}

impl Default for OfflineRules {
    /// Without an `[offline]` table a terminal may not spend offline at all.
    fn default() -> Self {
        OfflineRules {
            spend_allowed: false,
            max_spend_per_operation: Bonus::ZERO,
            max_unsynced_spend_per_terminal: Bonus::ZERO,
            horizon_hours: 72,
        }
    }
}

impl Rules {
    /// The card status with this name.
    pub fn card(&self, name: &str) -> Option<&CardRule> {
        self.cards.iter().find(|c| c.name == name)
    }

    /// The position of a card status in the lowest-first list.
    pub fn card_level(&self, name: &str) -> Option<usize> {
        self.cards.iter().position(|c| c.name == name)
    }

    /// The status a newly registered customer gets: the first with `issue = "registration"`.
    pub fn registration_card(&self) -> Option<&CardRule> {
        self.cards
            .iter()
            .find(|c| c.issue == IssueRule::Registration)
    }

    /// Whether a position is excluded from all loyalty (SPEC.md §3 step 1).
    pub fn is_excluded(&self, p: &Position) -> bool {
        p.excise
            || self.exclusions.categories.contains(&p.category)
            || (!p.sku.is_empty() && self.exclusions.skus.contains(&p.sku))
    }

    /// The first promotion that matches the position and is active at `at`.
    pub fn promotion_for(&self, p: &Position, at: &DateTime<FixedOffset>) -> Option<&Promotion> {
        self.promotions
            .iter()
            .find(|promo| promo.matches(p) && promo.is_active(at))
    }
}

impl CardRule {
    pub fn category(&self, name: &str) -> Option<&CategoryRule> {
        self.categories.iter().find(|c| c.name == name)
    }
}

impl Promotion {
    pub fn matches(&self, p: &Position) -> bool {
        self.categories.iter().any(|c| c == "*" || *c == p.category)
            || (!p.sku.is_empty() && self.skus.contains(&p.sku))
    }

    /// Active on the receipt's local date and, if hours are given, within one of them.
    pub fn is_active(&self, at: &DateTime<FixedOffset>) -> bool {
        let local = at.naive_local();
        let date = local.date();
        if date < self.from || date > self.to {
            return false;
        }
        self.hours.is_empty()
            || self
                .hours
                .iter()
                .any(|h| h.contains(date.weekday().num_days_from_monday(), local.time()))
    }
}

impl HappyHours {
    fn contains(&self, weekday_from_monday: u32, t: NaiveTime) -> bool {
        self.days & (1 << weekday_from_monday) != 0
            && t >= self.from
            && self.to.is_none_or(|to| t < to)
    }
}

mod parse;
mod validate;

#[cfg(test)]
mod tests;
