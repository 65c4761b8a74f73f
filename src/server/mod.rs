//! The central loyalty server: the source of truth that terminals sync with.
//!
//! By default one process on one embedded SQLite database in its data dir; for a chain,
//! several stateless processes on one PostgreSQL database. All state is in the store
//! (`store`, the seam with its two engines); a process keeps only caches it can rebuild.
//! The HTTP API (`/api/v1`, axum) is in `api`, which only parses, calls one service and
//! maps its typed errors to answers; the services are engine-free code over the store:
//! `auth` (stores, cashiers, terminals), `customers`, `sms`, `ledger` (bonus batches),
//! `holds` (a till's spend reserved between apply and close), `ops` (the at-most-once
//! operations batch) and `jobs` (expiry, birthdays, pruning). Every number comes
//! from the shared engine in `crate::domain`, so the server and an offline terminal agree
//! to the kopeck. `admin` holds the command-line jobs (demo data, enrollment codes).
//!
//! The server is a library first: `bonuskassa-server serve` and the terminal's demo both
//! call [`Server::open`] and [`Server::serve`] (or [`spawn`]).
//!
//! Architecture Invariant: the database is touched only off the async executor (reads on
//! the read pool, writes on the blocking pool: `workers`), and only through `store`.
pub mod admin;
pub mod api;
pub mod auth;
pub mod backoffice;
pub mod crypto;
pub mod customers;
pub mod demo_history;
pub mod error;
pub mod holds;
pub mod import;
pub mod jobs;
pub mod ledger;
pub mod openapi;
pub mod ops;
pub mod reports;
pub mod sales;
pub mod selfreg;
pub mod sms;
pub mod statuses;
pub mod store;
pub(crate) mod web;
pub mod workers;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};

use crate::domain::rules::{Rules, RulesError};
use store::{Location, Store, StoreError, Tx};

pub use crate::clock::{Clock, ManualClock, SystemClock};
pub use store::sqlite::database_path;

/// How a server runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where the data is: a data dir (SQLite) or a PostgreSQL URL.
    pub location: Location,
    /// A rules file to load (a changed text becomes a new rules version).
    pub rules_path: Option<PathBuf>,
    pub sms: sms::GatewayConfig,
    pub sms_policy: sms::SmsPolicy,
    /// The customer's own page's limits and session lifetimes.
    pub selfreg: selfreg::SelfRegPolicy,
    /// Serve `/api/v1/demo/sms` (the log gateway's inbox). Off unless asked for.
    pub demo_endpoints: bool,
}

impl ServerConfig {
    /// A server on the embedded SQLite database in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> ServerConfig {
        ServerConfig::at(Location::Sqlite(data_dir.into()))
    }

    /// A server on the store at `location`.
    pub fn at(location: Location) -> ServerConfig {
        ServerConfig {
            location,
            rules_path: None,
            sms: sms::GatewayConfig::Log,
            sms_policy: sms::SmsPolicy::default(),
            selfreg: selfreg::SelfRegPolicy::default(),
            demo_endpoints: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("rules file {path}: {source}")]
    RulesFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("rules file {path}: {source}")]
    Rules { path: PathBuf, source: RulesError },
    #[error("stored rules version {version} no longer parses: {source}")]
    StoredRules { version: i64, source: RulesError },
    #[error(
        "no loyalty rules loaded yet: start with --rules RULES.toml, or fill the database with `bonuskassa-server demo-data`"
    )]
    NoRules,
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("SMS gateway: {0}")]
    Sms(#[from] sms::GatewayError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// How often a serving process looks for a rules version activated elsewhere.
pub const RULES_CHECK_S: i64 = 5;

/// The rules the server calculates with, and their version.
#[derive(Debug)]
pub struct LoadedRules {
    pub version: i64,
    pub text: String,
    pub rules: Rules,
}

/// Everything a request handler needs.
pub struct State {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) rules: RwLock<Arc<LoadedRules>>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) gateway: Arc<dyn sms::SmsGateway>,
    pub(crate) demo_inbox: Option<Arc<sms::LogGateway>>,
    pub(crate) config: ServerConfig,
    pub(crate) workers: workers::Workers,
    /// When this process last looked for a newer rules version (Unix seconds).
    pub(crate) rules_checked: std::sync::atomic::AtomicI64,
}

impl State {
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
    pub fn rules(&self) -> Arc<LoadedRules> {
        self.rules.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
    /// The store; call it from a blocking thread.
    pub fn store(&self) -> &dyn Store {
        &*self.store
    }
    /// A handle to the store, for work moved to another thread.
    pub fn store_arc(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// The rules, after looking for a newer active version in the database if nobody in
    /// this process did in the last [`RULES_CHECK_S`] seconds: a version activated through
    /// another node reaches this one's calculations within seconds, and a busy node reads
    /// the rules table once per period, not once per request. Call from a blocking thread.
    pub fn current_rules(&self) -> Arc<LoadedRules> {
        use std::sync::atomic::Ordering;
        let now = self.now().timestamp();
        let last = self.rules_checked.load(Ordering::Relaxed);
        if now - last >= RULES_CHECK_S
            && self
                .rules_checked
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.refresh_rules();
        }
        self.rules()
    }

    /// Picks up a newer rules version another process stored (call from a blocking
    /// thread); a version that does not parse is logged and skipped.
    pub fn refresh_rules(&self) {
        let current = self.rules().version;
        match store::read(self.store(), |r| r.newest_rules()) {
            Ok(Some((version, text))) if version != current => match Rules::from_toml_str(&text) {
                Ok(rules) => {
                    tracing::info!(version, "loyalty rules version picked up");
                    *self.rules.write().unwrap_or_else(|p| p.into_inner()) =
                        Arc::new(LoadedRules {
                            version,
                            text,
                            rules,
                        });
                }
                Err(e) => tracing::error!(version, error = %e, "stored rules do not parse"),
            },
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not check for newer rules"),
        }
    }
}

/// Stores a rules text as a new version and activates it, unless it equals the active
/// one; returns its version. (`serve --rules` and `demo-data`; the back office uploads
/// and activates separately.)
pub fn store_rules(tx: &mut dyn Tx, text: &str, now: DateTime<Utc>) -> Result<i64, StoreError> {
    match tx.newest_rules()? {
        Some((v, t)) if t == text => Ok(v),
        _ => {
            let v = tx
                .rules_versions()?
                .first()
                .map_or(1, |newest| newest.version + 1);
            tx.insert_rules(v, text, now)?;
            tx.activate_rules(v, now, "")?;
            Ok(v)
        }
    }
}

pub(crate) fn newest_rules(store: &dyn Store) -> Result<LoadedRules, ServerError> {
    let (version, text) = store::read(store, |r| r.newest_rules())?.ok_or(ServerError::NoRules)?;
    let rules = Rules::from_toml_str(&text)
        .map_err(|source| ServerError::StoredRules { version, source })?;
    Ok(LoadedRules {
        version,
        text,
        rules,
    })
}

/// A server ready to serve: database open, rules loaded.
#[derive(Clone)]
pub struct Server {
    state: Arc<State>,
}

impl Server {
    pub fn open(config: ServerConfig, clock: Arc<dyn Clock>) -> Result<Server, ServerError> {
        let store = store::open(&config.location)?;
        Server::with_store(store, config, clock)
    }

    /// A server on a store already open (its `config.location` is then only a label).
    pub fn with_store(
        store: Arc<dyn Store>,
        config: ServerConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Server, ServerError> {
        if let Some(path) = &config.rules_path {
            let text = std::fs::read_to_string(path).map_err(|source| ServerError::RulesFile {
                path: path.clone(),
                source,
            })?;
            Rules::from_toml_str(&text).map_err(|source| ServerError::Rules {
                path: path.clone(),
                source,
            })?;
            let now = clock.now();
            store::write(&*store, |tx| store_rules(tx, &text, now))?;
        }
        let rules = newest_rules(&*store)?;
        tracing::info!(version = rules.version, "loyalty rules loaded");
        let (gateway, demo_inbox): (Arc<dyn sms::SmsGateway>, _) = match &config.sms {
            sms::GatewayConfig::Log => {
                let log = Arc::new(sms::LogGateway::new(
                    config.location.data_dir().map(|d| d.join(sms::LOG_FILE)),
                    sms::LOG_KEEP,
                ));
                (log.clone(), Some(log))
            }
            other => (Arc::from(other.build(config.location.data_dir())?), None),
        };
        Ok(Server {
            state: Arc::new(State {
                workers: workers::Workers::new(store.engine())?,
                rules_checked: std::sync::atomic::AtomicI64::new(0),
                store,
                rules: RwLock::new(Arc::new(rules)),
                clock,
                gateway,
                demo_inbox,
                config,
            }),
        })
    }

    pub fn state(&self) -> &Arc<State> {
        &self.state
    }

    pub fn router(&self) -> axum::Router {
        api::router(self.state.clone())
    }

    /// Serves on `listener` until `shutdown` resolves; in-flight requests finish, and every
    /// committed transaction is already on disk (WAL, synchronous=FULL), so stopping loses
    /// nothing.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let jobs = jobs::start(self.state.clone());
        // Each request knows its peer's address: the customer's page limits codes by it.
        let app = self
            .router()
            .into_make_service_with_connect_info::<SocketAddr>();
        let result = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await;
        jobs.abort();
        result
    }
}

/// A server running on its own thread and runtime, for the demo and for tests.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub server: Server,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl RunningServer {
    /// The base URL, like `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving and waits for in-flight requests.
    pub fn stop(mut self) -> std::io::Result<()> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> std::io::Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("the server thread panicked"))),
            None => Ok(()),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.stop_inner();
    }
}

/// Opens a server and serves it on `addr` (e.g. `127.0.0.1:0`) on a thread of its own.
pub fn spawn(
    config: ServerConfig,
    clock: Arc<dyn Clock>,
    addr: &str,
) -> Result<RunningServer, ServerError> {
    let server = Server::open(config, clock)?;
    let std_listener = std::net::TcpListener::bind(addr).map_err(|source| ServerError::Listen {
        addr: addr.to_string(),
        source,
    })?;
    std_listener.set_nonblocking(true)?;
    let local = std_listener.local_addr()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let s = server.clone();
    let thread = std::thread::Builder::new()
        .name("bonuskassa-server".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener)?;
                s.serve(listener, async {
                    let _ = rx.await;
                })
                .await
            })
        })?;
    Ok(RunningServer {
        addr: local,
        server,
        stop: Some(tx),
        thread: Some(thread),
    })
}
