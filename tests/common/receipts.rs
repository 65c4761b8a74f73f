//! The receipts of the tests, one builder for all: the register's JSON (what the server's
//! and the bridge's APIs take) or the parsed [`Receipt`] (what the till's code takes).

use bonuskassa::domain::receipt::Receipt;
use serde_json::{Value, json};

/// When the tests' sales happen (the demo day, noon in Moscow).
pub const NOON: &str = "2026-11-23T12:00:00+03:00";

/// A receipt being built: the header, then its lines.
pub struct ReceiptJson(Value);

impl ReceiptJson {
    /// A sale `id` at [`NOON`], with no lines yet.
    pub fn sale(id: &str) -> ReceiptJson {
        ReceiptJson(json!({ "id": id, "kind": "sale", "at": NOON, "positions": [] }))
    }

    /// A return `id` of the sale `original` at [`NOON`], with no lines yet.
    pub fn return_of(id: &str, original: &str) -> ReceiptJson {
        ReceiptJson(json!({ "id": id, "kind": "return", "at": NOON,
                            "original_receipt": original, "positions": [] }))
    }

    /// Sets a field of the header (`at`, `store`, `cashier`, …).
    pub fn with(mut self, field: &str, value: impl Into<Value>) -> ReceiptJson {
        self.0[field] = value.into();
        self
    }

    /// Adds a line.
    pub fn line(mut self, line: Value) -> ReceiptJson {
        self.0["positions"].as_array_mut().unwrap().push(line);
        self
    }

    pub fn json(self) -> Value {
        self.0
    }

    pub fn receipt(self) -> Receipt {
        serde_json::from_value(self.0).unwrap()
    }
}

/// Line 1: one coffee at `price`, no name.
pub fn coffee(price: &str) -> Value {
    json!({ "id": "1", "category": "coffee", "price": price, "quantity": "1" })
}

/// Line 1: `quantity` cappuccinos at `price` with their barcode, sold by the piece.
pub fn cappuccino(price: &str, quantity: &str) -> Value {
    json!({ "id": "1", "sku": "4601234567890", "name": "Капучино", "category": "coffee",
            "price": price, "quantity": quantity, "measure": "piece" })
}

/// Line 2: `quantity` croissants at 150.00.
pub fn croissants(quantity: &str) -> Value {
    json!({ "id": "2", "name": "Круассан", "category": "bakery", "price": "150.00",
            "quantity": quantity })
}

/// A sale of a coffee at `price` and two croissants at 150.00.
pub fn receipt(id: &str, price: &str) -> Receipt {
    ReceiptJson::sale(id)
        .line(
            json!({ "id": "1", "name": "Кофе", "category": "coffee", "price": price,
                      "quantity": "1" }),
        )
        .line(croissants("2"))
        .receipt()
}

/// A return of `quantity` croissants of the sale `original`, an hour after it.
pub fn return_of(id: &str, original: &str, quantity: &str) -> Receipt {
    ReceiptJson::return_of(id, original)
        .with("at", "2026-11-23T13:00:00+03:00")
        .line(croissants(quantity))
        .receipt()
}
