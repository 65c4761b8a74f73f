//! The bridge's refusals and its concurrency cases over real HTTP on 127.0.0.1, with a
//! checkout session behind it (no window) and a real server: the key, one receipt at a
//! time, nothing queued before the close, a receipt changed before the close, a close
//! that comes twice, a register that vanishes, a return of a sale never made here, bad
//! bodies; and a property: whatever bytes are posted, the answer is a 4xx `{code, message}`
//! or an accepted receipt, never a 5xx.

mod common;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bonuskassa::bridge::client::BridgeClient;
use bonuskassa::bridge::wire::{ErrorCode, State};
use bonuskassa::bridge::{Bridge, BridgeConfig, BridgeHandle, Panel};
use bonuskassa::clock::{Clock, SystemClock};
use bonuskassa::domain::receipt::Receipt;
use bonuskassa::till::{Action, Problem, Screen, Session};
use common::{Rig, receipt, return_of};
use proptest::prelude::*;

const KEY: &str = "bridge-test-key-0123456789";

/// The session behind the bridge, without a window: the register's calls and the
/// cashier's taps both reach it here, and its outcomes go to the bridge.
struct Headless {
    session: tokio::sync::Mutex<Session>,
    bridge: OnceLock<Bridge>,
}

impl Headless {
    async fn act(&self, action: Action, register: bool) -> Result<(), Problem> {
        let mut session = self.session.lock().await;
        let result = if register {
            session.act_for_register(action).await
        } else {
            session.act(action).await;
            session.problem().cloned().map_or(Ok(()), Err)
        };
        if let Some(outcome) = session.take_outcome()
            && let Some(bridge) = self.bridge.get()
        {
            bridge.outcome(&outcome);
        }
        result
    }

    /// A tap of the cashier.
    async fn tap(&self, action: Action) {
        let problem = self.act(action, false).await.err();
        assert_eq!(problem, None);
    }
}

struct HeadlessPanel(Arc<Headless>);

impl Panel for HeadlessPanel {
    fn call(
        &self,
        action: Action,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), Problem>> + Send>> {
        let headless = self.0.clone();
        Box::pin(async move { headless.act(action, true).await })
    }
}

struct Setup {
    rig: Rig,
    headless: Arc<Headless>,
    handle: BridgeHandle,
    client: BridgeClient,
    terminal: Arc<bonuskassa::terminal::Terminal>,
}

/// A till (its sync not started, so the queue holds what was queued) behind a bridge.
async fn setup(close_timeout: Duration) -> Setup {
    let rig = Rig::new();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let terminal = Arc::new(rig.enroll(clock.clone()).await);
    let headless = Arc::new(Headless {
        session: tokio::sync::Mutex::new(Session::new(terminal.clone(), clock)),
        bridge: OnceLock::new(),
    });
    let handle = bonuskassa::bridge::spawn(
        BridgeConfig {
            port: 0,
            key: KEY.into(),
            close_timeout,
        },
        Arc::new(HeadlessPanel(headless.clone())),
    )
    .unwrap();
    let _ = headless.bridge.set(handle.bridge.clone());
    let client = BridgeClient::new(&format!("http://{}", handle.addr), KEY);
    Setup {
        rig,
        headless,
        handle,
        client,
        terminal,
    }
}

fn code(r: Result<impl std::fmt::Debug, bonuskassa::bridge::client::ClientError>) -> ErrorCode {
    match r {
        Ok(v) => panic!("accepted: {v:?}"),
        Err(e) => e.code().unwrap_or_else(|| panic!("not a refusal: {e}")),
    }
}

fn message(r: Result<impl std::fmt::Debug, bonuskassa::bridge::client::ClientError>) -> String {
    match r {
        Err(bonuskassa::bridge::client::ClientError::Refused { message, .. }) => message,
        other => panic!("not a refusal: {other:?}"),
    }
}

async fn raw(
    s: &Setup,
    method: &str,
    path: &str,
    body: Vec<u8>,
    key: Option<&str>,
) -> (u16, serde_json::Value) {
    let http = reqwest::Client::new();
    let url = format!("http://{}{path}", s.handle.addr);
    let mut request = match method {
        "GET" => http.get(&url),
        _ => http
            .post(&url)
            .header("content-type", "application/json")
            .body(body),
    };
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let json = response.json().await.unwrap_or(serde_json::Value::Null);
    (status, json)
}

/// Checks a real answer against its schema in docs/bridge-openapi.json, the contract.
fn contract(name: &str, value: &serde_json::Value) {
    let doc: serde_json::Value =
        serde_json::from_str(include_str!("../docs/bridge-openapi.json")).unwrap();
    let root = serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": doc["components"],
        "$ref": format!("#/components/schemas/{name}"),
    });
    let validator = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&root)
        .unwrap();
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{name}: {errors:?} in {value}");
}

fn pending(s: &Setup) -> u64 {
    s.terminal.status().queue.pending
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_one_receipt_at_a_time_a_changed_receipt_and_a_close_twice() {
    let s = setup(Duration::from_secs(60)).await;
    assert!(s.handle.addr.ip().is_loopback());

    // The key.
    let (status, body) = raw(&s, "GET", "/v1/ping", vec![], None).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
    let (status, body) = raw(&s, "GET", "/v1/ping", vec![], Some("not-the-key")).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
    contract("BridgeError", &body);
    s.client.ping().await.unwrap();

    // Nobody logged in.
    let r1 = receipt("br-1", "2000.00");
    assert_eq!(code(s.client.open(&r1).await), ErrorCode::NoCashier);
    s.headless
        .tap(Action::Login {
            code: "1111".into(),
        })
        .await;

    // One receipt at a time; the same one again is a safe retry.
    let opened = s.client.open(&r1).await.unwrap();
    assert_eq!(opened.state, State::Open);
    assert_eq!(
        code(s.client.open(&receipt("br-2", "10.00")).await),
        ErrorCode::Busy
    );
    assert_eq!(s.client.open(&r1).await.unwrap().state, State::Open);
    assert_eq!(code(s.client.close(&r1).await), ErrorCode::NotApplied);
    assert_eq!(s.client.status("br-1", 0).await.unwrap().state, State::Open);

    // The cashier finds Карина, spends the most, applies: nothing is queued yet.
    s.headless
        .tap(Action::FindByPhone("+79990000001".into()))
        .await;
    s.headless.tap(Action::SpendMax).await;
    s.headless.tap(Action::Apply).await;
    let applied = s.client.status("br-1", 5).await.unwrap();
    assert_eq!(applied.state, State::Applied);
    let result = applied.result.clone().unwrap();
    let printed: rust_decimal::Decimal = result
        .impacts
        .iter()
        .map(|i| i.price.amount() * i.quantity.amount())
        .sum();
    assert_eq!(printed, result.to_pay.amount());
    assert_eq!(
        result.discount.amount(),
        result.total.amount() - result.to_pay.amount()
    );
    assert!(result.spent.amount() > rust_decimal::Decimal::ZERO);
    assert!(result.data.customer_id.is_some());
    assert!(uuid::Uuid::parse_str(&result.data.operation_id).is_ok());
    assert!(
        result
            .printable_data
            .lines
            .iter()
            .any(|l| l.starts_with("Списано бонусов"))
    );
    assert_eq!(pending(&s), 0, "queued before the register printed");
    contract("ReceiptStatus", &serde_json::to_value(&applied).unwrap());
    contract("ReceiptStatus", &serde_json::to_value(&opened).unwrap());

    // A receipt that changed between the calculation and the close.
    let mut changed = r1.clone();
    changed.positions[1].quantity = "3".parse().unwrap();
    let m = message(s.client.close(&changed).await);
    assert!(m.contains("positions[1].quantity"), "{m}");
    assert_eq!(
        code(s.client.close(&changed).await),
        ErrorCode::ReceiptChanged
    );
    let mut added = r1.clone();
    added.positions.push(added.positions[0].clone());
    assert_eq!(
        code(s.client.close(&added).await),
        ErrorCode::ReceiptChanged
    );
    assert_eq!(
        s.client.status("br-1", 0).await.unwrap().state,
        State::Applied
    );
    assert_eq!(pending(&s), 0);

    // The close, twice: one operation, the same answer.
    let closed = s.client.close(&r1).await.unwrap();
    assert_eq!(closed.state, State::Closed);
    assert_eq!(pending(&s), 1);
    contract("ReceiptStatus", &serde_json::to_value(&closed).unwrap());
    let again = s.client.close(&r1).await.unwrap();
    assert_eq!(again, closed);
    assert_eq!(pending(&s), 1, "a second close queued again");
    assert_eq!(
        code(s.client.cancel("br-1").await),
        ErrorCode::AlreadyClosed
    );
    assert_eq!(code(s.client.open(&r1).await), ErrorCode::AlreadyClosed);

    // A return of part of it, and of a sale never made here.
    let ret = return_of("br-ret", "br-1", "1");
    s.client.open(&ret).await.unwrap();
    s.headless.tap(Action::Apply).await;
    let applied = s.client.status("br-ret", 5).await.unwrap();
    contract("ReceiptStatus", &serde_json::to_value(&applied).unwrap());
    let printable = applied.result.unwrap().printable_data;
    assert!(printable.refunded.is_some() && printable.clawed_back.is_some());
    assert_eq!(s.client.close(&ret).await.unwrap().state, State::Closed);
    assert_eq!(pending(&s), 2);
    let elsewhere = return_of("br-ret-2", "never-here", "1");
    assert_eq!(
        code(s.client.open(&elsewhere).await),
        ErrorCode::UnknownSale
    );
    let too_much = return_of("br-ret-3", "br-1", "5");
    assert_eq!(code(s.client.open(&too_much).await), ErrorCode::BadReturn);

    // Unknown ids and paths.
    assert_eq!(code(s.client.status("nope", 0).await), ErrorCode::NotFound);
    let (status, body) = raw(&s, "GET", "/v2/anything", vec![], Some(KEY)).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    drop(s.rig);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_register_that_vanishes_and_a_cashier_who_frees_the_till() {
    let s = setup(Duration::from_secs(1)).await;
    s.headless
        .tap(Action::Login {
            code: "1111".into(),
        })
        .await;

    // Applied, never closed: it expires, the panel is free, a late close is refused.
    let r = receipt("gone-1", "300.00");
    s.client.open(&r).await.unwrap();
    s.headless
        .tap(Action::FindByPhone("+79990000001".into()))
        .await;
    s.headless.tap(Action::Apply).await;
    assert_eq!(
        s.client.status("gone-1", 5).await.unwrap().state,
        State::Applied
    );
    let mut status = s.client.status("gone-1", 0).await.unwrap();
    for _ in 0..50 {
        if status.state != State::Applied {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        status = s.client.status("gone-1", 0).await.unwrap();
    }
    assert_eq!(status.state, State::Expired);
    assert!(status.reason.unwrap().contains("did not close"));
    assert_eq!(*s.headless.session.lock().await.screen(), Screen::Waiting);
    assert_eq!(code(s.client.close(&r).await), ErrorCode::Cancelled);
    assert_eq!(pending(&s), 0);

    // The cashier frees the till from the at-register page.
    let r2 = receipt("gone-2", "300.00");
    s.client.open(&r2).await.unwrap();
    s.headless
        .tap(Action::FindByPhone("+79990000001".into()))
        .await;
    s.headless.tap(Action::Apply).await;
    s.headless.tap(Action::Cancel).await;
    let status = s.client.status("gone-2", 0).await.unwrap();
    assert_eq!(status.state, State::Cancelled);
    assert!(status.reason.unwrap().contains("cashier"));
    // A cancelled receipt may be handed over again, and cancelled by the register.
    assert_eq!(s.client.open(&r2).await.unwrap().state, State::Open);
    assert_eq!(
        s.client.cancel("gone-2").await.unwrap().state,
        State::Cancelled
    );
    assert_eq!(
        s.client.cancel("gone-2").await.unwrap().state,
        State::Cancelled
    );
    assert_eq!(*s.headless.session.lock().await.screen(), Screen::Waiting);
    assert_eq!(pending(&s), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_get_a_4xx_naming_the_problem() {
    let s = setup(Duration::from_secs(60)).await;
    s.headless
        .tap(Action::Login {
            code: "1111".into(),
        })
        .await;
    let post = |body: &str| {
        raw(
            &s,
            "POST",
            "/v1/receipts",
            body.as_bytes().to_vec(),
            Some(KEY),
        )
    };
    let (status, body) = post("{not json").await;
    assert_eq!((status, body["code"].as_str()), (400, Some("bad_request")));
    assert!(
        body["message"].as_str().unwrap().starts_with("bad JSON"),
        "{body}"
    );

    let mut good = serde_json::to_value(receipt("bad-1", "10.00")).unwrap();
    good["colour"] = "red".into();
    let (status, body) = post(&good.to_string()).await;
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap().contains("colour"),
        "{body}"
    );

    let mut bad_price = serde_json::to_value(receipt("bad-2", "10.00")).unwrap();
    bad_price["positions"][0]["price"] = "abc".into();
    let (status, body) = post(&bad_price.to_string()).await;
    assert_eq!(status, 400);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("positions[0].price"),
        "{body}"
    );

    let huge = format!("{{\"id\": \"{}\"}}", "x".repeat(300 * 1024));
    let (status, body) = post(&huge).await;
    assert_eq!((status, body["code"].as_str()), (413, Some("too_large")));

    let (status, _) = raw(&s, "GET", "/v1/receipts/x?wait_s=61", vec![], Some(KEY)).await;
    assert_eq!(status, 400);
    assert_eq!(pending(&s), 0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    /// Whatever is posted as a receipt or a close, the answer is a receipt accepted or a
    /// 4xx with a code and a message: never a 5xx, never a hang.
    #[test]
    fn any_body_gets_an_answer_never_a_5xx(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        field in prop_oneof![
            Just("id"), Just("kind"), Just("at"), Just("positions"), Just("original_receipt")
        ],
        value in prop_oneof![
            Just(serde_json::json!(null)), Just(serde_json::json!(-1)),
            Just(serde_json::json!("9".repeat(40))), Just(serde_json::json!([])),
            Just(serde_json::json!({"x": 1})), Just(serde_json::json!("return")),
            Just(serde_json::json!([{"id": "1", "price": "-5", "quantity": "0"}])),
        ],
    ) {
        let (rt, s) = shared();
        rt.block_on(async {
            let mut mutated = serde_json::to_value(receipt("prop-1", "10.00")).unwrap();
            mutated[field] = value.clone();
            for (path, body) in [
                ("/v1/receipts", bytes.clone()),
                ("/v1/receipts", mutated.to_string().into_bytes()),
                ("/v1/receipts/prop-1/close", bytes.clone()),
                ("/v1/receipts/prop-1/close", serde_json::json!({"receipt": mutated}).to_string().into_bytes()),
            ] {
                let (status, json) = raw(s, "POST", path, body, Some(KEY)).await;
                if status == 201 {
                    // Accepted: free the till for the next case.
                    let id: Receipt = serde_json::from_value(mutated.clone()).unwrap();
                    s.client.cancel(&id.id).await.unwrap();
                    continue;
                }
                assert!((400..500).contains(&status), "{path}: {status} {json}");
                assert!(json["code"].is_string(), "{json}");
                assert!(!json["message"].as_str().unwrap_or_default().is_empty(), "{json}");
            }
        });
    }
}

/// One till and bridge for all the property's cases.
fn shared() -> &'static (tokio::runtime::Runtime, Setup) {
    static SHARED: OnceLock<(tokio::runtime::Runtime, Setup)> = OnceLock::new();
    SHARED.get_or_init(|| {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let s = rt.block_on(async {
            let s = setup(Duration::from_secs(60)).await;
            s.headless
                .tap(Action::Login {
                    code: "1111".into(),
                })
                .await;
            s
        });
        (rt, s)
    })
}
