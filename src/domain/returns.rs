//! Returns (SPEC.md §3 "Returns"): what a returned part of a sale gives back and takes back.
//!
//! The bonuses a position spent are refunded, and the bonuses it accrued are clawed back,
//! in proportion to the returned part of its sum. To make a chain of partial returns never
//! exceed the original — and add up to exactly the original — each return is computed as
//! a difference of cumulative amounts: after returning `q` of `Q` units, the cumulative
//! refund is `round(spent × q / Q)`; a return gives `cumulative(after) − cumulative(before)`.
//! When `q = Q` the cumulative is the original exactly, so the last return takes the exact
//! remainder, whatever the rounding of the earlier ones.
//!
//! The sale record needed here is small (per position: quantity, paid, spent, accrued), so
//! a terminal keeps it and can compute a return offline.

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::calc::Calculation;
use super::money::{Bonus, Money, Quantity, round_half_up};
use super::receipt::{Measure, Receipt, ReceiptKind};

/// What a sale gave per position: the part of the sale a return needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoldPosition {
    pub id: String,
    pub quantity: Quantity,
    pub measure: Measure,
    pub paid: Money,
    pub spent: Bonus,
    pub accrued: Bonus,
}

/// A completed sale, as a return sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sale {
    pub receipt_id: String,
    pub positions: Vec<SoldPosition>,
}

/// One line of a return: which sold position, and how much of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnLine {
    pub position_id: String,
    pub quantity: Quantity,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnedPosition {
    pub id: String,
    pub quantity: Quantity,
    /// Rubles the customer paid for the returned part.
    pub paid: Money,
    /// Bonuses given back to the customer: they paid for the returned goods.
    pub refunded: Bonus,
    /// Bonuses taken back: they were accrued on the returned goods.
    pub clawed_back: Bonus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnResult {
    pub original_receipt: String,
    pub paid: Money,
    pub refunded: Bonus,
    pub clawed_back: Bonus,
    pub positions: Vec<ReturnedPosition>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReturnError {
    #[error("the return names receipt {named}, not the sale {sale}")]
    WrongSale { named: String, sale: String },
    #[error("the receipt is not a return")]
    NotAReturn,
    #[error("the return has no positions")]
    Empty,
    #[error("position {0} is not in the original sale")]
    UnknownPosition(String),
    #[error("position {0} appears twice in the return")]
    DuplicatePosition(String),
    #[error("position {id}: returning {requested} but only {left} of it is left to return")]
    TooMuch {
        id: String,
        requested: Quantity,
        left: Decimal,
    },
    #[error("position {0}: piece goods are returned in whole units")]
    FractionalPiece(String),
}

/// What was already returned of a sale: position id → returned quantity so far.
pub type Returned = HashMap<String, Decimal>;

/// How much of a sale has come back, as a list of the customer's purchases says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnedPart {
    Nothing,
    /// Some of it: a position or part of one.
    Part,
    /// Every position in full: nothing is left to return.
    All,
}

impl Sale {
    /// The sale record of a calculated receipt.
    pub fn from_calculation(receipt: &Receipt, calc: &Calculation) -> Sale {
        let positions = receipt
            .positions
            .iter()
            .zip(&calc.positions)
            .map(|(p, r)| SoldPosition {
                id: p.id.clone(),
                quantity: p.quantity,
                measure: p.measure,
                paid: r.paid,
                spent: r.spent,
                accrued: r.accrued,
            })
            .collect();
        Sale {
            receipt_id: receipt.id.clone(),
            positions,
        }
    }

    /// How much of this sale `returned` says has come back.
    pub fn returned_part(&self, returned: &Returned) -> ReturnedPart {
        let back = |p: &SoldPosition| returned.get(&p.id).copied().unwrap_or_default();
        if self.positions.iter().all(|p| back(p) <= Decimal::ZERO) {
            ReturnedPart::Nothing
        } else if self
            .positions
            .iter()
            .all(|p| back(p) >= p.quantity.amount())
        {
            ReturnedPart::All
        } else {
            ReturnedPart::Part
        }
    }

    /// Return lines from a return receipt that names this sale: its positions carry the
    /// sold positions' ids and the returned quantities.
    pub fn lines_of(&self, receipt: &Receipt) -> Result<Vec<ReturnLine>, ReturnError> {
        if receipt.kind != ReceiptKind::Return {
            return Err(ReturnError::NotAReturn);
        }
        let named = receipt.original_receipt.clone().unwrap_or_default();
        if named != self.receipt_id {
            return Err(ReturnError::WrongSale {
                named,
                sale: self.receipt_id.clone(),
            });
        }
        self.lines_of_found(receipt)
    }

    /// The lines of a return receipt of this sale when the sale was found otherwise than by
    /// the receipt's `original_receipt` (by its fiscal document, or picked from the
    /// customer's purchases): the register's number for the original may differ.
    pub fn lines_of_found(&self, receipt: &Receipt) -> Result<Vec<ReturnLine>, ReturnError> {
        if receipt.kind != ReceiptKind::Return {
            return Err(ReturnError::NotAReturn);
        }
        Ok(receipt
            .positions
            .iter()
            .map(|p| ReturnLine {
                position_id: p.id.clone(),
                quantity: p.quantity,
            })
            .collect())
    }
}

/// Computes a return of `lines` from `sale`, given what was `returned` before. Does not
/// record anything: the caller adds the returned quantities once the return is confirmed.
pub fn compute_return(
    sale: &Sale,
    returned: &Returned,
    lines: &[ReturnLine],
) -> Result<ReturnResult, ReturnError> {
    if lines.is_empty() {
        return Err(ReturnError::Empty);
    }
    let mut seen = std::collections::HashSet::new();
    let mut positions = Vec::with_capacity(lines.len());
    for line in lines {
        let id = &line.position_id;
        if !seen.insert(id.as_str()) {
            return Err(ReturnError::DuplicatePosition(id.clone()));
        }
        let sold = sale
            .positions
            .iter()
            .find(|p| p.id == *id)
            .ok_or_else(|| ReturnError::UnknownPosition(id.clone()))?;
        if sold.measure == Measure::Piece && !line.quantity.is_whole() {
            return Err(ReturnError::FractionalPiece(id.clone()));
        }
        let total = sold.quantity.amount();
        let before = returned.get(id).copied().unwrap_or_default();
        let after = before + line.quantity.amount();
        if after > total {
            return Err(ReturnError::TooMuch {
                id: id.clone(),
                requested: line.quantity,
                left: (total - before).max(Decimal::ZERO),
            });
        }
        let part = |amount: Decimal| {
            let cumulative = |q: Decimal| {
                if q == total {
                    amount
                } else {
                    round_half_up(amount * q / total, 2)
                }
            };
            cumulative(after) - cumulative(before)
        };
        positions.push(ReturnedPosition {
            id: id.clone(),
            quantity: line.quantity,
            paid: Money::new(part(sold.paid.amount())),
            refunded: Bonus::new(part(sold.spent.amount())),
            clawed_back: Bonus::new(part(sold.accrued.amount())),
        });
    }
    Ok(ReturnResult {
        original_receipt: sale.receipt_id.clone(),
        paid: positions.iter().map(|p| p.paid).sum(),
        refunded: positions.iter().map(|p| p.refunded).sum(),
        clawed_back: positions.iter().map(|p| p.clawed_back).sum(),
        positions,
    })
}

/// Records a confirmed return in `returned`.
pub fn record_return(returned: &mut Returned, result: &ReturnResult) {
    for p in &result.positions {
        *returned.entry(p.id.clone()).or_default() += p.quantity.amount();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn sale() -> Sale {
        Sale {
            receipt_id: "sale-1".into(),
            positions: vec![
                SoldPosition {
                    id: "1".into(),
                    quantity: "3".parse().unwrap(),
                    measure: Measure::Piece,
                    paid: "289.97".parse().unwrap(),
                    spent: "10.00".parse().unwrap(),
                    accrued: "6.00".parse().unwrap(),
                },
                SoldPosition {
                    id: "2".into(),
                    quantity: "0.350".parse().unwrap(),
                    measure: Measure::Weight,
                    paid: "661.50".parse().unwrap(),
                    spent: "0.00".parse().unwrap(),
                    accrued: "13.00".parse().unwrap(),
                },
            ],
        }
    }

    fn line(id: &str, q: &str) -> ReturnLine {
        ReturnLine {
            position_id: id.into(),
            quantity: q.parse().unwrap(),
        }
    }

    #[test]
    fn a_sale_says_whether_nothing_some_or_all_of_it_came_back() {
        let s = sale();
        let mut returned = Returned::new();
        assert_eq!(s.returned_part(&returned), ReturnedPart::Nothing);
        returned.insert("1".into(), dec!(0));
        assert_eq!(s.returned_part(&returned), ReturnedPart::Nothing);
        returned.insert("2".into(), dec!(0.350));
        assert_eq!(s.returned_part(&returned), ReturnedPart::Part);
        returned.insert("1".into(), dec!(2));
        assert_eq!(s.returned_part(&returned), ReturnedPart::Part);
        returned.insert("1".into(), dec!(3));
        assert_eq!(s.returned_part(&returned), ReturnedPart::All);
        // A position the sale does not have changes nothing.
        let only_unknown = Returned::from([("9".to_string(), dec!(1))]);
        assert_eq!(s.returned_part(&only_unknown), ReturnedPart::Nothing);
    }

    #[test]
    fn one_of_three_units_refunds_a_third_rounded() {
        let r = compute_return(&sale(), &Returned::new(), &[line("1", "1")]).unwrap();
        assert_eq!(r.refunded.to_string(), "3.33");
        assert_eq!(r.clawed_back.to_string(), "2.00");
        assert_eq!(r.paid.to_string(), "96.66");
    }

    #[test]
    fn three_partial_returns_add_up_to_exactly_the_original() {
        let s = sale();
        let mut returned = Returned::new();
        let mut refunded = Bonus::ZERO;
        let mut paid = Money::ZERO;
        for _ in 0..3 {
            let r = compute_return(&s, &returned, &[line("1", "1")]).unwrap();
            record_return(&mut returned, &r);
            refunded += r.refunded;
            paid += r.paid;
        }
        assert_eq!(refunded.to_string(), "10.00");
        assert_eq!(paid.to_string(), "289.97");
        let e = compute_return(&s, &returned, &[line("1", "1")]).unwrap_err();
        assert!(matches!(e, ReturnError::TooMuch { left, .. } if left == dec!(0)));
    }

    #[test]
    fn returns_refuse_unknown_duplicate_and_fractional_lines() {
        let s = sale();
        let none = Returned::new();
        assert!(matches!(
            compute_return(&s, &none, &[line("9", "1")]),
            Err(ReturnError::UnknownPosition(_))
        ));
        assert!(matches!(
            compute_return(&s, &none, &[line("1", "1"), line("1", "1")]),
            Err(ReturnError::DuplicatePosition(_))
        ));
        assert!(matches!(
            compute_return(&s, &none, &[line("1", "0.5")]),
            Err(ReturnError::FractionalPiece(_))
        ));
        assert!(matches!(
            compute_return(&s, &none, &[]),
            Err(ReturnError::Empty)
        ));
    }

    #[test]
    fn a_weighed_position_returns_by_weight() {
        let r = compute_return(&sale(), &Returned::new(), &[line("2", "0.175")]).unwrap();
        assert_eq!(r.clawed_back.to_string(), "6.50");
        assert_eq!(r.paid.to_string(), "330.75");
    }
}
