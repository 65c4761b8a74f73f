//! The cash-register bridge over real HTTP on 127.0.0.1, with a checkout session behind it
//! (no window) and a real server: the key, the sale flow from the register's side (open,
//! long poll, the cashier applies, close, close again), one receipt at a time, a receipt
//! changed before the close, a register that vanishes, the cashier's cancel, returns, the
//! state machine's refusals and bad input. Every answer read here is checked against the
//! schema docs/bridge-openapi.json gives for its path, method and status.
//!
//! Receipts kept over a restart of the till are in `bridge/kept.rs`; the till's loyalty
//! shift in `bridge/shift.rs`.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::common::panel::{CASHIER, Headless, KARINA};
use crate::common::{Rig, receipt, return_of};
use bonuskassa::bridge::wire::{ReceiptStatus, State};
use bonuskassa::checkout::{Action, AppliedWhat, Problem, Screen};
use bonuskassa::domain::receipt::Receipt;
use bonuskassa::terminal::ReturnSale;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use rust_decimal::Decimal;
use serde_json::{Value, json};

/// A close timeout no test reaches.
const LONG: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------------------
// The contract

/// docs/bridge-openapi.json, read once.
fn doc() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/bridge-openapi.json");
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
            panic!("{path}: {e}: the bridge's answers cannot be checked against its contract")
        });
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path} is not JSON: {e}"))
    })
}

/// Validates `value` against `schema`, whose `$ref`s point into the doc's components.
fn validate(schema: &Value, value: &Value) -> Result<(), String> {
    crate::common::check_schema(&doc()["components"], schema, value)
}

/// The doc's path template for a request path: `/v1/receipts/x/close` →
/// `/v1/receipts/{id}/close`.
fn route(path: &str) -> Option<&'static str> {
    let path = path.split('?').next().unwrap_or_default();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["v1", "ping"] => Some("/v1/ping"),
        ["v1", "receipts"] => Some("/v1/receipts"),
        ["v1", "receipts", id] if !id.is_empty() => Some("/v1/receipts/{id}"),
        ["v1", "receipts", id, "close"] if !id.is_empty() => Some("/v1/receipts/{id}/close"),
        ["v1", "receipts", id, "cancel"] if !id.is_empty() => Some("/v1/receipts/{id}/cancel"),
        ["v1", "shift", "open"] => Some("/v1/shift/open"),
        ["v1", "shift", "close"] => Some("/v1/shift/close"),
        ["v1", "shift", "report"] => Some("/v1/shift/report"),
        _ => None,
    }
}

/// Checks a real answer against the contract: the schema the doc gives for this path,
/// method and status (which must be listed there); on a path or a method the doc does not
/// have, the answer is a `BridgeError`.
fn contract(method: &str, path: &str, status: u16, body: &Value) {
    let doc = doc();
    let operation = route(path)
        .map(|r| (r, &doc["paths"][r][method.to_ascii_lowercase()]))
        .filter(|(_, op)| !op.is_null());
    let schema = match operation {
        Some((route, op)) => {
            let response = &op["responses"][status.to_string()];
            assert!(
                !response.is_null(),
                "contract: {method} {path} answered {status}, a status docs/bridge-openapi.json \
                 does not list for {method} {route}: {body}"
            );
            response["content"]["application/json"]["schema"].clone()
        }
        None => json!({ "$ref": "#/components/schemas/BridgeError" }),
    };
    if let Err(e) = validate(&schema, body) {
        panic!(
            "contract: {method} {path} → {status} does not match docs/bridge-openapi.json: {e}\n{body}"
        );
    }
}

/// Checks a status the register's client parsed against `ReceiptStatus` in the contract.
fn contract_status(status: &ReceiptStatus) {
    let schema = json!({ "$ref": "#/components/schemas/ReceiptStatus" });
    let value = serde_json::to_value(status).unwrap();
    if let Err(e) = validate(&schema, &value) {
        panic!("contract: ReceiptStatus: {e}\n{value}");
    }
}

// ---------------------------------------------------------------------------------------
// The register's side, over raw HTTP

struct Answer {
    what: String,
    status: u16,
    body: Value,
}

impl Answer {
    /// The status, which must be `status`.
    #[track_caller]
    fn ok(self, status: u16) -> ReceiptStatus {
        assert_eq!(self.status, status, "{}: {}", self.what, self.body);
        serde_json::from_value(self.body.clone())
            .unwrap_or_else(|e| panic!("{}: not a receipt status ({e}): {}", self.what, self.body))
    }

    /// A refusal with this status and code; its message.
    #[track_caller]
    fn refused(self, status: u16, code: &str) -> String {
        assert_eq!(
            (self.status, self.body["code"].as_str()),
            (status, Some(code)),
            "{}: {}",
            self.what,
            self.body
        );
        let message = self.body["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(!message.trim().is_empty(), "{}: {}", self.what, self.body);
        message
    }
}

/// A cash register talking to one till's bridge.
struct Register<'a> {
    till: &'a Headless,
    http: reqwest::Client,
}

impl<'a> Register<'a> {
    fn new(till: &'a Headless) -> Register<'a> {
        Register {
            till,
            // No request may hang: the longest wait asked for here is 5 s.
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
        }
    }

    /// Any request; `auth` is the whole Authorization header, if any. The answer must be
    /// JSON that matches the contract.
    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        auth: Option<String>,
    ) -> Answer {
        let method_ = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method_, self.till.url(path));
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, "application/json").body(body);
        }
        if let Some(auth) = auth {
            request = request.header(AUTHORIZATION, auth);
        }
        let what = format!("{method} {path}");
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{what}: no answer: {e}"));
        let status = response.status().as_u16();
        let json = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let bytes = response.bytes().await.unwrap();
        assert!(
            json,
            "{what} → {status}: not application/json: {}",
            String::from_utf8_lossy(&bytes)
        );
        let body: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "{what} → {status}: not JSON ({e}): {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        contract(method, path, status, &body);
        Answer { what, status, body }
    }

    /// A request with the till's key.
    async fn call(&self, method: &str, path: &str, body: Option<Vec<u8>>) -> Answer {
        let auth = format!("Bearer {}", self.till.key);
        self.send(method, path, body, Some(auth)).await
    }

    async fn post(&self, path: &str, body: impl Into<Vec<u8>>) -> Answer {
        self.call("POST", path, Some(body.into())).await
    }

    async fn open(&self, receipt: &Receipt) -> Answer {
        self.post("/v1/receipts", serde_json::to_vec(receipt).unwrap())
            .await
    }

    async fn get(&self, id: &str, wait_s: u32) -> Answer {
        self.call("GET", &format!("/v1/receipts/{id}?wait_s={wait_s}"), None)
            .await
    }

    async fn close(&self, printed: &Receipt) -> Answer {
        self.close_as(&printed.id, printed).await
    }

    /// A close of receipt `id` with `printed` as the printed receipt.
    async fn close_as(&self, id: &str, printed: &Receipt) -> Answer {
        let body = json!({ "receipt": printed }).to_string();
        self.post(&format!("/v1/receipts/{id}/close"), body).await
    }

    async fn cancel(&self, id: &str) -> Answer {
        self.call("POST", &format!("/v1/receipts/{id}/cancel"), None)
            .await
    }
}

// ---------------------------------------------------------------------------------------
// Helpers

/// A tap of the cashier that must go through.
async fn tap(till: &Headless, action: Action) {
    let what = format!("{action:?}");
    assert_eq!(
        till.panel.cashier(action).await,
        None,
        "the cashier's {what}"
    );
}

/// The register opens a sale, the cashier finds Карина (spending the most if `spend`) and
/// applies it; the register's long poll gets it applied.
async fn applied_sale(
    till: &Headless,
    reg: &Register<'_>,
    r: &Receipt,
    spend: bool,
) -> ReceiptStatus {
    assert_eq!(reg.open(r).await.ok(201).state, State::Open);
    tap(till, Action::FindByPhone(KARINA.into())).await;
    if spend {
        tap(till, Action::SpendMax).await;
    }
    tap(till, Action::Apply).await;
    let status = reg.get(&r.id, 5).await.ok(200);
    assert_eq!(status.state, State::Applied, "{status:?}");
    status
}

/// Has Cyrillic letters: a line printed in Russian.
fn russian(line: &str) -> bool {
    line.chars().any(|c| ('\u{0400}'..='\u{04FF}').contains(&c))
}

// ---------------------------------------------------------------------------------------
// The tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn it_listens_on_loopback_only_and_every_request_needs_the_key() {
    let rig = Rig::new();
    let till = Headless::start(&rig, Some(CASHIER), LONG).await;
    let reg = Register::new(&till);
    assert!(till.addr.ip().is_loopback(), "{}", till.addr);
    assert_ne!(till.addr.port(), 0);

    // No key, on every path, even one that does not exist.
    for (method, path) in [
        ("GET", "/v1/ping"),
        ("POST", "/v1/receipts"),
        ("GET", "/v1/receipts/x"),
        ("POST", "/v1/receipts/x/close"),
        ("POST", "/v1/receipts/x/cancel"),
        ("GET", "/nowhere"),
    ] {
        let body = (method == "POST").then(|| b"{}".to_vec());
        let m = reg
            .send(method, path, body, None)
            .await
            .refused(401, "unauthorized");
        assert!(m.contains("no key"), "{m}");
    }
    // A wrong key, an empty one, the key without the scheme, another scheme.
    let wrong = [
        "Bearer not-the-key".to_string(),
        "Bearer ".to_string(),
        format!("Bearer {}x", till.key),
        till.key.clone(),
        format!("Basic {}", till.key),
    ];
    for auth in wrong {
        let m = reg
            .send("GET", "/v1/ping", None, Some(auth.clone()))
            .await
            .refused(401, "unauthorized");
        assert!(!m.contains(&till.key), "the refusal repeats the key: {m}");
    }
    // Nothing was opened by the refused requests.
    reg.get("x", 0).await.refused(404, "not_found");

    // The right key.
    let pong = reg.call("GET", "/v1/ping", None).await;
    assert_eq!((pong.status, &pong.body), (200, &json!({ "ok": true })));
    till.client.ping().await.unwrap();
    // The auth scheme is case-insensitive (RFC 9110 §11.1).
    let pong = reg
        .send(
            "GET",
            "/v1/ping",
            None,
            Some(format!("bearer {}", till.key)),
        )
        .await;
    assert_eq!(pong.status, 200, "{}", pong.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_logged_in_is_no_cashier_and_leaves_nothing_open() {
    let rig = Rig::new();
    let till = Headless::start(&rig, None, LONG).await;
    let reg = Register::new(&till);
    let r = receipt("nc-1", "300.00");
    let m = reg.open(&r).await.refused(409, "no_cashier");
    assert!(m.contains("logged in"), "{m}");
    assert_eq!(till.panel.screen().await, Screen::Login);
    // The refused receipt is not kept: nothing to wait for, nothing busy.
    reg.get("nc-1", 0).await.refused(404, "not_found");

    tap(
        &till,
        Action::Login {
            code: CASHIER.into(),
        },
    )
    .await;
    let opened = reg.open(&r).await.ok(201);
    assert_eq!((opened.id.as_str(), opened.state), ("nc-1", State::Open));
    assert_eq!(till.panel.screen().await, Screen::Find { receipt: r });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_applied_by_the_cashier_is_queued_only_when_the_register_closes_it() {
    let rig = Rig::new();
    let till = Headless::start(&rig, Some(CASHIER), LONG).await;
    let reg = Register::new(&till);
    let r = receipt("sale-1", "2000.00");

    let opened = reg.open(&r).await.ok(201);
    assert_eq!(opened.state, State::Open);
    assert!(opened.result.is_none() && opened.reason.is_none());
    assert_eq!(
        till.panel.screen().await,
        Screen::Find { receipt: r.clone() }
    );

    // The register waits before the cashier has done anything.
    let client = till.client.clone();
    let started = Instant::now();
    let poll = tokio::spawn(async move { client.status("sale-1", 5).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !poll.is_finished(),
        "the long poll answered while the receipt was open"
    );

    tap(&till, Action::FindByPhone(KARINA.into())).await;
    tap(&till, Action::SpendMax).await;
    tap(&till, Action::Apply).await;
    let Screen::AtRegister(at_register) = till.panel.screen().await else {
        panic!("not at the register: {:?}", till.panel.screen().await)
    };
    let AppliedWhat::Sale { priced, .. } = &at_register.what else {
        panic!("not a sale: {at_register:?}")
    };
    let applied = poll.await.unwrap().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the long poll waited out its time instead of answering the apply"
    );
    contract_status(&applied);
    assert_eq!(
        (applied.id.as_str(), applied.state),
        ("sale-1", State::Applied)
    );
    let result = applied
        .result
        .clone()
        .expect("an applied receipt has its result");

    // The prices to print add up to what the customer pays.
    assert!(!result.impacts.is_empty());
    let printed: Decimal = result
        .impacts
        .iter()
        .map(|i| i.price.amount() * i.quantity.amount())
        .sum();
    assert_eq!(printed, result.to_pay.amount());
    for p in &r.positions {
        let quantity: Decimal = result
            .impacts
            .iter()
            .filter(|i| i.position_id == p.id)
            .map(|i| i.quantity.amount())
            .sum();
        assert_eq!(quantity, p.quantity.amount(), "position {}", p.id);
    }
    assert!(
        result
            .impacts
            .iter()
            .all(|i| r.positions.iter().any(|p| p.id == i.position_id))
    );
    assert_eq!(result.total, r.total());
    assert_eq!(
        result.discount.amount(),
        result.total.amount() - result.to_pay.amount()
    );
    assert!(
        result.spent.amount() > Decimal::ZERO,
        "SpendMax spent nothing"
    );
    assert_eq!(result.spent, priced.spend);
    assert!(result.discount.amount() >= result.spent.amount());
    assert_eq!(result.to_pay, priced.calculation.to_pay);
    // The ids the register keeps.
    assert_eq!(
        result.data.customer_id.as_deref(),
        Some(priced.customer.id.as_str())
    );
    let operation_id = uuid::Uuid::parse_str(&result.data.operation_id).expect("a UUID");
    assert_eq!(operation_id, at_register.operation_id);
    assert!(!result.data.offline);
    // What it prints, in Russian.
    let printable = &result.printable_data;
    assert!(!printable.lines.is_empty());
    assert!(
        printable.lines.iter().all(|l| russian(l)),
        "{:?}",
        printable.lines
    );
    assert!(
        printable
            .lines
            .iter()
            .any(|l| l.starts_with("Списано бонусов"))
    );
    assert!(!printable.card.is_empty());
    assert_eq!(printable.spent, Some(result.spent));
    assert!(printable.refunded.is_none() && printable.clawed_back.is_none());

    // Nothing is queued, let alone sent, before the register prints.
    assert_eq!(till.pending(), 0, "queued before the register printed");
    assert_eq!(rig.applied(&result.data.operation_id), 0);
    // A plain GET says the same.
    assert_eq!(reg.get("sale-1", 0).await.ok(200), applied);

    // The close: queued once, under the id the register was told.
    let closed = reg.close(&r).await;
    let closed_body = closed.body.clone();
    let closed = closed.ok(200);
    assert_eq!(closed.state, State::Closed);
    assert_eq!(closed.result.as_ref(), Some(&result));
    assert_eq!(till.pending(), 1);
    assert_eq!(till.panel.screen().await, Screen::Waiting);
    // The same close again (the register did not hear the answer): the same answer.
    let again = reg.close(&r).await;
    assert_eq!((again.status, &again.body), (200, &closed_body));
    assert_eq!(till.client.close(&r).await.unwrap(), closed);
    assert_eq!(till.pending(), 1, "a repeated close queued the sale again");

    // The server applies exactly that operation, once.
    till.sync().await;
    assert_eq!(rig.applied(&result.data.operation_id), 1);
    assert_eq!(reg.close(&r).await.ok(200), closed);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(till.pending(), 0);
    assert_eq!(rig.applied(&result.data.operation_id), 1);
    assert_eq!(reg.get("sale-1", 0).await.ok(200), closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_open_receipt_per_till_and_a_repeated_open_is_a_safe_retry() {
    let rig = Rig::new();
    let till = Headless::start(&rig, Some(CASHIER), LONG).await;
    let reg = Register::new(&till);
    let r1 = receipt("busy-1", "400.00");
    let r2 = receipt("busy-2", "10.00");

    // Two registers race: exactly one receipt opens.
    let (a, b) = tokio::join!(reg.open(&r1), reg.open(&r2));
    let (won, winner, lost) = if a.status == 201 {
        (&r1, a, b)
    } else {
        (&r2, b, a)
    };
    assert_eq!(winner.ok(201).state, State::Open);
    let m = lost.refused(409, "busy");
    assert!(m.contains(&won.id), "{m}");
    reg.cancel(&won.id).await.ok(200);

    assert_eq!(reg.open(&r1).await.ok(201).state, State::Open);
    let m = reg.open(&r2).await.refused(409, "busy");
    assert!(
        m.contains("busy-1"),
        "the refusal names the open receipt: {m}"
    );
    // The same receipt again: 200 with where it stands, nothing reopened.
    let retry = reg.open(&r1).await.ok(200);
    assert_eq!((retry.id.as_str(), retry.state), ("busy-1", State::Open));
    assert_eq!(
        till.panel.screen().await,
        Screen::Find {
            receipt: r1.clone()
        }
    );
    // The same id with other contents is another receipt: busy.
    let mut other = r1.clone();
    other.positions[0].price = "1.00".parse().unwrap();
    reg.open(&other).await.refused(409, "busy");

    // Applied, a retry gets the result.
    tap(&till, Action::FindByPhone(KARINA.into())).await;
    tap(&till, Action::Apply).await;
    let applied = reg.get("busy-1", 5).await.ok(200);
    assert_eq!(applied.state, State::Applied);
    assert_eq!(reg.open(&r1).await.ok(200), applied);
    reg.open(&r2).await.refused(409, "busy");

    // Cancelled by the register, the till is free for the next one.
    let cancelled = reg.cancel("busy-1").await.ok(200);
    assert_eq!(cancelled.state, State::Cancelled);
    assert!(cancelled.reason.unwrap().contains("register"));
    assert_eq!(till.panel.screen().await, Screen::Waiting);
    assert_eq!(reg.open(&r2).await.ok(201).state, State::Open);
    assert_eq!(reg.cancel("busy-2").await.ok(200).state, State::Cancelled);
    assert_eq!(reg.cancel("busy-2").await.ok(200).state, State::Cancelled);
    // A cancelled receipt may be handed over again.
    assert_eq!(reg.open(&r1).await.ok(201).state, State::Open);
    reg.cancel("busy-1").await.ok(200);
    assert_eq!(till.pending(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_changed_between_the_calculation_and_the_close_is_refused() {
    let rig = Rig::new();
    let till = Headless::start(&rig, Some(CASHIER), LONG).await;
    let reg = Register::new(&till);
    let r = receipt("chg-1", "1000.00");
    let applied = applied_sale(&till, &reg, &r, true).await;
    let operation_id = applied.result.as_ref().unwrap().data.operation_id.clone();

    let mut quantity = r.clone();
    quantity.positions[1].quantity = "3".parse().unwrap();
    let mut price = r.clone();
    price.positions[0].price = "999.00".parse().unwrap();
    let mut added = r.clone();
    let mut extra = added.positions[1].clone();
    extra.id = "3".into();
    added.positions.push(extra);
    let mut dropped = r.clone();
    dropped.positions.pop();
    let mut excise = r.clone();
    excise.positions[0].excise = true;
    for (printed, names) in [
        (&quantity, "positions[1].quantity"),
        (&price, "positions[0].price"),
        (&added, "positions"),
        (&dropped, "positions"),
        (&excise, "positions[0].excise"),
    ] {
        let m = reg.close(printed).await.refused(409, "receipt_changed");
        assert!(m.contains(names), "{names}: {m}");
        // The cashier sees why the register could not close.
        assert!(
            matches!(till.panel.problem().await, Some(Problem::ReceiptChanged(ref d)) if d.contains(names)),
            "{:?}",
            till.panel.problem().await
        );
    }
    // A close of this receipt with another receipt's id in the body.
    let mut renamed = r.clone();
    renamed.id = "chg-2".into();
    let m = reg
        .close_as("chg-1", &renamed)
        .await
        .refused(409, "receipt_changed");
    assert!(m.contains("id"), "{m}");

    // Still applied, with the same result; nothing queued.
    assert_eq!(reg.get("chg-1", 0).await.ok(200), applied);
    assert!(matches!(till.panel.screen().await, Screen::AtRegister(_)));
    assert_eq!(till.pending(), 0);

    // The register gives up: cancelled, nothing recorded; a close now is refused.
    let cancelled = reg.cancel("chg-1").await.ok(200);
    assert_eq!(cancelled.state, State::Cancelled);
    assert_eq!(till.panel.screen().await, Screen::Waiting);
    let m = reg.close(&r).await.refused(409, "cancelled");
    assert!(m.contains("nothing was recorded"), "{m}");
    assert_eq!(till.pending(), 0);
    till.sync().await;
    assert_eq!(rig.applied(&operation_id), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_register_that_vanishes_after_the_apply_lets_the_receipt_expire_and_a_late_close_books_it()
 {
    let rig = Rig::new();
    let till = Headless::start(&rig, Some(CASHIER), Duration::from_secs(1)).await;
    let reg = Register::new(&till);

    // An open receipt does not expire: the cashier may take a while with the customer.
    let slow = receipt("slow-1", "100.00");
    reg.open(&slow).await.ok(201);
    let waited = reg.get("slow-1", 2).await.ok(200);
    assert_eq!(waited.state, State::Open);
    reg.cancel("slow-1").await.ok(200);

    let r = receipt("gone-1", "300.00");
    let applied = applied_sale(&till, &reg, &r, true).await;
    let since = Instant::now();
    let operation_id = applied.result.unwrap().data.operation_id;
    let status = loop {
        let status = reg.get("gone-1", 0).await.ok(200);
        if status.state != State::Applied || since.elapsed() > Duration::from_secs(8) {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status.state, State::Expired, "{status:?}");
    assert!(
        since.elapsed() >= Duration::from_millis(800),
        "expired after {:?}, before the close timeout",
        since.elapsed()
    );
    let reason = status.reason.expect("an expired receipt says why");
    assert!(reason.contains("did not close"), "{reason}");
    // The panel is free; nothing is recorded, the receipt waits on the manager's list.
    assert_eq!(till.panel.screen().await, Screen::Waiting);
    assert_eq!(till.pending(), 0);
    assert_eq!(till.terminal.unconfirmed().unwrap().len(), 1);
    // A cancel now is a no-op that keeps it expired, and listed.
    assert_eq!(reg.cancel("gone-1").await.ok(200).state, State::Expired);
    assert_eq!(till.terminal.unconfirmed().unwrap().len(), 1);
    assert_eq!(
        reg.open(&receipt("gone-2", "10.00")).await.ok(201).state,
        State::Open
    );
    reg.cancel("gone-2").await.ok(200);
    // The register comes back and closes it: it was printed, so the close books it;
    // repeated, it queues nothing more.
    let closed = reg.close(&r).await.ok(200);
    assert_eq!(closed.state, State::Closed, "{closed:?}");
    assert_eq!(till.pending(), 1);
    assert_eq!(reg.close(&r).await.ok(200).state, State::Closed);
    assert_eq!(reg.get("gone-1", 0).await.ok(200).state, State::Closed);
    assert_eq!(till.pending(), 1);
    assert!(till.terminal.unconfirmed().unwrap().is_empty());
    till.sync().await;
    assert_eq!(rig.applied(&operation_id), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cashier_cancels_on_the_panel() {
    let rig = Rig::new();
    let till = Headless::start(&rig, Some(CASHIER), LONG).await;
    let reg = Register::new(&till);

    // On the find screen, while the register waits: the wait ends with the cancel.
    let r1 = receipt("cc-1", "300.00");
    reg.open(&r1).await.ok(201);
    let client = till.client.clone();
    let poll = tokio::spawn(async move { client.status("cc-1", 5).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    tap(&till, Action::Cancel).await;
    let status = poll.await.unwrap().unwrap();
    assert!(started.elapsed() < Duration::from_secs(4));
    contract_status(&status);
    assert_eq!(status.state, State::Cancelled);
    assert!(status.reason.unwrap().contains("cashier"));

    // On the at-register screen, after the apply.
    let r2 = receipt("cc-2", "300.00");
    applied_sale(&till, &reg, &r2, true).await;
    assert!(matches!(till.panel.screen().await, Screen::AtRegister(_)));
    tap(&till, Action::Cancel).await;
    assert_eq!(till.panel.screen().await, Screen::Waiting);
    let status = reg.get("cc-2", 0).await.ok(200);
    assert_eq!(status.state, State::Cancelled);
    let reason = status.reason.unwrap();
    assert!(reason.contains("cashier"), "{reason}");
    let m = reg.close(&r2).await.refused(409, "cancelled");
    assert!(m.contains(&reason), "{m}");
    assert_eq!(till.pending(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_return_of_part_of_a_closed_sale_and_returns_the_till_cannot_make() {
    let rig = Rig::new();
    let till = Headless::start(&rig, Some(CASHIER), LONG).await;
    let reg = Register::new(&till);
    let sale = receipt("rs-1", "2000.00");
    applied_sale(&till, &reg, &sale, true).await;
    assert_eq!(reg.close(&sale).await.ok(200).state, State::Closed);
    assert_eq!(till.pending(), 1);

    // One of the two croissants comes back.
    let ret = return_of("rs-ret-1", "rs-1", "1");
    let opened = reg.open(&ret).await.ok(201);
    assert_eq!(opened.state, State::Open);
    assert!(matches!(till.panel.screen().await, Screen::Return { .. }));
    tap(&till, Action::Apply).await;
    let applied = reg.get("rs-ret-1", 5).await.ok(200);
    assert_eq!(applied.state, State::Applied);
    let result = applied.result.clone().unwrap();
    assert!(result.impacts.is_empty(), "a return prints no new prices");
    assert_eq!(result.total, ret.total());
    assert_eq!(result.data.customer_id, None);
    uuid::Uuid::parse_str(&result.data.operation_id).expect("a UUID");
    let refunded = result.printable_data.refunded.expect("refunded");
    let clawed_back = result.printable_data.clawed_back.expect("clawed back");
    assert!(
        refunded.amount() > Decimal::ZERO,
        "the sale spent bonuses: some come back"
    );
    assert!(clawed_back.amount() >= Decimal::ZERO);
    assert!(result.printable_data.lines.iter().all(|l| russian(l)));
    assert_eq!(till.pending(), 1, "the return was queued before the close");

    // Two closes at once: one operation.
    let (a, b) = tokio::join!(reg.close(&ret), reg.close(&ret));
    let (a, b) = (a.ok(200), b.ok(200));
    assert_eq!(a, b);
    assert_eq!(a.state, State::Closed);
    assert_eq!(till.pending(), 2);
    till.sync().await;
    assert_eq!(rig.applied(&result.data.operation_id), 1);

    // A sale no till of the chain made: the till waits for the sale receipt's fiscal QR
    // code, and cannot apply the return without it; the cashier cancels.
    let elsewhere = return_of("rs-ret-2", "made-elsewhere", "1");
    assert_eq!(reg.open(&elsewhere).await.ok(201).state, State::Open);
    assert!(matches!(
        till.panel.screen().await,
        Screen::Return { sale: None, .. }
    ));
    assert_eq!(
        till.panel.cashier(Action::Apply).await,
        Some(Problem::SaleNotKept)
    );
    tap(&till, Action::Cancel).await;
    assert_eq!(reg.get("rs-ret-2", 0).await.ok(200).state, State::Cancelled);
    // More than was sold.
    let too_many = return_of("rs-ret-3", "rs-1", "5");
    let m = reg.open(&too_many).await.refused(422, "bad_return");
    assert!(!m.is_empty());
    // Neither stays open.
    assert_eq!(till.panel.screen().await, Screen::Waiting);
    reg.get("rs-ret-3", 0).await.refused(404, "not_found");
    assert_eq!(
        reg.open(&receipt("rs-2", "10.00")).await.ok(201).state,
        State::Open
    );
    reg.cancel("rs-2").await.ok(200);
    assert_eq!(till.pending(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_at_one_till_is_returned_at_another_exactly_and_not_offline() {
    let mut rig = Rig::new();
    let till_a = Headless::start(&rig, Some(CASHIER), LONG).await;
    let rig_b = rig.another_till();
    let till_b = Headless::start(&rig_b, Some(CASHIER), LONG).await;
    let (reg_a, reg_b) = (Register::new(&till_a), Register::new(&till_b));
    // Till A sells a coffee and two croissants, spending bonuses; the sale reaches the
    // server.
    let sale = receipt("ra-1", "2000.00");
    applied_sale(&till_a, &reg_a, &sale, true).await;
    assert_eq!(reg_a.close(&sale).await.ok(200).state, State::Closed);
    till_a.sync().await;

    // Till B takes one croissant back: it finds the sale at the server.
    let ret = return_of("ra-ret-1", "ra-1", "1");
    assert_eq!(reg_b.open(&ret).await.ok(201).state, State::Open);
    let Screen::Return {
        sale: Some(ReturnSale::Server { sale: found, .. }),
        preview: Some(preview),
        ..
    } = till_b.panel.screen().await
    else {
        panic!("till B shows the server's sale");
    };
    assert_eq!(found.sale_ref.receipt_id, "ra-1");
    assert!(
        preview.refunded.amount() > Decimal::ZERO,
        "spent bonuses come back"
    );
    tap(&till_b, Action::Apply).await;
    let applied = reg_b.get("ra-ret-1", 5).await.ok(200);
    assert_eq!(applied.state, State::Applied);
    let operation_id = applied.result.unwrap().data.operation_id;
    assert_eq!(reg_b.close(&ret).await.ok(200).state, State::Closed);
    till_b.sync().await;
    assert_eq!(
        rig.applied(&operation_id),
        1,
        "the server applied it to A's sale"
    );

    // Till A, which made the sale, takes the other croissant back: it counts B's return.
    let ret_a = return_of("ra-ret-2", "ra-1", "1");
    assert_eq!(reg_a.open(&ret_a).await.ok(201).state, State::Open);
    tap(&till_a, Action::Apply).await;
    assert_eq!(reg_a.get("ra-ret-2", 5).await.ok(200).state, State::Applied);
    assert_eq!(reg_a.close(&ret_a).await.ok(200).state, State::Closed);
    till_a.sync().await;
    // No croissant is left to return, at either till.
    let third = return_of("ra-ret-3", "ra-1", "1");
    reg_b.open(&third).await.refused(422, "bad_return");
    reg_a.open(&third).await.refused(422, "bad_return");

    // Offline, till B cannot return a sale it did not make; nothing is queued.
    rig.stop_server();
    let coffee_back = crate::common::receipts::ReceiptJson::return_of("ra-ret-4", "ra-1")
        .with("at", "2026-11-23T13:00:00+03:00")
        .line(
            json!({ "id": "1", "name": "Кофе", "category": "coffee", "price": "2000.00",
                      "quantity": "1" }),
        )
        .receipt();
    let m = reg_b.open(&coffee_back).await.refused(422, "unknown_sale");
    assert!(m.contains("another till"), "{m}");
    assert_eq!(till_b.pending(), 0);
    assert_eq!(till_b.panel.screen().await, Screen::Waiting);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_machine_refuses_what_does_not_follow() {
    let rig = Rig::new();
    let till = Headless::start(&rig, Some(CASHIER), LONG).await;
    let reg = Register::new(&till);
    let r = receipt("sm-1", "300.00");

    reg.open(&r).await.ok(201);
    let m = reg.close(&r).await.refused(409, "not_applied");
    assert!(m.contains("sm-1"), "{m}");
    assert_eq!(reg.get("sm-1", 0).await.ok(200).state, State::Open);
    assert_eq!(till.pending(), 0);
    tap(&till, Action::FindByPhone(KARINA.into())).await;
    tap(&till, Action::Apply).await;
    assert_eq!(reg.close(&r).await.ok(200).state, State::Closed);
    let m = reg.cancel("sm-1").await.refused(409, "already_closed");
    assert!(m.contains("sm-1"), "{m}");
    reg.open(&r).await.refused(409, "already_closed");
    // A return reusing a closed sale's id.
    let reused = return_of("sm-1", "sm-1", "1");
    reg.open(&reused).await.refused(409, "already_closed");
    assert_eq!(reg.get("sm-1", 0).await.ok(200).state, State::Closed);

    // A cancelled sale's id for a return.
    reg.open(&receipt("sm-2", "10.00")).await.ok(201);
    reg.cancel("sm-2").await.ok(200);
    reg.open(&return_of("sm-2", "sm-1", "1"))
        .await
        .refused(409, "id_reused");

    // Unknown receipts and paths.
    for answer in [
        reg.get("nope", 0).await,
        reg.close_as("nope", &receipt("nope", "1.00")).await,
        reg.cancel("nope").await,
    ] {
        let m = answer.refused(404, "not_found");
        assert!(m.contains("nope"), "{m}");
    }
    // An id that is not UTF-8 names no receipt either (and gets JSON, not axum's text).
    for answer in [
        reg.get("%FF", 0).await,
        reg.close_as("%FF", &receipt("x", "1.00")).await,
        reg.cancel("%C3%28").await,
    ] {
        let m = answer.refused(404, "not_found");
        assert!(m.contains("UTF-8"), "{m}");
    }
    reg.call("GET", "/v2/receipts", None)
        .await
        .refused(404, "not_found");
    reg.call("GET", "/", None).await.refused(404, "not_found");
    reg.post("/v1/receipts/x/reopen", "{}")
        .await
        .refused(404, "not_found");
    // A method the path does not have: JSON too.
    let answer = reg.call("GET", "/v1/receipts", None).await;
    assert_eq!(answer.status, 405, "{}", answer.body);
    assert!(
        answer.body["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    assert_eq!(till.pending(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_4xx_that_names_the_problem() {
    let rig = Rig::new();
    let till = Headless::start(&rig, Some(CASHIER), LONG).await;
    let reg = Register::new(&till);
    let valid = serde_json::to_value(receipt("bad-1", "10.00")).unwrap();

    let m = reg
        .post("/v1/receipts", "{not json")
        .await
        .refused(400, "bad_request");
    assert!(m.starts_with("bad JSON"), "{m}");
    let m = reg
        .post("/v1/receipts", "")
        .await
        .refused(400, "bad_request");
    assert!(m.starts_with("bad JSON"), "{m}");

    let mut unknown = valid.clone();
    unknown["colour"] = "red".into();
    let m = reg
        .post("/v1/receipts", unknown.to_string())
        .await
        .refused(400, "bad_request");
    assert!(m.contains("colour"), "{m}");
    let mut unknown = valid.clone();
    unknown["positions"][1]["colour"] = "red".into();
    let m = reg
        .post("/v1/receipts", unknown.to_string())
        .await
        .refused(400, "bad_request");
    assert!(m.contains("positions[1]") && m.contains("colour"), "{m}");

    for (field, value, names) in [
        ("price", json!("abc"), "positions[0].price"),
        ("price", json!(1.5), "positions[0].price"),
        ("price", json!("-1.00"), "positions[0].price"),
        ("price", json!("1.001"), "positions[0].price"),
        ("quantity", json!("0"), "positions[0].quantity"),
        ("quantity", json!("-2"), "positions[0].quantity"),
        ("quantity", json!("1.5"), "positions[0].quantity"),
        ("id", json!(""), "positions[0].id"),
        ("measure", json!("litre"), "positions[0].measure"),
    ] {
        let mut bad = valid.clone();
        bad["positions"][0][field] = value.clone();
        let m = reg
            .post("/v1/receipts", bad.to_string())
            .await
            .refused(400, "bad_request");
        assert!(m.contains(names), "{field} = {value}: {m}");
    }
    for (field, value, names) in [
        ("id", json!(" "), "id"),
        ("id", json!("x".repeat(300)), "id"),
        ("kind", json!("refund"), "kind"),
        ("at", json!("yesterday"), "at"),
        ("positions", json!([]), "positions"),
        ("original_receipt", json!("rs-1"), "original_receipt"),
    ] {
        let mut bad = valid.clone();
        bad[field] = value.clone();
        let m = reg
            .post("/v1/receipts", bad.to_string())
            .await
            .refused(400, "bad_request");
        assert!(m.contains(names), "{field} = {value}: {m}");
    }
    let mut missing = valid.clone();
    missing.as_object_mut().unwrap().remove("positions");
    let m = reg
        .post("/v1/receipts", missing.to_string())
        .await
        .refused(400, "bad_request");
    assert!(m.contains("positions"), "{m}");

    // The body limit is 256 KiB: just under it is read, just over it is not.
    let padded = format!(
        "{valid}{}",
        " ".repeat(256 * 1024 - valid.to_string().len() - 1)
    );
    assert!(padded.len() < 256 * 1024);
    assert_eq!(
        reg.post("/v1/receipts", padded).await.ok(201).state,
        State::Open
    );
    reg.cancel("bad-1").await.ok(200);
    let huge = format!("{{\"id\": \"{}\"}}", "x".repeat(256 * 1024));
    let m = reg
        .post("/v1/receipts", huge.clone())
        .await
        .refused(413, "too_large");
    assert!(m.contains("262144"), "{m}");
    reg.post("/v1/receipts/bad-1/close", huge)
        .await
        .refused(413, "too_large");

    // A close's body.
    let m = reg
        .post("/v1/receipts/bad-1/close", "[")
        .await
        .refused(400, "bad_request");
    assert!(m.starts_with("bad JSON"), "{m}");
    let m = reg
        .post("/v1/receipts/bad-1/close", valid.to_string())
        .await
        .refused(400, "bad_request");
    assert!(m.contains("receipt") || m.contains("id"), "{m}");

    // The wait.
    for query in [
        "wait_s=61",
        "wait_s=-1",
        "wait_s=abc",
        "wait_s=99999999999",
        "when=now",
    ] {
        let m = reg
            .call("GET", &format!("/v1/receipts/bad-1?{query}"), None)
            .await
            .refused(400, "bad_request");
        assert!(m.contains("wait_s") || m.contains("when"), "{query}: {m}");
    }
    let started = Instant::now();
    let answer = reg.call("GET", "/v1/receipts/bad-1?wait_s=60", None).await;
    assert_eq!(answer.ok(200).state, State::Cancelled);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "waited on a receipt that is not open"
    );

    // None of it left anything open or queued.
    assert_eq!(till.panel.screen().await, Screen::Waiting);
    assert_eq!(
        reg.open(&receipt("bad-2", "10.00")).await.ok(201).state,
        State::Open
    );
    assert_eq!(till.pending(), 0);
}

/// The contract check above is not vacuous: it refuses answers the contract does not
/// allow, and a status the doc does not list.
#[test]
fn the_contract_check_refuses_what_the_contract_does_not_allow() {
    let error = json!({ "$ref": "#/components/schemas/BridgeError" });
    assert!(
        validate(
            &error,
            &json!({ "code": "busy", "message": "receipt open" })
        )
        .is_ok()
    );
    for bad in [
        json!({ "code": "teapot", "message": "x" }),
        json!({ "code": "busy", "message": "" }),
        json!({ "code": "busy" }),
        json!({ "code": "busy", "message": "x", "extra": 1 }),
    ] {
        assert!(validate(&error, &bad).is_err(), "{bad}");
    }
    let status = json!({ "$ref": "#/components/schemas/ReceiptStatus" });
    assert!(
        validate(
            &status,
            &json!({ "id": "x", "kind": "sale", "state": "open" })
        )
        .is_ok()
    );
    for bad in [
        json!({ "id": "x", "kind": "sale", "state": "paid" }),
        json!({ "id": "x", "kind": "sale", "state": "open", "extra": 1 }),
        json!({ "id": "x", "kind": "sale", "state": "applied", "result": { "impacts": [] } }),
    ] {
        assert!(validate(&status, &bad).is_err(), "{bad}");
    }
    let undocumented = std::panic::catch_unwind(|| {
        contract(
            "POST",
            "/v1/receipts/x/cancel",
            422,
            &json!({ "code": "bad_return", "message": "x" }),
        )
    });
    assert!(
        undocumented.is_err(),
        "a status the doc does not list passed"
    );
    contract(
        "POST",
        "/v1/receipts/x/cancel",
        404,
        &json!({ "code": "not_found", "message": "x" }),
    );
}

/// A restart of the bridge (the setup saved) or the till's exit drops its handle: that must
/// not wait out a register's long poll (up to a minute, with the session worker blocked).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_bridge_answers_a_long_poll_instead_of_waiting_for_it() {
    let rig = Rig::new();
    let till = Headless::start(&rig, Some(CASHIER), LONG).await;
    let reg = Register::new(&till);
    reg.open(&receipt("stop-1", "10.00")).await.ok(201);
    let client = till.client.clone();
    let poll = tokio::spawn(async move { client.status("stop-1", 30).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!poll.is_finished());
    let started = Instant::now();
    tokio::task::spawn_blocking(move || drop(till))
        .await
        .unwrap();
    let stopped = started.elapsed();
    assert!(
        stopped < Duration::from_secs(3),
        "the bridge took {stopped:?} to stop"
    );
    // The register heard where its receipt stands.
    let answer = tokio::time::timeout(Duration::from_secs(3), poll)
        .await
        .expect("the long poll still waits")
        .unwrap()
        .expect("the long poll got no answer");
    assert_eq!(answer.state, State::Open);
}

mod holds;
mod kept;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_during_a_walk_in_registration_is_busy_and_the_form_stays() {
    let rig = Rig::new();
    let till = Headless::start(&rig, Some("9999"), LONG).await;
    // The rules, which a registration needs.
    till.sync().await;
    let reg = Register::new(&till);
    tap(&till, Action::OpenManagerMenu).await;
    // On the manager's menu: busy, and the menu stays.
    let m = reg
        .open(&receipt("walk-1", "100.00"))
        .await
        .refused(409, "busy");
    assert!(m.contains("registration or the manager's menu"), "{m}");
    assert_eq!(till.panel.screen().await, Screen::Manager);
    // In the middle of a walk-in registration: busy, and the phone typed is still there.
    tap(&till, Action::RegisterWalkIn).await;
    tap(
        &till,
        Action::StartRegistration {
            phone: "+7 999 777-11-23".into(),
        },
    )
    .await;
    reg.open(&receipt("walk-2", "100.00"))
        .await
        .refused(409, "busy");
    let Screen::Register {
        registration,
        receipt: held,
    } = till.panel.screen().await
    else {
        panic!("the registration is gone")
    };
    assert_eq!(registration.phone.to_string(), "+7 *** ***-**-23");
    assert_eq!(held, None);
    assert_eq!(
        till.panel.problem().await,
        None,
        "the cashier's screen is not the register's"
    );
    // Nothing of it is kept: once the form is done with, the receipt goes through.
    tap(&till, Action::Cancel).await;
    tap(&till, Action::Cancel).await;
    tap(&till, Action::Cancel).await;
    assert_eq!(
        reg.open(&receipt("walk-3", "100.00")).await.ok(201).state,
        State::Open
    );
}

mod shift;
