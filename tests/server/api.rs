//! The central server over real HTTP on 127.0.0.1: every endpoint, and every refusal — on
//! every engine of the contract suite (`crate::common::db`: SQLite, and PostgreSQL when
//! `BONUSKASSA_TEST_PG_URL` is set).

use std::sync::Arc;

use crate::common::db::{TestDb, engines};
use crate::common::receipts::{ReceiptJson, cappuccino, coffee};
use crate::common::server::{self as srv, Enrolled};
use bonuskassa::server::sms::SmsPolicy;
use bonuskassa::server::store::Engine;
use bonuskassa::server::{self, ManualClock, RunningServer, admin};
use chrono::{DateTime, Duration, TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

struct Fixture {
    server: RunningServer,
    clock: Arc<ManualClock>,
    http: reqwest::Client,
    token: String,
    terminal_id: String,
    // Dropped last: the database outlives the server on it.
    db: TestDb,
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
}

impl Fixture {
    async fn new(engine: Engine) -> Fixture {
        let db = TestDb::new(engine);
        let clock = ManualClock::at(t0());
        let server = srv::demo(&db.location, clock.clone(), true);
        let http = reqwest::Client::new();
        let Enrolled { token, terminal_id } = srv::enroll(&http, &server, &db.location, t0()).await;
        Fixture {
            server,
            clock,
            http,
            token,
            terminal_id,
            db,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.server.url())
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(self.url(path))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let resp = self
            .http
            .get(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn customer_id(&self, phone: &str) -> String {
        let (s, v) = self
            .post("/customers/lookup", json!({ "phone": phone }))
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["id"].as_str().unwrap().to_string()
    }

    /// Sends one operation and returns its result.
    async fn op(&self, seq: u64, body: Value) -> Value {
        let id = uuid::Uuid::now_v7().to_string();
        self.op_with_id(&id, seq, body).await
    }

    async fn op_with_id(&self, id: &str, seq: u64, body: Value) -> Value {
        let (s, v) = self
            .post(
                "/operations",
                json!({ "operations": [ {
                    "id": id, "seq": seq, "at": self.clock_now(), "cashier": "Кассир Мария",
                    "cashier_id": 1, "body": body } ] }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["results"][0].clone()
    }

    fn clock_now(&self) -> String {
        use bonuskassa::server::Clock;
        self.clock.now().to_rfc3339()
    }

    async fn latest_sms_code(&self) -> String {
        let (s, v) = self.get("/demo/sms").await;
        assert_eq!(s, StatusCode::OK);
        let text = v["messages"].as_array().unwrap().last().unwrap()["text"]
            .as_str()
            .unwrap()
            .to_string();
        text.chars()
            .filter(|c| c.is_ascii_digit())
            .take(6)
            .collect()
    }
}

fn receipt(id: &str, price: &str) -> Value {
    ReceiptJson::sale(id).line(cappuccino(price, "1")).json()
}

#[tokio::test]
async fn health_needs_no_token_and_unknown_paths_get_a_coded_404() {
    for engine in engines() {
        let f = Fixture::new(engine).await;
        let r = f.http.get(f.url("/health")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let r = f
            .http
            .get(format!("{}/nope", f.server.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["code"], "NOT_FOUND");
    }
}

#[tokio::test]
async fn calls_without_a_valid_token_are_refused_and_a_revoked_token_says_so() {
    for engine in engines() {
        let f = Fixture::new(engine).await;
        let r = f.http.get(f.url("/rules")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let r = f
            .http
            .get(f.url("/rules"))
            .bearer_auth("0000")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let (s, v) = f.get("/rules").await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["version"], 1);
        // Revoke through the admin job; the token stops working at once.
        let (_, e) = f
            .post("/customers/lookup", json!({ "phone": "+79990000001" }))
            .await;
        assert!(e["id"].is_string());
        admin::revoke_terminal(&f.db.location, &f.terminal_id, t0()).unwrap();
        let (s, v) = f.get("/rules").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(v["code"], "TOKEN_REVOKED");
    }
}

#[tokio::test]
async fn an_enrollment_code_works_once() {
    for engine in engines() {
        let f = Fixture::new(engine).await;
        let code = admin::enroll_code(&f.db.location, admin::DEMO_STORE, t0()).unwrap();
        let body = json!({ "code": code.to_lowercase(), "name": "Касса 2" });
        let r = f
            .http
            .post(f.url("/enroll"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["store_id"], "store-1");
        assert_eq!(v["lookup_key"].as_str().unwrap().len(), 64);
        let r = f
            .http
            .post(f.url("/enroll"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["code"], "ENROLLMENT_CODE_INVALID");
    }
}

#[tokio::test]
async fn bad_json_unknown_fields_and_huge_bodies_are_refused_with_the_field_named() {
    for engine in engines() {
        let f = Fixture::new(engine).await;
        let r = f
            .http
            .post(f.url("/customers/lookup"))
            .bearer_auth(&f.token)
            .header("content-type", "application/json")
            .body("{ not json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["code"], "BAD_REQUEST");
        let (s, v) = f
            .post(
                "/customers/lookup",
                json!({ "phone": "+79990000001", "pin": "1" }),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(v["message"].as_str().unwrap().contains("pin"), "{v}");
        let (s, v) = f
            .post("/customers/lookup", json!({ "phone": "12345" }))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(v["message"].as_str().unwrap().starts_with("phone"), "{v}");
        assert!(
            !v["message"].as_str().unwrap().contains("12345"),
            "no echo: {v}"
        );
        let huge = "x".repeat(2 * 1024 * 1024);
        let (s, v) = f.post("/customers/lookup", json!({ "scan": huge })).await;
        assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    }
}

#[tokio::test]
async fn customers_are_found_by_phone_card_and_scan_and_shown_masked() {
    for engine in engines() {
        let f = Fixture::new(engine).await;
        let (s, by_phone) = f
            .post("/customers/lookup", json!({ "phone": "8 (999) 000-00-01" }))
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(by_phone["name"], "Карина С.");
        assert_eq!(by_phone["balance"], "500.00");
        assert!(!by_phone.to_string().contains("9990000001"), "{by_phone}");
        let (_, by_card) = f
            .post("/customers/lookup", json!({ "card": "2900000000018" }))
            .await;
        assert_eq!(by_card["id"], by_phone["id"]);
        let (_, by_scan) = f
            .post("/customers/lookup", json!({ "scan": "tel:+79990000001" }))
            .await;
        assert_eq!(by_scan["id"], by_phone["id"]);
        let (s, v) = f
            .post("/customers/lookup", json!({ "phone": "+79990009999" }))
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert_eq!(v["code"], "CUSTOMER_NOT_FOUND");
        let (s, _) = f.post("/customers/lookup", json!({})).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn cashier_login_locks_after_five_wrong_codes_with_a_growing_delay() {
    for engine in engines() {
        let f = Fixture::new(engine).await;
        let (s, v) = f.post("/cashiers/login", json!({ "code": "1111" })).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["role"], "cashier");
        for left in (0..5).rev() {
            let (s, v) = f.post("/cashiers/login", json!({ "code": "0000" })).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED);
            assert_eq!(v["tries_left"], left);
        }
        let (s, v) = f.post("/cashiers/login", json!({ "code": "1111" })).await;
        assert_eq!(s, StatusCode::LOCKED, "{v}");
        assert_eq!(v["code"], "CASHIER_LOCKED");
        f.clock.advance(Duration::seconds(31));
        let (s, v) = f.post("/cashiers/login", json!({ "code": "0000" })).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(v["retry_after_s"], 60, "the second lock is twice as long");
        f.clock.advance(Duration::seconds(61));
        let (s, _) = f.post("/cashiers/login", json!({ "code": "9999" })).await;
        assert_eq!(s, StatusCode::OK);
    }
}

#[tokio::test]
async fn sms_registration_with_cooldown_wrong_code_expiry_and_too_many_tries() {
    for engine in engines() {
        let f = Fixture::new(engine).await;
        let phone = "+79990001234";
        let (s, v) = f
            .post(
                "/sms/send",
                json!({ "phone": phone, "purpose": "registration" }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["resend_after_s"], 60);
        let (s, v) = f
            .post(
                "/sms/send",
                json!({ "phone": phone, "purpose": "registration" }),
            )
            .await;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(v["code"], "COOLDOWN");
        // Expired after five minutes.
        f.clock.advance(Duration::minutes(6));
        let code = f.latest_sms_code().await;
        let (s, v) = f
            .post(
                "/sms/verify",
                json!({ "phone": phone, "purpose": "registration", "code": code }),
            )
            .await;
        assert_eq!(s, StatusCode::GONE, "{v}");
        assert_eq!(v["code"], "CODE_EXPIRED");
        // A fresh code: five wrong tries kill it.
        let (s, _) = f
            .post(
                "/sms/send",
                json!({ "phone": phone, "purpose": "registration" }),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let code = f.latest_sms_code().await;
        let wrong = if code == "000000" { "111111" } else { "000000" };
        for left in (0..5).rev() {
            let (s, v) = f
                .post(
                    "/sms/verify",
                    json!({ "phone": phone, "purpose": "registration", "code": wrong }),
                )
                .await;
            assert_eq!(s, StatusCode::UNAUTHORIZED);
            assert_eq!(v["tries_left"], left);
        }
        // The fifth wrong try killed the code: even the right one is refused now.
        let (s, v) = f
            .post(
                "/sms/verify",
                json!({ "phone": phone, "purpose": "registration", "code": code }),
            )
            .await;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
        assert_eq!(v["code"], "TOO_MANY_TRIES", "{v}");
        // A third code, the right answer: registered with a virtual card and the welcome bonus.
        f.clock.advance(Duration::seconds(61));
        let (s, _) = f
            .post(
                "/sms/send",
                json!({ "phone": phone, "purpose": "registration" }),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let code = f.latest_sms_code().await;
        let (s, v) = f
            .post(
                "/sms/verify",
                json!({ "phone": phone, "purpose": "registration", "code": code }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let verification = v["verification"].as_str().unwrap().to_string();
        let id = uuid::Uuid::now_v7().to_string();
        let r = f
            .op(1, json!({ "kind": "registration", "customer_id": id, "phone": phone,
                           "verification": verification,
                           "questionnaire": { "first_name": "Вера", "last_name": "Иванова", "referrer": "+79990000001" },
                           "consent_processing": true, "consent_advertising": false,
                           "card": { "kind": "virtual" } }))
            .await;
        assert_eq!(r["status"], "applied", "{r}");
        assert_eq!(
            r["answer"]["customer"]["balance"], "600.00",
            "welcome 100 + referee 500"
        );
        assert_eq!(r["answer"]["referrer_found"], true);
        assert_eq!(r["answer"]["card_number"].as_str().unwrap().len(), 13);
        // The same phone again is refused.
        let r = f
            .op(
                2,
                json!({ "kind": "registration", "customer_id": uuid::Uuid::now_v7().to_string(),
                           "phone": phone, "consent_processing": true }),
            )
            .await;
        assert_eq!(r["status"], "rejected");
        assert_eq!(r["reason"], "ALREADY_REGISTERED");
    }
}

#[tokio::test]
async fn calc_and_a_sale_with_spend_and_accrual_update_the_balance_and_history() {
    for engine in engines() {
        let f = Fixture::new(engine).await;
        let id = f.customer_id("+79990000001").await;
        let (s, v) = f
            .post(
                "/calc",
                json!({ "customer_id": id, "receipt": receipt("r-1", "1000.00"), "spend": "100" }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["calculation"]["max_spend"], "300.00");
        assert_eq!(v["calculation"]["to_pay"], "900.00");
        assert_eq!(v["calculation"]["accrued"], "18.00");
        let r = f.op(1, json!({ "kind": "sale", "customer_id": id, "receipt": receipt("r-1", "1000.00"), "spend": "100" })).await;
        assert_eq!(r["status"], "applied", "{r}");
        let (_, h) = f.get(&format!("/customers/{id}/history")).await;
        // 500 − 100 + 18 accrued + 100 first-purchase gift.
        assert_eq!(h["balance"], "518.00", "{h}");
        let lines: Vec<&str> = h["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["description"].as_str().unwrap())
            .collect();
        assert!(
            lines.iter().any(|l| l.starts_with("Начисление за покупку")),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("Списание при оплате покупки")),
            "{lines:?}"
        );
    }
}

#[tokio::test]
async fn a_spend_above_the_balance_is_rejected_for_good() {
    for engine in engines() {
        let f = Fixture::new(engine).await;
        let id = f.customer_id("+79990000004").await; // 0 bonuses
        let r = f.op(1, json!({ "kind": "sale", "customer_id": id, "receipt": receipt("r-2", "1000.00"), "spend": "50" })).await;
        assert_eq!(r["status"], "rejected", "{r}");
        assert_eq!(r["reason"], "INSUFFICIENT_BALANCE");
    }
}

#[tokio::test]
async fn a_duplicate_operation_gets_the_original_answer_and_changes_nothing() {
    for engine in engines() {
        let f = Fixture::new(engine).await;
        let id = f.customer_id("+79990000002").await;
        let op_id = uuid::Uuid::now_v7().to_string();
        let body = json!({ "kind": "sale", "customer_id": id, "receipt": receipt("r-3", "500.00"), "spend": "0" });
        let first = f.op_with_id(&op_id, 1, body.clone()).await;
        assert_eq!(first["status"], "applied");
        let (_, before) = f.get(&format!("/customers/{id}/history")).await;
        let again = f.op_with_id(&op_id, 1, body).await;
        assert_eq!(again["status"], "duplicate");
        assert_eq!(again["answer"]["answer"], first["answer"]);
        let (_, after) = f.get(&format!("/customers/{id}/history")).await;
        assert_eq!(before, after);
    }
}

#[tokio::test]
async fn a_partial_return_refunds_and_claws_back_in_proportion() {
    for engine in engines() {
        let f = Fixture::new(engine).await;
        let id = f.customer_id("+79990000002").await; // Серебряная: 3% discount, 5% accrual
        let four = json!({ "id": "1", "category": "coffee", "price": "100.00", "quantity": "4" });
        let sale = ReceiptJson::sale("r-4").line(four.clone()).json();
        let r = f
            .op(
                1,
                json!({ "kind": "sale", "customer_id": id, "receipt": sale, "spend": "100" }),
            )
            .await;
        assert_eq!(r["status"], "applied", "{r}");
        let ret = ReceiptJson::return_of("r-5", "r-4")
            .with("at", "2026-11-23T13:00:00+03:00")
            .line(coffee("100.00"))
            .json();
        let r = f.op(2, json!({ "kind": "return", "receipt": ret })).await;
        assert_eq!(r["status"], "applied", "{r}");
        assert_eq!(r["answer"]["refunded"], "25.00");
        let ret_all = ReceiptJson::return_of("r-6", "r-4")
            .with("at", "2026-11-23T13:00:00+03:00")
            .line(four)
            .json();
        let r = f
            .op(3, json!({ "kind": "return", "receipt": ret_all }))
            .await;
        assert_eq!(r["status"], "rejected");
        assert_eq!(r["reason"], "RETURN_EXCEEDS_SALE");
        let ghost = ReceiptJson::return_of("r-7", "nope")
            .with("at", "2026-11-23T13:00:00+03:00")
            .line(json!({ "id": "1", "price": "1.00", "quantity": "1" }))
            .json();
        let r = f.op(4, json!({ "kind": "return", "receipt": ghost })).await;
        assert_eq!(r["reason"], "SALE_NOT_FOUND");
    }
}

#[tokio::test]
async fn manual_changes_need_a_manager() {
    for engine in engines() {
        let f = Fixture::new(engine).await;
        let id = f.customer_id("+79990000004").await;
        // cashier_id 1 is the demo cashier, 2 the manager.
        let r = f.op(1, json!({ "kind": "manual_change", "customer_id": id, "amount": "50", "reason": "жалоба" })).await;
        assert_eq!(r["reason"], "NOT_PERMITTED", "{r}");
        let (s, v) = f
            .post(
                "/operations",
                json!({ "operations": [ { "id": uuid::Uuid::now_v7().to_string(), "seq": 2, "at": f.clock_now(),
                    "cashier": "Управляющий Олег", "cashier_id": 2,
                    "body": { "kind": "manual_change", "customer_id": id, "amount": "50", "reason": "жалоба" } } ] }),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["results"][0]["status"], "applied", "{v}");
        assert_eq!(v["results"][0]["answer"]["balance"], "50.00");
    }
}

#[tokio::test]
async fn the_customer_feed_pages_by_cursor_and_carries_no_phone_or_card() {
    for engine in engines() {
        let f = Fixture::new(engine).await;
        let (s, v) = f.get("/feed/customers?since=0&limit=3").await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["customers"].as_array().unwrap().len(), 3);
        assert_eq!(v["more"], true);
        let text = v.to_string();
        assert!(
            !text.contains("9990000001") && !text.contains("2900000000018"),
            "{text}"
        );
        // The rest, page by page. The server's first expiry run may move customers whose
        // bonuses just became active to the feed's end meanwhile: a page then brings a
        // customer again, never a position at or before the cursor.
        let mut seen: std::collections::BTreeSet<String> = v["customers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect();
        let mut cursor = v["cursor"].as_i64().unwrap();
        loop {
            let (_, v) = f
                .get(&format!("/feed/customers?since={cursor}&limit=3"))
                .await;
            for c in v["customers"].as_array().unwrap() {
                assert!(c["seq"].as_i64().unwrap() > cursor, "{v}");
                seen.insert(c["id"].as_str().unwrap().to_string());
            }
            cursor = v["cursor"].as_i64().unwrap();
            if v["more"] == false {
                break;
            }
        }
        assert_eq!(seen.len(), 4, "every demo customer, once or more");
    }
}

#[tokio::test]
async fn a_purchase_pays_the_referrer_chain_and_crossing_a_threshold_raises_the_status() {
    for engine in engines() {
        let f = Fixture::new(engine).await;
        // Вера registers «Без кода», invited by Карина; Карина was invited by nobody.
        let vera = uuid::Uuid::now_v7().to_string();
        let r = f
            .op(1, json!({ "kind": "registration", "customer_id": vera, "phone": "+79990005555",
                           "questionnaire": { "referrer": "2900000000018" }, "consent_processing": true }))
            .await;
        assert_eq!(r["status"], "applied", "{r}");
        assert_eq!(r["answer"]["customer"]["phone_verified"], false);
        let karina = f.customer_id("+79990000001").await;
        let (_, before) = f.get(&format!("/customers/{karina}/history")).await;
        // An unverified customer accrues but may not spend.
        let r = f.op(2, json!({ "kind": "sale", "customer_id": vera, "receipt": receipt("r-10", "1000.00"), "spend": "10" })).await;
        assert_eq!(r["reason"], "VERIFICATION_REQUIRED", "{r}");
        // 20 000 rubles: level 1 referral pays Карина 5% = 1000; Вера's card becomes Серебряная.
        let r = f.op(3, json!({ "kind": "sale", "customer_id": vera, "receipt": receipt("r-11", "20000.00"), "spend": "0" })).await;
        assert_eq!(r["status"], "applied", "{r}");
        assert_eq!(r["answer"]["card_status"], "Серебряная");
        let (_, after) = f.get(&format!("/customers/{karina}/history")).await;
        let gained = after["balance"].as_str().unwrap().parse::<f64>().unwrap()
            - before["balance"].as_str().unwrap().parse::<f64>().unwrap();
        assert_eq!(gained, 1000.0, "{after}");
        let (_, v) = f
            .post("/customers/lookup", json!({ "phone": "+79990005555" }))
            .await;
        assert_eq!(v["card_status"], "Серебряная");
        assert_eq!(v["discount_percent"], "3");
    }
}

#[tokio::test]
async fn history_names_each_line_and_what_activates_and_burns_next() {
    for engine in engines() {
        let f = Fixture::new(engine).await;
        // Золотая: bonuses activate a day after the purchase; 3 500 granted now burn in a year.
        let id = f.customer_id("+79990000003").await;
        let r = f
            .op(1, json!({ "kind": "sale", "customer_id": id, "receipt": receipt("r-1", "1000.00"), "spend": "0" }))
            .await;
        assert_eq!(r["status"], "applied", "{r}");
        let (s, h) = f.get(&format!("/customers/{id}/history")).await;
        assert_eq!(s, StatusCode::OK, "{h}");
        let kinds: Vec<&str> = h["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["first_purchase", "purchase", "manual"], "{h}");
        // The accrual waits a day; nothing else does.
        let activating = h["activating"].as_array().unwrap();
        assert_eq!(activating.len(), 1, "{h}");
        let accrued = h["entries"][1]["amount"].clone();
        assert_eq!(activating[0]["amount"], accrued);
        assert_eq!(activating[0]["at"], "2026-11-24T09:00:00Z");
        assert_eq!(h["pending"], accrued);
        // Soonest first: the first-purchase gift (30 days), then the year-long batches.
        let burning = h["burning"].as_array().unwrap();
        assert_eq!(burning[0]["amount"], "100.00", "{h}");
        assert_eq!(burning[0]["at"], "2026-12-23T09:00:00Z");
        assert_eq!(burning.len(), 3, "{h}");
        assert!(
            burning
                .windows(2)
                .all(|w| w[0]["at"].as_str() <= w[1]["at"].as_str())
        );

        // A day later the accrual is spendable: nothing activates any more.
        f.clock.advance(Duration::days(1));
        let (_, h) = f.get(&format!("/customers/{id}/history")).await;
        assert_eq!(h["activating"], json!([]), "{h}");
        assert_eq!(h["pending"], "0.00");
        // A spend takes the soonest-burning bonuses first: the gift no longer burns.
        let r = f
            .op(2, json!({ "kind": "sale", "customer_id": id, "receipt": receipt("r-2", "5000.00"), "spend": "1000" }))
            .await;
        assert_eq!(r["status"], "applied", "{r}");
        let (_, h) = f.get(&format!("/customers/{id}/history")).await;
        let burning = h["burning"].as_array().unwrap();
        assert!(
            burning.iter().all(|b| b["at"] != "2026-12-23T09:00:00Z"),
            "{h}"
        );
        // Every bonus left burns some day, so the list sums to the balance.
        let left: f64 = burning
            .iter()
            .map(|b| b["amount"].as_str().unwrap().parse::<f64>().unwrap())
            .sum();
        let balance: f64 = h["balance"].as_str().unwrap().parse().unwrap();
        let pending: f64 = h["pending"].as_str().unwrap().parse().unwrap();
        assert!((left - balance - pending).abs() < 0.001, "{h}");
    }
}

#[tokio::test]
async fn expired_bonuses_burn_in_the_job_and_history_says_so() {
    for engine in engines() {
        let f = Fixture::new(engine).await;
        let id = f.customer_id("+79990000002").await; // 1200 bonuses that burn in a year
        f.clock.advance(Duration::days(366));
        let now = {
            use bonuskassa::server::Clock;
            f.clock.now()
        };
        let rules = f.server.server.state().rules();
        let store = f.server.server.state().store();
        let report =
            server::jobs::run_once(store, &rules.rules, &SmsPolicy::default(), t0(), now).unwrap();
        assert!(report.burnt >= 1);
        let (_, h) = f.get(&format!("/customers/{id}/history")).await;
        assert_eq!(h["balance"], "0.00");
        assert_eq!(h["entries"][0]["description"], "Сгорание бонусов");
        assert_eq!(h["entries"][0]["amount"], "-1200.00");
    }
}

#[tokio::test]
async fn bad_query_strings_get_a_coded_json_error() {
    for engine in engines() {
        let f = Fixture::new(engine).await;
        let (s, v) = f.get("/feed/customers?since=abc").await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_eq!(v["code"], "BAD_REQUEST");
        let (s, v) = f.get("/customers/x/history?limit=-1").await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(v["message"].as_str().unwrap().starts_with("query"), "{v}");
        let (s, _) = f.get("/feed/customers?since=0&unknown=1").await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
    }
}

mod holds;

mod consents;

mod backoffice;

mod cabinet;

mod customers_admin;

mod imports;
mod reports;
mod selfreg;
mod statuses;
