//! Periodic jobs: burning expired bonuses and granting birthday bonuses.
//!
//! Both are idempotent (a burnt batch has nothing left to burn; a birthday grant is
//! recorded per customer and year), so running them late, twice, or after a crash is safe.

use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use rusqlite::{Connection, params};

use super::State;
use super::customers;
use super::ledger::{self, Grant, Source};
use crate::domain::rules::Rules;

/// How often the jobs run while the server serves.
pub const PERIOD: std::time::Duration = std::time::Duration::from_secs(60);

/// Starts the jobs on the runtime; abort the handle to stop them.
pub fn start(state: Arc<State>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PERIOD);
        // Bonuses that became active since the last run make their customers' cached
        // balances stale; the first run looks back one day.
        let mut since = state.now() - Duration::days(1);
        loop {
            tick.tick().await;
            let s = state.clone();
            let from = since;
            let done = tokio::task::spawn_blocking(move || {
                let now = s.now();
                let rules = s.rules();
                let policy = s.config.sms_policy.clone();
                s.with_db(|c| {
                    let report = run_once(c, &rules.rules, from, now)?;
                    // Codes and proofs nothing can use or count any more are deleted, so
                    // the table holds only the last few minutes of SMS traffic.
                    super::sms::prune(c, &policy, now)?;
                    Ok::<_, rusqlite::Error>(report)
                })
                .map(|r| (r, now))
            })
            .await;
            let done = done.map(|r| {
                r.map(|(report, now)| {
                    since = now;
                    report
                })
            });
            match done {
                Ok(Ok(r)) if r.burnt + r.birthdays > 0 => {
                    tracing::info!(burnt = r.burnt, birthdays = r.birthdays, "jobs ran");
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "a periodic job failed"),
                Err(e) => tracing::error!(error = %e, "a periodic job panicked"),
            }
        }
    })
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct JobReport {
    pub burnt: u32,
    pub birthdays: u32,
}

/// Runs every job once, at `now`; `since` is the previous run.
pub fn run_once(
    conn: &mut Connection,
    rules: &Rules,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> rusqlite::Result<JobReport> {
    let tx = conn.transaction()?;
    // Customers whose balance changes by itself (bonuses burning or becoming active) go to
    // the end of the terminals' feed, so their caches refresh.
    let stale: Vec<String> = {
        let mut stmt = tx.prepare(
            "SELECT DISTINCT customer_id FROM bonus_batches
             WHERE (burns_at <= ?1 AND remaining > 0) OR (active_from > ?2 AND active_from <= ?1)",
        )?;
        stmt.query_map(params![ledger::ts(now), ledger::ts(since)], |r| r.get(0))?
            .collect::<Result<_, _>>()?
    };
    for id in &stale {
        customers::touch(&tx, id)?;
    }
    let burnt = ledger::expire(&tx, now)?;
    let birthdays = birthdays(&tx, rules, now)?;
    tx.commit()?;
    Ok(JobReport { burnt, birthdays })
}

/// Grants the birthday bonus to every customer whose birthday is `days_before` days from
/// today (Moscow time: the stores' default), once a year.
fn birthdays(
    tx: &rusqlite::Transaction,
    rules: &Rules,
    now: DateTime<Utc>,
) -> rusqlite::Result<u32> {
    let Some(b) = &rules.birthday else {
        return Ok(0);
    };
    let today = (now + Duration::hours(3)).date_naive();
    let target = today + Duration::days(i64::from(b.days_before));
    let mut stmt = tx.prepare(
        "SELECT c.id, c.birth_date FROM customers c
         WHERE c.birth_date IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM birthday_grants g WHERE g.customer_id = c.id AND g.year = ?1)",
    )?;
    let due: Vec<String> = stmt
        .query_map([target.year()], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?
        .filter_map(|r| r.ok())
        .filter(|(_, d)| {
            NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .is_ok_and(|d| d.month() == target.month() && d.day() == target.day())
        })
        .map(|(id, _)| id)
        .collect();
    drop(stmt);
    let amount = b.bonus.amount.kopecks();
    for id in &due {
        tx.execute(
            "INSERT INTO birthday_grants (customer_id, year) VALUES (?1, ?2)",
            params![id, target.year()],
        )?;
        if amount > 0 {
            ledger::grant(
                tx,
                &Grant {
                    customer_id: id,
                    amount,
                    source: Source::Birthday,
                    description: "С днём рождения! Подарочные бонусы".into(),
                    active_from: now,
                    burns_at: b
                        .bonus
                        .lifetime_days
                        .map(|d| now + Duration::days(i64::from(d))),
                    operation_id: None,
                    actor: None,
                },
                now,
            )
            .map_err(|e| match e {
                ledger::LedgerError::Db(d) => d,
                other => rusqlite::Error::ToSqlConversionFailure(Box::new(std::io::Error::other(
                    other.to_string(),
                ))),
            })?;
        }
        customers::touch(tx, id)?;
    }
    Ok(due.len() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn setup() -> (tempfile::TempDir, Connection, Rules, DateTime<Utc>) {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
        let dir = tempfile::tempdir().unwrap();
        crate::server::admin::demo_data(dir.path(), now).unwrap();
        let conn = crate::server::open_database(dir.path()).unwrap();
        let rules = Rules::from_toml_str(crate::server::admin::DEMO_RULES).unwrap();
        (dir, conn, rules, now)
    }

    #[test]
    fn expired_batches_burn_once_and_their_customers_go_to_the_feeds_end() {
        let (_dir, mut conn, rules, now) = setup();
        let before: i64 = conn
            .query_row("SELECT MAX(change_seq) FROM customers", [], |r| r.get(0))
            .unwrap();
        let later = now + Duration::days(366);
        let r = run_once(&mut conn, &rules, now, later).unwrap();
        assert_eq!(r.burnt, 3, "the three demo balances burn after a year");
        let touched: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM customers WHERE change_seq > ?1",
                [before],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(touched, 3);
        assert_eq!(run_once(&mut conn, &rules, later, later).unwrap().burnt, 0);
    }

    #[test]
    fn a_birthday_bonus_is_granted_once_a_year() {
        let (_dir, mut conn, rules, now) = setup();
        conn.execute(
            "UPDATE customers SET birth_date = '1990-11-23' WHERE phone = '+79990000004'",
            [],
        )
        .unwrap();
        assert_eq!(run_once(&mut conn, &rules, now, now).unwrap().birthdays, 1);
        assert_eq!(
            run_once(&mut conn, &rules, now, now + Duration::hours(1))
                .unwrap()
                .birthdays,
            0
        );
        let id: String = conn
            .query_row(
                "SELECT id FROM customers WHERE phone = '+79990000004'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let b = ledger::balance(&conn, &id, now).unwrap();
        assert_eq!(b.active, 100_000);
    }
}
