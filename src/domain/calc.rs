//! The calculation of one receipt for one customer (SPEC.md §3, steps 1–7).
//!
//! Pure and deterministic: the terminal (online or offline) and the server call the same
//! function with the same rules and get the same kopecks. Every amount is a `Decimal`
//! newtype; nothing here rounds implicitly — each rounding is named (`round_half_up`,
//! `floor_dp`, `floor_to_step`) at the step of the spec that asks for it.
//!
//! The output (`Calculation`) is also the wire format of `bonuskassa calc` and of the
//! cash-register bridge: its field names are a contract; add fields, never rename them.

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};

use super::money::{
    Bonus, Money, Quantity, ceil_dp, div100, floor_dp, floor_to_step, round_half_up,
};
use super::receipt::{Measure, Position, Receipt, ReceiptError, ReceiptKind};
use super::rules::{Accrual, BonusRounding, Rules, SpendRule};

/// What the engine needs to know about a customer: their status and spendable balance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerState {
    /// The card status name, one of the rules file's `[[card]]` names.
    pub card: String,
    /// Active bonuses; negative after a claw-back larger than the balance.
    pub balance: Bonus,
    #[serde(default)]
    pub purchases_sum: Money,
    #[serde(default)]
    pub purchases_count: u32,
    /// False for a customer whose phone is not verified ("Без кода"): they accrue but may
    /// not spend.
    #[serde(default = "yes")]
    pub can_spend: bool,
    /// False for a customer who withdrew the consent to the processing of personal data:
    /// the receipt is priced as for no customer at all, every position as an excluded one
    /// (no card discount, no spend, no accrual), until the consent is given again.
    #[serde(default = "yes")]
    pub loyalty: bool,
}

fn yes() -> bool {
    true
}

/// One unit price the cash register prints, and for how many units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Impact {
    pub price: Money,
    pub quantity: Quantity,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PositionResult {
    pub id: String,
    pub sum: Money,
    pub discount: Money,
    pub spent: Bonus,
    pub paid: Money,
    pub accrued: Bonus,
    pub impacts: Vec<Impact>,
}

/// The result of a receipt: SPEC.md §5's JSON, field for field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Calculation {
    pub card: String,
    pub total: Money,
    pub discount: Money,
    pub max_spend: Bonus,
    pub spent: Bonus,
    pub to_pay: Money,
    pub accrued: Bonus,
    pub positions: Vec<PositionResult>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalcError {
    #[error("receipt {0}")]
    Receipt(#[from] ReceiptError),
    #[error("a return receipt is not calculated as a sale; compute it as a return")]
    NotASale,
    #[error("the customer's card status \"{0}\" is not in the rules file")]
    UnknownCard(String),
    #[error("the spend must not be negative")]
    NegativeSpend,
    #[error("a spend of {requested} is more than the {max} bonuses allowed on this receipt")]
    SpendAboveMax { requested: Bonus, max: Bonus },
    #[error("bonuses are spent in multiples of {step}; {requested} is not one")]
    SpendNotMultiple { requested: Bonus, step: Bonus },
}

/// The effective rule of one position after card, category and promotion are laid over
/// each other (step 2).
struct PositionRule<'a> {
    discount_percent: Decimal,
    accrual: &'a Accrual,
    spend: &'a SpendRule,
}

/// Working state of one position through steps 3–7, in plain decimals.
struct Line<'a> {
    pos: &'a Position,
    accrual: &'a Accrual,
    sum: Decimal,
    discount: Decimal,
    cap: Decimal,
    spent: Decimal,
    paid: Decimal,
    accrued: Decimal,
    /// The unit price a weighed position prints, once loyalty changed its sum.
    weighed_unit: Option<Decimal>,
}

static NO_ACCRUAL: Accrual = Accrual::None;
static NO_SPEND: SpendRule = SpendRule::Forbidden;

/// Calculates a sale receipt for a customer who spends `spend` bonuses.
pub fn calculate(
    rules: &Rules,
    customer: &CustomerState,
    receipt: &Receipt,
    spend: Bonus,
) -> Result<Calculation, CalcError> {
    receipt.validate()?;
    if receipt.kind != ReceiptKind::Sale {
        return Err(CalcError::NotASale);
    }
    let card = rules
        .card(&customer.card)
        .ok_or_else(|| CalcError::UnknownCard(customer.card.clone()))?;
    if spend.is_negative() {
        return Err(CalcError::NegativeSpend);
    }

    // Steps 1–4: sums, rules, discounts and spend caps, position by position.
    let mup = rules.min_unit_price.amount();
    let mut lines: Vec<Line> = Vec::with_capacity(receipt.positions.len());
    for pos in &receipt.positions {
        let sum = pos.sum().amount();
        let rule = if customer.loyalty {
            position_rule(rules, card, pos, receipt)
        } else {
            nothing()
        };
        // The least the position may cost: min_unit_price per unit (SPEC.md §3).
        let min_sum = ceil_dp(mup * pos.quantity.amount(), 2);
        let room = (sum - min_sum).max(Decimal::ZERO);
        let discount = round_half_up(div100(sum * rule.discount_percent), 2).min(room);
        let cap = match rule.spend {
            SpendRule::Allowed { max_percent, .. } => {
                floor_dp(max_percent.of(sum - discount), 2).min(room - discount)
            }
            SpendRule::Forbidden => Decimal::ZERO,
        };
        lines.push(Line {
            pos,
            accrual: rule.accrual,
            sum,
            discount,
            cap,
            spent: Decimal::ZERO,
            paid: Decimal::ZERO,
            accrued: Decimal::ZERO,
            weighed_unit: None,
        });
    }

    let step = rules.spend_step.amount();
    let max_spend = max_spend(card.spend.clone(), customer, &lines, step);
    if spend > max_spend {
        return Err(CalcError::SpendAboveMax {
            requested: spend,
            max: max_spend,
        });
    }
    if !(spend.amount() / step).fract().is_zero() {
        return Err(CalcError::SpendNotMultiple {
            requested: spend,
            step: rules.spend_step,
        });
    }

    // Step 5: spread the spend over the positions in proportion to their caps.
    let caps: Vec<Decimal> = lines.iter().map(|l| l.cap).collect();
    let shares = spread(spend.amount(), &caps, 2, Some(&caps));
    for (line, share) in lines.iter_mut().zip(shares) {
        line.spent = share;
        line.paid = line.sum - line.discount - share;
        // A weighed position prints one unit price; whatever that price cannot express
        // (less than a kopeck per unit) goes to the discount, so the printed price ×
        // quantity stays within a kopeck of what is paid.
        if line.pos.measure == Measure::Weight && line.paid != line.sum {
            let q = line.pos.quantity.amount();
            let unit = floor_dp(line.paid / q, 2);
            let paid = round_half_up(unit * q, 2);
            line.discount += line.paid - paid;
            line.paid = paid;
            line.weighed_unit = Some(unit);
        }
    }

    // Step 6: accrual on the ruble part.
    accrue(&mut lines, rules.bonus_rounding);

    // Step 7: output, with the unit prices the register prints.
    let positions: Vec<PositionResult> = lines.iter().map(position_result).collect();
    let total = lines.iter().map(|l| l.sum).sum();
    let discount = lines.iter().map(|l| l.discount).sum();
    let spent = lines.iter().map(|l| l.spent).sum();
    let to_pay = lines.iter().map(|l| l.paid).sum();
    let accrued = lines.iter().map(|l| l.accrued).sum();
    Ok(Calculation {
        card: card.name.clone(),
        total: Money::new(total),
        discount: Money::new(discount),
        max_spend,
        spent: Bonus::new(spent),
        to_pay: Money::new(to_pay),
        accrued: Bonus::new(accrued),
        positions,
    })
}

/// The rule of a position that gets nothing at all: an excluded one, or any position of a
/// customer without the consent to the processing of personal data.
fn nothing() -> PositionRule<'static> {
    PositionRule {
        discount_percent: Decimal::ZERO,
        accrual: &NO_ACCRUAL,
        spend: &NO_SPEND,
    }
}

/// Step 2: the card's rule, its category entry laid over it, then the first active
/// promotion over that. Excluded positions get nothing at all.
fn position_rule<'a>(
    rules: &'a Rules,
    card: &'a super::rules::CardRule,
    pos: &Position,
    receipt: &Receipt,
) -> PositionRule<'a> {
    if rules.is_excluded(pos) {
        return nothing();
    }
    let mut rule = PositionRule {
        discount_percent: card.discount_percent.amount(),
        accrual: &card.accrual,
        spend: &card.spend,
    };
    if let Some(cat) = card.category(&pos.category) {
        if let Some(d) = cat.discount_percent {
            rule.discount_percent = d.amount();
        }
        if let Some(a) = &cat.accrual {
            rule.accrual = a;
        }
        if let Some(s) = &cat.spend {
            rule.spend = s;
        }
    }
    if let Some(promo) = rules.promotion_for(pos, &receipt.at) {
        if let Some(d) = promo.discount_percent {
            rule.discount_percent = d.amount();
        }
        if let Some(a) = &promo.accrual {
            rule.accrual = a;
        }
        if let Some(s) = &promo.spend {
            rule.spend = s;
        }
    }
    rule
}

/// Step 4: the sum of the caps, capped by the balance, floored to the spend step; below
/// the card's `min_bonus`, nothing.
fn max_spend(
    card_spend: SpendRule,
    customer: &CustomerState,
    lines: &[Line],
    step: Decimal,
) -> Bonus {
    if !customer.can_spend || !customer.loyalty || customer.balance.amount() <= Decimal::ZERO {
        return Bonus::ZERO;
    }
    let caps: Decimal = lines.iter().map(|l| l.cap).sum();
    let max = floor_to_step(caps.min(customer.balance.amount()), step);
    let min_bonus = match card_spend {
        SpendRule::Allowed { min_bonus, .. } => min_bonus.amount(),
        SpendRule::Forbidden => Decimal::ZERO,
    };
    if max < min_bonus || max <= Decimal::ZERO {
        Bonus::ZERO
    } else {
        Bonus::new(max)
    }
}

/// Spreads `total` over items in proportion to `weights`: each share floored to units of
/// `10^-dp`, the units left over to the item with the largest weight (on a tie, the later
/// one). `total` is a whole number of those units; weights and limits are kopeck-exact.
///
/// With `limits`, no share exceeds its limit: leftover units that do not fit the largest
/// item go on to the next largest. This only matters when the shares sit at their limits
/// (a spend of nearly the whole max spend), and keeps "spent ≤ cap" true always.
///
/// The arithmetic is on integers (units and kopecks in `i128`): exact, and an order of
/// magnitude cheaper than rounding 28-digit decimal quotients.
pub(crate) fn spread(
    total: Decimal,
    weights: &[Decimal],
    dp: u32,
    limits: Option<&[Decimal]>,
) -> Vec<Decimal> {
    let scaled = |d: Decimal, dp: u32| {
        let mut x = d;
        x.rescale(dp);
        x.mantissa()
    };
    let total_u = scaled(total, dp);
    let w: Vec<i128> = weights.iter().map(|&d| scaled(d, 2)).collect();
    let weight_sum: i128 = w.iter().sum();
    if total_u <= 0 || weight_sum <= 0 {
        return vec![Decimal::ZERO; weights.len()];
    }
    let mut shares: Vec<i128> = w.iter().map(|&wi| total_u * wi / weight_sum).collect();
    let mut left = total_u - shares.iter().sum::<i128>();
    if left > 0 {
        // Limits in units, rounded down: a share never passes its limit.
        let limit_u: Option<Vec<i128>> =
            limits.map(|l| l.iter().map(|&d| scaled(floor_dp(d, dp), dp)).collect());
        let room = |shares: &[i128], i: usize, left: i128| match &limit_u {
            Some(l) => (l[i] - shares[i]).max(0),
            None => left,
        };
        // The largest weight takes the leftover (`max_by` returns the last of equal maxima:
        // the later position on a tie). Only when that share sits at its limit is a full
        // order needed.
        let largest = (0..w.len())
            .max_by_key(|&i| w[i])
            .expect("weights are not empty when their sum is positive");
        let take = room(&shares, largest, left).min(left);
        shares[largest] += take;
        left -= take;
        if left > 0 {
            let mut order: Vec<usize> = (0..w.len()).filter(|&i| i != largest).collect();
            order.sort_by(|&a, &b| w[b].cmp(&w[a]).then(b.cmp(&a)));
            for i in order {
                let take = room(&shares, i, left).min(left);
                shares[i] += take;
                left -= take;
                if left == 0 {
                    break;
                }
            }
        }
    }
    shares
        .into_iter()
        .map(|u| Decimal::from_i128_with_scale(u, dp))
        .collect()
}

/// Step 6: accrual per position on what the customer pays in rubles.
fn accrue(lines: &mut [Line], rounding: BonusRounding) {
    let dp = rounding.dp();
    // Progressive tiers are picked by the receipt's ruble payment over accruing positions.
    let accruing_paid: Decimal = lines
        .iter()
        .filter(|l| *l.accrual != Accrual::None)
        .map(|l| l.paid)
        .sum();
    for line in lines.iter_mut() {
        line.accrued = match line.accrual {
            Accrual::None | Accrual::EveryRub { .. } => Decimal::ZERO,
            Accrual::Percent(p) => round_half_up(p.of(line.paid), dp),
            Accrual::Progressive(tiers) => {
                let tier = tiers
                    .iter()
                    .rev()
                    .find(|t| t.from.amount() <= accruing_paid)
                    .unwrap_or(&tiers[0]);
                round_half_up(tier.percent.of(line.paid), dp)
            }
        };
    }
    // `every_rub` accrues on the receipt, per distinct (every_rub, bonus) pair, and is
    // spread over that pair's positions in proportion to their ruble payments.
    let mut groups: Vec<(Money, Bonus)> = Vec::new();
    for line in lines.iter() {
        if let Accrual::EveryRub { every_rub, bonus } = line.accrual
            && !groups.contains(&(*every_rub, *bonus))
        {
            groups.push((*every_rub, *bonus));
        }
    }
    for (every_rub, bonus) in groups {
        let members: Vec<usize> = (0..lines.len())
            .filter(|&i| {
                matches!(lines[i].accrual, Accrual::EveryRub { every_rub: e, bonus: b } if *e == every_rub && *b == bonus)
            })
            .collect();
        let weights: Vec<Decimal> = members.iter().map(|&i| lines[i].paid).collect();
        let paid: Decimal = weights.iter().sum();
        let amount = (paid / every_rub.amount()).floor() * bonus.amount();
        // A bonus per ruble step may itself have kopecks; spread it in the finest unit
        // that keeps the receipt's total exact.
        let dp = if amount.fract().is_zero() { dp } else { 2 };
        for (&i, share) in members.iter().zip(spread(amount, &weights, dp, None)) {
            lines[i].accrued = share;
        }
    }
}

fn position_result(line: &Line) -> PositionResult {
    PositionResult {
        id: line.pos.id.clone(),
        sum: Money::new(line.sum),
        discount: Money::new(line.discount),
        spent: Bonus::new(line.spent),
        paid: Money::new(line.paid),
        accrued: Bonus::new(line.accrued),
        impacts: impacts(line),
    }
}

/// Unit prices for the register: a piece position whose paid sum does not divide by its
/// quantity splits in two (e.g. 3 × 99.99 − 10.00 → 1 × 96.65 + 2 × 96.66); a weighed
/// position keeps one price, already made exact to the kopeck in step 5.
fn impacts(line: &Line) -> Vec<Impact> {
    let q = line.pos.quantity;
    if line.paid == line.sum {
        return vec![Impact {
            price: line.pos.price,
            quantity: q,
        }];
    }
    match line.pos.measure {
        Measure::Weight => vec![Impact {
            price: Money::new(line.weighed_unit.unwrap_or(line.pos.price.amount())),
            quantity: q,
        }],
        Measure::Piece => {
            let units = q.amount();
            let kopecks = Money::new(line.paid).kopecks();
            // Receipt validation guarantees a whole, positive, bounded piece count.
            let n = units.trunc().to_i64().unwrap_or(1).max(1);
            let (base, rem) = (kopecks / n, kopecks % n);
            let qty = |k: i64| Quantity::new(Decimal::from(k)).expect("a positive whole count");
            if rem == 0 {
                vec![Impact {
                    price: Money::from_kopecks(base),
                    quantity: q,
                }]
            } else {
                vec![
                    Impact {
                        price: Money::from_kopecks(base),
                        quantity: qty(n - rem),
                    },
                    Impact {
                        price: Money::from_kopecks(base + 1),
                        quantity: qty(rem),
                    },
                ]
            }
        }
    }
}

#[cfg(test)]
mod tests;
