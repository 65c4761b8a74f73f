//! Masking of personal identifiers (phone numbers, card numbers, scanned codes) for `Debug`,
//! `Display`, log lines and error messages.
//!
//! SPEC §7 forbids a phone number, card number or QR payload from ever reaching a log line or
//! a panic message, and `Debug` is exactly what `tracing` and `unwrap` print. So the identifier
//! types of `domain` render themselves through these helpers, and their errors describe the
//! problem with a [`CharClass`] and counts instead of quoting the input.
//!
//! Pure string functions: this module never does IO and never logs.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};

/// Replaces every ASCII digit of `s` with `*`, except the last `keep_tail` digits.
///
/// Characters other than ASCII digits are kept so the masked text still has the shape the
/// reader recognises (`+* *** ***-**-89`). At most half of the digits are ever revealed,
/// whatever `keep_tail` says, so that a short identifier is never effectively printed whole.
///
/// ```
/// use bonuskassa::domain::masked::mask_digits;
/// assert_eq!(mask_digits("+7 912 345-67-89", 2), "+* *** ***-**-89");
/// assert_eq!(mask_digits("1234", 4), "**34");
/// ```
pub fn mask_digits(s: &str, keep_tail: usize) -> String {
    let total = s.bytes().filter(u8::is_ascii_digit).count();
    let keep = keep_tail.min(total / 2);
    let mut seen = 0;
    s.chars()
        .map(|c| {
            if c.is_ascii_digit() {
                seen += 1;
                if seen > total - keep { c } else { '*' }
            } else {
                c
            }
        })
        .collect()
}

/// Renders `s` as four stars followed by its last `keep_tail` digits (`****7890`).
///
/// The star run has a fixed width so the mask does not reveal the length of the identifier;
/// as with [`mask_digits`], no more than half of the digits are shown. Non-digit characters
/// are dropped because the result is meant for identifiers that are stored as digits only.
///
/// ```
/// use bonuskassa::domain::masked::mask_tail;
/// assert_eq!(mask_tail("2900000007890", 4), "****7890");
/// assert_eq!(mask_tail("123456", 4), "****456");
/// ```
pub fn mask_tail(s: &str, keep_tail: usize) -> String {
    let digits: Vec<char> = s.chars().filter(char::is_ascii_digit).collect();
    let keep = keep_tail.min(digits.len() / 2);
    let mut out = String::with_capacity(4 + keep);
    out.push_str("****");
    out.extend(&digits[digits.len() - keep..]);
    out
}

/// What kind of character an input contained where it should not, so that an error can name
/// the problem ("contains a letter at position 5") without quoting the personal data around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CharClass {
    /// Any alphabetic character, Latin or Cyrillic (a scanner in the wrong keyboard layout).
    Letter,
    /// A digit from outside `0-9`, e.g. full-width or Arabic-Indic digits.
    NonAsciiDigit,
    /// A whitespace character in a place where whitespace is not allowed.
    Whitespace,
    /// A control character (scanner framing bytes, escape sequences).
    Control,
    /// Punctuation, symbols, emoji and everything else.
    Symbol,
}

impl CharClass {
    /// Classifies one character.
    pub fn of(c: char) -> CharClass {
        if c.is_alphabetic() {
            CharClass::Letter
        } else if c.is_numeric() {
            CharClass::NonAsciiDigit
        } else if c.is_whitespace() {
            CharClass::Whitespace
        } else if c.is_control() {
            CharClass::Control
        } else {
            CharClass::Symbol
        }
    }
}

impl fmt::Display for CharClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CharClass::Letter => "a letter",
            CharClass::NonAsciiDigit => "a digit other than 0-9",
            CharClass::Whitespace => "a whitespace character",
            CharClass::Control => "a control character",
            CharClass::Symbol => "a symbol or punctuation mark",
        })
    }
}

/// Deserializes a string and validates it with `parse`, without ever putting the input into
/// the error.
///
/// serde's stock "invalid type" errors quote the offending value (`integer `79123456789``),
/// which would leak a phone number sent as a JSON number into a log line; every such path is
/// answered here with a message that names only the expected shape. That needs
/// `deserialize_any`, because serde_json answers `deserialize_str` on a number with the
/// quoting error itself, without asking the visitor; so these types deserialize only from
/// self-describing formats (JSON, TOML), which is all the project uses.
pub(crate) fn deserialize_validated<'de, D, T, E, F>(
    deserializer: D,
    expecting: &'static str,
    parse: F,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    E: fmt::Display,
    F: FnOnce(&str) -> Result<T, E>,
{
    deserializer.deserialize_any(ValidatingVisitor { expecting, parse })
}

struct ValidatingVisitor<F> {
    expecting: &'static str,
    parse: F,
}

impl<F> ValidatingVisitor<F> {
    fn not_a_string<Er: de::Error>(&self, found: &str) -> Er {
        Er::custom(format_args!(
            "expected {} as a string, found {found}",
            self.expecting
        ))
    }
}

impl<'de, T, E, F> Visitor<'de> for ValidatingVisitor<F>
where
    E: fmt::Display,
    F: FnOnce(&str) -> Result<T, E>,
{
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} as a string", self.expecting)
    }

    fn visit_str<Er: de::Error>(self, v: &str) -> Result<T, Er> {
        (self.parse)(v).map_err(Er::custom)
    }

    fn visit_bytes<Er: de::Error>(self, v: &[u8]) -> Result<T, Er> {
        match std::str::from_utf8(v) {
            Ok(s) => self.visit_str(s),
            Err(_) => Err(Er::custom(format_args!(
                "{} is not valid UTF-8",
                self.expecting
            ))),
        }
    }

    fn visit_char<Er: de::Error>(self, v: char) -> Result<T, Er> {
        self.visit_str(v.encode_utf8(&mut [0; 4]))
    }

    fn visit_bool<Er: de::Error>(self, _: bool) -> Result<T, Er> {
        Err(self.not_a_string("a boolean"))
    }

    fn visit_i64<Er: de::Error>(self, _: i64) -> Result<T, Er> {
        Err(self.not_a_string("a number"))
    }

    fn visit_u64<Er: de::Error>(self, _: u64) -> Result<T, Er> {
        Err(self.not_a_string("a number"))
    }

    fn visit_i128<Er: de::Error>(self, _: i128) -> Result<T, Er> {
        Err(self.not_a_string("a number"))
    }

    fn visit_u128<Er: de::Error>(self, _: u128) -> Result<T, Er> {
        Err(self.not_a_string("a number"))
    }

    fn visit_f64<Er: de::Error>(self, _: f64) -> Result<T, Er> {
        Err(self.not_a_string("a number"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_digits_keeps_shape_and_tail() {
        assert_eq!(mask_digits("+7 912 345-67-89", 2), "+* *** ***-**-89");
        assert_eq!(mask_digits("+79123456789", 2), "+*********89");
        assert_eq!(mask_digits("no digits", 3), "no digits");
        assert_eq!(mask_digits("", 3), "");
    }

    #[test]
    fn mask_digits_never_reveals_more_than_half() {
        assert_eq!(mask_digits("12", 2), "*2");
        assert_eq!(mask_digits("1", 1), "*");
        assert_eq!(mask_digits("123456", 100), "***456");
        assert_eq!(mask_digits("123456", 0), "******");
    }

    #[test]
    fn mask_tail_hides_length() {
        assert_eq!(mask_tail("2900000007890", 4), "****7890");
        assert_eq!(mask_tail("96385074", 4), "****5074");
        assert_eq!(mask_tail("1234", 4), "****34");
        assert_eq!(mask_tail("7", 4), "****");
        assert_eq!(mask_tail("", 4), "****");
    }

    #[test]
    fn char_classes() {
        assert_eq!(CharClass::of('a'), CharClass::Letter);
        assert_eq!(CharClass::of('ж'), CharClass::Letter);
        assert_eq!(CharClass::of('٣'), CharClass::NonAsciiDigit);
        assert_eq!(CharClass::of('５'), CharClass::NonAsciiDigit);
        assert_eq!(CharClass::of('\u{2003}'), CharClass::Whitespace);
        assert_eq!(CharClass::of('\u{1b}'), CharClass::Control);
        assert_eq!(CharClass::of('#'), CharClass::Symbol);
        assert_eq!(CharClass::of('😀'), CharClass::Symbol);
        assert_eq!(CharClass::Letter.to_string(), "a letter");
    }

    #[derive(Debug)]
    struct Secret;

    impl<'de> serde::Deserialize<'de> for Secret {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            deserialize_validated(d, "secret", |s| {
                if s == "ok" {
                    Ok(Secret)
                } else {
                    Err("secret is wrong")
                }
            })
        }
    }

    #[test]
    fn deserialize_errors_never_quote_the_value() {
        assert!(serde_json::from_str::<Secret>("\"ok\"").is_ok());
        for json in [
            "\"79123456789\"",
            "79123456789",
            "-79123456789",
            "7.9123456789",
            "true",
        ] {
            let err = serde_json::from_str::<Secret>(json)
                .unwrap_err()
                .to_string();
            assert!(!err.contains("7912"), "{err}");
            assert!(err.contains("secret"), "{err}");
        }
    }
}
