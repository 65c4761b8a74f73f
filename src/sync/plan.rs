//! The pure step of sync: given what was sent and what came back, what happens next.
//!
//! Nothing here does IO or reads a clock: the transport's outcome, the attempt number and a
//! random number for the jitter come in, a [`Decision`] comes out. Rules:
//! - answers are recorded for the ids that were sent; an id the server did not answer
//!   stays pending and is sent again (the server applies it at most once);
//! - 401 and 403 pause the queue until an installer acts: retrying cannot help;
//! - 413 halves the batch; a 400 for the whole batch pauses it (a bug to report, never a
//!   reason to drop operations);
//! - everything else (5xx, 429, timeouts, refused or dropped connections, an answer that
//!   does not parse) is transient: retry with exponential backoff and full jitter, never
//!   sooner than the server's Retry-After.

use std::time::Duration;

use crate::protocol::server::{OperationResult, OperationsResponse};

/// What the HTTP exchange gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Answered(OperationsResponse),
    Status {
        code: u16,
        retry_after: Option<Duration>,
    },
    Timeout,
    /// Refused, reset, or dropped before an answer.
    Connection,
    /// A 200 whose body is not an operations answer.
    Unreadable,
}

/// Why the queue stopped until someone acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PauseReason {
    /// The server does not know or no longer accepts this terminal's token.
    Unauthorized,
    /// The server refused the whole batch as malformed.
    BatchRefused,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Record these answers; `unanswered` sent ids stay pending. Send the next batch now.
    Record {
        answers: Vec<OperationResult>,
        unanswered: usize,
    },
    /// Try again after `after`, with `batch` operations at most.
    Retry {
        after: Duration,
        batch: usize,
    },
    Pause(PauseReason),
}

/// Backoff settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(500),
            max: Duration::from_secs(300),
        }
    }
}

impl Backoff {
    /// Full jitter: a uniform delay between zero and `min(max, base × 2^attempt)`, with
    /// `jitter` in `[0, 1)`. Spreads many tills coming back at once after an outage.
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let cap = self
            .base
            .saturating_mul(2u32.saturating_pow(attempt.min(30)))
            .min(self.max);
        cap.mul_f64(jitter.clamp(0.0, 1.0))
    }
}

/// Decides what follows a send of `sent` ids (with `batch` as the batch size used).
pub fn decide(
    sent: &[String],
    batch: usize,
    outcome: Outcome,
    attempt: u32,
    jitter: f64,
    backoff: Backoff,
) -> Decision {
    let retry = |after: Option<Duration>| Decision::Retry {
        after: backoff
            .delay(attempt, jitter)
            .max(after.unwrap_or_default()),
        batch,
    };
    match outcome {
        Outcome::Answered(resp) => {
            let answers: Vec<OperationResult> = resp
                .results
                .into_iter()
                .filter(|r| sent.contains(&r.id))
                .collect();
            let answered: std::collections::HashSet<&str> =
                answers.iter().map(|a| a.id.as_str()).collect();
            let unanswered = sent
                .iter()
                .filter(|id| !answered.contains(id.as_str()))
                .count();
            Decision::Record {
                answers,
                unanswered,
            }
        }
        Outcome::Status {
            code: 401 | 403, ..
        } => Decision::Pause(PauseReason::Unauthorized),
        Outcome::Status { code: 413, .. } if batch > 1 => Decision::Retry {
            after: Duration::ZERO,
            batch: batch / 2,
        },
        Outcome::Status {
            code: 400 | 413, ..
        } => Decision::Pause(PauseReason::BatchRefused),
        Outcome::Status { retry_after, .. } => retry(retry_after),
        Outcome::Timeout | Outcome::Connection | Outcome::Unreadable => retry(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::server::{OperationStatus, RejectReason};

    fn result(id: &str, status: OperationStatus) -> OperationResult {
        OperationResult {
            id: id.into(),
            status,
            reason: (status == OperationStatus::Rejected).then_some(RejectReason::Invalid),
            message: String::new(),
            answer: None,
        }
    }

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    const B: Backoff = Backoff {
        base: Duration::from_secs(1),
        max: Duration::from_secs(60),
    };

    #[test]
    fn every_outcome_maps_to_its_decision() {
        use OperationStatus::*;
        let s = Duration::from_secs;
        let sent = ids(&["a", "b", "c"]);
        let answered =
            |rs: Vec<OperationResult>| Outcome::Answered(OperationsResponse { results: rs });
        let cases: Vec<(&str, Outcome, u32, f64, Decision)> = vec![
            (
                "all answered, each status recorded",
                answered(vec![
                    result("a", Applied),
                    result("b", Duplicate),
                    result("c", Rejected),
                ]),
                0,
                0.5,
                Decision::Record {
                    answers: vec![
                        result("a", Applied),
                        result("b", Duplicate),
                        result("c", Rejected),
                    ],
                    unanswered: 0,
                },
            ),
            (
                "a missing answer stays pending; a stranger's answer is ignored",
                answered(vec![result("a", Applied), result("zzz", Applied)]),
                0,
                0.5,
                Decision::Record {
                    answers: vec![result("a", Applied)],
                    unanswered: 2,
                },
            ),
            (
                "401 pauses",
                Outcome::Status {
                    code: 401,
                    retry_after: None,
                },
                3,
                0.5,
                Decision::Pause(PauseReason::Unauthorized),
            ),
            (
                "403 pauses",
                Outcome::Status {
                    code: 403,
                    retry_after: None,
                },
                0,
                0.5,
                Decision::Pause(PauseReason::Unauthorized),
            ),
            (
                "413 halves the batch",
                Outcome::Status {
                    code: 413,
                    retry_after: None,
                },
                0,
                0.5,
                Decision::Retry {
                    after: Duration::ZERO,
                    batch: 50,
                },
            ),
            (
                "400 pauses the batch",
                Outcome::Status {
                    code: 400,
                    retry_after: None,
                },
                0,
                0.5,
                Decision::Pause(PauseReason::BatchRefused),
            ),
            (
                "500 backs off",
                Outcome::Status {
                    code: 500,
                    retry_after: None,
                },
                2,
                0.5,
                Decision::Retry {
                    after: s(2),
                    batch: 100,
                },
            ),
            (
                "503 honours Retry-After",
                Outcome::Status {
                    code: 503,
                    retry_after: Some(s(30)),
                },
                0,
                0.5,
                Decision::Retry {
                    after: s(30),
                    batch: 100,
                },
            ),
            (
                "429 takes the longer of backoff and Retry-After",
                Outcome::Status {
                    code: 429,
                    retry_after: Some(s(1)),
                },
                4,
                0.5,
                Decision::Retry {
                    after: s(8),
                    batch: 100,
                },
            ),
            (
                "a timeout backs off",
                Outcome::Timeout,
                0,
                0.5,
                Decision::Retry {
                    after: Duration::from_millis(500),
                    batch: 100,
                },
            ),
            (
                "a dropped connection backs off",
                Outcome::Connection,
                1,
                0.25,
                Decision::Retry {
                    after: Duration::from_millis(500),
                    batch: 100,
                },
            ),
            (
                "an unreadable answer backs off",
                Outcome::Unreadable,
                0,
                0.0,
                Decision::Retry {
                    after: Duration::ZERO,
                    batch: 100,
                },
            ),
            (
                "backoff stops growing at its cap",
                Outcome::Timeout,
                20,
                0.99,
                Decision::Retry {
                    after: s(60).mul_f64(0.99),
                    batch: 100,
                },
            ),
        ];
        for (name, outcome, attempt, jitter, want) in cases {
            assert_eq!(
                decide(&sent, 100, outcome, attempt, jitter, B),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn a_single_operation_too_large_pauses_instead_of_halving_forever() {
        let d = decide(
            &ids(&["a"]),
            1,
            Outcome::Status {
                code: 413,
                retry_after: None,
            },
            0,
            0.5,
            B,
        );
        assert_eq!(d, Decision::Pause(PauseReason::BatchRefused));
    }

    #[test]
    fn full_jitter_stays_within_the_cap() {
        for attempt in 0..40 {
            for j in [0.0, 0.3, 0.999] {
                assert!(B.delay(attempt, j) <= B.max);
            }
        }
    }
}
