//! The installer's setup: enroll the till with the server, choose where its secrets live,
//! set up the barcode scanner and the cash register's link, the language and the till's
//! own offline limits, and test all of it before leaving the store (SPEC.md §1).
//!
//! Like [`crate::checkout::Session`], a state machine the UI shows: every tap is a [`SetupAction`]
//! carrying the form as typed ([`SetupForm`], plain strings), and a failed action leaves
//! the form as it was and says why in [`SetupProblem`], naming the field when a field is
//! wrong. It runs before there is a [`Terminal`] (a till that was never enrolled) and on an
//! enrolled till, opened from the manager's menu.
//!
//! What ends a setup is [`Finished`]: the till to run from now on, or "back, nothing
//! changed". Secrets (the enrollment code, the token, the bridge key) go only to the
//! secret store the installer chose; `terminal.toml` gets the rest.
//!
//! The form's fields and their validation are in `form.rs`, the problems in `problem.rs`;
//! this file holds the [`Setup`] state machine and its checks.
mod form;
mod problem;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::domain::card::CardFormat;
use crate::domain::scan::ScanPayload;
use crate::secrets::{SecretBackend, SecretError, SecretName, SecretStore, SecretValue};
use crate::terminal::{Enrollment, Terminal, TerminalConfig, probe_server};
pub use form::{SecretChoice, SetupField, SetupForm, new_bridge_key};
pub use problem::SetupProblem;

/// Opens the secret store a backend names. The real one is [`crate::secrets::open`];
/// tests give keyring-core's mock store for `keyring`.
pub type SecretsOpener =
    Arc<dyn Fn(&SecretBackend) -> Result<Arc<dyn SecretStore>, SecretError> + Send + Sync>;

/// [`crate::secrets::open`] as a [`SecretsOpener`].
pub fn os_secrets() -> SecretsOpener {
    Arc::new(|backend| crate::secrets::open(backend.clone()).map(Arc::from))
}

/// How long the live scanner test waits for a scan.
pub const SCAN_TEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The result of a check, kept on screen until the form changes what it tested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check<T> {
    NotRun,
    Passed(T),
    Failed(SetupProblem),
}

/// The connection test passed: how long the server took, and whether the till's token
/// was tried too (an enrolled till).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkCheck {
    pub latency: Duration,
    pub token_checked: bool,
}

/// What the scanner test read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanCheck {
    /// A card or a customer's QR code: the scanner and its terminator are right. `shown`
    /// is the payload masked, as the cashier's screens show it.
    Recognised { shown: String },
    /// Something arrived, but it is neither: the port works; the code scanned is not one
    /// of ours (or the terminator is wrong and frames run together).
    Unrecognised { bytes: usize },
}

/// What the installer does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupAction {
    /// The connection test: `/health` through the form's address, CA and timeout (and,
    /// on an enrolled till, its token).
    TestConnection(SetupForm),
    /// Waits for one scan on the form's serial port.
    TestScanner(SetupForm),
    /// What a keyboard-wedge scanner typed into the test field, ending with Enter.
    TypedScan(SetupForm, String),
    /// A new random bridge key in the form.
    GenerateBridgeKey(SetupForm),
    /// Enroll with the form's server and one-time code (again, on an enrolled till).
    Enroll(SetupForm),
    /// Save the settings and run the till with them.
    Save(SetupForm),
    /// Leave without saving (an enrolled till only).
    Close,
}

/// How a setup ended.
pub enum Finished {
    /// Run this till from now on (sync not started).
    Ready(Arc<Terminal>),
    /// Nothing changed: go back to the till that was running.
    Back,
}

impl std::fmt::Debug for Finished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finished::Ready(_) => f.write_str("Ready"),
            Finished::Back => f.write_str("Back"),
        }
    }
}

pub struct Setup {
    data_dir: PathBuf,
    clock: Arc<dyn Clock>,
    open_secrets: SecretsOpener,
    /// The till being set up again, when it is enrolled and running.
    current: Option<Arc<Terminal>>,
    form: SetupForm,
    enrolled: Option<Enrollment>,
    connection: Check<LinkCheck>,
    scanner: Check<ScanCheck>,
    problem: Option<SetupProblem>,
    finished: Option<Finished>,
    scan_timeout: Duration,
}

impl Setup {
    /// The setup of a till never enrolled, in `data_dir`.
    pub fn new(data_dir: &Path, clock: Arc<dyn Clock>, open_secrets: SecretsOpener) -> Setup {
        Setup {
            data_dir: data_dir.to_path_buf(),
            clock,
            open_secrets,
            current: None,
            form: SetupForm::new(data_dir),
            enrolled: None,
            connection: Check::NotRun,
            scanner: Check::NotRun,
            problem: None,
            finished: None,
            scan_timeout: SCAN_TEST_TIMEOUT,
        }
    }

    /// The setup of an enrolled, running till (from the manager's menu).
    pub fn for_terminal(
        terminal: Arc<Terminal>,
        clock: Arc<dyn Clock>,
        open_secrets: SecretsOpener,
    ) -> Setup {
        let config = terminal.config().clone();
        // A store that cannot be read is said at once: the form offers a new key, and
        // saving it would change the key the register's plugin has.
        let (bridge_key, problem) = match (open_secrets)(&config.secrets)
            .and_then(|store| store.get(SecretName::BridgeKey))
        {
            Ok(key) => (key.map(|k| k.expose().to_string()), None),
            Err(e) => (None, Some(SetupProblem::Secrets(e.to_string()))),
        };
        let enrolled = terminal.enrollment();
        Setup {
            data_dir: terminal.data_dir().to_path_buf(),
            clock,
            open_secrets,
            form: SetupForm::from_config(&config, bridge_key),
            current: Some(terminal),
            enrolled,
            connection: Check::NotRun,
            scanner: Check::NotRun,
            problem,
            finished: None,
            scan_timeout: SCAN_TEST_TIMEOUT,
        }
    }

    /// How long the live scanner test waits (tests shorten it).
    pub fn set_scan_timeout(&mut self, timeout: Duration) {
        self.scan_timeout = timeout;
    }

    pub fn form(&self) -> &SetupForm {
        &self.form
    }

    pub fn enrolled(&self) -> Option<&Enrollment> {
        self.enrolled.as_ref()
    }

    /// True when this setup was opened on a running till (it can go back unchanged).
    pub fn reopened(&self) -> bool {
        self.current.is_some()
    }

    pub fn connection(&self) -> &Check<LinkCheck> {
        &self.connection
    }

    pub fn scanner(&self) -> &Check<ScanCheck> {
        &self.scanner
    }

    pub fn problem(&self) -> Option<&SetupProblem> {
        self.problem.as_ref()
    }

    /// How the setup ended, once it has; taken once.
    pub fn take_finished(&mut self) -> Option<Finished> {
        self.finished.take()
    }

    /// Does what the installer asked. On a problem the form is kept as typed and
    /// [`Setup::problem`] says why.
    pub async fn act(&mut self, action: SetupAction) {
        self.problem = self.step(action).await.err();
    }

    async fn step(&mut self, action: SetupAction) -> Result<(), SetupProblem> {
        match action {
            SetupAction::TestConnection(form) => {
                self.take(form);
                self.connection = match self.test_connection().await {
                    Ok(c) => Check::Passed(c),
                    // A wrong field is the form's problem, marked on the field.
                    Err(p @ SetupProblem::Field { .. }) => {
                        self.connection = Check::NotRun;
                        return Err(p);
                    }
                    Err(p) => Check::Failed(p),
                };
                Ok(())
            }
            SetupAction::TestScanner(form) => {
                self.take(form);
                let settings = self.form.scanner()?.ok_or_else(|| {
                    SetupProblem::field(
                        SetupField::ScannerPort,
                        "choose the scanner's port (e.g. /dev/ttyACM0) first",
                    )
                })?;
                let timeout = self.scan_timeout;
                let read = tokio::task::spawn_blocking(move || {
                    crate::scanner::read_one(&settings, timeout)
                })
                .await
                .map_err(|e| SetupProblem::Scanner(e.to_string()))?;
                self.scanner = match read {
                    Ok(bytes) => Check::Passed(recognise(&bytes)),
                    Err(crate::scanner::ScannerError::NoScan { .. }) => {
                        Check::Failed(SetupProblem::NoScan {
                            seconds: timeout.as_secs().max(1),
                        })
                    }
                    Err(e) => Check::Failed(SetupProblem::Scanner(e.to_string())),
                };
                Ok(())
            }
            SetupAction::TypedScan(form, text) => {
                self.take(form);
                let text = text.trim();
                if !text.is_empty() {
                    self.scanner = Check::Passed(recognise(text.as_bytes()));
                }
                Ok(())
            }
            SetupAction::GenerateBridgeKey(form) => {
                self.take(form);
                self.form.bridge_key = new_bridge_key();
                Ok(())
            }
            SetupAction::Enroll(form) => {
                self.take(form);
                self.enroll().await
            }
            SetupAction::Save(form) => {
                self.take(form);
                self.save()
            }
            SetupAction::Close => {
                if self.current.is_none() {
                    return Err(SetupProblem::NotEnrolled);
                }
                self.finished = Some(Finished::Back);
                Ok(())
            }
        }
    }

    /// Takes the form as typed; a check of something the form changed is stale.
    fn take(&mut self, form: SetupForm) {
        if form.server_url != self.form.server_url
            || form.private_ca != self.form.private_ca
            || form.timeout_ms != self.form.timeout_ms
        {
            self.connection = Check::NotRun;
        }
        if form.scanner_port != self.form.scanner_port
            || form.scanner_baud != self.form.scanner_baud
            || form.scanner_terminator != self.form.scanner_terminator
        {
            self.scanner = Check::NotRun;
        }
        self.form = form;
    }

    async fn test_connection(&self) -> Result<LinkCheck, SetupProblem> {
        let url = self.form.server_url()?;
        let timeout = Duration::from_millis(self.form.timeout_ms()?);
        // An enrolled till's token is tried as well, if the address is still its own.
        let token = match &self.current {
            Some(t) if t.config().server_url == url => (self.open_secrets)(&t.config().secrets)
                .ok()
                .and_then(|s| s.get(SecretName::TerminalToken).ok().flatten()),
            _ => None,
        };
        let ca = self.form.private_ca();
        let latency = probe_server(
            &url,
            ca.as_deref(),
            timeout,
            token.as_ref().map(|t| t.expose()),
        )
        .await?;
        Ok(LinkCheck {
            latency,
            token_checked: token.is_some(),
        })
    }

    async fn enroll(&mut self) -> Result<(), SetupProblem> {
        let parsed = self.form.parse()?;
        let code = self.form.code.trim().to_string();
        if code.is_empty() {
            return Err(SetupProblem::field(
                SetupField::Code,
                "type the one-time code from the server",
            ));
        }
        if let Some(current) = &self.current {
            let queued = current.status().queue.pending;
            if queued > 0 {
                return Err(SetupProblem::QueueNotEmpty { queued });
            }
        }
        let secrets = (self.open_secrets)(&parsed.config.secrets)
            .map_err(|e| SetupProblem::Secrets(e.to_string()))?;
        let terminal = Terminal::enroll(
            &self.data_dir,
            parsed.config.clone(),
            secrets.clone(),
            &code,
            self.clock.clone(),
        )
        .await?;
        secrets
            .set(SecretName::BridgeKey, &SecretValue::new(&parsed.bridge_key))
            .map_err(|e| SetupProblem::Secrets(e.to_string()))?;
        // Secrets moved to another store are taken out of the old one.
        if let Some(current) = &self.current {
            let old = &current.config().secrets;
            if *old != parsed.config.secrets
                && let Ok(old) = (self.open_secrets)(old)
            {
                for name in SecretName::ALL {
                    if let Err(e) = old.delete(name) {
                        tracing::warn!(secret = %name, error = %e, "the old secret store kept a secret");
                    }
                }
            }
        }
        self.enrolled = terminal.enrollment();
        self.form.code.clear();
        tracing::info!(store = ?self.enrolled.as_ref().map(|e| &e.store_name), "the till is enrolled");
        Ok(())
    }

    fn save(&mut self) -> Result<(), SetupProblem> {
        if self.enrolled.is_none() {
            return Err(SetupProblem::NotEnrolled);
        }
        let parsed = self.form.parse()?;
        let mut config = parsed.config;
        // The server, the name and the secret store change only by enrolling again: a
        // save on its own would leave the till's token behind. `terminal.toml` holds the
        // last enrollment (the running one, or one made in this setup).
        let enrolled = TerminalConfig::load(&self.data_dir)
            .map_err(|e| SetupProblem::Storage(e.to_string()))?;
        if enrolled.server_url != config.server_url
            || enrolled.name != config.name
            || enrolled.secrets != config.secrets
        {
            return Err(SetupProblem::NeedsEnrollAgain);
        }
        // Set in terminal.toml only (the page does not show it): kept as it was.
        config.bridge.close_timeout_s = enrolled.bridge.close_timeout_s;
        config.idle_logout_s = enrolled.idle_logout_s;
        let secrets = (self.open_secrets)(&config.secrets)
            .map_err(|e| SetupProblem::Secrets(e.to_string()))?;
        secrets
            .set(SecretName::BridgeKey, &SecretValue::new(&parsed.bridge_key))
            .map_err(|e| SetupProblem::Secrets(e.to_string()))?;
        config
            .save(&self.data_dir)
            .map_err(|e| SetupProblem::Storage(e.to_string()))?;
        let terminal = Terminal::open_with(&self.data_dir, config, secrets, self.clock.clone())?;
        tracing::info!("the till's settings are saved");
        self.finished = Some(Finished::Ready(Arc::new(terminal)));
        Ok(())
    }
}

fn recognise(bytes: &[u8]) -> ScanCheck {
    match ScanPayload::parse(bytes, &CardFormat::default_formats()) {
        Ok(payload) => ScanCheck::Recognised {
            shown: payload.to_string(),
        },
        Err(_) => ScanCheck::Unrecognised { bytes: bytes.len() },
    }
}
