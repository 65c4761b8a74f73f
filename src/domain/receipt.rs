//! The receipt a cash register hands over: its positions, their prices and quantities.
//!
//! This is the input contract of SPEC.md §5. Parsing checks the shape (serde, with the path
//! of a bad field), then `validate` checks what serde cannot: whole quantities for piece
//! goods, unique position ids, a return that names its sale. The wire format carries no
//! version field of its own; a change here is a new field with a default, never a new
//! meaning for an old one.

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

use super::money::{Money, Quantity};

/// The longest id the platforms accept (ModulKassa limits impact ids to 255 characters).
pub const MAX_ID_LEN: usize = 255;
/// A till never sells more lines than this in one receipt; the bound keeps a bad request cheap.
pub const MAX_POSITIONS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReceiptKind {
    Sale,
    Return,
}

/// How a position is counted: whole pieces, or a measured weight or volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Measure {
    #[default]
    Piece,
    Weight,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Position {
    /// The register's own line id; results and impacts refer to it.
    pub id: String,
    #[serde(default)]
    pub sku: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub category: String,
    /// Unit price after the register's own discounts.
    pub price: Money,
    pub quantity: Quantity,
    #[serde(default)]
    pub measure: Measure,
    /// Excise goods (alcohol, tobacco) take no discount, no spend and accrue nothing.
    #[serde(default)]
    pub excise: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    pub id: String,
    pub kind: ReceiptKind,
    /// When the receipt was formed, with the store's UTC offset: promotions' dates and
    /// happy hours are read in that offset.
    pub at: DateTime<FixedOffset>,
    #[serde(default)]
    pub store: String,
    #[serde(default)]
    pub cashier: String,
    /// For a return: the id of the sale receipt it refunds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_receipt: Option<String>,
    pub positions: Vec<Position>,
}

/// A receipt that parsed but makes no sense, with the path of the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct ReceiptError {
    pub path: String,
    pub problem: String,
}

fn err(path: impl Into<String>, problem: impl Into<String>) -> ReceiptError {
    ReceiptError {
        path: path.into(),
        problem: problem.into(),
    }
}

impl Receipt {
    /// Checks what the JSON shape alone cannot.
    pub fn validate(&self) -> Result<(), ReceiptError> {
        check_id(&self.id).map_err(|p| err("id", p))?;
        match (self.kind, &self.original_receipt) {
            (ReceiptKind::Return, None) => {
                return Err(err(
                    "original_receipt",
                    "a return must name the sale receipt it refunds",
                ));
            }
            (ReceiptKind::Return, Some(o)) => {
                check_id(o).map_err(|p| err("original_receipt", p))?
            }
            (ReceiptKind::Sale, Some(_)) => {
                return Err(err(
                    "original_receipt",
                    "only a return names an original receipt",
                ));
            }
            (ReceiptKind::Sale, None) => {}
        }
        if self.positions.is_empty() {
            return Err(err("positions", "the receipt has no positions"));
        }
        if self.positions.len() > MAX_POSITIONS {
            return Err(err(
                "positions",
                format!("more than {MAX_POSITIONS} positions in one receipt"),
            ));
        }
        let mut seen = std::collections::HashSet::with_capacity(self.positions.len());
        for (i, p) in self.positions.iter().enumerate() {
            let at = |f: &str| format!("positions[{i}].{f}");
            check_id(&p.id).map_err(|problem| err(at("id"), problem))?;
            if !seen.insert(p.id.as_str()) {
                return Err(err(at("id"), "the same position id appears twice"));
            }
            if p.price.is_negative() {
                return Err(err(at("price"), "a price must not be negative"));
            }
            if p.measure == Measure::Piece && !p.quantity.is_whole() {
                return Err(err(
                    at("quantity"),
                    "piece goods need a whole quantity (use \"measure\": \"weight\" for weighed goods)",
                ));
            }
            for (f, v) in [
                ("sku", &p.sku),
                ("name", &p.name),
                ("category", &p.category),
            ] {
                // Bytes bound chars from above: count chars only for long strings.
                if v.len() > MAX_ID_LEN && v.chars().count() > MAX_ID_LEN {
                    return Err(err(at(f), format!("longer than {MAX_ID_LEN} characters")));
                }
            }
        }
        Ok(())
    }

    /// The receipt's total before loyalty: the sum of its positions' sums.
    pub fn total(&self) -> Money {
        self.positions.iter().map(Position::sum).sum()
    }

    /// What makes `printed` a different receipt from this one, for the loyalty result:
    /// `None` when the same positions, prices and quantities were printed. Names, the
    /// cashier's name and the time do not change what the customer pays.
    pub fn difference(&self, printed: &Receipt) -> Option<String> {
        if self.id != printed.id {
            return Some(format!("id: {:?} is not {:?}", printed.id, self.id));
        }
        if self.kind != printed.kind {
            return Some("kind: not the kind that was applied".into());
        }
        if self.original_receipt != printed.original_receipt {
            return Some("original_receipt: not the sale that was applied".into());
        }
        if self.positions.len() != printed.positions.len() {
            return Some(format!(
                "positions: {} printed, {} applied",
                printed.positions.len(),
                self.positions.len()
            ));
        }
        for (i, (a, b)) in self.positions.iter().zip(&printed.positions).enumerate() {
            let field = if a.id != b.id {
                "id"
            } else if a.sku != b.sku {
                "sku"
            } else if a.category != b.category {
                "category"
            } else if a.price != b.price {
                "price"
            } else if a.quantity != b.quantity {
                "quantity"
            } else if a.measure != b.measure {
                "measure"
            } else if a.excise != b.excise {
                "excise"
            } else {
                continue;
            };
            return Some(format!("positions[{i}].{field}: not what was applied"));
        }
        None
    }
}

impl Position {
    /// `price × quantity`, half-up to the kopeck (SPEC.md §3 step 1).
    pub fn sum(&self) -> Money {
        Money::new(self.price.amount() * self.quantity.amount())
    }
}

/// Checks a register's id (a receipt's, a position's): not blank, at most [`MAX_ID_LEN`]
/// characters, no control characters. The caller names the field in the message.
pub fn check_id(id: &str) -> Result<(), String> {
    if id.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if id.len() > MAX_ID_LEN && id.chars().count() > MAX_ID_LEN {
        return Err(format!("longer than {MAX_ID_LEN} characters"));
    }
    if id.chars().any(char::is_control) {
        return Err("contains control characters".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{ "id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "kind": "sale",
      "at": "2026-11-22T14:05:00+03:00", "store": "store-1", "cashier": "Кассир 1",
      "positions": [ { "id": "1", "sku": "4601234567890", "name": "Капучино", "category": "coffee",
                       "price": "234.00", "quantity": "1", "measure": "piece", "excise": false } ] }"#;

    #[test]
    fn the_spec_sample_receipt_parses_and_validates() {
        let r: Receipt = serde_json::from_str(SAMPLE).unwrap();
        r.validate().unwrap();
        assert_eq!(r.total().to_string(), "234.00");
        assert_eq!(r.at.offset().local_minus_utc(), 3 * 3600);
    }

    #[test]
    fn a_fractional_piece_quantity_is_refused_with_its_path() {
        let mut r: Receipt = serde_json::from_str(SAMPLE).unwrap();
        r.positions[0].quantity = "1.5".parse().unwrap();
        assert_eq!(r.validate().unwrap_err().path, "positions[0].quantity");
    }

    #[test]
    fn duplicate_position_ids_are_refused() {
        let mut r: Receipt = serde_json::from_str(SAMPLE).unwrap();
        r.positions.push(r.positions[0].clone());
        assert_eq!(r.validate().unwrap_err().path, "positions[1].id");
    }

    #[test]
    fn a_return_must_name_its_sale() {
        let mut r: Receipt = serde_json::from_str(SAMPLE).unwrap();
        r.kind = ReceiptKind::Return;
        assert_eq!(r.validate().unwrap_err().path, "original_receipt");
        r.original_receipt = Some("sale-1".into());
        r.validate().unwrap();
    }

    #[test]
    fn unknown_fields_and_float_prices_are_refused() {
        let bad = SAMPLE.replace("\"excise\"", "\"excize\"");
        assert!(serde_json::from_str::<Receipt>(&bad).is_err());
        let bad = SAMPLE.replace("\"234.00\"", "234.5");
        let e = serde_json::from_str::<Receipt>(&bad)
            .unwrap_err()
            .to_string();
        assert!(e.contains("string"), "{e}");
    }

    #[test]
    fn weighed_sums_round_half_up_to_the_kopeck() {
        let mut r: Receipt = serde_json::from_str(SAMPLE).unwrap();
        r.positions[0].measure = Measure::Weight;
        r.positions[0].price = "99.99".parse().unwrap();
        r.positions[0].quantity = "0.333".parse().unwrap();
        // 99.99 × 0.333 = 33.29667
        assert_eq!(r.positions[0].sum().to_string(), "33.30");
    }
}
