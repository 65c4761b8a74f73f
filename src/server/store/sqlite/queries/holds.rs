//! The store interface in SQLite's SQL for holds: bonuses tills reserved for sales they are
//! about to close.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};

use super::{Conn, SqliteTx, time_col};
use crate::server::store::*;
use crate::sqlite::ts;

fn hold(r: &Row<'_>) -> rusqlite::Result<HoldRow> {
    let state: String = r.get(6)?;
    Ok(HoldRow {
        id: r.get(0)?,
        customer_id: r.get(1)?,
        terminal_id: r.get(2)?,
        amount: r.get(3)?,
        created_at: time_col(r, 4)?,
        expires_at: time_col(r, 5)?,
        state: HoldState::parse(&state).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                6,
                rusqlite::types::Type::Text,
                format!("unknown hold state {state:?}").into(),
            )
        })?,
    })
}

impl<T: Conn> HoldRead for T {
    fn hold(&mut self, id: &str) -> Result<Option<HoldRow>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT id, customer_id, terminal_id, amount, created_at, expires_at, state
                 FROM holds WHERE id = ?1",
            )?
            .query_row([id], hold)
            .optional()?)
    }

    fn held(
        &mut self,
        customer_id: &str,
        now: DateTime<Utc>,
        except: Option<&str>,
    ) -> Result<i64, StoreError> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT COALESCE(SUM(amount), 0) FROM holds
                 WHERE customer_id = ?1 AND state = 'live' AND expires_at > ?2
                   AND (?3 IS NULL OR id <> ?3)",
            )?
            .query_row(params![customer_id, ts(now), except], |r| r.get(0))?)
    }
}

impl HoldTx for SqliteTx<'_> {
    fn insert_hold(&mut self, h: &NewHold<'_>) -> Result<bool, StoreError> {
        Ok(self.conn.execute(
            "INSERT INTO holds (id, customer_id, terminal_id, amount, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
            params![
                h.id,
                h.customer_id,
                h.terminal_id,
                h.amount,
                ts(h.created_at),
                ts(h.expires_at)
            ],
        )? == 1)
    }

    fn end_hold(&mut self, id: &str, state: HoldState) -> Result<bool, StoreError> {
        Ok(self.conn.execute(
            "UPDATE holds SET state = ?2 WHERE id = ?1 AND state = 'live'",
            params![id, state.as_str()],
        )? == 1)
    }

    fn prune_holds(&mut self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(self.conn.execute(
            "DELETE FROM holds WHERE expires_at <= ?1 OR (state <> 'live' AND created_at <= ?1)",
            [ts(before)],
        )? as u64)
    }
}
