//! The store interface in PostgreSQL's SQL for holds: bonuses tills reserved for sales
//! they are about to close.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use super::{Conn, PgRead, PgTx, col};
use crate::server::store::*;

fn hold(r: &Row) -> Result<HoldRow, StoreError> {
    let state: &str = col(r, 6)?;
    Ok(HoldRow {
        id: col(r, 0)?,
        customer_id: col(r, 1)?,
        terminal_id: col(r, 2)?,
        amount: col(r, 3)?,
        created_at: col(r, 4)?,
        expires_at: col(r, 5)?,
        state: HoldState::parse(state)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown hold state {state:?}")))?,
    })
}

impl_reads! {
impl HoldRead {
    fn hold(&mut self, id: &str) -> Result<Option<HoldRow>, StoreError> {
        self.session()
            .query_opt(
                "SELECT id, customer_id, terminal_id, amount, created_at, expires_at, state
                 FROM holds WHERE id = $1",
                &[&id],
            )?
            .map(|r| hold(&r))
            .transpose()
    }

    fn held(
        &mut self,
        customer_id: &str,
        now: DateTime<Utc>,
        except: Option<&str>,
    ) -> Result<i64, StoreError> {
        self.session().count(
            "SELECT COALESCE(SUM(amount), 0)::bigint FROM holds
             WHERE customer_id = $1 AND state = 'live' AND expires_at > $2
               AND ($3::text IS NULL OR id <> $3)",
            &[&customer_id, &now, &except],
        )
    }
}
}

impl HoldTx for PgTx<'_> {
    fn insert_hold(&mut self, h: &NewHold<'_>) -> Result<bool, StoreError> {
        Ok(self.s.execute(
            "INSERT INTO holds (id, customer_id, terminal_id, amount, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            &[
                &h.id,
                &h.customer_id,
                &h.terminal_id,
                &h.amount,
                &h.created_at,
                &h.expires_at,
            ],
        )? == 1)
    }

    fn end_hold(&mut self, id: &str, state: HoldState) -> Result<bool, StoreError> {
        Ok(self.s.execute(
            "UPDATE holds SET state = $2 WHERE id = $1 AND state = 'live'",
            &[&id, &state.as_str()],
        )? == 1)
    }

    fn prune_holds(&mut self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.s.execute(
            "DELETE FROM holds WHERE expires_at <= $1 OR (state <> 'live' AND created_at <= $1)",
            &[&before],
        )
    }
}
