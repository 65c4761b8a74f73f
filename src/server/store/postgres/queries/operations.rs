//! The store interface in PostgreSQL's SQL for operations: recorded ids and their answers,
//! kept sales, purchases, the census.

use chrono::{DateTime, Utc};

use super::{Conn, PgRead, PgTx, col, no_customer};
use crate::server::store::*;

/// The columns of a kept sale, with its till's name.
const SALE_COLUMNS: &str =
    "SELECT s.terminal_id, COALESCE(t.name, s.terminal_id), s.receipt_id, s.customer_id,
        s.at, s.sale, s.returned, s.fiscal
     FROM sales s LEFT JOIN terminals t ON t.id = s.terminal_id";

fn sale_row(r: &tokio_postgres::Row) -> Result<SaleRow, StoreError> {
    Ok(SaleRow {
        terminal_id: col(r, 0)?,
        terminal_name: col(r, 1)?,
        receipt_id: col(r, 2)?,
        customer_id: col(r, 3)?,
        at: col(r, 4)?,
        sale: col(r, 5)?,
        returned: col(r, 6)?,
        fiscal: col(r, 7)?,
    })
}

impl_reads! {
impl OperationRead {
    fn operation_answer(&mut self, id: &str) -> Result<Option<String>, StoreError> {
        self.session()
            .query_opt("SELECT answer FROM operations WHERE id = $1", &[&id])?
            .map(|r| col(&r, 0))
            .transpose()
    }

    fn sequence_used(&mut self, terminal_id: &str, seq: i64) -> Result<bool, StoreError> {
        Ok(self
            .session()
            .query_opt(
                "SELECT 1 FROM operations WHERE terminal_id = $1 AND seq = $2 LIMIT 1",
                &[&terminal_id, &seq],
            )?
            .is_some())
    }

    fn sale(&mut self, terminal_id: &str, receipt_id: &str) -> Result<Option<SaleRow>, StoreError> {
        self.session()
            .query_opt(
                &format!("{SALE_COLUMNS} WHERE s.terminal_id = $1 AND s.receipt_id = $2"),
                &[&terminal_id, &receipt_id],
            )?
            .map(|r| sale_row(&r))
            .transpose()
    }

    fn sales_by_receipt(&mut self, receipt_id: &str) -> Result<Vec<SaleRow>, StoreError> {
        self.session()
            .query(
                &format!("{SALE_COLUMNS} WHERE s.receipt_id = $1 ORDER BY s.at DESC LIMIT 20"),
                &[&receipt_id],
            )?
            .iter()
            .map(sale_row)
            .collect()
    }

    fn sale_by_fiscal(&mut self, fn_number: &str, fd: i64) -> Result<Option<SaleRow>, StoreError> {
        self.session()
            .query_opt(
                &format!("{SALE_COLUMNS} WHERE s.fiscal_fn = $1 AND s.fiscal_fd = $2"),
                &[&fn_number, &fd],
            )?
            .map(|r| sale_row(&r))
            .transpose()
    }

    fn customer_sales(
        &mut self,
        customer_id: &str,
        limit: i64,
    ) -> Result<Vec<SaleRow>, StoreError> {
        self.session()
            .query(
                &format!(
                    "{SALE_COLUMNS} WHERE s.customer_id = $1
                     ORDER BY s.at DESC, s.operation_id DESC LIMIT $2"
                ),
                &[&customer_id, &limit],
            )?
            .iter()
            .map(sale_row)
            .collect()
    }

    fn has_purchases(&mut self, customer_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .session()
            .query_opt(
                "SELECT 1 FROM purchases WHERE customer_id = $1 LIMIT 1",
                &[&customer_id],
            )?
            .is_some())
    }

    fn purchase_totals(
        &mut self,
        customer_id: &str,
        since: Option<DateTime<Utc>>,
        until: DateTime<Utc>,
    ) -> Result<PurchaseTotals, StoreError> {
        // Returns count against the sum, not the count.
        let row = self.session().query_one(
            "SELECT COALESCE(SUM(sum), 0)::bigint, COUNT(CASE WHEN sum >= 0 THEN 1 END)
             FROM purchases
             WHERE customer_id = $1 AND ($2::timestamptz IS NULL OR at > $2) AND at <= $3",
            &[&customer_id, &since, &until],
        )?;
        Ok(PurchaseTotals {
            sum: col(&row, 0)?,
            count: col(&row, 1)?,
        })
    }

    fn census(&mut self) -> Result<Census, StoreError> {
        let s = self.session();
        Ok(Census {
            customers: s.count("SELECT COUNT(*) FROM customers", &[])?,
            applied: s.count(
                "SELECT COUNT(*) FROM operations WHERE status = 'applied'",
                &[],
            )?,
            rejected: s.count(
                "SELECT COUNT(*) FROM operations WHERE status = 'rejected'",
                &[],
            )?,
            sales: s.count("SELECT COUNT(*) FROM sales", &[])?,
            purchases: s.count("SELECT COUNT(*) FROM purchases", &[])?,
            ledger_entries: s.count("SELECT COUNT(*) FROM ledger_entries", &[])?,
            batches: s.count("SELECT COUNT(*) FROM bonus_batches", &[])?,
            unbalanced: s.count(
                "SELECT COUNT(*) FROM customers c
                 WHERE c.bonus_total <> (SELECT COALESCE(SUM(remaining), 0) FROM bonus_batches WHERE customer_id = c.id)
                    OR c.bonus_total <> (SELECT COALESCE(SUM(amount), 0) FROM ledger_entries WHERE customer_id = c.id)",
                &[],
            )?,
            doubled_entries: s.count(
                "SELECT COUNT(*) FROM (SELECT 1 FROM ledger_entries WHERE operation_id IS NOT NULL
                 GROUP BY operation_id, customer_id, kind, amount > 0 HAVING COUNT(*) > 1) AS doubled",
                &[],
            )?,
        })
    }

    fn count_operations(&mut self, ids: &[&str]) -> Result<i64, StoreError> {
        // An id named twice counts twice, as one lookup per id would.
        self.session().count(
            "SELECT COUNT(*) FROM unnest($1::text[]) AS u(id) JOIN operations o ON o.id = u.id",
            &[&ids],
        )
    }
}
}

impl OperationTx for PgTx<'_> {
    fn insert_purchase(
        &mut self,
        customer_id: &str,
        at: DateTime<Utc>,
        sum: i64,
    ) -> Result<(), StoreError> {
        let row = self.s.query_opt(
            "WITH s AS (
                 UPDATE customers SET ledger_seq = ledger_seq + 1 WHERE id = $1::text
                 RETURNING ledger_seq)
             INSERT INTO purchases (customer_id, seq, at, sum)
             SELECT $1::text, s.ledger_seq, $2::timestamptz, $3::bigint FROM s RETURNING seq",
            &[&customer_id, &at, &sum],
        )?;
        row.map(drop)
            .ok_or_else(|| no_customer("a purchase", customer_id))
    }

    fn record_operation(&mut self, op: &NewOperation<'_>) -> Result<bool, StoreError> {
        // The primary key decides, across connections and processes: a second transaction
        // with the same id waits for the first and inserts nothing.
        let status = if op.rejected { "rejected" } else { "applied" };
        let n = self.s.execute(
            "INSERT INTO operations (id, terminal_id, seq, kind, received_at, status, answer)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
            &[
                &op.id,
                &op.terminal_id,
                &op.seq,
                &op.kind,
                &op.received_at,
                &status,
                &op.answer,
            ],
        )?;
        if n == 0 {
            return Ok(false);
        }
        self.s.execute(
            "UPDATE terminals SET last_seq = GREATEST(last_seq, $1) WHERE id = $2",
            &[&op.seq, &op.terminal_id],
        )?;
        Ok(true)
    }

    fn insert_sale(&mut self, s: &NewSale<'_>) -> Result<bool, StoreError> {
        let n = self.s.execute(
            "INSERT INTO sales (terminal_id, receipt_id, operation_id, customer_id, at, sale,
                                fiscal_fn, fiscal_fd, fiscal)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
            &[
                &s.terminal_id,
                &s.receipt_id,
                &s.operation_id,
                &s.customer_id,
                &s.at,
                &s.sale,
                &s.fiscal.map(|f| f.fn_number),
                &s.fiscal.map(|f| f.fd),
                &s.fiscal.map(|f| f.json),
            ],
        )?;
        Ok(n == 1)
    }

    fn set_sale_returned(
        &mut self,
        terminal_id: &str,
        receipt_id: &str,
        returned: &str,
    ) -> Result<(), StoreError> {
        self.s.execute(
            "UPDATE sales SET returned = $1 WHERE terminal_id = $2 AND receipt_id = $3",
            &[&returned, &terminal_id, &receipt_id],
        )?;
        Ok(())
    }
}
