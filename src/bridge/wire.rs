//! The JSON of the cash-register bridge: what the register posts and what it gets back.
//!
//! The receipt it posts is [`Receipt`], the same JSON as SPEC.md §5. The answer is a
//! [`ReceiptStatus`]; once the cashier applied the receipt it carries a
//! [`LoyaltyResult`], shaped like ModulKassa's `LoyaltyResult` (per-position `impacts`,
//! `data`, `printableData`) so a thin plugin can forward it; an Evotor plugin turns each
//! impact into a `PositionEdit` with `priceWithDiscountPosition` (docs/bridge.md).
//!
//! Amounts are strings with two decimals, quantities strings, as everywhere else.

use serde::{Deserialize, Serialize};

use crate::domain::fiscal::FiscalData;
use crate::domain::money::{Bonus, Money, Quantity};
use crate::domain::receipt::{Receipt, ReceiptKind};
pub use crate::store::{CashierFigures, ShiftBy, ShiftFigures};

/// Where a receipt the register handed over stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// On the cashier's panel: finding the customer, choosing the spend.
    Open,
    /// The cashier applied it: `result` has the prices to print. Nothing is recorded
    /// until the register closes it.
    Applied,
    /// The register printed it and closed it: the operation is queued.
    Closed,
    /// Cancelled, by the cashier or by the register: the receipt goes on without loyalty.
    Cancelled,
    /// Applied, but the register never closed it in time: nothing was recorded.
    Expired,
}

/// The answer to every request about a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptStatus {
    pub id: String,
    pub kind: ReceiptKind,
    pub state: State,
    /// `applied` and `closed`: what the register prints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<LoyaltyResult>,
    /// `cancelled` and `expired`: who cancelled, or why it expired, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The loyalty result of an applied receipt (ModulKassa's `LoyaltyResult`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoyaltyResult {
    /// A sale: the unit prices to print, per position; a position whose paid sum does not
    /// divide by its quantity has two. A return: empty (the register refunds what the
    /// customer paid).
    pub impacts: Vec<PositionImpact>,
    /// The receipt's total before loyalty.
    pub total: Money,
    /// Everything loyalty takes off the receipt: the card's discount and the bonuses
    /// spent (`total − toPay`).
    pub discount: Money,
    /// Bonuses spent on this receipt (1 bonus = 1 ruble).
    pub spent: Bonus,
    /// What the customer pays in money.
    pub to_pay: Money,
    pub data: LoyaltyData,
    pub printable_data: PrintableData,
}

/// A unit price the register prints for (part of) one of its positions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PositionImpact {
    /// The register's own position id from the receipt.
    pub position_id: String,
    pub price: Money,
    pub quantity: Quantity,
}

/// Ids the register keeps with its receipt (ModulKassa's `data`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoyaltyData {
    /// The loyalty operation this receipt is queued as once closed (a UUID).
    pub operation_id: String,
    /// The customer's id at the loyalty server; absent on a return.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// True when the till priced it without the server (it syncs later).
    pub offline: bool,
}

/// What the register prints on the fiscal receipt about loyalty (ModulKassa's
/// `printableData`): the figures, and the same as ready lines in Russian.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrintableData {
    /// The customer's card status; empty on a return.
    pub card: String,
    /// Sale: bonuses spent and to be accrued, and the balance after the spend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spent: Option<Bonus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accrued: Option<Bonus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance: Option<Bonus>,
    /// Return: bonuses given back, and accrued bonuses taken back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refunded: Option<Bonus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clawed_back: Option<Bonus>,
    /// The lines to print, in Russian, in order.
    pub lines: Vec<String>,
}

/// `POST /v1/receipts/{id}/close`: the receipt as the register printed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseRequest {
    pub receipt: Receipt,
    /// The fiscal document the register printed (from its fiscal QR code), when it
    /// reports it: kept with the sale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fiscal: Option<FiscalData>,
}

/// `GET /v1/receipts/{id}?wait_s=N`: wait up to N seconds (at most
/// [`MAX_WAIT_S`]) while the receipt is `open`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitQuery {
    #[serde(default)]
    pub wait_s: u32,
}

/// The longest a `GET` waits.
pub const MAX_WAIT_S: u32 = 60;

/// Where the till's loyalty shift stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShiftState {
    Open,
    Closed,
}

/// The answer of `/v1/shift/open`, `/v1/shift/close` and `GET /v1/shift/report`: the
/// till's loyalty shift, what it adds up to per cashier and in total, and the report's
/// lines for the register to print («Отчёт лояльности за смену»).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShiftReport {
    /// 1, 2, ... at this till.
    pub number: i64,
    pub state: ShiftState,
    /// `implicit`: nobody opened it, it counts what was made since the last close.
    pub opened_by: ShiftBy,
    /// When it was opened, or when its first operation was made.
    pub opened_at: chrono::DateTime<chrono::Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_by: Option<ShiftBy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<chrono::DateTime<chrono::Utc>>,
    /// An open: it was open already. A close: nothing was open nor made since the last
    /// close, this is that close's report again.
    pub already: bool,
    pub total: ShiftFigures,
    /// In the order the cashiers first worked in the shift.
    pub cashiers: Vec<CashierFigures>,
    /// The report to print, each line at most [`PRINT_WIDTH`] characters.
    pub lines: Vec<String>,
}

/// The width of a printed report line, in characters.
pub const PRINT_WIDTH: usize = 42;

/// Every refusal: a stable code and a sentence naming the problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeError {
    pub code: ErrorCode,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 401: no key, or not the installer's key.
    Unauthorized,
    /// 400: the body or a parameter is not what the contract says; the message names the
    /// field.
    BadRequest,
    /// 413: the body is larger than the bridge reads.
    TooLarge,
    /// 404: no such path, or no receipt with this id.
    NotFound,
    /// 409: another receipt is open at this till.
    Busy,
    /// 409: nobody is logged in at the till.
    NoCashier,
    /// 409: the installer's setup is open at the till.
    SetupOpen,
    /// 409: the cashier has not applied the receipt yet.
    NotApplied,
    /// 409: the printed receipt is not the one the loyalty was applied to.
    ReceiptChanged,
    /// 409: the receipt was cancelled or expired; nothing was recorded.
    Cancelled,
    /// 409: the receipt is closed (a cancel after the close).
    AlreadyClosed,
    /// 409: a receipt id that was used for a different receipt.
    IdReused,
    /// 422: a return of a sale this till never made.
    UnknownSale,
    /// 422: a return the sale does not allow (more than was sold, unknown positions).
    BadReturn,
    /// 500: the till could not save; the message says why.
    Storage,
}

impl ErrorCode {
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::Unauthorized => 401,
            ErrorCode::BadRequest => 400,
            ErrorCode::TooLarge => 413,
            ErrorCode::NotFound => 404,
            ErrorCode::Busy
            | ErrorCode::NoCashier
            | ErrorCode::SetupOpen
            | ErrorCode::NotApplied
            | ErrorCode::ReceiptChanged
            | ErrorCode::Cancelled
            | ErrorCode::AlreadyClosed
            | ErrorCode::IdReused => 409,
            ErrorCode::UnknownSale | ErrorCode::BadReturn => 422,
            ErrorCode::Storage => 500,
        }
    }
}

/// The register writes its amounts as the contract shows them (`docs/bridge-openapi.json`):
/// a price or a sum as a decimal string with at most two decimals, a quantity with none
/// for piece goods and at most three for weighed ones, no sign, no leading zeros, no
/// spaces, no JSON numbers. The amounts' own parse, shared with the rules and the server,
/// is more lenient; the bridge takes exactly what its contract says, so a register's
/// mistake is named here instead of being read some other way.
pub fn check_amounts(body: &serde_json::Value) -> Result<(), String> {
    let receipt = body.get("receipt").unwrap_or(body);
    let prefix = if body.get("receipt").is_some() {
        "receipt."
    } else {
        ""
    };
    if let Some(positions) = receipt.get("positions").and_then(|p| p.as_array()) {
        for (i, p) in positions.iter().enumerate() {
            let weighed = p.get("measure").and_then(|m| m.as_str()) == Some("weight");
            let checks = [
                ("price", 2, "\"234.00\""),
                (
                    "quantity",
                    if weighed { 3 } else { 0 },
                    if weighed { "\"0.350\"" } else { "\"2\"" },
                ),
            ];
            for (field, decimals, example) in checks {
                if let Some(v) = p.get(field) {
                    amount_as_written(v, decimals).map_err(|why| {
                        format!("{prefix}positions[{i}].{field}: {why}, like {example}")
                    })?;
                }
            }
        }
    }
    if let Some(sum) = body.get("fiscal").and_then(|f| f.get("sum")) {
        amount_as_written(sum, 2).map_err(|why| format!("fiscal.sum: {why}, like \"300.00\""))?;
    }
    Ok(())
}

/// `Ok` when `v` is a decimal string in the contract's form with at most `decimals`
/// decimals; otherwise what is wrong with it.
fn amount_as_written(v: &serde_json::Value, decimals: usize) -> Result<(), &'static str> {
    let Some(s) = v.as_str() else {
        return Err("write it as a decimal string");
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let (whole, fraction) = match s.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (s, None),
    };
    if !digits(whole) || (whole.len() > 1 && whole.starts_with('0')) {
        return Err("digits, without a sign, spaces or leading zeros");
    }
    match fraction {
        None => Ok(()),
        Some(_) if decimals == 0 => Err("piece goods take a whole quantity"),
        Some(f) if digits(f) && f.len() <= decimals => Ok(()),
        Some(_) => Err(if decimals == 2 {
            "at most two decimals"
        } else {
            "at most three decimals"
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::check_amounts;
    use serde_json::json;

    fn position(
        price: serde_json::Value,
        quantity: serde_json::Value,
        measure: &str,
    ) -> serde_json::Value {
        json!({ "positions": [ { "id": "1", "price": "1.00", "quantity": "1" },
            { "id": "2", "price": price, "quantity": quantity, "measure": measure } ] })
    }

    #[test]
    fn amounts_are_taken_only_as_the_contract_writes_them() {
        for (price, quantity, measure) in [
            ("234.00", "2", "piece"),
            ("0", "1", "piece"),
            ("0.5", "1000000", "piece"),
            ("1000000000.00", "0.350", "weight"),
            ("12.3", "7", "weight"),
        ] {
            assert_eq!(
                check_amounts(&position(json!(price), json!(quantity), measure)),
                Ok(())
            );
        }
        for (price, quantity, measure, says) in [
            (
                json!(234),
                json!("1"),
                "piece",
                "positions[1].price: write it as a decimal string",
            ),
            (json!("007"), json!("1"), "piece", "leading zeros"),
            (json!(" 1.00"), json!("1"), "piece", "spaces"),
            (json!("-1.00"), json!("1"), "piece", "sign"),
            (json!("1.000"), json!("1"), "piece", "at most two decimals"),
            (json!("1."), json!("1"), "piece", "positions[1].price"),
            (
                json!("1.00"),
                json!("2.0"),
                "piece",
                "whole quantity, like \"2\"",
            ),
            (
                json!("1.00"),
                json!("0.3500"),
                "weight",
                "at most three decimals",
            ),
            (json!("1.00"), json!(2.5), "weight", "positions[1].quantity"),
        ] {
            let e = check_amounts(&position(price.clone(), quantity.clone(), measure)).unwrap_err();
            assert!(e.contains(says), "{price} {quantity}: {e}");
        }
        // In a close, the receipt's path and the fiscal sum.
        let close = json!({ "receipt": position(json!("1e3"), json!("1"), "piece"), "fiscal": {} });
        assert!(
            check_amounts(&close)
                .unwrap_err()
                .starts_with("receipt.positions[1].price")
        );
        let close = json!({ "receipt": position(json!("1"), json!("1"), "piece"),
            "fiscal": { "sum": 300 } });
        assert!(check_amounts(&close).unwrap_err().starts_with("fiscal.sum"));
    }
}
