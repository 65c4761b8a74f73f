//! The card status a cashier picks at registration, on every engine: one the rules mark
//! `cashier_can_issue` registers with it; one they do not, or one they do not know, is
//! refused with `STATUS_NOT_ISSUABLE` and nothing is registered.

use super::*;

#[tokio::test]
async fn a_registration_takes_only_a_status_a_cashier_may_issue() {
    for engine in engines() {
        let f = Fixture::new(engine).await;
        let register = |seq: u64, phone: &'static str, status: &'static str| {
            let f = &f;
            async move {
                f.op(
                    seq,
                    json!({ "kind": "registration", "customer_id": uuid::Uuid::now_v7().to_string(),
                            "phone": phone, "consent_processing": true, "card_status": status }),
                )
                .await
            }
        };
        // The demo rules let a cashier issue Стандартная only.
        for (seq, status) in [(1, "Серебряная"), (2, "Платиновая")] {
            let r = register(seq, "+79996300001", status).await;
            assert_eq!(r["status"], "rejected", "{engine}: {r}");
            assert_eq!(r["reason"], "STATUS_NOT_ISSUABLE", "{engine}: {r}");
            assert!(
                r["message"].as_str().unwrap().contains(status),
                "{engine}: the status is named: {r}"
            );
        }
        let (s, v) = f
            .post("/customers/lookup", json!({ "phone": "+79996300001" }))
            .await;
        assert_eq!(
            s,
            StatusCode::NOT_FOUND,
            "{engine}: nothing registered: {v}"
        );
        let r = register(3, "+79996300001", "Стандартная").await;
        assert_eq!(r["status"], "applied", "{engine}: {r}");
        assert_eq!(r["answer"]["customer"]["card_status"], "Стандартная");
    }
}
