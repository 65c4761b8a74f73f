//! The loyalty result the register prints: the prices, the spend, the accrual and the
//! lines of the slip, for an applied sale or return: from the session's [`Applied`], or
//! from the till's store after a restart ([`KeptReceipt`]), the same either way.
use super::wire::{LoyaltyData, LoyaltyResult, PositionImpact, PrintableData};
use crate::checkout::{Applied, AppliedWhat};
use crate::domain::calc::Calculation;
use crate::domain::money::{Bonus, Money};
use crate::domain::receipt::Receipt;
use crate::domain::returns::ReturnResult;
use crate::store::{Kept, KeptReceipt};

/// What the result is made of.
enum Figures<'a> {
    Sale {
        calc: &'a Calculation,
        balance: Bonus,
        customer_id: &'a str,
        offline: bool,
        /// A virtual card issued at this customer's registration just now. The till keeps
        /// no card numbers, so a result answered from its store after a restart has none.
        issued_card: Option<&'a str>,
    },
    Return {
        result: &'a ReturnResult,
    },
}

/// The answer for an applied receipt.
pub fn loyalty_result(applied: &Applied) -> LoyaltyResult {
    let figures = match &applied.what {
        AppliedWhat::Sale { priced, .. } => Figures::Sale {
            calc: &priced.calculation,
            balance: priced.customer.balance,
            customer_id: &priced.customer.id,
            offline: priced.offline,
            issued_card: priced.issued_card.as_deref(),
        },
        AppliedWhat::Return { result, .. } => Figures::Return { result },
    };
    result_of(applied.operation_id.to_string(), &applied.receipt, figures)
}

/// The answer for an applied receipt kept in the till's store.
pub fn kept_result(kept: &KeptReceipt) -> LoyaltyResult {
    let figures = match &kept.kept {
        Kept::Sale {
            calculation,
            balance,
            ..
        } => Figures::Sale {
            calc: calculation,
            balance: *balance,
            customer_id: kept.customer_id.as_deref().unwrap_or_default(),
            offline: kept.offline,
            issued_card: None,
        },
        Kept::Return { result, .. } => Figures::Return { result },
    };
    result_of(kept.operation_id.clone(), &kept.receipt, figures)
}

fn result_of(operation_id: String, receipt: &Receipt, figures: Figures<'_>) -> LoyaltyResult {
    match figures {
        Figures::Sale {
            calc,
            balance,
            customer_id,
            offline,
            issued_card,
        } => {
            let impacts = calc
                .positions
                .iter()
                .flat_map(|p| {
                    p.impacts.iter().map(|i| PositionImpact {
                        position_id: p.id.clone(),
                        price: i.price,
                        quantity: i.quantity,
                    })
                })
                .collect();
            let balance = balance - calc.spent;
            let mut lines = vec![format!("Карта: {}", calc.card)];
            if let Some(number) = issued_card {
                lines.push(format!("Номер карты: {number}"));
            }
            if !calc.discount.is_zero() {
                lines.push(format!("Скидка по карте: {} ₽", calc.discount));
            }
            lines.push(format!(
                "Списано бонусов: {}",
                whole(&calc.spent.to_string())
            ));
            lines.push(format!(
                "Начислено бонусов: {}",
                whole(&calc.accrued.to_string())
            ));
            lines.push(format!("Бонусов на счёте: {}", whole(&balance.to_string())));
            if offline {
                lines.push("Бонусы будут проведены при связи с сервером".into());
            }
            LoyaltyResult {
                impacts,
                total: calc.total,
                discount: Money::new(calc.total.amount() - calc.to_pay.amount()),
                spent: calc.spent,
                to_pay: calc.to_pay,
                data: LoyaltyData {
                    operation_id,
                    customer_id: Some(customer_id.to_string()),
                    offline,
                },
                printable_data: PrintableData {
                    card: calc.card.clone(),
                    spent: Some(calc.spent),
                    accrued: Some(calc.accrued),
                    balance: Some(balance),
                    refunded: None,
                    clawed_back: None,
                    lines,
                },
            }
        }
        Figures::Return { result } => {
            let total = receipt.total();
            LoyaltyResult {
                impacts: Vec::new(),
                total,
                discount: Money::ZERO,
                spent: Bonus::ZERO,
                to_pay: total,
                data: LoyaltyData {
                    operation_id,
                    customer_id: None,
                    offline: false,
                },
                printable_data: PrintableData {
                    card: String::new(),
                    spent: None,
                    accrued: None,
                    balance: None,
                    refunded: Some(result.refunded),
                    clawed_back: Some(result.clawed_back),
                    lines: vec![
                        format!(
                            "Возвращено бонусов: {}",
                            whole(&result.refunded.to_string())
                        ),
                        format!(
                            "Списано начисленных бонусов: {}",
                            whole(&result.clawed_back.to_string())
                        ),
                    ],
                },
            }
        }
    }
}

/// "100.00" → "100": whole bonuses print without kopecks.
fn whole(amount: &str) -> &str {
    amount.strip_suffix(".00").unwrap_or(amount)
}
