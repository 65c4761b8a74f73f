//! The server's SQLite database: opening it with durable settings and migrating it.
//!
//! Migrations live in `migrations/server/NNNN_name.sql`, are compiled in, and run through
//! `PRAGMA user_version`, all pending steps in one transaction. A database newer than this
//! program is refused rather than guessed at. Files are appended, never edited.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

/// The migrations, in order; the schema version is the number of steps applied.
const MIGRATIONS: &[(&str, &str)] = &[(
    "0001_init",
    include_str!("../../migrations/server/0001_init.sql"),
)];

/// The schema version this program writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(
        "the database has schema version {found}, newer than this program's {SCHEMA_VERSION}; run a newer bonuskassa-server"
    )]
    TooNew { found: i64 },
    #[error("the database is not durable: {0}")]
    NotDurable(String),
}

/// Opens (creating if needed) the database at `path`, with WAL and synchronous=FULL, and
/// migrates it to the current schema.
pub fn open(path: &Path) -> Result<Connection, DbError> {
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    configure(&conn)?;
    // Every transaction here writes. Taking the write lock at BEGIN makes a second process
    // (an admin command beside the running server) wait its turn through the busy timeout,
    // instead of failing with SQLITE_BUSY when a read would have to upgrade to a write.
    conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
    migrate(&conn)?;
    Ok(conn)
}

/// An in-memory database for tests, migrated.
pub fn open_in_memory() -> Result<Connection, DbError> {
    let conn = Connection::open_in_memory()?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    migrate(&conn)?;
    Ok(conn)
}

fn configure(conn: &Connection) -> Result<(), DbError> {
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(DbError::NotDurable(format!(
            "journal_mode is {mode}, not wal"
        )));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    let sync: i64 = conn.pragma_query_value(None, "synchronous", |r| r.get(0))?;
    if sync != 2 {
        return Err(DbError::NotDurable(format!(
            "synchronous is {sync}, not FULL"
        )));
    }
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(())
}

fn migrate(conn: &Connection) -> Result<(), DbError> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(DbError::TooNew { found });
    }
    if found == SCHEMA_VERSION {
        return Ok(());
    }
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = (|| {
        for (_, sql) in &MIGRATIONS[found as usize..] {
            conn.execute_batch(sql)?;
        }
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        Ok::<(), rusqlite::Error>(())
    })();
    match result {
        Ok(()) => conn.execute_batch("COMMIT")?,
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e.into());
        }
    }
    Ok(())
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
