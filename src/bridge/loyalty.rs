//! The loyalty result the register prints: the prices, the spend, the accrual and the
//! lines of the slip, for an applied sale or return.
use super::wire::{LoyaltyData, LoyaltyResult, PositionImpact, PrintableData};
use crate::checkout::{Applied, AppliedWhat};
use crate::domain::money::Money;

/// The answer for an applied receipt.
pub fn loyalty_result(applied: &Applied) -> LoyaltyResult {
    let operation_id = applied.operation_id.to_string();
    match &applied.what {
        AppliedWhat::Sale { priced, .. } => {
            let calc = &priced.calculation;
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
            let balance = priced.customer.balance - calc.spent;
            let mut lines = vec![format!("Карта: {}", calc.card)];
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
            if priced.offline {
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
                    customer_id: Some(priced.customer.id.clone()),
                    offline: priced.offline,
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
        AppliedWhat::Return { result, .. } => {
            let total = applied.receipt.total();
            LoyaltyResult {
                impacts: Vec::new(),
                total,
                discount: Money::ZERO,
                spent: crate::domain::money::Bonus::ZERO,
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
