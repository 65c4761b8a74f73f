//! Russian phone numbers: parsing every spelling a cashier or a customer uses into E.164
//! (`+7XXXXXXXXXX`), and the "+7 mask" of the on-screen keypad.
//!
//! A [`Phone`] is personal data: its `Debug` and `Display` are masked, errors never quote the
//! input, and the raw number is only reachable through [`Phone::as_e164`],
//! [`Phone::national`] and [`Phone::formatted`] (for the screen the cashier typed it on).
//! Pure code: nothing here does IO or logs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

use super::masked::{CharClass, deserialize_validated};

/// Longer input is refused before looking at it: no real spelling of a Russian number comes
/// close, and a bound keeps a pasted novel from being scanned.
pub const MAX_INPUT_CHARS: usize = 64;

/// Digits of a Russian number after the country code.
pub const NATIONAL_DIGITS: usize = 10;

/// Why a text is not a Russian phone number. Messages name the problem, never the digits.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PhoneError {
    #[error("phone number is empty")]
    Empty,
    #[error("phone number input is longer than {max} characters", max = MAX_INPUT_CHARS)]
    TooLong,
    #[error(
        "phone number contains {class} at position {position}; only digits, spaces, brackets, \
         dots, dashes and a leading + are allowed"
    )]
    InvalidCharacter { class: CharClass, position: usize },
    #[error("a + may only stand once, at the start of a phone number")]
    PlusNotAtStart,
    #[error(
        "phone number has {found} digits, expected {expected} after the country code",
        expected = NATIONAL_DIGITS
    )]
    WrongDigitCount { found: usize },
    #[error("phone number is not Russian: the country code must be +7")]
    WrongCountryCode,
    #[error(
        "phone number is outside the Russian numbering plan: after +7 it must start with 3, 4, \
         9 or 80-87"
    )]
    NotRussianRange,
}

/// A validated Russian phone number, stored as E.164 (`+79123456789`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Phone {
    e164: String,
}

impl Phone {
    /// Parses any Russian spelling: `8 (912) 345-67-89`, `+7 912 345 67 89`, `7 912 3456789`,
    /// `9123456789`, `+7(912)345-67-89`, with dots, tabs, NBSP and similar separators.
    ///
    /// Separators (whitespace, invisible formatting characters, `-` and the Unicode dashes,
    /// `.`, `(`, `)`) are ignored wherever they stand, brackets need not balance: the cashier
    /// needs the number, not a lesson in typography. Letters, other symbols and a `+` after
    /// the first digit are refused, and so are numbers outside the Russian ranges (3, 4,
    /// 80-87, 9 after the country code).
    pub fn parse(input: &str) -> Result<Phone, PhoneError> {
        if input.chars().nth(MAX_INPUT_CHARS).is_some() {
            return Err(PhoneError::TooLong);
        }
        // At most MAX_INPUT_CHARS digits fit, so a fixed buffer is enough.
        let mut digits = [0u8; MAX_INPUT_CHARS];
        let mut count = 0;
        let mut plus = false;
        for (index, c) in input.chars().enumerate() {
            if c.is_ascii_digit() {
                digits[count] = c as u8;
                count += 1;
            } else if c == '+' {
                if plus || count > 0 {
                    return Err(PhoneError::PlusNotAtStart);
                }
                plus = true;
            } else if !is_phone_separator(c) {
                return Err(PhoneError::InvalidCharacter {
                    class: CharClass::of(c),
                    position: index + 1,
                });
            }
        }
        if count == 0 {
            return Err(if plus {
                PhoneError::WrongDigitCount { found: 0 }
            } else {
                PhoneError::Empty
            });
        }
        let national = national_digits(&digits[..count], plus)?;
        let mut e164 = String::with_capacity(2 + NATIONAL_DIGITS);
        e164.push_str("+7");
        e164.extend(national.iter().map(|&d| char::from(d)));
        Ok(Phone { e164 })
    }

    /// The number in E.164, `+79123456789`. The only way to the full raw number: for the
    /// server API and keyed hashes, never for logs.
    pub fn as_e164(&self) -> &str {
        &self.e164
    }

    /// The ten digits after the country code, `9123456789`.
    pub fn national(&self) -> &str {
        &self.e164[2..]
    }

    /// The number with all but its last two digits hidden, `+7 *** ***-**-89`: for logs,
    /// caches and screens that only need to confirm which customer this is.
    pub fn masked(&self) -> String {
        format!("+7 *** ***-**-{}", &self.national()[8..])
    }

    /// The full number spaced for reading, `+7 912 345-67-89`: only for the screen where the
    /// cashier typed it and must check it before sending an SMS code.
    pub fn formatted(&self) -> String {
        let n = self.national();
        format!("+7 {} {}-{}-{}", &n[..3], &n[3..6], &n[6..8], &n[8..])
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({})", self.masked())
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl FromStr for Phone {
    type Err = PhoneError;

    fn from_str(s: &str) -> Result<Phone, PhoneError> {
        Phone::parse(s)
    }
}

impl Serialize for Phone {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.e164)
    }
}

impl<'de> Deserialize<'de> for Phone {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Phone, D::Error> {
        deserialize_validated(deserializer, "phone number", Phone::parse)
    }
}

/// Characters a phone number may carry between its digits; the scanner uses the same set to
/// tell digit-like payloads from text.
pub(crate) fn is_phone_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '-' | '.'
                | '('
                | ')'
                // Hyphens and dashes that word processors and phones substitute for '-'.
                | '\u{2010}'..='\u{2015}'
                | '\u{2212}'
                // Invisible characters that ride along when a number is copied from a web page.
                | '\u{00AD}'
                | '\u{200B}'..='\u{200D}'
                | '\u{2060}'
                | '\u{FEFF}'
        )
}

/// Turns the digits of the input into the ten national digits, or names what is wrong.
///
/// Russian national numbers start with 3 or 4 (geographic), 80 (toll-free and other
/// non-geographic), 81-87 (geographic) or 9 (mobile); +7 6xx/7xx is Kazakhstan, which shares
/// the country code, and is refused as not Russian.
///
/// Without a `+` a leading 7 or 8 is the country code or the domestic trunk prefix when there
/// are eleven digits. Ten digits are national, except that no Russian national number starts
/// with 7, 88 or 89: those are a prefix followed by nine digits, i.e. a digit is missing, and
/// saying so helps the cashier more than "not a Russian range".
fn national_digits(digits: &[u8], plus: bool) -> Result<&[u8], PhoneError> {
    let first = digits[0];
    let second = digits.get(1).copied();
    let national = if plus {
        if first != b'7' {
            return Err(PhoneError::WrongCountryCode);
        }
        &digits[1..]
    } else {
        match (digits.len(), first, second) {
            (10, b'7', _) | (10, b'8', Some(b'8' | b'9')) => {
                return Err(PhoneError::WrongDigitCount { found: 9 });
            }
            (10, ..) => digits,
            (_, b'7' | b'8', _) => &digits[1..],
            // Starts like a national number, so the count is what is wrong, not the country.
            (n, b'3' | b'4' | b'9', _) => {
                return Err(PhoneError::WrongDigitCount { found: n });
            }
            (n, ..) if n >= 11 => return Err(PhoneError::WrongCountryCode),
            (n, ..) => return Err(PhoneError::WrongDigitCount { found: n }),
        }
    };
    if national.len() != NATIONAL_DIGITS {
        return Err(PhoneError::WrongDigitCount {
            found: national.len(),
        });
    }
    match (national[0], national[1]) {
        (b'3' | b'4' | b'9', _) | (b'8', b'0'..=b'7') => Ok(national),
        _ => Err(PhoneError::NotRussianRange),
    }
}

/// The state of the on-screen keypad behind the "+7 (___) ___-__-__" mask: the national
/// digits the cashier has typed so far.
///
/// Cashiers type a number the way they say it, often starting with 8 or 7. The keypad keeps
/// only what can begin a Russian national number (3, 4, 8, 9): a leading 7 is swallowed, and
/// a leading 8 followed by 8 or 9 is taken for the trunk prefix and replaced, so `8 912…`
/// becomes `912…` while `8 800…` and `812…` stay as typed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct PhoneInput {
    national: String,
}

impl PhoneInput {
    /// An empty keypad.
    pub fn new() -> PhoneInput {
        PhoneInput::default()
    }

    /// The keypad after the cashier pressed these keys in order; anything but `0-9` is
    /// ignored, as on the keypad itself.
    pub fn from_typed(keys: &str) -> PhoneInput {
        let mut input = PhoneInput::new();
        for c in keys.chars() {
            input.push_digit(c);
        }
        input
    }

    /// Handles one key press; returns whether the shown digits changed.
    pub fn push_digit(&mut self, key: char) -> bool {
        if !key.is_ascii_digit() || self.is_complete() {
            return false;
        }
        match (self.national.as_str(), key) {
            ("", '3' | '4' | '8' | '9') => {}
            ("", _) => return false,
            ("8", '8' | '9') => {
                self.national.clear();
            }
            _ => {}
        }
        self.national.push(key);
        true
    }

    /// Removes the last digit; returns whether there was one.
    pub fn backspace(&mut self) -> bool {
        self.national.pop().is_some()
    }

    /// Empties the keypad.
    pub fn clear(&mut self) {
        self.national.clear();
    }

    /// The national digits typed so far. Raw personal data: for the input screen only.
    pub fn digits(&self) -> &str {
        &self.national
    }

    /// Whether all ten national digits are there.
    pub fn is_complete(&self) -> bool {
        self.national.len() == NATIONAL_DIGITS
    }

    /// The mask filled so far, `+7 (912) 34_-__-__`. Shows the typed digits: for the keypad
    /// screen only.
    pub fn screen_text(&self) -> String {
        let mut slots = self.national.chars().chain(std::iter::repeat('_'));
        let mut out = String::with_capacity(18);
        out.push_str("+7 (");
        for (sep, width) in ["", ") ", "-", "-"].into_iter().zip([3, 3, 2, 2]) {
            out.push_str(sep);
            out.extend(slots.by_ref().take(width));
        }
        out
    }

    /// The typed number as a [`Phone`], or why it is not one yet.
    pub fn to_phone(&self) -> Result<Phone, PhoneError> {
        Phone::parse(&self.national)
    }
}

impl fmt::Debug for PhoneInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PhoneInput")
            .field("typed_digits", &self.national.len())
            .finish()
    }
}

/// The keypad mask for these key presses, `+7 (9__) ___-__-__`; see [`PhoneInput`] for how a
/// leading 7 or 8 is handled.
pub fn format_partial(digits: &str) -> String {
    PhoneInput::from_typed(digits).screen_text()
}

#[cfg(test)]
mod tests {
    use super::*;

    const E: &str = "+79123456789";

    fn ok(input: &str, e164: &str) {
        match Phone::parse(input) {
            Ok(p) => assert_eq!(p.as_e164(), e164, "input {input:?}"),
            Err(e) => panic!("input {input:?} refused: {e}"),
        }
    }

    fn err(input: &str, expected: PhoneError) {
        assert_eq!(Phone::parse(input), Err(expected), "input {input:?}");
    }

    #[test]
    fn accepts_every_russian_spelling() {
        let table: &[(&str, &str)] = &[
            ("8 (912) 345-67-89", E),
            ("+7 912 345 67 89", E),
            ("7 912 3456789", E),
            ("9123456789", E),
            ("+7(912)345-67-89", E),
            ("+79123456789", E),
            ("89123456789", E),
            ("79123456789", E),
            ("8-912-345-67-89", E),
            ("8.912.345.67.89", E),
            ("+7.912.345.67.89", E),
            ("\t+7\t912\t345\t67\t89\t", E),
            ("\u{a0}8\u{a0}912\u{a0}345\u{a0}67\u{a0}89\u{a0}", E),
            ("+7\u{202f}912\u{202f}345\u{2011}67\u{2011}89", E),
            ("  9123456789  \r\n", E),
            ("912-345-67-89", E),
            ("(912) 345 67 89", E),
            ("+7 (912) 345–67–89", E),
            ("8 (912) 345−67−89", E),
            ("+ 7 912 345 67 89", E),
            ("(+7) 912 345 67 89", E),
            ("8 (912 345-67-89", E),
            ("\u{feff}+79123456789\u{200b}", E),
            ("8 (812) 123-45-67", "+78121234567"),
            ("+7 495 123-45-67", "+74951234567"),
            ("4951234567", "+74951234567"),
            ("8 800 555-35-35", "+78005553535"),
            ("+7 343 123 45 67", "+73431234567"),
            ("3431234567", "+73431234567"),
            ("8 3431234567", "+73431234567"),
        ];
        for (input, e164) in table {
            ok(input, e164);
        }
    }

    #[test]
    fn refuses_everything_else() {
        use PhoneError::*;
        let table: Vec<(&str, PhoneError)> = vec![
            ("", Empty),
            ("   \t ", Empty),
            ("-().", Empty),
            ("+", WrongDigitCount { found: 0 }),
            ("+7", WrongDigitCount { found: 0 }),
            ("912345678", WrongDigitCount { found: 9 }),
            ("8 912 345 67 8", WrongDigitCount { found: 9 }),
            ("8912345678", WrongDigitCount { found: 9 }),
            ("7912345678", WrongDigitCount { found: 9 }),
            ("+7 912 345 67 8", WrongDigitCount { found: 9 }),
            ("+7 912 345 67 890", WrongDigitCount { found: 11 }),
            ("8 912 345 67 890", WrongDigitCount { found: 11 }),
            ("91234567890", WrongDigitCount { found: 11 }),
            ("1", WrongDigitCount { found: 1 }),
            ("+1 212 555 1234", WrongCountryCode),
            ("+380 44 123 4567", WrongCountryCode),
            ("+8 912 345 67 89", WrongCountryCode),
            ("+49 30 1234567", WrongCountryCode),
            ("12125551234", WrongCountryCode),
            ("+7 712 345 67 89", NotRussianRange),
            ("+7 612 345 67 89", NotRussianRange),
            ("+7 012 345 67 89", NotRussianRange),
            ("1234567890", NotRussianRange),
            ("5123456789", NotRussianRange),
            ("+7 891 234 56 78", NotRussianRange),
            ("8 891 234 56 78", NotRussianRange),
            ("7+9123456789", PlusNotAtStart),
            ("++79123456789", PlusNotAtStart),
            ("8 912 345 67 89+", PlusNotAtStart),
            (
                "8 912 345 67 8O",
                InvalidCharacter {
                    class: CharClass::Letter,
                    position: 15,
                },
            ),
            (
                "тел. 89123456789",
                InvalidCharacter {
                    class: CharClass::Letter,
                    position: 1,
                },
            ),
            (
                "8/912/3456789",
                InvalidCharacter {
                    class: CharClass::Symbol,
                    position: 2,
                },
            ),
            (
                "８９１２３４５６７８９",
                InvalidCharacter {
                    class: CharClass::NonAsciiDigit,
                    position: 1,
                },
            ),
            (
                "8912\u{1b}3456789",
                InvalidCharacter {
                    class: CharClass::Control,
                    position: 5,
                },
            ),
            (
                "+7 (912) 345-67-8_",
                InvalidCharacter {
                    class: CharClass::Symbol,
                    position: 18,
                },
            ),
        ];
        for (input, expected) in table {
            err(input, expected);
        }
        let long = format!("{}{}", " ".repeat(60), "9123456789");
        err(&long, TooLong);
        err(&"9".repeat(10_000), TooLong);
        // 64 characters is still allowed.
        ok(&format!("{}{}", " ".repeat(54), "9123456789"), E);
    }

    #[test]
    fn errors_name_the_problem_without_the_digits() {
        for input in [
            "8 912 345 67 8",
            "+380 91 234 5678",
            "8 912 345 67 8X",
            "+7 712 345 67 89",
        ] {
            let message = Phone::parse(input).unwrap_err().to_string();
            assert!(!message.contains("345"), "{message}");
            assert!(message.starts_with("phone number") || message.starts_with("a +"));
        }
        assert_eq!(
            PhoneError::WrongDigitCount { found: 9 }.to_string(),
            "phone number has 9 digits, expected 10 after the country code"
        );
    }

    #[test]
    fn accessors_and_masking() {
        let p = Phone::parse("8 (912) 345-67-89").unwrap();
        assert_eq!(p.as_e164(), "+79123456789");
        assert_eq!(p.national(), "9123456789");
        assert_eq!(p.masked(), "+7 *** ***-**-89");
        assert_eq!(p.formatted(), "+7 912 345-67-89");
        assert_eq!(p.to_string(), "+7 *** ***-**-89");
        assert_eq!(format!("{p:?}"), "Phone(+7 *** ***-**-89)");
        assert_eq!(format!("{:?}", Some(&p)), "Some(Phone(+7 *** ***-**-89))");
        assert_eq!("+79123456789".parse::<Phone>(), Ok(p));
    }

    #[test]
    fn serde_is_e164_and_validates() {
        let p = Phone::parse("89123456789").unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"+79123456789\"");
        assert_eq!(
            serde_json::from_str::<Phone>("\"+79123456789\"").unwrap(),
            p
        );
        assert_eq!(
            serde_json::from_str::<Phone>("\"8 912 345-67-89\"").unwrap(),
            p
        );
        for bad in [
            "\"+7912345678\"",
            "79123456789",
            "\"+1 212 555 1234\"",
            "null",
        ] {
            let e = serde_json::from_str::<Phone>(bad).unwrap_err().to_string();
            assert!(!e.contains("912"), "{e}");
        }
    }

    #[test]
    fn keypad_mask_fills_progressively() {
        let table = [
            ("", "+7 (___) ___-__-__"),
            ("9", "+7 (9__) ___-__-__"),
            ("912", "+7 (912) ___-__-__"),
            ("9123", "+7 (912) 3__-__-__"),
            ("912345", "+7 (912) 345-__-__"),
            ("9123456", "+7 (912) 345-6_-__"),
            ("91234567", "+7 (912) 345-67-__"),
            ("9123456789", "+7 (912) 345-67-89"),
            ("912345678900", "+7 (912) 345-67-89"),
            ("89123456789", "+7 (912) 345-67-89"),
            ("79123456789", "+7 (912) 345-67-89"),
            ("8", "+7 (8__) ___-__-__"),
            ("88005553535", "+7 (800) 555-35-35"),
            ("8005553535", "+7 (800) 555-35-35"),
            ("8121234567", "+7 (812) 123-45-67"),
            ("0", "+7 (___) ___-__-__"),
            ("+7 (912) 345", "+7 (912) 345-__-__"),
        ];
        for (keys, shown) in table {
            assert_eq!(format_partial(keys), shown, "keys {keys:?}");
        }
    }

    #[test]
    fn keypad_state() {
        let mut input = PhoneInput::new();
        assert!(!input.push_digit('7'));
        assert!(input.push_digit('8'));
        assert!(input.push_digit('9'));
        assert_eq!(input.digits(), "9");
        for key in "123456789".chars() {
            assert!(input.push_digit(key));
        }
        assert!(input.is_complete());
        assert!(!input.push_digit('0'));
        assert_eq!(input.to_phone().unwrap().as_e164(), E);
        assert_eq!(format!("{input:?}"), "PhoneInput { typed_digits: 10 }");
        assert!(input.backspace());
        assert_eq!(
            input.to_phone(),
            Err(PhoneError::WrongDigitCount { found: 9 })
        );
        input.clear();
        assert!(!input.backspace());
        assert_eq!(input.to_phone(), Err(PhoneError::Empty));
    }
}
