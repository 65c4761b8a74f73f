//! The SMS gateways against a local fake SMS.ru provider (axum on a loopback port) and a
//! temporary data dir: what counts as delivered, and that no error ever names the phone,
//! the text or the provider key.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bonuskassa::domain::phone::Phone;
use bonuskassa::server::sms::{
    GatewayConfig, GatewayError, HttpGateway, LOG_FILE, LogGateway, SmsGateway, message_text,
};
use serde_json::json;

const KEY: &str = "TEST-KEY-8f3a&b=c";
const CODE: &str = "402913";

fn phone() -> Phone {
    Phone::parse("+7 999 000-11-22").unwrap()
}

/// What the fake provider received, one map of query parameters per request.
type Seen = Arc<Mutex<Vec<HashMap<String, String>>>>;

/// Starts the fake provider and returns its address and what it sees.
async fn provider() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let app = axum::Router::new()
        .route("/ok", get(ok))
        .route("/error", get(error))
        .route("/fail500", get(fail500))
        .route("/slow", get(slow))
        .route("/echo", get(echo))
        .route("/number-error", get(number_error))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

async fn ok(State(seen): State<Seen>, Query(q): Query<HashMap<String, String>>) -> Response {
    let to = q.get("to").cloned().unwrap_or_default();
    seen.lock().unwrap().push(q);
    Json(json!({
        "status": "OK", "status_code": 100, "balance": 4122.56,
        "sms": { to: { "status": "OK", "status_code": 100, "sms_id": "000000-10000000" } }
    }))
    .into_response()
}

async fn error() -> Response {
    Json(json!({ "status": "ERROR", "status_code": 200, "status_text": "Неправильный api_id" }))
        .into_response()
}

async fn fail500() -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, "provider is down").into_response()
}

async fn slow() -> Response {
    tokio::time::sleep(Duration::from_secs(5)).await;
    Json(json!({ "status": "OK" })).into_response()
}

/// A provider that quotes everything it was sent back in its status fields.
async fn echo(Query(q): Query<HashMap<String, String>>) -> Response {
    let all = format!("{} {} {}", q["api_id"], q["to"], q["msg"]);
    Json(json!({ "status": all, "status_code": q["to"], "status_text": all })).into_response()
}

/// SMS.ru says OK for the request but refuses the one number in it.
async fn number_error(Query(q): Query<HashMap<String, String>>) -> Response {
    Json(json!({
        "status": "OK", "status_code": 100,
        "sms": { q["to"].clone(): { "status": "ERROR", "status_code": 207,
                                    "status_text": format!("На номер {} нельзя отправлять", q["to"]) } }
    }))
    .into_response()
}

fn gateway(base: &str, path: &str, timeout: Duration) -> HttpGateway {
    HttpGateway::new(
        format!("{base}{path}?api_id={{key}}&to={{phone}}&msg={{text}}&json=1"),
        KEY.to_owned(),
        timeout,
    )
    .unwrap()
}

/// The error's message must not carry anything personal or secret.
fn assert_clean(e: &GatewayError) -> String {
    let message = e.to_string();
    let debug = format!("{e:?}");
    for shown in [&message, &debug] {
        for secret in ["9990001122", CODE, "Код", "TEST-KEY", "8f3a"] {
            assert!(!shown.contains(secret), "{secret:?} in {shown:?}");
        }
    }
    message
}

#[tokio::test]
async fn http_gateway_delivers_on_status_ok() {
    let (base, seen) = provider().await;
    let text = message_text(CODE);
    gateway(&base, "/ok", Duration::from_secs(5))
        .send(&phone(), &text)
        .await
        .unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    // The provider got the key, E.164 without '+', and the Cyrillic text intact.
    assert_eq!(seen[0]["api_id"], KEY);
    assert_eq!(seen[0]["to"], "79990001122");
    assert_eq!(seen[0]["msg"], text);
    assert_eq!(seen[0]["json"], "1");
}

#[tokio::test]
async fn http_gateway_reports_a_provider_error() {
    let (base, _) = provider().await;
    let e = gateway(&base, "/error", Duration::from_secs(5))
        .send(&phone(), &message_text(CODE))
        .await
        .unwrap_err();
    assert!(matches!(e, GatewayError::Provider { .. }), "{e:?}");
    assert_eq!(
        assert_clean(&e),
        "the sms provider refused the message: status ERROR (code 200)"
    );
}

#[tokio::test]
async fn http_gateway_reports_a_refused_number() {
    let (base, _) = provider().await;
    let e = gateway(&base, "/number-error", Duration::from_secs(5))
        .send(&phone(), &message_text(CODE))
        .await
        .unwrap_err();
    assert_eq!(
        assert_clean(&e),
        "the sms provider refused the message: status ERROR (code 207)"
    );
}

#[tokio::test]
async fn http_gateway_reports_http_500() {
    let (base, _) = provider().await;
    let e = gateway(&base, "/fail500", Duration::from_secs(5))
        .send(&phone(), &message_text(CODE))
        .await
        .unwrap_err();
    assert!(matches!(e, GatewayError::Http { status: 500 }), "{e:?}");
    assert_eq!(assert_clean(&e), "the sms provider answered http 500");
}

#[tokio::test]
async fn http_gateway_gives_up_after_its_timeout() {
    let (base, _) = provider().await;
    let started = Instant::now();
    let e = gateway(&base, "/slow", Duration::from_millis(300))
        .send(&phone(), &message_text(CODE))
        .await
        .unwrap_err();
    assert!(matches!(e, GatewayError::Timeout), "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(assert_clean(&e), "the sms provider did not answer in time");
}

#[tokio::test]
async fn a_provider_quoting_the_request_does_not_leak_it() {
    let (base, _) = provider().await;
    let e = gateway(&base, "/echo", Duration::from_secs(5))
        .send(&phone(), &message_text(CODE))
        .await
        .unwrap_err();
    assert!(matches!(e, GatewayError::Provider { .. }), "{e:?}");
    assert_clean(&e);
}

#[tokio::test]
async fn an_unreachable_provider_is_a_network_error_without_the_url() {
    // A port that was just free: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let e = gateway(&format!("http://{addr}"), "/ok", Duration::from_secs(5))
        .send(&phone(), &message_text(CODE))
        .await
        .unwrap_err();
    assert!(matches!(e, GatewayError::Network { .. }), "{e:?}");
    let message = assert_clean(&e);
    assert!(
        message.starts_with("could not reach the sms provider"),
        "{message}"
    );
}

#[tokio::test]
async fn log_gateway_writes_the_line_and_keeps_the_latest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(LOG_FILE);
    let log = LogGateway::new(Some(path.clone()), 2);
    let other = Phone::parse("+7 999 000-33-44").unwrap();
    log.send(&phone(), &message_text("000001")).await.unwrap();
    log.send(&other, &message_text("000002")).await.unwrap();
    log.send(&phone(), &message_text(CODE)).await.unwrap();

    // One line per message, with the phone masked and no digit of the text (SPEC.md §7):
    // the full messages are only in memory, for the demo inbox.
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[2].contains("Код для кассира: ******"), "{text}");
    assert!(
        !text.contains(CODE) && !text.contains("9990001122") && !text.contains("9990003344"),
        "{text}"
    );
    assert!(
        lines[1].contains("44\t"),
        "the masked phone keeps its tail: {text}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let latest = log.latest();
    assert_eq!(latest.len(), 2);
    assert_eq!(latest[0].phone, other);
    assert_eq!(latest[1].phone, phone());
    assert_eq!(latest[1].text, message_text(CODE));
    // Debug of a sent message shows neither the number nor the code.
    let debug = format!("{latest:?}");
    assert!(
        !debug.contains("9990001122") && !debug.contains(CODE),
        "{debug}"
    );
}

#[tokio::test]
async fn the_log_config_writes_into_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = GatewayConfig::Log.build(Some(dir.path())).unwrap();
    gateway.send(&phone(), &message_text(CODE)).await.unwrap();
    let text = std::fs::read_to_string(dir.path().join("sms-outbox.log")).unwrap();
    assert_eq!(text.lines().count(), 1);
    assert!(!text.contains(CODE), "{text}");
}

#[tokio::test]
async fn a_log_gateway_that_cannot_write_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let log = LogGateway::new(Some(dir.path().join("missing").join(LOG_FILE)), 5);
    let e = log.send(&phone(), &message_text(CODE)).await.unwrap_err();
    assert!(matches!(e, GatewayError::Io(_)), "{e:?}");
    assert_clean(&e);
    assert!(log.latest().is_empty());
}
