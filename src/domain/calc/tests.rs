use super::*;
use crate::domain::rules::Rules;

const SPEC: &str = include_str!("../../../tests/fixtures/spec_rules.toml");

/// Rules with one card whose body is `card`; `extra` goes after it.
fn rules(card: &str, extra: &str) -> Rules {
    Rules::from_toml_str(&format!(
        "version = 1\ncurrency = \"RUB\"\n[[card]]\nname = \"A\"\n{card}\n{extra}"
    ))
    .unwrap()
}

fn customer(balance: &str) -> CustomerState {
    CustomerState {
        card: "A".into(),
        balance: balance.parse().unwrap(),
        purchases_sum: Money::ZERO,
        purchases_count: 0,
        can_spend: true,
        loyalty: true,
    }
}

/// A receipt at a Monday noon in Moscow; each position is (price, quantity, category).
fn receipt(positions: &[(&str, &str, &str)]) -> Receipt {
    let ps: Vec<String> = positions
        .iter()
        .enumerate()
        .map(|(i, (price, q, cat))| {
            let measure = if q.contains('.') { "weight" } else { "piece" };
            format!(
                r#"{{"id":"{}","sku":"sku{i}","category":"{cat}","price":"{price}","quantity":"{q}","measure":"{measure}"}}"#,
                i + 1
            )
        })
        .collect();
    serde_json::from_str(&format!(
        r#"{{"id":"r1","kind":"sale","at":"2026-11-23T12:00:00+03:00","positions":[{}]}}"#,
        ps.join(",")
    ))
    .unwrap()
}

fn b(s: &str) -> Bonus {
    s.parse().unwrap()
}

#[test]
fn seed_004_ten_percent_accrual_on_550_is_55() {
    let r = rules("accrual = { percent = \"10\" }", "");
    let c = calculate(
        &r,
        &customer("0"),
        &receipt(&[("550.00", "1", "x")]),
        Bonus::ZERO,
    )
    .unwrap();
    assert_eq!(c.accrued.to_string(), "55.00");
    assert_eq!(c.to_pay.to_string(), "550.00");
}

#[test]
fn seed_004_max_spend_of_10000_at_30_percent_with_5000_balance_is_3000() {
    let r = rules("spend = { max_percent = \"30\" }", "");
    let c = calculate(
        &r,
        &customer("5000"),
        &receipt(&[("10000.00", "1", "x")]),
        Bonus::ZERO,
    )
    .unwrap();
    assert_eq!(c.max_spend.to_string(), "3000.00");
}

#[test]
fn seed_003_a_100_ruble_ticket_at_10_percent_spends_10_and_pays_90() {
    let r = rules("spend = { max_percent = \"10\" }", "");
    let rc = receipt(&[("100.00", "1", "cinema")]);
    let c = calculate(&r, &customer("500"), &rc, Bonus::ZERO).unwrap();
    assert_eq!(c.max_spend.to_string(), "10.00");
    let c = calculate(&r, &customer("500"), &rc, b("10")).unwrap();
    assert_eq!(c.to_pay.to_string(), "90.00");
    assert!(matches!(
        calculate(&r, &customer("500"), &rc, b("11")),
        Err(CalcError::SpendAboveMax { .. })
    ));
}

#[test]
fn seed_003_receipt_720_with_spend_7_pays_713() {
    let r = rules("spend = { max_percent = \"100\" }", "");
    let c = calculate(
        &r,
        &customer("7"),
        &receipt(&[("720.00", "1", "bar")]),
        b("7"),
    )
    .unwrap();
    assert_eq!(c.to_pay.to_string(), "713.00");
    assert_eq!(c.spent.to_string(), "7.00");
}

#[test]
fn the_spec_sample_result_matches_field_for_field() {
    let r = Rules::from_toml_str(SPEC).unwrap();
    let rc: Receipt = serde_json::from_str(
        r#"{ "id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "kind": "sale", "at": "2026-11-22T14:05:00+03:00",
  "store": "store-1", "cashier": "Кассир 1",
  "positions": [ { "id": "1", "sku": "4601234567890", "name": "Капучино", "category": "coffee",
                   "price": "234.00", "quantity": "1", "measure": "piece", "excise": false } ] }"#,
    )
    .unwrap();
    let mut cust = customer("100");
    cust.card = "Стандартная".into();
    let c = calculate(&r, &cust, &rc, Bonus::ZERO).unwrap();
    let want: serde_json::Value = serde_json::from_str(
        r#"{ "card": "Стандартная", "total": "234.00", "discount": "0.00", "max_spend": "100.00",
  "spent": "0.00", "to_pay": "234.00", "accrued": "5.00",
  "positions": [ { "id": "1", "sum": "234.00", "discount": "0.00", "spent": "0.00",
                   "paid": "234.00", "accrued": "5.00",
                   "impacts": [ { "price": "234.00", "quantity": "1" } ] } ] }"#,
    )
    .unwrap();
    assert_eq!(serde_json::to_value(&c).unwrap(), want);
}

#[test]
fn three_croissants_with_ten_rubles_off_split_into_two_unit_prices() {
    let r = rules("discount_percent = \"0\"\nspend = {}", "");
    let c = calculate(
        &r,
        &customer("10"),
        &receipt(&[("99.99", "3", "x")]),
        b("10"),
    )
    .unwrap();
    let p = &c.positions[0];
    assert_eq!(p.paid.to_string(), "289.97");
    let imp: Vec<_> = p
        .impacts
        .iter()
        .map(|i| (i.quantity.to_string(), i.price.to_string()))
        .collect();
    assert_eq!(
        imp,
        [("1".into(), "96.65".into()), ("2".into(), "96.66".into())]
    );
}

#[test]
fn excluded_positions_take_no_discount_no_spend_and_accrue_nothing() {
    let r = rules(
        "discount_percent = \"10\"\naccrual = { percent = \"5\" }\nspend = {}",
        "[exclusions]\ncategories = [\"tobacco\"]\nskus = [\"sku1\"]\n",
    );
    let mut rc = receipt(&[
        ("200.00", "1", "tobacco"),
        ("300.00", "1", "food"),
        ("100.00", "1", "food"),
        ("50.00", "1", "beer"),
    ]);
    rc.positions[3].excise = true;
    let c = calculate(&r, &customer("1000"), &rc, Bonus::ZERO).unwrap();
    for i in [0, 1, 3] {
        let p = &c.positions[i];
        assert!(
            p.discount.is_zero() && p.accrued.is_zero(),
            "position {i}: {p:?}"
        );
        assert_eq!(p.paid, p.sum);
    }
    assert_eq!(c.total.to_string(), "650.00");
    assert_eq!(c.discount.to_string(), "10.00");
    assert_eq!(c.max_spend.to_string(), "89.00");
    let c = calculate(&r, &customer("1000"), &rc, b("89")).unwrap();
    assert_eq!(c.positions[2].spent.to_string(), "89.00");
}

#[test]
fn category_overrides_lie_over_the_card_rule() {
    let r = rules(
        "accrual = { percent = \"2\" }\nspend = { max_percent = \"100\" }\n[[card.category]]\nname = \"bar\"\naccrual = { percent = \"5\" }\nspend = { max_percent = \"10\" }\ndiscount_percent = \"7\"",
        "",
    );
    let c = calculate(
        &r,
        &customer("10000"),
        &receipt(&[("1000.00", "1", "bar"), ("1000.00", "1", "food")]),
        Bonus::ZERO,
    )
    .unwrap();
    assert_eq!(c.positions[0].discount.to_string(), "70.00");
    assert_eq!(c.positions[0].accrued.to_string(), "47.00"); // 5% of 930.00 = 46.5 → 47
    assert_eq!(c.positions[1].accrued.to_string(), "20.00");
    assert_eq!(c.max_spend.to_string(), "1092.00"); // 93.00 + 999.99, floored to 1
}

#[test]
fn a_promotion_applies_only_within_its_dates_and_hours() {
    let r = Rules::from_toml_str(SPEC).unwrap();
    let mut cust = customer("1000");
    cust.card = "Стандартная".into();
    let mut rc = receipt(&[("1000.00", "1", "coffee"), ("500.00", "1", "tobacco")]);
    // Monday 2026-12-14, 11:00 Moscow: within the happy hours.
    rc.at = "2026-12-14T11:00:00+03:00".parse().unwrap();
    let c = calculate(&r, &cust, &rc, Bonus::ZERO).unwrap();
    assert_eq!(c.positions[0].discount.to_string(), "100.00");
    assert_eq!(c.positions[0].accrued.to_string(), "27.00"); // 3% of 900
    assert_eq!(c.max_spend, Bonus::ZERO, "the promotion forbids spend");
    assert!(
        c.positions[1].discount.is_zero(),
        "tobacco is excluded even from a * promotion"
    );
    // 12:00 is past the window: the card rule again.
    rc.at = "2026-12-14T12:00:00+03:00".parse().unwrap();
    let c = calculate(&r, &cust, &rc, Bonus::ZERO).unwrap();
    assert!(c.positions[0].discount.is_zero());
    assert_eq!(c.positions[0].accrued.to_string(), "20.00");
}

#[test]
fn the_first_matching_promotion_in_file_order_wins() {
    let r = rules(
        "",
        "[[promotion]]\nname = \"sku\"\nfrom = \"2026-01-01\"\nto = \"2026-12-31\"\nskus = [\"sku0\"]\ndiscount_percent = \"20\"\n\
         [[promotion]]\nname = \"all\"\nfrom = \"2026-01-01\"\nto = \"2026-12-31\"\ncategories = [\"*\"]\ndiscount_percent = \"5\"\n",
    );
    let c = calculate(
        &r,
        &customer("0"),
        &receipt(&[("100.00", "1", "x"), ("100.00", "1", "x")]),
        Bonus::ZERO,
    )
    .unwrap();
    assert_eq!(c.positions[0].discount.to_string(), "20.00");
    assert_eq!(c.positions[1].discount.to_string(), "5.00");
}

#[test]
fn a_spend_is_spread_in_proportion_to_the_caps_with_kopecks_to_the_largest() {
    let r = rules("spend = { max_percent = \"100\" }", "");
    let rc = receipt(&[
        ("100.00", "1", "x"),
        ("100.00", "1", "x"),
        ("100.00", "1", "x"),
    ]);
    let c = calculate(&r, &customer("1000"), &rc, b("100")).unwrap();
    let spent: Vec<String> = c.positions.iter().map(|p| p.spent.to_string()).collect();
    // Equal caps: 33.33 each, the leftover kopeck to the later position on the tie.
    assert_eq!(spent, ["33.33", "33.33", "33.34"]);
}

#[test]
fn min_unit_price_keeps_every_unit_at_a_kopeck_or_more() {
    let r = rules(
        "discount_percent = \"100\"\nspend = { max_percent = \"100\" }",
        "",
    );
    let c = calculate(
        &r,
        &customer("1000"),
        &receipt(&[("10.00", "3", "x")]),
        Bonus::ZERO,
    )
    .unwrap();
    assert_eq!(c.positions[0].discount.to_string(), "29.97");
    assert_eq!(c.max_spend, Bonus::ZERO);
    assert_eq!(c.positions[0].impacts[0].price.to_string(), "0.01");
}

#[test]
fn min_bonus_and_spend_step_shape_the_max_spend() {
    let r = rules("spend = { max_percent = \"10\", min_bonus = \"50\" }", "");
    let c = calculate(
        &r,
        &customer("1000"),
        &receipt(&[("499.00", "1", "x")]),
        Bonus::ZERO,
    )
    .unwrap();
    assert_eq!(
        c.max_spend,
        Bonus::ZERO,
        "49.90 floors to 49, below min_bonus 50"
    );
    let r = rules("spend = { max_percent = \"10\" }", "");
    let r = Rules {
        spend_step: b("5"),
        ..r
    };
    let c = calculate(
        &r,
        &customer("1000"),
        &receipt(&[("499.00", "1", "x")]),
        Bonus::ZERO,
    )
    .unwrap();
    assert_eq!(c.max_spend.to_string(), "45.00");
    assert!(matches!(
        calculate(
            &r,
            &customer("1000"),
            &receipt(&[("499.00", "1", "x")]),
            b("7")
        ),
        Err(CalcError::SpendNotMultiple { .. })
    ));
}

#[test]
fn a_negative_balance_or_an_unverified_customer_cannot_spend() {
    let r = rules("spend = {}", "");
    let rc = receipt(&[("100.00", "1", "x")]);
    assert_eq!(
        calculate(&r, &customer("-5"), &rc, Bonus::ZERO)
            .unwrap()
            .max_spend,
        Bonus::ZERO
    );
    let mut c = customer("100");
    c.can_spend = false;
    assert_eq!(
        calculate(&r, &c, &rc, Bonus::ZERO).unwrap().max_spend,
        Bonus::ZERO
    );
}

#[test]
fn accrual_is_on_the_ruble_part_only() {
    let r = rules("accrual = { percent = \"10\" }\nspend = {}", "");
    let r = Rules {
        bonus_rounding: BonusRounding::Kopeck,
        ..r
    };
    let c = calculate(
        &r,
        &customer("100"),
        &receipt(&[("234.56", "1", "x")]),
        b("100"),
    )
    .unwrap();
    assert_eq!(c.accrued.to_string(), "13.46"); // 10% of 134.56 = 13.456 → 13.46
}

#[test]
fn progressive_accrual_picks_the_tier_by_the_receipts_ruble_payment() {
    let card = "accrual = { progressive = [ { from = \"0\", percent = \"2\" }, { from = \"5000\", percent = \"5\" } ] }\nspend = {}";
    let r = rules(card, "");
    let rc = receipt(&[("3000.00", "1", "x"), ("2500.00", "1", "x")]);
    let c = calculate(&r, &customer("1000"), &rc, Bonus::ZERO).unwrap();
    assert_eq!(c.accrued.to_string(), "275.00");
    // Spending 600 drops the ruble payment under 5000: the lower tier.
    let c = calculate(&r, &customer("1000"), &rc, b("600")).unwrap();
    assert_eq!(c.to_pay.to_string(), "4900.00");
    assert_eq!(c.accrued.to_string(), "98.00");
}

#[test]
fn every_rub_accrual_is_per_receipt_and_spread_by_payment() {
    let r = rules("accrual = { every_rub = \"100\", bonus = \"5\" }", "");
    let rc = receipt(&[("150.00", "1", "x"), ("99.00", "1", "x")]);
    let c = calculate(&r, &customer("0"), &rc, Bonus::ZERO).unwrap();
    // floor(249 / 100) × 5 = 10 for the receipt, though no single line reaches 200.
    assert_eq!(c.accrued.to_string(), "10.00");
    let parts: Vec<String> = c.positions.iter().map(|p| p.accrued.to_string()).collect();
    assert_eq!(parts, ["7.00", "3.00"]);
}

#[test]
fn a_weighed_position_keeps_one_impact_within_a_kopeck() {
    let r = rules("discount_percent = \"3\"", "");
    let c = calculate(
        &r,
        &customer("0"),
        &receipt(&[("1890.00", "2.735", "coffee")]),
        Bonus::ZERO,
    )
    .unwrap();
    let p = &c.positions[0];
    assert_eq!(p.impacts.len(), 1);
    let printed = p.impacts[0].price.amount() * p.impacts[0].quantity.amount();
    assert!(
        (printed - p.paid.amount()).abs() <= Decimal::new(1, 2),
        "{p:?}"
    );
    assert_eq!(p.sum - p.discount, p.paid);
}

#[test]
fn unknown_card_negative_spend_and_returns_are_refused() {
    let r = rules("", "");
    let rc = receipt(&[("1.00", "1", "x")]);
    let mut c = customer("0");
    c.card = "Платиновая".into();
    assert!(matches!(
        calculate(&r, &c, &rc, Bonus::ZERO),
        Err(CalcError::UnknownCard(_))
    ));
    assert!(matches!(
        calculate(&r, &customer("5"), &rc, b("-1")),
        Err(CalcError::NegativeSpend)
    ));
    let mut ret = rc.clone();
    ret.kind = ReceiptKind::Return;
    ret.original_receipt = Some("x".into());
    assert!(matches!(
        calculate(&r, &customer("0"), &ret, Bonus::ZERO),
        Err(CalcError::NotASale)
    ));
}

#[test]
fn spread_caps_overflow_at_the_limits() {
    let k = |s: &str| s.parse::<Decimal>().unwrap();
    let caps = [k("0.01"), k("0.01"), k("0.01")];
    let shares = spread(k("0.02"), &caps, 2, Some(&caps));
    assert_eq!(shares, [k("0"), k("0.01"), k("0.01")]);
}

#[test]
fn without_the_processing_consent_a_receipt_is_priced_as_for_no_customer() {
    let rules = rules(
        "discount_percent = \"5\"\naccrual = { percent = \"10\" }\nspend = { max_percent = \"30\" }",
        "",
    );
    let receipt = receipt(&[("1000.00", "1", "food")]);
    let with = calculate(&rules, &customer("500"), &receipt, Bonus::ZERO).unwrap();
    assert!(!with.accrued.is_zero() && !with.discount.is_zero() && !with.max_spend.is_zero());
    let withdrawn = CustomerState {
        loyalty: false,
        ..customer("500")
    };
    let calc = calculate(&rules, &withdrawn, &receipt, Bonus::ZERO).unwrap();
    assert_eq!(calc.discount, Money::ZERO);
    assert_eq!(calc.accrued, Bonus::ZERO);
    assert_eq!(calc.max_spend, Bonus::ZERO);
    assert_eq!(calc.to_pay, calc.total);
    let spend = calculate(
        &rules,
        &withdrawn,
        &receipt,
        Bonus::new(rust_decimal::Decimal::ONE),
    );
    assert!(matches!(spend, Err(CalcError::SpendAboveMax { .. })));
}
