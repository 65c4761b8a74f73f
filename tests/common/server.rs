//! The one server rig of the test binaries: demo data in a store, a server on a free port
//! of 127.0.0.1 over it, a till enrolled the way the till does it (a code from the admin,
//! `POST /api/v1/enroll`), and what the tests read back from the server's data — through
//! the store's API ([`store::read`] over a `ReadTx`) wherever it offers the read.

use std::sync::Arc;

use bonuskassa::clock::Clock;
use bonuskassa::protocol::server::{OperationResult, OperationStatus};
use bonuskassa::server::store::{self, Census, ConsentRow, CustomerKey, Location, Store};
use bonuskassa::server::{self, RunningServer, ServerConfig, admin};
use chrono::{DateTime, Utc};

/// Writes the demo data (store, cashiers, customers, rules) as of `at` into `location`.
pub fn demo_data(location: impl Into<Location>, at: DateTime<Utc>) {
    admin::demo_data(location, at).unwrap();
}

/// The server's configuration on `location`: the log SMS gateway, and its demo inbox
/// (`/api/v1/demo/sms`) when `demo_endpoints`.
pub fn config(location: impl Into<Location>, demo_endpoints: bool) -> ServerConfig {
    ServerConfig {
        demo_endpoints,
        ..ServerConfig::at(location.into())
    }
}

/// A server with `config`, reading `clock`, on a free port of 127.0.0.1.
pub fn spawn(config: ServerConfig, clock: Arc<dyn Clock>) -> RunningServer {
    spawn_at(config, clock, "127.0.0.1:0")
}

/// A server with `config` on `addr` (a restart on the port the tills know).
pub fn spawn_at(config: ServerConfig, clock: Arc<dyn Clock>, addr: &str) -> RunningServer {
    server::spawn(config, clock, addr).unwrap()
}

/// Demo data as of `clock.now()` in `location`, and a server over it (see [`spawn`]).
pub fn demo(
    location: impl Into<Location>,
    clock: Arc<dyn Clock>,
    demo_endpoints: bool,
) -> RunningServer {
    let location = location.into();
    demo_data(&location, clock.now());
    spawn(config(location, demo_endpoints), clock)
}

/// A one-time enrollment code for the demo store.
pub fn enroll_code(location: impl Into<Location>, at: DateTime<Utc>) -> String {
    admin::enroll_code(location, admin::DEMO_STORE, at).unwrap()
}

/// A till enrolled over HTTP: its bearer token and id.
pub struct Enrolled {
    pub token: String,
    pub terminal_id: String,
}

/// Enrolls «Касса 1» with a fresh code of the demo store, as a till does.
pub async fn enroll(
    http: &reqwest::Client,
    server: &RunningServer,
    location: impl Into<Location>,
    at: DateTime<Utc>,
) -> Enrolled {
    let code = enroll_code(location, at);
    let resp = http
        .post(format!("{}/api/v1/enroll", server.url()))
        .json(&serde_json::json!({ "code": code, "name": "Касса 1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::OK);
    let body: serde_json::Value = resp.json().await.unwrap();
    Enrolled {
        token: body["token"].as_str().unwrap().to_string(),
        terminal_id: body["terminal_id"].as_str().unwrap().to_string(),
    }
}

/// The server's store at `location` (opened beside a running server, as an admin does).
pub fn open(location: impl Into<Location>) -> Arc<dyn Store> {
    store::open(&location.into()).unwrap()
}

/// The answer the server recorded for an operation id (as JSON), if it ever saw it.
pub fn answer_json(location: impl Into<Location>, id: &str) -> Option<serde_json::Value> {
    let store = open(location);
    let answer = store::read(&*store, |r| r.operation_answer(id)).unwrap()?;
    Some(serde_json::from_str(&answer).unwrap())
}

/// The answer the server recorded for an operation id, if it ever saw it.
pub fn answer(location: impl Into<Location>, id: &str) -> Option<OperationResult> {
    answer_json(location, id).map(|a| serde_json::from_value(a).unwrap())
}

/// How many times the server applied an operation id (0 or 1, never more).
pub fn applied(location: impl Into<Location>, id: &str) -> i64 {
    match answer(location, id) {
        Some(a) if a.status == OperationStatus::Applied => 1,
        _ => 0,
    }
}

/// Everything the server counted: operations, sales, purchases, ledger rows.
pub fn census(location: impl Into<Location>) -> Census {
    let store = open(location);
    store::read(&*store, |r| r.census()).unwrap()
}

/// The audit events of the server in a SQLite data dir: (event, reason).
///
/// A customer's first name, middle name, e-mail and birth date (YYYY-MM-DD) as the server
/// keeps them, by phone (E.164). Raw SQL: only these tests read them back.
pub fn questionnaire_of(
    data: &std::path::Path,
    phone: &str,
) -> (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
) {
    let db = rusqlite::Connection::open(server::database_path(data)).unwrap();
    db.query_row(
        "SELECT first_name, middle_name, email, birth_date FROM customers WHERE phone = ?1",
        [phone],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )
    .unwrap()
}

/// Raw SQL: the store writes audit events (`CustomerTx::insert_audit`) but offers no read
/// of them; only these tests read them back.
pub fn audit_events(data: &std::path::Path) -> Vec<(String, String)> {
    let db = rusqlite::Connection::open(server::database_path(data)).unwrap();
    let mut stmt = db
        .prepare("SELECT event, reason FROM audit_events")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The consents the server keeps of the customer with this phone (E.164), oldest first.
pub fn consents(location: impl Into<Location>, phone: &str) -> Vec<ConsentRow> {
    let store = open(location);
    store::read(&*store, |r| {
        let c = r
            .customer(CustomerKey::Phone(phone))?
            .expect("the customer");
        r.consents(&c.id)
    })
    .unwrap()
}

/// What changed after the two consents of a demo customer's registration: (kind, given).
pub fn consent_changes(rows: &[ConsentRow]) -> Vec<(&str, bool)> {
    rows[2..]
        .iter()
        .map(|r| (r.kind.as_str(), r.granted))
        .collect()
}

/// The password the tests' back-office accounts choose at their first sign-in.
pub const ADMIN_PASSWORD: &str = "a long enough password";

/// A back-office account made on the server's command line (as `admin add` does), signed
/// in over HTTP with its one-time password, that password changed to [`ADMIN_PASSWORD`]:
/// the session token.
pub async fn admin_session(
    http: &reqwest::Client,
    server: &RunningServer,
    location: impl Into<Location>,
    email: &str,
    role: bonuskassa::server::store::AccountRole,
    stores: &[&str],
) -> String {
    use bonuskassa::server::backoffice::{Actor, accounts};
    let store = open(location);
    let stores: Vec<String> = stores.iter().map(|s| s.to_string()).collect();
    let (_, otp) =
        accounts::add_account(&*store, &Actor::cli(), email, role, &stores, Utc::now()).unwrap();
    let url = |p: &str| format!("{}/api/v1/admin{p}", server.url());
    let v: serde_json::Value = http
        .post(url("/session"))
        .json(&serde_json::json!({ "email": email, "password": otp.expose() }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let first = v["token"].as_str().expect("signed in").to_string();
    let v: serde_json::Value = http
        .post(url("/password"))
        .bearer_auth(&first)
        .json(&serde_json::json!({ "current": otp.expose(), "new": ADMIN_PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["token"].as_str().expect("password changed").to_string()
}
