//! The till's operations as a library: what the checkout session and the UI call.
//!
//! Online first, offline always. A lookup or a calculation asks the server and waits at most
//! the configured timeout (1.5 s by default); if the server does not answer, or fails on its
//! side, the answer comes from the customer cache and the cached rules and is marked
//! offline, with offline spend held to the rules' `[offline]` limits ([`offline`]). Once a
//! request got no answer at all, the till's [`Link`](crate::sync::link::Link) is silent and
//! nothing is asked until the sync worker's probe hears the server again: every request
//! with an offline answer gives it at once, the others fail as needing the server.
//! Operations (sales, returns, registrations, consents, manual changes) never wait for the
//! server: each is written with its outbox row in one transaction and confirmed, and the
//! sync worker sends it. Online and offline take the same path; only the flag differs.
//!
//! Architecture Invariant: every number a till confirms comes from [`crate::domain`]; this
//! module only chooses where the inputs come from (the server or the cache) and writes the
//! result through [`crate::store`].
//!
//! The files follow the till's work: [`enroll`](Terminal::enroll) and the installer's
//! connection test in `enroll.rs`, cashiers in `login.rs`, finding a customer in
//! `lookup.rs`, calculating a receipt (online, or offline within the limits) in
//! `pricing.rs`, holding a sale's spend at the server between apply and close in
//! `holds.rs`, and the queued operations in `operations.rs`. This file holds the
//! [`Terminal`] itself: its errors, its opening, its sync worker and its cached rules.
pub mod config;
mod enroll;
mod history;
mod holds;
mod kept;
mod login;
mod lookup;
pub mod offline;
mod operations;
mod pricing;
mod returns;
mod shift;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::domain::calc::CalcError;
use crate::domain::card::CardFormat;
use crate::domain::returns::ReturnError;
use crate::domain::rules::Rules;
use crate::secrets::{SecretError, SecretName, SecretStore, SecretValue};
use crate::store::{StoreError, TerminalStore};
use crate::sync::client::{ClientError, ServerClient};
use crate::sync::link::{Link, Probe};
use crate::sync::worker::{StatusCell, SyncOptions, SyncStatus, SyncWorker, publish_queue};
pub use config::TerminalConfig;
pub use enroll::{Enrollment, probe_server};
pub use history::HISTORY_SHOWN;
pub use holds::{HOLD_MARGIN_S, Held};
pub use kept::KeptClose;
pub use login::Cashier;
pub use lookup::{Found, Lookup};
pub use offline::{Allowance, LocalOffline, OfflineLimit};
pub use operations::{ConsentChange, NewCustomer, Registered};
pub use pricing::Priced;
pub use returns::{PURCHASES_SHOWN, ReturnSale};

#[derive(Debug, thiserror::Error)]
pub enum TerminalError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secrets(#[from] SecretError),
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Client(ClientError),
    #[error(
        "this till is not enrolled (no {0} in the secret store): enroll it with a code from the server"
    )]
    NotEnrolled(SecretName),
    #[error("the server cannot be reached, and {0} needs it; try again when the till is online")]
    NeedsServer(&'static str),
    #[error("no rules are cached yet: the till must reach the server once before it works offline")]
    NoRules,
    #[error("the cached rules do not parse: {0}")]
    BadRules(String),
    #[error(transparent)]
    Calc(#[from] CalcError),
    #[error("offline: {0}")]
    Offline(#[from] OfflineLimit),
    #[error("only a manager may {0}")]
    NotPermitted(&'static str),
    #[error(
        "the sale {0} was not made at this till: a return needs the sale (or a manager on the server)"
    )]
    SaleNotKept(String),
    #[error(
        "the sale was made at another till and the server cannot be reached: a return of it needs the server"
    )]
    SaleElsewhereOffline,
    #[error(
        "{0} tills of the chain printed a sale with this receipt number: scan the sale receipt's fiscal QR code"
    )]
    SaleAmbiguous(usize),
    #[error("the server has no sale with this fiscal document")]
    FiscalSaleNotFound,
    #[error(transparent)]
    Return(#[from] ReturnError),
    #[error("the rules require an SMS code to register; «Без кода» is off")]
    CodeRequired,
    #[error("registration needs the customer's consent to the processing of personal data")]
    ConsentRequired,
    #[error("this phone is already registered")]
    AlreadyRegistered,
    #[error(transparent)]
    StatusNotIssuable(#[from] crate::domain::status::StatusChoiceError),
    #[error("no applied receipt with operation id {0} is kept at this till")]
    NoKept(String),
    #[error("the printed receipt is not the one the loyalty was applied to: {0}")]
    KeptChanged(String),
    #[error("receipt {receipt} is {state}: it cannot be closed or booked")]
    KeptSettled {
        receipt: String,
        state: &'static str,
    },
    #[error("customer {0} is not known to this till")]
    UnknownCustomer(String),
    #[error("the cashier code is wrong")]
    WrongCashierCode,
    #[error("the customer's bonuses were just spent or held at another till")]
    BonusesTaken,
    #[error("too many wrong cashier codes: try again in {0} s")]
    CashierLocked(u64),
}

impl From<ClientError> for TerminalError {
    fn from(e: ClientError) -> Self {
        TerminalError::Client(e)
    }
}

/// The enrolled till: its store, its server, its secrets and its sync worker.
pub struct Terminal {
    data_dir: PathBuf,
    config: TerminalConfig,
    store: Mutex<TerminalStore>,
    /// The till's own requests, held back while the link is silent.
    api: ServerClient,
    sync_client: ServerClient,
    link: Arc<Link>,
    lookup_key: Vec<u8>,
    bridge_key: Option<SecretValue>,
    status: StatusCell,
    worker: Mutex<Option<SyncWorker>>,
    clock: Arc<dyn Clock>,
    card_formats: Vec<CardFormat>,
    /// Customers a manager let spend offline past the `[offline]` limits, for their next
    /// sale only.
    overrides: Mutex<std::collections::HashSet<String>>,
    /// The cached rules as last parsed, by version: a lookup or a calculation must not
    /// parse the TOML again.
    parsed_rules: Mutex<Option<(i64, Arc<Rules>)>>,
}

impl std::fmt::Debug for Terminal {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.debug_struct("Terminal")
            .field("data_dir", &self.data_dir)
            .field("server", &self.config.server_url)
            .finish_non_exhaustive()
    }
}

impl Terminal {
    /// Opens an enrolled till from its data dir, with the secret store its config names.
    pub fn open(data_dir: &Path, clock: Arc<dyn Clock>) -> Result<Terminal, TerminalError> {
        let config = TerminalConfig::load(data_dir)?;
        let secrets: Arc<dyn SecretStore> = crate::secrets::open(config.secrets.clone())?.into();
        Terminal::open_with(data_dir, config, secrets, clock)
    }

    /// Opens an enrolled till with a given config and secret store (tests, the demo).
    pub fn open_with(
        data_dir: &Path,
        config: TerminalConfig,
        secrets: Arc<dyn SecretStore>,
        clock: Arc<dyn Clock>,
    ) -> Result<Terminal, TerminalError> {
        let token = secrets
            .get(SecretName::TerminalToken)?
            .ok_or(TerminalError::NotEnrolled(SecretName::TerminalToken))?;
        let key = secrets
            .get(SecretName::CacheKey)?
            .ok_or(TerminalError::NotEnrolled(SecretName::CacheKey))?;
        // Made by the installer's setup; a till without one has no register bridge.
        let bridge_key = secrets.get(SecretName::BridgeKey)?;
        let lookup_key = crate::crypto::unhex(key.expose()).ok_or_else(|| {
            TerminalError::Secrets(SecretError::BadBackend(
                "the stored cache-key is not hex; enroll the till again".into(),
            ))
        })?;
        let store = TerminalStore::open(data_dir)?;
        let status = Arc::new(tokio::sync::watch::Sender::new(SyncStatus::default()));
        let link = Link::new(status.clone());
        let ca = config.private_ca.as_deref();
        let api = ServerClient::new(&config.server_url, token.expose(), ca, config.timeout())?
            .guarded_by(link.clone());
        let sync_client = ServerClient::new(
            &config.server_url,
            token.expose(),
            ca,
            config.sync_timeout(),
        )?
        .reporting_to(link.clone());
        publish_queue(&store, &status);
        status.send_modify(|s| {
            s.rules_version = store.rules_version().ok().flatten();
            s.cached_customers = store.cached_customers().unwrap_or(0);
        });
        Ok(Terminal {
            data_dir: data_dir.to_path_buf(),
            config,
            store: Mutex::new(store),
            api,
            sync_client,
            link,
            lookup_key,
            bridge_key,
            status,
            worker: Mutex::new(None),
            clock,
            card_formats: CardFormat::default_formats(),
            overrides: Mutex::new(Default::default()),
            parsed_rules: Mutex::new(None),
        })
    }

    pub fn config(&self) -> &TerminalConfig {
        &self.config
    }

    /// The key the cash register's requests carry, if the setup made one.
    pub fn bridge_key(&self) -> Option<&SecretValue> {
        self.bridge_key.as_ref()
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The store and the id the server gave this till when it was enrolled.
    pub fn enrollment(&self) -> Option<Enrollment> {
        let store = self.store();
        Some(Enrollment {
            store_name: store.get_meta("store_name").ok().flatten()?,
            terminal_id: store.get_meta("terminal_id").ok().flatten()?,
        })
    }

    /// The page where customers register themselves: the configured one, else the
    /// customer's page of the till's own server for the till's store (`{server_url}/r/STORE`).
    pub fn self_registration_url(&self) -> Option<String> {
        if let Some(url) = &self.config.self_registration_url {
            return Some(url.clone());
        }
        let store_id = self.store().get_meta("store_id").ok().flatten()?;
        Some(default_self_registration_url(
            &self.config.server_url,
            &store_id,
        ))
    }

    fn store(&self) -> MutexGuard<'_, TerminalStore> {
        // A panic while the lock was held cannot leave a half-written operation behind:
        // every write is one SQLite transaction. The store is still good to use.
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Starts the sync worker (once; later calls only nudge it).
    pub fn start_sync(&self, options: SyncOptions) -> Result<(), TerminalError> {
        let mut worker = self.worker.lock().unwrap_or_else(|p| p.into_inner());
        match worker.as_ref() {
            Some(w) => w.nudge(),
            None => {
                let options = SyncOptions {
                    refresh_every: std::time::Duration::from_secs(self.config.refresh_s),
                    ..options
                };
                *worker = Some(SyncWorker::spawn(
                    self.data_dir.clone(),
                    self.sync_client.clone(),
                    self.status.clone(),
                    options,
                    Probe {
                        link: self.link.clone(),
                        client: self.api.clone(),
                    },
                )?);
            }
        }
        Ok(())
    }

    /// Stops the sync worker and waits for it.
    pub fn stop_sync(&self) {
        let worker = self.worker.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(w) = worker {
            w.stop();
        }
    }

    /// Asks the worker for fresh rules and customers now.
    pub fn refresh(&self) {
        if let Some(w) = self
            .worker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            w.refresh();
        }
    }

    fn nudge(&self) {
        if let Some(w) = self
            .worker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            w.nudge();
        }
        publish_queue(&self.store(), &self.status);
    }

    /// The status bar's figures now.
    pub fn status(&self) -> SyncStatus {
        self.status.borrow().clone()
    }

    /// A receiver that sees every status change.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<SyncStatus> {
        self.status.subscribe()
    }

    fn saw_server(&self, answered: bool, why: Option<&ClientError>) {
        self.status.send_modify(|s| {
            s.online = Some(answered);
            if let Some(e) = why {
                s.last_error = Some(e.to_string());
            }
        });
    }

    /// Cached rules, or an error saying the till has never had any.
    pub fn rules(&self) -> Result<(i64, Arc<Rules>), TerminalError> {
        self.rules_in(&self.store())
    }

    /// The newest cached rules, parsed once per version.
    fn rules_in(&self, store: &TerminalStore) -> Result<(i64, Arc<Rules>), TerminalError> {
        let version = store.rules_version()?.ok_or(TerminalError::NoRules)?;
        let mut parsed = self.parsed_rules.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((v, rules)) = parsed.as_ref()
            && *v == version
        {
            return Ok((version, rules.clone()));
        }
        let (version, text) = store.rules()?.ok_or(TerminalError::NoRules)?;
        let rules = Arc::new(
            Rules::from_toml_str(&text).map_err(|e| TerminalError::BadRules(e.to_string()))?,
        );
        *parsed = Some((version, rules.clone()));
        Ok((version, rules))
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        self.stop_sync();
    }
}

/// The customer's page of a server for a store: `{server_url}/r/STORE`, the store id
/// percent-encoded (only RFC 3986's unreserved characters pass as they are).
pub fn default_self_registration_url(server_url: &str, store_id: &str) -> String {
    let mut url = format!("{}/r/", server_url.trim_end_matches('/'));
    for b in store_id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            url.push(char::from(b));
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_keys_decode() {
        assert_eq!(crate::crypto::unhex("00ff10"), Some(vec![0, 255, 16]));
        assert_eq!(crate::crypto::unhex("0"), None);
        assert_eq!(crate::crypto::unhex("zz"), None);
    }
}
