//! `bonuskassa-server` as an installer runs it: demo data, an enrollment code, serve, and
//! Ctrl-C that loses nothing.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bonuskassa-server"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `serve` on `listen` and waits until it answers.
async fn serve(data: &str, listen: &str, http: &reqwest::Client) -> std::process::Child {
    let child = bin()
        .args(["serve", "--data", data, "--listen", listen])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while http
        .get(format!("http://{listen}/api/v1/health"))
        .send()
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "the server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child
}

/// POSTs JSON with an optional bearer token and returns the answer's JSON.
async fn post(
    http: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: &serde_json::Value,
) -> serde_json::Value {
    let mut req = http.post(url).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn serve_then_ctrl_c_keeps_every_committed_operation() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let out = bin().args(["demo-data", "--data", data]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("cashier code 1111"), "{printed}");
    assert!(
        printed.contains("a year of invented purchases"),
        "{printed}"
    );
    assert!(printed.contains("one-time password"), "{printed}");
    let out = bin().args(["demo-data", "--data", data]).output().unwrap();
    assert!(!out.status.success(), "a second fill is refused");
    let out = bin()
        .args(["enroll-code", "--data", data, "--store", "store-1"])
        .output()
        .unwrap();
    let code = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert_eq!(code.len(), 14, "{code}");
    let out = bin()
        .args(["enroll-code", "--data", data, "--store", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));

    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let base = format!("http://{listen}/api/v1");
    let http = reqwest::Client::new();
    let mut child = serve(data, &listen, &http).await;
    let enrolled = post(
        &http,
        format!("{base}/enroll"),
        None,
        &serde_json::json!({ "code": code, "name": "Касса 1" }),
    )
    .await;
    let token = enrolled["token"].as_str().unwrap().to_string();
    let lookup = post(
        &http,
        format!("{base}/customers/lookup"),
        Some(&token),
        &serde_json::json!({ "phone": "+79990000003" }),
    )
    .await;
    let customer = lookup["id"].as_str().unwrap();
    let op_id = uuid::Uuid::now_v7().to_string();
    let batch = serde_json::json!({ "operations": [ { "id": op_id, "seq": 1, "at": "2026-11-23T09:00:00Z",
        "cashier": "Кассир Мария", "body": { "kind": "sale", "customer_id": customer, "spend": "0",
        "receipt": { "id": "r-ctrl-c", "kind": "sale", "at": "2026-11-23T12:00:00+03:00",
            "positions": [ { "id": "1", "price": "100.00", "quantity": "1" } ] } } } ] });
    let r = post(&http, format!("{base}/operations"), Some(&token), &batch).await;
    assert_eq!(r["results"][0]["status"], "applied", "{r}");

    // Ctrl-C.
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not stop on Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");

    // Started again, it knows the operation: a resend is a duplicate.
    let mut child = serve(data, &listen, &http).await;
    let r = post(&http, format!("{base}/operations"), Some(&token), &batch).await;
    assert_eq!(r["results"][0]["status"], "duplicate", "{r}");
    child.kill().unwrap();
    let _ = child.wait();
}

#[test]
fn serve_without_rules_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args([
            "serve",
            "--data",
            dir.path().to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("demo-data") && err.contains("--rules"),
        "{err}"
    );
}

#[test]
fn a_bad_rules_file_is_refused_at_start_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        "version = 1\ncurrency = \"RUB\"\n[[card]]\nname = \"A\"\nspend = \"maybe\"\n",
    )
    .unwrap();
    let out = bin()
        .args([
            "serve",
            "--data",
            dir.path().to_str().unwrap(),
            "--rules",
            rules.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 5") && err.contains("card[0].spend"),
        "{err}"
    );
}

/// `import` as the chain's owner runs it: a dry run, the import, the same file again, a
/// file with bad rows (exit code 2 and the report), and the mistakes on the command line.
#[test]
fn import_checks_imports_and_recognises_a_customer_base() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let data = data.to_str().unwrap();
    assert!(
        bin()
            .args(["demo-data", "--data", data, "--no-history"])
            .output()
            .unwrap()
            .status
            .success()
    );
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/import/customers.csv");
    let import_into = |store: &str, file: &str, extra: &[&str]| {
        let out = bin()
            .args(["import", "--data", data, file, "--store", store])
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let import = |file: &str, extra: &[&str]| import_into("store-1", file, extra);
    let (code, out, _) = import(sample, &["--dry-run"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("rows: 5; new customers: 5; already imported: 0"),
        "{out}"
    );
    assert!(
        out.trim_end()
            .ends_with("dry run: every row is good; nothing written"),
        "{out}"
    );
    let (code, out, _) = import(sample, &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.trim_end().ends_with("imported"), "{out}");
    let (code, out, _) = import(sample, &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("new customers: 0; already imported: 5"),
        "{out}"
    );
    assert!(out.trim_end().ends_with("nothing new to import"), "{out}");

    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "Телефон;Имя;Баланс бонусов\n+7 999 300 00 09;Лев;-5\n+7 999 300 00 01;Алёна;0\n",
    )
    .unwrap();
    let bad = bad.to_str().unwrap();
    let (code, out, err) = import(bad, &[]);
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(
        out.contains("row 2, «Баланс бонусов»: a negative amount"),
        "{out}"
    );
    assert!(
        out.contains("row 3, «Телефон»: a customer with this phone is already in bonuskassa"),
        "{out}"
    );
    assert!(err.contains("2 bad rows in"), "{err}");

    let (code, _, err) = import_into("store-9", sample, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no store store-9"), "{err}");
    let (code, _, err) = import("/nonexistent/base.csv", &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("cannot read /nonexistent/base.csv"), "{err}");
}
