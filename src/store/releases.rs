//! Holds at the server the till must release and has not yet (the server did not answer,
//! or a manager dropped the receipt): kept on disk so a restart of the till forgets none,
//! and released by the sync worker when the server answers.

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::{StoreError, TerminalStore};
use crate::sqlite::ts;

impl TerminalStore {
    /// Remembers to release the hold `hold_id`; once, however often it is asked.
    pub fn release_later(&self, hold_id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        Self::release_later_in(&self.conn, hold_id, at)
    }

    /// The same, in a transaction (the one that settles the hold's receipt).
    pub(crate) fn release_later_in(
        conn: &rusqlite::Connection,
        hold_id: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        conn.prepare_cached(
            "INSERT INTO hold_releases (hold_id, since) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        )?
        .execute(params![hold_id, ts(at)])?;
        Ok(())
    }

    /// Up to `limit` holds waiting to be released, oldest first.
    pub fn releases(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT hold_id FROM hold_releases ORDER BY since, hold_id LIMIT ?1")?;
        let ids = stmt
            .query_map(params![i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                r.get::<_, String>(0)
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ids)
    }

    /// The server released the hold (or has none by that id): forget it.
    pub fn released(&self, hold_id: &str) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("DELETE FROM hold_releases WHERE hold_id = ?1")?
            .execute(params![hold_id])?;
        Ok(())
    }
}
