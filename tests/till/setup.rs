//! The installer's setup (src/setup/) against a real server on 127.0.0.1: the
//! connection test, enrollment with a wrong and a right code, the secret store choice, the
//! scanner's live test on a pty, saving, and the setup of a running till from the
//! manager's menu.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use crate::common::{Rig, b, receipt, text_of_files, wait_for};
use bonuskassa::clock::{Clock, SystemClock};
use bonuskassa::lang::Language;
use bonuskassa::scanner::Terminator;
use bonuskassa::secrets::{SecretError, SecretName};
use bonuskassa::server::admin;
use bonuskassa::setup::{
    Check, Finished, ScanCheck, SecretChoice, Setup, SetupAction, SetupField, SetupForm,
    SetupProblem,
};
use bonuskassa::terminal::TerminalConfig;
use chrono::Utc;
use serialport::SerialPort;

fn clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

fn code(rig: &Rig) -> String {
    admin::enroll_code(&rig.server_data, admin::DEMO_STORE, Utc::now()).unwrap()
}

fn field_problem(setup: &Setup) -> SetupField {
    match setup.problem() {
        Some(SetupProblem::Field { field, .. }) => *field,
        other => panic!("expected a field problem, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installer_tests_the_link_enrolls_and_saves_a_new_till() {
    let rig = Rig::new();
    let mut setup = Setup::new(&rig.till_data, clock(), rig.opener());
    let fresh = setup.form().clone();
    assert_eq!(
        fresh.bridge_key.len(),
        24,
        "a bridge key is offered at once"
    );

    // The connection test: no address, a dead port, then the server.
    setup.act(SetupAction::TestConnection(fresh.clone())).await;
    assert_eq!(field_problem(&setup), SetupField::ServerUrl);
    let dead = SetupForm {
        server_url: "http://127.0.0.1:9".into(),
        ..fresh.clone()
    };
    setup.act(SetupAction::TestConnection(dead)).await;
    assert_eq!(
        setup.connection(),
        &Check::Failed(SetupProblem::Unreachable)
    );
    let mut form = SetupForm {
        server_url: format!("http://{}/", rig.addr),
        name: "Касса 7".into(),
        ..fresh.clone()
    };
    setup.act(SetupAction::TestConnection(form.clone())).await;
    match setup.connection() {
        Check::Passed(link) => assert!(!link.token_checked),
        other => panic!("{other:?}"),
    }

    // Saving before enrolling is refused; a wrong code keeps what was typed.
    setup.act(SetupAction::Save(form.clone())).await;
    assert_eq!(setup.problem(), Some(&SetupProblem::NotEnrolled));
    form.code = "WRONG-CODE".into();
    setup.act(SetupAction::Enroll(form.clone())).await;
    assert_eq!(setup.problem(), Some(&SetupProblem::CodeInvalid));
    assert_eq!(setup.form().code, "WRONG-CODE");
    assert!(setup.enrolled().is_none());
    assert!(!TerminalConfig::path(&rig.till_data).exists());

    // The right code enrolls; the code is not kept.
    form.code = code(&rig);
    setup.act(SetupAction::Enroll(form.clone())).await;
    assert_eq!(setup.problem(), None);
    let enrolled = setup.enrolled().expect("enrolled").clone();
    assert!(!enrolled.store_name.is_empty());
    assert!(setup.form().code.is_empty());

    // A bad field on save names the field; nothing else changes.
    let mut form = setup.form().clone();
    form.bridge_port = "80".into();
    setup.act(SetupAction::Save(form.clone())).await;
    assert_eq!(field_problem(&setup), SetupField::BridgePort);
    assert!(setup.take_finished().is_none());

    // The installer's choices, saved.
    form.bridge_port = "9123".into();
    form.language = Language::En;
    form.offline_max_per_purchase = "150".into();
    form.offline_horizon_hours = "12".into();
    form.scanner_port = "/dev/ttyACM0".into();
    form.scanner_baud = "115200".into();
    form.scanner_terminator = Terminator::Cr;
    let key = form.bridge_key.clone();
    setup.act(SetupAction::Save(form)).await;
    assert_eq!(setup.problem(), None);
    let Some(Finished::Ready(terminal)) = setup.take_finished() else {
        panic!("the setup should hand over the till");
    };
    let config = TerminalConfig::load(&rig.till_data).unwrap();
    assert_eq!(config.name, "Касса 7");
    assert_eq!(config.server_url, format!("http://{}", rig.addr));
    assert_eq!(config.bridge.port, 9123);
    assert_eq!(config.language, Language::En);
    assert_eq!(config.offline.max_spend_per_operation, Some(b("150")));
    assert_eq!(config.offline.horizon_hours, Some(12));
    let scanner = config.scanner.clone().unwrap();
    assert_eq!(
        (scanner.port.as_str(), scanner.baud, scanner.terminator),
        ("/dev/ttyACM0", 115200, Terminator::Cr)
    );
    assert_eq!(terminal.config(), &config);
    assert_eq!(terminal.enrollment(), Some(enrolled));

    // The secrets are in the chosen store and in no file of the data dir.
    let secrets = (rig.opener())(&config.secrets).unwrap();
    let token = secrets.get(SecretName::TerminalToken).unwrap().unwrap();
    let stored_key = secrets.get(SecretName::BridgeKey).unwrap().unwrap();
    assert_eq!(stored_key.expose(), key);
    let files = text_of_files(&rig.till_data);
    assert!(!files.contains(token.expose()));
    assert!(!files.contains(&key));

    // The saved till works: its token is good.
    terminal.start_sync(crate::common::quick_sync()).unwrap();
    wait_for(&terminal, "the first sync", |s| s.last_sync.is_some()).await;
    terminal.stop_sync();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_headless_till_chooses_the_file_vault_explicitly() {
    let rig = Rig::new();
    // A till without a secret service: the keyring cannot be opened.
    let opener: bonuskassa::setup::SecretsOpener = Arc::new(|backend| match backend {
        bonuskassa::secrets::SecretBackend::Keyring => Err(SecretError::BadBackend(
            "no secret service on this machine".into(),
        )),
        other => bonuskassa::secrets::open(other.clone()).map(Arc::from),
    });
    let mut setup = Setup::new(&rig.till_data, clock(), opener);
    let mut form = SetupForm {
        server_url: format!("http://{}", rig.addr),
        code: code(&rig),
        ..setup.form().clone()
    };
    setup.act(SetupAction::Enroll(form.clone())).await;
    assert!(
        matches!(setup.problem(), Some(SetupProblem::Secrets(_))),
        "{:?}",
        setup.problem()
    );
    assert!(
        setup.enrolled().is_none(),
        "nothing is enrolled without a store"
    );

    form.secrets = SecretChoice::File;
    form.vault_dir = "vault".into();
    setup.act(SetupAction::Enroll(form.clone())).await;
    assert_eq!(field_problem(&setup), SetupField::VaultDir);

    let vault = rig.till_data.parent().unwrap().join("vault");
    form.vault_dir = vault.display().to_string();
    setup.act(SetupAction::Enroll(form.clone())).await;
    assert_eq!(setup.problem(), None, "{:?}", setup.problem());
    setup.act(SetupAction::Save(setup.form().clone())).await;
    assert!(matches!(setup.take_finished(), Some(Finished::Ready(_))));
    let config = TerminalConfig::load(&rig.till_data).unwrap();
    assert_eq!(
        config.secrets.to_string(),
        format!("file:{}", vault.display())
    );
    assert!(vault.join(SecretName::TerminalToken.as_str()).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scanner_test_reads_a_scan_from_the_port_and_from_a_keyboard_wedge() {
    let rig = Rig::new();
    let mut setup = Setup::new(&rig.till_data, clock(), rig.opener());
    setup.set_scan_timeout(Duration::from_millis(600));
    let (mut master, slave) = serialport::TTYPort::pair().unwrap();
    let form = SetupForm {
        scanner_port: slave.name().unwrap(),
        scanner_terminator: Terminator::Cr,
        ..setup.form().clone()
    };

    // No port chosen.
    setup
        .act(SetupAction::TestScanner(SetupForm {
            scanner_port: String::new(),
            ..form.clone()
        }))
        .await;
    assert_eq!(field_problem(&setup), SetupField::ScannerPort);

    // Nothing scanned in time.
    setup.act(SetupAction::TestScanner(form.clone())).await;
    assert_eq!(
        setup.scanner(),
        &Check::Failed(SetupProblem::NoScan { seconds: 1 })
    );

    // A card scanned while the test waits.
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(150));
        master.write_all(b"4600051000057\r").unwrap();
        master
    });
    setup.act(SetupAction::TestScanner(form.clone())).await;
    let _master = writer.join().unwrap();
    match setup.scanner() {
        Check::Passed(ScanCheck::Recognised { shown }) => {
            assert!(!shown.contains("4600051000057"), "masked: {shown}")
        }
        other => panic!("{other:?}"),
    }

    // A port that is not there is named.
    setup
        .act(SetupAction::TestScanner(SetupForm {
            scanner_port: "/dev/ttyNOSUCH0".into(),
            ..form.clone()
        }))
        .await;
    match setup.scanner() {
        Check::Failed(SetupProblem::Scanner(why)) => {
            assert!(why.contains("/dev/ttyNOSUCH0"), "{why}")
        }
        other => panic!("{other:?}"),
    }

    // A keyboard-wedge scanner types into the test field.
    setup
        .act(SetupAction::TypedScan(form.clone(), "4600051000057".into()))
        .await;
    assert!(matches!(
        setup.scanner(),
        Check::Passed(ScanCheck::Recognised { .. })
    ));
    setup
        .act(SetupAction::TypedScan(form.clone(), "hello".into()))
        .await;
    assert_eq!(
        setup.scanner(),
        &Check::Passed(ScanCheck::Unrecognised { bytes: 5 })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_reopens_the_setup_of_a_running_till() {
    let rig = Rig::new();
    let terminal = Arc::new(rig.enroll(clock()).await);
    terminal.start_sync(crate::common::quick_sync()).unwrap();
    wait_for(&terminal, "the first sync", |s| s.last_sync.is_some()).await;

    let mut setup = Setup::for_terminal(terminal.clone(), clock(), rig.opener());
    assert!(setup.reopened());
    assert!(setup.enrolled().is_some());
    let form = setup.form().clone();
    assert_eq!(form.server_url, terminal.config().server_url);
    assert_eq!(form.name, terminal.config().name);

    // The connection test also proves the till's token.
    setup.act(SetupAction::TestConnection(form.clone())).await;
    match setup.connection() {
        Check::Passed(link) => assert!(link.token_checked),
        other => panic!("{other:?}"),
    }

    // «Отмена» changes nothing.
    setup.act(SetupAction::Close).await;
    assert!(matches!(setup.take_finished(), Some(Finished::Back)));

    // Enrolling again waits for the queue.
    let cashier = terminal.login("1111").await.unwrap();
    let customer = terminal
        .lookup(&bonuskassa::terminal::Lookup::Phone(
            bonuskassa::domain::phone::Phone::parse("+79990000001").unwrap(),
        ))
        .await
        .unwrap()
        .unwrap();
    terminal.stop_sync();
    let priced = terminal
        .calculate(&customer.customer, &receipt("setup-1", "500.00"), b("0"))
        .await
        .unwrap();
    terminal.sell(&cashier, &priced, None).unwrap();
    let again = SetupForm {
        code: code(&rig),
        ..form.clone()
    };
    setup.act(SetupAction::Enroll(again)).await;
    assert_eq!(
        setup.problem(),
        Some(&SetupProblem::QueueNotEmpty { queued: 1 })
    );

    // Tighter offline limits, saved: the new till holds to them.
    let tighter = SetupForm {
        offline_max_per_purchase: "50".into(),
        ..form.clone()
    };
    setup.act(SetupAction::Save(tighter)).await;
    assert_eq!(setup.problem(), None);
    let Some(Finished::Ready(saved)) = setup.take_finished() else {
        panic!("saved");
    };
    assert_eq!(
        saved.config().offline.max_spend_per_operation,
        Some(b("50"))
    );
    assert_eq!(saved.config().server_url, terminal.config().server_url);
    let (_, rules) = saved.rules().unwrap();
    let allowance = saved.offline_allowance(&rules, &customer.customer).unwrap();
    assert!(allowance.max <= b("50"), "{allowance:?}");
}
