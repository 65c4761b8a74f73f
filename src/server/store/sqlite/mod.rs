//! The embedded engine: one SQLite file in the server's data dir, the default.
//!
//! One writer connection takes every read-write transaction (`BEGIN IMMEDIATE`, so a second
//! process — an admin command beside the running server — waits its turn through the busy
//! timeout instead of failing); lookups and calculations run on a small pool of WAL reader
//! connections beside it, so they never queue behind a write. WAL with `synchronous=FULL`:
//! a committed transaction is on disk.
//!
//! Migrations live in `migrations/server/NNNN_name.sql`, compiled in, applied through
//! `PRAGMA user_version` in one transaction; a database newer than this program is refused.
//! The data dir is private to the server's user (0700) and every file in it 0600: the
//! database holds phone numbers and names.

pub mod backup;
mod queries;

use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};

use rusqlite::{Connection, OpenFlags};

use super::{Engine, ReadTx, Store, StoreError, Tx};
use crate::sqlite::{SqliteError, configure_durable, migrate};

/// The migrations, in order; the schema version is the number of steps applied.
const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_init",
        include_str!("../../../../migrations/server/0001_init.sql"),
    ),
    (
        "0002_audit",
        include_str!("../../../../migrations/server/0002_audit.sql"),
    ),
    (
        "0003_running_balance",
        include_str!("../../../../migrations/server/0003_running_balance.sql"),
    ),
    (
        "0004_holds",
        include_str!("../../../../migrations/server/0004_holds.sql"),
    ),
    (
        "0005_sale_fiscal",
        include_str!("../../../../migrations/server/0005_sale_fiscal.sql"),
    ),
    (
        "0006_consent_state",
        include_str!("../../../../migrations/server/0006_consent_state.sql"),
    ),
    (
        "0007_backoffice",
        include_str!("../../../../migrations/server/0007_backoffice.sql"),
    ),
    (
        "0008_report_figures",
        include_str!("../../../../migrations/server/0008_report_figures.sql"),
    ),
    (
        "0009_customer_imports",
        include_str!("../../../../migrations/server/0009_customer_imports.sql"),
    ),
    (
        "0010_customer_admin",
        include_str!("../../../../migrations/server/0010_customer_admin.sql"),
    ),
    (
        "0011_status_changes",
        include_str!("../../../../migrations/server/0011_status_changes.sql"),
    ),
    (
        "0012_selfreg",
        include_str!("../../../../migrations/server/0012_selfreg.sql"),
    ),
];

/// The schema version this program writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The database file in a data dir.
pub const DATABASE_FILE: &str = "bonuskassa-server.sqlite3";

/// WAL reader connections beside the writer.
pub const READERS: usize = 4;

/// The path of the server's database in its data dir.
pub fn database_path(data_dir: &Path) -> PathBuf {
    data_dir.join(DATABASE_FILE)
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        use rusqlite::ErrorCode;
        if let rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::IntegralValueOutOfRange(..) = e
        {
            return StoreError::Corrupt(e.to_string());
        }
        match e.sqlite_error_code() {
            // The busy timeout ran out: another process held the write lock too long.
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                StoreError::Unavailable(format!("the database is locked: {e}"))
            }
            Some(ErrorCode::CannotOpen | ErrorCode::ReadOnly | ErrorCode::DiskFull) => {
                StoreError::Unavailable(e.to_string())
            }
            _ => StoreError::Other(e.to_string()),
        }
    }
}

impl From<SqliteError> for StoreError {
    fn from(e: SqliteError) -> StoreError {
        match e {
            SqliteError::TooNew { found, known } => StoreError::TooNew { found, known },
            SqliteError::Sqlite(e) => e.into(),
            SqliteError::NotDurable(m) => StoreError::Setup(m),
        }
    }
}

/// The embedded store.
pub struct SqliteStore {
    writer: Mutex<Connection>,
    readers: Option<ReaderPool>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database in `data_dir`, migrated, with the dir made
    /// private (0700) and the database file 0600.
    pub fn open(data_dir: &Path) -> Result<SqliteStore, StoreError> {
        prepare_private_dir(data_dir)?;
        let path = database_path(data_dir);
        create_private_file(&path)?;
        let writer = open_connection(&path, false)?;
        // The WAL and shared-memory files take the database file's mode from SQLite; files
        // left by an older version are made private here.
        make_files_private(data_dir)?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            readers.push(open_connection(&path, true)?);
        }
        Ok(SqliteStore {
            writer: Mutex::new(writer),
            readers: Some(ReaderPool::new(readers)),
        })
    }

    /// An in-memory database for tests, migrated; reads share the writer's connection.
    pub fn open_in_memory() -> Result<SqliteStore, StoreError> {
        let conn = Connection::open_in_memory()?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrate(&conn, MIGRATIONS)?;
        Ok(SqliteStore {
            writer: Mutex::new(conn),
            readers: None,
        })
    }

    fn writer(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves an open transaction at worst; the next
        // BEGIN would fail, so roll back whatever is left.
        self.writer.lock().unwrap_or_else(|poisoned| {
            let conn = poisoned.into_inner();
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            conn
        })
    }
}

impl Store for SqliteStore {
    fn engine(&self) -> Engine {
        Engine::Sqlite
    }

    fn begin(&self) -> Result<Box<dyn Tx + '_>, StoreError> {
        let conn = self.writer();
        conn.execute_batch("BEGIN IMMEDIATE")?;
        Ok(Box::new(queries::SqliteTx::new(conn)))
    }

    fn begin_read(&self) -> Result<Box<dyn ReadTx + '_>, StoreError> {
        Ok(match &self.readers {
            Some(pool) => Box::new(queries::SqliteRead::Pooled(pool.take(), pool)),
            None => Box::new(queries::SqliteRead::Shared(self.writer())),
        })
    }
}

/// Reader connections; a caller waits when all are taken.
pub(crate) struct ReaderPool {
    idle: Mutex<Idle>,
    returned: Condvar,
}

/// The idle readers, and how many callers wait for one.
struct Idle {
    connections: Vec<Connection>,
    waiting: usize,
}

impl ReaderPool {
    fn new(connections: Vec<Connection>) -> ReaderPool {
        ReaderPool {
            idle: Mutex::new(Idle {
                connections,
                waiting: 0,
            }),
            returned: Condvar::new(),
        }
    }

    fn take(&self) -> Option<Connection> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(c) = idle.connections.pop() {
                return Some(c);
            }
            idle.waiting += 1;
            idle = self.returned.wait(idle).unwrap_or_else(|p| p.into_inner());
            idle.waiting -= 1;
        }
    }

    fn give_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.connections.push(conn);
        // A wake is a system call: only when someone waits.
        if idle.waiting > 0 {
            self.returned.notify_one();
        }
    }
}

fn open_connection(path: &Path, reader: bool) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    configure_durable(&conn)?;
    if reader {
        conn.pragma_update(None, "query_only", "ON")?;
    } else {
        migrate(&conn, MIGRATIONS)?;
    }
    Ok(conn)
}

fn setup_error(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Setup(format!("{what} {}: {e}", path.display()))
}

/// Creates the data dir (0700) or makes an existing one private.
fn prepare_private_dir(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| setup_error("cannot create the data dir", dir, e))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| setup_error("cannot make the data dir private", dir, e))?;
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir).map_err(|e| setup_error("cannot create the data dir", dir, e))?;
    Ok(())
}

/// Creates `path` with mode 0600 if it does not exist, so SQLite never creates it with the
/// process umask's mode.
pub(crate) fn create_private_file(path: &Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .map(drop)
        .map_err(|e| setup_error("cannot create", path, e))
}

/// Sets every file directly in the data dir to 0600 (files an older version left with the
/// umask's mode).
fn make_files_private(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let entries = std::fs::read_dir(dir).map_err(|e| setup_error("cannot read", dir, e))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_file() && meta.permissions().mode() & 0o077 != 0 {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| setup_error("cannot make private", &path, e))?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_database_migrates_to_the_current_version_durably_and_privately() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let store = SqliteStore::open(&data).unwrap();
        let conn = store.writer();
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        let sync: i64 = conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2);
        drop(conn);
        drop(store);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&data), 0o700);
            assert_eq!(mode(&database_path(&data)), 0o600);
        }
        // Opening again changes nothing.
        SqliteStore::open(&data).unwrap();
    }

    #[test]
    fn a_newer_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(SqliteStore::open(dir.path()).unwrap());
        let c = Connection::open(database_path(dir.path())).unwrap();
        c.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        drop(c);
        assert!(matches!(
            SqliteStore::open(dir.path()),
            Err(StoreError::TooNew { .. })
        ));
    }
}
