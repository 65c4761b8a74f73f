//! The central loyalty server: the source of truth that terminals sync with.
//!
//! One process, one embedded SQLite database in its data dir, no other state. The HTTP API
//! (`/api/v1`, axum) is in `api`; what it does to the database is in `auth` (stores,
//! cashiers, terminals), `customers`, `sms`, `ledger` (bonus batches), `ops` (the
//! at-most-once operations batch) and `jobs` (expiry, birthdays). Every number comes from
//! the shared engine in `crate::domain`, so the server and an offline terminal agree to the
//! kopeck. `admin` holds the command-line jobs (demo data, enrollment codes).
//!
//! The server is a library first: `bonuskassa-server serve` and the terminal's demo both
//! call [`Server::open`] and [`Server::serve`] (or [`spawn`]).
//!
//! Architecture Invariant: the database is touched only on blocking threads
//! (`spawn_blocking`), never on the async executor.
pub mod admin;
pub mod api;
pub mod auth;
pub mod crypto;
pub mod customers;
pub mod db;
pub mod error;
pub mod jobs;
pub mod ledger;
pub mod openapi;
pub mod ops;
pub mod sms;
pub mod store;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension};

use crate::domain::rules::{Rules, RulesError};

pub use crate::clock::{Clock, ManualClock, SystemClock};

/// How a server runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub data_dir: PathBuf,
    /// A rules file to load (a changed text becomes a new rules version).
    pub rules_path: Option<PathBuf>,
    pub sms: sms::GatewayConfig,
    pub sms_policy: sms::SmsPolicy,
    /// Serve `/api/v1/demo/sms` (the log gateway's inbox). Off unless asked for.
    pub demo_endpoints: bool,
}

impl ServerConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> ServerConfig {
        ServerConfig {
            data_dir: data_dir.into(),
            rules_path: None,
            sms: sms::GatewayConfig::Log,
            sms_policy: sms::SmsPolicy::default(),
            demo_endpoints: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("data dir {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Db(#[from] db::DbError),
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

impl From<rusqlite::Error> for ServerError {
    fn from(e: rusqlite::Error) -> ServerError {
        ServerError::Db(db::DbError::Sqlite(e))
    }
}

/// The rules the server calculates with, and their version.
#[derive(Debug)]
pub struct LoadedRules {
    pub version: i64,
    pub text: String,
    pub rules: Rules,
}

/// Everything a request handler needs.
pub struct State {
    pub(crate) db: Mutex<Connection>,
    pub(crate) rules: RwLock<Arc<LoadedRules>>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) gateway: Arc<dyn sms::SmsGateway>,
    pub(crate) demo_inbox: Option<Arc<sms::LogGateway>>,
    pub(crate) config: ServerConfig,
}

impl State {
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
    pub fn rules(&self) -> Arc<LoadedRules> {
        self.rules.read().expect("rules lock").clone()
    }
    /// Runs `f` with the database; call from a blocking thread.
    pub fn with_db<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> T {
        let mut conn = self.db.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn)
    }
}

/// The path of the server's database in its data dir.
pub fn database_path(data_dir: &Path) -> PathBuf {
    data_dir.join("bonuskassa-server.sqlite3")
}

/// Opens the data dir's database (creating the dir and the database if needed).
pub fn open_database(data_dir: &Path) -> Result<Connection, ServerError> {
    std::fs::create_dir_all(data_dir).map_err(|source| ServerError::DataDir {
        path: data_dir.to_path_buf(),
        source,
    })?;
    Ok(db::open(&database_path(data_dir))?)
}

/// Stores a rules text as a new version unless it equals the newest; returns its version.
pub fn store_rules(conn: &Connection, text: &str, now: DateTime<Utc>) -> rusqlite::Result<i64> {
    let newest: Option<(i64, String)> = conn
        .query_row(
            "SELECT version, text FROM rules ORDER BY version DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    match newest {
        Some((v, t)) if t == text => Ok(v),
        other => {
            let v = other.map_or(1, |(v, _)| v + 1);
            conn.execute(
                "INSERT INTO rules (version, text, loaded_at) VALUES (?1, ?2, ?3)",
                rusqlite::params![v, text, ledger::ts(now)],
            )?;
            Ok(v)
        }
    }
}

fn newest_rules(conn: &Connection) -> Result<LoadedRules, ServerError> {
    let (version, text): (i64, String) = conn
        .query_row(
            "SELECT version, text FROM rules ORDER BY version DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .ok_or(ServerError::NoRules)?;
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
        let conn = open_database(&config.data_dir)?;
        if let Some(path) = &config.rules_path {
            let text = std::fs::read_to_string(path).map_err(|source| ServerError::RulesFile {
                path: path.clone(),
                source,
            })?;
            Rules::from_toml_str(&text).map_err(|source| ServerError::Rules {
                path: path.clone(),
                source,
            })?;
            store_rules(&conn, &text, clock.now())?;
        }
        let rules = newest_rules(&conn)?;
        tracing::info!(version = rules.version, "loyalty rules loaded");
        let (gateway, demo_inbox): (Arc<dyn sms::SmsGateway>, _) = match &config.sms {
            sms::GatewayConfig::Log => {
                let log = Arc::new(sms::LogGateway::new(
                    config.data_dir.join(sms::LOG_FILE),
                    sms::LOG_KEEP,
                ));
                (log.clone(), Some(log))
            }
            other => (Arc::from(other.build(&config.data_dir)?), None),
        };
        Ok(Server {
            state: Arc::new(State {
                db: Mutex::new(conn),
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
        let result = axum::serve(listener, self.router())
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
