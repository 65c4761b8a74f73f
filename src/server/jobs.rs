//! Periodic jobs: burning expired bonuses, granting birthday bonuses, pruning SMS codes, and
//! picking up a rules version another server process stored.
//!
//! Every job is idempotent and runs exactly once per due item even when several server
//! processes share one database and all run their jobs: a customer's batches are burnt
//! under that customer's row lock and re-read under it, so the second process finds
//! nothing left to burn; a birthday grant is claimed through a unique key (customer, year)
//! before it is booked. Running late, twice, or after a crash is therefore safe.
//!
//! Engine-free: everything goes through the store seam.

use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, Utc};

use super::State;
use super::ledger::{self, Grant, Source};
use super::sms::{self, SmsPolicy};
use super::store::{self, Store, StoreError};
use crate::domain::rules::Rules;

/// How often the jobs run while the server serves.
pub const PERIOD: std::time::Duration = std::time::Duration::from_secs(60);

/// Customers burnt in one transaction, so one run never holds many locks for long.
const BURN_CHUNK: i64 = 200;

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
                s.refresh_rules();
                let rules = s.rules();
                run_once(s.store(), &rules.rules, &s.config.sms_policy, from, now).map(|r| (r, now))
            })
            .await;
            match done {
                Ok(Ok((r, now))) => {
                    since = now;
                    if r.burnt + r.birthdays > 0 {
                        tracing::info!(burnt = r.burnt, birthdays = r.birthdays, "jobs ran");
                    }
                }
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
    store: &dyn Store,
    rules: &Rules,
    sms_policy: &SmsPolicy,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<JobReport, StoreError> {
    // Customers whose balance changes by itself (bonuses burning or becoming active) go to
    // the end of the terminals' feed, so their caches refresh.
    store::write(store, |tx| {
        let stale = tx.customers_changed_by_time(since, now)?;
        tx.bump_feed(&stale.iter().map(String::as_str).collect::<Vec<_>>())
    })?;
    let burnt = burn(store, now)?;
    let birthdays = birthdays(store, rules, now)?;
    // Codes and proofs nothing can use or count any more are deleted, so the tables hold
    // only the last few minutes of SMS traffic. Deleting twice deletes nothing twice.
    store::write(store, |tx| sms::prune(tx, sms_policy, now))?;
    // Expired holds stopped counting by themselves; their rows go a day later.
    store::write(store, |tx| super::holds::prune(tx, now))?;
    Ok(JobReport { burnt, birthdays })
}

/// Burns every batch past its burning time, a chunk of customers per transaction.
fn burn(store: &dyn Store, now: DateTime<Utc>) -> Result<u32, StoreError> {
    let mut burnt = 0;
    loop {
        let (n, customers) = store::write(store, |tx| {
            let due = tx.customers_to_burn(now, BURN_CHUNK)?;
            tx.lock_customers(&due.iter().map(String::as_str).collect::<Vec<_>>())?;
            let mut n = 0;
            for id in &due {
                // Re-read under the lock: what another process burnt meanwhile is gone.
                n += ledger::expire(tx, id, now)?;
            }
            tx.bump_feed(&due.iter().map(String::as_str).collect::<Vec<_>>())?;
            Ok((n, due.len()))
        })?;
        burnt += n;
        if (customers as i64) < BURN_CHUNK || n == 0 {
            return Ok(burnt);
        }
    }
}

/// Grants the birthday bonus to every customer whose birthday is `days_before` days from
/// today in their home store's time zone (Moscow for a customer without one), once a year.
fn birthdays(store: &dyn Store, rules: &Rules, now: DateTime<Utc>) -> Result<u32, StoreError> {
    let Some(b) = &rules.birthday else {
        return Ok(0);
    };
    let stores = store::read(store, |r| r.stores())?;
    let target_of = |today: chrono::NaiveDate| today + Duration::days(i64::from(b.days_before));
    // The stores by the date that is the target in their zone (at most a few dates:
    // Russia's zones are UTC+2 to UTC+12).
    let mut by_target: std::collections::BTreeMap<chrono::NaiveDate, Vec<String>> =
        Default::default();
    for s in &stores {
        by_target
            .entry(target_of(s.local_date(now)))
            .or_default()
            .push(s.id.clone());
    }
    let homeless_target = target_of(now.with_timezone(&chrono_tz::Europe::Moscow).date_naive());
    by_target.entry(homeless_target).or_default();
    let mut granted = 0;
    for (target, ids) in by_target {
        granted += birthdays_on(store, b, target, &ids, target == homeless_target, now)?;
    }
    Ok(granted)
}

/// Grants the birthday bonus to the customers of `stores` (and the homeless ones, when
/// asked) born on `target`'s day.
fn birthdays_on(
    store: &dyn Store,
    b: &crate::domain::rules::Birthday,
    target: chrono::NaiveDate,
    stores: &[String],
    homeless: bool,
    now: DateTime<Utc>,
) -> Result<u32, StoreError> {
    let amount = b.bonus.amount.kopecks();
    store::write(store, |tx| {
        let due = tx.birthday_customers(
            target.month(),
            target.day(),
            target.year(),
            stores,
            homeless,
        )?;
        tx.lock_customers(&due.iter().map(String::as_str).collect::<Vec<_>>())?;
        let mut granted = Vec::new();
        for id in &due {
            // The claim is a unique key: of two processes, one books the bonus.
            if !tx.claim_birthday(id, target.year())? {
                continue;
            }
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
                    ledger::LedgerError::Store(e) => e,
                    other => StoreError::Other(other.to_string()),
                })?;
            }
            granted.push(id.as_str());
        }
        tx.bump_feed(&granted)?;
        Ok(granted.len() as u32)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::store::{CustomerKey, NewCustomer};
    use chrono::TimeZone;

    fn setup() -> (tempfile::TempDir, Arc<dyn Store>, Rules, DateTime<Utc>) {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
        let dir = tempfile::tempdir().unwrap();
        crate::server::admin::demo_data(dir.path(), now).unwrap();
        let store = store::open(&dir.path().into()).unwrap();
        let rules = Rules::from_toml_str(crate::server::admin::DEMO_RULES).unwrap();
        (dir, store, rules, now)
    }

    fn feed_after(store: &dyn Store, since: i64, now: DateTime<Utc>) -> Vec<i64> {
        store::read(store, |r| r.feed(since, 1000, now))
            .unwrap()
            .0
            .iter()
            .map(|f| f.seq)
            .collect()
    }

    #[test]
    fn expired_batches_burn_once_and_their_customers_go_to_the_feeds_end() {
        let (_dir, store, rules, now) = setup();
        let before = *feed_after(&*store, 0, now).iter().max().unwrap();
        let later = now + Duration::days(366);
        let policy = SmsPolicy::default();
        let r = run_once(&*store, &rules, &policy, now, later).unwrap();
        assert_eq!(r.burnt, 3, "the three demo balances burn after a year");
        assert_eq!(feed_after(&*store, before, later).len(), 3);
        assert_eq!(
            run_once(&*store, &rules, &policy, later, later)
                .unwrap()
                .burnt,
            0
        );
        let census = store::read(&*store, |r| r.census()).unwrap();
        assert_eq!(census.unbalanced, 0);
    }

    #[test]
    fn a_birthday_bonus_is_granted_once_a_year() {
        let (_dir, store, rules, now) = setup();
        let c = NewCustomer {
            id: uuid::Uuid::now_v7().to_string(),
            phone: "+79990000077".into(),
            card_status: "Стандартная".into(),
            phone_verified: true,
            birth_date: chrono::NaiveDate::from_ymd_opt(1990, 11, 23),
            registered_at: now,
            ..NewCustomer::default()
        };
        store::write(&*store, |tx| tx.insert_customer(&c)).unwrap();
        let policy = SmsPolicy::default();
        assert_eq!(
            run_once(&*store, &rules, &policy, now, now)
                .unwrap()
                .birthdays,
            1
        );
        assert_eq!(
            run_once(&*store, &rules, &policy, now, now + Duration::hours(1))
                .unwrap()
                .birthdays,
            0
        );
        let (_, b) = store::read(&*store, |r| {
            r.customer_with_balance(CustomerKey::Id(&c.id), now)
        })
        .unwrap()
        .unwrap();
        assert_eq!(b.active, 100_000);
    }
}
