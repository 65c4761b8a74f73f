//! The PostgreSQL engine of the server's store (`--database postgres://USER@HOST:PORT/DB`):
//! several stateless API processes on one database, also on Postgres-wire distributed SQL
//! (CockroachDB, YugabyteDB).
//!
//! The store interface is synchronous (the services run on blocking threads) and
//! tokio-postgres is not, so a [`PgStore`] owns a small tokio runtime of its own whose
//! workers drive the connections' I/O, and a pool of connections (deadpool). Every database
//! call blocks the calling thread on its future with `futures_executor::block_on`, with the
//! store's runtime entered, never with `Runtime::block_on`, which panics when the caller is
//! itself inside a runtime (the server's `spawn_blocking`, the tests' `#[tokio::test]`).
//!
//! The connection to the database is not encrypted (`NoTls`): run the database on the same
//! host or a private network until TLS is added.
//!
//! The password never comes from the URL (one that carries a password is refused, since a
//! URL ends up in process lists, shell histories and logs) but from `PGPASSWORD` or a
//! password file ([`password`]); it is never logged and never put into an error. Errors
//! carry a PostgreSQL error's SQLSTATE and primary message only, never its DETAIL (which
//! holds key values, such as a phone number) nor any parameter value.
//!
//! Migrations live in `migrations/server-postgres/NNNN_name.sql`, compiled in and applied
//! at [`PgStore::open`] through the `schema_migrations` table; a database newer than this
//! program is refused.

mod password;
mod queries;
#[cfg(test)]
mod tests;

use std::ffi::OsString;
use std::future::Future;
use std::time::Duration;

use deadpool_postgres::{Manager, Object, Pool, PoolError, Runtime};
use tokio_postgres::NoTls;
use tokio_postgres::config::Host;

use super::{Engine, ReadTx, Store, StoreError, Tx};

/// One migration: its version (the number in its file name), its name, and its SQL.
struct Migration {
    version: i32,
    name: &'static str,
    sql: &'static str,
}

/// The migrations, in order.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_init",
        sql: include_str!("../../../../migrations/server-postgres/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "0002_holds",
        sql: include_str!("../../../../migrations/server-postgres/0002_holds.sql"),
    },
    Migration {
        version: 3,
        name: "0003_sale_fiscal",
        sql: include_str!("../../../../migrations/server-postgres/0003_sale_fiscal.sql"),
    },
    Migration {
        version: 4,
        name: "0004_consent_state",
        sql: include_str!("../../../../migrations/server-postgres/0004_consent_state.sql"),
    },
    Migration {
        version: 5,
        name: "0005_backoffice",
        sql: include_str!("../../../../migrations/server-postgres/0005_backoffice.sql"),
    },
    Migration {
        version: 6,
        name: "0006_report_figures",
        sql: include_str!("../../../../migrations/server-postgres/0006_report_figures.sql"),
    },
    Migration {
        version: 7,
        name: "0007_customer_imports",
        sql: include_str!("../../../../migrations/server-postgres/0007_customer_imports.sql"),
    },
    Migration {
        version: 8,
        name: "0008_customer_admin",
        sql: include_str!("../../../../migrations/server-postgres/0008_customer_admin.sql"),
    },
    Migration {
        version: 9,
        name: "0009_status_changes",
        sql: include_str!("../../../../migrations/server-postgres/0009_status_changes.sql"),
    },
    Migration {
        version: 10,
        name: "0010_selfreg",
        sql: include_str!("../../../../migrations/server-postgres/0010_selfreg.sql"),
    },
];

/// The schema version this program writes: the newest migration's.
pub const SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].version as i64;

/// The line that divides a migration file into its DDL (above) and its data (below).
const DATA_MARKER: &str = "-- @data";

/// Connections in the pool: enough for the server's blocking threads that hit the
/// database at once, few enough that several API processes fit a default
/// `max_connections` of 100.
pub const POOL_SIZE: usize = 16;

/// Worker threads of the store's runtime. They only move bytes between sockets and the
/// waiting callers, so two are plenty.
const RUNTIME_THREADS: usize = 2;

/// How long a caller waits for a free connection, and for a new one to be made.
const WAIT_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How often opening retries a migration that collided with another process's.
const MIGRATION_ATTEMPTS: u32 = 8;

/// The PostgreSQL store.
pub struct PgStore {
    pool: Pool,
    /// Entered around every database future, so the connection tasks that creating a
    /// connection spawns, and the pool's timers, run on the store's runtime.
    handle: tokio::runtime::Handle,
    /// Owned for its worker threads; taken only in `Drop`.
    runtime: Option<tokio::runtime::Runtime>,
    /// `USER@HOST:PORT/DB`, for messages.
    target: String,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://USER@HOST:PORT/DB`, no password) and
    /// migrates it. The password comes from `PGPASSWORD`, else from the password file
    /// (`PGPASSFILE`, else `~/.pgpass`).
    pub fn open(url: &str) -> Result<PgStore, StoreError> {
        PgStore::open_with(url, &|name| std::env::var_os(name))
    }

    /// [`PgStore::open`] with the environment read through `env` (the tests' stand-in, so
    /// they need not change the process's environment).
    fn open_with(url: &str, env: &dyn Fn(&str) -> Option<OsString>) -> Result<PgStore, StoreError> {
        let mut config = parse_url(url)?;
        let target = describe_config(&config);
        if let Some(password) = password::find(&config, env) {
            config.password(password);
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("bonuskassa-server");
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(RUNTIME_THREADS)
            .thread_name("bonuskassa-pg")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Setup(format!("cannot start the database runtime: {e}")))?;
        let pool = Pool::builder(Manager::new(config, NoTls))
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(WAIT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| StoreError::Setup(format!("cannot set up the connection pool: {e}")))?;
        let store = PgStore {
            pool,
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
            target,
        };
        // The first connection tells whether the database is there at all; say which one
        // could not be reached (never with the password).
        let client = store.connection().map_err(|e| match e {
            StoreError::Unavailable(why) => StoreError::Unavailable(format!(
                "cannot connect to the database {}: {why}",
                store.target
            )),
            other => other,
        })?;
        drop(client);
        store.migrate()?;
        Ok(store)
    }

    /// Runs a database future to completion on the calling thread, with the store's
    /// runtime entered.
    fn run<F: Future>(&self, fut: F) -> F::Output {
        block_on(&self.handle, fut)
    }

    /// A pooled connection.
    fn connection(&self) -> Result<Object, StoreError> {
        self.run(self.pool.get()).map_err(pool_error)
    }

    /// Applies the migrations the database has not seen. Another process may be doing the
    /// same at the same moment (two servers started together on an empty database): its
    /// DDL then collides with ours, and we look again at what is applied and go on.
    fn migrate(&self) -> Result<(), StoreError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let client = self.connection()?;
            let result = self.run(migrate_once(&client));
            match result {
                Ok(()) => return Ok(()),
                Err(e @ StoreError::TooNew { .. }) => return Err(e),
                Err(e) if attempt < MIGRATION_ATTEMPTS => {
                    tracing::info!(attempt, error = %e, "migrating the database collided; trying again");
                    // Leave no transaction open on a connection that goes back to the pool;
                    // one that cannot even roll back is not given back.
                    if self.run(client.batch_execute("ROLLBACK")).is_err() {
                        drop(Object::take(client));
                    }
                    std::thread::sleep(Duration::from_millis(20 * u64::from(attempt)));
                }
                Err(e) => {
                    if self.run(client.batch_execute("ROLLBACK")).is_err() {
                        drop(Object::take(client));
                    }
                    return Err(e);
                }
            }
        }
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.pool.close();
        // Shutting down in the background never blocks, so a store may be dropped inside
        // another runtime (a test's) without a panic.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Store for PgStore {
    fn engine(&self) -> Engine {
        Engine::Postgres
    }

    fn begin(&self) -> Result<Box<dyn Tx + '_>, StoreError> {
        let client = self.connection()?;
        let tx = queries::PgTx::begin(&self.handle, client)?;
        Ok(Box::new(tx))
    }

    fn begin_read(&self) -> Result<Box<dyn ReadTx + '_>, StoreError> {
        let client = self.connection()?;
        Ok(Box::new(queries::PgRead::new(&self.handle, client)))
    }
}

/// Runs a future to completion on the calling thread with `handle`'s runtime entered:
/// the runtime's workers drive the sockets, the caller only waits. Unlike
/// `Runtime::block_on` this may be called from inside another runtime.
fn block_on<F: Future>(handle: &tokio::runtime::Handle, fut: F) -> F::Output {
    let _entered = handle.enter();
    futures_executor::block_on(fut)
}

/// One pass of the migrations: the version table, the newest applied version, and each
/// newer migration as a DDL transaction and a data transaction.
async fn migrate_once(client: &Object) -> Result<(), StoreError> {
    // The idempotent DDL below says "already exists, skipping" as a NOTICE on every start:
    // nothing an operator needs in the log.
    client
        .batch_execute("SET client_min_messages TO warning")
        .await
        .map_err(|e| statement_error(&e))?;
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    integer PRIMARY KEY,
                 name       text NOT NULL,
                 applied_at timestamptz NOT NULL
             )",
        )
        .await
        .map_err(|e| statement_error(&e))?;
    let found: i64 = client
        .query_one(
            "SELECT COALESCE(MAX(version), 0)::bigint FROM schema_migrations",
            &[],
        )
        .await
        .and_then(|row| row.try_get(0))
        .map_err(|e| statement_error(&e))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            found,
            known: SCHEMA_VERSION,
        });
    }
    for m in MIGRATIONS.iter().filter(|m| i64::from(m.version) > found) {
        let (ddl, data) = split_migration(m.sql);
        // CockroachDB runs no DDL and writes in one transaction: two transactions, each
        // idempotent, so a crash between them only leaves work for the next start.
        client
            .batch_execute(&format!("BEGIN;\n{ddl}\n;COMMIT"))
            .await
            .map_err(|e| statement_error(&e))?;
        client
            .batch_execute(&format!("BEGIN;\n{data}\n;"))
            .await
            .map_err(|e| statement_error(&e))?;
        client
            .execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, now())
                 ON CONFLICT (version) DO NOTHING",
                &[&m.version, &m.name],
            )
            .await
            .map_err(|e| statement_error(&e))?;
        client
            .batch_execute("COMMIT")
            .await
            .map_err(|e| statement_error(&e))?;
        tracing::info!(
            version = m.version,
            name = m.name,
            "applied a database migration"
        );
    }
    Ok(())
}

/// A migration's DDL (before the line `-- @data`) and its data statements (after it).
fn split_migration(sql: &str) -> (&str, &str) {
    let mut offset = 0;
    for line in sql.split_inclusive('\n') {
        if line.trim() == DATA_MARKER {
            return (&sql[..offset], &sql[offset + line.len()..]);
        }
        offset += line.len();
    }
    (sql, "")
}

/// Reads a `postgres://` URL (or a key=value connection string), refusing one that
/// carries a password or lacks the user or the host.
fn parse_url(url: &str) -> Result<tokio_postgres::Config, StoreError> {
    let config: tokio_postgres::Config = url.parse().map_err(|e: tokio_postgres::Error| {
        // The parser's messages name an option or a byte position, never a value.
        let why = match std::error::Error::source(&e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        };
        StoreError::Setup(format!(
            "the database URL does not read ({why}); expected postgres://USER@HOST:PORT/DB"
        ))
    })?;
    if config.get_password().is_some() {
        return Err(StoreError::Setup(format!(
            "the database URL {} carries a password; remove it from the URL and give it in \
             the PGPASSWORD environment variable or a password file (PGPASSFILE, else ~/.pgpass)",
            describe_url(&config)
        )));
    }
    if config.get_user().is_none() {
        return Err(StoreError::Setup(
            "the database URL names no user; expected postgres://USER@HOST:PORT/DB".into(),
        ));
    }
    if config.get_hosts().is_empty() {
        return Err(StoreError::Setup(
            "the database URL names no host; expected postgres://USER@HOST:PORT/DB".into(),
        ));
    }
    Ok(config)
}

/// The default PostgreSQL port.
const DEFAULT_PORT: u16 = 5432;

/// Each host of the config with its port (the one port given applies to every host).
fn hosts_and_ports(config: &tokio_postgres::Config) -> Vec<(String, u16)> {
    let ports = config.get_ports();
    config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let port = match ports {
                [] => DEFAULT_PORT,
                [one] => *one,
                many => many.get(i).copied().unwrap_or(DEFAULT_PORT),
            };
            let name = match host {
                Host::Tcp(name) => name.clone(),
                #[cfg(unix)]
                Host::Unix(path) => path.display().to_string(),
            };
            (name, port)
        })
        .collect()
}

/// `USER@HOST:PORT/DB` of a config, without the password.
fn describe_config(config: &tokio_postgres::Config) -> String {
    let hosts = hosts_and_ports(config)
        .iter()
        .map(|(h, p)| format!("{h}:{p}"))
        .collect::<Vec<_>>()
        .join(",");
    let user = config.get_user().unwrap_or("");
    let db = config.get_dbname().unwrap_or(user);
    format!("{user}@{hosts}/{db}")
}

/// A `postgres://` URL of a config, without the password or any other option.
fn describe_url(config: &tokio_postgres::Config) -> String {
    let hosts = hosts_and_ports(config)
        .iter()
        .map(|(h, p)| format!("{}:{p}", h.replace('%', "%25").replace('/', "%2F")))
        .collect::<Vec<_>>()
        .join(",");
    let user = config
        .get_user()
        .map(|u| {
            format!(
                "{}@",
                u.replace('%', "%25")
                    .replace('@', "%40")
                    .replace(':', "%3A")
            )
        })
        .unwrap_or_default();
    let db = config
        .get_dbname()
        .map(|d| {
            format!(
                "/{}",
                d.replace('%', "%25")
                    .replace('/', "%2F")
                    .replace('?', "%3F")
            )
        })
        .unwrap_or_default();
    format!("postgres://{user}{hosts}{db}")
}

/// The URL without any password, for logs and `Debug`: user, hosts, ports and database
/// only. A URL that does not read is not shown at all (it might hold a password where the
/// parser did not expect one).
pub fn redacted(url: &str) -> String {
    match url.parse::<tokio_postgres::Config>() {
        Ok(config) => describe_url(&config),
        Err(_) => "postgres://(a database URL that does not read)".into(),
    }
}

/// What a tokio-postgres error is, for the store: the class that decides what the caller
/// does, and a text free of key and parameter values.
fn classify(e: &tokio_postgres::Error) -> (ErrorClass, String) {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        // Never the DETAIL (it names the key values) nor the HINT. A data exception's
        // primary message may quote the value that did not fit: keep only its first part.
        let message = if code.starts_with("22") {
            db.message().split(':').next().unwrap_or("").trim()
        } else {
            db.message()
        };
        let class = match code {
            "40001" | "40P01" => ErrorClass::Conflict,
            "57P01" | "57P02" | "57P03" => ErrorClass::Unavailable,
            c if c.starts_with("08") || c.starts_with("28") || c.starts_with("53") => {
                ErrorClass::Unavailable
            }
            _ => ErrorClass::Other,
        };
        return (class, format!("{message} (SQLSTATE {code})"));
    }
    // Not from the server: the connection, a timeout, or a value that did not convert.
    // These texts name a column or parameter index at most, never a value.
    let cause = std::error::Error::source(e);
    let text = match cause {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    };
    let io = cause.is_some_and(|c| c.downcast_ref::<std::io::Error>().is_some());
    let connection = e.is_closed()
        || io
        || text.starts_with("error connecting")
        || text.starts_with("error communicating")
        || text.starts_with("timeout");
    let class = if connection {
        ErrorClass::Unavailable
    } else {
        ErrorClass::Other
    };
    (class, text)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrorClass {
    Conflict,
    Unavailable,
    Other,
}

/// A statement's error as a store error: serialization failures and deadlocks become
/// [`StoreError::Conflict`] (the whole transaction may be run again), a lost connection
/// [`StoreError::Unavailable`].
fn statement_error(e: &tokio_postgres::Error) -> StoreError {
    let (class, text) = classify(e);
    match class {
        ErrorClass::Conflict => StoreError::Conflict(text),
        ErrorClass::Unavailable => StoreError::Unavailable(text),
        ErrorClass::Other => StoreError::Other(text),
    }
}

/// A failure to get a connection from the pool: the database cannot be reached, whatever
/// the reason (refused, wrong password, no such database, every connection busy).
fn pool_error(e: PoolError) -> StoreError {
    match e {
        PoolError::Timeout(kind) => StoreError::Unavailable(format!(
            "no database connection in time ({kind:?}); the database is slow or every one of \
             the {POOL_SIZE} connections is busy"
        )),
        PoolError::Backend(e) => StoreError::Unavailable(classify(&e).1),
        PoolError::Closed => StoreError::Unavailable("the connection pool is closed".into()),
        PoolError::NoRuntimeSpecified => {
            StoreError::Other("the connection pool has no runtime".into())
        }
        PoolError::PostCreateHook(_) => {
            StoreError::Other("a new database connection could not be set up".into())
        }
    }
}

/// A throwaway database for the contract tests and the fleet simulator: created empty on
/// the server an admin URL names, and dropped (its connections closed) when the value is.
pub struct Scratch {
    admin: String,
    name: String,
    url: String,
}

impl Scratch {
    /// Creates `bk_<random>` through `admin_url` (a user who may create databases).
    pub fn create(admin_url: &str) -> Result<Scratch, StoreError> {
        let mut config = parse_url(admin_url)?;
        let name = format!("bk_{}", uuid::Uuid::new_v4().simple());
        admin_exec(admin_url, format!("CREATE DATABASE {name}"))?;
        config.dbname(&name);
        Ok(Scratch {
            admin: admin_url.to_string(),
            url: describe_url(&config),
            name,
        })
    }

    /// The URL of the new database (no password: the same environment supplies it).
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(e) = admin_exec(&self.admin, sql) {
            tracing::warn!(error = %e, database = %self.name, "a scratch database was not dropped");
        }
    }
}

/// Runs one statement outside any transaction (CREATE/DROP DATABASE refuse one) on a
/// connection of its own, on a thread of its own, so it works from anywhere.
fn admin_exec(url: &str, sql: String) -> Result<(), StoreError> {
    let mut config = parse_url(url)?;
    if let Some(password) = password::find(&config, &|name| std::env::var_os(name)) {
        config.password(password);
    }
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Setup(format!("cannot start a runtime: {e}")))?;
        rt.block_on(async move {
            let (client, connection) = config
                .connect(NoTls)
                .await
                .map_err(|e| statement_error(&e))?;
            let task = tokio::spawn(connection);
            let result = client
                .batch_execute(&sql)
                .await
                .map_err(|e| statement_error(&e));
            drop(client);
            let _ = task.await;
            result
        })
    })
    .join()
    .map_err(|_| StoreError::Other("the database admin thread panicked".into()))?
}
