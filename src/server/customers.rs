//! Customers on the server: finding them by phone, card or scan, and what a till is shown.
//!
//! The server keeps full phone numbers and card numbers (it sends the SMS and is the
//! source of truth); what leaves it for a till is the minimum of SPEC.md §7: a masked
//! phone, a masked card, the first name and an initial.
//!
//! Engine-free: everything goes through the store seam; the reads take the request's one
//! read view, so the token check and the lookup share it.

use chrono::{DateTime, Utc};

pub use super::store::Customer;
use super::store::{Balance, CustomerKey, ReadTx, StoreError};
use crate::domain::calc::{self as engine, CustomerState};
use crate::domain::card::{CardFormat, CardNumber};
use crate::domain::money::Bonus;
use crate::domain::phone::Phone;
use crate::domain::rules::Rules;
use crate::domain::scan::ScanPayload;
use crate::protocol::server::{
    CalcRequest, CalcResponse, CustomerView, DatedBonus, HistoryEntry, HistoryResponse,
    LookupRequest,
};

/// Why a lookup found nobody.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// The request itself is wrong; the message names the field.
    #[error("{0}")]
    BadRequest(String),
    #[error("no customer with this phone or card; register them")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The key a lookup request names: exactly one of phone, card, scan, parsed.
pub fn lookup_key(req: &LookupRequest, formats: &[CardFormat]) -> Result<Owned, LookupError> {
    let given = [req.phone.is_some(), req.card.is_some(), req.scan.is_some()];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(LookupError::BadRequest(
            "give exactly one of phone, card and scan".into(),
        ));
    }
    if let Some(p) = &req.phone {
        let phone =
            Phone::parse(p.expose()).map_err(|e| LookupError::BadRequest(format!("phone: {e}")))?;
        return Ok(Owned::Phone(phone.as_e164().to_string()));
    }
    if let Some(c) = &req.card {
        let card = CardNumber::parse(c.expose(), formats)
            .map_err(|e| LookupError::BadRequest(format!("card: {e}")))?;
        return Ok(Owned::Card(card.as_str().to_string()));
    }
    let scan = req.scan.as_ref().expect("one of the three is given");
    match ScanPayload::parse(scan.expose().as_bytes(), formats)
        .map_err(|e| LookupError::BadRequest(format!("scan: {e}")))?
    {
        ScanPayload::Phone(p) => Ok(Owned::Phone(p.as_e164().to_string())),
        ScanPayload::Card(c) => Ok(Owned::Card(c.as_str().to_string())),
        ScanPayload::Fiscal(_) => Err(LookupError::BadRequest(
            "scan: a receipt's fiscal code names a sale, not a customer".into(),
        )),
    }
}

/// A [`CustomerKey`] that owns its value.
#[derive(Clone, PartialEq, Eq)]
pub enum Owned {
    Phone(String),
    Card(String),
}

impl Owned {
    pub fn key(&self) -> CustomerKey<'_> {
        match self {
            Owned::Phone(p) => CustomerKey::Phone(p),
            Owned::Card(c) => CustomerKey::Card(c),
        }
    }
}

/// Finds the customer a lookup request names and what a till is shown of them.
pub fn lookup(
    r: &mut dyn ReadTx,
    rules: &Rules,
    req: &LookupRequest,
    now: DateTime<Utc>,
) -> Result<CustomerView, LookupError> {
    let key = lookup_key(req, &CardFormat::default_formats())?;
    let (customer, mut balance) = r
        .customer_with_balance(key.key(), now)?
        .ok_or(LookupError::NotFound)?;
    // What other tills hold for their sales is not spendable here: the till says so.
    let before = balance.active;
    balance.active = super::holds::spendable_now(r, &customer.id, balance.active, now, None)?;
    let mut shown = view(rules, &customer, balance);
    shown.held = Bonus::from_kopecks((before - balance.active).max(0));
    Ok(shown)
}

/// A phone or a card number typed or scanned as a referrer.
pub fn by_phone_or_card(
    tx: &mut dyn ReadTx,
    text: &str,
    formats: &[CardFormat],
) -> Result<Option<Customer>, StoreError> {
    if let Ok(p) = Phone::parse(text) {
        return tx.customer(CustomerKey::Phone(p.as_e164()));
    }
    match CardNumber::parse(text, formats) {
        Ok(c) => tx.customer(CustomerKey::Card(c.as_str())),
        Err(_) => Ok(None),
    }
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

/// What a till is shown of a customer with this balance.
pub fn view(rules: &Rules, c: &Customer, balance: Balance) -> CustomerView {
    CustomerView {
        id: c.id.clone(),
        name: short_name(c.first_name.as_deref(), c.last_name.as_deref()),
        phone_masked: masked_phone(&c.phone),
        card_masked: masked_card(c.card_number.as_deref()),
        card_status: c.card_status.clone(),
        phone_verified: c.phone_verified,
        balance: Bonus::from_kopecks(balance.active),
        pending: Bonus::from_kopecks(balance.pending),
        held: Bonus::ZERO,
        discount_percent: rules
            .card(&c.card_status)
            .map(|r| r.discount_percent.to_string())
            .unwrap_or_else(|| "0".into()),
        consent_processing: c.consent_processing,
        consent_advertising: c.consent_advertising,
    }
}

/// Why a customer's history was not read.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("no customer with this id")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The customer's balance and last `limit` history lines («История бонусов»).
pub fn history(
    r: &mut dyn ReadTx,
    customer_id: &str,
    limit: usize,
    now: DateTime<Utc>,
) -> Result<HistoryResponse, HistoryError> {
    let (customer, balance) = r
        .customer_with_balance(CustomerKey::Id(customer_id), now)?
        .ok_or(HistoryError::NotFound)?;
    let entries = r
        .history(&customer.id, limit)?
        .into_iter()
        .map(|h| HistoryEntry {
            at: h.at,
            amount: Bonus::from_kopecks(h.amount),
            kind: h.kind,
            description: h.description,
        })
        .collect();
    let left: Vec<_> = r
        .batches(&customer.id)?
        .into_iter()
        .filter(|b| b.remaining > 0)
        .collect();
    let dated = |at: DateTime<Utc>, remaining: i64| DatedBonus {
        amount: Bonus::from_kopecks(remaining),
        at,
    };
    let mut activating: Vec<DatedBonus> = left
        .iter()
        .filter(|b| b.active_from > now)
        .map(|b| dated(b.active_from, b.remaining))
        .collect();
    activating.sort_by_key(|d| d.at);
    let mut burning: Vec<DatedBonus> = left
        .iter()
        .filter_map(|b| {
            b.burns_at
                .filter(|at| *at > now)
                .map(|at| dated(at, b.remaining))
        })
        .collect();
    burning.sort_by_key(|d| d.at);
    burning.truncate(BURNING_SHOWN);
    Ok(HistoryResponse {
        customer_id: customer.id,
        balance: Bonus::from_kopecks(balance.active),
        pending: Bonus::from_kopecks(balance.pending),
        entries,
        activating,
        burning,
    })
}

/// How many burning batches a history lists: plenty to sum the nearest day's.
const BURNING_SHOWN: usize = 100;

/// Why a calculation was not made.
#[derive(Debug, thiserror::Error)]
pub enum CalcError {
    #[error("no customer with this id")]
    NotFound,
    /// The receipt or the spend is wrong; the message names the field.
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Calculates a receipt for a customer with their balance now, as the till will see it
/// applied: the same engine as `bonuskassa calc` and the offline till.
pub fn calculate(
    r: &mut dyn ReadTx,
    rules: &super::LoadedRules,
    req: &CalcRequest,
    now: DateTime<Utc>,
) -> Result<CalcResponse, CalcError> {
    let (customer, mut balance) = r
        .customer_with_balance(CustomerKey::Id(&req.customer_id), now)?
        .ok_or(CalcError::NotFound)?;
    // Other tills' holds are not spendable here; this sale's own hold is.
    balance.active =
        super::holds::spendable_now(r, &customer.id, balance.active, now, req.hold.as_deref())?;
    let view = view(&rules.rules, &customer, balance);
    let state = CustomerState {
        card: customer.card_status.clone(),
        balance: view.balance,
        purchases_sum: Default::default(),
        purchases_count: 0,
        can_spend: customer.phone_verified,
        loyalty: customer.consent_processing,
    };
    let calculation =
        engine::calculate(&rules.rules, &state, &req.receipt, req.spend).map_err(|e| match e {
            engine::CalcError::Receipt(r) => CalcError::BadRequest(format!("receipt.{r}")),
            other => CalcError::BadRequest(other.to_string()),
        })?;
    Ok(CalcResponse {
        rules_version: rules.version,
        customer: view,
        calculation,
    })
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
