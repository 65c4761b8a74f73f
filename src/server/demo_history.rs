//! A year of invented purchases for the demo chain, so the back office's reports have
//! something to show.
//!
//! Every sale and return goes through the real operation path ([`ops::apply_batch`]) and
//! every night the real jobs run ([`jobs::run_once`]: burns, birthdays), so the ledgers,
//! batches, statuses, burns and reports agree with each other exactly as they would after
//! a real year. Deterministic: the same seed, stores, customers and `now` give the same
//! year to the kopeck (operation ids included).
//!
//! Each store's till sells from opening (08:00 local) to closing (21:00), more at the
//! weekend, mostly to a few regulars; one receipt in five spends bonuses, about one in
//! fifty is brought back within a week. A store's day is one batch (as a till that syncs
//! at closing), so a history of a year is a few hundred transactions.
//!
//! Engine-free: everything goes through the store seam.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;

use super::auth::Terminal;
use super::sms::SmsPolicy;
use super::store::{self, CustomerKey, Store, StoreError, StoreRow};
use super::{jobs, ops};
use crate::domain::money::{Bonus, Money, Quantity};
use crate::domain::receipt::{Measure, Position, Receipt, ReceiptKind};
use crate::domain::rules::Rules;
use crate::protocol::sales::SaleRef;
use crate::protocol::server::{Operation, OperationBody, OperationStatus};

/// How many days of history.
pub const DAYS: i64 = 365;

/// The seed of the demo's year.
pub const SEED: u64 = 2026;

/// A store of the history and the cashiers who take turns at its till.
#[derive(Debug, Clone)]
pub struct HistoryStore<'a> {
    pub store: &'a StoreRow,
    pub cashiers: &'a [String],
}

/// How busy the year is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// Loyalty receipts a store's till makes on an ordinary weekday, on average.
    pub receipts_per_day: u32,
}

impl Default for Pace {
    fn default() -> Pace {
        Pace {
            receipts_per_day: 14,
        }
    }
}

/// What the year came to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HistorySummary {
    pub sales: u64,
    pub returns: u64,
    /// Operations the server refused (a spend the customer could no longer afford, …):
    /// kept, as a till's would be.
    pub rejected: u64,
    pub burnt_batches: u64,
    pub birthdays: u64,
}

/// The demo shop's goods: name, category (the demo rules know `coffee`, `bakery`, `bar`),
/// price in kopecks.
const CATALOG: &[(&str, &str, i64)] = &[
    ("Капучино", "coffee", 22_000),
    ("Латте", "coffee", 24_000),
    ("Американо", "coffee", 16_000),
    ("Раф лавандовый", "coffee", 28_000),
    ("Круассан", "bakery", 15_000),
    ("Синнабон", "bakery", 19_000),
    ("Чизкейк", "dessert", 29_000),
    ("Лимонад", "bar", 20_000),
    ("Кофе в зёрнах, 250 г", "beans", 79_000),
];

/// The till of a store's history: an id of its own, so its sequence numbers never meet a
/// real till's.
pub fn history_terminal(store_id: &str) -> Terminal {
    Terminal {
        id: format!("history-{store_id}"),
        store_id: store_id.to_string(),
    }
}

/// A sale waiting to be brought back: on which day, at which store, and what it was.
struct ToReturn {
    day: NaiveDate,
    store: usize,
    receipt: Receipt,
}

/// What the history knows of a customer while it plays a day.
struct Regular {
    id: String,
    may_spend: bool,
}

/// Plays a year of sales and returns at the given stores, ending at `now`, with the
/// default pace and seed.
pub fn apply_year(
    store: &dyn Store,
    rules: &Rules,
    stores: &[HistoryStore<'_>],
    customers: &[String],
    now: DateTime<Utc>,
) -> Result<HistorySummary, StoreError> {
    apply_history(store, rules, stores, customers, now, Pace::default(), SEED)
}

/// Plays [`DAYS`] days of sales and returns ending at `now`: each store's day as one batch
/// of its till, then the night's jobs.
pub fn apply_history(
    store: &dyn Store,
    rules: &Rules,
    stores: &[HistoryStore<'_>],
    customers: &[String],
    now: DateTime<Utc>,
    pace: Pace,
    seed: u64,
) -> Result<HistorySummary, StoreError> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut summary = HistorySummary::default();
    if stores.is_empty() || customers.is_empty() {
        return Ok(summary);
    }
    let regulars = store::read(store, |r| {
        let mut out = Vec::with_capacity(customers.len());
        for id in customers {
            if let Some(c) = r.customer(CustomerKey::Id(id))? {
                out.push(Regular {
                    id: c.id,
                    may_spend: c.phone_verified && c.consent_processing,
                });
            }
        }
        Ok(out)
    })?;
    let mut seqs = vec![0u64; stores.len()];
    let mut returns: Vec<ToReturn> = Vec::new();
    let policy = SmsPolicy::default();
    let first = now - Duration::days(DAYS);
    let mut last_jobs = first;
    for offset in 0..DAYS {
        let moment = first + Duration::days(offset);
        for (si, hs) in stores.iter().enumerate() {
            let tz = hs.store.tz();
            let day = moment.with_timezone(&tz).date_naive();
            let mut ops = Vec::new();
            // The returns due today, at their own store.
            let (due, later): (Vec<_>, Vec<_>) = returns
                .drain(..)
                .partition(|r| r.store == si && r.day <= day);
            returns = later;
            let sales = receipts_on(day, pace, &mut rng);
            let mut times: Vec<DateTime<Utc>> = (0..sales + due.len() as u32)
                .map(|_| local_time(&tz, day, &mut rng))
                .filter(|t| *t <= now)
                .collect();
            times.sort();
            if times.is_empty() {
                continue;
            }
            // Bonuses a customer spends today, so a second spend never asks for more than
            // the morning's balance left.
            let mut spent_today: HashMap<usize, i64> = HashMap::new();
            let mut due = due.into_iter();
            let return_slots = spread(times.len(), due.len(), &mut rng);
            for (i, at) in times.iter().enumerate() {
                seqs[si] += 1;
                let cashier = &hs.cashiers[(i * hs.cashiers.len()) / times.len().max(1)];
                let body = if return_slots.contains(&i)
                    && let Some(r) = due.next()
                {
                    give_back(r.receipt, hs.store, *at, &tz, &mut rng)
                } else {
                    let who = regular(regulars.len(), &mut rng);
                    let receipt = basket(hs.store, cashier, *at, &tz, &mut rng);
                    let spend = if regulars[who].may_spend && rng.random_bool(0.2) {
                        let have = store::read(store, |r| r.balance(&regulars[who].id, *at))?
                            .active
                            - spent_today.get(&who).copied().unwrap_or(0);
                        spend_for(&receipt, have)
                    } else {
                        0
                    };
                    *spent_today.entry(who).or_default() += spend;
                    if rng.random_bool(0.02) {
                        returns.push(ToReturn {
                            day: day + Duration::days(rng.random_range(1..=7)),
                            store: si,
                            receipt: receipt.clone(),
                        });
                    }
                    OperationBody::Sale {
                        customer_id: regulars[who].id.clone(),
                        receipt,
                        spend: Bonus::from_kopecks(spend),
                        verification: None,
                        fiscal: None,
                        hold: None,
                    }
                };
                ops.push(Operation {
                    id: uuid::Builder::from_random_bytes(rng.random())
                        .into_uuid()
                        .to_string(),
                    seq: seqs[si],
                    at: *at,
                    cashier: cashier.clone(),
                    cashier_id: None,
                    offline: false,
                    body,
                });
            }
            // Synced at closing: the ledger's lines are dated then.
            let closing = *times.last().expect("at least one receipt");
            let results =
                ops::apply_batch(store, rules, &history_terminal(&hs.store.id), ops, || {
                    closing
                })?;
            for r in &results {
                match r.status {
                    OperationStatus::Applied => {
                        // A sale answers with its calculation, a return with what came back.
                        if r.answer
                            .as_ref()
                            .and_then(|a| a.get("calculation"))
                            .is_some()
                        {
                            summary.sales += 1;
                        } else {
                            summary.returns += 1;
                        }
                    }
                    OperationStatus::Rejected => summary.rejected += 1,
                    OperationStatus::Duplicate => {}
                }
            }
        }
        // The night's jobs, at the end of the day in UTC.
        let night = (moment + Duration::days(1)).min(now);
        let report = jobs::run_once(store, rules, &policy, last_jobs, night)?;
        summary.burnt_batches += u64::from(report.burnt);
        summary.birthdays += u64::from(report.birthdays);
        last_jobs = night;
    }
    Ok(summary)
}

/// How many receipts a store's till makes on `day`: more at the weekend, fewer in
/// January's holidays, never the same two days running.
fn receipts_on(day: NaiveDate, pace: Pace, rng: &mut StdRng) -> u32 {
    let base = f64::from(pace.receipts_per_day);
    let weekday = match day.weekday() {
        Weekday::Sat | Weekday::Sun => 1.4,
        Weekday::Fri => 1.2,
        _ => 1.0,
    };
    let season = if day.month() == 1 && day.day() <= 8 {
        0.5
    } else if day.month() == 12 {
        1.3
    } else {
        1.0
    };
    (base * weekday * season * rng.random_range(0.7..1.3)).round() as u32
}

/// A moment of the store's business hours (08:00–21:00 local) on `day`.
fn local_time(tz: &chrono_tz::Tz, day: NaiveDate, rng: &mut StdRng) -> DateTime<Utc> {
    let minute = rng.random_range(8 * 60..21 * 60);
    let naive = day
        .and_hms_opt(minute / 60, minute % 60, rng.random_range(0..60))
        .expect("a valid time");
    tz.from_local_datetime(&naive)
        .earliest()
        .map_or_else(|| naive.and_utc(), |t| t.with_timezone(&Utc))
}

/// Which of `slots` receipts of the day are the `n` returns.
fn spread(slots: usize, n: usize, rng: &mut StdRng) -> Vec<usize> {
    let mut chosen: Vec<usize> = Vec::with_capacity(n);
    while chosen.len() < n.min(slots) {
        let i = rng.random_range(0..slots);
        if !chosen.contains(&i) {
            chosen.push(i);
        }
    }
    chosen
}

/// A customer, the first ones (the regulars) far more often than the rest.
fn regular(n: usize, rng: &mut StdRng) -> usize {
    let a = rng.random_range(0..n);
    let b = rng.random_range(0..n);
    a.min(b)
}

fn receipt_at(at: DateTime<Utc>, tz: &chrono_tz::Tz) -> DateTime<chrono::FixedOffset> {
    at.with_timezone(tz).fixed_offset()
}

/// One to three things from the catalog, one or two of each.
fn basket(
    store: &StoreRow,
    cashier: &str,
    at: DateTime<Utc>,
    tz: &chrono_tz::Tz,
    rng: &mut StdRng,
) -> Receipt {
    let lines = rng.random_range(1..=3);
    let positions = (0..lines)
        .map(|i| {
            let (name, category, price) = CATALOG[rng.random_range(0..CATALOG.len())];
            Position {
                id: (i + 1).to_string(),
                sku: String::new(),
                name: name.to_string(),
                category: category.to_string(),
                price: Money::from_kopecks(price),
                quantity: Quantity::new(Decimal::from(rng.random_range(1..=2)))
                    .expect("one or two pieces"),
                measure: Measure::Piece,
                excise: false,
            }
        })
        .collect();
    Receipt {
        id: format!(
            "{}-{}",
            at.format("%Y%m%d%H%M%S"),
            rng.random_range(100..1000)
        ),
        kind: ReceiptKind::Sale,
        at: receipt_at(at, tz),
        store: store.id.clone(),
        cashier: cashier.to_string(),
        original_receipt: None,
        positions,
    }
}

/// The whole sale brought back to its own store.
fn give_back(
    sale: Receipt,
    store: &StoreRow,
    at: DateTime<Utc>,
    tz: &chrono_tz::Tz,
    rng: &mut StdRng,
) -> OperationBody {
    let original = sale.id.clone();
    let receipt = Receipt {
        id: format!(
            "В-{}-{}",
            at.format("%Y%m%d%H%M%S"),
            rng.random_range(100..1000)
        ),
        kind: ReceiptKind::Return,
        at: receipt_at(at, tz),
        original_receipt: Some(original.clone()),
        ..sale
    };
    OperationBody::Return {
        receipt,
        sale: Some(SaleRef {
            terminal_id: history_terminal(&store.id).id,
            receipt_id: original,
        }),
    }
}

/// A spend a cashier would offer: about a twelfth of the receipt in whole bonuses, within
/// what the customer has, never below 10 (the silver card's least spend) nor above 1000
/// (above it the demo rules ask for an SMS code).
fn spend_for(receipt: &Receipt, have: i64) -> i64 {
    let total: i64 = receipt
        .positions
        .iter()
        .map(|p| Money::new(p.price.amount() * p.quantity.amount()).kopecks())
        .sum();
    let want = (total / 12 / 100 * 100).min(100_000).min(have / 100 * 100);
    if want >= 1_000 { want } else { 0 }
}
