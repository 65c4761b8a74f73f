//! `bonuskassa calc` driven from outside, as an installer runs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn calc(rules: &Path, receipt: &Path, customer: &Path, spend: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bonuskassa"));
    cmd.arg("calc")
        .arg("--rules")
        .arg(rules)
        .arg("--receipt")
        .arg(receipt)
        .arg("--customer")
        .arg(customer);
    if let Some(s) = spend {
        cmd.args(["--spend", s]);
    }
    cmd.output().expect("the binary runs")
}

fn demo(name: &str) -> PathBuf {
    root().join("assets/demo").join(name)
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Runs with one of the demo files replaced by `text`; returns (exit code, stderr).
fn fails_with(which: &str, text: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(&dir, which, text);
    let pick = |name: &str| {
        if name == which {
            bad.clone()
        } else {
            demo(name)
        }
    };
    let out = calc(
        &pick("rules.toml"),
        &pick("receipt.json"),
        &pick("customer.json"),
        None,
    );
    assert!(out.stdout.is_empty(), "nothing on stdout on failure");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    (out.status.code().unwrap(), err)
}

#[test]
fn the_demo_files_calculate_with_a_spend() {
    let out = calc(
        &demo("rules.toml"),
        &demo("receipt.json"),
        &demo("customer.json"),
        Some("100"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["card"], "Стандартная");
    assert_eq!(v["total"], "1555.47");
    assert_eq!(v["spent"], "100.00");
    assert_eq!(v["to_pay"], "1455.47");
    assert_eq!(
        v["positions"][3]["accrued"], "0.00",
        "excise beer accrues nothing"
    );
}

#[test]
fn the_spec_sample_prints_the_spec_result() {
    let dir = tempfile::tempdir().unwrap();
    let receipt = write(
        &dir,
        "r.json",
        r#"{ "id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "kind": "sale", "at": "2026-11-22T14:05:00+03:00",
  "store": "store-1", "cashier": "Кассир 1",
  "positions": [ { "id": "1", "sku": "4601234567890", "name": "Капучино", "category": "coffee",
                   "price": "234.00", "quantity": "1", "measure": "piece", "excise": false } ] }"#,
    );
    let customer = write(
        &dir,
        "c.json",
        r#"{ "card": "Стандартная", "balance": "100.00", "purchases_sum": "0.00", "purchases_count": 0 }"#,
    );
    let out = calc(
        &root().join("tests/fixtures/spec_rules.toml"),
        &receipt,
        &customer,
        None,
    );
    assert!(out.status.success());
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let want: serde_json::Value = serde_json::from_str(
        r#"{ "card": "Стандартная", "total": "234.00", "discount": "0.00", "max_spend": "100.00",
  "spent": "0.00", "to_pay": "234.00", "accrued": "5.00",
  "positions": [ { "id": "1", "sum": "234.00", "discount": "0.00", "spent": "0.00",
                   "paid": "234.00", "accrued": "5.00",
                   "impacts": [ { "price": "234.00", "quantity": "1" } ] } ] }"#,
    )
    .unwrap();
    assert_eq!(got, want);
}

#[test]
fn a_bad_rules_file_names_the_key_and_line_with_exit_code_2() {
    let text = std::fs::read_to_string(demo("rules.toml"))
        .unwrap()
        .replace(
            "accrual = { percent = \"2\" }",
            "accrual = { percent = \"2x\" }",
        );
    let (code, err) = fails_with("rules.toml", &text);
    assert_eq!(code, 2);
    assert!(err.contains("card[0].accrual.percent"), "{err}");
    assert!(err.contains("line "), "{err}");
}

#[test]
fn a_bad_receipt_names_the_field_with_exit_code_2() {
    let text = std::fs::read_to_string(demo("receipt.json"))
        .unwrap()
        .replace("\"quantity\": \"3\"", "\"quantity\": \"three\"");
    let (code, err) = fails_with("receipt.json", &text);
    assert_eq!(code, 2);
    assert!(err.contains("positions[1].quantity"), "{err}");

    let (code, err) = fails_with("receipt.json", "{ \"id\": \"x\" ");
    assert_eq!(code, 2);
    assert!(err.contains("receipt"), "{err}");

    let text = std::fs::read_to_string(demo("receipt.json"))
        .unwrap()
        .replace("\"quantity\": \"3\"", "\"quantity\": \"1.5\"");
    let (code, err) = fails_with("receipt.json", &text);
    assert_eq!(code, 2);
    assert!(
        err.contains("positions[1].quantity") && err.contains("whole"),
        "{err}"
    );
}

#[test]
fn a_bad_customer_names_the_field_with_exit_code_2() {
    let (code, err) = fails_with(
        "customer.json",
        r#"{ "card": "Стандартная", "balance": 1.5 }"#,
    );
    assert_eq!(code, 2);
    assert!(err.contains("field balance"), "{err}");
    let (code, err) = fails_with("customer.json", r#"{ "card": "Алмазная", "balance": "0" }"#);
    assert_eq!(code, 2);
    assert!(err.contains("Алмазная"), "{err}");
    let (code, err) = fails_with("customer.json", r#"{ "balance": "0" }"#);
    assert_eq!(code, 2);
    assert!(err.contains("card"), "{err}");
}

#[test]
fn a_missing_file_and_a_bad_spend_are_refused_with_exit_code_2() {
    let out = calc(
        Path::new("/nonexistent/rules.toml"),
        &demo("receipt.json"),
        &demo("customer.json"),
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("rules file"));
    for spend in ["-5", "abc", "1.234", "100000"] {
        let out = calc(
            &demo("rules.toml"),
            &demo("receipt.json"),
            &demo("customer.json"),
            Some(spend),
        );
        assert_eq!(out.status.code(), Some(2), "{spend}");
    }
}
