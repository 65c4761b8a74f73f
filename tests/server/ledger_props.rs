//! Property tests of the server's bonus ledger (`server::ledger`): random sequences of
//! grants, spends, claw-backs and expiry runs on a moving clock, checked after every step
//! against the ledger's invariants, the store's running balance and a small in-memory
//! model of the batches — on every engine of the contract suite (`crate::common::db`).
//!
//! The model is deliberately naive (a vector of batches, sorted on every use) so that it is
//! obviously right; the ledger must agree with it to the kopeck, batch by batch. That
//! agreement is what shows expiry never burns bonuses that were already spent.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::common::db::{TestDb, engines};
use bonuskassa::server::ledger::{self, Balance, Grant, LedgerError, Source, Spend};
use bonuskassa::server::store::{self, Engine, NewCustomer, ReadTx, Store};
use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;

/// Customers per case.
const CUSTOMERS: usize = 2;

#[derive(Debug, Clone)]
enum Act {
    Grant {
        amount: i64,
        delay_h: Option<i64>,
        life_h: Option<i64>,
    },
    Spend {
        amount: i64,
    },
    ClawBack {
        amount: i64,
    },
    Expire,
}

/// One step: move the clock forward by `advance_h` hours, then act for one customer.
#[derive(Debug, Clone)]
struct Step {
    advance_h: i64,
    customer: usize,
    act: Act,
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        4 => (
            1i64..=5_000,
            prop_oneof![2 => Just(None), 1 => (1i64..=72).prop_map(Some)],
            prop_oneof![1 => Just(None), 3 => (1i64..=240).prop_map(Some)],
        )
            .prop_map(|(amount, delay_h, life_h)| Act::Grant { amount, delay_h, life_h }),
        4 => (1i64..=6_000).prop_map(|amount| Act::Spend { amount }),
        2 => (1i64..=4_000).prop_map(|amount| Act::ClawBack { amount }),
        2 => Just(Act::Expire),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    // Advancing by 0 often keeps many operations at one instant, where ties in time and
    // the `<=` / `>` edges of active_from and burns_at are exercised.
    (prop_oneof![Just(0i64), 0i64..=48], 0..CUSTOMERS, act()).prop_map(
        |(advance_h, customer, act)| Step {
            advance_h,
            customer,
            act,
        },
    )
}

#[derive(Debug, Clone)]
struct MBatch {
    customer: usize,
    amount: i64,
    remaining: i64,
    active_from: DateTime<Utc>,
    burns_at: Option<DateTime<Utc>>,
}

impl MBatch {
    fn unburnt(&self, now: DateTime<Utc>) -> bool {
        self.burns_at.is_none_or(|b| b > now)
    }
    fn active(&self, now: DateTime<Utc>) -> bool {
        self.active_from <= now && self.unburnt(now)
    }
    fn pending(&self, now: DateTime<Utc>) -> bool {
        self.active_from > now && self.unburnt(now)
    }
}

/// The ledger as the spec describes it, with no database.
#[derive(Debug, Default)]
struct Model {
    batches: Vec<MBatch>,
}

impl Model {
    fn balance(&self, c: usize, now: DateTime<Utc>) -> Balance {
        let mut b = Balance::default();
        for x in self.batches.iter().filter(|x| x.customer == c) {
            if x.active(now) {
                b.active += x.remaining;
            } else if x.pending(now) {
                b.pending += x.remaining;
            }
        }
        b
    }

    fn grant(
        &mut self,
        c: usize,
        amount: i64,
        active_from: DateTime<Utc>,
        burns_at: Option<DateTime<Utc>>,
    ) {
        let mut left = amount;
        for x in self
            .batches
            .iter_mut()
            .filter(|x| x.customer == c && x.remaining < 0)
        {
            let pay = left.min(-x.remaining);
            x.remaining += pay;
            left -= pay;
        }
        self.batches.push(MBatch {
            customer: c,
            amount,
            remaining: left,
            active_from,
            burns_at,
        });
    }

    /// Indices of the customer's spendable batches in spending order.
    fn spend_order(&self, c: usize, now: DateTime<Utc>) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..self.batches.len())
            .filter(|&i| {
                let x = &self.batches[i];
                x.customer == c && x.remaining > 0 && x.active(now)
            })
            .collect();
        idx.sort_by_key(|&i| {
            let x = &self.batches[i];
            (x.burns_at.is_none(), x.burns_at, i)
        });
        idx
    }

    fn take(&mut self, order: &[usize], mut left: i64) -> i64 {
        for &i in order {
            let part = left.min(self.batches[i].remaining);
            self.batches[i].remaining -= part;
            left -= part;
        }
        left
    }

    fn spend(&mut self, c: usize, amount: i64, now: DateTime<Utc>) -> Result<(), i64> {
        let available = self.balance(c, now).active;
        if available < amount {
            return Err(available);
        }
        let order = self.spend_order(c, now);
        let left = self.take(&order, amount);
        assert_eq!(left, 0, "model: an active balance always covers its spend");
        Ok(())
    }

    fn claw_back(&mut self, c: usize, amount: i64, now: DateTime<Utc>) {
        let order = self.spend_order(c, now);
        let left = self.take(&order, amount);
        let mut pending: Vec<usize> = (0..self.batches.len())
            .filter(|&i| {
                let x = &self.batches[i];
                x.customer == c && x.remaining > 0 && x.pending(now)
            })
            .collect();
        pending.sort_by_key(|&i| {
            let x = &self.batches[i];
            (x.active_from, x.burns_at.is_none(), x.burns_at, i)
        });
        let left = self.take(&pending, left);
        if left > 0 {
            self.batches.push(MBatch {
                customer: c,
                amount: -left,
                remaining: -left,
                active_from: now,
                burns_at: None,
            });
        }
    }

    fn expire(&mut self, now: DateTime<Utc>) -> u32 {
        let mut n = 0;
        for x in &mut self.batches {
            if x.burns_at.is_some_and(|b| b <= now) && x.remaining > 0 {
                x.remaining = 0;
                n += 1;
            }
        }
        n
    }
}

/// The store under test and the ids of this case's two customers: every case gets fresh
/// customers in the engine's one database, so a PostgreSQL run needs no database per case.
struct Case<'a> {
    store: &'a dyn Store,
    ids: [String; 2],
}

fn case(store: &dyn Store) -> Case<'_> {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let ids = [format!("c{n}-1"), format!("c{n}-2")];
    for (i, id) in ids.iter().enumerate() {
        let c = NewCustomer {
            id: id.clone(),
            phone: format!("+7999{:07}", n * 2 + i as u64),
            card_status: "Стандартная".into(),
            phone_verified: true,
            registered_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            ..NewCustomer::default()
        };
        assert!(store::write(store, |tx| tx.insert_customer(&c)).unwrap());
    }
    Case { store, ids }
}

/// `(source, amount, remaining)` of every batch of a customer, in the order granted.
fn db_batches(r: &mut dyn ReadTx, id: &str) -> Vec<(Source, i64, i64)> {
    r.batches(id)
        .unwrap()
        .into_iter()
        .map(|b| (b.source, b.amount, b.remaining))
        .collect()
}

fn check(c: &Case, model: &Model, now: DateTime<Utc>) -> Result<(), TestCaseError> {
    let mut r = c.store.begin_read().unwrap();
    for (i, id) in c.ids.iter().enumerate() {
        let b = ledger::balance(&mut *r, id, now).unwrap();
        prop_assert_eq!(b, model.balance(i, now), "balance of {}", id);

        let batches = r.batches(id).unwrap();
        let unburnt: i64 = batches
            .iter()
            .filter(|x| x.burns_at.is_none_or(|t| t > now))
            .map(|x| x.remaining)
            .sum();
        prop_assert_eq!(b.active + b.pending, unburnt, "active + pending of {}", id);

        let ledger_sum = r.history_sum(id).unwrap();
        let remaining_sum: i64 = batches.iter().map(|x| x.remaining).sum();
        prop_assert_eq!(ledger_sum, remaining_sum, "history vs batches of {}", id);

        // A debt and spendable bonuses never sit side by side.
        if b.active < 0 {
            prop_assert_eq!(b.pending, 0);
        }

        let mine: Vec<&MBatch> = model.batches.iter().filter(|m| m.customer == i).collect();
        let stored = db_batches(&mut *r, id);
        prop_assert_eq!(stored.len(), mine.len());
        for ((source, amount, remaining), m) in stored.iter().zip(mine) {
            let debt = *source == Source::ReturnClawback && *amount < 0;
            if debt {
                prop_assert!(
                    *amount <= *remaining && *remaining <= 0,
                    "debt {amount} {remaining}"
                );
            } else {
                prop_assert!(*amount > 0, "a grant of {amount}");
                prop_assert!(
                    0 <= *remaining && *remaining <= *amount,
                    "batch {amount} has {remaining}"
                );
            }
            prop_assert_eq!((*amount, *remaining), (m.amount, m.remaining));
        }
    }
    Ok(())
}

fn run<'a>(store: &'a dyn Store, steps: &[Step]) -> Result<Case<'a>, TestCaseError> {
    let c = case(store);
    let mut model = Model::default();
    let mut now = Utc.with_ymd_and_hms(2026, 1, 1, 9, 0, 0).unwrap();
    for s in steps {
        now += Duration::hours(s.advance_h);
        let i = s.customer;
        let id = c.ids[i].as_str();
        match s.act {
            Act::Grant {
                amount,
                delay_h,
                life_h,
            } => {
                let active_from = now + Duration::hours(delay_h.unwrap_or(0));
                let burns_at = life_h.map(|h| active_from + Duration::hours(h));
                let g = Grant {
                    customer_id: id,
                    amount,
                    source: Source::Purchase,
                    description: "Начисление за покупку".into(),
                    active_from,
                    burns_at,
                    operation_id: None,
                    actor: None,
                };
                store::write(store, |tx| Ok(ledger::grant(tx, &g, now)))
                    .unwrap()
                    .unwrap();
                model.grant(i, amount, active_from, burns_at);
            }
            Act::Spend { amount } => {
                let before = store::read(store, |r| Ok(db_batches(r, id))).unwrap();
                let spend = Spend {
                    customer_id: id,
                    amount,
                    source: Source::Purchase,
                    description: "Списание при оплате покупки",
                    operation_id: None,
                    actor: None,
                };
                // Refused inside a transaction that then commits: the refusal must have
                // touched nothing.
                let got = store::write(store, |tx| Ok(ledger::spend(tx, &spend, now))).unwrap();
                let want = model.spend(i, amount, now);
                match (got, want) {
                    (Ok(()), Ok(())) => {}
                    (Err(LedgerError::Insufficient { available }), Err(m)) => {
                        prop_assert_eq!(available, m);
                        let after = store::read(store, |r| Ok(db_batches(r, id))).unwrap();
                        prop_assert_eq!(after, before);
                    }
                    (got, want) => {
                        return Err(TestCaseError::fail(format!(
                            "spend {amount}: ledger {got:?}, model {want:?}"
                        )));
                    }
                }
            }
            Act::ClawBack { amount } => {
                store::write(store, |tx| {
                    Ok(ledger::claw_back(
                        tx,
                        id,
                        amount,
                        "Отмена начисления по возврату",
                        None,
                        now,
                    ))
                })
                .unwrap()
                .unwrap();
                model.claw_back(i, amount, now);
            }
            Act::Expire => {
                let n = store::write(store, |tx| {
                    Ok(ledger::expire(tx, &c.ids[0], now)? + ledger::expire(tx, &c.ids[1], now)?)
                })
                .unwrap();
                prop_assert_eq!(n, model.expire(now));
            }
        }
        check(&c, &model, now)?;
    }
    Ok(c)
}

/// The stores of the engines under test, opened once per test.
fn stores() -> Vec<(TestDb, Arc<dyn Store>)> {
    engines()
        .into_iter()
        .map(|e| {
            let db = TestDb::new(e);
            let store = db.open();
            (db, store)
        })
        .collect()
}

#[test]
fn the_ledger_keeps_its_invariants_and_agrees_with_the_model() {
    for (db, store) in stores() {
        // Fewer cases over the network: each step is a few round trips to PostgreSQL.
        let cases = match db.engine {
            Engine::Sqlite => 256,
            Engine::Postgres => 64,
        };
        let mut runner = TestRunner::new(ProptestConfig::with_cases(cases));
        runner
            .run(&prop::collection::vec(step(), 1..60), |steps| {
                run(&*store, &steps).map(drop)
            })
            .unwrap_or_else(|e| panic!("{}: {e}", db.engine));
        // The running balance kept per customer agrees with the batches and the history of
        // every customer of every case (each step's balance was checked against the model).
        let census = store::read(&*store, |r| r.census()).unwrap();
        assert_eq!(census.unbalanced, 0, "{}", db.engine);
    }
}

/// A fixed history where the order matters: the soon-burning batch is spent, the
/// long-lived one survives, so the expiry burns nothing that was spent.
#[test]
fn spending_before_an_expiry_saves_the_bonuses_from_burning() {
    let steps = [
        Step {
            advance_h: 0,
            customer: 0,
            act: Act::Grant {
                amount: 1_000,
                delay_h: None,
                life_h: Some(240),
            },
        },
        Step {
            advance_h: 0,
            customer: 0,
            act: Act::Grant {
                amount: 1_000,
                delay_h: None,
                life_h: Some(24),
            },
        },
        Step {
            advance_h: 1,
            customer: 0,
            act: Act::Spend { amount: 1_000 },
        },
        Step {
            advance_h: 48,
            customer: 0,
            act: Act::Expire,
        },
    ];
    for (db, store) in stores() {
        let c = run(&*store, &steps).unwrap_or_else(|e| panic!("{}: {e}", db.engine));
        let burnt = store::read(&*store, |r| r.history(&c.ids[0], 100))
            .unwrap()
            .iter()
            .filter(|h| h.kind == Source::Expiry)
            .count();
        assert_eq!(burnt, 0, "{}", db.engine);
        let now = Utc.with_ymd_and_hms(2026, 1, 3, 10, 0, 0).unwrap();
        let b = store::read(&*store, |r| ledger::balance(r, &c.ids[0], now)).unwrap();
        assert_eq!(
            b,
            Balance {
                active: 1_000,
                pending: 0
            },
            "{}",
            db.engine
        );
    }
}
