//! Budget (SPEC.md §6): calculate a 100-position receipt in ≤ 50 µs median.

use bonuskassa::domain::calc::{CustomerState, calculate};
use bonuskassa::domain::money::{Bonus, Money};
use bonuskassa::domain::receipt::{Measure, Position, Receipt, ReceiptKind};
use bonuskassa::domain::rules::Rules;
use criterion::{Criterion, criterion_group, criterion_main};
use rust_decimal::Decimal;
use std::hint::black_box;

fn receipt_of_100() -> Receipt {
    let categories = ["coffee", "bakery", "bar", "alcohol", "food"];
    Receipt {
        id: "bench".into(),
        kind: ReceiptKind::Sale,
        at: "2026-11-23T09:00:00+03:00".parse().unwrap(),
        store: "store-1".into(),
        cashier: "bench".into(),
        original_receipt: None,
        positions: (0..100)
            .map(|i| {
                let weighed = i % 7 == 0;
                Position {
                    id: format!("{i}"),
                    sku: format!("46012345{i:05}"),
                    name: format!("Товар {i}"),
                    category: categories[i % categories.len()].into(),
                    price: Money::from_kopecks(9_999 + 137 * i as i64),
                    quantity: if weighed {
                        "0.735".parse().unwrap()
                    } else {
                        Decimal::from(1 + i % 3).to_string().parse().unwrap()
                    },
                    measure: if weighed {
                        Measure::Weight
                    } else {
                        Measure::Piece
                    },
                    excise: false,
                }
            })
            .collect(),
    }
}

fn bench(c: &mut Criterion) {
    let rules = Rules::from_toml_str(include_str!("../assets/demo/rules.toml")).unwrap();
    let receipt = receipt_of_100();
    let customer = CustomerState {
        card: "Золотая".into(),
        balance: "100000".parse().unwrap(),
        purchases_sum: Money::ZERO,
        purchases_count: 0,
        can_spend: true,
        loyalty: true,
    };
    let max = calculate(&rules, &customer, &receipt, Bonus::ZERO)
        .unwrap()
        .max_spend;
    let spend = Bonus::new((max.amount() / Decimal::TWO).floor());
    c.bench_function("calculate a 100-position receipt", |b| {
        b.iter(|| {
            calculate(
                black_box(&rules),
                black_box(&customer),
                black_box(&receipt),
                spend,
            )
            .unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
