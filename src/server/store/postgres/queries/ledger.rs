//! The store interface in PostgreSQL's SQL for bonuses: the balance, the batches and the
//! history, the batches a change takes in order, new batches and history lines.

use chrono::{DateTime, Utc};

use super::{
    BALANCE_PARTS, BATCH_COLUMNS, Conn, PgRead, PgTx, balance_at, col, no_customer, source,
};
use crate::server::store::*;

impl_reads! {
impl LedgerRead {
    fn balance(&mut self, customer_id: &str, now: DateTime<Utc>) -> Result<Balance, StoreError> {
        let sql = format!("SELECT c.bonus_total, {BALANCE_PARTS} FROM customers c WHERE c.id = $1");
        Ok(self
            .session()
            .query_opt(&sql, &[&customer_id, &now])?
            .map(|r| balance_at(&r, 0))
            .transpose()?
            .unwrap_or_default())
    }

    fn history(&mut self, customer_id: &str, limit: usize) -> Result<Vec<HistoryRow>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.session()
            .query(
                "SELECT at, amount, kind, description, actor FROM ledger_entries
                 WHERE customer_id = $1 ORDER BY at DESC, seq DESC LIMIT $2",
                &[&customer_id, &limit],
            )?
            .iter()
            .map(|r| {
                Ok(HistoryRow {
                    at: col(r, 0)?,
                    amount: col(r, 1)?,
                    kind: source(&col::<String>(r, 2)?)?,
                    description: col(r, 3)?,
                    actor: col(r, 4)?,
                })
            })
            .collect()
    }

    fn batches(&mut self, customer_id: &str) -> Result<Vec<Batch>, StoreError> {
        let sql =
            format!("SELECT {BATCH_COLUMNS} FROM bonus_batches WHERE customer_id = $1 ORDER BY seq");
        self.session().batches(&sql, &[&customer_id])
    }

    fn history_sum(&mut self, customer_id: &str) -> Result<i64, StoreError> {
        self.session().count(
            "SELECT COALESCE(SUM(amount), 0)::bigint FROM ledger_entries WHERE customer_id = $1",
            &[&customer_id],
        )
    }
}
}

impl LedgerTx for PgTx<'_> {
    fn debts(&mut self, customer_id: &str) -> Result<Vec<Batch>, StoreError> {
        let sql = format!(
            "SELECT {BATCH_COLUMNS} FROM bonus_batches
             WHERE customer_id = $1 AND remaining < 0 ORDER BY seq"
        );
        self.s.batches(&sql, &[&customer_id])
    }

    fn spendable(
        &mut self,
        customer_id: &str,
        now: DateTime<Utc>,
        need: i64,
    ) -> Result<Vec<Batch>, StoreError> {
        // Two walks of `batches_spendable` in index order (both orders hold on engines that
        // sort NULLs first, too): the burning ones soonest first, then the never-burning
        // ones in the order granted.
        let mut need = need;
        let mut out = Vec::new();
        let burning = format!(
            "SELECT {BATCH_COLUMNS} FROM bonus_batches
             WHERE customer_id = $1 AND remaining > 0 AND burns_at > $2 AND active_from <= $2
             ORDER BY burns_at, seq LIMIT $3 OFFSET $4"
        );
        self.s
            .batches_covering(&burning, &[&customer_id, &now], &mut need, &mut out)?;
        let lasting = format!(
            "SELECT {BATCH_COLUMNS} FROM bonus_batches
             WHERE customer_id = $1 AND remaining > 0 AND burns_at IS NULL AND active_from <= $2
             ORDER BY seq LIMIT $3 OFFSET $4"
        );
        self.s
            .batches_covering(&lasting, &[&customer_id, &now], &mut need, &mut out)?;
        Ok(out)
    }

    fn pending(
        &mut self,
        customer_id: &str,
        now: DateTime<Utc>,
        need: i64,
    ) -> Result<Vec<Batch>, StoreError> {
        let mut need = need;
        let mut out = Vec::new();
        let sql = format!(
            "SELECT {BATCH_COLUMNS} FROM bonus_batches
             WHERE customer_id = $1 AND remaining <> 0 AND remaining > 0
               AND active_from > $2 AND (burns_at IS NULL OR burns_at > $2)
             ORDER BY active_from, burns_at NULLS LAST, seq LIMIT $3 OFFSET $4"
        );
        self.s
            .batches_covering(&sql, &[&customer_id, &now], &mut need, &mut out)?;
        Ok(out)
    }

    fn due_to_burn(
        &mut self,
        customer_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Batch>, StoreError> {
        let sql = format!(
            "SELECT {BATCH_COLUMNS} FROM bonus_batches
             WHERE customer_id = $1 AND remaining > 0 AND burns_at <= $2
             ORDER BY burns_at, seq"
        );
        self.s.batches(&sql, &[&customer_id, &now])
    }

    fn insert_batch(&mut self, b: &NewBatch<'_>) -> Result<BatchKey, StoreError> {
        // The batch's key and the running balance move in the one statement that inserts
        // it, under the customer's row lock.
        let row = self.s.query_opt(
            "WITH s AS (
                 UPDATE customers
                 SET ledger_seq = ledger_seq + 1, bonus_total = bonus_total + $3::bigint
                 WHERE id = $1::text RETURNING ledger_seq)
             INSERT INTO bonus_batches
                 (customer_id, seq, amount, remaining, source, active_from, burns_at, created_at, operation_id)
             SELECT $1::text, s.ledger_seq, $2::bigint, $3::bigint, $4::text, $5::timestamptz,
                    $6::timestamptz, $7::timestamptz, $8::text
             FROM s RETURNING seq",
            &[
                &b.customer_id,
                &b.amount,
                &b.remaining,
                &b.source.as_str(),
                &b.active_from,
                &b.burns_at,
                &b.created_at,
                &b.operation_id,
            ],
        )?;
        match row {
            Some(r) => col(&r, 0),
            None => Err(no_customer("a batch", b.customer_id)),
        }
    }

    fn adjust_batch(
        &mut self,
        customer_id: &str,
        key: BatchKey,
        delta: i64,
    ) -> Result<(), StoreError> {
        let n = self.s.execute(
            "UPDATE bonus_batches SET remaining = remaining + $1 WHERE customer_id = $2 AND seq = $3",
            &[&delta, &customer_id, &key],
        )?;
        if n != 1 {
            return Err(StoreError::Corrupt(format!(
                "batch {key} of customer {customer_id} not found"
            )));
        }
        self.s.execute(
            "UPDATE customers SET bonus_total = bonus_total + $1 WHERE id = $2",
            &[&delta, &customer_id],
        )?;
        Ok(())
    }

    fn insert_entry(&mut self, e: &NewEntry<'_>) -> Result<(), StoreError> {
        let row = self.s.query_opt(
            "WITH s AS (
                 UPDATE customers SET ledger_seq = ledger_seq + 1 WHERE id = $1::text
                 RETURNING ledger_seq)
             INSERT INTO ledger_entries
                 (customer_id, seq, at, amount, kind, description, operation_id, actor)
             SELECT $1::text, s.ledger_seq, $2::timestamptz, $3::bigint, $4::text, $5::text,
                    $6::text, $7::text
             FROM s RETURNING seq",
            &[
                &e.customer_id,
                &e.at,
                &e.amount,
                &e.kind.as_str(),
                &e.description,
                &e.operation_id,
                &e.actor,
            ],
        )?;
        row.map(drop)
            .ok_or_else(|| no_customer("a history line", e.customer_id))
    }
}
