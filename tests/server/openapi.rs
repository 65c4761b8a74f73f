//! The OpenAPI document at `/api/v1/openapi.json` stays true to the server.
//!
//! Two ways it could lie, two checks. Its routes are compared with the router's
//! `.route(...)` calls read from `src/server/api.rs` itself, both ways, methods and
//! authentication included, so a route added without its documentation fails here. And a
//! real exchange with a demo server (enrollment, lookups, a calculation, every kind of
//! operation, SMS codes, errors) is validated against the document's schemas: each answer
//! against the schema of its status, each request the server accepted against the request
//! schema, and each request refused for an unknown field against the request schema too,
//! which must refuse it as well.

use std::collections::BTreeSet;

use bonuskassa::server::{self, RunningServer, SystemClock};
use chrono::Utc;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::receipts::{ReceiptJson, cappuccino};
use crate::common::server as srv;

/// One route of the router: path under `/api/v1`, lowercase method, handler name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Route {
    path: String,
    method: String,
    handler: String,
}

/// Reads the `.route("/path", get(handler).post(other))` calls of the API's source.
fn routes_in_source(src: &str) -> Vec<Route> {
    let mut out = Vec::new();
    for (at, _) in src.match_indices(".route(\"") {
        let rest = &src[at + ".route(\"".len()..];
        let path = &rest[..rest.find('"').expect("a closing quote")];
        let mut rest = rest[path.len() + 1..].trim_start();
        rest = rest
            .strip_prefix(',')
            .expect("a comma after the path")
            .trim_start();
        // One or more `method(handler)` joined by dots.
        loop {
            let open = rest.find('(').expect("a method call");
            let method = rest[..open].trim().to_string();
            let mut depth = 0;
            let mut close = open;
            for (i, c) in rest[open..].char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            close = open + i;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let handler = rest[open + 1..close].trim();
            let handler = handler.rsplit("::").next().unwrap_or(handler).to_string();
            out.push(Route {
                path: path.to_string(),
                method,
                handler,
            });
            rest = rest[close + 1..].trim_start();
            match rest.strip_prefix('.') {
                Some(r) => rest = r,
                None => break,
            }
        }
    }
    out
}

/// Whether a handler of `api.rs` takes the terminal (i.e. needs the bearer token).
fn takes_terminal(src: &str, handler: &str) -> bool {
    let Some(at) = src.find(&format!("async fn {handler}(")) else {
        // A handler from another module (the document itself) takes no token.
        return false;
    };
    let signature = &src[at..at + src[at..].find('{').expect("a body")];
    // The handler takes the terminal's bearer token (`token: Token`).
    signature.contains(": Token")
}

/// `CashierLocked` → `CASHIER_LOCKED`.
fn screaming_snake(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

#[test]
fn the_source_parser_reads_chained_methods() {
    let src = r#"Router::new().route("/a", get(one)).route("/b/{id}", get(two).post(self::three))"#;
    let got: Vec<(String, String, String)> = routes_in_source(src)
        .into_iter()
        .map(|r| (r.path, r.method, r.handler))
        .collect();
    let want = [
        ("/a", "get", "one"),
        ("/b/{id}", "get", "two"),
        ("/b/{id}", "post", "three"),
    ];
    let want: Vec<(String, String, String)> = want
        .iter()
        .map(|(p, m, h)| (p.to_string(), m.to_string(), h.to_string()))
        .collect();
    assert_eq!(got, want);
}

/// The routes of the terminals' API (`api.rs`) and of the back office nested under
/// `/admin` (`backoffice/http.rs`), each with the source of its handler.
fn all_routes() -> Vec<(Route, &'static str)> {
    let api: &'static str = include_str!("../../src/server/api.rs");
    let admin: &'static str = include_str!("../../src/server/backoffice/http.rs");
    assert!(
        api.contains(".nest(\"/admin\", super::backoffice::http::router())"),
        "the back office is nested under /admin"
    );
    let mut out: Vec<(Route, &'static str)> = Vec::new();
    for r in routes_in_source(api) {
        let src = if admin.contains(&format!("async fn {}(", r.handler)) {
            admin
        } else {
            api
        };
        out.push((r, src));
    }
    for mut r in routes_in_source(admin) {
        r.path = format!("/admin{}", r.path);
        out.push((r, admin));
    }
    out
}

/// Whether a handler takes a back-office session.
fn takes_session(src: &str, handler: &str) -> bool {
    let Some(at) = src.find(&format!("async fn {handler}(")) else {
        return false;
    };
    src[at..at + src[at..].find('{').expect("a body")].contains(": SessionToken")
}

#[test]
fn the_document_lists_exactly_the_routes_of_the_router() {
    let sourced = all_routes();
    let routes: Vec<Route> = sourced.iter().map(|(r, _)| r.clone()).collect();
    assert!(
        routes.len() >= 10,
        "the parser found too few routes: {routes:?}"
    );
    let doc = serde_json::to_value(server::openapi::document()).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["servers"][0]["url"], "/api/v1");

    let routed: BTreeSet<(String, String)> = routes
        .iter()
        .map(|r| (r.path.clone(), r.method.clone()))
        .collect();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if item.get(method).is_some() {
                documented.insert((path.clone(), method.to_string()));
            }
        }
    }
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from the document: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "documented but not routed: {unrouted:?}"
    );

    for (r, src) in &sourced {
        let op = &doc["paths"][&r.path][&r.method];
        let secured_by = |scheme: &str| {
            op["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|req| req.get(scheme).is_some()))
        };
        let needs = takes_terminal(src, &r.handler);
        let session = takes_session(src, &r.handler);
        assert_eq!(
            secured_by("terminalToken"),
            needs,
            "{} {}: security in the document",
            r.method,
            r.path
        );
        assert_eq!(
            secured_by("adminSession") && secured_by("adminCookie"),
            session,
            "{} {}: the back office's security in the document",
            r.method,
            r.path
        );
        assert_eq!(
            op["responses"].get("401").is_some(),
            needs || session || r.path == "/enroll" || r.path == "/admin/session",
            "{} {}: a 401 answer",
            r.method,
            r.path
        );
        assert!(
            ["200", "201", "204"]
                .iter()
                .any(|s| op["responses"].get(*s).is_some()),
            "{} {}",
            r.method,
            r.path
        );
        // Every error answer is an ErrorBody.
        for (status, resp) in op["responses"].as_object().unwrap() {
            if status.starts_with('2') {
                continue;
            }
            let schema = &resp["content"]["application/json"]["schema"];
            assert_eq!(
                schema["allOf"][0]["$ref"], "#/components/schemas/ErrorBody",
                "{} {} {status}",
                r.method, r.path
            );
        }
    }
    // Every error code the server's code answers with is documented on some route.
    let mut documented_codes = BTreeSet::new();
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            for resp in op["responses"].as_object().unwrap().values() {
                let schema = &resp["content"]["application/json"]["schema"];
                for c in schema["allOf"][1]["properties"]["code"]["enum"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    documented_codes.insert(c.as_str().unwrap().to_string());
                }
            }
        }
    }
    let server_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/server");
    let backoffice_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/server/backoffice");
    let files = std::fs::read_dir(server_dir)
        .unwrap()
        .chain(std::fs::read_dir(backoffice_dir).unwrap());
    for entry in files {
        let path = entry.unwrap().path();
        // The store knows nothing of HTTP; only the service and API files answer codes.
        if path.is_dir() || path.file_name().is_some_and(|n| n == "openapi.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (at, _) in text.match_indices("ErrorCode::") {
            let name: String = text[at + "ErrorCode::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            let code = serde_json::to_value(
                serde_json::from_value::<bonuskassa::protocol::server::ErrorCode>(json!(
                    screaming_snake(&name)
                ))
                .unwrap_or_else(|e| panic!("{}: ErrorCode::{name}: {e}", path.display())),
            )
            .unwrap();
            assert!(
                documented_codes.contains(code.as_str().unwrap()),
                "{}: ErrorCode::{name} is answered but documented on no route",
                path.display()
            );
        }
    }

    let scheme = &doc["components"]["securitySchemes"]["terminalToken"];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");
}

/// Validates JSON against the schemas of the served document.
struct Schemas {
    doc: Value,
}

impl Schemas {
    fn check(&self, schema: &Value, instance: &Value) -> Result<(), String> {
        crate::common::check_schema(&self.doc["components"], schema, instance)
    }

    fn operation(&self, method: &Method, path: &str) -> &Value {
        let op = &self.doc["paths"][path][method.as_str().to_lowercase()];
        assert!(op.is_object(), "{method} {path} is not documented");
        op
    }

    fn request_schema(&self, method: &Method, path: &str) -> &Value {
        &self.operation(method, path)["requestBody"]["content"]["application/json"]["schema"]
    }

    fn response_schema(&self, method: &Method, path: &str, status: StatusCode) -> &Value {
        let resp = &self.operation(method, path)["responses"][status.as_str()];
        assert!(
            resp.is_object(),
            "{method} {path} does not document status {status}"
        );
        &resp["content"]["application/json"]["schema"]
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    server: RunningServer,
    http: reqwest::Client,
    token: String,
    schemas: Schemas,
    /// (route, body) of requests refused for an unknown field.
    refused: Vec<(String, Value)>,
}

impl Fixture {
    async fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().to_path_buf();
        let server = srv::demo(&data, std::sync::Arc::new(SystemClock), true);
        let code = srv::enroll_code(&data, Utc::now());
        let http = reqwest::Client::new();
        let doc: Value = http
            .get(format!("{}/api/v1/openapi.json", server.url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut f = Fixture {
            _dir: dir,
            server,
            http,
            token: String::new(),
            schemas: Schemas { doc },
            refused: Vec::new(),
        };
        let (s, v) = f
            .exchange(
                Method::POST,
                "/enroll",
                "/enroll",
                Some(json!({ "code": code, "name": "Касса 1" })),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        f.token = v["token"].as_str().unwrap().to_string();
        f
    }

    /// Sends a request to `url` (under `/api/v1`) of the documented `route`, and checks the
    /// request (when accepted) and the answer against the document.
    async fn exchange(
        &mut self,
        method: Method,
        route: &str,
        url: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method.clone(), format!("{}/api/v1{url}", self.server.url()));
        if !self.token.is_empty() {
            req = req.bearer_auth(&self.token);
        }
        if let Some(b) = &body {
            req = req.json(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        if status == StatusCode::NO_CONTENT {
            let documented = &self.schemas.operation(&method, route)["responses"]["204"];
            assert!(
                documented.is_object(),
                "{method} {url}: 204 is not documented"
            );
            return (status, Value::Null);
        }
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let text = resp.text().await.unwrap();
        assert!(
            content_type.starts_with("application/json"),
            "{method} {url} -> {status} {content_type}: {text}"
        );
        let answer: Value = serde_json::from_str(&text).unwrap();
        let schema = self.schemas.response_schema(&method, route, status);
        if let Err(e) = self.schemas.check(schema, &answer) {
            panic!("{method} {url} -> {status}: the answer breaks its schema: {e}\n{answer:#}");
        }
        if let Some(b) = body {
            let schema = self.schemas.request_schema(&method, route);
            if status.is_success() {
                if let Err(e) = self.schemas.check(schema, &b) {
                    panic!(
                        "{method} {url}: the server accepted a body its schema refuses: {e}\n{b:#}"
                    );
                }
            } else if status == StatusCode::BAD_REQUEST
                && answer["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("unknown field")
            {
                self.refused.push((route.to_string(), b));
            }
        }
        (status, answer)
    }

    async fn post(&mut self, path: &str, body: Value) -> (StatusCode, Value) {
        self.exchange(Method::POST, path, path, Some(body)).await
    }

    async fn get(&mut self, route: &str, url: &str) -> (StatusCode, Value) {
        self.exchange(Method::GET, route, url, None).await
    }

    async fn delete(&mut self, route: &str, url: &str) -> (StatusCode, Value) {
        self.exchange(Method::DELETE, route, url, None).await
    }

    async fn ops(&mut self, ops: Vec<Value>) -> Vec<Value> {
        let (s, v) = self.post("/operations", json!({ "operations": ops })).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["results"].as_array().unwrap().clone()
    }
}

/// A receipt with every optional field the document names: the store, the cashier, a
/// line's excise mark, a line sold by weight.
fn receipt(id: &str, kind: &str, original: Option<&str>, price: &str, quantity: &str) -> Value {
    let mut cappuccino = cappuccino(price, quantity);
    cappuccino["excise"] = json!(false);
    let r = match original {
        Some(o) => ReceiptJson::return_of(id, o),
        None => ReceiptJson::sale(id),
    };
    r.with("kind", kind)
        .with("store", "store-1")
        .with("cashier", "Кассир 1")
        .line(cappuccino)
        .line(json!({ "id": "2", "name": "Сыр", "price": 999, "quantity": "0.353", "measure": "weight" }))
        .json()
}

fn op(seq: u64, cashier_id: i64, body: Value) -> Value {
    json!({ "id": uuid::Uuid::now_v7().to_string(), "seq": seq, "at": Utc::now().to_rfc3339(),
            "cashier": "Кассир Мария", "cashier_id": cashier_id, "body": body })
}

#[tokio::test]
async fn a_real_exchange_matches_the_document() {
    let mut f = Fixture::new().await;

    let (s, _) = f.get("/health", "/health").await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = f.get("/openapi.json", "/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = f
        .post(
            "/enroll",
            json!({ "code": "WRONG-CODE", "name": "Касса 9" }),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Cashiers.
    let (s, _) = f.post("/cashiers/login", json!({ "code": "1111" })).await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = f.post("/cashiers/login", json!({ "code": "0000" })).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");

    // Lookups, found and not, and refusals.
    let (s, customer) = f
        .post("/customers/lookup", json!({ "phone": "+79990000001" }))
        .await;
    assert_eq!(s, StatusCode::OK);
    let id = customer["id"].as_str().unwrap().to_string();
    let (s, _) = f
        .post("/customers/lookup", json!({ "card": "2900000000018" }))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = f
        .post("/customers/lookup", json!({ "phone": "+79990009999" }))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = f.post("/customers/lookup", json!({})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = f
        .post(
            "/customers/lookup",
            json!({ "phone": "+79990000001", "pin": "1" }),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // A calculation, with amounts as strings and as integers.
    let (s, v) = f
        .post(
            "/calc",
            json!({ "customer_id": id, "receipt": receipt("r-1", "sale", None, "1000.00", "3"), "spend": 100 }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _) = f
        .post(
            "/calc",
            json!({ "customer_id": "nobody", "receipt": receipt("r-1", "sale", None, "1", "1") }),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = f
        .post("/calc", json!({ "customer_id": id, "receipt": receipt("r-1", "sale", None, "1.5", "1"), "spend": 1.5 }))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Every kind of operation, applied, rejected and duplicated.
    let mut sale = op(
        1,
        1,
        json!({ "kind": "sale", "customer_id": id,
        "receipt": receipt("r-1", "sale", None, "1000.00", "3"), "spend": "100" }),
    );

    // The sale's spend held first, named by its id; placed again, refused, released.
    let hold_id = sale["id"].as_str().unwrap().to_string();
    holds::exchange(&mut f, &id, &hold_id).await;
    sale["body"]["hold"] = json!(hold_id);
    let results = f
        .ops(vec![
            sale.clone(),
            op(2, 1, json!({ "kind": "return", "receipt": receipt("r-2", "return", Some("r-1"), "1000.00", "1") })),
            op(3, 1, json!({ "kind": "registration", "customer_id": uuid::Uuid::now_v7().to_string(),
                "phone": "8 (999) 000-12-34", "consent_processing": true, "consent_advertising": true,
                "questionnaire": { "first_name": "Вера", "last_name": "Иванова", "gender": "female",
                                   "birth_date": "1990-05-01", "referrer": "+79990000001" },
                "card": { "kind": "virtual" } })),
            op(4, 1, json!({ "kind": "consent", "customer_id": id, "processing": true, "advertising": false })),
            op(5, 2, json!({ "kind": "manual_change", "customer_id": id, "amount": "-5.50",
                "reason": "жалоба", "lifetime_days": 30 })),
            op(6, 1, json!({ "kind": "manual_change", "customer_id": id, "amount": 5, "reason": "x" })),
            op(7, 1, json!({ "kind": "sale", "customer_id": "nobody",
                "receipt": receipt("r-3", "sale", None, "1", "1"), "spend": "0" })),
        ])
        .await;
    let statuses: Vec<&str> = results
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "applied", "applied", "applied", "applied", "applied", "rejected", "rejected"
        ],
        "{results:#?}"
    );
    let again = f.ops(vec![sale]).await;
    assert_eq!(again[0]["status"], "duplicate");
    for bad in [
        op(
            8,
            1,
            json!({ "kind": "consent", "customer_id": id, "advertising": false, "extra": 1 }),
        ),
        op(
            8,
            1,
            json!({ "kind": "registration", "customer_id": "c-1", "phone": "+79990001111",
            "consent_processing": true, "card": { "kind": "plastic", "number": "1", "pin": "1" } }),
        ),
    ] {
        let (s, v) = f.post("/operations", json!({ "operations": [bad] })).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    }
    // serde ignores the fields of a unit variant's object: the schema must admit them too.
    let results = f
        .ops(vec![op(
            8,
            1,
            json!({ "kind": "registration", "customer_id": uuid::Uuid::now_v7().to_string(),
            "phone": "+79990001111", "consent_processing": true,
            "card": { "kind": "virtual", "number": "1" } }),
        )])
        .await;
    assert_eq!(results[0]["status"], "applied", "{results:#?}");

    // History, feed, rules.
    let (s, v) = f
        .get(
            "/customers/{id}/history",
            &format!("/customers/{id}/history?limit=5"),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(!v["entries"].as_array().unwrap().is_empty());
    let (s, _) = f
        .get("/customers/{id}/history", "/customers/nobody/history")
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = f
        .get("/feed/customers", "/feed/customers?since=0&limit=2")
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = f.get("/rules", "/rules").await;
    assert_eq!(s, StatusCode::OK);

    // SMS codes: sent, too soon, wrong, and the demo inbox.
    let sms = json!({ "phone": "+79990005555", "purpose": "registration" });
    let (s, _) = f.post("/sms/send", sms.clone()).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = f.post("/sms/send", sms).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    let (s, inbox) = f.get("/demo/sms", "/demo/sms").await;
    assert_eq!(s, StatusCode::OK);
    let text = inbox["messages"][0]["text"].as_str().unwrap();
    let code: String = text.chars().filter(char::is_ascii_digit).take(6).collect();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (s, _) = f
        .post(
            "/sms/verify",
            json!({ "phone": "+79990005555", "purpose": "registration", "code": wrong }),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = f
        .post(
            "/sms/verify",
            json!({ "phone": "+79990005555", "purpose": "registration", "code": code }),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = f
        .post(
            "/sms/verify",
            json!({ "phone": "+79990006666", "purpose": "spend", "code": "123456" }),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Without a token.
    f.token.clear();
    let (s, _) = f.get("/rules", "/rules").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Whatever the server refused for an unknown field, its schema refuses too.
    assert!(f.refused.len() >= 3, "{:?}", f.refused);
    for (route, body) in &f.refused {
        let schema = f.schemas.request_schema(&Method::POST, route);
        assert!(
            f.schemas.check(schema, body).is_err(),
            "POST {route}: the schema admits a body the server refused for an unknown field: {body}"
        );
    }
}

/// A validator for one named schema of the document.
fn component(name: &str) -> jsonschema::Validator {
    let doc = serde_json::to_value(server::openapi::document()).unwrap();
    let schema = json!({ "$ref": format!("#/components/schemas/{name}") });
    crate::common::schema_validator(&doc["components"], &schema).unwrap()
}

/// Runs `cases` strings from `regex` through `accepts` (the server's parser) and checks the
/// schema admits each one the parser accepts.
fn admits_what_the_parser_accepts(
    schema: &str,
    regex: &str,
    cases: u32,
    accepts: impl Fn(&Value) -> bool,
) {
    use proptest::test_runner::{Config, TestRunner};
    let validator = component(schema);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = proptest::string::string_regex(regex).unwrap();
    runner
        .run(&strategy, |s| {
            let v = json!(s);
            proptest::prop_assert!(
                !accepts(&v) || validator.is_valid(&v),
                "{schema} refuses {s:?}, which the server accepts"
            );
            Ok(())
        })
        .unwrap();
}

#[test]
fn input_schemas_admit_every_spelling_the_parser_accepts() {
    use bonuskassa::domain::money::{Bonus, Money, Quantity};
    use bonuskassa::domain::phone::Phone;
    fn parses<T: serde::de::DeserializeOwned>(v: &Value) -> bool {
        serde_json::from_value::<T>(v.clone()).is_ok()
    }
    let amount = "[-]?[0-9 .\t\u{85}\u{a0}-]{0,12}";
    let long = "[0-9]{0,10}[.][0-9]{15,32}";
    admits_what_the_parser_accepts("MoneyInput", amount, 3000, parses::<Money>);
    admits_what_the_parser_accepts("BonusInput", amount, 3000, parses::<Bonus>);
    admits_what_the_parser_accepts("QuantityInput", amount, 3000, parses::<Quantity>);
    admits_what_the_parser_accepts("MoneyInput", long, 1000, parses::<Money>);
    admits_what_the_parser_accepts("QuantityInput", long, 1000, parses::<Quantity>);
    let phone = "[ (+\u{feff}]{0,2}[78]?[ (]{0,2}9[0-9 ()\\-.\u{2011}\u{2212}\u{a0}\u{85}\u{ad}\u{200b}]{9,16}";
    admits_what_the_parser_accepts("Phone", phone, 3000, parses::<Phone>);
    let junk = "[+0-9 ()\\-.\u{2011}\u{a0}\u{85}a]{0,14}";
    admits_what_the_parser_accepts("Phone", junk, 3000, parses::<Phone>);

    // The corners, and integers on both sides of the bounds.
    let corners = [
        json!("1."),
        json!(".5"),
        json!("-0"),
        json!(" 12 "),
        json!("\u{85}1\u{85}"),
        json!("1.000"),
        json!("007"),
        json!("0.001"),
        json!("1.00000000000000000000000000001"),
        json!("0.00000000000000000000000000001"),
        json!("999999999.99000000000000000001"),
        json!("0.10000000000000000001"),
        json!("999999999.99"),
        json!(0),
        json!(1),
        json!(-1),
        json!(1_000_000),
        json!(1_000_001),
        json!(1_000_000_000),
        json!(1_000_000_001),
        json!(-1_000_000_000),
        json!(1.0),
    ];
    for (schema, accepts) in [
        ("MoneyInput", parses::<Money> as fn(&Value) -> bool),
        ("BonusInput", parses::<Bonus>),
        ("QuantityInput", parses::<Quantity>),
    ] {
        let validator = component(schema);
        for v in &corners {
            assert!(
                !accepts(v) || validator.is_valid(v),
                "{schema} refuses {v}, which the server accepts"
            );
        }
    }
    // And what the parser refuses for its form, the schema refuses too.
    let money = component("MoneyInput");
    for v in [
        json!("1.234"),
        json!("1e5"),
        json!("12a"),
        json!(1.5),
        json!(null),
    ] {
        assert!(!parses::<Money>(&v) && !money.is_valid(&v), "{v}");
    }
    let quantity = component("QuantityInput");
    for v in [json!("0"), json!("-1"), json!("0.0005"), json!(0)] {
        assert!(!parses::<Quantity>(&v) && !quantity.is_valid(&v), "{v}");
    }
}

mod admin;
mod holds;
