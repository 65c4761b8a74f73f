//! The keys whose values serde cannot derive: a word or a table, dates, happy hours.

use std::fmt;

use chrono::{NaiveDate, NaiveTime, Timelike};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::{Accrual, HappyHours, IssueRule, SpendRule, Threshold, Tier};
use crate::domain::money::{Bonus, Money, Percent};

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

pub(super) fn date<'de, D: Deserializer<'de>>(de: D) -> Result<NaiveDate, D::Error> {
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
