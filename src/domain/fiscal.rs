//! The fiscal document a register printed: what the receipt's fiscal QR code holds
//! (`t=20261203T1015&s=2300.00&fn=9960440300112233&i=4021&fp=2837461902&n=1`, the format
//! of the tax service's receipt check). The register may report it when it closes a
//! receipt, and the cashier may scan it from a sale receipt to find that sale for a return.
//!
//! Parsing is strict about what identifies the document (the ФН number, the document
//! number, its fiscal sign) and never quotes the scanned text in an error.
use std::fmt;

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::domain::money::Money;

/// What kind of settlement the document records (the QR's `n`): 1 a sale («приход»),
/// 2 its return («возврат прихода»), 3 and 4 an expense and its return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FiscalKind {
    Sale,
    SaleReturn,
    Expense,
    ExpenseReturn,
}

impl FiscalKind {
    fn from_code(code: &str) -> Option<FiscalKind> {
        match code {
            "1" => Some(FiscalKind::Sale),
            "2" => Some(FiscalKind::SaleReturn),
            "3" => Some(FiscalKind::Expense),
            "4" => Some(FiscalKind::ExpenseReturn),
            _ => None,
        }
    }
}

/// One fiscal document: the fiscal drive (ФН), the document's number in it (ФД), its
/// fiscal sign (ФП), when it was printed (the register's local time, as the QR holds it)
/// and its sum.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FiscalData {
    /// The fiscal drive's number: 16 digits.
    #[serde(rename = "fn")]
    pub fn_number: String,
    /// The document's number in that drive (ФД). JSON has one kind of number: a whole one
    /// written with a fraction (`4021.0`) is the same number.
    #[serde(deserialize_with = "whole_u32")]
    pub fd: u32,
    /// The fiscal sign (ФП): up to 10 digits, kept as printed.
    pub fp: String,
    /// When the document was printed, in the register's local time, to the second:
    /// `2026-12-03T10:15:00`.
    #[serde(with = "local_time")]
    pub at: NaiveDateTime,
    pub sum: Money,
    pub kind: FiscalKind,
}

impl fmt::Debug for FiscalData {
    /// Only the document's place in its drive: enough to find it in a log, nothing more.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FiscalData")
            .field("fn", &self.fn_number)
            .field("fd", &self.fd)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// Why a fiscal QR code or a reported fiscal document is not one. Never quotes the input.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FiscalError {
    #[error("the fiscal code has no `{0}` field")]
    Missing(&'static str),
    #[error("the fiscal code has `{0}` twice")]
    Repeated(&'static str),
    #[error("the fiscal drive number (fn) must be 16 digits")]
    DriveNumber,
    #[error("the fiscal document number (i) must be a number from 1 to 4294967295")]
    DocumentNumber,
    #[error("the fiscal sign (fp) must be 1 to 10 digits")]
    Sign,
    #[error("the time (t) must be YYYYMMDDTHHMM or YYYYMMDDTHHMMSS")]
    Time,
    #[error("the sum (s) must be an amount in roubles with at most two decimals")]
    Sum,
    #[error("the settlement kind (n) must be 1, 2, 3 or 4")]
    Kind,
}

impl FiscalData {
    /// Reads a receipt's fiscal QR code. Fields may come in any order; unknown ones are
    /// ignored (registers add their own).
    pub fn from_qr(text: &str) -> Result<FiscalData, FiscalError> {
        let (mut t, mut s, mut fn_, mut i, mut fp, mut n) = (None, None, None, None, None, None);
        for pair in text.trim().split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let (slot, name) = match key {
                "t" => (&mut t, "t"),
                "s" => (&mut s, "s"),
                "fn" => (&mut fn_, "fn"),
                "i" => (&mut i, "i"),
                "fp" => (&mut fp, "fp"),
                "n" => (&mut n, "n"),
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err(FiscalError::Repeated(name));
            }
        }
        let at = parse_time(t.ok_or(FiscalError::Missing("t"))?)?;
        let sum = Money::parse_non_negative(s.ok_or(FiscalError::Missing("s"))?)
            .map_err(|_| FiscalError::Sum)?;
        let fd = i
            .ok_or(FiscalError::Missing("i"))?
            .parse::<u32>()
            .map_err(|_| FiscalError::DocumentNumber)?;
        let kind =
            FiscalKind::from_code(n.ok_or(FiscalError::Missing("n"))?).ok_or(FiscalError::Kind)?;
        let data = FiscalData {
            fn_number: fn_.ok_or(FiscalError::Missing("fn"))?.to_string(),
            fd,
            fp: fp.ok_or(FiscalError::Missing("fp"))?.to_string(),
            at,
            sum,
            kind,
        };
        data.validate()?;
        Ok(data)
    }

    /// Checks what the JSON shape alone cannot (a document a register reported).
    pub fn validate(&self) -> Result<(), FiscalError> {
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if self.fn_number.len() != 16 || !digits(&self.fn_number) {
            return Err(FiscalError::DriveNumber);
        }
        if self.fd == 0 {
            return Err(FiscalError::DocumentNumber);
        }
        if self.fp.is_empty() || self.fp.len() > 10 || !digits(&self.fp) {
            return Err(FiscalError::Sign);
        }
        if self.sum.is_negative() {
            return Err(FiscalError::Sum);
        }
        Ok(())
    }
}

/// A document number: a JSON number that is a whole `u32`, however it is written.
fn whole_u32<'de, D: serde::Deserializer<'de>>(de: D) -> Result<u32, D::Error> {
    struct Whole;
    impl serde::de::Visitor<'_> for Whole {
        type Value = u32;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a whole number from 1 to 4294967295")
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<u32, E> {
            u32::try_from(v).map_err(|_| E::custom("more than 4294967295"))
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<u32, E> {
            u32::try_from(v).map_err(|_| E::custom("not a whole number from 1 to 4294967295"))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<u32, E> {
            if v.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&v) {
                // Whole and in range: exact.
                Ok(v as u32)
            } else {
                Err(E::custom("not a whole number from 1 to 4294967295"))
            }
        }
    }
    de.deserialize_any(Whole)
}

/// The printing time as the register's clock had it: `YYYY-MM-DDTHH:MM:SS`, nothing else
/// (no fraction, no offset), so one time is written one way.
mod local_time {
    use chrono::NaiveDateTime;

    const FORMAT: &str = "%Y-%m-%dT%H:%M:%S";
    const SHAPE: &str = "dddd-dd-ddTdd:dd:dd";

    pub fn serialize<S: serde::Serializer>(t: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&t.format(FORMAT))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(de: D) -> Result<NaiveDateTime, D::Error> {
        let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(de)?;
        // chrono's own format is more lenient (a sign, a fraction of a second): the shape
        // first, digit by digit.
        let shaped = text.len() == 19
            && text.bytes().zip(SHAPE.bytes()).all(|(c, want)| match want {
                b'd' => c.is_ascii_digit(),
                _ => c == want,
            });
        shaped
            .then(|| NaiveDateTime::parse_from_str(&text, FORMAT).ok())
            .flatten()
            .ok_or_else(|| {
                serde::de::Error::custom("a local date and time like 2026-12-03T10:15:00")
            })
    }
}

fn parse_time(t: &str) -> Result<NaiveDateTime, FiscalError> {
    ["%Y%m%dT%H%M%S", "%Y%m%dT%H%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
        .ok_or(FiscalError::Time)
}

#[cfg(test)]
mod tests {
    use super::*;

    const QR: &str = "t=20261203T1015&s=2300.00&fn=9960440300112233&i=4021&fp=2837461902&n=1";

    #[test]
    fn a_reported_document_is_read_strictly_but_any_way_json_writes_a_whole_number() {
        let read = |fd: &str, at: &str| {
            serde_json::from_str::<FiscalData>(&format!(
                r#"{{"fn": "9960440300112233", "fd": {fd}, "fp": "2837461902",
                    "at": "{at}", "sum": "300.00", "kind": "sale"}}"#
            ))
        };
        assert_eq!(read("4021", "2026-12-03T10:15:00").unwrap().fd, 4021);
        assert_eq!(read("4021.0", "2026-12-03T10:15:00").unwrap().fd, 4021);
        assert_eq!(read("4.021e3", "2026-12-03T10:15:00").unwrap().fd, 4021);
        for fd in ["4021.5", "-1", "4294967296", "\"4021\""] {
            assert!(read(fd, "2026-12-03T10:15:00").is_err(), "{fd}");
        }
        for at in [
            "2026-12-03T10:15",
            "2026-12-03T10:15:00.5",
            "2026-12-03 10:15:00",
            "2026-02-30T10:15:00",
            "2026-12-03T24:00:00",
            "+026-12-03T10:15:00",
            "2026-12-03T10:15:00Z",
        ] {
            assert!(read("1", at).is_err(), "{at}");
        }
        assert_eq!(
            read("1", "2024-02-29T23:59:59").unwrap().at.to_string(),
            "2024-02-29 23:59:59"
        );
        // Written back the one way it is read.
        let d = FiscalData::from_qr(QR).unwrap();
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["at"], "2026-12-03T10:15:00");
        assert_eq!(serde_json::from_value::<FiscalData>(json).unwrap(), d);
    }

    #[test]
    fn a_sale_receipts_code_reads() {
        let d = FiscalData::from_qr(QR).unwrap();
        assert_eq!(d.fn_number, "9960440300112233");
        assert_eq!((d.fd, d.fp.as_str()), (4021, "2837461902"));
        assert_eq!(d.at.to_string(), "2026-12-03 10:15:00");
        assert_eq!(d.sum, "2300.00".parse().unwrap());
        assert_eq!(d.kind, FiscalKind::Sale);
    }

    #[test]
    fn order_seconds_and_unknown_fields_do_not_matter() {
        let d = FiscalData::from_qr(
            "n=2&fp=0000000001&i=7&fn=9960440300112233&s=10&t=20261203T101559&x=1",
        )
        .unwrap();
        assert_eq!(d.kind, FiscalKind::SaleReturn);
        assert_eq!(d.fp, "0000000001", "leading zeros are kept");
        assert_eq!(d.at.to_string(), "2026-12-03 10:15:59");
    }

    #[test]
    fn each_bad_field_is_named_and_never_quoted() {
        let swap = |from: &str, to: &str| FiscalData::from_qr(&QR.replace(from, to));
        assert_eq!(
            swap("fn=9960440300112233", "fn=123"),
            Err(FiscalError::DriveNumber)
        );
        assert_eq!(swap("i=4021", "i=0"), Err(FiscalError::DocumentNumber));
        assert_eq!(swap("i=4021", "i=abc"), Err(FiscalError::DocumentNumber));
        assert_eq!(
            swap("fp=2837461902", "fp=12345678901"),
            Err(FiscalError::Sign)
        );
        assert_eq!(
            swap("t=20261203T1015", "t=2026-12-03"),
            Err(FiscalError::Time)
        );
        assert_eq!(swap("s=2300.00", "s=23.001"), Err(FiscalError::Sum));
        assert_eq!(swap("s=2300.00", "s=-5"), Err(FiscalError::Sum));
        assert_eq!(swap("n=1", "n=9"), Err(FiscalError::Kind));
        assert_eq!(swap("&n=1", ""), Err(FiscalError::Missing("n")));
        assert_eq!(swap("n=1", "n=1&n=2"), Err(FiscalError::Repeated("n")));
        assert_eq!(FiscalData::from_qr(""), Err(FiscalError::Missing("t")));
        let e = swap("fp=2837461902", "fp=28374x1902")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("2837"), "{e}");
    }

    #[test]
    fn json_uses_the_codes_field_names() {
        let d = FiscalData::from_qr(QR).unwrap();
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["fn"], "9960440300112233");
        assert_eq!(json["fd"], 4021);
        assert_eq!(json["sum"], "2300.00");
        assert_eq!(json["kind"], "sale");
        assert_eq!(serde_json::from_value::<FiscalData>(json).unwrap(), d);
        assert!(
            !format!("{d:?}").contains("2837461902"),
            "no fiscal sign in logs"
        );
    }
}
