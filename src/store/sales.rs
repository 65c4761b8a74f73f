//! The sales made at this till, with their per-position results, so a return is computed
//! offline and never refunds more than was spent: recorded in the transaction that queues
//! the sale, and what each return took back.

use rusqlite::{OptionalExtension, Transaction, params};

use super::{StoreError, TerminalStore};
use crate::domain::returns::{Returned, Sale};
use crate::protocol::server::Operation;
use crate::sqlite::ts;

impl TerminalStore {
    /// Records a sale made here, inside the transaction that queues it.
    pub fn record_sale(
        tx: &Transaction,
        customer_id: &str,
        op: &Operation,
        sale: &Sale,
    ) -> Result<(), StoreError> {
        tx.prepare_cached(
            "INSERT INTO sales (receipt_id, customer_id, operation_id, at, sale) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            sale.receipt_id,
            customer_id,
            op.id,
            ts(op.at),
            serde_json::to_string(sale).expect("a sale serializes")
        ])?;
        Ok(())
    }

    /// A sale made here and what was returned of it so far.
    pub fn sale(&self, receipt_id: &str) -> Result<Option<(String, Sale, Returned)>, StoreError> {
        let row: Option<(String, String, String)> = self
            .conn
            .query_row(
                "SELECT customer_id, sale, returned FROM sales WHERE receipt_id = ?1",
                [receipt_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        row.map(|(customer, sale, returned)| {
            let sale =
                serde_json::from_str(&sale).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let returned =
                serde_json::from_str(&returned).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            Ok((customer, sale, returned))
        })
        .transpose()
    }

    /// Records what a confirmed return took back, inside the transaction that queues it.
    pub fn record_returned(
        tx: &Transaction,
        receipt_id: &str,
        returned: &Returned,
    ) -> Result<(), StoreError> {
        tx.prepare_cached("UPDATE sales SET returned = ?1 WHERE receipt_id = ?2")?
            .execute(params![
                serde_json::to_string(returned).expect("serializes"),
                receipt_id
            ])?;
        Ok(())
    }
}
