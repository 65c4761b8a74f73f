//! The store interface in SQLite's SQL for the import of an existing customer base: the
//! customers a file's phones and cards name, and the marks of the rows that made customers.

use rusqlite::params;

use super::{Conn, SqliteTx, all};
use crate::server::store::*;
use crate::sqlite::ts;

impl<T: Conn> ImportRead for T {
    fn import_matches(
        &mut self,
        phones: &[&str],
        cards: &[&str],
    ) -> Result<Vec<ImportMatch>, StoreError> {
        // The lists go in as JSON arrays, one statement for any number of rows; each half of
        // the UNION is a lookup on a unique index.
        let json = |v: &[&str]| {
            serde_json::to_string(v)
                .map_err(|e| StoreError::Other(format!("a list of keys does not serialize: {e}")))
        };
        let mut stmt = self.conn().prepare_cached(
            "SELECT c.id, c.phone, c.card_number, m.digest FROM customers c
               LEFT JOIN customer_imports m ON m.customer_id = c.id
              WHERE c.phone IN (SELECT value FROM json_each(?1))
             UNION
             SELECT c.id, c.phone, c.card_number, m.digest FROM customers c
               LEFT JOIN customer_imports m ON m.customer_id = c.id
              WHERE c.card_number IN (SELECT value FROM json_each(?2))",
        )?;
        all(stmt.query_map(params![json(phones)?, json(cards)?], |r| {
            Ok(ImportMatch {
                customer_id: r.get(0)?,
                phone: r.get(1)?,
                card_number: r.get(2)?,
                digest: r.get(3)?,
            })
        })?)
    }
}

impl ImportTx for SqliteTx<'_> {
    fn insert_import_marks(&mut self, marks: &[ImportMark<'_>]) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO customer_imports (customer_id, digest, store_id, imported_at)
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (customer_id) DO NOTHING",
        )?;
        for m in marks {
            stmt.execute(params![m.customer_id, m.digest, m.store_id, ts(m.at)])?;
        }
        Ok(())
    }
}
