//! The store interface in PostgreSQL's SQL for card statuses: the customers the `keep`
//! review looks at, and the trace of every status change.

use tokio_postgres::Row;

use super::{Conn, PgRead, PgTx, col, no_limit_if_negative};
use crate::server::store::*;

fn change(r: &Row) -> Result<StatusChangeRow, StoreError> {
    let cause: String = col(r, 2)?;
    Ok(StatusChangeRow {
        from: col(r, 0)?,
        to: col(r, 1)?,
        cause: StatusCause::parse(&cause)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown status change cause {cause:?}")))?,
        actor: col(r, 3)?,
        reason: col(r, 4)?,
        at: col(r, 5)?,
    })
}

impl_reads! {
impl StatusRead {
    fn customers_with_status(
        &mut self,
        statuses: &[&str],
        after: &str,
        limit: i64,
    ) -> Result<Vec<(String, String)>, StoreError> {
        self.session()
            .query(
                "SELECT id, card_status FROM customers
                 WHERE card_status = ANY($1) AND id > $2
                   AND merged_into IS NULL AND erased_at IS NULL
                 ORDER BY id LIMIT $3",
                &[&statuses, &after, &no_limit_if_negative(limit)],
            )?
            .iter()
            .map(|r| Ok((col(r, 0)?, col(r, 1)?)))
            .collect()
    }

    fn status_changes(&mut self, customer_id: &str) -> Result<Vec<StatusChangeRow>, StoreError> {
        self.session()
            .query(
                "SELECT from_status, to_status, cause, actor, reason, at FROM card_status_changes
                 WHERE customer_id = $1 ORDER BY id DESC",
                &[&customer_id],
            )?
            .iter()
            .map(change)
            .collect()
    }
}
}

impl StatusTx for PgTx<'_> {
    fn change_card_status(&mut self, c: &NewStatusChange<'_>) -> Result<bool, StoreError> {
        // One statement: the update, only from the status the caller saw and only if no
        // keep drop is traced for the review day, and its trace. The caller holds the
        // customer's lock, so the check sees every change committed before it; the
        // (customer, review day) key stands behind it.
        let changed = self.s.query_opt(
            "WITH moved AS (
                 UPDATE customers SET card_status = $3
                 WHERE id = $1 AND card_status = $2
                   AND NOT EXISTS (SELECT 1 FROM card_status_changes
                                   WHERE customer_id = $1 AND review_day = $8)
                 RETURNING id)
             INSERT INTO card_status_changes
                 (customer_id, from_status, to_status, cause, actor, reason, at, review_day)
             SELECT $1, $2, $3, $4, $5, $6, $7, $8 FROM moved
             RETURNING id",
            &[
                &c.customer_id,
                &c.from,
                &c.to,
                &c.cause.name(),
                &c.actor,
                &c.reason,
                &c.at,
                &c.review_day,
            ],
        )?;
        Ok(changed.is_some())
    }
}
