//! The store interface in PostgreSQL's SQL for the import of an existing customer base:
//! the customers a file's phones and cards name, and the marks of the rows that made
//! customers. Each is one statement over arrays, whatever the number of rows.

use super::{Conn, PgRead, PgTx, col};
use crate::server::store::*;

impl_reads! {
impl ImportRead {
    fn import_matches(
        &mut self,
        phones: &[&str],
        cards: &[&str],
    ) -> Result<Vec<ImportMatch>, StoreError> {
        self.session()
            .query(
                "SELECT c.id, c.phone, c.card_number, m.digest FROM customers c
                   LEFT JOIN customer_imports m ON m.customer_id = c.id
                  WHERE c.phone = ANY($1::text[]) OR c.card_number = ANY($2::text[])",
                &[&phones, &cards],
            )?
            .iter()
            .map(|r| {
                Ok(ImportMatch {
                    customer_id: col(r, 0)?,
                    phone: col(r, 1)?,
                    card_number: col(r, 2)?,
                    digest: col(r, 3)?,
                })
            })
            .collect()
    }
}
}

impl ImportTx for PgTx<'_> {
    fn insert_import_marks(&mut self, marks: &[ImportMark<'_>]) -> Result<(), StoreError> {
        if marks.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = marks.iter().map(|m| m.customer_id).collect();
        let digests: Vec<&str> = marks.iter().map(|m| m.digest).collect();
        let stores: Vec<Option<&str>> = marks.iter().map(|m| m.store_id).collect();
        let ats: Vec<chrono::DateTime<chrono::Utc>> = marks.iter().map(|m| m.at).collect();
        self.s.execute(
            "INSERT INTO customer_imports (customer_id, digest, store_id, imported_at)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::timestamptz[])
             ON CONFLICT (customer_id) DO NOTHING",
            &[&ids, &digests, &stores, &ats],
        )?;
        Ok(())
    }
}
