//! Property tests of the receipt engine's invariants (SPEC.md §3): impacts add up to the
//! kopeck, no unit below the minimum price, spend within its bounds, excluded positions
//! untouched, and returns that never exceed the sale.

use bonuskassa::domain::calc::{Calculation, CustomerState, calculate};
use bonuskassa::domain::money::{Bonus, Money, floor_to_step};
use bonuskassa::domain::receipt::{Measure, Position, Receipt, ReceiptKind};
use bonuskassa::domain::returns::{ReturnLine, Returned, Sale, compute_return, record_return};
use bonuskassa::domain::rules::Rules;
use proptest::prelude::*;
use rust_decimal::Decimal;

const CATEGORIES: [&str; 4] = ["food", "bar", "tobacco", "bakery"];

fn dec(units: i64, scale: u32) -> Decimal {
    Decimal::new(units, scale)
}

/// A rules file with random rates and rounding, and one category override.
fn rules_strategy() -> impl Strategy<Value = Rules> {
    (
        0i64..=10_000,  // discount, hundredths of a percent
        0i64..=10_000,  // max spend percent
        0usize..4,      // accrual form
        1i64..=2_000,   // accrual percent, hundredths
        prop::bool::ANY,
        prop::sample::select(vec!["0.01", "1", "5"]),
        prop::sample::select(vec!["0.01", "0.10", "1.00"]),
        0i64..=10_000,
        prop::bool::ANY, // promotion active
    )
        .prop_map(|(disc, maxp, form, acc, whole, step, mup, cat_disc, promo)| {
            let accrual = match form {
                0 => format!("{{ percent = \"{}\" }}", dec(acc, 2)),
                1 => "{ every_rub = \"100\", bonus = \"3\" }".to_string(),
                2 => format!(
                    "{{ progressive = [ {{ from = \"0\", percent = \"{}\" }}, {{ from = \"1000\", percent = \"{}\" }} ] }}",
                    dec(acc, 2),
                    dec(acc * 2, 2)
                ),
                _ => "\"none\"".to_string(),
            };
            let promo = if promo {
                "[[promotion]]\nname = \"P\"\nfrom = \"2026-01-01\"\nto = \"2026-12-31\"\ncategories = [\"bakery\"]\ndiscount_percent = \"15\"\n"
            } else {
                ""
            };
            let text = format!(
                "version = 1\ncurrency = \"RUB\"\nbonus_rounding = \"{}\"\nspend_step = \"{step}\"\nmin_unit_price = \"{mup}\"\n\
                 [[card]]\nname = \"A\"\ndiscount_percent = \"{}\"\naccrual = {accrual}\nspend = {{ max_percent = \"{}\" }}\n\
                 [[card.category]]\nname = \"bar\"\ndiscount_percent = \"{}\"\nspend = \"forbidden\"\n\
                 [exclusions]\ncategories = [\"tobacco\"]\n{promo}",
                if whole { "whole" } else { "kopeck" },
                dec(disc, 2),
                dec(maxp, 2),
                dec(cat_disc, 2),
            );
            Rules::from_toml_str(&text).expect("generated rules are valid")
        })
}

fn position_strategy(piece_only: bool) -> impl Strategy<Value = (i64, i64, bool, usize, bool)> {
    (
        100i64..=1_000_000, // price in kopecks, from 1.00
        1i64..=10_000,      // quantity: pieces 1..10, or grams
        if piece_only {
            Just(false).boxed()
        } else {
            prop::bool::ANY.boxed()
        },
        0usize..CATEGORIES.len(),
        prop::bool::weighted(0.1), // excise
    )
}

fn receipt(positions: &[(i64, i64, bool, usize, bool)]) -> Receipt {
    Receipt {
        id: "r".into(),
        kind: ReceiptKind::Sale,
        at: "2026-11-23T12:00:00+03:00".parse().unwrap(),
        store: String::new(),
        cashier: String::new(),
        original_receipt: None,
        positions: positions
            .iter()
            .enumerate()
            .map(|(i, &(price, q, weighed, cat, excise))| Position {
                id: format!("{}", i + 1),
                sku: format!("sku{i}"),
                name: String::new(),
                category: CATEGORIES[cat].into(),
                price: Money::from_kopecks(price),
                quantity: if weighed {
                    dec(q, 3).to_string().parse().unwrap()
                } else {
                    Decimal::from(q % 10 + 1).to_string().parse().unwrap()
                },
                measure: if weighed {
                    Measure::Weight
                } else {
                    Measure::Piece
                },
                excise,
            })
            .collect(),
    }
}

fn customer(balance: i64) -> CustomerState {
    CustomerState {
        card: "A".into(),
        balance: Bonus::new(dec(balance, 2)),
        purchases_sum: Money::ZERO,
        purchases_count: 0,
        can_spend: true,
        loyalty: true,
    }
}

/// Calculates with a spend that is `fraction`/100 of the max spend, on the spend step.
fn calc_with_share(
    rules: &Rules,
    r: &Receipt,
    balance: i64,
    fraction: i64,
) -> (Calculation, Calculation) {
    let cust = customer(balance);
    let zero = calculate(rules, &cust, r, Bonus::ZERO).expect("a zero spend always calculates");
    let want = zero.max_spend.amount() * Decimal::from(fraction) / Decimal::ONE_HUNDRED;
    let spend = Bonus::new(floor_to_step(want, rules.spend_step.amount()));
    let with = calculate(rules, &cust, r, spend).expect("a spend within max spend calculates");
    (zero, with)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn piece_impacts_add_up_to_to_pay_exactly(
        rules in rules_strategy(),
        ps in prop::collection::vec(position_strategy(true), 1..20),
        balance in -10_000i64..10_000_000,
        fraction in 0i64..=100,
    ) {
        let r = receipt(&ps);
        let (_, c) = calc_with_share(&rules, &r, balance, fraction);
        let printed: Decimal = c.positions.iter()
            .flat_map(|p| &p.impacts)
            .map(|i| i.price.amount() * i.quantity.amount())
            .sum();
        prop_assert_eq!(printed, c.to_pay.amount());
        for (p, pos) in c.positions.iter().zip(&r.positions) {
            let q: Decimal = p.impacts.iter().map(|i| i.quantity.amount()).sum();
            prop_assert_eq!(q, pos.quantity.amount(), "impacts cover the quantity");
            prop_assert!(p.impacts.len() <= 2);
        }
    }

    #[test]
    fn amounts_balance_and_no_unit_drops_below_the_minimum(
        rules in rules_strategy(),
        ps in prop::collection::vec(position_strategy(false), 1..20),
        balance in -10_000i64..10_000_000,
        fraction in 0i64..=100,
    ) {
        let r = receipt(&ps);
        let (zero, c) = calc_with_share(&rules, &r, balance, fraction);
        prop_assert_eq!(c.total, c.to_pay + c.discount + Money::from_bonus(c.spent));
        prop_assert_eq!(c.max_spend, zero.max_spend);
        prop_assert!(c.spent <= c.max_spend);
        prop_assert!(c.max_spend <= c.balance_bound(balance));
        prop_assert!((c.max_spend.amount() / rules.spend_step.amount()).fract().is_zero());
        let mup = rules.min_unit_price.amount();
        for (p, pos) in c.positions.iter().zip(&r.positions) {
            prop_assert_eq!(p.sum, p.discount + Money::from_bonus(p.spent) + p.paid);
            prop_assert!(!p.discount.is_negative() && !p.spent.is_negative() && !p.accrued.is_negative());
            for i in &p.impacts {
                prop_assert!(i.price.amount() >= mup, "unit {} below {}", i.price, mup);
            }
            if pos.measure == Measure::Weight {
                prop_assert_eq!(p.impacts.len(), 1);
                let printed = p.impacts[0].price.amount() * pos.quantity.amount();
                prop_assert!((printed - p.paid.amount()).abs() <= dec(1, 2), "{:?}", p);
            }
        }
    }

    #[test]
    fn excluded_positions_are_untouched(
        rules in rules_strategy(),
        ps in prop::collection::vec(position_strategy(false), 1..20),
        balance in 0i64..10_000_000,
        fraction in 0i64..=100,
    ) {
        let r = receipt(&ps);
        let (_, c) = calc_with_share(&rules, &r, balance, fraction);
        for (p, pos) in c.positions.iter().zip(&r.positions) {
            if pos.excise || pos.category == "tobacco" {
                prop_assert!(p.discount.is_zero() && p.spent.is_zero() && p.accrued.is_zero());
                prop_assert_eq!(p.paid, p.sum);
                prop_assert_eq!(p.impacts.len(), 1);
                prop_assert_eq!(p.impacts[0].price, pos.price);
            }
        }
    }

    #[test]
    fn a_chain_of_partial_returns_equals_one_full_return_and_never_exceeds_the_sale(
        rules in rules_strategy(),
        ps in prop::collection::vec(position_strategy(false), 1..8),
        balance in 0i64..10_000_000,
        fraction in 0i64..=100,
        cuts in prop::collection::vec(1i64..=100, 1..5),
    ) {
        let r = receipt(&ps);
        let (_, c) = calc_with_share(&rules, &r, balance, fraction);
        let sale = Sale::from_calculation(&r, &c);
        let full_lines: Vec<ReturnLine> = sale.positions.iter()
            .map(|p| ReturnLine { position_id: p.id.clone(), quantity: p.quantity })
            .collect();
        let full = compute_return(&sale, &Returned::new(), &full_lines).unwrap();
        prop_assert_eq!(full.refunded, c.spent);
        prop_assert_eq!(full.clawed_back, c.accrued);
        prop_assert_eq!(full.paid, c.to_pay);

        // Return each position in pieces: the cuts, then whatever is left.
        let mut returned = Returned::new();
        let (mut refunded, mut clawed, mut paid) = (Bonus::ZERO, Bonus::ZERO, Money::ZERO);
        for p in &sale.positions {
            let unit = if p.measure == Measure::Piece { Decimal::ONE } else { dec(1, 3) };
            let total = p.quantity.amount();
            let mut done = Decimal::ZERO;
            for cut in cuts.iter().chain(std::iter::once(&100)) {
                let left = total - done;
                if left.is_zero() { break; }
                let mut q = (total * Decimal::from(*cut) / Decimal::ONE_HUNDRED / unit).floor() * unit;
                if *cut == 100 || q > left { q = left; }
                if q.is_zero() { continue; }
                let line = ReturnLine { position_id: p.id.clone(), quantity: q.to_string().parse().unwrap() };
                let part = compute_return(&sale, &returned, &[line]).unwrap();
                record_return(&mut returned, &part);
                refunded += part.refunded;
                clawed += part.clawed_back;
                paid += part.paid;
                prop_assert!(refunded <= c.spent && clawed <= c.accrued && paid <= c.to_pay);
                done += q;
            }
            let over = ReturnLine { position_id: p.id.clone(), quantity: "1".parse().unwrap() };
            prop_assert!(compute_return(&sale, &returned, &[over]).is_err());
        }
        prop_assert_eq!(refunded, full.refunded);
        prop_assert_eq!(clawed, full.clawed_back);
        prop_assert_eq!(paid, full.paid);
    }
}

/// The max spend can never exceed what the customer holds.
trait BalanceBound {
    fn balance_bound(&self, balance: i64) -> Bonus;
}

impl BalanceBound for Calculation {
    fn balance_bound(&self, balance: i64) -> Bonus {
        Bonus::new(dec(balance, 2)).max(Bonus::ZERO)
    }
}
