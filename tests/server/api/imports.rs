//! `POST /api/v1/admin/imports` over real HTTP on every engine: the file as the body, the
//! report as the answer; a dry run writes nothing, the import writes once and is audited,
//! a bad file is named row by row, and a store manager is refused a store not theirs.

use super::*;
use bonuskassa::protocol::admin::NewStoreRequest;
use bonuskassa::server::backoffice::{Actor, accounts, chain};
use bonuskassa::server::store::{self, AccountRole};

const SAMPLE: &[u8] = include_bytes!("../../../assets/import/customers.csv");

/// Creates an account and signs it in over HTTP, its one-time password changed: the
/// session token.
async fn signed_in(
    http: &reqwest::Client,
    base: &str,
    store: &dyn store::Store,
    email: &str,
    role: AccountRole,
    stores: &[String],
) -> String {
    let (_, once) = accounts::add_account(store, &Actor::cli(), email, role, stores, t0()).unwrap();
    let first: Value = http
        .post(format!("{base}/admin/session"))
        .json(&json!({ "email": email, "password": once.expose() }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = first["token"].as_str().unwrap().to_string();
    let changed: Value = http
        .post(format!("{base}/admin/password"))
        .bearer_auth(&token)
        .json(&json!({ "current": once.expose(), "new": "новый пароль 2026" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    changed["token"].as_str().unwrap().to_string()
}

/// Checks an answer against the OpenAPI document's `ImportReport`.
fn documented(report: &Value) {
    let doc = serde_json::to_value(bonuskassa::server::openapi::document()).unwrap();
    let schema = json!({ "$ref": "#/components/schemas/ImportReport" });
    let v = crate::common::schema_validator(&doc["components"], &schema).unwrap();
    let errors: Vec<String> = v.iter_errors(report).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}: {report}");
}

async fn post_file(
    http: &reqwest::Client,
    url: String,
    token: Option<&str>,
    file: &[u8],
) -> (StatusCode, Value) {
    let mut req = http
        .post(url)
        .header("content-type", "text/csv")
        .body(file.to_vec());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    if status == StatusCode::OK {
        documented(&body);
    }
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_base_is_imported_over_http_and_a_manager_only_into_their_store() {
    for engine in engines() {
        let db = TestDb::new(engine);
        let clock = ManualClock::at(t0());
        let server: RunningServer = srv::demo(&db.location, clock, false);
        let base = format!("{}/api/v1", server.url());
        let store = srv::open(&db.location);
        chain::add_store(
            &*store,
            &Actor::cli(),
            &NewStoreRequest {
                id: "store-2".into(),
                name: "Кофе у Карины, Арбат 5".into(),
                address: String::new(),
                time_zone: Some("Asia/Yekaterinburg".into()),
            },
            t0(),
        )
        .unwrap();
        let http = reqwest::Client::new();
        let owner = signed_in(
            &http,
            &base,
            &*store,
            "owner@example.ru",
            AccountRole::Owner,
            &[],
        )
        .await;
        let manager = signed_in(
            &http,
            &base,
            &*store,
            "manager@example.ru",
            AccountRole::Manager,
            &["store-2".to_string()],
        )
        .await;
        let url = |q: &str| format!("{base}/admin/imports?{q}");

        // No session, no import.
        let (s, v) = post_file(&http, url("store=store-1"), None, SAMPLE).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{engine}: {v}");
        // A manager of store-2 is refused store-1, even for a dry run.
        let (s, v) = post_file(
            &http,
            url("store=store-1&dry_run=true"),
            Some(&manager),
            SAMPLE,
        )
        .await;
        assert_eq!(
            (s, v["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("FORBIDDEN")),
            "{engine}: {v}"
        );
        let (s, v) = post_file(&http, url("store=store-9"), Some(&owner), SAMPLE).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{engine}: {v}");
        let (s, v) = post_file(&http, url("store=store-2&force=1"), Some(&owner), SAMPLE).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{engine}: {v}");

        // The dry run writes nothing.
        let before = srv::census(&db.location);
        let (s, v) = post_file(
            &http,
            url("store=store-2&dry_run=true"),
            Some(&manager),
            SAMPLE,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{engine}: {v}");
        assert_eq!(
            (
                &v["dry_run"],
                &v["written"],
                &v["new_customers"],
                &v["bonuses"]
            ),
            (&json!(true), &json!(false), &json!(5), &json!("2755.50")),
            "{engine}: {v}"
        );
        assert_eq!(
            v["format"],
            json!({"kind": "csv", "encoding": "utf-8 with BOM", "separator": ";"})
        );
        assert_eq!(srv::census(&db.location), before, "{engine}");

        // The manager imports into their store; the owner's second import recognises it.
        let (s, v) = post_file(&http, url("store=store-2"), Some(&manager), SAMPLE).await;
        assert_eq!(
            (s, &v["written"]),
            (StatusCode::OK, &json!(true)),
            "{engine}: {v}"
        );
        assert_eq!(
            srv::census(&db.location).customers,
            before.customers + 5,
            "{engine}"
        );
        let (s, v) = post_file(&http, url("store=store-2"), Some(&owner), SAMPLE).await;
        assert_eq!(s, StatusCode::OK, "{engine}: {v}");
        assert_eq!(
            (&v["written"], &v["new_customers"], &v["already_imported"]),
            (&json!(false), &json!(0), &json!(5)),
            "{engine}: {v}"
        );

        // A bad file: every bad row named, nothing written.
        let bad = "Телефон;Баланс бонусов\n+7 999 310 00 01;-5\n+7 999 310 00 01;5\n";
        let (s, v) = post_file(&http, url("store=store-2"), Some(&owner), bad.as_bytes()).await;
        assert_eq!(s, StatusCode::OK, "{engine}: {v}");
        assert_eq!(
            v["problems"],
            json!([
                {"row": 2, "column": "balance", "problem": {"kind": "negative"}},
                {"row": 3, "column": "phone", "problem": {"kind": "duplicate_phone", "first_row": 2}},
            ]),
            "{engine}"
        );
        assert_eq!(v["written"], json!(false), "{engine}");
        // A file with no phone column is refused as a whole.
        let (s, v) = post_file(
            &http,
            url("store=store-2"),
            Some(&owner),
            "Имя\nАнна\n".as_bytes(),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{engine}: {v}");

        // The import is in the audit log, with the counts and no customer, and the
        // manager sees it for their store.
        let audit: Value = http
            .get(format!("{base}/admin/audit"))
            .bearer_auth(&manager)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let imports: Vec<&Value> = audit
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "customers.import")
            .collect();
        assert_eq!(imports.len(), 1, "{engine}: {audit}");
        assert_eq!(imports[0]["actor"], "manager@example.ru", "{engine}");
        assert_eq!(imports[0]["store_id"], "store-2", "{engine}");
        assert_eq!(imports[0]["after"]["new_customers"], 5, "{engine}");
        server.stop().unwrap();
    }
}
