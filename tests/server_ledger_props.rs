//! Property tests of the server's bonus ledger (`server::ledger`): random sequences of
//! grants, spends, claw-backs and expiry runs on a moving clock, checked after every step
//! against the ledger's invariants and against a small in-memory model of the batches.
//!
//! The model is deliberately naive (a vector of batches, sorted on every use) so that it is
//! obviously right; the ledger must agree with it to the kopeck, batch by batch. That
//! agreement is what shows expiry never burns bonuses that were already spent.

use bonuskassa::server::ledger::{self, Balance, Grant, LedgerError, Source};
use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use rusqlite::{Connection, params};

const CUSTOMERS: [&str; 2] = ["c1", "c2"];

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
    (
        prop_oneof![Just(0i64), 0i64..=48],
        0..CUSTOMERS.len(),
        act(),
    )
        .prop_map(|(advance_h, customer, act)| Step {
            advance_h,
            customer,
            act,
        })
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

fn db() -> Connection {
    let conn = bonuskassa::server::db::open_in_memory().unwrap();
    for (i, id) in CUSTOMERS.iter().enumerate() {
        conn.execute(
            "INSERT INTO customers (id, phone, card_status, phone_verified, registered_at, change_seq)
             VALUES (?1, ?2, 'Стандартная', 1, '2026-01-01T00:00:00.000000Z', ?3)",
            params![id, format!("+7999000000{i}"), i as i64 + 1],
        )
        .unwrap();
    }
    conn
}

/// `(source, amount, remaining)` of every batch, in id order.
fn db_batches(conn: &Connection) -> Vec<(String, i64, i64)> {
    let mut stmt = conn
        .prepare("SELECT source, amount, remaining FROM bonus_batches ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn scalar(conn: &Connection, sql: &str, p: impl rusqlite::Params) -> i64 {
    conn.query_row(sql, p, |r| r.get(0)).unwrap()
}

fn ledger_count(conn: &Connection) -> i64 {
    scalar(conn, "SELECT COUNT(*) FROM ledger_entries", [])
}

fn check(conn: &Connection, model: &Model, now: DateTime<Utc>) -> Result<(), TestCaseError> {
    let now_s = ledger::ts(now);
    for (c, id) in CUSTOMERS.iter().enumerate() {
        let b = ledger::balance(conn, id, now).unwrap();
        prop_assert_eq!(b, model.balance(c, now), "balance of {}", id);

        let unburnt = scalar(
            conn,
            "SELECT COALESCE(SUM(remaining), 0) FROM bonus_batches
             WHERE customer_id = ?1 AND (burns_at IS NULL OR burns_at > ?2)",
            params![id, now_s],
        );
        prop_assert_eq!(b.active + b.pending, unburnt, "active + pending of {}", id);

        let ledger_sum = scalar(
            conn,
            "SELECT COALESCE(SUM(amount), 0) FROM ledger_entries WHERE customer_id = ?1",
            [id],
        );
        let remaining_sum = scalar(
            conn,
            "SELECT COALESCE(SUM(remaining), 0) FROM bonus_batches WHERE customer_id = ?1",
            [id],
        );
        prop_assert_eq!(ledger_sum, remaining_sum, "history vs batches of {}", id);

        // A debt and spendable bonuses never sit side by side.
        if b.active < 0 {
            prop_assert_eq!(b.pending, 0);
        }
    }

    let batches = db_batches(conn);
    prop_assert_eq!(batches.len(), model.batches.len());
    for ((source, amount, remaining), m) in batches.iter().zip(&model.batches) {
        let debt = source == Source::ReturnClawback.as_str() && *amount < 0;
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
    Ok(())
}

fn run(steps: &[Step]) -> Result<Connection, TestCaseError> {
    let mut conn = db();
    let mut model = Model::default();
    let mut now = Utc.with_ymd_and_hms(2026, 1, 1, 9, 0, 0).unwrap();
    for s in steps {
        now += Duration::hours(s.advance_h);
        let c = s.customer;
        let id = CUSTOMERS[c];
        let tx = conn.transaction().unwrap();
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
                ledger::grant(&tx, &g, now).unwrap();
                model.grant(c, amount, active_from, burns_at);
            }
            Act::Spend { amount } => {
                let before = (db_batches(&tx), ledger_count(&tx));
                let got = ledger::spend(
                    &tx,
                    id,
                    amount,
                    Source::Purchase,
                    "Списание при оплате покупки",
                    None,
                    None,
                    now,
                );
                let want = model.spend(c, amount, now);
                match (got, want) {
                    (Ok(()), Ok(())) => {}
                    (Err(LedgerError::Insufficient { available }), Err(m)) => {
                        prop_assert_eq!(available, m);
                        // Refused inside an open transaction: nothing was touched, so
                        // committing it changes nothing either.
                        prop_assert_eq!((db_batches(&tx), ledger_count(&tx)), before);
                    }
                    (got, want) => {
                        return Err(TestCaseError::fail(format!(
                            "spend {amount}: ledger {got:?}, model {want:?}"
                        )));
                    }
                }
            }
            Act::ClawBack { amount } => {
                ledger::claw_back(&tx, id, amount, "Отмена начисления по возврату", None, now)
                    .unwrap();
                model.claw_back(c, amount, now);
            }
            Act::Expire => {
                let n = ledger::expire(&tx, now).unwrap();
                prop_assert_eq!(n, model.expire(now));
            }
        }
        tx.commit().unwrap();
        check(&conn, &model, now)?;
    }
    Ok(conn)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_ledger_keeps_its_invariants_and_agrees_with_the_model(
        steps in prop::collection::vec(step(), 1..60)
    ) {
        run(&steps)?;
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
    let conn = run(&steps).unwrap();
    let burnt = scalar(
        &conn,
        "SELECT COUNT(*) FROM ledger_entries WHERE kind = 'expiry'",
        [],
    );
    assert_eq!(burnt, 0);
    let now = Utc.with_ymd_and_hms(2026, 1, 3, 10, 0, 0).unwrap();
    let b = ledger::balance(&conn, "c1", now).unwrap();
    assert_eq!(
        b,
        Balance {
            active: 1_000,
            pending: 0
        }
    );
}
