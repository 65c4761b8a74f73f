//! Holds over HTTP on every engine: `POST /holds` and `DELETE /holds/{id}`, their answers
//! and refusals, and what lookups and calculations see while a hold is live.

use super::*;

impl Fixture {
    async fn delete(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let resp = self
            .http
            .delete(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn balance_seen(&self, phone: &str) -> Value {
        let (s, v) = self
            .post("/customers/lookup", json!({ "phone": phone }))
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["balance"].clone()
    }
}

fn hold(id: &str, customer: &str, amount: &str) -> Value {
    json!({ "id": id, "customer_id": customer, "amount": amount, "expires_in_s": 120 })
}

#[tokio::test]
async fn holds_are_placed_refused_released_and_expire_over_http() {
    for engine in engines() {
        let f = Fixture::new(engine).await;
        let phone = "+79990000001"; // 500 bonuses
        let id = f.customer_id(phone).await;
        let h1 = uuid::Uuid::now_v7().to_string();

        let (s, v) = f.post("/holds", hold(&h1, &id, "300")).await;
        assert_eq!(s, StatusCode::OK, "{engine}: {v}");
        assert_eq!(
            (&v["status"], &v["amount"], &v["balance"]),
            (&json!("live"), &json!("300.00"), &json!("200.00")),
            "{engine}: {v}"
        );
        // Placed again: the same answer.
        let (s, again) = f.post("/holds", hold(&h1, &id, "300")).await;
        assert_eq!((s, &again), (StatusCode::OK, &v), "{engine}");
        // Elsewhere: 200 left; this sale's own calculation still has its 300.
        assert_eq!(f.balance_seen(phone).await, "200.00", "{engine}");
        let calc = |hold: Option<&str>| {
            let mut body = json!({ "customer_id": id, "receipt": receipt("r-h", "5000.00") });
            if let Some(h) = hold {
                body["hold"] = json!(h);
            }
            body
        };
        let (_, c) = f.post("/calc", calc(Some(&h1))).await;
        assert_eq!(c["customer"]["balance"], "500.00", "{engine}: {c}");
        let (_, c) = f.post("/calc", calc(None)).await;
        assert_eq!(c["customer"]["balance"], "200.00", "{engine}: {c}");

        // Refusals, each with its code.
        let (s, v) = f.post("/holds", hold(&h1, &id, "250")).await;
        assert_eq!(
            (s, &v["code"]),
            (StatusCode::CONFLICT, &json!("HOLD_CONFLICT"))
        );
        let h2 = uuid::Uuid::now_v7().to_string();
        let (s, v) = f.post("/holds", hold(&h2, &id, "250")).await;
        assert_eq!(
            (s, &v["code"]),
            (StatusCode::CONFLICT, &json!("INSUFFICIENT_BALANCE")),
            "{engine}: {v}"
        );
        assert!(v["message"].as_str().unwrap().contains("200"), "{v}");
        let (s, v) = f.post("/holds", hold(&h2, "nobody", "10")).await;
        assert_eq!(
            (s, &v["code"]),
            (StatusCode::NOT_FOUND, &json!("CUSTOMER_NOT_FOUND"))
        );
        let mut bad = hold(&h2, &id, "10");
        bad["expires_in_s"] = json!(0);
        let (s, v) = f.post("/holds", bad).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        assert!(
            v["message"].as_str().unwrap().contains("expires_in_s"),
            "{v}"
        );
        let mut bad = hold(&h2, &id, "10");
        bad["extra"] = json!(1);
        let (s, v) = f.post("/holds", bad).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");

        // Another till cannot release it; without a token nobody can.
        let other = srv::enroll(&f.http, &f.server, &f.db.location, t0()).await;
        let (s, _) = f.delete(&format!("/holds/{h1}"), &other.token).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{engine}");
        let (s, _) = f.delete(&format!("/holds/{h1}"), "nope").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{engine}");
        // Released by its till, twice alike; an unknown hold is nothing to release.
        for _ in 0..2 {
            let (s, v) = f.delete(&format!("/holds/{h1}"), &f.token).await;
            assert_eq!(s, StatusCode::OK, "{engine}: {v}");
            assert_eq!(
                (&v["status"], &v["balance"]),
                (&json!("released"), &json!("500.00"))
            );
        }
        let unknown = uuid::Uuid::now_v7();
        let (s, _) = f.delete(&format!("/holds/{unknown}"), &f.token).await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{engine}");
        assert_eq!(f.balance_seen(phone).await, "500.00", "{engine}");

        // A hold expires by itself.
        let (s, _) = f.post("/holds", hold(&h2, &id, "450")).await;
        assert_eq!(s, StatusCode::OK, "{engine}");
        assert_eq!(f.balance_seen(phone).await, "50.00", "{engine}");
        f.clock.advance(Duration::seconds(120));
        assert_eq!(f.balance_seen(phone).await, "500.00", "{engine}");
    }
}
