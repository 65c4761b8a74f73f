//! How much a customer may spend while the server does not answer: the `[offline]` table
//! of the rules file, its horizon, and the SMS-code threshold (a code needs the server).
//!
//! Pure: the till reads the store and the clock and passes the figures in.

use chrono::{DateTime, Duration, Utc};

use serde::{Deserialize, Serialize};

use crate::domain::money::Bonus;
use crate::domain::rules::{OfflineRules, Rules};

/// Why an offline spend is limited or refused, for the cashier's screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OfflineLimit {
    #[error("the rules do not allow spending bonuses offline")]
    NotAllowed,
    #[error(
        "the till has not reached the server for more than {hours} h: offline spend stops until it does"
    )]
    HorizonPassed { hours: u32 },
    #[error("the till has never reached the server: offline spend needs one sync first")]
    NeverSynced,
    #[error("the customer's phone is not verified: they may accrue but not spend")]
    NotVerified,
    #[error("offline, at most {max} bonuses per purchase")]
    PerOperation { max: Bonus },
    #[error("offline, this till may spend only {left} more bonuses until it syncs")]
    TerminalBudget { left: Bonus },
    #[error("a spend above {over} needs an SMS code, and codes need the server")]
    NeedsCode { over: Bonus },
}

/// The most one offline operation may spend, and what limits it (`None`: only the
/// customer's own balance does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    pub max: Bonus,
    pub limit: Option<OfflineLimit>,
}

/// What the till knows when it decides.
#[derive(Debug, Clone, Copy)]
pub struct OfflineFacts {
    pub last_sync: Option<DateTime<Utc>>,
    pub now: DateTime<Utc>,
    /// Spent offline at this till and not yet confirmed by the server.
    pub unsynced_spend: Bonus,
    pub phone_verified: bool,
    /// A manager let this sale past the `[offline]` limits (audited): only the customer's
    /// balance, a verified phone and the SMS-code threshold still hold.
    pub manager_override: bool,
}

/// The till's own offline limits, the `[offline]` table of `terminal.toml`, set by the
/// installer. They can only tighten the rules' `[offline]` table, never loosen it: the
/// store owner's rules are the ceiling, a till in a risky spot may stay below it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalOffline {
    /// False: this till never spends offline, whatever the rules allow.
    #[serde(default = "yes")]
    pub spend_allowed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_spend_per_operation: Option<Bonus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unsynced_spend_per_terminal: Option<Bonus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub horizon_hours: Option<u32>,
}

fn yes() -> bool {
    true
}

impl Default for LocalOffline {
    /// No limits of the till's own: the rules decide.
    fn default() -> Self {
        LocalOffline {
            spend_allowed: true,
            max_spend_per_operation: None,
            max_unsynced_spend_per_terminal: None,
            horizon_hours: None,
        }
    }
}

impl LocalOffline {
    pub fn is_default(&self) -> bool {
        *self == LocalOffline::default()
    }

    /// The rules' limits with this till's own applied: each the tighter of the two.
    pub fn tighten(&self, rules: &OfflineRules) -> OfflineRules {
        let min = |a: Bonus, b: Option<Bonus>| b.map_or(a, |b| a.min(b));
        OfflineRules {
            spend_allowed: rules.spend_allowed && self.spend_allowed,
            max_spend_per_operation: min(
                rules.max_spend_per_operation,
                self.max_spend_per_operation,
            ),
            max_unsynced_spend_per_terminal: min(
                rules.max_unsynced_spend_per_terminal,
                self.max_unsynced_spend_per_terminal,
            ),
            horizon_hours: self
                .horizon_hours
                .map_or(rules.horizon_hours, |h| h.min(rules.horizon_hours)),
        }
    }
}

/// The offline allowance of one operation (before the customer's balance caps it), under
/// the rules as tightened by the till's own limits.
pub fn allowance(rules: &Rules, local: &LocalOffline, facts: OfflineFacts) -> Allowance {
    let none = |limit| Allowance {
        max: Bonus::ZERO,
        limit: Some(limit),
    };
    let offline = &local.tighten(&rules.offline);
    if !facts.phone_verified {
        return none(OfflineLimit::NotVerified);
    }
    if facts.manager_override {
        return match rules.verification.code_to_spend_over {
            Some(over) => Allowance {
                max: over,
                limit: Some(OfflineLimit::NeedsCode { over }),
            },
            None => Allowance {
                max: Bonus::MAX,
                limit: None,
            },
        };
    }
    if !offline.spend_allowed {
        return none(OfflineLimit::NotAllowed);
    }
    match facts.last_sync {
        None => return none(OfflineLimit::NeverSynced),
        Some(at) if facts.now - at > Duration::hours(offline.horizon_hours.into()) => {
            return none(OfflineLimit::HorizonPassed {
                hours: offline.horizon_hours,
            });
        }
        Some(_) => {}
    }
    let left = (offline.max_unsynced_spend_per_terminal - facts.unsynced_spend).max(Bonus::ZERO);
    let mut best = Allowance {
        max: offline.max_spend_per_operation,
        limit: Some(OfflineLimit::PerOperation {
            max: offline.max_spend_per_operation,
        }),
    };
    if left < best.max {
        best = Allowance {
            max: left,
            limit: Some(OfflineLimit::TerminalBudget { left }),
        };
    }
    if let Some(over) = rules.verification.code_to_spend_over
        && over < best.max
    {
        best = Allowance {
            max: over,
            limit: Some(OfflineLimit::NeedsCode { over }),
        };
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn rules(offline: &str, code_over: Option<&str>) -> Rules {
        let mut text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/assets/demo/rules.toml"
        ))
        .unwrap();
        let start = text.find("[offline]").unwrap();
        let end = text[start + 1..]
            .find("\n[")
            .map_or(text.len(), |i| start + 1 + i);
        text.replace_range(start..end, offline);
        let mut r = Rules::from_toml_str(&text).unwrap();
        r.verification.code_to_spend_over = code_over.map(|v| v.parse().unwrap());
        r
    }

    fn b(s: &str) -> Bonus {
        s.parse().unwrap()
    }

    const LIMITS: &str = "[offline]\nspend_allowed = true\nmax_spend_per_operation = \"1000\"\nmax_unsynced_spend_per_terminal = \"10000\"\nhorizon_hours = 72\n";

    #[test]
    fn a_table_of_offline_allowances() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
        let facts = |hours_ago: Option<i64>, unsynced: &str, verified: bool| OfflineFacts {
            last_sync: hours_ago.map(|h| now - Duration::hours(h)),
            now,
            unsynced_spend: b(unsynced),
            phone_verified: verified,
            manager_override: false,
        };
        let overridden = |hours_ago: Option<i64>, unsynced: &str, verified: bool| OfflineFacts {
            manager_override: true,
            ..facts(hours_ago, unsynced, verified)
        };
        let forbidden = "[offline]\nspend_allowed = false\n";
        let till = |text: &str| -> LocalOffline { toml::from_str(text).unwrap() };
        let free = LocalOffline::default();
        type Case = (
            &'static str,
            Rules,
            LocalOffline,
            OfflineFacts,
            Bonus,
            Option<OfflineLimit>,
        );
        let cases: Vec<Case> = vec![
            (
                "within every limit: the per-operation cap",
                rules(LIMITS, None),
                free.clone(),
                facts(Some(1), "0", true),
                b("1000"),
                Some(OfflineLimit::PerOperation { max: b("1000") }),
            ),
            (
                "the terminal budget is nearly used",
                rules(LIMITS, None),
                free.clone(),
                facts(Some(1), "9700", true),
                b("300"),
                Some(OfflineLimit::TerminalBudget { left: b("300") }),
            ),
            (
                "the budget is used up",
                rules(LIMITS, None),
                free.clone(),
                facts(Some(1), "10000", true),
                b("0"),
                Some(OfflineLimit::TerminalBudget { left: b("0") }),
            ),
            (
                "the code threshold is lower than the cap",
                rules(LIMITS, Some("500")),
                free.clone(),
                facts(Some(1), "0", true),
                b("500"),
                Some(OfflineLimit::NeedsCode { over: b("500") }),
            ),
            (
                "exactly at the horizon still spends",
                rules(LIMITS, None),
                free.clone(),
                facts(Some(72), "0", true),
                b("1000"),
                Some(OfflineLimit::PerOperation { max: b("1000") }),
            ),
            (
                "past the horizon",
                rules(LIMITS, None),
                free.clone(),
                facts(Some(73), "0", true),
                b("0"),
                Some(OfflineLimit::HorizonPassed { hours: 72 }),
            ),
            (
                "never synced",
                rules(LIMITS, None),
                free.clone(),
                facts(None, "0", true),
                b("0"),
                Some(OfflineLimit::NeverSynced),
            ),
            (
                "an unverified phone",
                rules(LIMITS, None),
                free.clone(),
                facts(Some(1), "0", false),
                b("0"),
                Some(OfflineLimit::NotVerified),
            ),
            (
                "the rules forbid it",
                rules(forbidden, None),
                free.clone(),
                facts(Some(1), "0", true),
                b("0"),
                Some(OfflineLimit::NotAllowed),
            ),
            (
                "a manager's override lifts the horizon and the budget",
                rules(forbidden, None),
                free.clone(),
                overridden(Some(100), "10000", true),
                Bonus::MAX,
                None,
            ),
            (
                "but not the code threshold",
                rules(LIMITS, Some("500")),
                free.clone(),
                overridden(None, "0", true),
                b("500"),
                Some(OfflineLimit::NeedsCode { over: b("500") }),
            ),
            (
                "nor an unverified phone",
                rules(LIMITS, None),
                free.clone(),
                overridden(Some(1), "0", false),
                b("0"),
                Some(OfflineLimit::NotVerified),
            ),
            (
                "the till's own cap is below the rules'",
                rules(LIMITS, None),
                till("max_spend_per_operation = \"300\""),
                facts(Some(1), "0", true),
                b("300"),
                Some(OfflineLimit::PerOperation { max: b("300") }),
            ),
            (
                "the till's own budget, horizon and cap above the rules' change nothing",
                rules(LIMITS, None),
                till(
                    "max_spend_per_operation = \"5000\"\nmax_unsynced_spend_per_terminal = \"500\"\nhorizon_hours = 100",
                ),
                facts(Some(1), "200", true),
                b("300"),
                Some(OfflineLimit::TerminalBudget { left: b("300") }),
            ),
            (
                "the till's own horizon is shorter",
                rules(LIMITS, None),
                till("horizon_hours = 8"),
                facts(Some(9), "0", true),
                b("0"),
                Some(OfflineLimit::HorizonPassed { hours: 8 }),
            ),
            (
                "the till forbids offline spend",
                rules(LIMITS, None),
                till("spend_allowed = false"),
                facts(Some(1), "0", true),
                b("0"),
                Some(OfflineLimit::NotAllowed),
            ),
            (
                "the till cannot allow what the rules forbid",
                rules(forbidden, None),
                till("spend_allowed = true"),
                facts(Some(1), "0", true),
                b("0"),
                Some(OfflineLimit::NotAllowed),
            ),
        ];
        for (name, rules, local, facts, max, limit) in cases {
            let got = allowance(&rules, &local, facts);
            assert_eq!(got, Allowance { max, limit }, "{name}");
        }
    }
}
