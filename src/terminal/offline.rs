//! How much a customer may spend while the server does not answer: the `[offline]` table
//! of the rules file, its horizon, and the SMS-code threshold (a code needs the server).
//!
//! Pure: the till reads the store and the clock and passes the figures in.

use chrono::{DateTime, Duration, Utc};

use crate::domain::money::Bonus;
use crate::domain::rules::Rules;

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

/// The offline allowance of one operation (before the customer's balance caps it).
pub fn allowance(rules: &Rules, facts: OfflineFacts) -> Allowance {
    let none = |limit| Allowance {
        max: Bonus::ZERO,
        limit: Some(limit),
    };
    let offline = &rules.offline;
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
        let cases: Vec<(&str, Rules, OfflineFacts, Bonus, Option<OfflineLimit>)> = vec![
            (
                "within every limit: the per-operation cap",
                rules(LIMITS, None),
                facts(Some(1), "0", true),
                b("1000"),
                Some(OfflineLimit::PerOperation { max: b("1000") }),
            ),
            (
                "the terminal budget is nearly used",
                rules(LIMITS, None),
                facts(Some(1), "9700", true),
                b("300"),
                Some(OfflineLimit::TerminalBudget { left: b("300") }),
            ),
            (
                "the budget is used up",
                rules(LIMITS, None),
                facts(Some(1), "10000", true),
                b("0"),
                Some(OfflineLimit::TerminalBudget { left: b("0") }),
            ),
            (
                "the code threshold is lower than the cap",
                rules(LIMITS, Some("500")),
                facts(Some(1), "0", true),
                b("500"),
                Some(OfflineLimit::NeedsCode { over: b("500") }),
            ),
            (
                "exactly at the horizon still spends",
                rules(LIMITS, None),
                facts(Some(72), "0", true),
                b("1000"),
                Some(OfflineLimit::PerOperation { max: b("1000") }),
            ),
            (
                "past the horizon",
                rules(LIMITS, None),
                facts(Some(73), "0", true),
                b("0"),
                Some(OfflineLimit::HorizonPassed { hours: 72 }),
            ),
            (
                "never synced",
                rules(LIMITS, None),
                facts(None, "0", true),
                b("0"),
                Some(OfflineLimit::NeverSynced),
            ),
            (
                "an unverified phone",
                rules(LIMITS, None),
                facts(Some(1), "0", false),
                b("0"),
                Some(OfflineLimit::NotVerified),
            ),
            (
                "the rules forbid it",
                rules(forbidden, None),
                facts(Some(1), "0", true),
                b("0"),
                Some(OfflineLimit::NotAllowed),
            ),
            (
                "a manager's override lifts the horizon and the budget",
                rules(forbidden, None),
                overridden(Some(100), "10000", true),
                Bonus::MAX,
                None,
            ),
            (
                "but not the code threshold",
                rules(LIMITS, Some("500")),
                overridden(None, "0", true),
                b("500"),
                Some(OfflineLimit::NeedsCode { over: b("500") }),
            ),
            (
                "nor an unverified phone",
                rules(LIMITS, None),
                overridden(Some(1), "0", false),
                b("0"),
                Some(OfflineLimit::NotVerified),
            ),
        ];
        for (name, rules, facts, max, limit) in cases {
            let got = allowance(&rules, facts);
            assert_eq!(got, Allowance { max, limit }, "{name}");
        }
    }
}
