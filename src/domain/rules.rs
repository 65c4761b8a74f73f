//! The loyalty rules file (SPEC.md §3): parsed, validated, and queried by the engine.
//!
//! The TOML key names are a contract with tools outside this code, so the structs below
//! mirror them one to one and refuse unknown keys (a typo must not silently switch a rule
//! off). Errors name the key path (`card[0].accrual.percent`) and, where the TOML parser
//! knows it, the line. Version 1 is the only version; a new meaning gets a new `version`,
//! an old key never changes what it means.

use std::collections::HashSet;
use std::fmt;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveTime, Timelike};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

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
    #[serde(deserialize_with = "date")]
    pub from: NaiveDate,
    /// Last day, inclusive.
    #[serde(deserialize_with = "date")]
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

// ---------------------------------------------------------------------------------------
// Reading the file.

impl Rules {
    /// Parses and validates a rules file.
    pub fn from_toml_str(text: &str) -> Result<Rules, RulesError> {
        let line_of = |span: Option<std::ops::Range<usize>>| {
            span.map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
        };
        let de = toml::Deserializer::parse(text).map_err(|e| RulesError {
            path: String::new(),
            line: line_of(e.span()),
            problem: format!("not valid TOML: {}", e.message().trim()),
        })?;
        let rules: Rules = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            RulesError {
                path: if path == "." { String::new() } else { path },
                line: line_of(inner.span()),
                problem: inner.message().trim().to_string(),
            }
        })?;
        rules.validate()?;
        Ok(rules)
    }

    /// Cross-key checks that serde cannot express.
    pub fn validate(&self) -> Result<(), RulesError> {
        if self.version != RULES_VERSION {
            return Err(invalid(
                "version",
                format!(
                    "rules version {} is not supported; this program reads version {RULES_VERSION}",
                    self.version
                ),
            ));
        }
        if self.currency != "RUB" {
            return Err(invalid("currency", "only \"RUB\" is supported"));
        }
        if self.spend_step.amount() <= Decimal::ZERO {
            return Err(invalid("spend_step", "must be greater than zero"));
        }
        if self.min_unit_price.is_negative() {
            return Err(invalid("min_unit_price", "must not be negative"));
        }
        if self.cards.is_empty() {
            return Err(invalid("card", "at least one [[card]] status is needed"));
        }
        let mut names = HashSet::new();
        for (i, card) in self.cards.iter().enumerate() {
            let p = format!("card[{i}]");
            if card.name.trim().is_empty() {
                return Err(invalid(format!("{p}.name"), "must not be empty"));
            }
            if !names.insert(card.name.as_str()) {
                return Err(invalid(
                    format!("{p}.name"),
                    format!("the card status \"{}\" is defined twice", card.name),
                ));
            }
            if let IssueRule::Reached(t) = &card.issue {
                check_threshold(&format!("{p}.issue"), t)?;
            }
            if let Some(t) = &card.keep {
                check_threshold(&format!("{p}.keep"), t)?;
            }
            if let Some(g) = &card.welcome_bonus {
                check_grant(&format!("{p}.welcome_bonus"), g)?;
            }
            check_accrual(&format!("{p}.accrual"), &card.accrual)?;
            check_spend(&format!("{p}.spend"), &card.spend)?;
            let mut cats = HashSet::new();
            for (j, c) in card.categories.iter().enumerate() {
                let cp = format!("{p}.category[{j}]");
                if c.name.trim().is_empty() {
                    return Err(invalid(format!("{cp}.name"), "must not be empty"));
                }
                if !cats.insert(c.name.as_str()) {
                    return Err(invalid(
                        format!("{cp}.name"),
                        format!("the category \"{}\" is listed twice for this card", c.name),
                    ));
                }
                if let Some(a) = &c.accrual {
                    check_accrual(&format!("{cp}.accrual"), a)?;
                }
                if let Some(s) = &c.spend {
                    check_spend(&format!("{cp}.spend"), s)?;
                }
            }
        }
        for (i, promo) in self.promotions.iter().enumerate() {
            let p = format!("promotion[{i}]");
            if promo.name.trim().is_empty() {
                return Err(invalid(format!("{p}.name"), "must not be empty"));
            }
            if promo.from > promo.to {
                return Err(invalid(
                    format!("{p}.to"),
                    "the promotion ends before it starts",
                ));
            }
            if promo.categories.is_empty() && promo.skus.is_empty() {
                return Err(invalid(
                    format!("{p}.categories"),
                    "the promotion matches no goods: list categories (\"*\" for all) or skus",
                ));
            }
            if let Some(a) = &promo.accrual {
                check_accrual(&format!("{p}.accrual"), a)?;
            }
            if let Some(s) = &promo.spend {
                check_spend(&format!("{p}.spend"), s)?;
            }
        }
        if let Some(r) = &self.referral {
            if r.levels.is_empty() || r.levels.len() > 10 {
                return Err(invalid("referral.levels", "list between 1 and 10 levels"));
            }
            if let Some(g) = &r.referee_bonus {
                check_grant("referral.referee_bonus", g)?;
            }
        }
        if let Some(b) = &self.birthday {
            check_grant("birthday.bonus", &b.bonus)?;
            if b.days_before > 366 {
                return Err(invalid("birthday.days_before", "must be at most 366"));
            }
        }
        if let Some(g) = &self.first_purchase_gift {
            check_grant("first_purchase_gift.bonus", &g.bonus)?;
        }
        if let Some(b) = self.verification.code_to_spend_over
            && b.is_negative()
        {
            return Err(invalid(
                "verification.code_to_spend_over",
                "must not be negative",
            ));
        }
        let o = &self.offline;
        if o.max_spend_per_operation.is_negative() {
            return Err(invalid(
                "offline.max_spend_per_operation",
                "must not be negative",
            ));
        }
        if o.max_unsynced_spend_per_terminal.is_negative() {
            return Err(invalid(
                "offline.max_unsynced_spend_per_terminal",
                "must not be negative",
            ));
        }
        if o.horizon_hours == 0 {
            return Err(invalid(
                "offline.horizon_hours",
                "must be greater than zero",
            ));
        }
        Ok(())
    }

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

fn check_threshold(path: &str, t: &Threshold) -> Result<(), RulesError> {
    match t {
        Threshold::PurchasesSum { sum, .. } if sum.amount() <= Decimal::ZERO => {
            return Err(invalid(
                format!("{path}.purchases_sum"),
                "must be greater than zero",
            ));
        }
        Threshold::PurchasesCount { count: 0, .. } => {
            return Err(invalid(
                format!("{path}.purchases_count"),
                "must be greater than zero",
            ));
        }
        _ => {}
    }
    if t.within_days() == Some(0) {
        return Err(invalid(
            format!("{path}.within_days"),
            "must be greater than zero",
        ));
    }
    Ok(())
}

fn check_grant(path: &str, g: &BonusGrant) -> Result<(), RulesError> {
    if g.amount.is_negative() {
        return Err(invalid(format!("{path}.amount"), "must not be negative"));
    }
    if g.lifetime_days == Some(0) {
        return Err(invalid(
            format!("{path}.lifetime_days"),
            "must be greater than zero (omit it for bonuses that never burn)",
        ));
    }
    Ok(())
}

fn check_accrual(path: &str, a: &Accrual) -> Result<(), RulesError> {
    match a {
        Accrual::EveryRub { every_rub, bonus } => {
            if every_rub.amount() <= Decimal::ZERO {
                return Err(invalid(
                    format!("{path}.every_rub"),
                    "must be greater than zero",
                ));
            }
            if bonus.is_negative() {
                return Err(invalid(format!("{path}.bonus"), "must not be negative"));
            }
        }
        Accrual::Progressive(tiers) => {
            if tiers.is_empty() {
                return Err(invalid(
                    format!("{path}.progressive"),
                    "list at least one tier",
                ));
            }
            if !tiers[0].from.is_zero() {
                return Err(invalid(
                    format!("{path}.progressive[0].from"),
                    "the first tier must start from \"0\"",
                ));
            }
            for (i, w) in tiers.windows(2).enumerate() {
                if w[1].from <= w[0].from {
                    return Err(invalid(
                        format!("{path}.progressive[{}].from", i + 1),
                        "tiers must ascend by \"from\"",
                    ));
                }
            }
        }
        Accrual::None | Accrual::Percent(_) => {}
    }
    Ok(())
}

fn check_spend(path: &str, s: &SpendRule) -> Result<(), RulesError> {
    if let SpendRule::Allowed { min_bonus, .. } = s
        && min_bonus.is_negative()
    {
        return Err(invalid(format!("{path}.min_bonus"), "must not be negative"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Keys that take either a word or a table. Hand-written so the error says which words and
// which table keys are allowed, instead of serde's "did not match any variant".

/// A key whose value is either a string or an inline table of `T`.
enum WordOrTable<T> {
    Word(String),
    Table(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for WordOrTable<T> {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = WordOrTable<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a word or a table")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(WordOrTable::Word(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(WordOrTable::Table)
            }
        }
        de.deserialize_any(V(std::marker::PhantomData))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccrualTable {
    percent: Option<Percent>,
    every_rub: Option<Money>,
    bonus: Option<Bonus>,
    progressive: Option<Vec<Tier>>,
}

const ACCRUAL_FORMS: &str = "\"none\", { percent = \"2\" }, { every_rub = \"100\", bonus = \"5\" } or { progressive = [ { from = \"0\", percent = \"2\" } ] }";

impl<'de> Deserialize<'de> for Accrual {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        match WordOrTable::<AccrualTable>::deserialize(de)? {
            WordOrTable::Word(w) if w == "none" => Ok(Accrual::None),
            WordOrTable::Word(w) => Err(de::Error::custom(format!(
                "unknown accrual \"{w}\"; expected {ACCRUAL_FORMS}"
            ))),
            WordOrTable::Table(t) => match t {
                AccrualTable {
                    percent: Some(p),
                    every_rub: None,
                    bonus: None,
                    progressive: None,
                } => Ok(Accrual::Percent(p)),
                AccrualTable {
                    percent: None,
                    every_rub: Some(every_rub),
                    bonus: Some(bonus),
                    progressive: None,
                } => Ok(Accrual::EveryRub { every_rub, bonus }),
                AccrualTable {
                    percent: None,
                    every_rub: None,
                    bonus: None,
                    progressive: Some(tiers),
                } => Ok(Accrual::Progressive(tiers)),
                _ => Err(de::Error::custom(format!(
                    "an accrual table takes exactly one form: {ACCRUAL_FORMS}"
                ))),
            },
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpendTable {
    max_percent: Option<Percent>,
    min_bonus: Option<Bonus>,
}

impl<'de> Deserialize<'de> for SpendRule {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        match WordOrTable::<SpendTable>::deserialize(de)? {
            WordOrTable::Word(w) if w == "forbidden" => Ok(SpendRule::Forbidden),
            WordOrTable::Word(w) => Err(de::Error::custom(format!(
                "unknown spend rule \"{w}\"; expected \"forbidden\" or {{ max_percent = \"30\", min_bonus = \"0\" }}"
            ))),
            WordOrTable::Table(t) => Ok(SpendRule::Allowed {
                max_percent: t.max_percent.unwrap_or(Percent::HUNDRED),
                min_bonus: t.min_bonus.unwrap_or(Bonus::ZERO),
            }),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThresholdTable {
    purchases_sum: Option<Money>,
    purchases_count: Option<u32>,
    within_days: Option<u32>,
}

const THRESHOLD_FORMS: &str =
    "{ purchases_sum = \"50000\" } or { purchases_count = 10 }, optionally with within_days = N";

impl ThresholdTable {
    fn into_threshold<E: de::Error>(self) -> Result<Threshold, E> {
        match (self.purchases_sum, self.purchases_count) {
            (Some(sum), None) => Ok(Threshold::PurchasesSum {
                sum,
                within_days: self.within_days,
            }),
            (None, Some(count)) => Ok(Threshold::PurchasesCount {
                count,
                within_days: self.within_days,
            }),
            _ => Err(E::custom(format!(
                "a threshold takes exactly one of purchases_sum and purchases_count: {THRESHOLD_FORMS}"
            ))),
        }
    }
}

impl<'de> Deserialize<'de> for Threshold {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        ThresholdTable::deserialize(de)?.into_threshold()
    }
}

impl<'de> Deserialize<'de> for IssueRule {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        match WordOrTable::<ThresholdTable>::deserialize(de)? {
            WordOrTable::Word(w) if w == "registration" => Ok(IssueRule::Registration),
            WordOrTable::Word(w) if w == "manual" => Ok(IssueRule::Manual),
            WordOrTable::Word(w) => Err(de::Error::custom(format!(
                "unknown issue rule \"{w}\"; expected \"registration\", \"manual\" or {THRESHOLD_FORMS}"
            ))),
            WordOrTable::Table(t) => t.into_threshold().map(IssueRule::Reached),
        }
    }
}

fn date<'de, D: Deserializer<'de>>(de: D) -> Result<NaiveDate, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = NaiveDate;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a date as a string, like \"2026-12-14\"")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<NaiveDate, E> {
            NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .map_err(|_| E::custom(format!("\"{v}\" is not a date like \"2026-12-14\"")))
        }
    }
    de.deserialize_str(V)
}

impl<'de> Deserialize<'de> for HappyHours {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        let s = String::deserialize(de)?;
        s.parse().map_err(de::Error::custom)
    }
}

impl std::str::FromStr for HappyHours {
    type Err = String;

    /// `"mon-fri 10:00-12:00"`, `"sat,sun 09:00-11:00"`, `"daily 18:00-24:00"`, `"10:00-12:00"`.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "\"{s}\" is not like \"mon-fri 10:00-12:00\" (days: mon…sun, ranges with -, lists with commas, or daily)"
            )
        };
        let mut parts = s.split_whitespace();
        let (days_part, time_part) = match (parts.next(), parts.next(), parts.next()) {
            (Some(t), None, None) => ("daily", t),
            (Some(d), Some(t), None) => (d, t),
            _ => return Err(bad()),
        };
        let days = parse_days(days_part).ok_or_else(bad)?;
        let (from, to) = time_part.split_once('-').ok_or_else(bad)?;
        let from = parse_time(from).ok_or_else(bad)?.ok_or_else(bad)?;
        let to = parse_time(to).ok_or_else(bad)?;
        if to.is_some_and(|to| to <= from) {
            return Err(format!("\"{s}\": the window ends before it starts"));
        }
        Ok(HappyHours { days, from, to })
    }
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn parse_days(s: &str) -> Option<u8> {
    if s == "daily" || s == "*" {
        return Some(0x7f);
    }
    let mut mask = 0u8;
    for item in s.split(',') {
        let day = |d: &str| DAY_NAMES.iter().position(|n| *n == d);
        match item.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (day(a)?, day(b)?);
                if a > b {
                    return None;
                }
                for d in a..=b {
                    mask |= 1 << d;
                }
            }
            None => mask |= 1 << day(item)?,
        }
    }
    Some(mask)
}

/// `Some(None)` is `24:00`, the end of the day.
fn parse_time(s: &str) -> Option<Option<NaiveTime>> {
    if s == "24:00" {
        return Some(None);
    }
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let t = NaiveTime::from_hms_opt(h.parse().ok()?, m.parse().ok()?, 0)?;
    debug_assert_eq!(t.second(), 0);
    Some(Some(t))
}

#[cfg(test)]
mod tests;
