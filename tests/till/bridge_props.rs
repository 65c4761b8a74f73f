//! Properties of the cash-register bridge over real HTTP, against one running till and
//! bridge: whatever a register posts (arbitrary bytes, arbitrary JSON, a valid receipt
//! mutated field by field, any id and any wait), the answer comes at once and is a status
//! or a 4xx `{code, message}` from the contract, never a 5xx; a refusal leaves nothing open;
//! a valid receipt is accepted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::common::Rig;
use crate::common::panel::{CASHIER, Headless};
use bonuskassa::bridge::wire::{BridgeError, ReceiptStatus, State};
use bonuskassa::domain::receipt::Receipt;
use proptest::prelude::*;
use proptest::test_runner::Config;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Value, json};

/// No answer may take longer than this (nothing is open between requests, so no request
/// here has anything to wait for).
const PROMPT: Duration = Duration::from_secs(3);

fn config() -> Config {
    Config {
        cases: 64,
        // A failure prints its case; no regression file is written into the source tree.
        failure_persistence: None,
        ..Config::default()
    }
}

// ---------------------------------------------------------------------------------------
// One till and bridge for every case

struct Shared {
    rt: tokio::runtime::Runtime,
    till: Headless,
    http: reqwest::Client,
    /// `components/schemas/BridgeError` of docs/bridge-openapi.json.
    refusal: jsonschema::Validator,
    _rig: Rig,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (rig, till) = rt.block_on(async {
            let rig = Rig::new();
            let till = Headless::start(&rig, Some(CASHIER), Duration::from_secs(600)).await;
            (rig, till)
        });
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        Shared {
            rt,
            till,
            http,
            refusal: schema("BridgeError"),
            _rig: rig,
        }
    })
}

/// The properties share one panel: one case at a time.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static ONE: Mutex<()> = Mutex::new(());
    ONE.lock().unwrap_or_else(|p| p.into_inner())
}

fn schema(name: &str) -> jsonschema::Validator {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/bridge-openapi.json");
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{path}: {e}: refusals cannot be checked against the contract"));
    let doc: Value = serde_json::from_str(&text).unwrap();
    let schema = json!({ "$ref": format!("#/components/schemas/{name}") });
    crate::common::schema_validator(&doc["components"], &schema).unwrap()
}

fn fresh_id(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!("{prefix}-{}", N.fetch_add(1, Ordering::Relaxed))
}

// ---------------------------------------------------------------------------------------
// The register's requests and what every answer must be

/// A path segment: everything but unreserved characters escaped.
fn segment(s: &str) -> String {
    segment_bytes(s.as_bytes())
}

/// Any bytes as a path segment, UTF-8 or not.
fn segment_bytes(s: &[u8]) -> String {
    s.iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

struct Answer {
    what: String,
    status: u16,
    body: Value,
}

/// A request with the key. It must be answered within [`PROMPT`], with JSON: a receipt
/// status on a 2xx, otherwise a 4xx refusal matching the contract with a message.
async fn send(method: reqwest::Method, path: &str, body: Option<Vec<u8>>) -> Answer {
    let s = shared();
    let what = format!("{method} {}", path.chars().take(200).collect::<String>());
    let mut request = s
        .http
        .request(method, s.till.url(path))
        .header(AUTHORIZATION, format!("Bearer {}", s.till.key));
    if let Some(body) = body {
        request = request.header(CONTENT_TYPE, "application/json").body(body);
    }
    let started = Instant::now();
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{what}: no answer (a hang or a dropped connection): {e}"));
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    assert!(
        started.elapsed() < PROMPT,
        "{what}: answered after {:?}",
        started.elapsed()
    );
    let text = String::from_utf8_lossy(&bytes);
    assert!(status < 500, "{what}: {status} {text}");
    let body: Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{what}: {status} is not JSON ({e}): {text}"));
    if (200..300).contains(&status) {
        serde_json::from_value::<ReceiptStatus>(body.clone())
            .unwrap_or_else(|e| panic!("{what}: {status} is not a receipt status ({e}): {text}"));
    } else {
        assert!((400..500).contains(&status), "{what}: {status} {text}");
        let refusal: BridgeError = serde_json::from_value(body.clone())
            .unwrap_or_else(|e| panic!("{what}: {status} is not a refusal ({e}): {text}"));
        assert!(!refusal.message.trim().is_empty(), "{what}: {text}");
        assert_eq!(refusal.code.status(), status, "{what}: {text}");
        let errors: Vec<String> = s
            .refusal
            .iter_errors(&body)
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "{what}: the contract's BridgeError: {errors:?} in {text}"
        );
    }
    Answer { what, status, body }
}

async fn post(path: &str, body: Vec<u8>) -> Answer {
    send(reqwest::Method::POST, path, Some(body)).await
}

/// Frees the panel if the answer opened a receipt.
async fn settle(answer: &Answer) {
    if matches!(answer.status, 200 | 201) {
        let status: ReceiptStatus = serde_json::from_value(answer.body.clone()).unwrap();
        if matches!(status.state, State::Open | State::Applied) {
            let cancelled = send(
                reqwest::Method::POST,
                &format!("/v1/receipts/{}/cancel", segment(&status.id)),
                None,
            )
            .await;
            assert_eq!(
                cancelled.status, 200,
                "{}: {}",
                cancelled.what, cancelled.body
            );
        }
    }
}

/// Nothing is left open: a new receipt opens at once (and is cancelled).
async fn assert_free() {
    let r = valid(&fresh_id("free"));
    let opened = post("/v1/receipts", r.to_string().into_bytes()).await;
    assert_eq!(opened.status, 201, "the till is not free: {}", opened.body);
    settle(&opened).await;
    assert_eq!(
        shared().till.panel.screen().await,
        bonuskassa::checkout::Screen::Waiting
    );
}

/// A valid sale: a coffee and two croissants.
fn valid(id: &str) -> Value {
    json!({
        "id": id, "kind": "sale", "at": "2026-11-23T12:00:00+03:00",
        "store": "store-1", "cashier": "Кассир 1",
        "positions": [
            { "id": "1", "sku": "4601234567890", "name": "Кофе", "category": "coffee",
              "price": "234.00", "quantity": "1", "measure": "piece", "excise": false },
            { "id": "2", "name": "Круассан", "category": "bakery", "price": "150.00",
              "quantity": "2" }
        ]
    })
}

// ---------------------------------------------------------------------------------------
// Strategies

/// Any JSON, leaning to the receipt's own names and values.
fn any_json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        prop_oneof![
            Just("id"),
            Just("kind"),
            Just("at"),
            Just("positions"),
            Just("price"),
            Just("quantity"),
            Just("receipt"),
            Just("original_receipt"),
            Just("measure"),
        ]
        .prop_map(String::from),
        "\\PC{0,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        "\\PC{0,24}".prop_map(Value::String),
        prop_oneof![
            Just("sale"),
            Just("return"),
            Just("10.00"),
            Just("1"),
            Just("2026-11-23T12:00:00+03:00"),
        ]
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A value a field should not have: wrong types, huge and negative numbers, odd strings.
fn odd_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        Just(json!(u64::MAX)),
        Just(json!(1e300)),
        Just(json!(-0.5)),
        Just(json!(1.5)),
        Just(json!(0)),
        Just(json!(-1)),
        prop_oneof![
            Just("9".repeat(40)),
            Just("999999999999.99".into()),
            Just("1000000000.01".into()),
            Just("1000001".into()),
            Just("-1".into()),
            Just("-0".into()),
            Just("0".into()),
            Just("0.001".into()),
            Just("1e5".into()),
            Just(" 1 ".into()),
            Just("NaN".into()),
            Just("".into()),
            Just(" ".into()),
            Just("x".repeat(256)),
            Just("я".repeat(300)),
            Just("x".repeat(100_000)),
            Just("a\u{0}b".into()),
            Just("\u{202e}abc".into()),
            Just("return".into()),
            Just("weight".into()),
            Just("2026-13-45T99:00:00Z".into()),
            Just("2026-11-23T12:00:00".into()),
        ]
        .prop_map(Value::String),
        "\\PC{0,40}".prop_map(Value::String),
        Just(json!([])),
        Just(json!({})),
        Just(json!(["1"])),
        Just(json!({ "id": "1" })),
        Just(json!([{ "id": "1", "price": "-5", "quantity": "0" }])),
    ]
}

const TOP: [&str; 7] = [
    "id",
    "kind",
    "at",
    "store",
    "cashier",
    "original_receipt",
    "positions",
];
const POSITION: [&str; 8] = [
    "id", "sku", "name", "category", "price", "quantity", "measure", "excise",
];

#[derive(Debug, Clone)]
enum Mutation {
    DropTop(usize),
    SetTop(usize, Value),
    DropField(usize, usize),
    SetField(usize, usize, Value),
    /// Another position with the id of the first.
    DuplicatePosition,
    /// `n` positions with distinct ids.
    Positions(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (0..TOP.len()).prop_map(Mutation::DropTop),
        (0..TOP.len(), odd_value()).prop_map(|(f, v)| Mutation::SetTop(f, v)),
        (0..2usize, 0..POSITION.len()).prop_map(|(p, f)| Mutation::DropField(p, f)),
        (0..2usize, 0..POSITION.len(), odd_value())
            .prop_map(|(p, f, v)| Mutation::SetField(p, f, v)),
        Just(Mutation::DuplicatePosition),
        prop_oneof![Just(0usize), Just(1000), Just(1001)].prop_map(Mutation::Positions),
    ]
}

fn mutate(receipt: &mut Value, m: &Mutation) {
    let object = receipt.as_object_mut().unwrap();
    match m {
        Mutation::DropTop(f) => {
            object.remove(TOP[*f]);
        }
        Mutation::SetTop(f, v) => {
            object.insert(TOP[*f].into(), v.clone());
        }
        Mutation::DropField(p, f) | Mutation::SetField(p, f, _) => {
            let position = object
                .get_mut("positions")
                .and_then(|ps| ps.get_mut(*p))
                .and_then(Value::as_object_mut);
            if let Some(position) = position {
                match m {
                    Mutation::SetField(_, _, v) => {
                        position.insert(POSITION[*f].into(), v.clone());
                    }
                    _ => {
                        position.remove(POSITION[*f]);
                    }
                }
            }
        }
        Mutation::DuplicatePosition => {
            if let Some(ps) = object.get_mut("positions").and_then(Value::as_array_mut)
                && let Some(first) = ps.first().cloned()
            {
                ps.push(first);
            }
        }
        Mutation::Positions(n) => {
            let ps = (0..*n)
                .map(|i| json!({ "id": format!("p{i}"), "price": "1.00", "quantity": "1" }))
                .collect();
            object.insert("positions".into(), Value::Array(ps));
        }
    }
}

/// A valid sale of 1 to 8 positions: prices up to a million rubles, pieces or weights.
fn valid_receipt() -> impl Strategy<Value = Value> {
    let position = (
        0u64..=100_000_000,
        prop_oneof![
            (1u32..=50).prop_map(|q| (q.to_string(), "piece")),
            (1u32..=50_000).prop_map(|g| (format!("{}.{:03}", g / 1000, g % 1000), "weight")),
        ],
        any::<bool>(),
        "\\PC{0,30}",
        "[a-z]{0,12}",
    );
    (
        "[A-Za-z0-9_.:-]{1,40}",
        prop::collection::vec(position, 1..=8),
        -12i32..=14,
    )
        .prop_map(|(id, positions, offset)| {
            let positions: Vec<Value> = positions
                .into_iter()
                .enumerate()
                .map(
                    |(i, (kopecks, (quantity, measure), excise, name, category))| {
                        json!({
                            "id": format!("{}", i + 1),
                            "name": name,
                            "category": category,
                            "price": format!("{}.{:02}", kopecks / 100, kopecks % 100),
                            "quantity": quantity,
                            "measure": measure,
                            "excise": excise,
                        })
                    },
                )
                .collect();
            json!({
                "id": fresh_id(&format!("valid-{id}")),
                "kind": "sale",
                "at": format!("2026-11-23T12:00:00{:+03}:00", offset),
                "positions": positions,
            })
        })
}

// ---------------------------------------------------------------------------------------
// The properties

proptest! {
    #![proptest_config(config())]

    /// Arbitrary bytes as a receipt or a close: a 4xx naming the problem, nothing opened.
    #[test]
    fn arbitrary_bytes_get_a_4xx_never_a_5xx(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..512),
            // Bytes that start like the JSON they should be.
            prop::collection::vec(any::<u8>(), 0..64).prop_map(|mut b| {
                b.splice(0..0, br#"{"id": "x", "kind": "sale", "#.iter().copied());
                b
            }),
        ],
    ) {
        let _one = one_at_a_time();
        shared().rt.block_on(async {
            for path in ["/v1/receipts", "/v1/receipts/prop-bytes/close"] {
                let answer = post(path, bytes.clone()).await;
                settle(&answer).await;
            }
            assert_free().await;
        });
    }

    /// Arbitrary JSON as a receipt, as a close, and wrapped as a close's receipt.
    #[test]
    fn arbitrary_json_gets_a_4xx_never_a_5xx(value in any_json()) {
        let _one = one_at_a_time();
        shared().rt.block_on(async {
            let wrapped = json!({ "receipt": value });
            for (path, body) in [
                ("/v1/receipts", &value),
                ("/v1/receipts/prop-json/close", &value),
                ("/v1/receipts/prop-json/close", &wrapped),
            ] {
                let answer = post(path, body.to_string().into_bytes()).await;
                settle(&answer).await;
            }
            assert_free().await;
        });
    }

    /// A valid receipt with dropped fields, wrong types, huge numbers, negative quantities,
    /// long ids, duplicate or too many positions: a receipt accepted, or a 4xx.
    #[test]
    fn a_mutated_receipt_is_accepted_or_refused_never_a_5xx(
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let _one = one_at_a_time();
        shared().rt.block_on(async {
            let mut receipt = valid("prop-mut");
            for m in &mutations {
                mutate(&mut receipt, m);
            }
            let body = receipt.to_string().into_bytes();
            let opened = post("/v1/receipts", body.clone()).await;
            // The close of what may have been opened, of the id the mutation left (when
            // short enough for a path), and a close body that is not wrapped.
            let id = receipt["id"].as_str().unwrap_or("prop-mut");
            let id = if id.len() <= 600 { id } else { "prop-mut" };
            let close = format!("/v1/receipts/{}/close", segment(id));
            let wrapped = json!({ "receipt": receipt }).to_string().into_bytes();
            let closed = post(&close, wrapped).await;
            assert_ne!(closed.status, 200, "closed a receipt nobody applied: {}", closed.body);
            post(&close, body).await;
            if matches!(opened.status, 200 | 201) {
                // The bridge accepted it: the receipt it stands for parses and validates.
                let parsed: Receipt = serde_json::from_value(receipt.clone()).unwrap();
                parsed.validate().unwrap();
                assert_eq!(closed.body["code"], "not_applied", "{}", closed.what);
            }
            settle(&opened).await;
            assert_free().await;
        });
    }

    /// A valid receipt opens (201), a repeat is a safe retry (200), a close before the
    /// cashier applied is refused, and the register's cancel frees the till.
    #[test]
    fn a_valid_receipt_is_accepted_then_cancelled(receipt in valid_receipt()) {
        let _one = one_at_a_time();
        shared().rt.block_on(async {
            let id = receipt["id"].as_str().unwrap().to_string();
            let body = receipt.to_string().into_bytes();
            let opened = post("/v1/receipts", body.clone()).await;
            assert_eq!(opened.status, 201, "{}: {}", opened.what, opened.body);
            let status: ReceiptStatus = serde_json::from_value(opened.body.clone()).unwrap();
            assert_eq!((status.id.as_str(), status.state), (id.as_str(), State::Open));
            let parsed: Receipt = serde_json::from_value(receipt.clone()).unwrap();
            assert_eq!(
                shared().till.panel.screen().await,
                bonuskassa::checkout::Screen::Find { receipt: parsed }
            );
            let again = post("/v1/receipts", body).await;
            assert_eq!((again.status, &again.body), (200, &opened.body));
            let path = format!("/v1/receipts/{}", segment(&id));
            let close = json!({ "receipt": receipt }).to_string().into_bytes();
            let closed = post(&format!("{path}/close"), close).await;
            assert_eq!(closed.status, 409, "{}", closed.body);
            assert_eq!(closed.body["code"], "not_applied");
            let cancelled = send(reqwest::Method::POST, &format!("{path}/cancel"), None).await;
            assert_eq!((cancelled.status, cancelled.body["state"].as_str()), (200, Some("cancelled")));
            assert_eq!(shared().till.pending(), 0);
        });
    }

    /// Any id and any wait, on every route: an answer at once, never a 5xx.
    #[test]
    fn any_id_and_any_wait_get_an_answer_at_once(
        id in prop_oneof![
            "\\PC{0,64}".prop_map(String::into_bytes),
            "[a-z0-9-]{1,12}".prop_map(String::into_bytes),
            Just(b"prop-mut".to_vec()),
            // Not UTF-8, most of the time.
            prop::collection::vec(any::<u8>(), 0..32),
        ],
        wait in prop_oneof![
            (0u32..=70).prop_map(|w| w.to_string().into_bytes()),
            "\\PC{0,12}".prop_map(String::into_bytes),
            Just(b"-1".to_vec()),
            Just(b"1e1".to_vec()),
            prop::collection::vec(any::<u8>(), 0..12),
        ],
    ) {
        let _one = one_at_a_time();
        shared().rt.block_on(async {
            let path = format!("/v1/receipts/{}", segment_bytes(&id));
            let query = format!("{path}?wait_s={}", segment_bytes(&wait));
            send(reqwest::Method::GET, &query, None).await;
            send(reqwest::Method::GET, &path, None).await;
            send(reqwest::Method::POST, &format!("{path}/cancel"), None).await;
            let id = String::from_utf8_lossy(&id);
            let close = json!({ "receipt": valid(&id) }).to_string().into_bytes();
            let closed = post(&format!("{path}/close"), close).await;
            assert_ne!(closed.status, 200, "closed a receipt nobody applied: {}", closed.body);
            assert_free().await;
        });
    }
}
