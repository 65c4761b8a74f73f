//! Returns at any till of the chain, on every engine: a sale kept with its fiscal document,
//! found by its till and receipt number, by its receipt number at any till, and by its
//! fiscal document; a return at another till applied to the right sale; partial and
//! repeated returns exact across tills, and one past what was sold refused.

use super::{customer_id, demo, op, rules, t0, terminal};
use crate::common::db::engines;
use crate::common::receipts::{ReceiptJson, croissants};
use bonuskassa::domain::fiscal::FiscalData;
use bonuskassa::protocol::sales::{FindSaleRequest, SaleRef};
use bonuskassa::protocol::server::{OperationResult, OperationStatus, RejectReason};
use bonuskassa::server::store::{self, Store};
use bonuskassa::server::{ops, sales};
use rust_decimal::Decimal;
use serde_json::{Value, json};

const QR: &str = "t=20261123T1200&s=300.00&fn=9960440300112233&i=4021&fp=2837461902&n=1";

fn fiscal() -> FiscalData {
    FiscalData::from_qr(QR).unwrap()
}

fn apply(store: &dyn Store, till: usize, seq: u64, body: Value) -> OperationResult {
    ops::apply_batch(store, &rules(), &terminal(till), vec![op(seq, body)], t0)
        .unwrap()
        .remove(0)
}

fn find(store: &dyn Store, req: FindSaleRequest) -> Vec<bonuskassa::protocol::sales::KeptSale> {
    store::read(store, |r| Ok(sales::find(r, &req)))
        .unwrap()
        .unwrap()
        .sales
}

fn croissant_return(id: &str, original: &str, quantity: &str) -> Value {
    ReceiptJson::return_of(id, original)
        .with("at", "2026-11-23T13:00:00+03:00")
        .line(croissants(quantity))
        .json()
}

#[test]
fn a_sale_of_one_till_is_found_and_returned_exactly_at_another() {
    for engine in engines() {
        let (_db, store) = demo(engine);
        let anna = customer_id(&*store, "+79990000001");
        let sale = |till, seq, id: &str, fiscal: Option<FiscalData>| {
            let mut body = json!({ "kind": "sale", "customer_id": anna, "spend": "0",
                "receipt": ReceiptJson::sale(id).line(croissants("3")).json() });
            if let Some(f) = fiscal {
                body["fiscal"] = serde_json::to_value(f).unwrap();
            }
            apply(&*store, till, seq, body)
        };
        // Till 1 sells three croissants and reports the fiscal document; till 2 prints
        // a receipt with the same number.
        assert_eq!(
            sale(1, 1, "s-1", Some(fiscal())).status,
            OperationStatus::Applied
        );
        assert_eq!(sale(2, 1, "s-1", None).status, OperationStatus::Applied);
        // A sale with a fiscal document another sale has is kept, without it.
        assert_eq!(
            sale(2, 2, "s-2", Some(fiscal())).status,
            OperationStatus::Applied,
            "{engine}: a sale is never refused for its fiscal data"
        );

        // By till and receipt: one; by receipt alone: each till's; by fiscal: till 1's.
        let by_till = find(
            &*store,
            FindSaleRequest {
                terminal_id: Some("terminal-1".into()),
                receipt_id: Some("s-1".into()),
                fiscal: None,
            },
        );
        assert_eq!(by_till.len(), 1, "{engine}");
        assert_eq!(
            by_till[0].fiscal,
            Some(fiscal()),
            "{engine}: kept with the sale"
        );
        assert_eq!(by_till[0].customer_id, anna);
        let by_receipt = find(
            &*store,
            FindSaleRequest {
                receipt_id: Some("s-1".into()),
                ..FindSaleRequest::default()
            },
        );
        assert_eq!(by_receipt.len(), 2, "{engine}: two tills printed s-1");
        let by_fiscal = find(
            &*store,
            FindSaleRequest {
                fiscal: Some(fiscal()),
                ..FindSaleRequest::default()
            },
        );
        assert_eq!(by_fiscal.len(), 1, "{engine}");
        assert_eq!(
            by_fiscal[0].sale_ref,
            SaleRef {
                terminal_id: "terminal-1".into(),
                receipt_id: "s-1".into()
            },
            "{engine}: the first sale keeps the document"
        );
        let s2 = find(
            &*store,
            FindSaleRequest {
                terminal_id: Some("terminal-2".into()),
                receipt_id: Some("s-2".into()),
                fiscal: None,
            },
        );
        assert_eq!(
            s2[0].fiscal, None,
            "{engine}: the duplicate document is left out"
        );
        // Neither, or both, is a clear refusal.
        let bad = store::read(&*store, |r| Ok(sales::find(r, &FindSaleRequest::default())))
            .unwrap()
            .unwrap_err();
        assert!(bad.to_string().contains("exactly one"), "{bad}");

        // Till 3 returns one croissant of till 1's sale, naming it; its own receipt number
        // for the original differs (found by the fiscal QR code).
        let sale_ref = json!({ "terminal_id": "terminal-1", "receipt_id": "s-1" });
        let ret = |seq, id: &str, quantity: &str| {
            apply(
                &*store,
                3,
                seq,
                json!({ "kind": "return", "receipt": croissant_return(id, "4021", quantity),
                        "sale": sale_ref }),
            )
        };
        let first = ret(1, "r-1", "1");
        assert_eq!(
            first.status,
            OperationStatus::Applied,
            "{engine}: {first:?}"
        );
        // Till 2 returns another croissant of it the same way, then asks for two more.
        let second = apply(
            &*store,
            2,
            3,
            json!({ "kind": "return", "receipt": croissant_return("r-2", "s-1", "1"),
                    "sale": sale_ref }),
        );
        assert_eq!(second.status, OperationStatus::Applied, "{engine}");
        let too_much = ret(2, "r-3", "2");
        assert_eq!(too_much.status, OperationStatus::Rejected, "{engine}");
        assert_eq!(too_much.reason, Some(RejectReason::ReturnExceedsSale));
        // The server knows two of three came back, and till 2's own s-1 is untouched.
        let after = find(
            &*store,
            FindSaleRequest {
                terminal_id: Some("terminal-1".into()),
                receipt_id: Some("s-1".into()),
                fiscal: None,
            },
        );
        assert_eq!(
            after[0].returned.get("2"),
            Some(&Decimal::from(2)),
            "{engine}"
        );
        let own = find(
            &*store,
            FindSaleRequest {
                terminal_id: Some("terminal-2".into()),
                receipt_id: Some("s-1".into()),
                fiscal: None,
            },
        );
        assert!(own[0].returned.is_empty(), "{engine}");
        // The last croissant still comes back; then nothing more.
        assert_eq!(
            ret(4, "r-4", "1").status,
            OperationStatus::Applied,
            "{engine}"
        );
        assert_eq!(
            ret(5, "r-5", "1").reason,
            Some(RejectReason::ReturnExceedsSale),
            "{engine}"
        );
        // A reference to no sale is refused as such.
        let nowhere = apply(
            &*store,
            3,
            6,
            json!({ "kind": "return", "receipt": croissant_return("r-6", "s-9", "1"),
                    "sale": { "terminal_id": "terminal-1", "receipt_id": "s-9" } }),
        );
        assert_eq!(nowhere.reason, Some(RejectReason::SaleNotFound), "{engine}");

        // The customer's purchases, newest first, for a return without the receipt.
        let purchases = store::read(&*store, |r| Ok(sales::customer_sales(r, &anna, 10)))
            .unwrap()
            .unwrap()
            .sales;
        assert_eq!(purchases.len(), 3, "{engine}");
        // A manager picking one is audited.
        let audit = apply(
            &*store,
            3,
            7,
            json!({ "kind": "audit", "event": "return_without_receipt", "customer_id": anna,
                    "reason": "Возврат без чека: продажа s-1" }),
        );
        assert_eq!(
            audit.status,
            OperationStatus::Applied,
            "{engine}: {audit:?}"
        );
    }
}

#[test]
fn tills_reporting_one_fiscal_document_at_once_each_keep_their_sale_and_one_the_document() {
    for engine in engines() {
        let (_db, store) = demo(engine);
        // Different customers, so that no customer's lock puts the sales in a row.
        let customers: Vec<String> = (1..=4)
            .map(|n| customer_id(&*store, &format!("+7999000000{n}")))
            .collect();
        // Eight tills report the same fiscal document for their sales at the same moment
        // (a misconfigured register): every sale is kept, the document with exactly one.
        let results = super::at_once(8, |i| {
            let mut body = json!({ "kind": "sale", "customer_id": customers[i % 4], "spend": "0",
                "receipt": ReceiptJson::sale(&format!("race-{i}")).line(croissants("1")).json() });
            body["fiscal"] = serde_json::to_value(fiscal()).unwrap();
            apply(&*store, 40 + i, 1, body)
        });
        assert!(
            results.iter().all(|r| r.status == OperationStatus::Applied),
            "{engine}: {results:?}"
        );
        let kept: Vec<_> = (0..8)
            .flat_map(|i| {
                find(
                    &*store,
                    FindSaleRequest {
                        terminal_id: Some(format!("terminal-{}", 40 + i)),
                        receipt_id: Some(format!("race-{i}")),
                        fiscal: None,
                    },
                )
            })
            .collect();
        assert_eq!(kept.len(), 8, "{engine}: every sale is kept");
        assert_eq!(
            kept.iter().filter(|s| s.fiscal.is_some()).count(),
            1,
            "{engine}: one sale has the document"
        );
        let by_fiscal = find(
            &*store,
            FindSaleRequest {
                terminal_id: None,
                receipt_id: None,
                fiscal: Some(fiscal()),
            },
        );
        assert_eq!(by_fiscal.len(), 1, "{engine}");
    }
}

#[test]
fn a_receipt_number_with_a_control_character_is_a_bad_request_on_every_engine() {
    for engine in engines() {
        let (_db, store) = demo(engine);
        for (terminal_id, receipt_id) in [
            (None, "a\u{0}b"),
            (None, "\u{7}"),
            (None, "  "),
            (Some("terminal-1\u{0}"), "s-1"),
        ] {
            let req = FindSaleRequest {
                terminal_id: terminal_id.map(Into::into),
                receipt_id: Some(receipt_id.into()),
                fiscal: None,
            };
            let found = store::read(&*store, |r| Ok(sales::find(r, &req))).unwrap();
            assert!(
                matches!(found, Err(sales::FindError::BadRequest(_))),
                "{engine}: {receipt_id:?}: {found:?}"
            );
        }
    }
}
