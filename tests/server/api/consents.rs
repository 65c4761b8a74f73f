//! Consents given and withdrawn at a till, on every engine: the lookup and the feed tell
//! both, a customer without the consent to the processing of personal data is priced and
//! booked without loyalty and refused a spend, the consent given again restores it, each
//! change is a row of the consents' history with its time, till and cashier, and an
//! operation queued by a till before the processing consent existed still applies.

use super::*;
use bonuskassa::server::store::{self, ConsentRow};

impl Fixture {
    async fn lookup(&self, phone: &str) -> Value {
        let (s, v) = self
            .post("/customers/lookup", json!({ "phone": phone }))
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v
    }

    async fn feed_entry(&self, id: &str) -> Value {
        let (s, v) = self.get("/feed/customers?since=0&limit=100").await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["customers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} is not in the feed: {v}"))
    }

    fn consent_rows(&self, id: &str) -> Vec<ConsentRow> {
        let s = srv::open(self.db.location.clone());
        store::read(&*s, |r| r.consents(id)).unwrap()
    }
}

/// A consent of the lookup, the feed or the calc answer: absent is the default (processing
/// given, advertising not).
fn consent(v: &Value, kind: &str) -> bool {
    match v.get(format!("consent_{kind}")) {
        Some(Value::Bool(b)) => *b,
        None => kind == "processing",
        Some(other) => panic!("consent_{kind} is {other}"),
    }
}

#[tokio::test]
async fn without_the_processing_consent_nothing_is_accrued_or_spent_until_it_is_given_again() {
    for engine in engines() {
        let f = Fixture::new(engine).await;
        let phone = "+79990000001"; // 500 bonuses, both consents given with the demo data
        let id = f.customer_id(phone).await;
        let v = f.lookup(phone).await;
        assert!(
            consent(&v, "processing") && consent(&v, "advertising"),
            "{v}"
        );

        let r = f
            .op(
                1,
                json!({ "kind": "consent", "customer_id": id, "processing": false }),
            )
            .await;
        assert_eq!(r["status"], "applied", "{r}");
        assert_eq!(
            r["answer"],
            json!({ "processing": false, "advertising": true })
        );
        let v = f.lookup(phone).await;
        assert!(!consent(&v, "processing"), "{v}");
        assert!(consent(&v, "advertising"), "the other consent stays: {v}");
        let fed = f.feed_entry(&id).await;
        assert!(!consent(&fed, "processing"), "{fed}");

        // Priced as for no customer: no discount, nothing to spend, nothing accrued.
        let (s, c) = f
            .post(
                "/calc",
                json!({ "customer_id": id, "receipt": receipt("r-1", "1000.00"), "spend": "0" }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{c}");
        assert!(!consent(&c["customer"], "processing"), "{c}");
        assert_eq!(c["calculation"]["max_spend"], "0.00", "{c}");
        assert_eq!(c["calculation"]["discount"], "0.00", "{c}");
        assert_eq!(c["calculation"]["accrued"], "0.00", "{c}");
        assert_eq!(c["calculation"]["to_pay"], "1000.00", "{c}");

        let r = f.op(2, json!({ "kind": "sale", "customer_id": id, "receipt": receipt("r-1", "1000.00"), "spend": "100" })).await;
        assert_eq!(r["status"], "rejected", "{r}");
        assert_eq!(r["reason"], "SPEND_NOT_ALLOWED", "{r}");
        assert!(
            r["message"].as_str().unwrap().contains("consent"),
            "the reason is named: {r}"
        );

        let r = f.op(3, json!({ "kind": "sale", "customer_id": id, "receipt": receipt("r-2", "1000.00"), "spend": "0" })).await;
        assert_eq!(r["status"], "applied", "{r}");
        assert_eq!(r["answer"]["calculation"]["accrued"], "0.00", "{r}");
        assert_eq!(r["answer"]["calculation"]["to_pay"], "1000.00", "{r}");
        let (_, h) = f.get(&format!("/customers/{id}/history")).await;
        assert_eq!(
            h["balance"], "500.00",
            "no accrual, no first-purchase gift: {h}"
        );
        assert_eq!(h["pending"], "0.00", "{h}");

        let r = f
            .op(
                4,
                json!({ "kind": "consent", "customer_id": id, "processing": true }),
            )
            .await;
        assert_eq!(r["status"], "applied", "{r}");
        let v = f.lookup(phone).await;
        assert!(consent(&v, "processing"), "{v}");
        assert!(consent(&f.feed_entry(&id).await, "processing"));
        let r = f.op(5, json!({ "kind": "sale", "customer_id": id, "receipt": receipt("r-3", "1000.00"), "spend": "100" })).await;
        assert_eq!(r["status"], "applied", "{r}");
        assert_eq!(r["answer"]["calculation"]["spent"], "100.00", "{r}");
        assert_ne!(r["answer"]["calculation"]["accrued"], "0.00", "{r}");

        // The history of the consents: registration's two, the withdrawal, the grant again.
        let rows = f.consent_rows(&id);
        let processing: Vec<&ConsentRow> = rows.iter().filter(|r| r.kind == "processing").collect();
        assert_eq!(
            processing.iter().map(|r| r.granted).collect::<Vec<_>>(),
            [true, false, true],
            "{rows:?}"
        );
        for row in &processing[1..] {
            assert_eq!(row.terminal_id.as_deref(), Some(f.terminal_id.as_str()));
            assert_eq!(row.cashier.as_deref(), Some("Кассир Мария"));
            assert_eq!(row.at, t0());
        }
    }
}

#[tokio::test]
async fn a_consent_operation_queued_before_the_processing_consent_existed_still_applies() {
    for engine in engines() {
        let f = Fixture::new(engine).await;
        let phone = "+79990000002";
        let id = f.customer_id(phone).await;
        // As a till of the earlier version wrote it: `advertising` only, a bare bool.
        let r = f
            .op(
                1,
                json!({ "kind": "consent", "customer_id": id, "advertising": false }),
            )
            .await;
        assert_eq!(r["status"], "applied", "{r}");
        assert_eq!(
            r["answer"],
            json!({ "processing": true, "advertising": false })
        );
        let v = f.lookup(phone).await;
        assert!(
            consent(&v, "processing") && !consent(&v, "advertising"),
            "{v}"
        );
        let rows = f.consent_rows(&id);
        let last = rows.last().unwrap();
        assert_eq!((last.kind.as_str(), last.granted), ("advertising", false));
        assert_eq!(last.terminal_id.as_deref(), Some(f.terminal_id.as_str()));

        // A consent operation that changes nothing is refused for good, naming why.
        let r = f
            .op(2, json!({ "kind": "consent", "customer_id": id }))
            .await;
        assert_eq!(r["status"], "rejected", "{r}");
        assert_eq!(r["reason"], "INVALID", "{r}");
        assert!(r["message"].as_str().unwrap().contains("processing"), "{r}");
    }
}
