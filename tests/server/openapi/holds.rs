//! The holds in the real exchange: placed, placed again, refused, named by a
//! calculation, released; each answer checked against the document.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Fixture, receipt};

/// Holds `hold_id` (the sale's id) for 100 of customer `id`'s bonuses, and more.
pub(super) async fn exchange(f: &mut Fixture, id: &str, hold_id: &str) {
    let hold = |amount: Value| json!({ "id": hold_id, "customer_id": id, "amount": amount, "expires_in_s": 300 });
    let (s, v) = f.post("/holds", hold(json!("100"))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _) = f.post("/holds", hold(json!(100))).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = f.post("/holds", hold(json!("99"))).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let other = uuid::Uuid::now_v7().to_string();
    let (s, _) = f
        .post(
            "/holds",
            json!({ "id": other, "customer_id": id, "amount": "100000", "expires_in_s": 60 }),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = f
        .post(
            "/holds",
            json!({ "id": other, "customer_id": "nobody", "amount": "1", "expires_in_s": 60 }),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = f
        .post(
            "/holds",
            json!({ "id": other, "customer_id": id, "amount": "1", "expires_in_s": 60, "x": 1 }),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = f
        .post(
            "/calc",
            json!({ "customer_id": id, "receipt": receipt("r-1", "sale", None, "1000.00", "3"), "spend": "100", "hold": hold_id }),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = f
        .post(
            "/holds",
            json!({ "id": other, "customer_id": id, "amount": "1", "expires_in_s": 60 }),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = f.delete("/holds/{id}", &format!("/holds/{other}")).await;
    assert_eq!((s, &v["status"]), (StatusCode::OK, &json!("released")));
}
