//! Budget (SPEC.md §6): importing an existing base of 10 000 customers takes at most 5 s on
//! the embedded SQLite store (seed 004: «около 25 минут»). The file is a `;` separated
//! Windows-1251 CSV as Russian Excel saves it, every row with a card, a status, a balance
//! and a purchases sum; each iteration imports it into a fresh data dir with the demo data
//! (made outside the timing), in one transaction, through the same code as
//! `bonuskassa-server import`.

use std::time::Duration;

use bonuskassa::domain::card::ean_check_digit;
use bonuskassa::domain::rules::Rules;
use bonuskassa::server::admin;
use bonuskassa::server::backoffice::Actor;
use bonuskassa::server::import;
use bonuskassa::server::store::{Location, Store, open};
use chrono::Utc;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

const CUSTOMERS: u32 = 10_000;

/// An invented base: phones +7 999 5xx xx xx, in-store EAN-13 cards.
fn base() -> Vec<u8> {
    let statuses = ["Стандартная", "Серебряная", "Золотая"];
    let mut text = String::from(
        "Телефон;Фамилия;Имя;Отчество;Дата рождения;Пол;E-mail;Номер карты;Статус карты;Баланс бонусов;Сумма покупок\r\n",
    );
    for n in 0..CUSTOMERS {
        let body = format!("29200{n:07}");
        let card = format!("{body}{}", ean_check_digit(&body).unwrap());
        text.push_str(&format!(
            "8 (999) 5{:02}-{:02}-{:02};Покупателева;Мария;Ивановна;{:02}.{:02}.19{};ж;maria{n}@example.ru;{card};{};{} {:03},50;{} 000\r\n",
            n / 10_000 % 100,
            n / 100 % 100,
            n % 100,
            n % 28 + 1,
            n % 12 + 1,
            60 + n % 40,
            statuses[(n % 3) as usize],
            n % 5,
            n % 1000,
            n % 90 + 1,
        ));
    }
    let (bytes, _, lossy) = encoding_rs::WINDOWS_1251.encode(&text);
    assert!(!lossy);
    bytes.into_owned()
}

fn bench(c: &mut Criterion) {
    let file = base();
    let rules = Rules::from_toml_str(admin::DEMO_RULES).unwrap();
    let mut group = c.benchmark_group("import");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(30));
    group.bench_function("10 000 customers from a Windows-1251 CSV, SQLite", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().unwrap();
                let store = open(&Location::Sqlite(dir.path().join("server"))).unwrap();
                admin::demo_data_in(&*store, Utc::now()).unwrap();
                (dir, store)
            },
            |(dir, store): (tempfile::TempDir, std::sync::Arc<dyn Store>)| {
                let report = import::import(
                    &*store,
                    &Actor::cli(),
                    &rules,
                    &file,
                    admin::DEMO_STORE,
                    false,
                    Utc::now(),
                )
                .unwrap();
                assert!(report.written, "{report}");
                assert_eq!(report.new_customers, CUSTOMERS);
                (dir, store)
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("10 000 customers, the dry run", |b| {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&Location::Sqlite(dir.path().join("server"))).unwrap();
        admin::demo_data_in(&*store, Utc::now()).unwrap();
        b.iter(|| {
            let report = import::import(
                &*store,
                &Actor::cli(),
                &rules,
                &file,
                admin::DEMO_STORE,
                true,
                Utc::now(),
            )
            .unwrap();
            assert_eq!(report.new_customers, CUSTOMERS);
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
