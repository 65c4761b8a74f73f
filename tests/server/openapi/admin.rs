//! The back office in the real exchange: every `/admin` route and the tills' status report,
//! answers and refusals, each checked against the document.

use bonuskassa::server::admin::DEMO_RULES;
use bonuskassa::server::store::AccountRole;
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{Fixture, receipt};
use crate::common::server as srv;

#[tokio::test]
async fn a_back_office_exchange_matches_the_document() {
    let mut f = Fixture::new().await;
    let (s, _) = f
        .post(
            "/terminal/status",
            json!({ "app_version": "0.1.0", "queue_length": 0 }),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let terminal_token = std::mem::take(&mut f.token);
    let terminal_id = {
        let http = reqwest::Client::new();
        let data = f._dir.path().to_path_buf();
        f.token = srv::admin_session(
            &http,
            &f.server,
            &data,
            "owner@example.ru",
            AccountRole::Owner,
            &[],
        )
        .await;
        let (_, list) = f.get("/admin/terminals", "/admin/terminals").await;
        list[0]["id"].as_str().unwrap().to_string()
    };

    // Sign-in: wrong, right (a one-time password), and the password change.
    let (s, v) = f
        .post(
            "/admin/accounts",
            json!({ "email": "m@example.ru", "role": "manager", "stores": ["store-1"] }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let otp = v["one_time_password"].as_str().unwrap().to_string();
    let manager_id = v["account"]["id"].as_i64().unwrap();
    let (s, _) = f
        .post(
            "/admin/accounts",
            json!({ "email": "m@example.ru", "role": "manager", "stores": ["store-1"] }),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = f
        .post(
            "/admin/accounts",
            json!({ "email": "x", "role": "owner", "unknown": 1 }),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let owner = std::mem::take(&mut f.token);
    let (s, _) = f
        .post(
            "/admin/session",
            json!({ "email": "m@example.ru", "password": "wrong" }),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, v) = f
        .post(
            "/admin/session",
            json!({ "email": "m@example.ru", "password": otp }),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    f.token = v["token"].as_str().unwrap().to_string();
    let (s, _) = f.get("/admin/stores", "/admin/stores").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = f.get("/admin/me", "/admin/me").await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = f
        .post(
            "/admin/password",
            json!({ "current": otp, "new": "a long new password" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    f.token = v["token"].as_str().unwrap().to_string();
    let (s, _) = f.get("/admin/accounts", "/admin/accounts").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = f
        .exchange(Method::DELETE, "/admin/session", "/admin/session", None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = f.get("/admin/me", "/admin/me").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // The owner: accounts, stores, staff, terminals.
    f.token = owner;
    let (s, _) = f.get("/admin/accounts", "/admin/accounts").await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = f
        .exchange(
            Method::PATCH,
            "/admin/accounts/{id}",
            &format!("/admin/accounts/{manager_id}"),
            Some(json!({ "reset_password": true })),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(v["one_time_password"].is_string());
    let (s, _) = f
        .exchange(
            Method::PATCH,
            "/admin/accounts/{id}",
            "/admin/accounts/999",
            Some(json!({ "active": false })),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = f.get("/admin/stores", "/admin/stores").await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = f
        .post(
            "/admin/stores",
            json!({ "id": "kzn-1", "name": "Казань", "address": "ул. Баумана, 1", "time_zone": "Europe/Moscow" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = f
        .post("/admin/stores", json!({ "id": "kzn-1", "name": "Казань" }))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = f
        .exchange(
            Method::PATCH,
            "/admin/stores/{id}",
            "/admin/stores/kzn-1",
            Some(json!({ "time_zone": "Europe/Samara" })),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = f
        .exchange(
            Method::PATCH,
            "/admin/stores/{id}",
            "/admin/stores/none",
            Some(json!({})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = f
        .post(
            "/admin/staff",
            json!({ "store_id": "kzn-1", "name": "Кассир Айгуль", "role": "cashier", "code": "3456" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let staff_id = v["id"].as_i64().unwrap();
    let (s, _) = f
        .post(
            "/admin/staff",
            json!({ "store_id": "kzn-1", "name": "Кассир 2", "role": "manager", "code": "3456" }),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = f
        .exchange(
            Method::PATCH,
            "/admin/staff/{id}",
            &format!("/admin/staff/{staff_id}"),
            Some(json!({ "role": "manager", "name": "Управляющая Айгуль" })),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = f.get("/admin/staff", "/admin/staff?store=kzn-1").await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = f
        .get("/admin/terminals", "/admin/terminals?store=store-1")
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = f
        .post(
            "/admin/terminals/enrollment-codes",
            json!({ "store_id": "kzn-1" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = f
        .exchange(
            Method::POST,
            "/admin/terminals/{id}/unlock",
            &format!("/admin/terminals/{terminal_id}/unlock"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = f
        .exchange(
            Method::POST,
            "/admin/terminals/{id}/revoke",
            "/admin/terminals/none/revoke",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Rules: refused with the line, stored, read, compared, tried, activated, rolled back.
    let (s, v) = f
        .post("/admin/rules", json!({ "text": "version = 1\n[[card]\n" }))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["line"], 2, "{v}");
    let text = DEMO_RULES.replacen("discount_percent = \"0\"", "discount_percent = \"1\"", 1);
    let (s, _) = f
        .post(
            "/admin/rules",
            json!({ "text": text, "comment": "Скидка 1%" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = f.get("/admin/rules", "/admin/rules").await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = f.get("/admin/rules/{version}", "/admin/rules/2").await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = f.get("/admin/rules/{version}", "/admin/rules/77").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = f
        .get("/admin/rules/diff", "/admin/rules/diff?from=1&to=2")
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = f.get("/admin/rules/diff", "/admin/rules/diff?from=1").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, v) = f
        .exchange(
            Method::POST,
            "/admin/rules/{version}/try",
            "/admin/rules/2/try",
            Some(json!({ "receipt": receipt("t1", "sale", None, "250", "2"), "balance": "100", "spend": "10" })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _) = f
        .exchange(
            Method::POST,
            "/admin/rules/{version}/try",
            "/admin/rules/2/try",
            Some(
                json!({ "receipt": receipt("t1", "sale", None, "250", "2"), "card": "Платиновая" }),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = f
        .exchange(
            Method::POST,
            "/admin/rules/{version}/activate",
            "/admin/rules/2/activate",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = f
        .exchange(
            Method::POST,
            "/admin/rules/rollback",
            "/admin/rules/rollback",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    // Customers: found, shown, changed, merged, erased.
    let (s, found) = f
        .get("/admin/customers", "/admin/customers?q=%2B79990000001")
        .await;
    assert_eq!(s, StatusCode::OK);
    let karina = found[0]["id"].as_str().unwrap().to_string();
    let (s, found) = f
        .get("/admin/customers", "/admin/customers?q=%2B79990000002")
        .await;
    assert_eq!(s, StatusCode::OK);
    let ilya = found[0]["id"].as_str().unwrap().to_string();
    let (s, _) = f
        .get(
            "/admin/customers/{id}",
            &format!("/admin/customers/{karina}"),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = f
        .get("/admin/customers/{id}", "/admin/customers/nobody")
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let route = |what: &str| format!("/admin/customers/{{id}}/{what}");
    let url = |id: &str, what: &str| format!("/admin/customers/{id}/{what}");
    let changes = [
        (
            "questionnaire",
            Method::PUT,
            json!({ "first_name": "Карина", "gender": "female" }),
        ),
        (
            "manual-change",
            Method::POST,
            json!({ "amount": 25, "reason": "Подарок", "lifetime_days": 30 }),
        ),
        (
            "consents",
            Method::POST,
            json!({ "processing": true, "advertising": false }),
        ),
        ("block-card", Method::POST, json!({ "reason": "Потеряна" })),
        ("replace-card", Method::POST, json!({ "reason": "Новая" })),
    ];
    for (what, method, body) in changes {
        let (s, v) = f
            .exchange(method, &route(what), &url(&karina, what), Some(body))
            .await;
        assert_eq!(s, StatusCode::OK, "{what}: {v}");
    }
    let (s, _) = f
        .exchange(
            Method::POST,
            &route("merge"),
            &url(&ilya, "merge"),
            Some(json!({ "duplicate_id": karina })),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = f
        .exchange(Method::POST, &route("erase"), &url(&ilya, "erase"), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = f
        .exchange(Method::POST, &route("erase"), &url(&ilya, "erase"), None)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    let (s, _) = f.get("/admin/audit", "/admin/audit?limit=20").await;
    assert_eq!(s, StatusCode::OK);

    // The terminal's token opens nothing here.
    f.token = terminal_token;
    let (s, _) = f.get("/admin/stores", "/admin/stores").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Whatever the server refused for an unknown field, its schema refuses too.
    for (route, body) in &f.refused {
        let schema = f.schemas.request_schema(&Method::POST, route);
        assert!(
            f.schemas.check(schema, body).is_err(),
            "POST {route}: the schema admits a body the server refused for an unknown field: {body}"
        );
    }
}
