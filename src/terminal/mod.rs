//! The till's operations as a library: what the checkout session and the UI call.
//!
//! Online first, offline always. A lookup or a calculation asks the server and waits at most
//! the configured timeout (1.5 s by default); if the server does not answer, or fails on its
//! side, the answer comes from the customer cache and the cached rules and is marked
//! offline, with offline spend held to the rules' `[offline]` limits ([`offline`]).
//! Operations (sales, returns, registrations, consents, manual changes) never wait for the
//! server: each is written with its outbox row in one transaction and confirmed, and the
//! sync worker sends it. Online and offline take the same path; only the flag differs.
//!
//! Architecture Invariant: every number a till confirms comes from [`crate::domain`]; this
//! module only chooses where the inputs come from (the server or the cache) and writes the
//! result through [`crate::store`].
pub mod config;
pub mod offline;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::domain::calc::{CalcError, Calculation, CustomerState, calculate};
use crate::domain::card::{CardFormat, CardNumber};
use crate::domain::money::{Bonus, Money};
use crate::domain::phone::Phone;
use crate::domain::receipt::{Receipt, ReceiptKind};
use crate::domain::returns::{ReturnError, ReturnResult, Sale, compute_return, record_return};
use crate::domain::rules::Rules;
use crate::domain::scan::ScanPayload;
use crate::protocol::server::{
    CalcRequest, CardIssue, CustomerView, EnrollRequest, ErrorCode, LoginRequest, LookupRequest,
    Operation, OperationBody, Questionnaire, Role, Secret, SmsPurpose, SmsSendRequest,
    SmsSendResponse, SmsVerifyRequest,
};
use crate::protocol::{lookup_hash, short_name};
use crate::secrets::{SecretError, SecretName, SecretStore, SecretValue};
use crate::store::{CachedCashier, CachedCustomer, Conflict, StoreError, TerminalStore};
use crate::sync::client::{ClientError, ServerClient};
use crate::sync::worker::{StatusCell, SyncOptions, SyncStatus, SyncWorker, publish_queue};
pub use config::TerminalConfig;
pub use offline::{Allowance, LocalOffline, OfflineLimit};

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
    #[error(transparent)]
    Return(#[from] ReturnError),
    #[error("the rules require an SMS code to register; «Без кода» is off")]
    CodeRequired,
    #[error("registration needs the customer's consent to the processing of personal data")]
    ConsentRequired,
    #[error("this phone is already registered")]
    AlreadyRegistered,
    #[error("customer {0} is not known to this till")]
    UnknownCustomer(String),
    #[error("the cashier code is wrong")]
    WrongCashierCode,
    #[error("too many wrong cashier codes: try again in {0} s")]
    CashierLocked(u64),
}

impl From<ClientError> for TerminalError {
    fn from(e: ClientError) -> Self {
        TerminalError::Client(e)
    }
}

/// A cashier logged in at the till.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cashier {
    pub id: i64,
    pub name: String,
    pub role: Role,
    /// True when the till let them in from its cache, the server being away.
    pub offline: bool,
}

impl Cashier {
    pub fn is_manager(&self) -> bool {
        self.role == Role::Manager
    }
}

/// How the cashier finds a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Phone(Phone),
    Card(CardNumber),
}

impl From<ScanPayload> for Lookup {
    fn from(s: ScanPayload) -> Lookup {
        match s {
            ScanPayload::Phone(p) => Lookup::Phone(p),
            ScanPayload::Card(c) => Lookup::Card(c),
        }
    }
}

/// A customer found, and where the answer came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub customer: CustomerView,
    /// True when the server did not answer and the till's cache did.
    pub offline: bool,
}

/// A receipt calculated for a customer and a spend: what the cashier previews and what
/// [`Terminal::sell`] confirms.
#[derive(Debug, Clone, PartialEq)]
pub struct Priced {
    pub receipt: Receipt,
    pub spend: Bonus,
    pub customer: CustomerView,
    pub calculation: Calculation,
    pub rules_version: i64,
    pub offline: bool,
    /// Offline only: what limits the spend beyond the customer's balance.
    pub allowance: Option<Allowance>,
}

/// A customer to register at the till.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCustomer {
    pub phone: Phone,
    /// The proof from [`Terminal::verify_code`]; `None` registers «Без кода».
    pub verification: Option<Secret>,
    pub questionnaire: Questionnaire,
    pub consent_processing: bool,
    pub consent_advertising: bool,
    pub card: Option<CardIssue>,
}

/// The enrolled till: its store, its server, its secrets and its sync worker.
pub struct Terminal {
    data_dir: PathBuf,
    config: TerminalConfig,
    store: Mutex<TerminalStore>,
    api: ServerClient,
    sync_client: ServerClient,
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

/// The till as its enrollment made it: the store the code was issued for, and the id the
/// server gave this till.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrollment {
    pub store_name: String,
    pub terminal_id: String,
}

/// Wrong cashier codes typed while the server is away: 5 are allowed, then the till
/// locks for 30 s, doubling with every further wrong code (SPEC.md §7).
fn offline_lock_seconds(failures: u32) -> u64 {
    if failures < 5 {
        0
    } else {
        30u64.saturating_mul(1u64 << (failures - 5).min(10))
    }
}

/// The installer's connection test: can the till reach the server at `url` (with the
/// private CA, if any) and how long did the answer take. With the till's `token` the
/// server is also asked for the rules, which proves the token is still good.
pub async fn probe_server(
    url: &str,
    private_ca: Option<&Path>,
    timeout: std::time::Duration,
    token: Option<&str>,
) -> Result<std::time::Duration, ClientError> {
    let client = ServerClient::new(url, token.unwrap_or(""), private_ca, timeout)?;
    let started = std::time::Instant::now();
    client.health().await?;
    let took = started.elapsed();
    if token.is_some() {
        client.rules().await?;
    }
    Ok(took)
}

impl Terminal {
    /// Enrolls this till with a one-time code from the server: keeps the token and the
    /// cache key in `secrets`, writes `terminal.toml`, and opens the till.
    pub async fn enroll(
        data_dir: &Path,
        config: TerminalConfig,
        secrets: Arc<dyn SecretStore>,
        code: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<Terminal, TerminalError> {
        let anonymous = ServerClient::new(
            &config.server_url,
            "",
            config.private_ca.as_deref(),
            config.sync_timeout(),
        )?;
        let enrolled = anonymous
            .enroll(&EnrollRequest {
                code: Secret(code.trim().to_string()),
                name: config.name.clone(),
            })
            .await?;
        secrets.set(
            SecretName::TerminalToken,
            &SecretValue::new(enrolled.token.expose()),
        )?;
        secrets.set(
            SecretName::CacheKey,
            &SecretValue::new(enrolled.lookup_key.expose()),
        )?;
        config.save(data_dir)?;
        let mut store = TerminalStore::open(data_dir)?;
        store.put_meta("terminal_id", &enrolled.terminal_id)?;
        store.put_meta("store_id", &enrolled.store_id)?;
        store.put_meta("store_name", &enrolled.store_name)?;
        drop(store);
        tracing::info!(terminal = %enrolled.terminal_id, store = %enrolled.store_id, "enrolled");
        Terminal::open_with(data_dir, config, secrets, clock)
    }

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
        let ca = config.private_ca.as_deref();
        let api = ServerClient::new(&config.server_url, token.expose(), ca, config.timeout())?;
        let sync_client = ServerClient::new(
            &config.server_url,
            token.expose(),
            ca,
            config.sync_timeout(),
        )?;
        let store = TerminalStore::open(data_dir)?;
        let status = Arc::new(tokio::sync::watch::Sender::new(SyncStatus::default()));
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

    // --- Cashiers -------------------------------------------------------------------------

    fn code_hash(&self, code: &str) -> String {
        lookup_hash(&self.lookup_key, &format!("cashier:{}", code.trim()))
    }

    /// Logs a cashier in by code: at the server, or, while it is away, from the cashiers
    /// who logged in here before.
    pub async fn login(&self, code: &str) -> Result<Cashier, TerminalError> {
        let now = self.now();
        let locked_until = self
            .store()
            .get_meta("login_locked_until")?
            .as_deref()
            .and_then(crate::sqlite::parse_ts);
        if let Some(until) = locked_until
            && until > now
        {
            return Err(TerminalError::CashierLocked(
                (until - now).num_seconds().max(1) as u64,
            ));
        }
        let hash = self.code_hash(code);
        match self
            .api
            .login(&LoginRequest {
                code: Secret(code.trim().to_string()),
            })
            .await
        {
            Ok(ok) => {
                self.saw_server(true, None);
                let role = match ok.role {
                    Role::Cashier => "cashier",
                    Role::Manager => "manager",
                };
                let mut store = self.store();
                store.remember_cashier(
                    &hash,
                    &CachedCashier {
                        cashier_id: ok.cashier_id,
                        name: ok.name.clone(),
                        role: role.into(),
                    },
                    now,
                )?;
                store.put_meta("login_failures", "0")?;
                Ok(Cashier {
                    id: ok.cashier_id,
                    name: ok.name,
                    role: ok.role,
                    offline: false,
                })
            }
            Err(e) if e.is_offline() => {
                self.saw_server(false, Some(&e));
                let mut store = self.store();
                match store.cashier_by_code_hash(&hash)? {
                    Some(c) => {
                        store.put_meta("login_failures", "0")?;
                        Ok(Cashier {
                            id: c.cashier_id,
                            name: c.name,
                            role: if c.role == "manager" {
                                Role::Manager
                            } else {
                                Role::Cashier
                            },
                            offline: true,
                        })
                    }
                    None => {
                        let failures = store
                            .get_meta("login_failures")?
                            .and_then(|v| v.parse::<u32>().ok())
                            .unwrap_or(0)
                            + 1;
                        store.put_meta("login_failures", &failures.to_string())?;
                        let lock = offline_lock_seconds(failures);
                        if lock > 0 {
                            let until = now + chrono::Duration::seconds(lock as i64);
                            store.put_meta("login_locked_until", &crate::sqlite::ts(until))?;
                        }
                        Err(TerminalError::WrongCashierCode)
                    }
                }
            }
            Err(e) => {
                self.saw_server(true, None);
                Err(e.into())
            }
        }
    }

    // --- Customers ------------------------------------------------------------------------

    fn hash_of(&self, lookup: &Lookup) -> String {
        match lookup {
            Lookup::Phone(p) => lookup_hash(&self.lookup_key, p.as_e164()),
            Lookup::Card(c) => lookup_hash(&self.lookup_key, c.as_str()),
        }
    }

    /// What the cache says of a customer, with the bonuses spent here since the cache row
    /// came from the server taken off.
    fn cached_view(
        &self,
        store: &TerminalStore,
        c: CachedCustomer,
    ) -> Result<CustomerView, TerminalError> {
        let spent = TerminalStore::spent_since_cache(store.connection(), &c.id)?;
        let discount = self
            .rules_in(store)
            .ok()
            .and_then(|(_, r)| {
                r.card(&c.card_status)
                    .map(|r| r.discount_percent.to_string())
            })
            .unwrap_or_else(|| "0".into());
        Ok(CustomerView {
            id: c.id,
            name: c.name,
            phone_masked: c.phone_masked,
            card_masked: None,
            card_status: c.card_status,
            phone_verified: c.phone_verified,
            balance: Bonus::from_kopecks(c.balance - spent),
            pending: Bonus::from_kopecks(c.pending),
            discount_percent: discount,
        })
    }

    /// Finds a customer in the cache only (what an offline lookup does).
    pub fn lookup_cached(&self, lookup: &Lookup) -> Result<Option<CustomerView>, TerminalError> {
        let store = self.store();
        match store.customer_by_hash(&self.hash_of(lookup))? {
            Some(c) => Ok(Some(self.cached_view(&store, c)?)),
            None => Ok(None),
        }
    }

    /// Finds a customer: at the server, or in the cache when it does not answer in time.
    /// `Ok(None)`: nobody has this phone or card (register them).
    pub async fn lookup(&self, lookup: &Lookup) -> Result<Option<Found>, TerminalError> {
        let req = match lookup {
            Lookup::Phone(p) => LookupRequest {
                phone: Some(Secret(p.as_e164().to_string())),
                ..Default::default()
            },
            Lookup::Card(c) => LookupRequest {
                card: Some(Secret(c.as_str().to_string())),
                ..Default::default()
            },
        };
        match self.api.lookup(&req).await {
            Ok(customer) => {
                self.saw_server(true, None);
                Ok(Some(Found {
                    customer,
                    offline: false,
                }))
            }
            Err(ClientError::Api(body)) if body.code == ErrorCode::CustomerNotFound => {
                self.saw_server(true, None);
                // Registered here a moment ago and not yet sent: the cache knows them.
                Ok(self.lookup_cached(lookup)?.map(|customer| Found {
                    customer,
                    offline: false,
                }))
            }
            Err(e) if e.is_offline() => {
                self.saw_server(false, Some(&e));
                Ok(self.lookup_cached(lookup)?.map(|customer| Found {
                    customer,
                    offline: true,
                }))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn overridden(&self, customer_id: &str) -> bool {
        self.overrides
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(customer_id)
    }

    /// A manager lets this customer's next offline sale spend past the `[offline]` limits
    /// (not past their balance, an unverified phone or the SMS-code threshold). Queued as
    /// an audit event with the manager and the reason.
    pub fn allow_offline_spend(
        &self,
        manager: &Cashier,
        customer_id: &str,
        reason: &str,
    ) -> Result<Operation, TerminalError> {
        if !manager.is_manager() {
            return Err(TerminalError::NotPermitted("allow an offline spend"));
        }
        let op = self.queue(
            manager,
            OperationBody::Audit {
                event: crate::protocol::server::AuditEvent::OfflineSpendOverride,
                customer_id: Some(customer_id.to_string()),
                reason: reason.trim().to_string(),
            },
        )?;
        self.overrides
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(customer_id.to_string());
        Ok(op)
    }

    /// The offline allowance for a customer now.
    pub fn offline_allowance(
        &self,
        rules: &Rules,
        customer: &CustomerView,
    ) -> Result<Allowance, TerminalError> {
        let store = self.store();
        let unsynced = TerminalStore::unsynced_offline_spend(store.connection())?;
        Ok(offline::allowance(
            rules,
            &self.config.offline,
            offline::OfflineFacts {
                last_sync: store.last_sync()?,
                now: self.now(),
                unsynced_spend: Bonus::from_kopecks(unsynced),
                phone_verified: customer.phone_verified,
                manager_override: self.overridden(&customer.id),
            },
        ))
    }

    /// Calculates a receipt for a customer and a spend: at the server, or with the cached
    /// rules when it does not answer in time (then the spend is held to the offline limits).
    pub async fn calculate(
        &self,
        customer: &CustomerView,
        receipt: &Receipt,
        spend: Bonus,
    ) -> Result<Priced, TerminalError> {
        receipt
            .validate()
            .map_err(|e| TerminalError::Calc(CalcError::Receipt(e)))?;
        let req = CalcRequest {
            customer_id: customer.id.clone(),
            receipt: receipt.clone(),
            spend,
        };
        match self.api.calc(&req).await {
            Ok(r) => {
                self.saw_server(true, None);
                Ok(Priced {
                    receipt: receipt.clone(),
                    spend,
                    customer: r.customer,
                    calculation: r.calculation,
                    rules_version: r.rules_version,
                    offline: false,
                    allowance: None,
                })
            }
            Err(ClientError::Api(body)) if body.code == ErrorCode::CustomerNotFound => {
                self.saw_server(true, None);
                // Registered here and not yet at the server: nothing to spend, so the
                // cached rules give the same answer the server will. The server is there,
                // so the answer is not an offline one.
                let mut priced = self.calculate_offline(customer, receipt, spend)?;
                priced.offline = false;
                Ok(priced)
            }
            Err(ClientError::Api(body))
                if body.code == ErrorCode::BadRequest && !spend.is_zero() =>
            {
                self.saw_server(true, None);
                // The server refuses a spend this receipt cannot take: ask what it can,
                // so the cashier is told the maximum rather than the server's words.
                let zero = CalcRequest {
                    spend: Bonus::ZERO,
                    ..req
                };
                match self.api.calc(&zero).await {
                    Ok(r) if spend > r.calculation.max_spend => Err(CalcError::SpendAboveMax {
                        requested: spend,
                        max: r.calculation.max_spend,
                    }
                    .into()),
                    _ => Err(ClientError::Api(body).into()),
                }
            }
            Err(e) if e.is_offline() => {
                self.saw_server(false, Some(&e));
                self.calculate_offline(customer, receipt, spend)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Calculates with the cached rules and the cached customer, within the offline limits.
    pub fn calculate_offline(
        &self,
        customer: &CustomerView,
        receipt: &Receipt,
        spend: Bonus,
    ) -> Result<Priced, TerminalError> {
        let (version, rules) = self.rules()?;
        let customer = {
            let store = self.store();
            match store.customer_by_id(&customer.id)? {
                Some(c) => self.cached_view(&store, c)?,
                None => return Err(TerminalError::UnknownCustomer(customer.id.clone())),
            }
        };
        let allowance = self.offline_allowance(&rules, &customer)?;
        if spend > allowance.max
            && let Some(limit) = allowance.limit
        {
            return Err(limit.into());
        }
        let state = CustomerState {
            card: customer.card_status.clone(),
            balance: customer.balance.min(allowance.max),
            purchases_sum: Money::ZERO,
            purchases_count: 0,
            can_spend: customer.phone_verified && !allowance.max.is_zero(),
        };
        let calculation = calculate(&rules, &state, receipt, spend)?;
        Ok(Priced {
            receipt: receipt.clone(),
            spend,
            customer,
            calculation,
            rules_version: version,
            offline: true,
            allowance: Some(allowance),
        })
    }

    // --- Operations -----------------------------------------------------------------------

    /// Confirms a calculated sale: queues it with the sale record a later return needs, in
    /// one transaction, and returns once it is on disk. `verification` is the SMS proof a
    /// spend above `code_to_spend_over` needs.
    pub fn sell(
        &self,
        cashier: &Cashier,
        priced: &Priced,
        verification: Option<Secret>,
    ) -> Result<Operation, TerminalError> {
        self.sell_as(uuid::Uuid::now_v7(), cashier, priced, verification)
    }

    /// [`Terminal::sell`] under the operation id the register was given when the receipt
    /// was applied.
    pub fn sell_as(
        &self,
        operation_id: uuid::Uuid,
        cashier: &Cashier,
        priced: &Priced,
        verification: Option<Secret>,
    ) -> Result<Operation, TerminalError> {
        let sale = Sale::from_calculation(&priced.receipt, &priced.calculation);
        let overridden = priced.offline && self.overridden(&priced.customer.id);
        let max_unsynced = if priced.offline && !priced.spend.is_zero() && !overridden {
            let (_, rules) = self.rules()?;
            Some(
                self.config
                    .offline
                    .tighten(&rules.offline)
                    .max_unsynced_spend_per_terminal,
            )
        } else {
            None
        };
        let customer_id = priced.customer.id.clone();
        let op = self.store().enqueue_as(
            operation_id,
            OperationBody::Sale {
                customer_id: customer_id.clone(),
                receipt: priced.receipt.clone(),
                spend: priced.spend,
                verification,
            },
            &cashier.name,
            Some(cashier.id),
            priced.offline,
            self.now(),
            |tx, op| {
                // Checked again inside the transaction: two sales priced side by side
                // cannot both take the last of the till's offline budget.
                if let Some(max) = max_unsynced {
                    let unsynced = Bonus::from_kopecks(TerminalStore::unsynced_offline_spend(tx)?);
                    if unsynced > max {
                        let left = (max - (unsynced - priced.spend)).max(Bonus::ZERO);
                        return Err(TerminalError::Offline(OfflineLimit::TerminalBudget {
                            left,
                        }));
                    }
                }
                Ok(TerminalStore::record_sale(tx, &customer_id, op, &sale)?)
            },
        )?;
        if overridden {
            self.overrides
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&customer_id);
        }
        self.nudge();
        Ok(op)
    }

    /// What a return receipt would refund and claw back, from the sale kept here.
    pub fn preview_return(&self, receipt: &Receipt) -> Result<ReturnResult, TerminalError> {
        let store = self.store();
        Self::compute_return_in(&store, receipt).map(|(r, _)| r)
    }

    fn compute_return_in(
        store: &TerminalStore,
        receipt: &Receipt,
    ) -> Result<(ReturnResult, crate::domain::returns::Returned), TerminalError> {
        receipt
            .validate()
            .map_err(|e| TerminalError::Calc(CalcError::Receipt(e)))?;
        if receipt.kind != ReceiptKind::Return {
            return Err(ReturnError::NotAReturn.into());
        }
        let original = receipt.original_receipt.clone().unwrap_or_default();
        let (_, sale, returned) = store
            .sale(&original)?
            .ok_or_else(|| TerminalError::SaleNotKept(original.clone()))?;
        let lines = sale.lines_of(receipt)?;
        let result = compute_return(&sale, &returned, &lines)?;
        let mut after = returned;
        record_return(&mut after, &result);
        Ok((result, after))
    }

    /// Confirms a return of a sale made here: queues it and records what was returned, in
    /// one transaction, so a second return can never take back more than was sold.
    pub fn make_return(
        &self,
        cashier: &Cashier,
        receipt: &Receipt,
    ) -> Result<(ReturnResult, Operation), TerminalError> {
        self.make_return_as(uuid::Uuid::now_v7(), cashier, receipt)
    }

    /// [`Terminal::make_return`] under the operation id the register was given when the
    /// return was applied.
    pub fn make_return_as(
        &self,
        operation_id: uuid::Uuid,
        cashier: &Cashier,
        receipt: &Receipt,
    ) -> Result<(ReturnResult, Operation), TerminalError> {
        let mut store = self.store();
        let (result, after) = Self::compute_return_in(&store, receipt)?;
        let original = result.original_receipt.clone();
        let op = store.enqueue_as(
            operation_id,
            OperationBody::Return {
                receipt: receipt.clone(),
            },
            &cashier.name,
            Some(cashier.id),
            self.status.borrow().online != Some(true),
            self.now(),
            |tx, _| Ok::<_, TerminalError>(TerminalStore::record_returned(tx, &original, &after)?),
        )?;
        drop(store);
        self.nudge();
        Ok((result, op))
    }

    /// Sends an SMS code to a phone (registration, or a spend above the code threshold).
    pub async fn send_code(
        &self,
        phone: &Phone,
        purpose: SmsPurpose,
    ) -> Result<SmsSendResponse, TerminalError> {
        let req = SmsSendRequest {
            phone: phone.clone(),
            purpose,
        };
        self.online_only(self.api.sms_send(&req).await, "sending an SMS code")
    }

    /// Checks the code the customer read out; the proof goes into the registration or the
    /// sale.
    pub async fn verify_code(
        &self,
        phone: &Phone,
        purpose: SmsPurpose,
        code: &str,
    ) -> Result<Secret, TerminalError> {
        let req = SmsVerifyRequest {
            phone: phone.clone(),
            purpose,
            code: Secret(code.trim().to_string()),
        };
        self.online_only(self.api.sms_verify(&req).await, "checking an SMS code")
            .map(|r| r.verification)
    }

    fn online_only<T>(
        &self,
        answer: Result<T, ClientError>,
        what: &'static str,
    ) -> Result<T, TerminalError> {
        match answer {
            Ok(t) => {
                self.saw_server(true, None);
                Ok(t)
            }
            Err(e) if e.is_offline() => {
                self.saw_server(false, Some(&e));
                Err(TerminalError::NeedsServer(what))
            }
            Err(e) => {
                self.saw_server(true, None);
                Err(e.into())
            }
        }
    }

    /// Registers a customer: queued like every operation, and put into the cache at once
    /// so the same receipt can go on. Without a verification only «Без кода», when the
    /// rules allow it (the only registration a till makes offline).
    pub fn register(
        &self,
        cashier: &Cashier,
        new: NewCustomer,
    ) -> Result<(CustomerView, Operation), TerminalError> {
        if !new.consent_processing {
            return Err(TerminalError::ConsentRequired);
        }
        let (_, rules) = self.rules()?;
        if new.verification.is_none() && !rules.verification.allow_without_code {
            return Err(TerminalError::CodeRequired);
        }
        let phone_hash = self.hash_of(&Lookup::Phone(new.phone.clone()));
        if self.store().customer_by_hash(&phone_hash)?.is_some() {
            return Err(TerminalError::AlreadyRegistered);
        }
        let (card_hash, card_masked) = match &new.card {
            Some(CardIssue::Plastic { number }) => {
                let card = CardNumber::parse(number.expose(), &self.card_formats)
                    .map_err(|e| TerminalError::Client(ClientError::Unreadable(e.to_string())))?;
                let masked = card.masked();
                (Some(self.hash_of(&Lookup::Card(card))), Some(masked))
            }
            // A virtual number is made by the server; the card shows it after the sync.
            _ => (None, None),
        };
        let status = rules.registration_card().unwrap_or(&rules.cards[0]).clone();
        let cached = CachedCustomer {
            id: uuid::Uuid::now_v7().to_string(),
            phone_masked: new.phone.masked(),
            name: short_name(
                new.questionnaire.first_name.as_deref(),
                new.questionnaire.last_name.as_deref(),
            ),
            card_status: status.name.clone(),
            phone_verified: new.verification.is_some(),
            balance: 0,
            pending: 0,
        };
        let online = self.status.borrow().online == Some(true);
        let now = self.now();
        let op = self.store().enqueue(
            OperationBody::Registration {
                customer_id: cached.id.clone(),
                phone: new.phone,
                verification: new.verification,
                questionnaire: new.questionnaire,
                consent_processing: true,
                consent_advertising: new.consent_advertising,
                card: new.card,
            },
            &cashier.name,
            Some(cashier.id),
            !online,
            now,
            |tx, _| {
                TerminalStore::cache_registered(tx, &cached, &phone_hash, card_hash.as_deref(), now)
            },
        )?;
        self.nudge();
        let view = CustomerView {
            id: cached.id,
            name: cached.name,
            phone_masked: cached.phone_masked,
            card_masked,
            card_status: cached.card_status,
            phone_verified: cached.phone_verified,
            balance: Bonus::ZERO,
            pending: Bonus::ZERO,
            discount_percent: status.discount_percent.to_string(),
        };
        Ok((view, op))
    }

    /// A customer registered «Без кода» proves their phone with an SMS code: queued, and
    /// the cache says verified at once, so the same receipt can spend.
    pub fn verify_phone(
        &self,
        cashier: &Cashier,
        customer_id: &str,
        phone: &Phone,
        verification: Secret,
    ) -> Result<Operation, TerminalError> {
        let online = self.status.borrow().online == Some(true);
        let op = self.store().enqueue(
            OperationBody::VerifyPhone {
                customer_id: customer_id.to_string(),
                phone: phone.clone(),
                verification,
            },
            &cashier.name,
            Some(cashier.id),
            !online,
            self.now(),
            |tx, _| TerminalStore::cache_verified(tx, customer_id),
        )?;
        self.nudge();
        Ok(op)
    }

    /// The customer's separate consent to advertising SMS, given or withdrawn.
    pub fn set_advertising_consent(
        &self,
        cashier: &Cashier,
        customer_id: &str,
        advertising: bool,
    ) -> Result<Operation, TerminalError> {
        self.queue(
            cashier,
            OperationBody::Consent {
                customer_id: customer_id.to_string(),
                advertising,
            },
        )
    }

    /// A manager's change of a balance by hand, with a reason (audited on the server).
    pub fn manual_change(
        &self,
        manager: &Cashier,
        customer_id: &str,
        amount: Bonus,
        reason: &str,
        lifetime_days: Option<u32>,
    ) -> Result<Operation, TerminalError> {
        if !manager.is_manager() {
            return Err(TerminalError::NotPermitted("change a balance by hand"));
        }
        self.queue(
            manager,
            OperationBody::ManualChange {
                customer_id: customer_id.to_string(),
                amount,
                reason: reason.trim().to_string(),
                lifetime_days,
            },
        )
    }

    fn queue(&self, cashier: &Cashier, body: OperationBody) -> Result<Operation, TerminalError> {
        let offline = self.status.borrow().online != Some(true);
        let op = self.store().enqueue(
            body,
            &cashier.name,
            Some(cashier.id),
            offline,
            self.now(),
            |_, _| Ok(()),
        )?;
        self.nudge();
        Ok(op)
    }

    /// The manager's conflicts list.
    pub fn conflicts(&self) -> Result<Vec<Conflict>, TerminalError> {
        Ok(self.store().conflicts()?)
    }

    /// A manager marks a conflict handled (after fixing the balance by hand, say).
    pub fn resolve_conflict(
        &self,
        manager: &Cashier,
        operation_id: &str,
    ) -> Result<bool, TerminalError> {
        if !manager.is_manager() {
            return Err(TerminalError::NotPermitted("resolve a conflict"));
        }
        let done = self
            .store()
            .resolve_conflict(operation_id, &manager.name, self.now())?;
        publish_queue(&self.store(), &self.status);
        Ok(done)
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        self.stop_sync();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offline_login_lock_grows() {
        assert_eq!(offline_lock_seconds(4), 0);
        assert_eq!(offline_lock_seconds(5), 30);
        assert_eq!(offline_lock_seconds(6), 60);
        assert_eq!(offline_lock_seconds(8), 240);
        assert_eq!(offline_lock_seconds(100), 30 * 1024);
    }

    #[test]
    fn hex_keys_decode() {
        assert_eq!(crate::crypto::unhex("00ff10"), Some(vec![0, 255, 16]));
        assert_eq!(crate::crypto::unhex("0"), None);
        assert_eq!(crate::crypto::unhex("zz"), None);
    }
}
