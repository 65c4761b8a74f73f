//! The store interface in SQLite's SQL for operations: recorded ids and their answers,
//! kept sales, purchases, the census.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{Conn, SqliteTx};
use crate::server::store::*;
use crate::sqlite::{parse_ts_column, ts};

/// The columns of a kept sale, with its till's name.
const SALE_COLUMNS: &str =
    "SELECT s.terminal_id, COALESCE(t.name, s.terminal_id), s.receipt_id, s.customer_id,
        s.at, s.sale, s.returned, s.fiscal
     FROM sales s LEFT JOIN terminals t ON t.id = s.terminal_id";

fn sale_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SaleRow> {
    Ok(SaleRow {
        terminal_id: r.get(0)?,
        terminal_name: r.get(1)?,
        receipt_id: r.get(2)?,
        customer_id: r.get(3)?,
        at: parse_ts_column(&r.get::<_, String>(4)?, 4)?,
        sale: r.get(5)?,
        returned: r.get(6)?,
        fiscal: r.get(7)?,
    })
}

impl<T: Conn> OperationRead for T {
    fn operation_answer(&mut self, id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached("SELECT answer FROM operations WHERE id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?)
    }

    fn sequence_used(&mut self, terminal_id: &str, seq: i64) -> Result<bool, StoreError> {
        Ok(self
            .conn()
            .prepare_cached("SELECT 1 FROM operations WHERE terminal_id = ?1 AND seq = ?2")?
            .query_row(params![terminal_id, seq], |_| Ok(()))
            .optional()?
            .is_some())
    }

    fn sale(&mut self, terminal_id: &str, receipt_id: &str) -> Result<Option<SaleRow>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached(&format!(
                "{SALE_COLUMNS} WHERE s.receipt_id = ?1 AND s.terminal_id = ?2"
            ))?
            .query_row(params![receipt_id, terminal_id], sale_row)
            .optional()?)
    }

    fn sales_by_receipt(&mut self, receipt_id: &str) -> Result<Vec<SaleRow>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached(&format!(
                "{SALE_COLUMNS} WHERE s.receipt_id = ?1 ORDER BY s.at DESC LIMIT 20"
            ))?
            .query_map([receipt_id], sale_row)?
            .collect::<Result<_, _>>()?)
    }

    fn sale_by_fiscal(&mut self, fn_number: &str, fd: i64) -> Result<Option<SaleRow>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached(&format!(
                "{SALE_COLUMNS} WHERE s.fiscal_fn = ?1 AND s.fiscal_fd = ?2"
            ))?
            .query_row(params![fn_number, fd], sale_row)
            .optional()?)
    }

    fn customer_sales(
        &mut self,
        customer_id: &str,
        limit: i64,
    ) -> Result<Vec<SaleRow>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached(&format!(
                "{SALE_COLUMNS} WHERE s.customer_id = ?1 ORDER BY s.at DESC, s.rowid DESC LIMIT ?2"
            ))?
            .query_map(params![customer_id, limit], sale_row)?
            .collect::<Result<_, _>>()?)
    }

    fn has_purchases(&mut self, customer_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn()
            .prepare_cached("SELECT 1 FROM purchases WHERE customer_id = ?1 LIMIT 1")?
            .query_row([customer_id], |_| Ok(()))
            .optional()?
            .is_some())
    }

    fn purchase_totals(
        &mut self,
        customer_id: &str,
        since: Option<DateTime<Utc>>,
        until: DateTime<Utc>,
    ) -> Result<PurchaseTotals, StoreError> {
        // Returns count against the sum, not the count.
        let since = since.map(ts).unwrap_or_default();
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT COALESCE(SUM(sum), 0), COUNT(CASE WHEN sum >= 0 THEN 1 END)
                 FROM purchases WHERE customer_id = ?1 AND at > ?2 AND at <= ?3",
            )?
            .query_row(params![customer_id, since, ts(until)], |r| {
                Ok(PurchaseTotals {
                    sum: r.get(0)?,
                    count: r.get(1)?,
                })
            })?)
    }

    fn census(&mut self) -> Result<Census, StoreError> {
        let conn = self.conn();
        let count =
            |sql: &str| -> Result<i64, StoreError> { Ok(conn.query_row(sql, [], |r| r.get(0))?) };
        Ok(Census {
            customers: count("SELECT COUNT(*) FROM customers")?,
            applied: count("SELECT COUNT(*) FROM operations WHERE status = 'applied'")?,
            rejected: count("SELECT COUNT(*) FROM operations WHERE status = 'rejected'")?,
            sales: count("SELECT COUNT(*) FROM sales")?,
            purchases: count("SELECT COUNT(*) FROM purchases")?,
            ledger_entries: count("SELECT COUNT(*) FROM ledger_entries")?,
            batches: count("SELECT COUNT(*) FROM bonus_batches")?,
            unbalanced: count(
                "SELECT COUNT(*) FROM customers c
                 WHERE c.bonus_total <> (SELECT COALESCE(SUM(remaining), 0) FROM bonus_batches WHERE customer_id = c.id)
                    OR c.bonus_total <> (SELECT COALESCE(SUM(amount), 0) FROM ledger_entries WHERE customer_id = c.id)",
            )?,
            doubled_entries: count(
                "SELECT COUNT(*) FROM (SELECT 1 FROM ledger_entries WHERE operation_id IS NOT NULL
                 GROUP BY operation_id, customer_id, kind, amount > 0 HAVING COUNT(*) > 1)",
            )?,
        })
    }

    fn count_operations(&mut self, ids: &[&str]) -> Result<i64, StoreError> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT COUNT(*) FROM operations WHERE id = ?1")?;
        let mut n = 0;
        for id in ids {
            n += stmt.query_row([id], |r| r.get::<_, i64>(0))?;
        }
        Ok(n)
    }
}

impl OperationTx for SqliteTx<'_> {
    fn insert_purchase(
        &mut self,
        customer_id: &str,
        at: DateTime<Utc>,
        sum: i64,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("INSERT INTO purchases (customer_id, at, sum) VALUES (?1, ?2, ?3)")?
            .execute(params![customer_id, ts(at), sum])?;
        Ok(())
    }

    fn record_operation(&mut self, op: &NewOperation<'_>) -> Result<bool, StoreError> {
        let n = self
            .conn
            .prepare_cached(
                "INSERT INTO operations (id, terminal_id, seq, kind, received_at, status, answer)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO NOTHING",
            )?
            .execute(params![
                op.id,
                op.terminal_id,
                op.seq,
                op.kind,
                ts(op.received_at),
                if op.rejected { "rejected" } else { "applied" },
                op.answer
            ])?;
        if n == 0 {
            return Ok(false);
        }
        self.conn
            .prepare_cached("UPDATE terminals SET last_seq = MAX(last_seq, ?1) WHERE id = ?2")?
            .execute(params![op.seq, op.terminal_id])?;
        Ok(true)
    }

    fn insert_sale(&mut self, s: &NewSale<'_>) -> Result<bool, StoreError> {
        let n = self
            .conn
            .prepare_cached(
                "INSERT INTO sales (receipt_id, terminal_id, operation_id, customer_id, at, sale,
                                    fiscal_fn, fiscal_fd, fiscal)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT DO NOTHING",
            )?
            .execute(params![
                s.receipt_id,
                s.terminal_id,
                s.operation_id,
                s.customer_id,
                ts(s.at),
                s.sale,
                s.fiscal.map(|f| f.fn_number),
                s.fiscal.map(|f| f.fd),
                s.fiscal.map(|f| f.json),
            ])?;
        Ok(n == 1)
    }

    fn set_sale_returned(
        &mut self,
        terminal_id: &str,
        receipt_id: &str,
        returned: &str,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE sales SET returned = ?1 WHERE receipt_id = ?2 AND terminal_id = ?3",
            params![returned, receipt_id, terminal_id],
        )?;
        Ok(())
    }
}
