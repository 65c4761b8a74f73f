//! The server's store as a contract, on every engine of `crate::common::db` (SQLite, and PostgreSQL
//! when `BONUSKASSA_TEST_PG_URL` is set): the SMS limits, operations and spends under real
//! concurrency (many clients with the same ids; two server processes on one database), and,
//! for the embedded engine, the upgrade of a frozen old database and the privacy of the
//! data dir.
//!
//! The concurrency tests are the ones that fail if "apply an operation id at most once" were
//! a check-then-insert, or if a spend read the balance without locking the customer.

mod demo_history;
mod import;
pub(crate) mod reports;
mod sales;

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use crate::common::db::{TestDb, engines};
use crate::common::free_port;
use crate::common::receipts::{ReceiptJson, coffee};
use crate::common::server as srv;
use bonuskassa::domain::phone::Phone;
use bonuskassa::domain::rules::Rules;
use bonuskassa::protocol::server::{
    LookupRequest, Operation, OperationResult, OperationStatus, RejectReason,
};
use bonuskassa::server::auth::Terminal;
use bonuskassa::server::sms::{self, Purpose, SmsLimit, SmsPolicy, VerifyError};
use bonuskassa::server::store::{self, CustomerKey, Engine, Location, Store};
use bonuskassa::server::{admin, customers, ops};
use chrono::{DateTime, Duration as Span, TimeZone, Utc};
use serde_json::{Value, json};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
}

fn rules() -> Rules {
    Rules::from_toml_str(admin::DEMO_RULES).unwrap()
}

/// A database of one engine with the demo data, and the demo customers' ids by phone.
fn demo(engine: Engine) -> (TestDb, Arc<dyn Store>) {
    let db = TestDb::new(engine);
    let store = db.open();
    admin::demo_data_in(&*store, t0()).unwrap();
    (db, store)
}

fn customer_id(store: &dyn Store, phone: &str) -> String {
    store::read(store, |r| r.customer(CustomerKey::Phone(phone)))
        .unwrap()
        .unwrap()
        .id
}

fn balance(store: &dyn Store, id: &str, now: DateTime<Utc>) -> i64 {
    store::read(store, |r| r.balance(id, now)).unwrap().active
}

fn terminal(n: usize) -> Terminal {
    Terminal {
        id: format!("terminal-{n}"),
        store_id: admin::DEMO_STORE.into(),
    }
}

fn op(seq: u64, body: Value) -> Operation {
    serde_json::from_value(json!({
        "id": uuid::Uuid::now_v7().to_string(), "seq": seq, "at": t0(),
        "cashier": "Управляющий Олег", "cashier_id": 2, "body": body }))
    .unwrap()
}

fn sale_receipt(id: &str, price: &str) -> Value {
    ReceiptJson::sale(id).line(coffee(price)).json()
}

/// Runs `work(0)` … `work(n - 1)` on `n` threads released at the same moment.
fn at_once<T: Send>(n: usize, work: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let barrier = Barrier::new(n);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (barrier, work) = (&barrier, &work);
                scope.spawn(move || {
                    barrier.wait();
                    work(i)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

// --- SMS limits ------------------------------------------------------------------------------

fn phone(n: u32) -> Phone {
    Phone::parse(&format!("+7999{n:07}")).unwrap()
}

fn send(
    store: &dyn Store,
    p: &Phone,
    terminal: &str,
    at: DateTime<Utc>,
) -> Result<sms::Issued, SmsLimit> {
    let policy = SmsPolicy::default();
    store::write(store, |tx| {
        sms::issue_code(
            tx,
            &policy,
            p,
            Purpose::Registration,
            terminal,
            at,
            &mut rand::rng(),
        )
    })
    .unwrap()
}

#[test]
fn sms_limits_hold_on_every_engine() {
    for engine in engines() {
        let db = TestDb::new(engine);
        let store = db.open();
        let s = &*store;
        let p = phone(1);
        let first = send(s, &p, "t1", t0()).unwrap();
        assert_eq!(first.code.resend_after_s, 60, "{engine}");
        // The cooldown, from any terminal.
        assert_eq!(
            send(s, &p, "t2", t0() + Span::seconds(10)).unwrap_err(),
            SmsLimit::Cooldown { retry_after_s: 50 },
            "{engine}"
        );
        // Three per ten minutes: the fourth waits for the first to leave the window.
        send(s, &p, "t1", t0() + Span::seconds(61)).unwrap();
        let third = send(s, &p, "t1", t0() + Span::seconds(122)).unwrap();
        assert_eq!(third.code.resend_after_s, 600 - 122, "{engine}");
        assert_eq!(
            send(s, &p, "t1", t0() + Span::seconds(183)).unwrap_err(),
            SmsLimit::PhoneRateLimited {
                retry_after_s: 600 - 183
            },
            "{engine}"
        );
        // Thirty per terminal per hour, whatever the phones.
        for n in 0..27 {
            send(s, &phone(100 + n), "t1", t0() + Span::seconds(200)).unwrap();
        }
        assert!(
            matches!(
                send(s, &phone(200), "t1", t0() + Span::seconds(201)),
                Err(SmsLimit::TerminalRateLimited { .. })
            ),
            "{engine}"
        );
        send(s, &phone(200), "t3", t0() + Span::seconds(201)).unwrap();

        // Five wrong tries kill a code, even for the right one afterwards; a verification
        // is good once.
        let q = phone(300);
        let issued = send(s, &q, "t3", t0() + Span::seconds(300)).unwrap();
        let policy = SmsPolicy::default();
        let verify =
            |code: &str, at| sms::verify(s, &policy, &q, Purpose::Registration, code, at).unwrap();
        let wrong = if issued.code.code == "000000" {
            "111111"
        } else {
            "000000"
        };
        for left in (0..5).rev() {
            assert_eq!(
                verify(wrong, t0() + Span::seconds(301)),
                Err(VerifyError::Wrong { tries_left: left }),
                "{engine}"
            );
        }
        assert_eq!(
            verify(&issued.code.code, t0() + Span::seconds(302)),
            Err(VerifyError::TooManyTries),
            "{engine}"
        );
        let r = phone(301);
        let issued = send(s, &r, "t3", t0() + Span::seconds(303)).unwrap();
        let token = sms::verify(
            s,
            &policy,
            &r,
            Purpose::Registration,
            &issued.code.code,
            t0() + Span::seconds(304),
        )
        .unwrap()
        .unwrap();
        let consume = || {
            store::write(s, |tx| {
                sms::consume_verification(
                    tx,
                    &token,
                    &r,
                    Purpose::Registration,
                    t0() + Span::seconds(305),
                )
            })
            .unwrap()
        };
        assert!(consume(), "{engine}");
        assert!(!consume(), "{engine}: a verification is good once");
    }
}

#[test]
fn concurrent_sends_to_one_phone_pass_the_cooldown_once() {
    for engine in engines() {
        let db = TestDb::new(engine);
        let store = db.open();
        let sent: usize = at_once(8, |i| {
            send(&*store, &phone(7), &format!("t{i}"), t0()).is_ok() as usize
        })
        .into_iter()
        .sum();
        assert_eq!(sent, 1, "{engine}: one code passes the cooldown");
    }
}

// --- Operations under concurrency ------------------------------------------------------------

/// On a cluster whose default isolation is serializable (`.ci/run` says so with
/// `BONUSKASSA_TEST_PG_SERIALIZABLE=1`), the concurrency tests must have met real
/// serialization failures, and `store::write` must have run those transactions again.
fn check_retries_on_a_serializable_cluster(engine: Engine, before: u64) {
    let serializable = std::env::var("BONUSKASSA_TEST_PG_SERIALIZABLE").is_ok_and(|v| v == "1");
    if engine == Engine::Postgres && serializable {
        assert!(
            store::conflicts_retried() > before,
            "no transaction was retried: the serializable run met no serialization failure"
        );
    }
}

fn statuses(results: &[OperationResult]) -> (usize, usize, usize) {
    let count = |s| results.iter().filter(|r| r.status == s).count();
    (
        count(OperationStatus::Applied),
        count(OperationStatus::Duplicate),
        count(OperationStatus::Rejected),
    )
}

#[test]
fn many_clients_posting_the_same_operations_apply_each_once() {
    for engine in engines() {
        let before = store::conflicts_retried();
        let (_db, store) = demo(engine);
        let rules = rules();
        let karina = customer_id(&*store, "+79990000001");
        let ilya = customer_id(&*store, "+79990000002");
        // One till's batch: sales and manual changes, sent by eight clients at once (a till
        // that resends while its first attempt is still in flight, through two nodes).
        let batch: Vec<Operation> = (0..12)
            .map(|i| {
                let customer = if i % 2 == 0 { &karina } else { &ilya };
                if i % 3 == 0 {
                    op(
                        i + 1,
                        json!({ "kind": "manual_change", "customer_id": customer, "amount": "7", "reason": "проверка" }),
                    )
                } else {
                    op(
                        i + 1,
                        json!({ "kind": "sale", "customer_id": customer, "spend": "0",
                                "receipt": sale_receipt(&format!("r-{i}"), "300.00") }),
                    )
                }
            })
            .collect();
        let answers = at_once(8, |_| {
            ops::apply_batch(&*store, &rules, &terminal(1), batch.clone(), t0).unwrap()
        });
        for (i, o) in batch.iter().enumerate() {
            let applied = answers
                .iter()
                .filter(|a| a[i].status == OperationStatus::Applied)
                .count();
            assert_eq!(
                applied, 1,
                "{engine}: operation {i} applied {applied} times"
            );
            for a in &answers {
                assert_eq!(a[i].id, o.id);
                assert_ne!(
                    a[i].status,
                    OperationStatus::Rejected,
                    "{engine}: {:?}",
                    a[i]
                );
            }
        }
        let census = store::read(&*store, |r| r.census()).unwrap();
        assert_eq!(census.applied, 12, "{engine}");
        assert_eq!(census.sales, 8, "{engine}");
        assert_eq!(census.doubled_entries, 0, "{engine}");
        assert_eq!(census.unbalanced, 0, "{engine}");
        check_retries_on_a_serializable_cluster(engine, before);
    }
}

#[test]
fn the_same_bonuses_spent_from_many_tills_at_once_go_once() {
    for engine in engines() {
        let before = store::conflicts_retried();
        let (_db, store) = demo(engine);
        let rules = rules();
        let karina = customer_id(&*store, "+79990000001"); // 500 bonuses
        // Each till takes 300 of the 500 by hand: only one can.
        let results = at_once(8, |i| {
            let o = op(
                1,
                json!({ "kind": "manual_change", "customer_id": karina, "amount": "-300", "reason": "списание" }),
            );
            ops::apply_batch(&*store, &rules, &terminal(10 + i), vec![o], t0)
                .unwrap()
                .remove(0)
        });
        assert_eq!(statuses(&results), (1, 0, 7), "{engine}: {results:?}");
        assert!(
            results
                .iter()
                .filter(|r| r.status == OperationStatus::Rejected)
                .all(|r| r.reason == Some(RejectReason::InsufficientBalance)),
            "{engine}"
        );
        assert_eq!(balance(&*store, &karina, t0()), 20_000, "{engine}");

        // Sales with a spend from eight tills at once: whatever order they run in, the
        // balance never goes below zero and every bonus is accounted for.
        let results = at_once(8, |i| {
            let o = op(
                2,
                json!({ "kind": "sale", "customer_id": karina, "spend": "150",
                        "receipt": sale_receipt(&format!("s-{i}"), "1000.00") }),
            );
            ops::apply_batch(&*store, &rules, &terminal(10 + i), vec![o], t0)
                .unwrap()
                .remove(0)
        });
        let (applied, _, rejected) = statuses(&results);
        assert_eq!(applied + rejected, 8, "{engine}");
        // 200 left: the first sale spends 150 and gets 17 + the 100 first-purchase gift
        // (167 left), the second spends 150 and gets 17 (34 left); no third can spend.
        assert_eq!(applied, 2, "{engine}: {results:?}");
        assert_eq!(balance(&*store, &karina, t0()), 3_400, "{engine}");
        let census = store::read(&*store, |r| r.census()).unwrap();
        assert_eq!(census.unbalanced, 0, "{engine}");
        assert_eq!(census.doubled_entries, 0, "{engine}");
        check_retries_on_a_serializable_cluster(engine, before);
    }
}

#[test]
fn receipt_numbers_are_per_till_and_returns_find_the_sale_of_their_till() {
    for engine in engines() {
        let (_db, store) = demo(engine);
        let rules = rules();
        let ilya = customer_id(&*store, "+79990000002");
        let sell = |t: usize, seq| {
            let o = op(
                seq,
                json!({ "kind": "sale", "customer_id": ilya, "spend": "0",
                        "receipt": sale_receipt("1", "1000.00") }),
            );
            ops::apply_batch(&*store, &rules, &terminal(t), vec![o], t0)
                .unwrap()
                .remove(0)
        };
        assert_eq!(sell(1, 1).status, OperationStatus::Applied, "{engine}");
        assert_eq!(
            sell(2, 1).status,
            OperationStatus::Applied,
            "{engine}: receipt 1 of another till is another sale"
        );
        let again = sell(1, 2);
        assert_eq!(again.status, OperationStatus::Rejected, "{engine}");
        assert_eq!(again.reason, Some(RejectReason::Invalid), "{engine}");
        let ret = |t: usize, seq| {
            let receipt = json!({ "id": format!("ret-{t}"), "kind": "return", "at": "2026-11-23T13:00:00+03:00",
                "original_receipt": "1", "positions": [ { "id": "1", "price": "1000.00", "quantity": "1" } ] });
            let o = op(seq, json!({ "kind": "return", "receipt": receipt }));
            ops::apply_batch(&*store, &rules, &terminal(t), vec![o], t0)
                .unwrap()
                .remove(0)
        };
        assert_eq!(ret(2, 2).status, OperationStatus::Applied, "{engine}");
        // Till 3 never sold receipt 1.
        assert_eq!(
            ret(3, 1).reason,
            Some(RejectReason::SaleNotFound),
            "{engine}"
        );
        // Till 1's sale is still whole: its own return goes through.
        assert_eq!(ret(1, 3).status, OperationStatus::Applied, "{engine}");
    }
}

// --- Two server processes on one database ----------------------------------------------------

/// A `bonuskassa-server serve` process, stopped when dropped.
struct Node {
    child: Child,
    base: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn db_args(location: &Location) -> Vec<String> {
    match location {
        Location::Sqlite(dir) => vec!["--data".into(), dir.display().to_string()],
        Location::Postgres(url) => vec!["--database".into(), url.clone()],
    }
}

async fn node(location: &Location, http: &reqwest::Client) -> Node {
    let listen = format!("127.0.0.1:{}", free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_bonuskassa-server"))
        .arg("serve")
        .args(db_args(location))
        .args(["--listen", &listen])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let node = Node {
        child,
        base: format!("http://{listen}/api/v1"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while http
        .get(format!("{}/health", node.base))
        .send()
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "a server node did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    node
}

async fn post(http: &reqwest::Client, url: String, token: &str, body: Value) -> Value {
    let r = http
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_server_processes_on_one_database_answer_as_one() {
    for engine in engines() {
        let db = TestDb::new(engine);
        admin::demo_data(&db.location, t0()).unwrap();
        let code = admin::enroll_code(&db.location, admin::DEMO_STORE, Utc::now()).unwrap();
        let http = reqwest::Client::new();
        let (a, b) = (
            node(&db.location, &http).await,
            node(&db.location, &http).await,
        );

        // Enrolled through one, the token works through the other.
        let enrolled: Value = http
            .post(format!("{}/enroll", a.base))
            .json(&json!({ "code": code, "name": "Касса 1" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = enrolled["token"].as_str().unwrap().to_string();
        let found = post(
            &http,
            format!("{}/customers/lookup", b.base),
            &token,
            json!({ "phone": "+79990000001" }),
        )
        .await;
        let karina = found["id"].as_str().unwrap().to_string();
        assert_eq!(found["balance"], "500.00", "{engine}");

        // One operation id posted to both at once: applied once, the other a duplicate.
        let same = json!({ "operations": [ {
            "id": uuid::Uuid::now_v7().to_string(), "seq": 1, "at": Utc::now(), "cashier": "Кассир Мария",
            "body": { "kind": "sale", "customer_id": karina, "spend": "0", "receipt": sale_receipt("n-1", "500.00") } } ] });
        let (ra, rb) = tokio::join!(
            post(
                &http,
                format!("{}/operations", a.base),
                &token,
                same.clone()
            ),
            post(
                &http,
                format!("{}/operations", b.base),
                &token,
                same.clone()
            ),
        );
        let mut seen = [
            ra["results"][0]["status"].as_str().unwrap().to_string(),
            rb["results"][0]["status"].as_str().unwrap().to_string(),
        ];
        seen.sort();
        assert_eq!(seen, ["applied", "duplicate"], "{engine}");

        // The same bonuses spent through both at once: one applied, one rejected.
        let spend = |seq: u64| {
            json!({ "operations": [ {
                "id": uuid::Uuid::now_v7().to_string(), "seq": seq, "at": Utc::now(), "cashier": "Управляющий Олег",
                "cashier_id": 2,
                "body": { "kind": "manual_change", "customer_id": karina, "amount": "-400", "reason": "списание" } } ] })
        };
        let (ra, rb) = tokio::join!(
            post(&http, format!("{}/operations", a.base), &token, spend(2)),
            post(&http, format!("{}/operations", b.base), &token, spend(3)),
        );
        let mut seen = [
            ra["results"][0]["status"].as_str().unwrap().to_string(),
            rb["results"][0]["status"].as_str().unwrap().to_string(),
        ];
        seen.sort();
        assert_eq!(seen, ["applied", "rejected"], "{engine}");

        // Both nodes give the same answer afterwards, and the balance never went below
        // what the rules allow.
        let la = post(
            &http,
            format!("{}/customers/lookup", a.base),
            &token,
            json!({ "phone": "+79990000001" }),
        )
        .await;
        let lb = post(
            &http,
            format!("{}/customers/lookup", b.base),
            &token,
            json!({ "phone": "+79990000001" }),
        )
        .await;
        assert_eq!(la, lb, "{engine}");
        assert!(
            !la["balance"].as_str().unwrap().starts_with('-'),
            "{engine}"
        );
        drop((a, b));
        let store = db.open();
        let census = store::read(&*store, |r| r.census()).unwrap();
        assert_eq!(census.unbalanced, 0, "{engine}");
        assert_eq!(census.doubled_entries, 0, "{engine}");
    }
}

// --- The embedded engine: upgrade and privacy ------------------------------------------------

/// The frozen database `tests/fixtures/server-v1.sqlite3` was made by the server as it was
/// before the storage seam (schema version 2), through its HTTP API: the demo data, two
/// tills, registrations with and without a code, sales with spends at both tills (receipt
/// "1" at each: the second was refused then), a partial return, manual changes, a consent,
/// an audit event, an unused SMS code, and an expiry. `server-v1.json` holds what its
/// customers' cards and histories said at the time. Neither file is ever edited.
/// `answer` has every field of `then` with the same value (objects may have more fields;
/// arrays are compared item by item); `at` names the place for the failure.
fn says_all_of(answer: &Value, then: &Value, at: &str) {
    match (answer, then) {
        (Value::Object(now), Value::Object(then)) => {
            for (key, value) in then {
                let here = format!("{at}.{key}");
                let Some(got) = now.get(key) else {
                    panic!("{here} is missing from {answer}");
                };
                says_all_of(got, value, &here);
            }
        }
        (Value::Array(now), Value::Array(then)) => {
            assert_eq!(now.len(), then.len(), "{at}: {answer} against {then:?}");
            for (i, (got, value)) in now.iter().zip(then).enumerate() {
                says_all_of(got, value, &format!("{at}[{i}]"));
            }
        }
        _ => assert_eq!(answer, then, "{at}"),
    }
}

#[test]
fn a_database_of_the_first_schema_opens_migrated_with_every_balance_and_history_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    std::fs::create_dir(&data).unwrap();
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    std::fs::copy(
        format!("{fixtures}/server-v1.sqlite3"),
        bonuskassa::server::database_path(&data),
    )
    .unwrap();
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{fixtures}/server-v1.json")).unwrap(),
    )
    .unwrap();
    let at: DateTime<Utc> = expected["at"].as_str().unwrap().parse().unwrap();

    let store = store::open(&data.as_path().into()).unwrap();
    let rules = rules();
    for c in expected["customers"].as_array().unwrap() {
        let req = LookupRequest {
            phone: Some(bonuskassa::protocol::server::Secret(
                c["phone"].as_str().unwrap().into(),
            )),
            ..LookupRequest::default()
        };
        let mut r = store.begin_read().unwrap();
        let view = customers::lookup(&mut *r, &rules, &req, at).unwrap();
        // The view tells the consents since they can be changed at the till: migrated
        // from the consents the old server kept, the latest of each kind. The rest says
        // all that the old server's view did.
        let mut shown = serde_json::to_value(&view).unwrap();
        let fields = shown.as_object_mut().unwrap();
        let processing = fields.remove("consent_processing");
        let advertising = fields.remove("consent_advertising");
        says_all_of(&shown, &c["view"], "view");
        let kept = r.consents(&view.id).unwrap();
        let latest = |kind: &str| {
            kept.iter()
                .rev()
                .find(|k| k.kind == kind)
                .map(|k| k.granted)
        };
        assert_eq!(
            processing.is_none(),
            latest("processing") != Some(false),
            "{kept:?}"
        );
        assert_eq!(
            advertising.is_some(),
            latest("advertising") == Some(true),
            "{kept:?}"
        );
        let history = customers::history(&mut *r, &view.id, 1000, at).unwrap();
        says_all_of(
            &serde_json::to_value(&history).unwrap(),
            &c["history"],
            "history",
        );
    }
    let census = store::read(&*store, |r| r.census()).unwrap();
    assert_eq!(census.unbalanced, 0);
    assert_eq!(census.customers, 6);
    let feed = store::read(&*store, |r| r.feed(0, 1000, at)).unwrap();
    assert_eq!(
        feed.0.len() as u64,
        expected["feed_count"].as_u64().unwrap()
    );

    // An operation the old server applied is a duplicate now, with its original answer.
    // Raw SQL: the fixture's operation ids are not known to the test, and the store finds
    // an operation by its id only.
    let (op_id, seq, terminal_id, answer): (String, i64, String, String) = {
        let conn = rusqlite::Connection::open(bonuskassa::server::database_path(&data)).unwrap();
        conn.query_row(
            "SELECT id, seq, terminal_id, answer FROM operations WHERE kind = 'sale' AND status = 'applied' ORDER BY received_at LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap()
    };
    let till = Terminal {
        id: terminal_id,
        store_id: admin::DEMO_STORE.into(),
    };
    let mut resend = op(
        seq as u64,
        json!({ "kind": "consent", "customer_id": "x", "advertising": true }),
    );
    resend.id = op_id;
    let r = ops::apply_batch(&*store, &rules, &till, vec![resend], || at).unwrap();
    assert_eq!(r[0].status, OperationStatus::Duplicate);
    assert_eq!(
        r[0].answer.as_ref().unwrap(),
        &serde_json::from_str::<Value>(&answer).unwrap()
    );
    // And the old sale of receipt "1" at that till takes a return.
    let karina = customer_id(&*store, "+79990000001");
    let before = balance(&*store, &karina, at);
    let ret = op(
        100,
        json!({ "kind": "return", "receipt": { "id": "r-2", "kind": "return", "at": "2026-11-27T12:30:00+03:00",
            "original_receipt": "1", "positions": [ { "id": "1", "price": "234.00", "quantity": "1" } ] } }),
    );
    let r = ops::apply_batch(&*store, &rules, &till, vec![ret], || at).unwrap();
    assert_eq!(r[0].status, OperationStatus::Applied, "{:?}", r[0]);
    assert_ne!(balance(&*store, &karina, at), before);
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_dir_is_private_to_the_server_and_every_file_in_it_too() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    // An old data dir, made with a loose umask.
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    admin::demo_data(&data, t0()).unwrap();
    let log = data.join(sms::LOG_FILE);
    std::fs::write(&log, "").unwrap();
    std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o644)).unwrap();

    let server = srv::spawn(
        srv::config(&data, false),
        bonuskassa::server::ManualClock::at(t0()),
    );
    let http = reqwest::Client::new();
    let enrolled = srv::enroll(&http, &server, &data, t0()).await;
    let token = enrolled.token.as_str();
    post(
        &http,
        format!("{}/api/v1/sms/send", server.url()),
        token,
        json!({ "phone": "+79990001234", "purpose": "registration" }),
    )
    .await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    let mut files = 0;
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
        files += 1;
    }
    assert!(files >= 3, "the database, its WAL and the SMS log");
    server.stop().unwrap();
}

#[test]
fn no_table_holds_an_sms_code_or_a_verification_token_in_plain() {
    let dir = tempfile::tempdir().unwrap();
    let store = store::open(&dir.path().into()).unwrap();
    let policy = SmsPolicy {
        cooldown: Span::zero(),
        per_phone_max: 1000,
        per_terminal_hour_max: 1000,
        ..SmsPolicy::default()
    };
    let p = phone(1);
    let mut codes = Vec::new();
    for i in 0..50 {
        let at = t0() + Span::milliseconds(i);
        let issued = store::write(&*store, |tx| {
            sms::issue_code(tx, &policy, &p, Purpose::Spend, "t1", at, &mut rand::rng())
        })
        .unwrap()
        .unwrap();
        codes.push(issued.code.code);
    }
    let last = codes.last().unwrap().clone();
    let token = sms::verify(
        &*store,
        &policy,
        &p,
        Purpose::Spend,
        &last,
        t0() + Span::seconds(1),
    )
    .unwrap()
    .unwrap();
    drop(store);
    // Raw SQL on purpose: every column of every row is searched for a code or the token,
    // including columns the store's API never returns.
    let conn = rusqlite::Connection::open(bonuskassa::server::database_path(dir.path())).unwrap();
    for table in ["sms_codes", "verifications"] {
        let mut stmt = conn.prepare(&format!("SELECT * FROM {table}")).unwrap();
        let columns = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for i in 0..columns {
                let bytes: Vec<u8> = match row.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                        t.to_vec()
                    }
                    other => format!("{other:?}").into_bytes(),
                };
                for code in &codes {
                    assert!(
                        !bytes.windows(6).any(|w| w == code.as_bytes()),
                        "{table}.{i} holds a code"
                    );
                }
                assert!(
                    !String::from_utf8_lossy(&bytes).contains(&token),
                    "{table}.{i} holds the token"
                );
            }
        }
    }
}

/// The fleet simulator, small: tills through one node (SQLite) or two (PostgreSQL), then
/// its own checks of the database. The full-size fleet is a load run, outside `cargo test`.
#[test]
fn a_small_fleet_loses_and_doubles_nothing() {
    for engine in engines() {
        let db = TestDb::new(engine);
        let nodes = match engine {
            Engine::Sqlite => "1",
            Engine::Postgres => "2",
        };
        let out = Command::new(env!("CARGO_BIN_EXE_bonuskassa-server"))
            .arg("fleet-sim")
            .args(db_args(&db.location))
            .args([
                "--nodes",
                nodes,
                "--tills",
                "12",
                "--ops",
                "8",
                "--customers",
                "40",
            ])
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{engine}: {report}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(report.contains("96 operations"), "{engine}: {report}");
        assert!(report.contains("0 lost, 0 doubled"), "{engine}: {report}");
        assert!(report.trim_end().ends_with("OK"), "{engine}: {report}");
    }
}

/// Two nodes run their periodic jobs on one database at the same moment: each expired
/// batch burns once, each birthday bonus is granted once, and the customer below their
/// status's `keep` condition drops one level once.
#[test]
fn jobs_run_by_several_nodes_at_once_burn_and_grant_each_item_once() {
    for engine in engines() {
        let (db, first) = demo(engine);
        let later = t0() + Span::days(366);
        // A customer whose birthday it is on that day.
        let birthday = bonuskassa::server::store::NewCustomer {
            id: uuid::Uuid::now_v7().to_string(),
            phone: "+79990000077".into(),
            card_status: "Стандартная".into(),
            phone_verified: true,
            birth_date: chrono::NaiveDate::from_ymd_opt(1990, 11, 24),
            registered_at: t0(),
            ..Default::default()
        };
        store::write(&*first, |tx| tx.insert_customer(&birthday)).unwrap();
        // Each node has a store of its own, as separate processes do.
        let nodes: Vec<Arc<dyn Store>> = (0..4).map(|_| db.open()).collect();
        let reports = at_once(nodes.len(), |i| {
            bonuskassa::server::jobs::run_once(
                &*nodes[i],
                &rules(),
                &SmsPolicy::default(),
                t0(),
                later,
            )
            .unwrap()
        });
        let burnt: u32 = reports.iter().map(|r| r.burnt).sum();
        let birthdays: u32 = reports.iter().map(|r| r.birthdays).sum();
        assert_eq!(
            burnt, 3,
            "{engine}: the three demo balances burn once: {reports:?}"
        );
        assert_eq!(birthdays, 1, "{engine}: one birthday bonus: {reports:?}");
        let dropped: u32 = reports.iter().map(|r| r.dropped).sum();
        assert_eq!(
            dropped, 1,
            "{engine}: Серебряная without purchases: {reports:?}"
        );
        let silver = customer_id(&*first, "+79990000002");
        let changes = store::read(&*first, |r| r.status_changes(&silver)).unwrap();
        assert_eq!(changes.len(), 1, "{engine}: {changes:?}");
        assert_eq!(
            (changes[0].from.as_str(), changes[0].to.as_str()),
            ("Серебряная", "Стандартная")
        );
        for phone in ["+79990000001", "+79990000002", "+79990000003"] {
            let id = customer_id(&*first, phone);
            let lines = store::read(&*first, |r| r.history(&id, 100)).unwrap();
            let expiries = lines
                .iter()
                .filter(|h| h.kind == bonuskassa::server::store::Source::Expiry)
                .count();
            assert_eq!(expiries, 1, "{engine}: {phone}");
        }
        let gifts = store::read(&*first, |r| r.history(&birthday.id, 100)).unwrap();
        assert_eq!(gifts.len(), 1, "{engine}: {gifts:?}");
        let census = store::read(&*first, |r| r.census()).unwrap();
        assert_eq!(census.unbalanced, 0, "{engine}");
    }
}

mod holds;
mod statuses;

#[test]
fn a_managers_code_lifts_a_terminals_login_lock_and_no_other_code_does() {
    use bonuskassa::server::auth::{self, LoginError};
    for engine in engines() {
        let (_db, store) = demo(engine);
        let enrolled = |name: &str| {
            let code = store::write(&*store, |tx| {
                Ok(auth::issue_enrollment_code(tx, admin::DEMO_STORE, t0()))
            })
            .unwrap()
            .unwrap();
            let e = auth::enroll(&*store, &code, name, t0()).unwrap();
            bonuskassa::server::auth::Terminal {
                id: e.terminal_id,
                store_id: e.store_id,
            }
        };
        let (till, other) = (enrolled("Касса 1"), enrolled("Касса 2"));
        for _ in 0..5 {
            assert!(auth::login(&*store, &till, "0000", t0()).unwrap().is_err());
        }
        let locked = auth::login(&*store, &till, admin::DEMO_CASHIER_CODE, t0()).unwrap();
        assert!(
            matches!(locked, Err(LoginError::Locked { .. })),
            "{engine}: {locked:?}"
        );
        // A cashier's code (or any other) is one more wrong code, and locks longer.
        let cashier = auth::unlock(&*store, &till, admin::DEMO_CASHIER_CODE, t0()).unwrap();
        assert!(
            matches!(
                cashier,
                Err(LoginError::Wrong {
                    retry_after_s: Some(60),
                    ..
                })
            ),
            "{engine}: {cashier:?}"
        );
        // The manager's lifts it, and the count starts again.
        let manager = auth::unlock(&*store, &till, admin::DEMO_MANAGER_CODE, t0()).unwrap();
        assert_eq!(
            manager.unwrap().role,
            bonuskassa::protocol::server::Role::Manager,
            "{engine}"
        );
        assert!(
            auth::login(&*store, &till, admin::DEMO_CASHIER_CODE, t0())
                .unwrap()
                .is_ok()
        );
        // Another terminal's lock is its own.
        for _ in 0..5 {
            let _ = auth::login(&*store, &other, "0000", t0()).unwrap();
        }
        assert!(
            auth::login(&*store, &till, admin::DEMO_CASHIER_CODE, t0())
                .unwrap()
                .is_ok()
        );
    }
}
