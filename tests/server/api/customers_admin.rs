//! Customers in the back office, on every engine: search masked as on the till, the page,
//! the questionnaire, a blocked and a replaced card, a manual change, consents, two records
//! merged, and erasure on request — each seen from the tills too (lookups and the feed).

use super::*;
use bonuskassa::server::store::AccountRole;

impl Fixture {
    async fn admin_call(
        &self,
        method: reqwest::Method,
        path: &str,
        session: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}/api/v1/admin{path}", self.server.url()))
            .bearer_auth(session);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn session(&self, email: &str, role: AccountRole, stores: &[&str]) -> String {
        srv::admin_session(
            &self.http,
            &self.server,
            &self.db.location,
            email,
            role,
            stores,
        )
        .await
    }

    async fn page(&self, session: &str, id: &str) -> Value {
        let (s, v) = self
            .admin_call(
                reqwest::Method::GET,
                &format!("/customers/{id}"),
                session,
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v
    }

    async fn change(
        &self,
        session: &str,
        id: &str,
        what: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        self.admin_call(
            reqwest::Method::POST,
            &format!("/customers/{id}/{what}"),
            session,
            Some(body),
        )
        .await
    }

    async fn till_lookup(&self, key: Value) -> (StatusCode, Value) {
        self.post("/customers/lookup", key).await
    }

    /// The feed's entry of customer `id`.
    async fn feed_of(&self, id: &str) -> Value {
        let (s, v) = self.get("/feed/customers?since=0&limit=1000").await;
        assert_eq!(s, StatusCode::OK);
        v["customers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} not in the feed: {v}"))
    }
}

#[tokio::test]
async fn customers_are_found_masked_and_their_page_tells_everything() {
    for engine in engines() {
        let f = Fixture::new(engine).await;
        let owner = f.session("owner@example.ru", AccountRole::Owner, &[]).await;
        let karina = f.customer_id("+79990000001").await;
        for q in [
            "8 (999) 000-00-01",
            "2900000000018",
            "карина",
            "КАРИНА",
            "Соколова",
        ] {
            let (s, v) = f
                .admin_call(
                    reqwest::Method::GET,
                    &format!("/customers?q={}", urlencode(q)),
                    &owner,
                    None,
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{q}: {v}");
            let found = v.as_array().unwrap();
            assert_eq!(found.len(), 1, "{q}: {v}");
            assert_eq!(found[0]["id"], karina.as_str());
            assert_eq!(found[0]["name"], "Карина С.");
            let text = v.to_string();
            assert!(
                !text.contains("0000001") && !text.contains("2900000000018"),
                "{text}"
            );
        }
        let (s, v) = f
            .admin_call(reqwest::Method::GET, "/customers?q=x", &owner, None)
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");

        let page = f.page(&owner, &karina).await;
        assert_eq!(page["phone"], "+79990000001");
        assert_eq!(page["balance"], "500.00");
        assert_eq!(page["home_store"], "store-1");
        assert_eq!(page["batches"][0]["remaining"], "500.00", "{page}");
        assert!(!page["history"].as_array().unwrap().is_empty());
        assert_eq!(page["consent_advertising"], true);

        // The questionnaire: a bad e-mail is named; a good one is kept, and the tills see
        // the new name in the feed.
        let (s, v) = f
            .admin_call(
                reqwest::Method::PUT,
                &format!("/customers/{karina}/questionnaire"),
                &owner,
                Some(json!({ "first_name": "Карина", "last_name": "Соколова", "email": "not-an-email" })),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(v["message"].as_str().unwrap().starts_with("email:"), "{v}");
        let (s, v) = f
            .admin_call(
                reqwest::Method::PUT,
                &format!("/customers/{karina}/questionnaire"),
                &owner,
                Some(
                    json!({ "first_name": "Карина", "last_name": "Белова", "gender": "female",
                             "birth_date": "1990-05-17", "email": "Karina@Example.ru" }),
                ),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["questionnaire"]["email"], "karina@example.ru");
        assert_eq!(f.feed_of(&karina).await["name"], "Карина Б.");

        // A manager of the other store neither finds nor opens her.
        let east = f
            .session("east@example.ru", AccountRole::Manager, &["ekb-1"])
            .await;
        let (s, v) = f
            .admin_call(reqwest::Method::GET, "/customers?q=Белова", &east, None)
            .await;
        assert_eq!(
            (s, v.as_array().map(Vec::len)),
            (StatusCode::OK, Some(0)),
            "{v}"
        );
        let (s, v) = f
            .admin_call(
                reqwest::Method::GET,
                &format!("/customers/{karina}"),
                &east,
                None,
            )
            .await;
        assert_eq!(
            (s, v["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("FORBIDDEN"))
        );
        let (s, _) = f
            .change(
                &east,
                &karina,
                "manual-change",
                json!({ "amount": "100", "reason": "x" }),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        // Her own store's manager does.
        let west = f
            .session("west@example.ru", AccountRole::Manager, &["store-1"])
            .await;
        f.page(&west, &karina).await;
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn a_lost_card_is_blocked_and_replaced_keeping_the_balance_and_bonuses_change_by_hand() {
    for engine in engines() {
        let f = Fixture::new(engine).await;
        let owner = f.session("owner@example.ru", AccountRole::Owner, &[]).await;
        let karina = f.customer_id("+79990000001").await;

        let (s, v) = f
            .change(
                &owner,
                &karina,
                "block-card",
                json!({ "reason": "Потеряна" }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert!(v["card_number"].is_null(), "{v}");
        assert_eq!(v["blocked_cards"][0]["card_number"], "2900000000018");
        let (s, _) = f.till_lookup(json!({ "card": "2900000000018" })).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _) = f.till_lookup(json!({ "phone": "+79990000001" })).await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = f
            .change(
                &owner,
                &karina,
                "block-card",
                json!({ "reason": "Ещё раз" }),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);

        // The blocked number is never given again, to her or anyone.
        let (s, v) = f
            .change(
                &owner,
                &karina,
                "replace-card",
                json!({ "number": "2900000000018", "reason": "Нашлась" }),
            )
            .await;
        assert_eq!(
            (s, v["code"].as_str()),
            (StatusCode::CONFLICT, Some("ALREADY_EXISTS")),
            "{v}"
        );
        let (s, v) = f
            .change(
                &owner,
                &karina,
                "replace-card",
                json!({ "number": "2900000000025", "reason": "Новая" }),
            )
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "Анна's card: {v}");
        let (s, v) = f
            .change(
                &owner,
                &karina,
                "replace-card",
                json!({ "reason": "Выдана новая" }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let new_card = v["card_number"].as_str().unwrap().to_string();
        assert_eq!(v["balance"], "500.00");
        let (s, found) = f.till_lookup(json!({ "card": new_card })).await;
        assert_eq!((s, &found["id"]), (StatusCode::OK, &json!(karina)));

        // A manual change: added, taken, and not more than there is.
        let (s, v) = f
            .change(
                &owner,
                &karina,
                "manual-change",
                json!({ "amount": "100", "reason": "Компенсация" }),
            )
            .await;
        assert_eq!(
            (s, &v["balance"]),
            (StatusCode::OK, &json!("600.00")),
            "{v}"
        );
        assert_eq!(
            v["history"][0]["description"],
            "Ручное изменение: Компенсация"
        );
        let (s, v) = f
            .change(
                &owner,
                &karina,
                "manual-change",
                json!({ "amount": "-1000", "reason": "Ошибка" }),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(v["message"].as_str().unwrap().contains("600"), "{v}");
        let (s, v) = f
            .change(
                &owner,
                &karina,
                "manual-change",
                json!({ "amount": "-50", "reason": "Ошибка" }),
            )
            .await;
        assert_eq!((s, &v["balance"]), (StatusCode::OK, &json!("550.00")));
        let (_, found) = f.till_lookup(json!({ "phone": "+79990000001" })).await;
        assert_eq!(found["balance"], "550.00");

        // Consents, as she asked: the tills see the advertising consent withdrawn.
        let (s, v) = f
            .change(&owner, &karina, "consents", json!({ "advertising": false }))
            .await;
        assert_eq!(
            (s, &v["consent_advertising"]),
            (StatusCode::OK, &json!(false))
        );
        let last = v["consents"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(
            (&last["kind"], &last["granted"], &last["by"]),
            (
                &json!("advertising"),
                &json!(false),
                &json!("owner@example.ru")
            )
        );
        assert!(
            f.feed_of(&karina)
                .await
                .get("consent_advertising")
                .is_none()
        );

        let (_, events) = f
            .admin_call(reqwest::Method::GET, "/audit", &owner, None)
            .await;
        let text = events.to_string();
        assert!(text.contains("customer.replace_card") && text.contains("customer.manual_change"));
        assert!(
            !text.contains("2900000000018") && !text.contains(&new_card),
            "{text}"
        );
    }
}

#[tokio::test]
async fn two_records_of_one_person_merge_and_an_erased_customer_leaves_only_anonymous_figures() {
    for engine in engines() {
        let f = Fixture::new(engine).await;
        let owner = f.session("owner@example.ru", AccountRole::Owner, &[]).await;
        let manager = f
            .session("west@example.ru", AccountRole::Manager, &["store-1"])
            .await;
        let ilya = f.customer_id("+79990000002").await; // 1200 bonuses, no card
        let anna = f.customer_id("+79990000003").await; // 3500 bonuses, a card
        let (_, before) = f.till_lookup(json!({ "phone": "+79990000003" })).await;

        let (s, _) = f
            .change(&manager, &ilya, "merge", json!({ "duplicate_id": anna }))
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, _) = f
            .change(&owner, &ilya, "merge", json!({ "duplicate_id": ilya }))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        let (s, v) = f
            .change(&owner, &ilya, "merge", json!({ "duplicate_id": anna }))
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let sum = |a: &Value, b: &Value| {
            let n = |v: &Value| v.as_str().unwrap().parse::<f64>().unwrap();
            format!("{:.2}", n(a) + n(b))
        };
        assert_eq!(
            v["balance"],
            sum(&json!("1200.00"), &before["balance"]),
            "{v}"
        );
        // Her card moved to the record kept (it had none): it still opens him.
        assert_eq!(v["card_number"], "2900000000025");
        let (s, found) = f.till_lookup(json!({ "card": "2900000000025" })).await;
        assert_eq!((s, &found["id"]), (StatusCode::OK, &json!(ilya)));
        let dup = f.page(&owner, &anna).await;
        assert_eq!(dup["merged_into"], ilya.as_str());
        assert_eq!(
            (&dup["balance"], &dup["phone"]),
            (&json!("0.00"), &json!(""))
        );
        let (s, _) = f.till_lookup(json!({ "phone": "+79990000003" })).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert_eq!(f.feed_of(&anna).await["gone"], true);
        let (s, _) = f
            .change(
                &owner,
                &anna,
                "manual-change",
                json!({ "amount": "1", "reason": "x" }),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        // A sale a till queued offline for the merged record lands on the record kept.
        let kept_before = f.page(&owner, &ilya).await["balance"].clone();
        let r = f
            .op(
                1,
                json!({ "kind": "sale", "customer_id": anna, "receipt": receipt("r-merged", "1000.00"), "spend": "0" }),
            )
            .await;
        assert_eq!(r["status"], "applied", "{r}");
        let kept_after = f.page(&owner, &ilya).await;
        assert_ne!(kept_after["balance"], kept_before, "{kept_after}");
        assert_eq!(f.page(&owner, &anna).await["balance"], "0.00");
        // The ledger adds up after the move, on both records.
        let census = srv::census(&f.db.location);
        assert_eq!(census.unbalanced, 0, "{census:?}");

        // Erased on request: no phone, name or card left; the figures stay.
        let denis = f.customer_id("+79990000004").await;
        f.change(
            &owner,
            &denis,
            "manual-change",
            json!({ "amount": "10", "reason": "Подарок" }),
        )
        .await;
        let (s, v) = f.change(&owner, &denis, "erase", json!({})).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert!(v["erased_at"].is_string(), "{v}");
        assert_eq!(v["phone"], "");
        assert!(v["questionnaire"].as_object().unwrap().is_empty(), "{v}");
        assert_eq!(v["balance"], "10.00", "the ledger stays: {v}");
        let (s, _) = f.till_lookup(json!({ "phone": "+79990000004" })).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let gone = f.feed_of(&denis).await;
        assert_eq!(gone["gone"], true);
        assert_eq!(gone["name"], "");
        let (s, v) = f
            .admin_call(reqwest::Method::GET, "/customers?q=Орлов", &owner, None)
            .await;
        assert_eq!((s, v.as_array().map(Vec::len)), (StatusCode::OK, Some(0)));
        let (s, _) = f.change(&owner, &denis, "erase", json!({})).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        let census = srv::census(&f.db.location);
        assert_eq!(census.unbalanced, 0, "{census:?}");
    }
}
