//! Card status upgrades and downgrades by purchases (SPEC.md §3, seed 003).
//!
//! A status rises right after the sale that crosses its threshold; a status with a `keep`
//! condition drops one level when a periodic review finds the condition no longer met.
//! Statuses issued only by hand or at registration are never reached automatically.
//! `now` comes in as an argument: the engine never reads a clock.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::money::Money;
use super::rules::{CardRule, IssueRule, Rules, Threshold};

/// One completed purchase in a customer's history. A return is a purchase with a negative
/// sum: it lowers the sum but not the count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purchase {
    pub at: DateTime<Utc>,
    pub sum: Money,
}

/// Whether a threshold is met by the purchases, counting only the last `within_days`
/// days before `now` when the threshold says so.
pub fn threshold_met(t: &Threshold, purchases: &[Purchase], now: DateTime<Utc>) -> bool {
    let since = t.within_days().map(|d| now - Duration::days(i64::from(d)));
    let counted = purchases
        .iter()
        .filter(|p| since.is_none_or(|s| p.at > s) && p.at <= now);
    match t {
        Threshold::PurchasesSum { sum, .. } => counted.map(|p| p.sum).sum::<Money>() >= *sum,
        Threshold::PurchasesCount { count, .. } => {
            counted.filter(|p| !p.sum.is_negative()).count() >= *count as usize
        }
    }
}

/// The status a customer should hold right after a sale: the highest status above the
/// current one whose `issue` threshold the purchases (including that sale) now reach, or
/// `None` when the current status stays. Never lowers a status.
pub fn status_after_sale<'r>(
    rules: &'r Rules,
    current: &str,
    purchases: &[Purchase],
    now: DateTime<Utc>,
) -> Option<&'r CardRule> {
    status_after_sale_by(rules, current, |t| threshold_met(t, purchases, now))
}

/// [`status_after_sale`] with the thresholds judged by `met`: the server answers them with
/// sums over its database instead of loading a customer's whole purchase history.
pub fn status_after_sale_by<'r>(
    rules: &'r Rules,
    current: &str,
    mut met: impl FnMut(&Threshold) -> bool,
) -> Option<&'r CardRule> {
    let level = rules.card_level(current)?;
    rules
        .cards
        .iter()
        .skip(level + 1)
        .rev()
        .find(|c| matches!(&c.issue, IssueRule::Reached(t) if met(t)))
}

/// The periodic review of a status with a `keep` condition: `Some(lower)` when the
/// condition is not met and the status drops one level. `held_since`: when the customer
/// got the status (registered with it, raised to it, or given it by hand).
pub fn status_on_review<'r>(
    rules: &'r Rules,
    current: &str,
    held_since: DateTime<Utc>,
    purchases: &[Purchase],
    now: DateTime<Utc>,
) -> Option<&'r CardRule> {
    status_on_review_by(rules, current, held_since, now, |t| {
        threshold_met(t, purchases, now)
    })
}

/// [`status_on_review`] with the `keep` threshold judged by `met`, as the server does.
///
/// One level down is the nearest lower status a customer can reach without a person: a
/// status with `issue = "manual"` (a staff card, a VIP card) is skipped, since nobody chose
/// it for this customer. A status with `issue = "manual"` never carries `keep` (the rules
/// refuse it): what a person gave, a person takes back. The lowest status never drops.
///
/// A status is judged only once the customer has held it for the whole `within_days` window
/// of its `keep`: a customer raised to it (or given it at registration) yesterday has had
/// no chance to make the purchases yet.
pub fn status_on_review_by<'r>(
    rules: &'r Rules,
    current: &str,
    held_since: DateTime<Utc>,
    now: DateTime<Utc>,
    mut met: impl FnMut(&Threshold) -> bool,
) -> Option<&'r CardRule> {
    let level = rules.card_level(current)?;
    let card = &rules.cards[level];
    let keep = card.keep.as_ref()?;
    if card.issue == IssueRule::Manual {
        return None;
    }
    if let Some(days) = keep.within_days()
        && now - held_since < Duration::days(i64::from(days))
    {
        return None;
    }
    let lower = rules.cards[..level]
        .iter()
        .rev()
        .find(|c| c.issue != IssueRule::Manual)?;
    (!met(keep)).then_some(lower)
}

/// Why the status a cashier picked at registration cannot be given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusChoiceError {
    #[error("the rules have no card status \"{0}\"")]
    Unknown(String),
    #[error("the card status \"{0}\" is not one a cashier may issue (cashier_can_issue)")]
    NotCashierIssuable(String),
}

/// The status a newly registered customer gets. With no choice: the first status with
/// `issue = "registration"` (the lowest when there is none). With a choice: that status,
/// which the rules must mark `cashier_can_issue = true` (seed 004: the cashier picks the
/// card at registration).
pub fn registration_status<'r>(
    rules: &'r Rules,
    chosen: Option<&str>,
) -> Result<&'r CardRule, StatusChoiceError> {
    match chosen {
        None => Ok(rules.registration_card().unwrap_or(&rules.cards[0])),
        Some(name) => match rules.card(name) {
            None => Err(StatusChoiceError::Unknown(name.to_string())),
            Some(c) if !c.cashier_can_issue => {
                Err(StatusChoiceError::NotCashierIssuable(name.to_string()))
            }
            Some(c) => Ok(c),
        },
    }
}

/// The statuses a cashier may pick from at registration, lowest first. The till offers
/// a choice only when there are two or more.
pub fn cashier_statuses(rules: &Rules) -> Vec<&CardRule> {
    rules.cards.iter().filter(|c| c.cashier_can_issue).collect()
}

/// The statuses the daily review looks at: those with a `keep` condition above the lowest
/// status.
pub fn reviewed_statuses(rules: &Rules) -> Vec<&str> {
    rules
        .cards
        .iter()
        .enumerate()
        .filter(|(level, c)| *level > 0 && c.keep.is_some() && c.issue != IssueRule::Manual)
        .map(|(_, c)| c.name.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn rules() -> Rules {
        Rules::from_toml_str(include_str!("../../assets/demo/rules.toml")).unwrap()
    }

    fn buy(days_ago: i64, sum: &str) -> Purchase {
        Purchase {
            at: now() - Duration::days(days_ago),
            sum: sum.parse().unwrap(),
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
    }

    fn long_ago() -> DateTime<Utc> {
        now() - Duration::days(1000)
    }

    #[test]
    fn a_status_is_judged_only_after_it_was_held_for_its_keep_window() {
        let r = rules();
        // Серебряная keeps with 4 purchases in 90 days.
        let raised = now() - Duration::days(89);
        assert_eq!(status_on_review(&r, "Серебряная", raised, &[], now()), None);
        let raised = now() - Duration::days(90);
        assert_eq!(
            status_on_review(&r, "Серебряная", raised, &[], now()).map(|c| c.name.as_str()),
            Some("Стандартная")
        );
    }

    #[test]
    fn crossing_a_sum_threshold_raises_the_status_right_after_the_sale() {
        let r = rules();
        let below = [buy(10, "15000"), buy(0, "4999.99")];
        assert_eq!(status_after_sale(&r, "Стандартная", &below, now()), None);
        let crossed = [buy(10, "15000"), buy(0, "5000")];
        assert_eq!(
            status_after_sale(&r, "Стандартная", &crossed, now()).map(|c| c.name.as_str()),
            Some("Серебряная")
        );
    }

    #[test]
    fn a_big_purchase_can_skip_a_level_and_old_purchases_fall_out_of_the_window() {
        let r = rules();
        let big = [buy(1, "60000")];
        assert_eq!(
            status_after_sale(&r, "Стандартная", &big, now()).map(|c| c.name.as_str()),
            Some("Золотая")
        );
        // Золотая counts only the last 365 days; Серебряная counts everything.
        let old = [buy(400, "60000")];
        assert_eq!(
            status_after_sale(&r, "Стандартная", &old, now()).map(|c| c.name.as_str()),
            Some("Серебряная")
        );
    }

    #[test]
    fn a_status_never_drops_after_a_sale() {
        let r = rules();
        assert_eq!(status_after_sale(&r, "Золотая", &[], now()), None);
    }

    #[test]
    fn a_keep_condition_drops_one_level_on_review() {
        let r = rules();
        let few = [buy(5, "100"), buy(200, "100")];
        assert_eq!(
            status_on_review(&r, "Серебряная", long_ago(), &few, now()).map(|c| c.name.as_str()),
            Some("Стандартная")
        );
        let enough: Vec<_> = (0..4).map(|d| buy(d, "100")).collect();
        assert_eq!(
            status_on_review(&r, "Серебряная", long_ago(), &enough, now()),
            None
        );
    }

    /// Стандартная (registration), Сотрудник (manual), Серебряная (sum, keep), Партнёр
    /// (manual, cashier may issue).
    fn with_manual() -> Rules {
        Rules::from_toml_str(
            r#"
version = 1
currency = "RUB"
[[card]]
name = "Стандартная"
issue = "registration"
cashier_can_issue = true
[[card]]
name = "Сотрудник"
issue = "manual"
[[card]]
name = "Серебряная"
issue = { purchases_sum = "20000" }
keep = { purchases_count = 4, within_days = 90 }
[[card]]
name = "Партнёр"
issue = "manual"
cashier_can_issue = true
"#,
        )
        .unwrap()
    }

    #[test]
    fn a_keep_drop_skips_a_manual_status_and_the_lowest_never_drops() {
        let r = with_manual();
        assert_eq!(
            status_on_review(&r, "Серебряная", long_ago(), &[], now()).map(|c| c.name.as_str()),
            Some("Стандартная")
        );
        assert_eq!(
            status_on_review(&r, "Сотрудник", long_ago(), &[], now()),
            None
        );
        assert_eq!(
            status_on_review(&r, "Партнёр", long_ago(), &[], now()),
            None
        );
        assert_eq!(
            status_on_review(&r, "Стандартная", long_ago(), &[], now()),
            None
        );
        assert_eq!(
            status_on_review(&r, "Нет такой", long_ago(), &[], now()),
            None
        );
        assert_eq!(reviewed_statuses(&r), vec!["Серебряная"]);
        assert_eq!(reviewed_statuses(&rules()), vec!["Серебряная"]);
    }

    #[test]
    fn a_manual_status_is_never_reached_by_purchases() {
        let r = with_manual();
        let big = [buy(1, "60000")];
        assert_eq!(
            status_after_sale(&r, "Стандартная", &big, now()).map(|c| c.name.as_str()),
            Some("Серебряная")
        );
        assert_eq!(status_after_sale(&r, "Серебряная", &big, now()), None);
    }

    #[test]
    fn registration_gives_the_registration_status_or_a_cashier_issuable_choice() {
        let r = with_manual();
        assert_eq!(registration_status(&r, None).unwrap().name, "Стандартная");
        assert_eq!(
            registration_status(&r, Some("Партнёр")).unwrap().name,
            "Партнёр"
        );
        assert_eq!(
            registration_status(&r, Some("Сотрудник")),
            Err(StatusChoiceError::NotCashierIssuable("Сотрудник".into()))
        );
        assert_eq!(
            registration_status(&r, Some("Платиновая")),
            Err(StatusChoiceError::Unknown("Платиновая".into()))
        );
        let names: Vec<_> = cashier_statuses(&r)
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, ["Стандартная", "Партнёр"]);
        assert_eq!(cashier_statuses(&rules()).len(), 1);
    }

    #[test]
    fn returns_lower_the_sum_but_not_the_count() {
        let t = Threshold::PurchasesCount {
            count: 2,
            within_days: None,
        };
        let p = [buy(2, "100"), buy(1, "-100")];
        assert!(!threshold_met(&t, &p, now()));
        let t = Threshold::PurchasesSum {
            sum: "100".parse().unwrap(),
            within_days: None,
        };
        assert!(!threshold_met(&t, &p, now()));
    }
}
