//! The bridge's contract, fuzzed: schemathesis reads `docs/bridge-openapi.json` and sends
//! what it allows (and what it forbids) to a real till's bridge, with a cashier logged in
//! who works each receipt the register hands over (applies some, cancels the rest), and
//! with receipts in every state to find by id. Every answer must be one the document gives
//! for its path and status, no schema-valid request may be refused as malformed, and no
//! answer may be a server error.
//!
//! schemathesis is a Python program: `.ci/run` installs it and names it in
//! `BONUSKASSA_SCHEMATHESIS`. Without it the test says SKIPPED, and fails instead when
//! `BONUSKASSA_REQUIRE_SCHEMATHESIS=1`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::common::panel::{CASHIER, Headless, KARINA};
use crate::common::{Rig, receipt};
use bonuskassa::checkout::{Action, Screen};

/// Where `.ci/run` installed schemathesis.
const PROGRAM: &str = "BONUSKASSA_SCHEMATHESIS";
const REQUIRE: &str = "BONUSKASSA_REQUIRE_SCHEMATHESIS";

/// Rules of the contract that JSON Schema cannot say, for schemathesis's generator: a
/// position id is used once in a receipt.
const HOOKS: &str = r#"
import schemathesis


def _unique_position_ids(receipt):
    if not isinstance(receipt, dict) or not isinstance(receipt.get("positions"), list):
        return True
    ids = [p.get("id") for p in receipt["positions"] if isinstance(p, dict)]
    return len(ids) == len(set(ids))


def _receipt(body):
    if isinstance(body, dict) and isinstance(body.get("receipt"), dict):
        return body["receipt"]
    return body


@schemathesis.hook
def filter_body(ctx, body):
    return _unique_position_ids(_receipt(body))


# The coverage phase builds its cases without the filter above: a refusal of a receipt
# whose position ids repeat is the rule, not a failure.
@schemathesis.hook
def filter_failure(ctx, failure, case, response):
    repeated = not _unique_position_ids(_receipt(case.body))
    return not (repeated and response.status_code == 400 and "appears twice" in response.text)
"#;

fn program() -> Option<PathBuf> {
    match std::env::var_os(PROGRAM) {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => {
            assert!(
                std::env::var(REQUIRE).as_deref() != Ok("1"),
                "{PROGRAM} is not set, and {REQUIRE}=1 asks for the bridge's schemathesis run"
            );
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED the bridge's schemathesis run: set {PROGRAM} to the schemathesis program"
            );
            None
        }
    }
}

#[test]
fn schemathesis_finds_nothing_wrong_with_the_bridge_contract() {
    let Some(program) = program() else { return };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let rig = Rig::new();
    // Applied receipts the register never closes expire soon, so the till is seldom busy.
    let till = Arc::new(rt.block_on(Headless::start(&rig, Some(CASHIER), Duration::from_secs(2))));

    // Receipts in every state, for schemathesis to find by id.
    let ids = rt.block_on(async {
        let client = &till.client;
        let closed = receipt("st-closed", "300.00");
        client.open(&closed).await.unwrap();
        till.panel.cashier(Action::FindByPhone(KARINA.into())).await;
        till.panel.cashier(Action::Apply).await;
        client.close(&closed).await.unwrap();
        let cancelled = receipt("st-cancelled", "120.00");
        client.open(&cancelled).await.unwrap();
        client.cancel(&cancelled.id).await.unwrap();
        let expired = receipt("st-expired", "80.00");
        client.open(&expired).await.unwrap();
        till.panel.cashier(Action::FindByPhone(KARINA.into())).await;
        till.panel.cashier(Action::Apply).await;
        ["st-closed", "st-cancelled", "st-expired"]
    });

    // The cashier: every third receipt handed over is applied with Карина's card, the
    // rest cancelled; a receipt never waits long at the panel.
    let stop = Arc::new(AtomicBool::new(false));
    let cashier = {
        let (till, stop) = (till.clone(), stop.clone());
        rt.spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::SeqCst) {
                match till.panel.screen().await {
                    Screen::Find { .. } => {
                        n += 1;
                        if n.is_multiple_of(3) {
                            till.panel.cashier(Action::FindByPhone(KARINA.into())).await;
                            till.panel.cashier(Action::Apply).await;
                        } else {
                            till.panel.cashier(Action::Cancel).await;
                        }
                    }
                    Screen::Return { .. } | Screen::Customer { .. } => {
                        till.panel.cashier(Action::Cancel).await;
                    }
                    _ => {}
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bridge_hooks.py"), HOOKS).unwrap();
    let config = dir.path().join("schemathesis.toml");
    std::fs::write(
        &config,
        format!(
            r#"[dictionaries.receipt_ids]
values = {ids:?}

[parameters]
"path.id" = {{ dictionary = "receipt_ids", probability = 0.5 }}

# A schema-valid request may still meet the till's state: nobody logged in, another receipt
# at the panel (409), no such receipt (404), a return of a sale the till never made (422),
# a body over the size limit (413). It is never refused as malformed (400).
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "404", "409", "413", "422"]
"#
        ),
    )
    .unwrap();
    let doc = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/bridge-openapi.json");
    let examples = std::env::var("BONUSKASSA_SCHEMATHESIS_EXAMPLES").unwrap_or("100".into());
    let run = Command::new(&program)
        .env("SCHEMATHESIS_HOOKS", "bridge_hooks")
        .env("PYTHONPATH", dir.path())
        .arg("--config-file")
        .arg(&config)
        .args(["run", doc, "--url", &till.url("")])
        .args(["--header", &format!("Authorization: Bearer {}", till.key)])
        .args(["--max-examples", &examples])
        .args(["--workers", "1", "--request-timeout", "70"])
        .args(["--generation-database", "none", "--no-color"])
        .output();
    stop.store(true, Ordering::SeqCst);
    rt.block_on(cashier).unwrap();
    let run = run.unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    let out = String::from_utf8_lossy(&run.stdout);
    // The summary, for the CI log.
    let _ = writeln!(
        std::io::stderr(),
        "{}",
        out.lines()
            .rev()
            .take(25)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        run.status.success(),
        "schemathesis found problems in the bridge's contract:\n{out}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
}
