//! The server's SQLite database: opening it with durable settings and migrating it.
//!
//! Migrations live in `migrations/server/NNNN_name.sql`, are compiled in, and run through
//! `PRAGMA user_version`, all pending steps in one transaction. A database newer than this
//! program is refused rather than guessed at. Files are appended, never edited.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

/// The migrations, in order; the schema version is the number of steps applied.
const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_init",
        include_str!("../../migrations/server/0001_init.sql"),
    ),
    (
        "0002_audit",
        include_str!("../../migrations/server/0002_audit.sql"),
    ),
];

/// The schema version this program writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

pub use crate::store::sqlite::SqliteError as DbError;
use crate::store::sqlite::{configure_durable, migrate};

/// Opens (creating if needed) the database at `path`, with WAL and synchronous=FULL, and
/// migrates it to the current schema.
pub fn open(path: &Path) -> Result<Connection, DbError> {
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    configure_durable(&conn)?;
    // Every transaction here writes. Taking the write lock at BEGIN makes a second process
    // (an admin command beside the running server) wait its turn through the busy timeout,
    // instead of failing with SQLITE_BUSY when a read would have to upgrade to a write.
    conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
    migrate(&conn, MIGRATIONS)?;
    Ok(conn)
}

/// An in-memory database for tests, migrated.
pub fn open_in_memory() -> Result<Connection, DbError> {
    let conn = Connection::open_in_memory()?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    migrate(&conn, MIGRATIONS)?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_database_migrates_to_the_current_version_durably() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open(&dir.path().join("s.db")).unwrap();
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        let sync: i64 = conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2);
        drop(conn);
        // Opening again changes nothing.
        open(&dir.path().join("s.db")).unwrap();
    }

    #[test]
    fn a_newer_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        drop(open(&path).unwrap());
        let c = Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        drop(c);
        assert!(matches!(open(&path), Err(DbError::TooNew { .. })));
    }
}
