//! Loyalty card numbers: the configured number formats of a loyalty program (EAN-13, EAN-8 or
//! a custom prefix/length/check digit), validation of typed or scanned numbers, refusal of
//! anything that looks like a bank card, and generation of virtual card numbers.
//!
//! A [`CardNumber`] is personal data: `Debug` and `Display` show `****7890`, errors never
//! quote the input, and the raw digits are only reachable through [`CardNumber::as_str`].
//! A bank-card-like number never becomes a `CardNumber` at all, so it cannot be stored.
//! Pure code: nothing here does IO or logs; randomness comes from the caller's `Rng`.

use std::fmt;

use rand::Rng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

use super::masked::{CharClass, deserialize_validated, mask_tail};

/// Longer input is refused before looking at it; a typed or scanned card number with
/// separators stays far below this.
pub const MAX_INPUT_CHARS: usize = 64;

/// The longest card number any format may configure.
pub const MAX_DIGITS: usize = 32;

/// The shortest custom card number: fewer digits would be guessable at the till.
pub const MIN_CUSTOM_DIGITS: usize = 4;

/// Digits revealed by the mask: as many as a printed receipt shows of a bank card.
const MASK_TAIL: usize = 4;

/// Why a text is not a card number of this program. Messages never quote the digits.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CardError {
    #[error("card number is empty")]
    Empty,
    #[error(
        "card number is too long (more than {chars} characters or {digits} digits)",
        chars = MAX_INPUT_CHARS,
        digits = MAX_DIGITS
    )]
    TooLong,
    #[error(
        "card number contains {class} at position {position}; only digits, spaces and dashes \
         are allowed"
    )]
    InvalidCharacter { class: CharClass, position: usize },
    #[error(
        "this looks like a bank card number; bank cards cannot be used as loyalty cards and are \
         not stored"
    )]
    BankCardLike,
    #[error("card number has {found} digits, which no card format of this program allows")]
    WrongLength { found: usize },
    #[error("card number does not start with a prefix of this loyalty program")]
    WrongPrefix,
    #[error("card number has a wrong check digit; it was probably mistyped or misread")]
    WrongCheckDigit,
    #[error("no card number format is configured for this loyalty program")]
    NoFormats,
}

/// Why a configured card format or virtual-card prefix cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CardFormatError {
    #[error(
        "custom card format length {length} is outside {min}..={max} digits",
        min = MIN_CUSTOM_DIGITS,
        max = MAX_DIGITS
    )]
    LengthOutOfRange { length: usize },
    #[error("custom card format prefix must consist of digits 0-9")]
    PrefixNotDigits,
    #[error("custom card format prefix must be shorter than the card number")]
    PrefixTooLong,
    #[error(
        "custom card format with a Luhn check digit and 13 to 19 digits would only accept \
         numbers that look like bank cards, which are always refused"
    )]
    AlwaysBankCardLike,
    #[error(
        "virtual card prefix must be 1 to {max} digits starting with 2 (the in-store EAN-13 \
         range 20-29)",
        max = VirtualPrefix::MAX_LEN
    )]
    InvalidVirtualPrefix,
}

/// How the last digit of a custom card number is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckDigit {
    /// GS1 mod-10 with weights 3/1 from the right, as in EAN-13 and EAN-8.
    Ean,
    /// Luhn mod-10, as in bank cards.
    Luhn,
    /// No check digit.
    None,
}

/// A number format a loyalty program accepts for its cards ("configured number format").
///
/// Serialized for the rules file as `{ kind = "ean13" }` or
/// `{ kind = "custom", prefix = "77", length = 10, check_digit = "none" }`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CardFormat {
    /// 13 digits with a GS1 check digit.
    Ean13,
    /// 8 digits with a GS1 check digit.
    Ean8,
    /// A program's own numbering: a fixed prefix (may be empty), a total length counting
    /// the prefix and the check digit, and the check digit scheme.
    Custom {
        prefix: String,
        length: usize,
        check_digit: CheckDigit,
    },
}

/// How a number failed one format, ordered from least to most specific so that the most
/// helpful complaint over all configured formats is the one reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Mismatch {
    Length,
    Prefix,
    CheckDigit,
}

impl CardFormat {
    /// The formats a program has unless it configures others: EAN-13 and EAN-8.
    pub fn default_formats() -> Vec<CardFormat> {
        vec![CardFormat::Ean13, CardFormat::Ean8]
    }

    /// Checks that a format from the rules file can accept any number at all; call when the
    /// rules are loaded so a typo fails there and not at the till.
    pub fn validate(&self) -> Result<(), CardFormatError> {
        let CardFormat::Custom {
            prefix,
            length,
            check_digit,
        } = self
        else {
            return Ok(());
        };
        if !(MIN_CUSTOM_DIGITS..=MAX_DIGITS).contains(length) {
            return Err(CardFormatError::LengthOutOfRange { length: *length });
        }
        if !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CardFormatError::PrefixNotDigits);
        }
        if prefix.len() >= *length {
            return Err(CardFormatError::PrefixTooLong);
        }
        if *check_digit == CheckDigit::Luhn && (13..=19).contains(length) {
            return Err(CardFormatError::AlwaysBankCardLike);
        }
        Ok(())
    }

    /// Whether `digits` (ASCII digits only) is a number of this format.
    fn check(&self, digits: &str) -> Result<(), Mismatch> {
        let (prefix, length, check_digit) = match self {
            CardFormat::Ean13 => ("", 13, CheckDigit::Ean),
            CardFormat::Ean8 => ("", 8, CheckDigit::Ean),
            CardFormat::Custom {
                prefix,
                length,
                check_digit,
            } => (prefix.as_str(), *length, *check_digit),
        };
        if digits.len() != length {
            return Err(Mismatch::Length);
        }
        if !digits.starts_with(prefix) {
            return Err(Mismatch::Prefix);
        }
        let valid = match check_digit {
            CheckDigit::Ean => ean_valid(digits),
            CheckDigit::Luhn => luhn_valid(digits),
            CheckDigit::None => true,
        };
        if valid {
            Ok(())
        } else {
            Err(Mismatch::CheckDigit)
        }
    }
}

/// A loyalty card number: ASCII digits only, never bank-card-like.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CardNumber {
    digits: String,
}

impl CardNumber {
    /// Parses a typed or scanned card number against the program's formats.
    ///
    /// Spaces and dashes are dropped, anything else but digits is refused. A bank-card-like
    /// number (see [`looks_like_bank_card`]) is refused first, before any format is tried, so
    /// the cashier is told why even when no format would have matched. Otherwise the number
    /// must satisfy one of `formats`; if none does, the most specific complaint wins (wrong
    /// check digit over wrong prefix over wrong length).
    pub fn parse(input: &str, formats: &[CardFormat]) -> Result<CardNumber, CardError> {
        if input.chars().nth(MAX_INPUT_CHARS).is_some() {
            return Err(CardError::TooLong);
        }
        let mut digits = String::with_capacity(input.len());
        for (index, c) in input.chars().enumerate() {
            if c.is_ascii_digit() {
                digits.push(c);
            } else if !is_card_separator(c) {
                return Err(CardError::InvalidCharacter {
                    class: CharClass::of(c),
                    position: index + 1,
                });
            }
        }
        if digits.is_empty() {
            return Err(CardError::Empty);
        }
        if looks_like_bank_card(&digits) {
            return Err(CardError::BankCardLike);
        }
        let mut worst: Option<Mismatch> = None;
        for format in formats {
            match format.check(&digits) {
                Ok(()) => return Ok(CardNumber { digits }),
                Err(m) => worst = worst.max(Some(m)),
            }
        }
        Err(match worst {
            None => CardError::NoFormats,
            Some(Mismatch::Length) => CardError::WrongLength {
                found: digits.len(),
            },
            Some(Mismatch::Prefix) => CardError::WrongPrefix,
            Some(Mismatch::CheckDigit) => CardError::WrongCheckDigit,
        })
    }

    /// Restores a number that was validated earlier (database, queue, server reply).
    ///
    /// Checks only what holds for every card number whatever the program's formats: 1 to
    /// [`MAX_DIGITS`] ASCII digits, no separators, not bank-card-like. The formats are not
    /// applied because a program may change them after cards were issued, and refusing to
    /// load a queued operation would lose it.
    pub fn from_stored(s: &str) -> Result<CardNumber, CardError> {
        if s.is_empty() {
            return Err(CardError::Empty);
        }
        if let Some((index, c)) = s.chars().enumerate().find(|(_, c)| !c.is_ascii_digit()) {
            return Err(CardError::InvalidCharacter {
                class: CharClass::of(c),
                position: index + 1,
            });
        }
        if s.len() > MAX_DIGITS {
            return Err(CardError::TooLong);
        }
        if looks_like_bank_card(s) {
            return Err(CardError::BankCardLike);
        }
        Ok(CardNumber {
            digits: s.to_owned(),
        })
    }

    /// The digits. The only way to the raw number: for the server API and keyed hashes,
    /// never for logs.
    pub fn as_str(&self) -> &str {
        &self.digits
    }

    /// The number as `****7890`, for logs, caches and confirmation screens.
    pub fn masked(&self) -> String {
        mask_tail(&self.digits, MASK_TAIL)
    }
}

impl fmt::Debug for CardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CardNumber({})", self.masked())
    }
}

impl fmt::Display for CardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl Serialize for CardNumber {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.digits)
    }
}

impl<'de> Deserialize<'de> for CardNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<CardNumber, D::Error> {
        deserialize_validated(deserializer, "card number", CardNumber::from_stored)
    }
}

fn is_card_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '-' | '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{00AD}' | '\u{200B}'..='\u{200D}'
                | '\u{2060}'
                | '\u{FEFF}'
        )
}

/// Whether `digits` must be refused as a possible bank card number (PAN).
///
/// SPEC §7: a Luhn-valid number of 13 to 19 digits is refused and never stored. One
/// exception: a 13-digit number starting with 2 that also carries a valid EAN check digit.
/// GS1 reserves EAN-13 prefixes 20-29 for in-store numbering, which is where loyalty cards
/// and our virtual cards live, and about one in ten of them is Luhn-valid by chance; refusing
/// those would turn away real customers. No bank issues such a PAN: 13-digit PANs were only
/// ever Visa (first digit 4), while the 2-series (Mir 2200-2204, Mastercard 2221-2720) is 16
/// digits or more. The same coincidence is NOT excused elsewhere: an EAN-13 from a GS1
/// company range (e.g. 460-469) or a custom 13-19 digit number that happens to be
/// Luhn-valid is refused, because there SPEC's rule and real PANs overlap.
pub fn looks_like_bank_card(digits: &str) -> bool {
    let len = digits.len();
    (13..=19).contains(&len)
        && luhn_valid(digits)
        && !(len == 13 && digits.starts_with('2') && ean_valid(digits))
}

/// Whether `digits` (ASCII digits only, at least two) passes the Luhn check.
pub fn luhn_valid(digits: &str) -> bool {
    digits.len() >= 2 && luhn_sum(digits).is_some_and(|sum| sum % 10 == 0)
}

/// The Luhn check digit to append to `body` (ASCII digits only).
pub fn luhn_check_digit(body: &str) -> Option<u8> {
    // Appending a 0 shifts the doubling onto the right digits; the sum then tells how far
    // from a multiple of ten the check digit has to move it.
    let mut with_zero = String::with_capacity(body.len() + 1);
    with_zero.push_str(body);
    with_zero.push('0');
    let sum = luhn_sum(&with_zero)?;
    Some(((10 - sum % 10) % 10) as u8)
}

fn luhn_sum(digits: &str) -> Option<u32> {
    let mut sum = 0;
    for (i, b) in digits.bytes().rev().enumerate() {
        if !b.is_ascii_digit() {
            return None;
        }
        let d = u32::from(b - b'0');
        sum += if i % 2 == 1 {
            if d > 4 { 2 * d - 9 } else { 2 * d }
        } else {
            d
        };
    }
    Some(sum)
}

/// The GS1 check digit (EAN-13, EAN-8, any GTIN length) to append to `body`: weights 3 and 1
/// alternating from the rightmost body digit. `None` unless `body` is non-empty ASCII digits.
pub fn ean_check_digit(body: &str) -> Option<u8> {
    if body.is_empty() {
        return None;
    }
    let mut sum = 0u32;
    for (i, b) in body.bytes().rev().enumerate() {
        if !b.is_ascii_digit() {
            return None;
        }
        let weight = if i % 2 == 0 { 3 } else { 1 };
        sum += weight * u32::from(b - b'0');
    }
    Some(((10 - sum % 10) % 10) as u8)
}

/// Whether `digits` ends with the right GS1 check digit.
pub fn ean_valid(digits: &str) -> bool {
    // Split on bytes: only an ASCII last character can be a check digit, and cutting before
    // it is then always a character boundary.
    match digits.as_bytes().split_last() {
        Some((&last, body)) if last.is_ascii_digit() => {
            std::str::from_utf8(body).ok().and_then(ean_check_digit) == Some(last - b'0')
        }
        _ => false,
    }
}

/// The leading digits of generated virtual card numbers, validated once when the rules are
/// loaded so that generation itself cannot fail at the till.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct VirtualPrefix(String);

impl VirtualPrefix {
    /// The in-store EAN-13 range used unless the program configures another prefix.
    pub const DEFAULT: &str = "29";
    /// Leaves at least two random digits before the check digit, which the generator needs
    /// to steer around Luhn-valid numbers.
    pub const MAX_LEN: usize = 10;

    /// Accepts 1 to [`Self::MAX_LEN`] digits starting with 2: generated numbers must stay in
    /// the GS1 in-store range, or they could collide with a manufacturer's product codes.
    pub fn new(prefix: &str) -> Result<VirtualPrefix, CardFormatError> {
        let valid = (1..=Self::MAX_LEN).contains(&prefix.len())
            && prefix.starts_with('2')
            && prefix.bytes().all(|b| b.is_ascii_digit());
        if valid {
            Ok(VirtualPrefix(prefix.to_owned()))
        } else {
            Err(CardFormatError::InvalidVirtualPrefix)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for VirtualPrefix {
    fn default() -> VirtualPrefix {
        VirtualPrefix(Self::DEFAULT.to_owned())
    }
}

impl TryFrom<String> for VirtualPrefix {
    type Error = CardFormatError;

    fn try_from(s: String) -> Result<VirtualPrefix, CardFormatError> {
        VirtualPrefix::new(&s)
    }
}

impl From<VirtualPrefix> for String {
    fn from(p: VirtualPrefix) -> String {
        p.0
    }
}

/// Generates a virtual card number: an EAN-13 with `prefix`, a random body and a correct
/// check digit, which is never Luhn-valid.
///
/// Such a number would pass [`looks_like_bank_card`] anyway thanks to the in-store
/// exception, but a number that no PAN detector (ours, a DLP scanner, a payment gateway) can
/// mistake for a card is worth the trouble. Raising the last body digit by one changes the
/// Luhn sum by -1 or +1 (mod 10) except once, so at most two of its ten values are
/// Luhn-valid and three tries always suffice; the outer loop only guards that argument.
pub fn generate_virtual(prefix: &VirtualPrefix, rng: &mut (impl Rng + ?Sized)) -> CardNumber {
    loop {
        let mut body: Vec<u8> = prefix.as_str().bytes().collect();
        while body.len() < 12 {
            body.push(b'0' + rng.random_range(0..10u8));
        }
        for _ in 0..10 {
            let mut digits = String::from_utf8_lossy(&body).into_owned();
            let check = ean_check_digit(&digits).unwrap_or(0);
            digits.push(char::from(b'0' + check));
            if !luhn_valid(&digits) {
                return CardNumber { digits };
            }
            body[11] = b'0' + (body[11] - b'0' + 1) % 10;
        }
    }
}

#[cfg(test)]
mod tests;
