//! What every bonuskassa SQLite database shares: durable settings checked at open, and
//! migrations through `PRAGMA user_version`.
//!
//! Migrations are compiled-in SQL files (`migrations/<db>/NNNN_name.sql`), applied in one
//! transaction, all pending steps or none. A database newer than the program is refused
//! rather than guessed at. Files are appended, never edited once landed.

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::Connection;

/// A time as stored in every bonuskassa database: RFC 3339 UTC with exactly six fractional
/// digits and `Z`. The fixed width is what makes text order equal time order in SQL
/// comparisons and `ORDER BY`.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Reads a time written by [`ts`] (any RFC 3339 time is accepted).
pub fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Reads a stored time from column `idx`, turning a malformed one into a row error rather
/// than a made-up time.
pub fn parse_ts_column(s: &str, idx: usize) -> rusqlite::Result<DateTime<Utc>> {
    parse_ts(s).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            rusqlite::types::Type::Text,
            format!("not an RFC 3339 time: {s:?}").into(),
        )
    })
}

#[derive(Debug, thiserror::Error)]
pub enum SqliteError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(
        "the database has schema version {found}, newer than this program's {known}; run a newer bonuskassa"
    )]
    TooNew { found: i64, known: i64 },
    #[error("the database is not durable: {0}")]
    NotDurable(String),
}

/// WAL with synchronous=FULL, foreign keys on, a bounded WAL file, a busy timeout; each setting read back,
/// because a pragma SQLite does not take fails silently.
pub fn configure_durable(conn: &Connection) -> Result<(), SqliteError> {
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(SqliteError::NotDurable(format!(
            "journal_mode is {mode}, not wal"
        )));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    let sync: i64 = conn.pragma_query_value(None, "synchronous", |r| r.get(0))?;
    if sync != 2 {
        return Err(SqliteError::NotDurable(format!(
            "synchronous is {sync}, not FULL"
        )));
    }
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // A big write (a page of the customer feed) must not leave a WAL of tens of MB behind
    // on a till's small disk: truncate it back after each checkpoint.
    conn.pragma_update(None, "journal_size_limit", 16 * 1024 * 1024)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(())
}

/// Applies the migrations the database has not seen yet, in one transaction.
pub fn migrate(conn: &Connection, migrations: &[(&str, &str)]) -> Result<(), SqliteError> {
    let known = migrations.len() as i64;
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > known {
        return Err(SqliteError::TooNew { found, known });
    }
    if found == known {
        return Ok(());
    }
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = (|| {
        for (_, sql) in &migrations[found as usize..] {
            conn.execute_batch(sql)?;
        }
        conn.pragma_update(None, "user_version", known)?;
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
