//! Reading a rules file: the TOML parsed into [`Rules`], then the cross-key checks.

use std::collections::HashSet;

use rust_decimal::Decimal;

use super::{
    Accrual, BonusGrant, IssueRule, RULES_VERSION, Rules, RulesError, SpendRule, Threshold, invalid,
};

// ---------------------------------------------------------------------------------------
// Reading the file.

impl Rules {
    /// Parses and validates a rules file.
    pub fn from_toml_str(text: &str) -> Result<Rules, RulesError> {
        let line_of = |span: Option<std::ops::Range<usize>>| {
            span.map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
        };
        let de = toml::Deserializer::parse(text).map_err(|e| RulesError {
            path: String::new(),
            line: line_of(e.span()),
            problem: format!("not valid TOML: {}", e.message().trim()),
        })?;
        let rules: Rules = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            RulesError {
                path: if path == "." { String::new() } else { path },
                line: line_of(inner.span()),
                problem: inner.message().trim().to_string(),
            }
        })?;
        rules.validate()?;
        Ok(rules)
    }

    /// Cross-key checks that serde cannot express.
    pub fn validate(&self) -> Result<(), RulesError> {
        if self.version != RULES_VERSION {
            return Err(invalid(
                "version",
                format!(
                    "rules version {} is not supported; this program reads version {RULES_VERSION}",
                    self.version
                ),
            ));
        }
        if self.currency != "RUB" {
            return Err(invalid("currency", "only \"RUB\" is supported"));
        }
        if self.spend_step.amount() <= Decimal::ZERO {
            return Err(invalid("spend_step", "must be greater than zero"));
        }
        if self.min_unit_price.is_negative() {
            return Err(invalid("min_unit_price", "must not be negative"));
        }
        if self.cards.is_empty() {
            return Err(invalid("card", "at least one [[card]] status is needed"));
        }
        let mut names = HashSet::new();
        for (i, card) in self.cards.iter().enumerate() {
            let p = format!("card[{i}]");
            if card.name.trim().is_empty() {
                return Err(invalid(format!("{p}.name"), "must not be empty"));
            }
            if !names.insert(card.name.as_str()) {
                return Err(invalid(
                    format!("{p}.name"),
                    format!("the card status \"{}\" is defined twice", card.name),
                ));
            }
            if let IssueRule::Reached(t) = &card.issue {
                check_threshold(&format!("{p}.issue"), t)?;
            }
            if let Some(t) = &card.keep {
                if card.issue == IssueRule::Manual {
                    return Err(invalid(
                        format!("{p}.keep"),
                        "a status issued only by hand (issue = \"manual\", also when issue is \
                         left out) is never dropped by keep: a person takes it back; remove keep \
                         or give the status an issue threshold",
                    ));
                }
                check_threshold(&format!("{p}.keep"), t)?;
            }
            if let Some(g) = &card.welcome_bonus {
                check_grant(&format!("{p}.welcome_bonus"), g)?;
            }
            check_accrual(&format!("{p}.accrual"), &card.accrual)?;
            check_spend(&format!("{p}.spend"), &card.spend)?;
            let mut cats = HashSet::new();
            for (j, c) in card.categories.iter().enumerate() {
                let cp = format!("{p}.category[{j}]");
                if c.name.trim().is_empty() {
                    return Err(invalid(format!("{cp}.name"), "must not be empty"));
                }
                if !cats.insert(c.name.as_str()) {
                    return Err(invalid(
                        format!("{cp}.name"),
                        format!("the category \"{}\" is listed twice for this card", c.name),
                    ));
                }
                if let Some(a) = &c.accrual {
                    check_accrual(&format!("{cp}.accrual"), a)?;
                }
                if let Some(s) = &c.spend {
                    check_spend(&format!("{cp}.spend"), s)?;
                }
            }
        }
        for (i, promo) in self.promotions.iter().enumerate() {
            let p = format!("promotion[{i}]");
            if promo.name.trim().is_empty() {
                return Err(invalid(format!("{p}.name"), "must not be empty"));
            }
            if promo.from > promo.to {
                return Err(invalid(
                    format!("{p}.to"),
                    "the promotion ends before it starts",
                ));
            }
            if promo.categories.is_empty() && promo.skus.is_empty() {
                return Err(invalid(
                    format!("{p}.categories"),
                    "the promotion matches no goods: list categories (\"*\" for all) or skus",
                ));
            }
            if let Some(a) = &promo.accrual {
                check_accrual(&format!("{p}.accrual"), a)?;
            }
            if let Some(s) = &promo.spend {
                check_spend(&format!("{p}.spend"), s)?;
            }
        }
        if let Some(r) = &self.referral {
            if r.levels.is_empty() || r.levels.len() > 10 {
                return Err(invalid("referral.levels", "list between 1 and 10 levels"));
            }
            if let Some(g) = &r.referee_bonus {
                check_grant("referral.referee_bonus", g)?;
            }
        }
        if let Some(b) = &self.birthday {
            check_grant("birthday.bonus", &b.bonus)?;
            if b.days_before > 366 {
                return Err(invalid("birthday.days_before", "must be at most 366"));
            }
        }
        if let Some(g) = &self.first_purchase_gift {
            check_grant("first_purchase_gift.bonus", &g.bonus)?;
        }
        if let Some(b) = self.verification.code_to_spend_over
            && b.is_negative()
        {
            return Err(invalid(
                "verification.code_to_spend_over",
                "must not be negative",
            ));
        }
        let o = &self.offline;
        if o.max_spend_per_operation.is_negative() {
            return Err(invalid(
                "offline.max_spend_per_operation",
                "must not be negative",
            ));
        }
        if o.max_unsynced_spend_per_terminal.is_negative() {
            return Err(invalid(
                "offline.max_unsynced_spend_per_terminal",
                "must not be negative",
            ));
        }
        if o.horizon_hours == 0 {
            return Err(invalid(
                "offline.horizon_hours",
                "must be greater than zero",
            ));
        }
        Ok(())
    }
}

fn check_threshold(path: &str, t: &Threshold) -> Result<(), RulesError> {
    match t {
        Threshold::PurchasesSum { sum, .. } if sum.amount() <= Decimal::ZERO => {
            return Err(invalid(
                format!("{path}.purchases_sum"),
                "must be greater than zero",
            ));
        }
        Threshold::PurchasesCount { count: 0, .. } => {
            return Err(invalid(
                format!("{path}.purchases_count"),
                "must be greater than zero",
            ));
        }
        _ => {}
    }
    if t.within_days() == Some(0) {
        return Err(invalid(
            format!("{path}.within_days"),
            "must be greater than zero",
        ));
    }
    Ok(())
}

fn check_grant(path: &str, g: &BonusGrant) -> Result<(), RulesError> {
    if g.amount.is_negative() {
        return Err(invalid(format!("{path}.amount"), "must not be negative"));
    }
    if g.lifetime_days == Some(0) {
        return Err(invalid(
            format!("{path}.lifetime_days"),
            "must be greater than zero (omit it for bonuses that never burn)",
        ));
    }
    Ok(())
}

fn check_accrual(path: &str, a: &Accrual) -> Result<(), RulesError> {
    match a {
        Accrual::EveryRub { every_rub, bonus } => {
            if every_rub.amount() <= Decimal::ZERO {
                return Err(invalid(
                    format!("{path}.every_rub"),
                    "must be greater than zero",
                ));
            }
            if bonus.is_negative() {
                return Err(invalid(format!("{path}.bonus"), "must not be negative"));
            }
        }
        Accrual::Progressive(tiers) => {
            if tiers.is_empty() {
                return Err(invalid(
                    format!("{path}.progressive"),
                    "list at least one tier",
                ));
            }
            if !tiers[0].from.is_zero() {
                return Err(invalid(
                    format!("{path}.progressive[0].from"),
                    "the first tier must start from \"0\"",
                ));
            }
            for (i, w) in tiers.windows(2).enumerate() {
                if w[1].from <= w[0].from {
                    return Err(invalid(
                        format!("{path}.progressive[{}].from", i + 1),
                        "tiers must ascend by \"from\"",
                    ));
                }
            }
        }
        Accrual::None | Accrual::Percent(_) => {}
    }
    Ok(())
}

fn check_spend(path: &str, s: &SpendRule) -> Result<(), RulesError> {
    if let SpendRule::Allowed { min_bonus, .. } = s
        && min_bonus.is_negative()
    {
        return Err(invalid(format!("{path}.min_bonus"), "must not be negative"));
    }
    Ok(())
}
