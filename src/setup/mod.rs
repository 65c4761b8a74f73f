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
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;

use crate::clock::Clock;
use crate::domain::card::CardFormat;
use crate::domain::money::Bonus;
use crate::domain::scan::ScanPayload;
use crate::lang::Language;
use crate::protocol::server::ErrorCode;
use crate::scanner::{ScannerSettings, Terminator};
use crate::secrets::{SecretBackend, SecretError, SecretName, SecretStore, SecretValue};
use crate::sync::client::ClientError;
use crate::terminal::config::{BridgeSettings, DEFAULT_BRIDGE_PORT};
use crate::terminal::{
    Enrollment, LocalOffline, Terminal, TerminalConfig, TerminalError, probe_server,
};

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

/// Where the secrets go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretChoice {
    /// The OS keyring (a desktop secret service).
    Keyring,
    /// An encrypted-at-rest-by-permissions vault directory (0700, files 0600) on a
    /// headless till without a secret service: the installer's explicit choice.
    File,
}

/// The setup form as typed. Text stays text until an action parses it, so nothing the
/// installer typed is lost when one field is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupForm {
    pub server_url: String,
    pub name: String,
    /// The one-time enrollment code from `bonuskassa-server enroll-code`.
    pub code: String,
    /// A PEM file of a private CA; empty for a public certificate.
    pub private_ca: String,
    pub secrets: SecretChoice,
    /// The vault directory when `secrets` is `File`.
    pub vault_dir: String,
    /// Empty: no serial scanner (keyboard-wedge scanners need no setup).
    pub scanner_port: String,
    pub scanner_baud: String,
    pub scanner_terminator: Terminator,
    pub bridge_port: String,
    pub bridge_key: String,
    pub language: Language,
    /// This till may spend bonuses offline (within the rules' limits).
    pub offline_spend: bool,
    /// The till's own caps; empty: the rules decide.
    pub offline_max_per_purchase: String,
    pub offline_max_unsynced: String,
    pub offline_horizon_hours: String,
    pub timeout_ms: String,
    pub self_registration_url: String,
}

/// A field of the form, named in problems so the screen can point at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupField {
    ServerUrl,
    Name,
    Code,
    PrivateCa,
    VaultDir,
    ScannerPort,
    ScannerBaud,
    BridgePort,
    BridgeKey,
    OfflineMaxPerPurchase,
    OfflineMaxUnsynced,
    OfflineHorizon,
    Timeout,
    SelfRegistrationUrl,
}

/// Why a setup action did not go through: a closed set the UI words in Russian or
/// English; the English `Display` is for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupProblem {
    #[error("{field:?}: {message}")]
    Field { field: SetupField, message: String },
    #[error("the server does not answer at this address")]
    Unreachable,
    #[error("the server did not answer in time")]
    Timeout,
    #[error("the server's certificate is not trusted: {0}")]
    Certificate(String),
    #[error("the enrollment code is wrong, used or expired: get a new one from the server")]
    CodeInvalid,
    #[error("the server refused the till's token: enroll it again with a new code")]
    TokenRefused,
    /// A refusal the setup has no case of its own for; the code is shown for support.
    #[error("the server refused with {0:?}")]
    Server(ErrorCode),
    #[error("the secret store cannot be used: {0}")]
    Secrets(String),
    #[error("the scanner: {0}")]
    Scanner(String),
    #[error("no scan arrived within {seconds} s")]
    NoScan { seconds: u64 },
    #[error("the till could not save its settings: {0}")]
    Storage(String),
    #[error("connect the till to the server first")]
    NotEnrolled,
    #[error("{queued} operations are still waiting to be sent: enroll again once they are")]
    QueueNotEmpty { queued: u64 },
    /// The server, the till's name or the secret store changed on an enrolled till: they
    /// change only by enrolling again (the server gives a new token for them).
    #[error("a new server, name or secret store needs the till enrolled again with a new code")]
    NeedsEnrollAgain,
}

impl SetupProblem {
    fn field(field: SetupField, message: impl Into<String>) -> SetupProblem {
        SetupProblem::Field {
            field,
            message: message.into(),
        }
    }
}

impl From<ClientError> for SetupProblem {
    fn from(e: ClientError) -> SetupProblem {
        match e {
            ClientError::InsecureUrl => SetupProblem::field(SetupField::ServerUrl, e.to_string()),
            ClientError::CaFile(_) | ClientError::CaPem => {
                SetupProblem::field(SetupField::PrivateCa, e.to_string())
            }
            ClientError::Timeout => SetupProblem::Timeout,
            ClientError::Unreachable | ClientError::Status(_) | ClientError::Unreadable(_) => {
                SetupProblem::Unreachable
            }
            ClientError::Certificate(why) => SetupProblem::Certificate(why),
            ClientError::Api(body) => match body.code {
                ErrorCode::EnrollmentCodeInvalid => SetupProblem::CodeInvalid,
                ErrorCode::Unauthorized | ErrorCode::TokenRevoked => SetupProblem::TokenRefused,
                code => SetupProblem::Server(code),
            },
            ClientError::Build(m) => SetupProblem::field(SetupField::ServerUrl, m),
        }
    }
}

impl From<TerminalError> for SetupProblem {
    fn from(e: TerminalError) -> SetupProblem {
        match e {
            TerminalError::Client(c) => c.into(),
            TerminalError::Secrets(s) => SetupProblem::Secrets(s.to_string()),
            TerminalError::NotEnrolled(_) => SetupProblem::NotEnrolled,
            e => SetupProblem::Storage(e.to_string()),
        }
    }
}

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

/// The form parsed: what `terminal.toml` and the secret store get.
struct Parsed {
    config: TerminalConfig,
    bridge_key: String,
}

impl SetupForm {
    /// The form of a till never enrolled, with the defaults an installer mostly keeps.
    pub fn new(data_dir: &Path) -> SetupForm {
        let vault = std::path::absolute(data_dir)
            .unwrap_or_else(|_| data_dir.to_path_buf())
            .join("vault");
        SetupForm {
            server_url: String::new(),
            name: "Касса 1".into(),
            code: String::new(),
            private_ca: String::new(),
            secrets: SecretChoice::Keyring,
            vault_dir: vault.display().to_string(),
            scanner_port: String::new(),
            scanner_baud: "9600".into(),
            scanner_terminator: Terminator::default(),
            bridge_port: DEFAULT_BRIDGE_PORT.to_string(),
            bridge_key: new_bridge_key(),
            language: Language::Ru,
            offline_spend: true,
            offline_max_per_purchase: String::new(),
            offline_max_unsynced: String::new(),
            offline_horizon_hours: String::new(),
            timeout_ms: crate::terminal::config::DEFAULT_TIMEOUT_MS.to_string(),
            self_registration_url: String::new(),
        }
    }

    /// The form of an enrolled till: its settings, and its bridge key if it has one.
    pub fn from_config(config: &TerminalConfig, bridge_key: Option<String>) -> SetupForm {
        let text = |b: Option<Bonus>| b.map(|b| b.to_string()).unwrap_or_default();
        let (secrets, vault_dir) = match &config.secrets {
            SecretBackend::File(dir) => (SecretChoice::File, dir.display().to_string()),
            _ => (SecretChoice::Keyring, String::new()),
        };
        SetupForm {
            server_url: config.server_url.clone(),
            name: config.name.clone(),
            code: String::new(),
            private_ca: config
                .private_ca
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            secrets,
            vault_dir,
            scanner_port: config
                .scanner
                .as_ref()
                .map(|s| s.port.clone())
                .unwrap_or_default(),
            scanner_baud: config.scanner.as_ref().map_or(9600, |s| s.baud).to_string(),
            scanner_terminator: config
                .scanner
                .as_ref()
                .map(|s| s.terminator)
                .unwrap_or_default(),
            bridge_port: config.bridge.port.to_string(),
            bridge_key: bridge_key.unwrap_or_else(new_bridge_key),
            language: config.language,
            offline_spend: config.offline.spend_allowed,
            offline_max_per_purchase: text(config.offline.max_spend_per_operation),
            offline_max_unsynced: text(config.offline.max_unsynced_spend_per_terminal),
            offline_horizon_hours: config
                .offline
                .horizon_hours
                .map(|h| h.to_string())
                .unwrap_or_default(),
            timeout_ms: config.timeout_ms.to_string(),
            self_registration_url: config.self_registration_url.clone().unwrap_or_default(),
        }
    }

    fn backend(&self) -> Result<SecretBackend, SetupProblem> {
        match self.secrets {
            SecretChoice::Keyring => Ok(SecretBackend::Keyring),
            SecretChoice::File => {
                let dir = self.vault_dir.trim();
                if !Path::new(dir).is_absolute() {
                    return Err(SetupProblem::field(
                        SetupField::VaultDir,
                        format!("the vault must be an absolute directory (/…), not {dir:?}"),
                    ));
                }
                Ok(SecretBackend::File(PathBuf::from(dir)))
            }
        }
    }

    fn server_url(&self) -> Result<String, SetupProblem> {
        let url = self.server_url.trim().trim_end_matches('/');
        if url.is_empty() {
            return Err(SetupProblem::field(
                SetupField::ServerUrl,
                "type the server's address, https://…",
            ));
        }
        if !url.starts_with("https://") && !url.starts_with("http://") {
            return Err(SetupProblem::field(
                SetupField::ServerUrl,
                format!("{url:?} is not an address: it starts with https://"),
            ));
        }
        Ok(url.to_string())
    }

    fn private_ca(&self) -> Option<PathBuf> {
        let ca = self.private_ca.trim();
        (!ca.is_empty()).then(|| PathBuf::from(ca))
    }

    fn timeout_ms(&self) -> Result<u64, SetupProblem> {
        self.timeout_ms
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|ms| (100..=30_000).contains(ms))
            .ok_or_else(|| {
                SetupProblem::field(
                    SetupField::Timeout,
                    "a number of milliseconds, 100 to 30000",
                )
            })
    }

    fn scanner(&self) -> Result<Option<ScannerSettings>, SetupProblem> {
        let port = self.scanner_port.trim();
        if port.is_empty() {
            return Ok(None);
        }
        let baud = self.scanner_baud.trim().parse::<u32>().map_err(|_| {
            SetupProblem::field(SetupField::ScannerBaud, "the speed is a number, e.g. 9600")
        })?;
        let settings = ScannerSettings {
            port: port.to_string(),
            baud,
            terminator: self.scanner_terminator,
        };
        settings.validate().map_err(|m| {
            let field = if m.contains("baud") {
                SetupField::ScannerBaud
            } else {
                SetupField::ScannerPort
            };
            SetupProblem::field(field, m)
        })?;
        Ok(Some(settings))
    }

    fn parse(&self) -> Result<Parsed, SetupProblem> {
        let server_url = self.server_url()?;
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 64 {
            return Err(SetupProblem::field(
                SetupField::Name,
                "the till's name, 1 to 64 characters, e.g. «Касса 2»",
            ));
        }
        let mut config = TerminalConfig::new(&server_url, name, self.backend()?);
        config.private_ca = self.private_ca();
        config.timeout_ms = self.timeout_ms()?;
        config.language = self.language;
        config.scanner = self.scanner()?;
        config.bridge = BridgeSettings {
            port: self
                .bridge_port
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|p| *p >= 1024)
                .ok_or_else(|| {
                    SetupProblem::field(SetupField::BridgePort, "a port from 1024 to 65535")
                })?,
            ..BridgeSettings::default()
        };
        let bonus = |text: &str, field| -> Result<Option<Bonus>, SetupProblem> {
            let text = text.trim();
            if text.is_empty() {
                return Ok(None);
            }
            text.replace(',', ".")
                .parse::<Bonus>()
                .ok()
                .filter(|b| !b.is_negative())
                .map(Some)
                .ok_or_else(|| {
                    SetupProblem::field(field, "a number of bonuses, or empty for the rules' limit")
                })
        };
        config.offline = LocalOffline {
            spend_allowed: self.offline_spend,
            max_spend_per_operation: bonus(
                &self.offline_max_per_purchase,
                SetupField::OfflineMaxPerPurchase,
            )?,
            max_unsynced_spend_per_terminal: bonus(
                &self.offline_max_unsynced,
                SetupField::OfflineMaxUnsynced,
            )?,
            horizon_hours: match self.offline_horizon_hours.trim() {
                "" => None,
                h => Some(h.parse::<u32>().ok().filter(|h| *h > 0).ok_or_else(|| {
                    SetupProblem::field(
                        SetupField::OfflineHorizon,
                        "a number of hours above 0, or empty for the rules' horizon",
                    )
                })?),
            },
        };
        let url = self.self_registration_url.trim();
        config.self_registration_url = (!url.is_empty()).then(|| url.to_string());
        let key = self.bridge_key.trim();
        if key.chars().count() < 16 || key.len() > 128 || !key.chars().all(|c| c.is_ascii_graphic())
        {
            return Err(SetupProblem::field(
                SetupField::BridgeKey,
                "at least 16 letters, digits or signs, no spaces: press «Новый ключ»",
            ));
        }
        // The config's own checks (the self-registration address among them).
        if let Err(message) = config.check() {
            let field = if message.contains("self_registration_url") {
                SetupField::SelfRegistrationUrl
            } else {
                SetupField::ServerUrl
            };
            return Err(SetupProblem::field(field, message));
        }
        Ok(Parsed {
            config,
            bridge_key: key.to_string(),
        })
    }
}

/// A fresh key for the cash register's requests: 24 characters from an alphabet without
/// look-alikes (no 0/O, 1/l/I), so the installer can type it into the register's plugin;
/// about 137 bits.
pub fn new_bridge_key() -> String {
    const ALPHABET: &[u8] = b"23456789abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";
    let mut rng = rand::rng();
    (0..24)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bridge_key_is_long_random_and_typeable() {
        let a = new_bridge_key();
        let b = new_bridge_key();
        assert_eq!(a.len(), 24);
        assert_ne!(a, b);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() && !"0O1lI".contains(c))
        );
    }

    #[test]
    fn every_bad_field_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let good = SetupForm {
            server_url: "https://loyalty.example".into(),
            ..SetupForm::new(dir.path())
        };
        assert!(good.parse().is_ok());
        type Spoil = Box<dyn Fn(&mut SetupForm)>;
        let cases: Vec<(SetupField, Spoil)> = vec![
            (
                SetupField::ServerUrl,
                Box::new(|f| f.server_url = "".into()),
            ),
            (
                SetupField::ServerUrl,
                Box::new(|f| f.server_url = "loyalty.example".into()),
            ),
            (SetupField::Name, Box::new(|f| f.name = "  ".into())),
            (
                SetupField::Timeout,
                Box::new(|f| f.timeout_ms = "50".into()),
            ),
            (
                SetupField::BridgePort,
                Box::new(|f| f.bridge_port = "80".into()),
            ),
            (
                SetupField::BridgePort,
                Box::new(|f| f.bridge_port = "порт".into()),
            ),
            (
                SetupField::BridgeKey,
                Box::new(|f| f.bridge_key = "short".into()),
            ),
            (
                SetupField::BridgeKey,
                Box::new(|f| f.bridge_key = "with spaces in the key".into()),
            ),
            (
                SetupField::ScannerBaud,
                Box::new(|f| {
                    f.scanner_port = "/dev/ttyACM0".into();
                    f.scanner_baud = "fast".into();
                }),
            ),
            (
                SetupField::ScannerPort,
                Box::new(|f| f.scanner_port = "COM3".into()),
            ),
            (
                SetupField::OfflineMaxPerPurchase,
                Box::new(|f| f.offline_max_per_purchase = "-5".into()),
            ),
            (
                SetupField::OfflineMaxUnsynced,
                Box::new(|f| f.offline_max_unsynced = "много".into()),
            ),
            (
                SetupField::OfflineHorizon,
                Box::new(|f| f.offline_horizon_hours = "0".into()),
            ),
            (
                SetupField::VaultDir,
                Box::new(|f| {
                    f.secrets = SecretChoice::File;
                    f.vault_dir = "vault".into();
                }),
            ),
            (
                SetupField::SelfRegistrationUrl,
                Box::new(|f| f.self_registration_url = "http://plain".into()),
            ),
        ];
        for (field, spoil) in cases {
            let mut form = good.clone();
            spoil(&mut form);
            match form.parse() {
                Err(SetupProblem::Field {
                    field: got,
                    message,
                }) => {
                    assert_eq!(got, field, "{message}");
                    assert!(!message.is_empty());
                }
                other => panic!("{field:?}: {:?}", other.map(|p| p.config)),
            }
        }
    }

    #[test]
    fn the_form_of_a_saved_config_reads_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let form = SetupForm {
            server_url: "https://loyalty.example".into(),
            name: "Касса 3".into(),
            secrets: SecretChoice::File,
            vault_dir: "/var/lib/bonuskassa/vault".into(),
            scanner_port: "/dev/ttyACM0".into(),
            scanner_baud: "115200".into(),
            scanner_terminator: Terminator::CrLf,
            bridge_port: "9100".into(),
            language: Language::En,
            offline_spend: false,
            offline_max_per_purchase: "300".into(),
            offline_max_unsynced: "2000".into(),
            offline_horizon_hours: "24".into(),
            timeout_ms: "1200".into(),
            self_registration_url: "https://loyalty.example/join".into(),
            ..SetupForm::new(dir.path())
        };
        let parsed = form.parse().unwrap();
        let back = SetupForm::from_config(&parsed.config, Some(parsed.bridge_key.clone()));
        let normal = |f: &SetupForm| SetupForm {
            offline_max_per_purchase: f.offline_max_per_purchase.trim_end_matches(".00").into(),
            offline_max_unsynced: f.offline_max_unsynced.trim_end_matches(".00").into(),
            ..f.clone()
        };
        assert_eq!(normal(&back), normal(&form));
    }
}
