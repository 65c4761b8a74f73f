//! Wires `SetupAdapter` (ui/adapters/setup_adapter.slint): the installer's setup
//! ([`crate::setup::Setup`]) as the setup page shows it.
//!
//! The setup runs on the same worker thread as the checkout session (see
//! `session_adapter`), which switches between the two: a till never enrolled starts in the
//! setup; a manager opens it from the menu; a saved setup starts the till's session. This
//! file only converts: the form between the page and [`SetupForm`], and the setup's state
//! into what the page shows.

use slint::{ComponentHandle, ModelRc, SharedString, VecModel};

use super::{
    AppWindow, CheckState, SetupAdapter, SetupField as UiField, SetupFormData, SetupInfo,
    SetupProblemInfo, SetupProblemKind,
};
use crate::lang::Language;
use crate::runner::{Command, Commands};
use crate::scanner::Terminator;
use crate::setup::{
    Check, ScanCheck, SecretChoice, Setup, SetupAction, SetupField, SetupForm, SetupProblem,
};

/// The terminators in the order of the page's buttons (index 0 is `Any`).
const TERMINATORS: [Terminator; 5] = Terminator::ALL;

/// Connects the setup page's buttons: each reads the form as typed and sends it to the
/// worker with the action.
pub(super) fn wire(window: &AppWindow, actions: &Commands) {
    let adapter = window.global::<SetupAdapter>();
    let send = |make: fn(SetupForm) -> SetupAction, running: Running| {
        let actions = actions.clone();
        let weak = window.as_weak();
        move || {
            let Some(w) = weak.upgrade() else {
                return;
            };
            let a = w.global::<SetupAdapter>();
            a.set_busy(true);
            let mut info = a.get_info();
            match running {
                Running::Connection => info.connection = CheckState::Running,
                Running::Scanner => info.scanner = CheckState::Running,
                Running::Nothing => {}
            }
            a.set_info(info);
            actions.send(Command::Setup(Box::new(make(form_from_ui(&a.get_form())))));
        }
    };
    adapter.on_test_connection(send(SetupAction::TestConnection, Running::Connection));
    adapter.on_test_scanner(send(SetupAction::TestScanner, Running::Scanner));
    adapter.on_generate_bridge_key(send(SetupAction::GenerateBridgeKey, Running::Nothing));
    adapter.on_enroll(send(SetupAction::Enroll, Running::Nothing));
    adapter.on_save(send(SetupAction::Save, Running::Nothing));
    {
        let actions = actions.clone();
        adapter.on_close(move || actions.send(Command::Setup(Box::new(SetupAction::Close))));
    }
    {
        let (actions, weak) = (actions.clone(), window.as_weak());
        adapter.on_typed_scan(move |text| {
            let Some(w) = weak.upgrade() else {
                return;
            };
            let form = form_from_ui(&w.global::<SetupAdapter>().get_form());
            let action = SetupAction::TypedScan(form, text.to_string());
            actions.send(Command::Setup(Box::new(action)));
        });
    }
}

#[derive(Clone, Copy)]
enum Running {
    Connection,
    Scanner,
    Nothing,
}

/// What the setup page shows, built on the worker thread (`Send`: no models).
pub(super) struct SetupView {
    form: SetupFormData,
    info: SetupInfo,
    problem: SetupProblemInfo,
    busy: bool,
    ports: Vec<String>,
}

/// The setup's state as the page shows it, with the serial `ports` found on the till. The
/// worker lists them afresh for each view, so a scanner plugged in while the page is open
/// shows up after the next tap.
pub(super) fn view(setup: &Setup, busy: bool, ports: Vec<String>) -> SetupView {
    let mut info = SetupInfo {
        enrolled: setup.enrolled().is_some(),
        store_name: setup
            .enrolled()
            .map(|e| e.store_name.clone())
            .unwrap_or_default()
            .into(),
        reopened: setup.reopened(),
        ..SetupInfo::default()
    };
    match setup.connection() {
        Check::NotRun => info.connection = CheckState::NotRun,
        Check::Passed(link) => {
            info.connection = CheckState::Passed;
            info.connection_ms = link.latency.as_millis().to_string().into();
            info.token_checked = link.token_checked;
        }
        Check::Failed(p) => {
            info.connection = CheckState::Failed;
            info.connection_problem = problem_info(Some(p));
        }
    }
    match setup.scanner() {
        Check::NotRun => info.scanner = CheckState::NotRun,
        Check::Passed(ScanCheck::Recognised { shown }) => {
            info.scanner = CheckState::Passed;
            info.scan_recognised = true;
            info.scan_shown = shown.as_str().into();
        }
        Check::Passed(ScanCheck::Unrecognised { bytes }) => {
            info.scanner = CheckState::Passed;
            info.scan_bytes = bytes.to_string().into();
        }
        Check::Failed(p) => {
            info.scanner = CheckState::Failed;
            info.scanner_problem = problem_info(Some(p));
        }
    }
    SetupView {
        form: form_to_ui(setup.form()),
        info,
        problem: problem_info(setup.problem()),
        busy,
        ports,
    }
}

/// Shows the setup page with a view from the worker.
pub(super) fn show(window: &AppWindow, view: SetupView) {
    let adapter = window.global::<SetupAdapter>();
    adapter.set_active(true);
    adapter.set_form(view.form);
    adapter.set_info(view.info);
    adapter.set_problem(view.problem);
    adapter.set_busy(view.busy);
    let ports: Vec<SharedString> = view.ports.into_iter().map(Into::into).collect();
    adapter.set_ports(ModelRc::new(VecModel::from(ports)));
}

/// Leaves the setup page (the session's page shows).
pub(super) fn hide(window: &AppWindow) {
    window.global::<SetupAdapter>().set_active(false);
}

fn form_to_ui(f: &SetupForm) -> SetupFormData {
    SetupFormData {
        server_url: f.server_url.as_str().into(),
        name: f.name.as_str().into(),
        code: f.code.as_str().into(),
        private_ca: f.private_ca.as_str().into(),
        vault_file: f.secrets == SecretChoice::File,
        vault_dir: f.vault_dir.as_str().into(),
        scanner_port: f.scanner_port.as_str().into(),
        scanner_baud: f.scanner_baud.as_str().into(),
        scanner_terminator: TERMINATORS
            .iter()
            .position(|t| *t == f.scanner_terminator)
            .unwrap_or(0) as i32,
        bridge_port: f.bridge_port.as_str().into(),
        bridge_key: f.bridge_key.as_str().into(),
        english: f.language == Language::En,
        offline_spend: f.offline_spend,
        offline_max_per_purchase: f.offline_max_per_purchase.as_str().into(),
        offline_max_unsynced: f.offline_max_unsynced.as_str().into(),
        offline_horizon: f.offline_horizon_hours.as_str().into(),
        timeout_ms: f.timeout_ms.as_str().into(),
        self_registration_url: f.self_registration_url.as_str().into(),
    }
}

fn form_from_ui(f: &SetupFormData) -> SetupForm {
    SetupForm {
        server_url: f.server_url.to_string(),
        name: f.name.to_string(),
        code: f.code.to_string(),
        private_ca: f.private_ca.to_string(),
        secrets: if f.vault_file {
            SecretChoice::File
        } else {
            SecretChoice::Keyring
        },
        vault_dir: f.vault_dir.to_string(),
        scanner_port: f.scanner_port.to_string(),
        scanner_baud: f.scanner_baud.to_string(),
        scanner_terminator: usize::try_from(f.scanner_terminator)
            .ok()
            .and_then(|i| TERMINATORS.get(i).copied())
            .unwrap_or_default(),
        bridge_port: f.bridge_port.to_string(),
        bridge_key: f.bridge_key.to_string(),
        language: if f.english {
            Language::En
        } else {
            Language::Ru
        },
        offline_spend: f.offline_spend,
        offline_max_per_purchase: f.offline_max_per_purchase.to_string(),
        offline_max_unsynced: f.offline_max_unsynced.to_string(),
        offline_horizon_hours: f.offline_horizon.to_string(),
        timeout_ms: f.timeout_ms.to_string(),
        self_registration_url: f.self_registration_url.to_string(),
    }
}

fn field(f: SetupField) -> UiField {
    match f {
        SetupField::ServerUrl => UiField::ServerUrl,
        SetupField::Name => UiField::Name,
        SetupField::Code => UiField::Code,
        SetupField::PrivateCa => UiField::PrivateCa,
        SetupField::VaultDir => UiField::VaultDir,
        SetupField::ScannerPort => UiField::ScannerPort,
        SetupField::ScannerBaud => UiField::ScannerBaud,
        SetupField::BridgePort => UiField::BridgePort,
        SetupField::BridgeKey => UiField::BridgeKey,
        SetupField::OfflineMaxPerPurchase => UiField::OfflineMaxPerPurchase,
        SetupField::OfflineMaxUnsynced => UiField::OfflineMaxUnsynced,
        SetupField::OfflineHorizon => UiField::OfflineHorizon,
        SetupField::Timeout => UiField::Timeout,
        SetupField::SelfRegistrationUrl => UiField::SelfRegistrationUrl,
    }
}

fn problem_info(p: Option<&SetupProblem>) -> SetupProblemInfo {
    let Some(p) = p else {
        return SetupProblemInfo::default();
    };
    let info = |kind: SetupProblemKind, figure: String, detail: &str| SetupProblemInfo {
        kind,
        field: UiField::None,
        figure: figure.into(),
        detail: detail.into(),
    };
    match p {
        SetupProblem::Field { field: f, .. } => SetupProblemInfo {
            field: field(*f),
            ..info(SetupProblemKind::Field, String::new(), "")
        },
        SetupProblem::Unreachable => info(SetupProblemKind::Unreachable, String::new(), ""),
        SetupProblem::Timeout => info(SetupProblemKind::Timeout, String::new(), ""),
        SetupProblem::Certificate(why) => info(SetupProblemKind::Certificate, String::new(), why),
        SetupProblem::CodeInvalid => info(SetupProblemKind::CodeInvalid, String::new(), ""),
        SetupProblem::TokenRefused => info(SetupProblemKind::TokenRefused, String::new(), ""),
        SetupProblem::Server(code) => info(
            SetupProblemKind::Server,
            crate::checkout::ServerTrouble::Refused(*code).code(),
            "",
        ),
        SetupProblem::Secrets(m) => info(SetupProblemKind::Secrets, String::new(), m),
        SetupProblem::Scanner(m) => info(SetupProblemKind::Scanner, String::new(), m),
        SetupProblem::NoScan { seconds } => info(SetupProblemKind::NoScan, seconds.to_string(), ""),
        SetupProblem::Storage(m) => info(SetupProblemKind::Storage, String::new(), m),
        SetupProblem::NotEnrolled => info(SetupProblemKind::NotEnrolled, String::new(), ""),
        SetupProblem::QueueNotEmpty { queued } => {
            info(SetupProblemKind::QueueNotEmpty, queued.to_string(), "")
        }
        SetupProblem::NeedsEnrollAgain => {
            info(SetupProblemKind::NeedsEnrollAgain, String::new(), "")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_survives_the_trip_through_the_page() {
        let dir = std::env::temp_dir();
        let mut form = SetupForm::new(&dir);
        form.server_url = "https://loyalty.example".into();
        form.secrets = SecretChoice::File;
        form.scanner_terminator = Terminator::CrLf;
        form.language = Language::En;
        form.offline_spend = false;
        assert_eq!(form_from_ui(&form_to_ui(&form)), form);
        for t in TERMINATORS {
            form.scanner_terminator = t;
            assert_eq!(form_from_ui(&form_to_ui(&form)).scanner_terminator, t);
        }
    }
}
