//! Customers on the server: finding them by phone, card or scan, and what a till is shown.
//!
//! The server keeps full phone numbers and card numbers (it sends the SMS and is the
//! source of truth); what leaves it for a till is the minimum of SPEC.md §7: a masked
//! phone, a masked card, the first name and an initial.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension};

use super::error::ApiError;
use super::ledger;
use crate::domain::card::{CardFormat, CardNumber};
use crate::domain::money::Bonus;
use crate::domain::phone::Phone;
use crate::domain::rules::Rules;
use crate::domain::scan::ScanPayload;
use crate::protocol::server::{CustomerView, ErrorCode, LookupRequest};

/// A customer as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Customer {
    pub id: String,
    pub phone: String,
    pub card_number: Option<String>,
    pub card_status: String,
    pub phone_verified: bool,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub registered_at: String,
    pub referrer_id: Option<String>,
}

impl std::fmt::Debug for Customer {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.debug_struct("Customer")
            .field("id", &self.id)
            .field("card_status", &self.card_status)
            .finish_non_exhaustive()
    }
}

const COLUMNS: &str = "id, phone, card_number, card_status, phone_verified, first_name, last_name, registered_at, referrer_id";

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<Customer> {
    Ok(Customer {
        id: r.get(0)?,
        phone: r.get(1)?,
        card_number: r.get(2)?,
        card_status: r.get(3)?,
        phone_verified: r.get(4)?,
        first_name: r.get(5)?,
        last_name: r.get(6)?,
        registered_at: r.get(7)?,
        referrer_id: r.get(8)?,
    })
}

fn one(conn: &Connection, column: &str, value: &str) -> rusqlite::Result<Option<Customer>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM customers WHERE {column} = ?1"
    ))?
    .query_row([value], from_row)
    .optional()
}

pub fn by_id(conn: &Connection, id: &str) -> rusqlite::Result<Option<Customer>> {
    one(conn, "id", id)
}

pub fn by_phone(conn: &Connection, phone: &Phone) -> rusqlite::Result<Option<Customer>> {
    one(conn, "phone", phone.as_e164())
}

pub fn by_card(conn: &Connection, card: &CardNumber) -> rusqlite::Result<Option<Customer>> {
    one(conn, "card_number", card.as_str())
}

/// A phone or a card number typed or scanned as a referrer.
pub fn by_phone_or_card(
    conn: &Connection,
    text: &str,
    formats: &[CardFormat],
) -> rusqlite::Result<Option<Customer>> {
    if let Ok(p) = Phone::parse(text) {
        return by_phone(conn, &p);
    }
    match CardNumber::parse(text, formats) {
        Ok(c) => by_card(conn, &c),
        Err(_) => Ok(None),
    }
}

/// Finds the customer a lookup request names: exactly one of phone, card, scan.
pub fn lookup(
    conn: &Connection,
    req: &LookupRequest,
    formats: &[CardFormat],
) -> Result<Customer, ApiError> {
    let given = [req.phone.is_some(), req.card.is_some(), req.scan.is_some()];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(ApiError::bad_request(
            "give exactly one of phone, card and scan",
        ));
    }
    let found = if let Some(p) = &req.phone {
        let phone =
            Phone::parse(p.expose()).map_err(|e| ApiError::bad_request(format!("phone: {e}")))?;
        by_phone(conn, &phone)?
    } else if let Some(c) = &req.card {
        let card = CardNumber::parse(c.expose(), formats)
            .map_err(|e| ApiError::bad_request(format!("card: {e}")))?;
        by_card(conn, &card)?
    } else {
        let scan = req.scan.as_ref().expect("one of the three is given");
        match ScanPayload::parse(scan.expose().as_bytes(), formats)
            .map_err(|e| ApiError::bad_request(format!("scan: {e}")))?
        {
            ScanPayload::Phone(p) => by_phone(conn, &p)?,
            ScanPayload::Card(c) => by_card(conn, &c)?,
        }
    };
    found.ok_or_else(|| {
        ApiError::not_found(
            ErrorCode::CustomerNotFound,
            "no customer with this phone or card; register them",
        )
    })
}

pub use crate::protocol::short_name;

pub fn masked_phone(e164: &str) -> String {
    Phone::parse(e164)
        .map(|p| p.masked())
        .unwrap_or_else(|_| "***".into())
}

pub fn masked_card(number: Option<&str>) -> Option<String> {
    number.map(|n| {
        CardNumber::from_stored(n)
            .map(|c| c.masked())
            .unwrap_or_else(|_| "****".into())
    })
}

/// What a till is shown of a customer.
pub fn view(
    conn: &Connection,
    rules: &Rules,
    c: &Customer,
    now: DateTime<Utc>,
) -> rusqlite::Result<CustomerView> {
    let balance = ledger::balance(conn, &c.id, now)?;
    Ok(CustomerView {
        id: c.id.clone(),
        name: short_name(c.first_name.as_deref(), c.last_name.as_deref()),
        phone_masked: masked_phone(&c.phone),
        card_masked: masked_card(c.card_number.as_deref()),
        card_status: c.card_status.clone(),
        phone_verified: c.phone_verified,
        balance: Bonus::from_kopecks(balance.active),
        pending: Bonus::from_kopecks(balance.pending),
        discount_percent: rules
            .card(&c.card_status)
            .map(|r| r.discount_percent.to_string())
            .unwrap_or_else(|| "0".into()),
    })
}

/// Moves a customer to the end of the terminals' feed: their cached copy is stale.
pub fn touch(conn: &Connection, customer_id: &str) -> rusqlite::Result<()> {
    let seq = next_seq(conn)?;
    conn.execute(
        "UPDATE customers SET change_seq = ?1 WHERE id = ?2",
        rusqlite::params![seq, customer_id],
    )?;
    Ok(())
}

/// The next feed position, for a new customer.
pub fn next_seq(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row(
        "UPDATE feed_counter SET last = last + 1 WHERE id = 1 RETURNING last",
        [],
        |r| r.get(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_name_is_the_first_name_and_an_initial() {
        assert_eq!(short_name(Some("Карина"), Some("Соколова")), "Карина С.");
        assert_eq!(short_name(Some("Карина"), None), "Карина");
        assert_eq!(short_name(None, Some("Соколова")), "");
    }
}
