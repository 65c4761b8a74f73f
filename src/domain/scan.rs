//! What a barcode scanner, a QR reader or a POS keyboard's card reader hands the till, turned
//! into a card number or a phone number to look the customer up by, or the fiscal document
//! of a sale receipt to find the sale by.
//!
//! The payload is untrusted bytes (SPEC §7: QR up to 512 bytes, a clear error, never a
//! panic). Errors name the problem and never quote the payload; `Debug` of the result is
//! masked. Pure code: no IO, no logging; URLs are taken apart by hand, never fetched.

use std::fmt;

use thiserror::Error;

use super::card::{CardError, CardFormat, CardNumber};
use super::fiscal::{FiscalData, FiscalError};
use super::phone::{Phone, PhoneError, is_phone_separator};

/// SPEC §7: longer payloads are refused unread.
pub const MAX_PAYLOAD_BYTES: usize = 512;

/// Query parameters of a loyalty link that carry the card number, compared ignoring case
/// because QR codes often upper-case URLs to fit the denser alphanumeric mode.
const CARD_QUERY_KEYS: [&str; 4] = ["card", "ean", "c", "code"];

/// A customer identifier read by a scanner.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ScanPayload {
    Card(CardNumber),
    Phone(Phone),
    /// A sale receipt's fiscal QR code (`t=…&s=…&fn=…&i=…&fp=…&n=1`): it names a sale, not
    /// a customer, and finds the sale for a return.
    Fiscal(Box<FiscalData>),
}

/// Why a scanned code identifies no customer. Messages never quote the payload.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ScanError {
    #[error("scanned code is empty")]
    Empty,
    #[error("scanned code is {len} bytes long, at most {max} are accepted", max = MAX_PAYLOAD_BYTES)]
    TooLong { len: usize },
    #[error("scanned code is not text (not valid UTF-8); check the scanner's encoding settings")]
    NotUtf8,
    #[error("scanned code is neither a loyalty card, a phone number nor a loyalty link")]
    Unrecognized,
    #[error("scanned link does not carry a card number")]
    UrlWithoutCard,
    #[error(transparent)]
    Card(#[from] CardError),
    #[error(transparent)]
    Phone(#[from] PhoneError),
    #[error(transparent)]
    Fiscal(#[from] FiscalError),
}

impl ScanPayload {
    /// Recognises a scanned payload, in this order:
    ///
    /// 1. `tel:` URI (any case, `;` parameters ignored) → phone;
    /// 2. `http://` / `https://` link → card number from the query parameter `card`, `ean`,
    ///    `c` or `code` (the first present and non-empty), else from the last path segment
    ///    when that is all digits;
    /// 3. magnetic stripe track 2 (`;digits=…?`, as POS keyboards with a card reader type
    ///    it) → card number from the account field; track 1 of a bank card (`%B…`) → refused
    ///    as bank-card-like;
    /// 4. bare digits with separators → a card number if it matches one of `formats`, else a
    ///    phone number. Cards go first because a scanner reads cards far more often than
    ///    phone numbers, and a bare 10/11-digit string becomes a card only when the program
    ///    configured such a format; a bank-card-like number is refused outright and never
    ///    retried as a phone.
    ///
    /// Before that, CR/LF, whitespace, control characters (scanner framing) and a UTF-8 BOM
    /// are trimmed from both ends.
    pub fn parse(bytes: &[u8], formats: &[CardFormat]) -> Result<ScanPayload, ScanError> {
        if bytes.len() > MAX_PAYLOAD_BYTES {
            return Err(ScanError::TooLong { len: bytes.len() });
        }
        let text = std::str::from_utf8(bytes).map_err(|_| ScanError::NotUtf8)?;
        let text =
            text.trim_matches(|c: char| c.is_whitespace() || c.is_control() || c == '\u{FEFF}');
        if text.is_empty() {
            return Err(ScanError::Empty);
        }
        if let Some(rest) = strip_prefix_ignore_case(text, "tel:") {
            return parse_tel(rest);
        }
        if looks_fiscal(text) {
            return Ok(ScanPayload::Fiscal(Box::new(FiscalData::from_qr(text)?)));
        }
        if strip_prefix_ignore_case(text, "http://").is_some()
            || strip_prefix_ignore_case(text, "https://").is_some()
        {
            return parse_url(text, formats);
        }
        if text.starts_with([';', '%']) {
            return parse_magstripe(text, formats);
        }
        parse_bare(text, formats)
    }

    pub fn as_card(&self) -> Option<&CardNumber> {
        match self {
            ScanPayload::Card(card) => Some(card),
            ScanPayload::Phone(_) | ScanPayload::Fiscal(_) => None,
        }
    }

    pub fn as_phone(&self) -> Option<&Phone> {
        match self {
            ScanPayload::Phone(phone) => Some(phone),
            ScanPayload::Card(_) | ScanPayload::Fiscal(_) => None,
        }
    }
}

impl fmt::Display for ScanPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScanPayload::Card(card) => write!(f, "card {card}"),
            ScanPayload::Phone(phone) => write!(f, "phone {phone}"),
            ScanPayload::Fiscal(fiscal) => {
                write!(
                    f,
                    "fiscal document {} of drive {}",
                    fiscal.fd, fiscal.fn_number
                )
            }
        }
    }
}

/// A fiscal QR code: `key=value` pairs joined by `&`, with the drive number among them.
fn looks_fiscal(text: &str) -> bool {
    text.contains('&') && text.split('&').any(|pair| pair.starts_with("fn="))
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then_some(&text[prefix.len()..])
}

fn parse_tel(rest: &str) -> Result<ScanPayload, ScanError> {
    // RFC 3966 puts parameters (extension, phone-context) after ';'; "tel://" is not
    // standard but generators produce it.
    let number = rest.split(';').next().unwrap_or_default();
    let number = number.strip_prefix("//").unwrap_or(number);
    let number = percent_decode(number, |b| b.is_ascii_digit() || b"+-(). ".contains(&b));
    Ok(ScanPayload::Phone(Phone::parse(&number)?))
}

fn parse_url(text: &str, formats: &[CardFormat]) -> Result<ScanPayload, ScanError> {
    let after_scheme = text.split_once("://").map_or("", |(_, rest)| rest);
    let before_fragment = after_scheme.split('#').next().unwrap_or_default();
    let (authority_and_path, query) = match before_fragment.split_once('?') {
        Some((head, query)) => (head, query),
        None => (before_fragment, ""),
    };
    for pair in query.split(['&', ';']) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if !CARD_QUERY_KEYS.iter().any(|k| key.eq_ignore_ascii_case(k)) {
            continue;
        }
        // In a query '+' stands for a space, which card numbers may contain as a separator.
        let value = percent_decode(&value.replace('+', " "), |b| b.is_ascii_digit());
        if value.trim().is_empty() {
            continue;
        }
        return Ok(ScanPayload::Card(CardNumber::parse(&value, formats)?));
    }
    let path = authority_and_path
        .split_once('/')
        .map_or("", |(_, path)| path);
    let segment = path
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default();
    let segment = percent_decode(segment, |b| b.is_ascii_digit());
    let digits_only = segment.bytes().any(|b| b.is_ascii_digit())
        && segment.bytes().all(|b| b.is_ascii_digit() || b == b'-');
    if digits_only {
        return Ok(ScanPayload::Card(CardNumber::parse(&segment, formats)?));
    }
    Err(ScanError::UrlWithoutCard)
}

/// Track 2 is `;PAN=expiry…?` (ISO/IEC 7813); loyalty cards with a stripe put their number
/// where a bank card has its PAN. Track 1 with format code `B` is a bank card by definition,
/// and its name field is personal data we do not want to read at all.
fn parse_magstripe(text: &str, formats: &[CardFormat]) -> Result<ScanPayload, ScanError> {
    if text.starts_with("%B") || text.starts_with("%b") {
        return Err(ScanError::Card(CardError::BankCardLike));
    }
    let Some(track) = text.strip_prefix(';') else {
        return Err(ScanError::Unrecognized);
    };
    let Some(end) = track.find('?') else {
        return Err(ScanError::Unrecognized);
    };
    let track = &track[..end];
    let account = track.split('=').next().unwrap_or_default();
    let well_formed = !account.is_empty() && track.bytes().all(|b| b.is_ascii_digit() || b == b'=');
    if !well_formed {
        return Err(ScanError::Unrecognized);
    }
    Ok(ScanPayload::Card(CardNumber::parse(account, formats)?))
}

fn parse_bare(text: &str, formats: &[CardFormat]) -> Result<ScanPayload, ScanError> {
    let digit_like = text
        .chars()
        .all(|c| c.is_ascii_digit() || c == '+' || is_phone_separator(c));
    if !digit_like {
        return Err(ScanError::Unrecognized);
    }
    // A '+' only ever starts a phone number, so such a text is not tried as a card.
    let card_error = if text.contains('+') {
        None
    } else {
        match CardNumber::parse(text, formats) {
            Ok(card) => return Ok(ScanPayload::Card(card)),
            Err(CardError::BankCardLike) => return Err(CardError::BankCardLike.into()),
            Err(error) => Some(error),
        }
    };
    let phone_error = match Phone::parse(text) {
        Ok(phone) => return Ok(ScanPayload::Phone(phone)),
        Err(error) => error,
    };
    // Both failed: report the complaint about what the text most resembles.
    let digits = text.bytes().filter(u8::is_ascii_digit).count();
    match card_error {
        Some(card_error) if !text.contains(['(', ')']) && !matches!(digits, 10 | 11) => {
            Err(card_error.into())
        }
        _ => Err(phone_error.into()),
    }
}

/// Decodes `%XX` escapes whose byte satisfies `wanted`, leaving every other escape as it is:
/// a payload that needs more than digits decoded is not one we can use, and the parser that
/// follows will refuse the leftover `%` by its character class.
fn percent_decode(s: &str, wanted: impl Fn(u8) -> bool) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(decoded) = bytes
                .get(i + 1..i + 3)
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .filter(|&b| wanted(b))
        {
            out.push(char::from(decoded));
            i += 3;
            continue;
        }
        // Copy one whole character; `i` always sits on a character boundary here.
        let ch = s[i..].chars().next().unwrap_or_default();
        out.push(ch);
        i += ch.len_utf8().max(1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::card::CheckDigit;
    use crate::domain::masked::CharClass;

    const CARD: &str = "2900000000018";
    const E164: &str = "+79123456789";

    fn scan(payload: &str) -> Result<ScanPayload, ScanError> {
        ScanPayload::parse(payload.as_bytes(), &CardFormat::default_formats())
    }

    fn card(payload: &str) -> String {
        match scan(payload) {
            Ok(ScanPayload::Card(card)) => card.as_str().to_owned(),
            other => panic!("{payload:?} gave {other:?}"),
        }
    }

    fn phone(payload: &str) -> String {
        match scan(payload) {
            Ok(ScanPayload::Phone(phone)) => phone.as_e164().to_owned(),
            other => panic!("{payload:?} gave {other:?}"),
        }
    }

    #[test]
    fn bare_card_numbers() {
        assert_eq!(card(CARD), CARD);
        assert_eq!(card("2900000000018\r\n"), CARD);
        assert_eq!(card("\u{feff}2900000000018\n"), CARD);
        assert_eq!(card("\u{2}2900000000018\u{3}"), CARD);
        assert_eq!(card("  2900 0000 0001 8\t"), CARD);
        assert_eq!(card("96385074"), "96385074");
    }

    #[test]
    fn bare_phone_numbers() {
        assert_eq!(phone("+79123456789"), E164);
        assert_eq!(phone("89123456789\r\n"), E164);
        assert_eq!(phone("9123456789"), E164);
        assert_eq!(phone("8 (912) 345-67-89"), E164);
        assert_eq!(phone("+7 912 345 67 89"), E164);
    }

    #[test]
    fn bare_ten_digits_are_a_card_only_when_a_format_says_so() {
        let formats = [
            CardFormat::Custom {
                prefix: String::new(),
                length: 10,
                check_digit: CheckDigit::None,
            },
            CardFormat::Ean13,
        ];
        let got = ScanPayload::parse(b"9123456789", &formats).unwrap();
        assert_eq!(got.as_card().map(CardNumber::as_str), Some("9123456789"));
        // The '+' and the eleven digits fit no card format: still a phone.
        let got = ScanPayload::parse(b"+7 912 345 67 89", &formats).unwrap();
        assert_eq!(got.as_phone().map(Phone::as_e164), Some(E164));
        let got = ScanPayload::parse(b"89123456789", &formats).unwrap();
        assert_eq!(got.as_phone().map(Phone::as_e164), Some(E164));
    }

    #[test]
    fn tel_uris() {
        assert_eq!(phone("tel:+79123456789"), E164);
        assert_eq!(phone("TEL:8-912-345-67-89"), E164);
        assert_eq!(phone("Tel:+7(912)345-67-89;ext=12"), E164);
        assert_eq!(phone("tel://+79123456789"), E164);
        assert_eq!(phone("tel:%2B7%20912%20345%2067%2089"), E164);
        assert_eq!(scan("tel:"), Err(ScanError::Phone(PhoneError::Empty)));
        assert_eq!(
            scan("tel:+12125551234"),
            Err(ScanError::Phone(PhoneError::WrongCountryCode))
        );
        assert!(matches!(
            scan("tel:%41"),
            Err(ScanError::Phone(PhoneError::InvalidCharacter { .. }))
        ));
    }

    #[test]
    fn links_with_a_card_number() {
        assert_eq!(card("https://bonus.example/c/2900000000018"), CARD);
        assert_eq!(card("https://bonus.example/c/2900000000018/"), CARD);
        assert_eq!(card("HTTPS://BONUS.EXAMPLE/C/2900000000018"), CARD);
        assert_eq!(card("http://bonus.example/?card=2900000000018"), CARD);
        assert_eq!(
            card("https://bonus.example/r?utm=qr&ean=2900000000018#top"),
            CARD
        );
        assert_eq!(card("https://bonus.example/r?C=2900000000018"), CARD);
        assert_eq!(card("https://bonus.example/r?code=2900+0000+0001+8"), CARD);
        assert_eq!(
            card("https://bonus.example/r?code=%32%39%30%30000000018"),
            CARD
        );
        assert_eq!(card("https://bonus.example/r?card=&c=2900000000018"), CARD);
        // The query wins over the path.
        assert_eq!(
            card("https://bonus.example/c/96385074?card=2900000000018"),
            CARD
        );
        assert_eq!(card("https://bonus.example/c/2900-0000-0001-8"), CARD);
    }

    #[test]
    fn links_without_a_usable_card() {
        for url in [
            "https://bonus.example/",
            "https://bonus.example",
            "https://bonus.example/register",
            "https://bonus.example/c/2900000000018.html",
            "https://bonus.example/r?cards=2900000000018",
            "https://bonus.example/r?card=",
        ] {
            assert_eq!(scan(url), Err(ScanError::UrlWithoutCard), "{url}");
        }
        assert_eq!(
            scan("https://bonus.example/c/2900000000019"),
            Err(ScanError::Card(CardError::WrongCheckDigit))
        );
        assert_eq!(
            scan("https://pay.example/?card=4111111111111111"),
            Err(ScanError::Card(CardError::BankCardLike))
        );
        assert_eq!(
            scan("https://bonus.example/?card=29000000000x8"),
            Err(ScanError::Card(CardError::InvalidCharacter {
                class: CharClass::Letter,
                position: 12
            }))
        );
    }

    #[test]
    fn magnetic_stripe() {
        assert_eq!(card(";2900000000018?"), CARD);
        assert_eq!(card(";2900000000018=0000?\r"), CARD);
        assert_eq!(
            scan(";4111111111111111=25121010000000000000?"),
            Err(ScanError::Card(CardError::BankCardLike))
        );
        assert_eq!(
            scan("%B4111111111111111^DOE/JOHN^2512101?"),
            Err(ScanError::Card(CardError::BankCardLike))
        );
        for junk in [";2900000000018", ";?", ";29a?", "%Xsomething?", ";=1?"] {
            assert_eq!(scan(junk), Err(ScanError::Unrecognized), "{junk}");
        }
    }

    #[test]
    fn bank_cards_are_never_taken_for_anything() {
        for pan in [
            "4111111111111111",
            "4111 1111 1111 1111",
            "5555555555554444",
            "4222222222222",
        ] {
            assert_eq!(
                scan(pan),
                Err(ScanError::Card(CardError::BankCardLike)),
                "{pan}"
            );
        }
    }

    #[test]
    fn framing_errors() {
        assert_eq!(scan(""), Err(ScanError::Empty));
        assert_eq!(scan(" \r\n\t"), Err(ScanError::Empty));
        assert_eq!(scan("\u{feff}\r\n"), Err(ScanError::Empty));
        assert_eq!(
            ScanPayload::parse(&[b'2'; 513], &CardFormat::default_formats()),
            Err(ScanError::TooLong { len: 513 })
        );
        assert!(matches!(
            ScanPayload::parse(&[b'2'; 512], &CardFormat::default_formats()),
            Err(ScanError::Card(_))
        ));
        assert_eq!(
            ScanPayload::parse(b"\xff2900000000018", &CardFormat::default_formats()),
            Err(ScanError::NotUtf8)
        );
        assert_eq!(
            ScanPayload::parse(b"29000\xc3", &CardFormat::default_formats()),
            Err(ScanError::NotUtf8)
        );
    }

    #[test]
    fn unrecognized_payloads() {
        for payload in [
            "hello",
            "WIFI:S:shop;T:WPA;P:secret;;",
            "mailto:a@example.com",
            "ftp://bonus.example/2900000000018",
            "BEGIN:VCARD",
            "2900000000018 extra",
            "ерфы",
        ] {
            assert_eq!(scan(payload), Err(ScanError::Unrecognized), "{payload}");
        }
    }

    #[test]
    fn digit_payloads_that_fit_nothing() {
        // Shaped like a phone: the phone complaint is the useful one.
        assert_eq!(
            scan("+7 912 345 67 8"),
            Err(ScanError::Phone(PhoneError::WrongDigitCount { found: 9 }))
        );
        assert_eq!(
            scan("1234567890"),
            Err(ScanError::Phone(PhoneError::NotRussianRange))
        );
        assert_eq!(
            scan("8 (912) 345-67"),
            Err(ScanError::Phone(PhoneError::WrongDigitCount { found: 8 }))
        );
        // Shaped like a card.
        assert_eq!(
            scan("2900000000019"),
            Err(ScanError::Card(CardError::WrongCheckDigit))
        );
        assert_eq!(
            scan("12345"),
            Err(ScanError::Card(CardError::WrongLength { found: 5 }))
        );
    }

    #[test]
    fn output_is_masked() {
        let card = scan(CARD).unwrap();
        assert_eq!(format!("{card:?}"), "Card(CardNumber(****0018))");
        assert_eq!(card.to_string(), "card ****0018");
        let phone = scan("+79123456789").unwrap();
        assert_eq!(format!("{phone:?}"), "Phone(Phone(+7 *** ***-**-89))");
        assert_eq!(phone.to_string(), "phone +7 *** ***-**-89");
        for payload in [
            "https://bonus.example/c/2900000000019",
            "tel:+7 912 345 67 8",
            "2900000000019",
            "29000000000199999",
        ] {
            let message = scan(payload).unwrap_err().to_string();
            assert!(
                !message.contains("2900") && !message.contains("912"),
                "{message}"
            );
        }
    }

    #[test]
    fn percent_decoding_only_decodes_what_is_asked() {
        let digits = |b: u8| b.is_ascii_digit();
        assert_eq!(percent_decode("%32%39", digits), "29");
        assert_eq!(percent_decode("%41%2", digits), "%41%2");
        assert_eq!(percent_decode("%", digits), "%");
        assert_eq!(percent_decode("%zz9", digits), "%zz9");
        assert_eq!(percent_decode("ж%31ж", digits), "ж1ж");
        assert_eq!(percent_decode("%ж1", digits), "%ж1");
    }

    #[test]
    fn a_receipts_fiscal_qr_code_names_a_sale_and_a_bad_one_is_refused_unquoted() {
        let qr = b"t=20261203T1015&s=2300.00&fn=9960440300112233&i=4021&fp=2837461902&n=1\r\n";
        let Ok(ScanPayload::Fiscal(f)) = ScanPayload::parse(qr, &CardFormat::default_formats())
        else {
            panic!("a fiscal QR code")
        };
        assert_eq!((f.fn_number.as_str(), f.fd), ("9960440300112233", 4021));
        let scan = ScanPayload::Fiscal(f);
        assert_eq!((scan.as_card(), scan.as_phone()), (None, None));
        assert_eq!(
            scan.to_string(),
            "fiscal document 4021 of drive 9960440300112233"
        );
        let bad = b"t=20261203T1015&s=2300.00&fn=12345&i=4021&fp=2837461902&n=1";
        let e = ScanPayload::parse(bad, &CardFormat::default_formats()).unwrap_err();
        assert!(matches!(e, ScanError::Fiscal(_)), "{e:?}");
        assert!(!e.to_string().contains("12345"), "{e}");
    }
}
