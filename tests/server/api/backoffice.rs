//! The back office over real HTTP, on every engine: signing in (one-time passwords, the
//! lock, sessions by bearer and by cookie), the wall between terminal tokens and sessions,
//! a store manager kept to their stores, stores, staff and terminals, rules versions, and
//! the audit log of it all.

use super::*;
use bonuskassa::server::store::AccountRole;

impl Fixture {
    fn admin_url(&self, path: &str) -> String {
        format!("{}/api/v1/admin{path}", self.server.url())
    }

    /// A request to the back office with a session token (none: `""`).
    async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        session: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, self.admin_url(path));
        if !session.is_empty() {
            req = req.bearer_auth(session);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn admin_get(&self, path: &str, session: &str) -> (StatusCode, Value) {
        self.admin(reqwest::Method::GET, path, session, None).await
    }

    async fn admin_post(&self, path: &str, session: &str, body: Value) -> (StatusCode, Value) {
        self.admin(reqwest::Method::POST, path, session, Some(body))
            .await
    }

    async fn admin_patch(&self, path: &str, session: &str, body: Value) -> (StatusCode, Value) {
        self.admin(reqwest::Method::PATCH, path, session, Some(body))
            .await
    }

    async fn owner(&self) -> String {
        srv::admin_session(
            &self.http,
            &self.server,
            &self.db.location,
            "owner@example.ru",
            AccountRole::Owner,
            &[],
        )
        .await
    }

    async fn manager_of(&self, store: &str) -> String {
        srv::admin_session(
            &self.http,
            &self.server,
            &self.db.location,
            &format!("manager-{store}@example.ru"),
            AccountRole::Manager,
            &[store],
        )
        .await
    }

    /// A new account's one-time password, from the owner's API.
    async fn new_account(&self, owner: &str, email: &str, role: &str, stores: Value) -> String {
        let (s, v) = self
            .admin_post(
                "/accounts",
                owner,
                json!({ "email": email, "role": role, "stores": stores }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v["one_time_password"].as_str().unwrap().to_string()
    }

    async fn sign_in(&self, email: &str, password: &str) -> (StatusCode, Value) {
        self.admin_post(
            "/session",
            "",
            json!({ "email": email, "password": password }),
        )
        .await
    }
}

fn code(v: &Value) -> &str {
    v["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn an_account_signs_in_with_its_one_time_password_changes_it_and_signs_out() {
    for engine in engines() {
        let f = Fixture::new(engine).await;
        let owner = f.owner().await;
        let otp = f
            .new_account(&owner, "Vera@Example.ru", "manager", json!(["store-1"]))
            .await;
        assert_eq!(otp.chars().count(), 12);

        // The e-mail is matched in any case; the first session may only change the password.
        let resp = f
            .http
            .post(f.admin_url("/session"))
            .json(&json!({ "email": "vera@example.RU", "password": otp }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
        for part in ["bk_session=", "HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(cookie.contains(part), "{cookie}");
        }
        let v: Value = resp.json().await.unwrap();
        let first = v["token"].as_str().unwrap().to_string();
        assert!(cookie.contains(&first));
        assert_eq!(v["account"]["must_change_password"], true, "{v}");
        assert_eq!(v["account"]["stores"], json!(["store-1"]));
        let (s, v) = f.admin_get("/stores", &first).await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::FORBIDDEN, "PASSWORD_CHANGE_REQUIRED")
        );
        let (s, v) = f.admin_get("/me", &first).await;
        assert_eq!(s, StatusCode::OK, "{v}");

        // A short password, the wrong current one: refused, naming the field.
        let (s, v) = f
            .admin_post(
                "/password",
                &first,
                json!({ "current": otp, "new": "short" }),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(v["message"].as_str().unwrap().starts_with("new:"), "{v}");
        let (s, v) = f
            .admin_post(
                "/password",
                &first,
                json!({ "current": "not it", "new": "a long new password" }),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(
            v["message"].as_str().unwrap().starts_with("current:"),
            "{v}"
        );
        let (s, v) = f
            .admin_post(
                "/password",
                &first,
                json!({ "current": otp, "new": "a long new password" }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let second = v["token"].as_str().unwrap().to_string();
        assert_eq!(v["account"]["must_change_password"], false);
        // The old session ended with the old password; the new one works, by cookie too.
        let (s, _) = f.admin_get("/me", &first).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let r = f
            .http
            .get(f.admin_url("/stores"))
            .header("cookie", format!("theme=dark; bk_session={second}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let stores: Value = r.json().await.unwrap();
        assert_eq!(stores.as_array().unwrap().len(), 1, "{stores}");
        // The one-time password is spent; the new one signs in.
        let (s, v) = f.sign_in("vera@example.ru", &otp).await;
        assert_eq!((s, code(&v)), (StatusCode::UNAUTHORIZED, "SIGN_IN_FAILED"));
        let (s, _) = f.sign_in("vera@example.ru", "a long new password").await;
        assert_eq!(s, StatusCode::OK);

        let (s, _) = f
            .admin(reqwest::Method::DELETE, "/session", &second, None)
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, v) = f.admin_get("/stores", &second).await;
        assert_eq!((s, code(&v)), (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"));

        // Sessions expire after 12 hours.
        let (_, v) = f.sign_in("vera@example.ru", "a long new password").await;
        let third = v["token"].as_str().unwrap().to_string();
        f.clock.advance(Duration::hours(12));
        let (s, _) = f.admin_get("/stores", &third).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn five_wrong_passwords_lock_the_account_each_lock_longer() {
    for engine in engines() {
        let f = Fixture::new(engine).await;
        let owner = f.owner().await;
        let otp = f
            .new_account(&owner, "lock@example.ru", "owner", json!([]))
            .await;
        for _ in 0..4 {
            let (s, v) = f.sign_in("lock@example.ru", "wrong password").await;
            assert_eq!((s, code(&v)), (StatusCode::UNAUTHORIZED, "SIGN_IN_FAILED"));
        }
        let (s, v) = f.sign_in("lock@example.ru", "wrong password").await;
        assert_eq!(
            (s, code(&v), v["retry_after_s"].as_u64()),
            (StatusCode::TOO_MANY_REQUESTS, "ACCOUNT_LOCKED", Some(30)),
            "{v}"
        );
        // Locked: even the right password is refused, unchecked.
        let (s, _) = f.sign_in("lock@example.ru", &otp).await;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
        f.clock.advance(Duration::seconds(31));
        for _ in 0..4 {
            f.sign_in("lock@example.ru", "wrong password").await;
        }
        let (s, v) = f.sign_in("lock@example.ru", "wrong password").await;
        assert_eq!(
            (s, v["retry_after_s"].as_u64()),
            (StatusCode::TOO_MANY_REQUESTS, Some(60)),
            "{v}"
        );
        f.clock.advance(Duration::seconds(61));
        let (s, _) = f.sign_in("lock@example.ru", &otp).await;
        assert_eq!(s, StatusCode::OK);
        // An unknown e-mail is refused like a wrong password, and locks nothing.
        let (s, v) = f.sign_in("nobody@example.ru", "wrong password").await;
        assert_eq!((s, code(&v)), (StatusCode::UNAUTHORIZED, "SIGN_IN_FAILED"));
    }
}

#[tokio::test]
async fn a_terminal_token_is_no_session_and_a_session_is_no_terminal_token() {
    for engine in engines() {
        let f = Fixture::new(engine).await;
        let owner = f.owner().await;
        let (s, v) = f.admin_get("/stores", &f.token).await;
        assert_eq!((s, code(&v)), (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"));
        let r = f
            .http
            .post(f.url("/customers/lookup"))
            .bearer_auth(&owner)
            .json(&json!({ "phone": "+79990000001" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let (s, _) = f.admin_get("/stores", "").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn a_store_manager_sees_and_changes_only_their_own_stores() {
    for engine in engines() {
        let f = Fixture::new(engine).await;
        let owner = f.owner().await;
        let manager = f.manager_of("store-1").await;
        let (_, stores) = f.admin_get("/stores", &manager).await;
        let ids: Vec<&str> = stores
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["store-1"]);
        let (_, all) = f.admin_get("/stores", &owner).await;
        assert_eq!(all.as_array().unwrap().len(), 2, "{all}");

        let forbidden = [
            f.admin_get("/staff?store=ekb-1", &manager).await,
            f.admin_get("/terminals?store=ekb-1", &manager).await,
            f.admin_patch("/stores/ekb-1", &manager, json!({ "name": "Мой" }))
                .await,
            f.admin_post(
                "/staff",
                &manager,
                json!({ "store_id": "ekb-1", "name": "Чужой", "role": "cashier", "code": "5555" }),
            )
            .await,
            f.admin_post(
                "/terminals/enrollment-codes",
                &manager,
                json!({ "store_id": "ekb-1" }),
            )
            .await,
            f.admin_get("/accounts", &manager).await,
            f.admin_post(
                "/stores",
                &manager,
                json!({ "id": "spb-1", "name": "Питер" }),
            )
            .await,
            f.admin_post(
                "/rules",
                &manager,
                json!({ "text": admin::DEMO_RULES, "activate": true }),
            )
            .await,
        ];
        for (s, v) in &forbidden {
            assert_eq!((*s, code(v)), (StatusCode::FORBIDDEN, "FORBIDDEN"), "{v}");
        }
        // Another store's staff member by id, too.
        let (_, staff) = f.admin_get("/staff?store=ekb-1", &owner).await;
        let east_cashier = staff[0]["id"].as_i64().unwrap();
        let (s, _) = f
            .admin_patch(
                &format!("/staff/{east_cashier}"),
                &manager,
                json!({ "active": false }),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        // Lists without a store filter hold only their store's.
        let (_, staff) = f.admin_get("/staff", &manager).await;
        assert!(
            staff
                .as_array()
                .unwrap()
                .iter()
                .all(|s| s["store_id"] == "store-1"),
            "{staff}"
        );
        let (_, terminals) = f.admin_get("/terminals", &manager).await;
        assert_eq!(terminals.as_array().unwrap().len(), 1, "{terminals}");
        // What they may do: their own store.
        let (s, v) = f
            .admin_patch(
                "/stores/store-1",
                &manager,
                json!({ "address": "Москва, Тверская ул., 3" }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        // The owner's change of the east store is not in the manager's audit log.
        f.admin_patch("/stores/ekb-1", &owner, json!({ "name": "Екатеринбург-1" }))
            .await;
        let (_, events) = f.admin_get("/audit", &manager).await;
        assert!(
            events
                .as_array()
                .unwrap()
                .iter()
                .all(|e| e["store_id"] == "store-1"),
            "{events}"
        );
        let (_, events) = f.admin_get("/audit", &owner).await;
        assert!(
            events
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["store_id"] == "ekb-1"),
            "{events}"
        );
    }
}

#[tokio::test]
async fn stores_staff_and_terminals_are_managed_and_every_change_is_audited() {
    for engine in engines() {
        let f = Fixture::new(engine).await;
        let owner = f.owner().await;

        // A store: a bad time zone and a taken id are named.
        let (s, v) = f
            .admin_post(
                "/stores",
                &owner,
                json!({ "id": "nsk-1", "name": "Новосибирск", "time_zone": "Asia/Atlantis" }),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(
            v["message"].as_str().unwrap().starts_with("time_zone:"),
            "{v}"
        );
        let (s, v) = f
            .admin_post(
                "/stores",
                &owner,
                json!({ "id": "nsk-1", "name": "Новосибирск", "address": "Красный пр., 1",
                        "time_zone": "Asia/Novosibirsk" }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        assert_eq!(v["utc_offset_minutes"], 420);
        let (s, v) = f
            .admin_post("/stores", &owner, json!({ "id": "nsk-1", "name": "Ещё" }))
            .await;
        assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "ALREADY_EXISTS"));

        // A cashier; a code taken in the store is refused.
        let (s, v) = f
            .admin_post(
                "/staff",
                &owner,
                json!({ "store_id": "store-1", "name": "Кассир Пётр", "role": "cashier", "code": "1111" }),
            )
            .await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::CONFLICT, "ALREADY_EXISTS"),
            "{v}"
        );
        let (s, v) = f
            .admin_post(
                "/staff",
                &owner,
                json!({ "store_id": "store-1", "name": "Кассир Пётр", "role": "cashier", "code": "4321" }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let petr = v["id"].as_i64().unwrap();
        let (s, v) = f.post("/cashiers/login", json!({ "code": "4321" })).await;
        assert_eq!(
            (s, v["name"].as_str()),
            (StatusCode::OK, Some("Кассир Пётр"))
        );
        // A new code: the old one stops working at the till.
        let (s, _) = f
            .admin_patch(&format!("/staff/{petr}"), &owner, json!({ "code": "7777" }))
            .await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = f.post("/cashiers/login", json!({ "code": "4321" })).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let (s, _) = f.post("/cashiers/login", json!({ "code": "7777" })).await;
        assert_eq!(s, StatusCode::OK);
        // Deactivated: the code opens nothing.
        let (s, v) = f
            .admin_patch(
                &format!("/staff/{petr}"),
                &owner,
                json!({ "active": false }),
            )
            .await;
        assert_eq!((s, &v["active"]), (StatusCode::OK, &json!(false)));
        let (s, _) = f.post("/cashiers/login", json!({ "code": "7777" })).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);

        // Wrong codes lock the till's logins; the owner lifts the lock.
        for _ in 0..5 {
            f.post("/cashiers/login", json!({ "code": "0000" })).await;
        }
        let (s, _) = f.post("/cashiers/login", json!({ "code": "1111" })).await;
        assert_eq!(s, StatusCode::LOCKED);
        let (_, list) = f.admin_get("/terminals", &owner).await;
        assert!(list[0]["logins_locked_until"].is_string(), "{list}");
        let (s, _) = f
            .admin_post(
                &format!("/terminals/{}/unlock", f.terminal_id),
                &owner,
                json!({}),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = f.post("/cashiers/login", json!({ "code": "1111" })).await;
        assert_eq!(s, StatusCode::OK);

        // The till reports its version and queue; the list shows them.
        let (s, _) = f
            .post(
                "/terminal/status",
                json!({ "app_version": "0.1.0", "queue_length": 3,
                        "oldest_queued_at": "2026-11-23T08:30:00Z" }),
            )
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (_, list) = f.admin_get("/terminals", &owner).await;
        let t = &list[0];
        assert_eq!(
            (
                &t["app_version"],
                &t["queue_length"],
                &t["oldest_queued_at"],
                &t["last_sync_at"]
            ),
            (
                &json!("0.1.0"),
                &json!(3),
                &json!("2026-11-23T08:30:00Z"),
                &json!("2026-11-23T09:00:00Z")
            ),
            "{list}"
        );

        // An enrollment code from the back office enrolls a till of the new store.
        let (s, v) = f
            .admin_post(
                "/terminals/enrollment-codes",
                &owner,
                json!({ "store_id": "nsk-1" }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let r = f
            .http
            .post(f.url("/enroll"))
            .json(&json!({ "code": v["code"], "name": "Касса Новосибирск" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let enrolled: Value = r.json().await.unwrap();
        assert_eq!(enrolled["store_id"], "nsk-1");
        let (_, list) = f.admin_get("/terminals?store=nsk-1", &owner).await;
        assert_eq!(list[0]["name"], "Касса Новосибирск", "{list}");
        // Revoked: its token is refused.
        let (s, v) = f
            .admin_post(
                &format!(
                    "/terminals/{}/revoke",
                    enrolled["terminal_id"].as_str().unwrap()
                ),
                &owner,
                json!({}),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        assert!(v["revoked_at"].is_string(), "{v}");
        let r = f
            .http
            .get(f.url("/rules"))
            .bearer_auth(enrolled["token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

        // Every change is in the audit log with who, before and after — never a code.
        let (_, events) = f.admin_get("/audit?limit=50", &owner).await;
        let actions: Vec<&str> = events
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        for action in [
            "store.add",
            "staff.add",
            "staff.update_code",
            "staff.update",
            "terminal.unlock",
            "terminal.enrollment_code",
            "terminal.revoke",
        ] {
            assert!(actions.contains(&action), "{action} in {actions:?}");
        }
        let deactivation = events
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["action"] == "staff.update")
            .unwrap();
        assert_eq!(deactivation["actor"], "owner@example.ru");
        assert_eq!(deactivation["before"]["active"], true);
        assert_eq!(deactivation["after"]["active"], false);
        let text = events.to_string();
        for secret in ["4321", "7777"] {
            assert!(!text.contains(secret), "a code in the audit log: {text}");
        }
    }
}

#[tokio::test]
async fn rules_versions_are_uploaded_tried_compared_activated_and_rolled_back() {
    for engine in engines() {
        let f = Fixture::new(engine).await;
        let owner = f.owner().await;
        let manager = f.manager_of("store-1").await;

        // A mistake is refused with its line and key.
        let broken = admin::DEMO_RULES.replacen("percent = \"2\" }", "percent = \"-2\" }", 1);
        let (s, v) = f
            .admin_post("/rules", &owner, json!({ "text": broken }))
            .await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "RULES_INVALID"),
            "{v}"
        );
        let line = v["line"].as_u64().expect("the line is named");
        assert!(
            broken
                .lines()
                .nth(line as usize - 1)
                .unwrap()
                .contains("\"-2\""),
            "line {line}: {v}"
        );
        assert_eq!(v["key"], "card[0].accrual.percent", "{v}");

        // A good one is stored, not active: the tills still get version 1.
        let richer = admin::DEMO_RULES.replacen("percent = \"2\" }", "percent = \"12\" }", 1);
        assert_ne!(richer, admin::DEMO_RULES);
        let (s, v) = f
            .admin_post(
                "/rules",
                &owner,
                json!({ "text": richer, "comment": "Щедрее" }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        assert_eq!((&v["version"], &v["active"]), (&json!(2), &json!(false)));
        assert_eq!(v["uploaded_by"], "owner@example.ru");
        let (_, served) = f.get("/rules").await;
        assert_eq!(served["version"], 1);

        // The manager may read, compare and try versions, not change them.
        let (s, d) = f.admin_get("/rules/diff?from=1&to=2", &manager).await;
        assert_eq!(s, StatusCode::OK, "{d}");
        assert!(d["unified"].as_str().unwrap().contains("+"), "{d}");
        let changed: Vec<&Value> = d["lines"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["op"] != " ")
            .collect();
        assert_eq!(changed.len(), 2, "{d}");
        let receipt = ReceiptJson::sale("try-1").line(coffee("500")).json();
        let tried = |version: u32| {
            let receipt = receipt.clone();
            let f = &f;
            let manager = manager.clone();
            async move {
                let (s, v) = f
                    .admin_post(
                        &format!("/rules/{version}/try"),
                        &manager,
                        json!({ "receipt": receipt, "balance": "100", "spend": "50" }),
                    )
                    .await;
                assert_eq!(s, StatusCode::OK, "{v}");
                v
            }
        };
        let (one, two) = (tried(1).await, tried(2).await);
        assert_eq!(one["version"], 1);
        assert_ne!(
            one["calculation"]["accrued"], two["calculation"]["accrued"],
            "{one}\n{two}"
        );
        let id = f.customer_id("+79990000001").await;
        let (s, v) = f
            .admin_post(
                "/rules/2/try",
                &owner,
                json!({ "receipt": receipt, "customer_id": id }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let (s, _) = f
            .admin_post("/rules/9/try", &owner, json!({ "receipt": receipt }))
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _) = f.admin_post("/rules/2/activate", &manager, json!({})).await;
        assert_eq!(s, StatusCode::FORBIDDEN);

        // Activated: the tills get it; rolled back: version 1 again.
        let (s, v) = f.admin_post("/rules/2/activate", &owner, json!({})).await;
        assert_eq!((s, &v["active"]), (StatusCode::OK, &json!(true)), "{v}");
        let (_, served) = f.get("/rules").await;
        assert_eq!(served["version"], 2);
        let (s, v) = f.admin_post("/rules/rollback", &owner, json!({})).await;
        assert_eq!((s, &v["version"]), (StatusCode::OK, &json!(1)), "{v}");
        let (_, served) = f.get("/rules").await;
        assert_eq!(served["version"], 1);
        let (_, versions) = f.admin_get("/rules", &manager).await;
        let active: Vec<&Value> = versions
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["active"] == true)
            .map(|v| &v["version"])
            .collect();
        assert_eq!(active, [&json!(1)], "{versions}");
        let (_, v) = f.admin_get("/rules/2", &manager).await;
        assert_eq!(v["text"], richer);
        assert_eq!(v["version"]["comment"], "Щедрее");
        let (_, events) = f.admin_get("/audit", &owner).await;
        let activations = events
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "rules.activate")
            .count();
        assert_eq!(activations, 2, "{events}");
    }
}

#[tokio::test]
async fn a_nul_character_anywhere_is_refused_as_bad_input_on_every_engine() {
    for engine in engines() {
        let f = Fixture::new(engine).await;
        let owner = f.owner().await;
        for path in [
            "/customers?q=%00a%00",
            "/staff?store=a%00",
            "/terminals?store=%00",
        ] {
            let (s, v) = f.admin_get(path, &owner).await;
            assert_eq!(
                (s, code(&v)),
                (StatusCode::BAD_REQUEST, "BAD_REQUEST"),
                "{path}: {v}"
            );
        }
        let (s, v) = f
            .admin_post(
                "/session",
                "",
                json!({ "email": "owner\u{0}@example.ru", "password": "x" }),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        let (s, v) = f
            .admin_post(
                "/rules",
                &owner,
                json!({ "text": admin::DEMO_RULES, "comment": "a\u{0}b" }),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        let (s, _) = f
            .post("/customers/lookup", json!({ "phone": "+7999\u{0}0000001" }))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
    }
}
