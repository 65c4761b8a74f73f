//! Money, bonus amounts, quantities and percentages as newtypes over `rust_decimal`.
//!
//! Every amount the engine touches is exact: there is no float anywhere in this crate.
//! Rubles and bonuses are separate types because the loyalty rules treat them differently
//! (bonuses are spent in `spend_step` units and rounded per `bonus_rounding`), and mixing
//! them up is the kind of mistake a type should catch. On the wire and in files, every
//! amount is a decimal string; reading accepts a JSON/TOML integer too, never a float.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Neg, Sub, SubAssign};
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a decimal amount was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("not a decimal number (write it like \"123.45\")")]
    NotDecimal,
    #[error("must not be negative")]
    Negative,
    #[error("has more than {max} digits after the decimal point")]
    TooPrecise { max: u32 },
    #[error("is too large")]
    TooLarge,
    #[error("must be greater than zero")]
    NotPositive,
    #[error("must be between 0 and 100")]
    PercentOutOfRange,
    #[error("a fractional number written as a float; write it as a string, like \"{0}\"")]
    Float(String),
}

/// The largest amount we accept anywhere: a till never sees a billion rubles in one line,
/// and the bound keeps every intermediate product far away from `Decimal`'s overflow.
const MAX_AMOUNT: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 0);

fn parse_decimal(s: &str) -> Result<Decimal, AmountError> {
    let t = s.trim();
    // `Decimal::from_str` accepts forms like "1e5" or "_1"; a cashier-facing format does not.
    let ok = !t.is_empty()
        && t.chars()
            .enumerate()
            .all(|(i, c)| c.is_ascii_digit() || c == '.' || (i == 0 && c == '-'))
        && t.matches('.').count() <= 1
        && t.chars().any(|c| c.is_ascii_digit());
    if !ok {
        return Err(AmountError::NotDecimal);
    }
    let d = Decimal::from_str(t).map_err(|_| AmountError::NotDecimal)?;
    if d.abs() > MAX_AMOUNT {
        return Err(AmountError::TooLarge);
    }
    Ok(d)
}

fn check_scale(d: Decimal, max: u32) -> Result<Decimal, AmountError> {
    if d.normalize().scale() > max {
        Err(AmountError::TooPrecise { max })
    } else {
        Ok(d)
    }
}

/// Rounds half away from zero to `dp` decimal places: the "half-up" of the rules file.
pub fn round_half_up(d: Decimal, dp: u32) -> Decimal {
    round_with(d, dp, RoundingStrategy::MidpointAwayFromZero)
}

/// Most values the engine rounds are already exact (prices, kopeck sums), and skipping the
/// rounding for them is the engine's largest saving. The rest are rounded on the integer
/// mantissa (`i128` division by a power of ten), several times cheaper than the general
/// decimal routine; results are identical (`rounding_matches_rust_decimal` checks it).
fn round_with(d: Decimal, dp: u32, strategy: RoundingStrategy) -> Decimal {
    let scale = d.scale();
    if scale <= dp {
        return d;
    }
    let p = 10i128.pow(scale - dp);
    let m = d.mantissa();
    let (q, r) = (m / p, m % p);
    // `q` is truncated towards zero; `r` carries the sign of `m`.
    let away = match strategy {
        RoundingStrategy::MidpointAwayFromZero => r.abs() * 2 >= p,
        RoundingStrategy::ToNegativeInfinity => r < 0,
        RoundingStrategy::ToPositiveInfinity => r > 0,
        _ => return d.round_dp_with_strategy(dp, strategy),
    };
    let q = match (away, strategy) {
        (false, _) => q,
        (true, RoundingStrategy::MidpointAwayFromZero) => q + m.signum(),
        (true, RoundingStrategy::ToNegativeInfinity) => q - 1,
        (true, _) => q + 1,
    };
    Decimal::from_i128_with_scale(q, dp)
}

/// Rounds towards negative infinity to a multiple of `step` (`step` > 0).
pub fn floor_to_step(d: Decimal, step: Decimal) -> Decimal {
    debug_assert!(step > Decimal::ZERO);
    // Steps of one unit or one kopeck are the common case, and a rounding is several times
    // cheaper than a division (the engine's 50 µs budget is mostly decimal arithmetic).
    if step == Decimal::ONE {
        d.floor()
    } else if step == Decimal::new(1, 2) {
        floor_dp(d, 2)
    } else {
        (d / step).floor() * step
    }
}

/// `d / 100`, exactly, by moving the decimal point instead of dividing.
pub fn div100(d: Decimal) -> Decimal {
    let mut r = d;
    match r.set_scale(d.scale() + 2) {
        Ok(()) => r,
        Err(_) => d / Decimal::ONE_HUNDRED,
    }
}

/// Rounds towards positive infinity to `dp` decimal places.
pub fn ceil_dp(d: Decimal, dp: u32) -> Decimal {
    round_with(d, dp, RoundingStrategy::ToPositiveInfinity)
}

/// Rounds towards negative infinity to `dp` decimal places.
pub fn floor_dp(d: Decimal, dp: u32) -> Decimal {
    round_with(d, dp, RoundingStrategy::ToNegativeInfinity)
}

/// Serde helper shared by all amount types: a string, or an integer, never a float.
struct DecimalVisitor;

impl serde::de::Visitor<'_> for DecimalVisitor {
    type Value = Result<Decimal, AmountError>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a decimal amount as a string, like \"123.45\"")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(parse_decimal(v))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(parse_decimal(&v.to_string()))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(parse_decimal(&v.to_string()))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Err(AmountError::Float(v.to_string())))
    }
}

fn deserialize_decimal<'de, D: Deserializer<'de>>(
    de: D,
    check: impl FnOnce(Decimal) -> Result<Decimal, AmountError>,
) -> Result<Decimal, D::Error> {
    de.deserialize_any(DecimalVisitor)?
        .and_then(check)
        .map_err(serde::de::Error::custom)
}

macro_rules! amount_type {
    ($(#[$meta:meta])* $name:ident, $scale:expr) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(Decimal);

        impl $name {
            pub const ZERO: Self = Self(Decimal::ZERO);
            /// The largest amount: "no cap" where a cap is optional.
            pub const MAX: Self = Self(Decimal::MAX);
            /// Digits after the decimal point this amount keeps.
            pub const SCALE: u32 = $scale;

            /// Wraps a decimal, rounding half-up to this type's precision.
            pub fn new(d: Decimal) -> Self {
                Self(round_half_up(d, $scale))
            }
            /// Wraps a decimal that must already be exact at this type's precision.
            pub fn exact(d: Decimal) -> Result<Self, AmountError> {
                check_scale(d, $scale).map(Self)
            }
            pub fn amount(self) -> Decimal {
                self.0
            }
            pub fn is_zero(self) -> bool {
                self.0.is_zero()
            }
            pub fn is_negative(self) -> bool {
                self.0.is_sign_negative() && !self.0.is_zero()
            }
            pub fn min(self, other: Self) -> Self {
                Ord::min(self, other)
            }
            pub fn max(self, other: Self) -> Self {
                Ord::max(self, other)
            }
            /// Parses a non-negative amount with at most this type's precision.
            pub fn parse_non_negative(s: &str) -> Result<Self, AmountError> {
                let d = check_scale(parse_decimal(s)?, $scale)?;
                if d.is_sign_negative() && !d.is_zero() {
                    return Err(AmountError::Negative);
                }
                Ok(Self(d))
            }
        }

        impl FromStr for $name {
            type Err = AmountError;
            /// Parses an amount that may be negative (a balance after a claw-back can be).
            fn from_str(s: &str) -> Result<Self, AmountError> {
                check_scale(parse_decimal(s)?, $scale).map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
                let mut d = self.0;
                d.rescale($scale);
                write!(f, "{d}")
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }

        impl Add for $name {
            type Output = Self;
            fn add(self, o: Self) -> Self {
                Self(self.0 + o.0)
            }
        }
        impl Sub for $name {
            type Output = Self;
            fn sub(self, o: Self) -> Self {
                Self(self.0 - o.0)
            }
        }
        impl Neg for $name {
            type Output = Self;
            fn neg(self) -> Self {
                Self(-self.0)
            }
        }
        impl AddAssign for $name {
            fn add_assign(&mut self, o: Self) {
                self.0 += o.0;
            }
        }
        impl SubAssign for $name {
            fn sub_assign(&mut self, o: Self) {
                self.0 -= o.0;
            }
        }
        impl Sum for $name {
            fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
                Self(iter.map(|a| a.0).sum())
            }
        }
        impl<'a> Sum<&'a $name> for $name {
            fn sum<I: Iterator<Item = &'a Self>>(iter: I) -> Self {
                Self(iter.map(|a| a.0).sum())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
                deserialize_decimal(de, |d| check_scale(d, $scale)).map(Self)
            }
        }
    };
}

amount_type!(
    /// Rubles, exact to the kopeck. Displayed and serialized with two decimals: `"234.00"`.
    Money,
    2
);

amount_type!(
    /// Bonus points, exact to 0.01 of a bonus. One bonus pays for one ruble.
    Bonus,
    2
);

impl Money {
    /// Rubles paid with bonuses: one bonus pays one ruble.
    pub fn from_bonus(b: Bonus) -> Money {
        Money(b.0)
    }
    /// Kopecks as an integer; exact because `Money` always holds at most two decimals.
    pub fn kopecks(self) -> i64 {
        use rust_decimal::prelude::ToPrimitive;
        (round_half_up(self.0, 2) * Decimal::ONE_HUNDRED)
            .to_i64()
            .expect("amounts are bounded far below i64::MAX kopecks")
    }
    pub fn from_kopecks(k: i64) -> Money {
        Money(Decimal::new(k, 2))
    }
}

impl Bonus {
    pub fn from_money(m: Money) -> Bonus {
        Bonus(m.0)
    }
    /// Hundredths of a bonus as an integer, the unit the server's ledger keeps.
    pub fn kopecks(self) -> i64 {
        Money(self.0).kopecks()
    }
    pub fn from_kopecks(k: i64) -> Bonus {
        Bonus(Decimal::new(k, 2))
    }
}

/// A position's quantity: whole pieces, or a weight/volume with up to three decimals.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity(Decimal);

impl Quantity {
    pub const SCALE: u32 = 3;

    pub fn new(d: Decimal) -> Result<Quantity, AmountError> {
        let d = check_scale(d, Self::SCALE)?;
        if d <= Decimal::ZERO {
            return Err(AmountError::NotPositive);
        }
        if d > Decimal::from(1_000_000) {
            return Err(AmountError::TooLarge);
        }
        // The scale is kept as written: a register that sends "0.350" kg gets "0.350" back.
        Ok(Quantity(d))
    }
    pub fn amount(self) -> Decimal {
        self.0
    }
    pub fn is_whole(self) -> bool {
        self.0.fract().is_zero()
    }
}

impl FromStr for Quantity {
    type Err = AmountError;
    fn from_str(s: &str) -> Result<Self, AmountError> {
        Quantity::new(parse_decimal(s)?)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "Quantity({self})")
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        let d = deserialize_decimal(de, Ok)?;
        Quantity::new(d).map_err(serde::de::Error::custom)
    }
}

/// A percentage between 0 and 100 inclusive, at most two decimals.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Percent(Decimal);

impl Percent {
    pub const ZERO: Percent = Percent(Decimal::ZERO);
    pub const HUNDRED: Percent = Percent(Decimal::ONE_HUNDRED);

    pub fn new(d: Decimal) -> Result<Percent, AmountError> {
        let d = check_scale(d, 2)?;
        if d < Decimal::ZERO || d > Decimal::ONE_HUNDRED {
            return Err(AmountError::PercentOutOfRange);
        }
        // Normalized ("30", not "30.00"): fewer digits to round away after multiplying.
        Ok(Percent(d.normalize()))
    }
    /// `value × self / 100`, unrounded.
    pub fn of(self, value: Decimal) -> Decimal {
        div100(value * self.0)
    }
    pub fn amount(self) -> Decimal {
        self.0
    }
    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }
}

impl FromStr for Percent {
    type Err = AmountError;
    fn from_str(s: &str) -> Result<Self, AmountError> {
        Percent::new(parse_decimal(s)?)
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", self.0.normalize())
    }
}

impl fmt::Debug for Percent {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{self}%")
    }
}

impl Serialize for Percent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        let d = deserialize_decimal(de, Ok)?;
        Percent::new(d).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn money_displays_with_two_decimals() {
        assert_eq!(Money::new(dec!(234)).to_string(), "234.00");
        assert_eq!(Money::new(dec!(0.5)).to_string(), "0.50");
        assert_eq!(Money::new(dec!(-1.005)).to_string(), "-1.01");
    }

    #[test]
    fn half_up_rounds_midpoints_away_from_zero() {
        assert_eq!(round_half_up(dec!(4.685), 2), dec!(4.69));
        assert_eq!(round_half_up(dec!(4.5), 0), dec!(5));
        assert_eq!(round_half_up(dec!(4.49), 0), dec!(4));
    }

    #[test]
    fn floor_to_step_handles_whole_and_kopeck_steps() {
        assert_eq!(floor_to_step(dec!(3000.99), dec!(1)), dec!(3000));
        assert_eq!(floor_to_step(dec!(3000.999), dec!(0.01)), dec!(3000.99));
        assert_eq!(floor_to_step(dec!(17), dec!(5)), dec!(15));
    }

    #[test]
    fn amounts_refuse_exponents_floats_and_extra_precision() {
        assert_eq!("1e5".parse::<Money>(), Err(AmountError::NotDecimal));
        assert_eq!("".parse::<Money>(), Err(AmountError::NotDecimal));
        assert_eq!(
            "1.234".parse::<Money>(),
            Err(AmountError::TooPrecise { max: 2 })
        );
        assert_eq!(Money::parse_non_negative("-1"), Err(AmountError::Negative));
        assert_eq!("1.10".parse::<Money>().unwrap().to_string(), "1.10");
        let e = serde_json::from_str::<Money>("1.5").unwrap_err();
        assert!(e.to_string().contains("as a string"), "{e}");
        assert_eq!(
            serde_json::from_str::<Money>("12").unwrap().to_string(),
            "12.00"
        );
    }

    #[test]
    fn quantities_are_positive_with_at_most_three_decimals() {
        assert!("0".parse::<Quantity>().is_err());
        assert!("-1".parse::<Quantity>().is_err());
        assert!("0.0005".parse::<Quantity>().is_err());
        assert_eq!("0.350".parse::<Quantity>().unwrap().to_string(), "0.350");
        assert_eq!("1.5".parse::<Quantity>().unwrap(), "1.500".parse().unwrap());
    }

    #[test]
    fn percents_stay_within_zero_and_hundred() {
        assert!("100.01".parse::<Percent>().is_err());
        assert!("-1".parse::<Percent>().is_err());
        assert_eq!("30".parse::<Percent>().unwrap().of(dec!(10000)), dec!(3000));
    }

    #[test]
    fn rounding_matches_rust_decimal() {
        let values = [
            dec!(4.685),
            dec!(-4.685),
            dec!(4.684999),
            dec!(0.005),
            dec!(-0.005),
            dec!(-0.0049),
            dec!(123456789.123456789),
            dec!(-1.5),
            dec!(2.5),
            dec!(0.0000000000000000000000000001),
        ];
        let strategies = [
            RoundingStrategy::MidpointAwayFromZero,
            RoundingStrategy::ToNegativeInfinity,
            RoundingStrategy::ToPositiveInfinity,
        ];
        for v in values {
            for dp in [0, 1, 2] {
                for st in strategies {
                    assert_eq!(
                        round_with(v, dp, st),
                        v.round_dp_with_strategy(dp, st),
                        "{v} {dp} {st:?}"
                    );
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn rounding_matches_rust_decimal_everywhere(m in proptest::num::i64::ANY, scale in 0u32..=28, dp in 0u32..=4, st in 0usize..3) {
            let v = Decimal::from_i128_with_scale(i128::from(m), scale);
            let st = [RoundingStrategy::MidpointAwayFromZero, RoundingStrategy::ToNegativeInfinity, RoundingStrategy::ToPositiveInfinity][st];
            proptest::prop_assert_eq!(round_with(v, dp, st), v.round_dp_with_strategy(dp, st));
        }
    }

    #[test]
    fn div100_moves_the_point_exactly() {
        assert_eq!(div100(dec!(12345)), dec!(123.45));
        assert_eq!(div100(dec!(-0.5)), dec!(-0.005));
        let tiny = Decimal::new(1, 28);
        assert_eq!(div100(tiny), tiny / Decimal::ONE_HUNDRED);
        assert_eq!(floor_to_step(dec!(-0.005), dec!(0.01)), dec!(-0.01));
    }

    #[test]
    fn kopecks_round_trip() {
        assert_eq!(Money::from_kopecks(28997).to_string(), "289.97");
        assert_eq!("289.97".parse::<Money>().unwrap().kopecks(), 28997);
    }
}
