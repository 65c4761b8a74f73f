//! Budget (SPEC.md §6): look up a customer by phone or card in a 1 000 000-customer terminal
//! cache in ≤ 200 µs median.
//!
//! The cache is a real file-backed [`TerminalStore`] (WAL, synchronous=FULL, as `open` sets
//! them) filled through `apply_feed` in feed-sized pages, keyed by HMAC hashes under a fixed
//! random key, as the server's feed sends them. Each iteration does what
//! `Terminal::lookup_cached` does minus the rules: hash the typed value, `customer_by_hash`,
//! then `spent_since_cache`. The looked-up values cycle through a pre-drawn random list so
//! each lookup walks a different path of the indexes rather than one hot row.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use bonuskassa::domain::money::Bonus;
use bonuskassa::domain::phone::Phone;
use bonuskassa::protocol::lookup_hash;
use bonuskassa::protocol::server::FeedCustomer;
use bonuskassa::store::{DB_FILE, TerminalStore};
use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const CUSTOMERS: usize = 1_000_000;
/// Customers per `apply_feed` call, as a feed page.
const PAGE: usize = 10_000;
/// One customer in this many has a card; the rest are found by phone only.
const CARD_EVERY: usize = 3;
/// How many distinct values each benchmark cycles through.
const PROBES: usize = 8_192;

const NAMES: &[&str] = &[
    "Мария И.",
    "Карина С.",
    "Алексей П.",
    "Ольга Н.",
    "Дмитрий К.",
    "Анна В.",
    "Сергей Т.",
    "Елена М.",
];
const STATUSES: &[&str] = &["base", "silver", "gold"];

/// The `i`-th of the cache's phones: distinct `+7999xxxxxxx` numbers, spread over the
/// whole range by a bijection of 0..10⁷ (7 919 is prime to 10⁷).
fn phone(i: usize) -> String {
    format!("+7999{:07}", (i * 7_919 + 1_234_567) % 10_000_000)
}

/// The `i`-th card number: 13 digits, not bank-card-like.
fn card(i: usize) -> String {
    format!("2900{:09}", i * 37 % 1_000_000_000)
}

fn has_card(i: usize) -> bool {
    i.is_multiple_of(CARD_EVERY)
}

fn fill(store: &mut TerminalStore, key: &[u8], rng: &mut StdRng) {
    let now = Utc::now();
    let mut page = Vec::with_capacity(PAGE);
    for start in (0..CUSTOMERS).step_by(PAGE) {
        page.clear();
        for i in start..(start + PAGE).min(CUSTOMERS) {
            let e164 = phone(i);
            page.push(FeedCustomer {
                id: uuid::Uuid::now_v7().to_string(),
                phone_hash: lookup_hash(key, &e164),
                card_hash: has_card(i).then(|| lookup_hash(key, &card(i))),
                phone_masked: Phone::parse(&e164).unwrap().masked(),
                name: NAMES[rng.random_range(0..NAMES.len())].into(),
                card_status: STATUSES[rng.random_range(0..STATUSES.len())].into(),
                phone_verified: rng.random_bool(0.8),
                balance: Bonus::from_kopecks(rng.random_range(0..500_000)),
                pending: Bonus::from_kopecks(rng.random_range(0..5_000)),
                seq: i as i64 + 1,
                consent_processing: true,
                consent_advertising: false,
                gone: false,
            });
        }
        let cursor = page.last().map_or(0, |c| c.seq);
        store.apply_feed(&page, cursor, now).unwrap();
    }
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// `Terminal::lookup_cached` minus the rules: hash, find, take off what was spent here.
fn lookup(store: &TerminalStore, key: &[u8], value: &str) -> Option<i64> {
    let hash = lookup_hash(key, value);
    let c = store.customer_by_hash(&hash).unwrap()?;
    let spent = TerminalStore::spent_since_cache(store.connection(), &c.id).unwrap();
    Some(c.balance - spent)
}

fn bench(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(0x0b0a_5ca5);
    let key: [u8; 32] = rng.random();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("terminal");
    let mut store = TerminalStore::open(&data).unwrap();

    let started = Instant::now();
    fill(&mut store, &key, &mut rng);
    let took = started.elapsed();
    assert_eq!(store.cached_customers().unwrap(), CUSTOMERS as u64);
    let db = data.join(DB_FILE);
    let wal = data.join(format!("{DB_FILE}-wal"));
    eprintln!(
        "cache: filled {CUSTOMERS} customers in pages of {PAGE} in {:.1} s ({:.0} customers/s); \
         {DB_FILE} {:.1} MiB, -wal {:.1} MiB",
        took.as_secs_f64(),
        CUSTOMERS as f64 / took.as_secs_f64(),
        mib(file_size(&db)),
        mib(file_size(&wal)),
    );

    // The first lookups of a freshly opened till: SQLite's page cache is empty (the OS's is
    // not: it was just written).
    drop(store);
    let store = TerminalStore::open(&data).unwrap();
    let first: Vec<String> = (0..5)
        .map(|_| {
            let i = rng.random_range(0..CUSTOMERS);
            let t = Instant::now();
            assert!(lookup(&store, &key, &phone(i)).is_some());
            format!("{:.0} µs", t.elapsed().as_secs_f64() * 1e6)
        })
        .collect();
    eprintln!(
        "cache: first lookups by phone after reopening: {}",
        first.join(", ")
    );

    let phones: Vec<String> = (0..PROBES)
        .map(|_| phone(rng.random_range(0..CUSTOMERS)))
        .collect();
    let cards: Vec<String> = (0..PROBES)
        .map(|_| card(rng.random_range(0..CUSTOMERS / CARD_EVERY) * CARD_EVERY))
        .collect();
    // +7998…: no customer has one; a miss looks the hash up as a phone, then as a card.
    let unknown: Vec<String> = (0..PROBES)
        .map(|_| format!("+7998{:07}", rng.random_range(0..10_000_000)))
        .collect();

    let mut group = c.benchmark_group("cache lookup (1 000 000 customers)");
    for (name, values, found) in [
        ("by phone", &phones, true),
        ("by card", &cards, true),
        ("miss (unknown phone)", &unknown, false),
    ] {
        let mut next = values.iter().cycle();
        group.bench_function(name, |b| {
            b.iter(|| {
                let value = next.next().unwrap();
                let r = lookup(&store, &key, black_box(value));
                assert_eq!(r.is_some(), found, "{name}: {value}");
                r
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
