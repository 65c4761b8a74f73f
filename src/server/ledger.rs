//! The central server's bonus ledger: bonus batches and the customer's «История бонусов».
//!
//! Every bonus a customer has lives in a batch: an amount, where it came from, when it
//! becomes spendable (`active_from`) and when it burns (`burns_at`). Spending takes from the
//! batch that burns soonest, so expiry only ever burns what is still unspent. Every change of
//! a balance also writes one history line in the customer's words (time, signed amount,
//! Russian description), so the sum of the history always equals the sum of the batches —
//! and the store's running balance of the customer, which moves with every batch.
//!
//! A return that claws back more than the customer still has leaves a debt: a batch with a
//! negative remainder. A debt makes the active balance negative, which blocks spending,
//! and the next grant pays it off before anything else.
//!
//! Amounts are `i64` kopecks of bonuses (1 bonus = 100).
//!
//! This module is engine-free code over the store seam: it never opens, commits or rolls
//! back a transaction (the caller decides what one operation is), never reads the clock
//! (`now` is an argument), and knows nothing of rules, receipts or operations: it is told an
//! amount and a description and books them. Every change locks the customer first
//! ([`Tx::lock_customers`]), so two transactions never spend the same bonuses.

use chrono::{DateTime, Utc};

pub use super::store::{Balance, HistoryRow, Source};
use super::store::{Batch, NewBatch, NewEntry, ReadTx, StoreError, Tx};

/// Bonuses to add to a customer's account.
#[derive(Debug, Clone)]
pub struct Grant<'a> {
    pub customer_id: &'a str,
    /// Kopecks of bonuses, > 0.
    pub amount: i64,
    pub source: Source,
    /// The history line, e.g. "Начисление за покупку".
    pub description: String,
    /// Spendable from this moment; later than `now` for `activate_after_days`.
    pub active_from: DateTime<Utc>,
    /// Burns at this moment; `None`: never burns.
    pub burns_at: Option<DateTime<Utc>>,
    pub operation_id: Option<&'a str>,
    /// Who did it, for manual changes (a cashier or manager).
    pub actor: Option<&'a str>,
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// `available` is the active balance, negative when a debt is unpaid.
    #[error("not enough bonuses: {available} kopecks available")]
    Insufficient { available: i64 },
    #[error("amount must be positive")]
    NotPositive,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The history line of an expiry.
pub const EXPIRY_DESCRIPTION: &str = "Сгорание бонусов";

/// Adds `g.amount` to the customer's bonuses: a new batch and a `+amount` history line.
///
/// If the customer owes bonuses (a claw-back debt), the new bonuses pay the debt off first,
/// oldest debt first, even when the new batch is not active yet: a debt is settled by the
/// next bonuses the customer receives, and a debt never sits next to positive bonuses.
pub fn grant(tx: &mut dyn Tx, g: &Grant, now: DateTime<Utc>) -> Result<(), LedgerError> {
    if g.amount <= 0 {
        return Err(LedgerError::NotPositive);
    }
    tx.lock_customers(&[g.customer_id])?;
    let mut left = g.amount;
    for debt in tx.debts(g.customer_id)? {
        if left == 0 {
            break;
        }
        let pay = left.min(-debt.remaining);
        tx.adjust_batch(g.customer_id, debt.key, pay)?;
        left -= pay;
    }
    tx.insert_batch(&NewBatch {
        customer_id: g.customer_id,
        amount: g.amount,
        remaining: left,
        source: g.source,
        active_from: g.active_from,
        burns_at: g.burns_at,
        created_at: now,
        operation_id: g.operation_id,
    })?;
    tx.insert_entry(&NewEntry {
        customer_id: g.customer_id,
        at: now,
        amount: g.amount,
        kind: g.source,
        description: &g.description,
        operation_id: g.operation_id,
        actor: g.actor,
    })?;
    Ok(())
}

/// One spend from a customer's bonuses.
#[derive(Debug, Clone, Copy)]
pub struct Spend<'a> {
    pub customer_id: &'a str,
    /// Kopecks, > 0.
    pub amount: i64,
    pub source: Source,
    pub description: &'a str,
    pub operation_id: Option<&'a str>,
    pub actor: Option<&'a str>,
}

/// Spends `s.amount` of the customer's active bonuses, oldest-burning first, and writes one
/// `−amount` history line. When the active balance (a debt included) is below the amount,
/// fails with [`LedgerError::Insufficient`] and changes nothing.
pub fn spend(tx: &mut dyn Tx, s: &Spend, now: DateTime<Utc>) -> Result<(), LedgerError> {
    if s.amount <= 0 {
        return Err(LedgerError::NotPositive);
    }
    tx.lock_customers(&[s.customer_id])?;
    let available = tx.balance(s.customer_id, now)?.active;
    if available < s.amount {
        return Err(LedgerError::Insufficient { available });
    }
    let batches = tx.spendable(s.customer_id, now, s.amount)?;
    let left = take(tx, s.customer_id, &batches, s.amount)?;
    // The balance check above counted every active batch, debts included; a debt only
    // lowers it, so the positive batches always cover the amount.
    if left != 0 {
        return Err(StoreError::Corrupt(format!(
            "the batches of customer {} do not cover their balance",
            s.customer_id
        ))
        .into());
    }
    tx.insert_entry(&NewEntry {
        customer_id: s.customer_id,
        at: now,
        amount: -s.amount,
        kind: s.source,
        description: s.description,
        operation_id: s.operation_id,
        actor: s.actor,
    })?;
    Ok(())
}

/// Takes back `amount` for a return: from active bonuses oldest-burning first, then from
/// pending ones earliest-activating first; what the customer does not have becomes a debt
/// (a `ReturnClawback` batch with negative remaining, active now, never burning). Writes one
/// `−amount` history line. Never fails for lack of bonuses: a return must always go through.
pub fn claw_back(
    tx: &mut dyn Tx,
    customer_id: &str,
    amount: i64,
    description: &str,
    operation_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), LedgerError> {
    if amount <= 0 {
        return Err(LedgerError::NotPositive);
    }
    tx.lock_customers(&[customer_id])?;
    let active = tx.spendable(customer_id, now, amount)?;
    let mut left = take(tx, customer_id, &active, amount)?;
    if left > 0 {
        let pending = tx.pending(customer_id, now, left)?;
        left = take(tx, customer_id, &pending, left)?;
    }
    if left > 0 {
        tx.insert_batch(&NewBatch {
            customer_id,
            amount: -left,
            remaining: -left,
            source: Source::ReturnClawback,
            active_from: now,
            burns_at: None,
            created_at: now,
            operation_id,
        })?;
    }
    tx.insert_entry(&NewEntry {
        customer_id,
        at: now,
        amount: -amount,
        kind: Source::ReturnClawback,
        description,
        operation_id,
        actor: None,
    })?;
    Ok(())
}

/// The customer's balance at `now`. Batches past their burning time count nowhere, whether
/// or not [`expire`] has run yet.
pub fn balance(
    tx: &mut dyn ReadTx,
    customer_id: &str,
    now: DateTime<Utc>,
) -> Result<Balance, StoreError> {
    tx.balance(customer_id, now)
}

/// Burns the customer's batches whose `burns_at` has come and that still have bonuses: each
/// remainder goes to 0 and one "Сгорание бонусов" line is written per batch, dated at
/// `burns_at` (when the bonuses stopped counting), not at the moment this job happened to
/// run. Returns how many batches burnt; a second run under the same lock burns nothing.
pub fn expire(tx: &mut dyn Tx, customer_id: &str, now: DateTime<Utc>) -> Result<u32, StoreError> {
    tx.lock_customers(&[customer_id])?;
    let due = tx.due_to_burn(customer_id, now)?;
    for b in &due {
        tx.adjust_batch(customer_id, b.key, -b.remaining)?;
        tx.insert_entry(&NewEntry {
            customer_id,
            at: b.burns_at.unwrap_or(now),
            amount: -b.remaining,
            kind: Source::Expiry,
            description: EXPIRY_DESCRIPTION,
            operation_id: None,
            actor: None,
        })?;
    }
    Ok(u32::try_from(due.len()).unwrap_or(u32::MAX))
}

/// The customer's last `limit` history lines, newest first (ties in time: last written
/// first).
pub fn history(
    tx: &mut dyn ReadTx,
    customer_id: &str,
    limit: usize,
) -> Result<Vec<HistoryRow>, StoreError> {
    tx.history(customer_id, limit)
}

/// Takes up to `amount` from the given positive batches in order; returns what is left.
fn take(
    tx: &mut dyn Tx,
    customer_id: &str,
    batches: &[Batch],
    amount: i64,
) -> Result<i64, StoreError> {
    let mut left = amount;
    for b in batches {
        if left == 0 {
            break;
        }
        let part = left.min(b.remaining);
        tx.adjust_batch(customer_id, b.key, -part)?;
        left -= part;
    }
    Ok(left)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::store::sqlite::SqliteStore;
    use crate::server::store::{self, NewCustomer};
    use chrono::{Duration, TimeZone};

    fn t(day: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap() + Duration::days(day)
    }

    fn db() -> SqliteStore {
        let s = SqliteStore::open_in_memory().unwrap();
        for (id, phone) in [("c1", "+79990000001"), ("c2", "+79990000002")] {
            let c = NewCustomer {
                id: id.into(),
                phone: phone.into(),
                card_status: "Стандартная".into(),
                phone_verified: true,
                registered_at: t(0),
                ..NewCustomer::default()
            };
            assert!(in_tx(&s, |tx| tx.insert_customer(&c).unwrap()));
        }
        s
    }

    /// Runs `f` in one committed transaction.
    fn in_tx<T>(s: &SqliteStore, mut f: impl FnMut(&mut dyn Tx) -> T) -> T {
        store::write(s, |tx| Ok(f(tx))).unwrap()
    }

    fn give(
        s: &SqliteStore,
        amount: i64,
        active_from: DateTime<Utc>,
        burns_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) {
        let g = Grant {
            customer_id: "c1",
            amount,
            source: Source::Purchase,
            description: "Начисление за покупку".into(),
            active_from,
            burns_at,
            operation_id: None,
            actor: None,
        };
        in_tx(s, |tx| grant(tx, &g, now)).unwrap();
    }

    fn purchase_spend(amount: i64) -> Spend<'static> {
        Spend {
            customer_id: "c1",
            amount,
            source: Source::Purchase,
            description: "Списание при оплате покупки",
            operation_id: None,
            actor: None,
        }
    }

    fn pay(s: &SqliteStore, amount: i64, now: DateTime<Utc>) -> Result<(), LedgerError> {
        in_tx(s, |tx| spend(tx, &purchase_spend(amount), now))
    }

    fn claw(s: &SqliteStore, customer: &str, amount: i64, op: Option<&str>, now: DateTime<Utc>) {
        in_tx(s, |tx| {
            claw_back(
                tx,
                customer,
                amount,
                "Отмена начисления по возврату",
                op,
                now,
            )
        })
        .unwrap();
    }

    fn burn(s: &SqliteStore, now: DateTime<Utc>) -> u32 {
        in_tx(s, |tx| {
            expire(tx, "c1", now).unwrap() + expire(tx, "c2", now).unwrap()
        })
    }

    fn bal(s: &SqliteStore, now: DateTime<Utc>) -> Balance {
        store::read(s, |r| balance(r, "c1", now)).unwrap()
    }

    fn batches(s: &SqliteStore) -> Vec<Batch> {
        store::read(s, |r| r.batches("c1")).unwrap()
    }

    fn remaining(s: &SqliteStore) -> Vec<i64> {
        batches(s).iter().map(|b| b.remaining).collect()
    }

    /// Everything of both customers, to show an operation changed nothing.
    fn snapshot(s: &SqliteStore) -> String {
        store::read(s, |r| {
            let mut out = String::new();
            for c in ["c1", "c2"] {
                out.push_str(&format!("{:?}\n{:?}\n", r.batches(c)?, r.history(c, 1000)?));
            }
            Ok(out)
        })
        .unwrap()
    }

    fn ledger_sum(s: &SqliteStore) -> i64 {
        store::read(s, |r| r.history_sum("c1")).unwrap()
    }

    #[test]
    fn source_names_read_back() {
        for s in Source::ALL {
            assert_eq!(Source::parse(s.as_str()), Some(s));
        }
        assert_eq!(Source::parse("вчера"), None);
    }

    #[test]
    fn spend_takes_the_oldest_burning_batch_first_and_never_burning_last() {
        let s = db();
        give(&s, 1000, t(0), None, t(0)); // never burns
        give(&s, 1000, t(0), Some(t(30)), t(0));
        give(&s, 1000, t(0), Some(t(10)), t(0));
        give(&s, 1000, t(0), Some(t(10)), t(0)); // same day: granted later, spent later
        pay(&s, 1500, t(1)).unwrap();
        assert_eq!(remaining(&s), [1000, 1000, 0, 500]);
        pay(&s, 1000, t(2)).unwrap();
        assert_eq!(remaining(&s), [1000, 500, 0, 0]);
        pay(&s, 1000, t(3)).unwrap();
        assert_eq!(remaining(&s), [500, 0, 0, 0]);
        assert_eq!(
            bal(&s, t(3)),
            Balance {
                active: 500,
                pending: 0
            }
        );
    }

    #[test]
    fn spend_refuses_more_than_the_active_balance_and_changes_nothing() {
        let s = db();
        give(&s, 1000, t(0), Some(t(10)), t(0));
        give(&s, 500, t(0), None, t(0));
        let before = snapshot(&s);
        match pay(&s, 1501, t(1)) {
            Err(LedgerError::Insufficient { available }) => assert_eq!(available, 1500),
            other => panic!("expected Insufficient, got {other:?}"),
        }
        assert_eq!(snapshot(&s), before);
        assert!(matches!(pay(&s, 0, t(1)), Err(LedgerError::NotPositive)));
        assert!(matches!(pay(&s, -5, t(1)), Err(LedgerError::NotPositive)));
        assert_eq!(snapshot(&s), before);
        pay(&s, 1500, t(1)).unwrap();
        assert_eq!(bal(&s, t(1)).active, 0);
    }

    #[test]
    fn pending_bonuses_are_not_spendable_until_active_from() {
        let s = db();
        give(&s, 700, t(2), Some(t(30)), t(0));
        assert_eq!(
            bal(&s, t(1)),
            Balance {
                active: 0,
                pending: 700
            }
        );
        assert!(matches!(
            pay(&s, 100, t(1)),
            Err(LedgerError::Insufficient { available: 0 })
        ));
        // Exactly at active_from the bonuses count.
        assert_eq!(
            bal(&s, t(2)),
            Balance {
                active: 700,
                pending: 0
            }
        );
        pay(&s, 100, t(2)).unwrap();
        assert_eq!(remaining(&s), [600]);
    }

    #[test]
    fn expiry_burns_only_the_unspent_remainder() {
        let s = db();
        give(&s, 1000, t(0), Some(t(10)), t(0));
        give(&s, 400, t(0), Some(t(20)), t(0));
        pay(&s, 300, t(1)).unwrap();

        assert_eq!(burn(&s, t(9)), 0);
        // Past burns_at the batch stops counting even before the expiry job runs.
        assert_eq!(bal(&s, t(10)).active, 400);
        assert!(pay(&s, 401, t(10)).is_err());

        assert_eq!(
            in_tx(&s, |tx| {
                let first = expire(tx, "c1", t(11)).unwrap();
                assert_eq!(expire(tx, "c1", t(11)).unwrap(), 0, "a batch burns once");
                first
            }),
            1
        );
        assert_eq!(remaining(&s), [0, 400]);
        let h = store::read(&s, |r| history(r, "c1", 1)).unwrap();
        assert_eq!(h.len(), 1);
        assert_eq!(
            (h[0].at, h[0].amount, h[0].description.as_str(), h[0].kind),
            (t(10), -700, "Сгорание бонусов", Source::Expiry)
        );
        assert_eq!(ledger_sum(&s), 400);

        // A fully spent batch leaves nothing to burn.
        pay(&s, 400, t(12)).unwrap();
        assert_eq!(burn(&s, t(40)), 0);
        assert_eq!(ledger_sum(&s), 0);
    }

    #[test]
    fn a_claw_back_takes_active_then_pending_bonuses() {
        let s = db();
        give(&s, 300, t(0), None, t(0));
        give(&s, 300, t(0), Some(t(5)), t(0));
        give(&s, 300, t(3), Some(t(9)), t(0)); // pending
        give(&s, 300, t(2), None, t(0)); // pending, activates first
        claw(&s, "c1", 1000, None, t(1));
        assert_eq!(remaining(&s), [0, 0, 200, 0]);
        assert_eq!(
            bal(&s, t(1)),
            Balance {
                active: 0,
                pending: 200
            }
        );
        assert_eq!(ledger_sum(&s), 200);
    }

    #[test]
    fn a_claw_back_beyond_the_balance_makes_a_debt_that_blocks_spending_until_paid_off() {
        let s = db();
        give(&s, 500, t(0), Some(t(30)), t(0));
        claw(&s, "c1", 800, Some("op-1"), t(1));
        let debt = batches(&s).pop().unwrap();
        assert_eq!(
            (debt.source, debt.amount, debt.remaining, debt.burns_at),
            (Source::ReturnClawback, -300, -300, None)
        );
        assert_eq!(bal(&s, t(1)).active, -300);
        let before = snapshot(&s);
        assert!(matches!(
            pay(&s, 1, t(2)),
            Err(LedgerError::Insufficient { available: -300 })
        ));
        assert_eq!(snapshot(&s), before);

        // A debt deeper still: another debt batch, paid off in order.
        claw(&s, "c1", 100, None, t(2));
        assert_eq!(bal(&s, t(2)).active, -400);

        give(&s, 350, t(3), None, t(3));
        assert_eq!(remaining(&s), [0, 0, -50, 0]);
        assert_eq!(bal(&s, t(3)).active, -50);
        give(&s, 1000, t(4), Some(t(60)), t(4));
        assert_eq!(remaining(&s), [0, 0, 0, 0, 950]);
        assert_eq!(bal(&s, t(4)).active, 950);
        pay(&s, 950, t(4)).unwrap();
        assert_eq!(ledger_sum(&s), 0);
    }

    #[test]
    fn a_pending_grant_pays_a_debt_at_once() {
        let s = db();
        claw(&s, "c1", 200, None, t(0));
        give(&s, 500, t(5), None, t(1));
        assert_eq!(remaining(&s), [0, 300]);
        assert_eq!(
            bal(&s, t(1)),
            Balance {
                active: 0,
                pending: 300
            }
        );
    }

    #[test]
    fn grants_and_claw_backs_refuse_non_positive_amounts() {
        let s = db();
        let before = snapshot(&s);
        let mut g = Grant {
            customer_id: "c1",
            amount: 0,
            source: Source::Welcome,
            description: "Приветственные бонусы".into(),
            active_from: t(0),
            burns_at: None,
            operation_id: None,
            actor: None,
        };
        assert!(matches!(
            in_tx(&s, |tx| grant(tx, &g, t(0))),
            Err(LedgerError::NotPositive)
        ));
        g.amount = -1;
        assert!(matches!(
            in_tx(&s, |tx| grant(tx, &g, t(0))),
            Err(LedgerError::NotPositive)
        ));
        assert!(matches!(
            in_tx(&s, |tx| claw_back(
                tx,
                "c1",
                0,
                "Отмена начисления по возврату",
                None,
                t(0)
            )),
            Err(LedgerError::NotPositive)
        ));
        assert_eq!(snapshot(&s), before);
    }

    #[test]
    fn history_reads_newest_first_in_russian_and_per_customer() {
        let s = db();
        let welcome = Grant {
            customer_id: "c1",
            amount: 10_000,
            source: Source::Welcome,
            description: "Приветственные бонусы".into(),
            active_from: t(0),
            burns_at: Some(t(7)),
            operation_id: None,
            actor: None,
        };
        let manual = Grant {
            amount: 2_500,
            source: Source::Manual,
            description: "Ручное изменение: подарок постоянному покупателю".into(),
            active_from: t(1),
            burns_at: None,
            actor: Some("Иванова"),
            ..welcome.clone()
        };
        in_tx(&s, |tx| {
            grant(tx, &welcome, t(0)).unwrap();
            grant(
                tx,
                &Grant {
                    customer_id: "c2",
                    ..welcome.clone()
                },
                t(0),
            )
            .unwrap();
            grant(tx, &manual, t(1)).unwrap();
            spend(
                tx,
                &Spend {
                    operation_id: Some("op-7"),
                    ..purchase_spend(5_000)
                },
                t(2),
            )
            .unwrap();
            assert_eq!(expire(tx, "c1", t(8)).unwrap(), 1);
            assert_eq!(expire(tx, "c2", t(8)).unwrap(), 1);
        });

        let h = store::read(&s, |r| history(r, "c1", 100)).unwrap();
        let lines: Vec<(DateTime<Utc>, i64, &str)> = h
            .iter()
            .map(|r| (r.at, r.amount, r.description.as_str()))
            .collect();
        assert_eq!(
            lines,
            [
                (t(7), -5_000, "Сгорание бонусов"),
                (t(2), -5_000, "Списание при оплате покупки"),
                (
                    t(1),
                    2_500,
                    "Ручное изменение: подарок постоянному покупателю"
                ),
                (t(0), 10_000, "Приветственные бонусы"),
            ]
        );
        assert_eq!(h[2].actor.as_deref(), Some("Иванова"));
        assert_eq!(store::read(&s, |r| history(r, "c1", 2)).unwrap(), h[..2]);
        assert_eq!(store::read(&s, |r| history(r, "c2", 100)).unwrap().len(), 2);
        assert_eq!(store::read(&s, |r| history(r, "nobody", 100)).unwrap(), []);
        assert_eq!(bal(&s, t(8)).active, 2_500);
    }
}
