//! What the server benches send: the demo customers' phones and a coffee shop's receipts.
//! Shared so `server` (in-process clients) and `server_wrk` (wrk) load the server with the
//! same requests, and their figures compare.

use std::time::Duration;

use serde_json::{Value, json};

/// The phones of the demo customers (`admin::demo_data`).
pub const PHONES: [&str; 4] = [
    "+79990000001",
    "+79990000002",
    "+79990000003",
    "+79990000004",
];

/// Goods of a coffee shop: (name, category, price, quantity); a fractional quantity is
/// weighed.
const GOODS: [(&str, &str, &str, &str); 10] = [
    ("Капучино", "coffee", "250.00", "1"),
    ("Латте", "coffee", "270.00", "2"),
    ("Круассан", "bakery", "180.00", "1"),
    ("Сырники", "food", "320.00", "1"),
    ("Печенье на вес", "bakery", "890.00", "0.235"),
    ("Лимонад", "bar", "210.00", "1"),
    ("Чизкейк", "bakery", "290.00", "1"),
    ("Вино красное", "alcohol", "650.00", "1"),
    ("Сэндвич", "food", "360.00", "1"),
    ("Эспрессо", "coffee", "150.00", "3"),
];

/// A sale receipt of 5 to 10 positions made at `at`, chosen by `n` so consecutive requests
/// differ.
pub fn receipt(id: &str, n: usize, at: &str) -> Value {
    let lines = 5 + n % 6;
    let positions: Vec<Value> = (0..lines)
        .map(|i| {
            let g = (n + i) % GOODS.len();
            let (name, category, price, quantity) = GOODS[g];
            let measure = if quantity.contains('.') { "weight" } else { "piece" };
            json!({ "id": (i + 1).to_string(), "sku": format!("46012345678{g:02}"), "name": name,
                    "category": category, "price": price, "quantity": quantity, "measure": measure })
        })
        .collect();
    json!({ "id": id, "kind": "sale", "at": at, "positions": positions })
}

/// Prints a warning when the machine is busy before a bench starts: the benches measure a
/// 2-core box whose cores the clients share with the server, so anything else running (a
/// build) takes its share from both, and the figures come out low by that much.
pub fn warn_if_busy(bench: &str) {
    if let Some(idle) = idle_share(Duration::from_secs(1))
        && idle < 0.9
    {
        println!(
            "{bench}: warning: the machine was only {:.0} % idle just before the run; the figures below are low by what else ran",
            100.0 * idle
        );
    }
}

/// The share of all cores' time spent idle over `span`, from `/proc/stat`; `None` where
/// there is no such file.
fn idle_share(span: Duration) -> Option<f64> {
    let read = || -> Option<(u64, u64)> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let line = stat.lines().next()?.strip_prefix("cpu ")?;
        let ticks: Vec<u64> = line
            .split_whitespace()
            .map(|v| v.parse().ok())
            .collect::<Option<_>>()?;
        // user nice system idle iowait irq softirq steal: idle and iowait are idle time.
        let total = ticks.iter().take(8).sum();
        Some((ticks.get(3)? + ticks.get(4)?, total))
    };
    let (idle0, total0) = read()?;
    std::thread::sleep(span);
    let (idle1, total1) = read()?;
    let total = total1.checked_sub(total0).filter(|t| *t > 0)?;
    Some(idle1.saturating_sub(idle0) as f64 / total as f64)
}
