//! `bonuskassa enroll`, `status` and `sync` driven from outside, as an installer runs them
//! against a server on 127.0.0.1.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use crate::common::server as srv;
use bonuskassa::clock::SystemClock;
use chrono::Utc;

fn till(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bonuskassa"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn text(o: &Output) -> (i32, String, String) {
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn an_installer_enrolls_a_till_and_reads_its_status() {
    let dir = tempfile::tempdir().unwrap();
    let server_data = dir.path().join("server");
    let running = srv::demo(&server_data, Arc::new(SystemClock), false);
    let data = dir.path().join("till");
    let vault = format!("file:{}", dir.path().join("secrets").display());
    let url = running.url();

    // A code the server never issued: refused, and nothing is written.
    let (code, _, err) = text(&till(&[
        "enroll",
        "--data",
        path(&data),
        "--server",
        &url,
        "--code",
        "AAAA-BBBB-CCCC",
        "--secrets",
        &vault,
    ]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("enrollment code"), "{err}");
    assert!(!data.join("terminal.toml").exists());

    // A relative vault is refused before anything happens.
    let (code, _, err) = text(&till(&[
        "enroll",
        "--data",
        path(&data),
        "--server",
        &url,
        "--code",
        "x",
        "--secrets",
        "file:secrets",
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--secrets"), "{err}");

    let enrollment = srv::enroll_code(&server_data, Utc::now());
    let (code, out, err) = text(&till(&[
        "enroll",
        "--data",
        path(&data),
        "--server",
        &url,
        "--code",
        &enrollment,
        "--secrets",
        &vault,
        "--name",
        "Касса 7",
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("customers cached: 4"), "{out}");
    assert!(out.contains("rules version: 1"), "{out}");
    assert!(out.contains("(online)"), "{out}");

    let (code, out, err) = text(&till(&["status", "--data", path(&data)]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("queue: 0 waiting"), "{out}");
    assert!(!out.contains("last sync: never"), "{out}");

    let (code, out, err) = text(&till(&["sync", "--data", path(&data), "--wait", "20"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("(online)"), "{out}");

    // With the server gone, `sync` says so and fails; `status` still works.
    running.stop().unwrap();
    let (code, _, err) = text(&till(&["sync", "--data", path(&data), "--wait", "3"]));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("not reached") && err.contains("(offline)"),
        "{err}"
    );
    let (code, out, _) = text(&till(&["status", "--data", path(&data)]));
    assert_eq!(code, 0);
    assert!(out.contains("customers cached: 4"), "{out}");

    // A data dir that was never enrolled.
    let (code, _, err) = text(&till(&["status", "--data", path(&dir.path().join("none"))]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("terminal.toml"), "{err}");
}
