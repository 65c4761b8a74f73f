use super::*;
use chrono::TimeZone;

const SPEC: &str = include_str!("../../../tests/fixtures/spec_rules.toml");
const DEMO: &str = include_str!("../../../assets/demo/rules.toml");

fn err(text: &str) -> RulesError {
    Rules::from_toml_str(text).unwrap_err()
}

/// A minimal valid file with `extra` appended to its one card.
fn with_card(extra: &str) -> String {
    format!("version = 1\ncurrency = \"RUB\"\n[[card]]\nname = \"A\"\n{extra}\n")
}

#[test]
fn the_spec_rules_file_parses_with_every_key() {
    let r = Rules::from_toml_str(SPEC).unwrap();
    assert_eq!(r.bonus_rounding, BonusRounding::Whole);
    assert_eq!(r.spend_step.to_string(), "1.00");
    assert_eq!(r.min_unit_price.to_string(), "0.01");
    let c = &r.cards[0];
    assert_eq!(c.issue, IssueRule::Registration);
    assert_eq!(
        c.keep,
        Some(Threshold::PurchasesCount {
            count: 20,
            within_days: Some(30)
        })
    );
    assert!(c.cashier_can_issue);
    assert_eq!(c.welcome_bonus.as_ref().unwrap().lifetime_days, Some(7));
    assert_eq!(c.accrual, Accrual::Percent("2".parse().unwrap()));
    assert_eq!(c.burn_after_days, Some(365));
    assert_eq!(
        c.spend,
        SpendRule::Allowed {
            max_percent: Percent::HUNDRED,
            min_bonus: Bonus::ZERO
        }
    );
    assert_eq!(c.categories[0].name, "bar");
    assert_eq!(r.exclusions.categories, ["tobacco", "alcohol"]);
    let p = &r.promotions[0];
    assert_eq!(p.spend, Some(SpendRule::Forbidden));
    assert_eq!(p.hours.len(), 1);
    assert_eq!(r.referral.as_ref().unwrap().levels.len(), 2);
    assert_eq!(
        r.birthday.as_ref().unwrap().bonus.amount.to_string(),
        "1000.00"
    );
    assert!(r.first_purchase_gift.is_some());
    assert!(r.verification.allow_without_code);
    assert_eq!(
        r.verification.code_to_spend_over.unwrap().to_string(),
        "1000.00"
    );
    assert!(r.offline.spend_allowed);
    assert_eq!(r.offline.horizon_hours, 72);
}

#[test]
fn the_demo_rules_file_parses() {
    let r = Rules::from_toml_str(DEMO).unwrap();
    assert_eq!(r.cards.len(), 3);
    assert!(matches!(r.cards[2].accrual, Accrual::Progressive(ref t) if t.len() == 2));
    assert_eq!(
        r.cards[2].issue,
        IssueRule::Reached(Threshold::PurchasesSum {
            sum: "50000".parse().unwrap(),
            within_days: Some(365)
        })
    );
}

#[test]
fn every_accrual_form_parses() {
    for (text, want) in [
        ("accrual = \"none\"", Accrual::None),
        (
            "accrual = { every_rub = \"100\", bonus = \"5\" }",
            Accrual::EveryRub {
                every_rub: "100".parse().unwrap(),
                bonus: "5".parse().unwrap(),
            },
        ),
        (
            "accrual = { percent = 3 }",
            Accrual::Percent("3".parse().unwrap()),
        ),
    ] {
        assert_eq!(
            Rules::from_toml_str(&with_card(text)).unwrap().cards[0].accrual,
            want
        );
    }
}

#[test]
fn an_unknown_key_is_refused_with_its_line() {
    let e = err(&with_card("acrual = { percent = \"2\" }"));
    assert_eq!(e.line, Some(5), "{e}");
    assert!(e.problem.contains("acrual"), "{e}");
}

#[test]
fn a_bad_percent_names_the_key_path_and_line() {
    let e = err(&with_card("accrual = { percent = \"two\" }"));
    assert_eq!(e.path, "card[0].accrual.percent", "{e}");
    assert_eq!(e.line, Some(5));
    let e = err(&with_card("discount_percent = \"101\""));
    assert_eq!(e.path, "card[0].discount_percent", "{e}");
    assert!(e.problem.contains("between 0 and 100"), "{e}");
}

#[test]
fn a_float_amount_is_refused_with_advice() {
    let e = err(&with_card("discount_percent = 2.5"));
    assert!(e.problem.contains("\"2.5\""), "{e}");
}

#[test]
fn an_accrual_with_two_forms_is_refused() {
    let e = err(&with_card(
        "accrual = { percent = \"2\", every_rub = \"100\", bonus = \"1\" }",
    ));
    assert_eq!(e.path, "card[0].accrual", "{e}");
    assert!(e.problem.contains("exactly one form"), "{e}");
}

#[test]
fn unknown_words_are_refused_with_the_allowed_ones() {
    let e = err(&with_card("spend = \"sometimes\""));
    assert!(e.problem.contains("forbidden"), "{e}");
    let e = err(&with_card("issue = \"auto\""));
    assert!(e.problem.contains("registration"), "{e}");
    let e =
        err("version = 1\ncurrency = \"RUB\"\nbonus_rounding = \"up\"\n[[card]]\nname = \"A\"\n");
    assert_eq!(e.path, "bonus_rounding", "{e}");
}

#[test]
fn semantic_errors_name_the_key() {
    let cases = [
        (
            "version = 2\ncurrency = \"RUB\"\n[[card]]\nname = \"A\"\n",
            "version",
        ),
        (
            "version = 1\ncurrency = \"USD\"\n[[card]]\nname = \"A\"\n",
            "currency",
        ),
        ("version = 1\ncurrency = \"RUB\"\ncard = []\n", "card"),
        (
            "version = 1\ncurrency = \"RUB\"\nspend_step = \"0\"\n[[card]]\nname = \"A\"\n",
            "spend_step",
        ),
        (
            "version = 1\ncurrency = \"RUB\"\n[[card]]\nname = \"A\"\n[[card]]\nname = \"A\"\n",
            "card[1].name",
        ),
        (
            &with_card("accrual = { progressive = [ { from = \"100\", percent = \"2\" } ] }"),
            "card[0].accrual.progressive[0].from",
        ),
        (
            &with_card(
                "accrual = { progressive = [ { from = \"0\", percent = \"2\" }, { from = \"0\", percent = \"3\" } ] }",
            ),
            "card[0].accrual.progressive[1].from",
        ),
        (
            &with_card("issue = { purchases_count = 0 }"),
            "card[0].issue.purchases_count",
        ),
        (
            &with_card("welcome_bonus = { amount = \"-1\" }"),
            "card[0].welcome_bonus.amount",
        ),
        (
            &(with_card("")
                + "[[promotion]]\nname = \"P\"\nfrom = \"2026-12-31\"\nto = \"2026-12-01\"\ncategories = [\"*\"]\n"),
            "promotion[0].to",
        ),
        (
            &(with_card("")
                + "[[promotion]]\nname = \"P\"\nfrom = \"2026-12-01\"\nto = \"2026-12-31\"\n"),
            "promotion[0].categories",
        ),
        (
            &(with_card("") + "[offline]\nhorizon_hours = 0\n"),
            "offline.horizon_hours",
        ),
        (
            &(with_card("") + "[referral]\nlevels = []\n"),
            "referral.levels",
        ),
    ];
    for (text, path) in cases {
        let e = err(text);
        assert_eq!(e.path, path, "{e}");
    }
}

#[test]
fn syntax_errors_give_the_line() {
    let e = err("version = 1\ncurrency = \"RUB\n");
    assert_eq!(e.line, Some(2), "{e}");
    assert!(e.to_string().starts_with("line 2"), "{e}");
}

#[test]
fn bad_dates_and_hours_are_refused() {
    let promo = |from: &str, hours: &str| {
        with_card("")
            + &format!(
                "[[promotion]]\nname = \"P\"\nfrom = {from}\nto = \"2026-12-31\"\ncategories = [\"*\"]\nhours = [{hours}]\n"
            )
    };
    let e = err(&promo("\"2026-13-01\"", ""));
    assert_eq!(e.path, "promotion[0].from", "{e}");
    let e = err(&promo("2026-12-01", ""));
    assert_eq!(e.path, "promotion[0].from", "{e}");
    for bad in [
        "\"mon-fri\"",
        "\"fri-mon 10:00-12:00\"",
        "\"mon 12:00-10:00\"",
        "\"mon 25:00-26:00\"",
    ] {
        let e = err(&promo("\"2026-12-01\"", bad));
        assert!(e.path.starts_with("promotion[0].hours"), "{bad}: {e}");
    }
}

#[test]
fn happy_hours_follow_the_receipts_own_offset() {
    let r = Rules::from_toml_str(SPEC).unwrap();
    let promo = &r.promotions[0];
    let msk = FixedOffset::east_opt(3 * 3600).unwrap();
    // Monday 2026-12-14 11:00 in Moscow is 08:00 UTC.
    assert!(promo.is_active(&msk.with_ymd_and_hms(2026, 12, 14, 11, 0, 0).unwrap()));
    assert!(!promo.is_active(&msk.with_ymd_and_hms(2026, 12, 14, 12, 0, 0).unwrap()));
    assert!(
        !promo.is_active(&msk.with_ymd_and_hms(2026, 12, 13, 11, 0, 0).unwrap()),
        "sunday"
    );
    assert!(
        !promo.is_active(&msk.with_ymd_and_hms(2026, 12, 11, 11, 0, 0).unwrap()),
        "before from"
    );
    let utc = FixedOffset::east_opt(0).unwrap();
    assert!(
        !promo.is_active(
            &utc.with_ymd_and_hms(2026, 12, 14, 8, 0, 0)
                .unwrap()
                .with_timezone(&utc)
        )
    );
    assert!(
        promo.is_active(
            &utc.with_ymd_and_hms(2026, 12, 14, 8, 0, 0)
                .unwrap()
                .with_timezone(&msk)
        )
    );
}

#[test]
fn happy_hours_accept_lists_daily_and_midnight() {
    let h: HappyHours = "sat,sun 22:00-24:00".parse().unwrap();
    assert!(h.contains(5, NaiveTime::from_hms_opt(23, 59, 0).unwrap()));
    assert!(!h.contains(4, NaiveTime::from_hms_opt(23, 0, 0).unwrap()));
    let h: HappyHours = "10:00-11:00".parse().unwrap();
    assert!(h.contains(2, NaiveTime::from_hms_opt(10, 30, 0).unwrap()));
}

#[test]
fn keep_on_a_status_issued_only_by_hand_is_refused_with_its_key() {
    for issue in ["issue = \"manual\"\n", ""] {
        let e = err(&with_card(&format!(
            "{issue}keep = {{ purchases_count = 4, within_days = 90 }}"
        )));
        assert_eq!(e.path, "card[0].keep", "{e}");
        assert!(e.problem.contains("manual"), "{e}");
    }
    let ok = with_card("issue = { purchases_sum = \"100\" }\nkeep = { purchases_count = 1 }");
    assert!(Rules::from_toml_str(&ok).is_ok());
}
