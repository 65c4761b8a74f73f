//! The store interface in SQLite's SQL for card statuses: the customers the `keep` review
//! looks at, and the trace of every status change.

use rusqlite::{OptionalExtension, Row, params};

use super::{Conn, SqliteTx, all, time_col};
use crate::server::store::*;
use crate::sqlite::ts;

fn change(r: &Row<'_>) -> rusqlite::Result<StatusChangeRow> {
    let cause: String = r.get(2)?;
    Ok(StatusChangeRow {
        from: r.get(0)?,
        to: r.get(1)?,
        cause: StatusCause::parse(&cause).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                2,
                rusqlite::types::Type::Text,
                format!("unknown status change cause {cause:?}").into(),
            )
        })?,
        actor: r.get(3)?,
        reason: r.get(4)?,
        at: time_col(r, 5)?,
    })
}

impl<T: Conn> StatusRead for T {
    fn customers_with_status(
        &mut self,
        statuses: &[&str],
        after: &str,
        limit: i64,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let statuses =
            serde_json::to_string(statuses).map_err(|e| StoreError::Other(e.to_string()))?;
        let mut stmt = self.conn().prepare_cached(
            "SELECT id, card_status FROM customers
             WHERE card_status IN (SELECT value FROM json_each(?1)) AND id > ?2
               AND merged_into IS NULL AND erased_at IS NULL
             ORDER BY id LIMIT ?3",
        )?;
        all(stmt.query_map(params![statuses, after, limit], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?)
    }

    fn status_changes(&mut self, customer_id: &str) -> Result<Vec<StatusChangeRow>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT from_status, to_status, cause, actor, reason, at FROM card_status_changes
             WHERE customer_id = ?1 ORDER BY id DESC",
        )?;
        all(stmt.query_map([customer_id], change)?)
    }
}

impl StatusTx for SqliteTx<'_> {
    fn change_card_status(&mut self, c: &NewStatusChange<'_>) -> Result<bool, StoreError> {
        // The trace first: its unique (customer, review day) key is the claim of a keep drop.
        let id: Option<i64> = self
            .conn
            .prepare_cached(
                "INSERT INTO card_status_changes
                     (customer_id, from_status, to_status, cause, actor, reason, at, review_day)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8
                 WHERE EXISTS (SELECT 1 FROM customers WHERE id = ?1 AND card_status = ?2)
                 ON CONFLICT DO NOTHING RETURNING id",
            )?
            .query_row(
                params![
                    c.customer_id,
                    c.from,
                    c.to,
                    c.cause.name(),
                    c.actor,
                    c.reason,
                    ts(c.at),
                    c.review_day.map(|d| d.to_string()),
                ],
                |r| r.get(0),
            )
            .optional()?;
        if id.is_none() {
            return Ok(false);
        }
        self.conn.execute(
            "UPDATE customers SET card_status = ?1 WHERE id = ?2",
            params![c.to, c.customer_id],
        )?;
        Ok(true)
    }
}
