//! The store interface in SQLite's SQL for what the periodic jobs find and claim:
//! bonuses to burn, balances changed by time, birthdays.

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::SqliteTx;
use crate::server::store::*;
use crate::sqlite::ts;

impl JobTx for SqliteTx<'_> {
    fn customers_to_burn(
        &mut self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT DISTINCT customer_id FROM bonus_batches
             WHERE burns_at IS NOT NULL AND burns_at <= ?1 AND remaining > 0 LIMIT ?2",
        )?;
        let ids = stmt
            .query_map(params![ts(now), limit], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(ids)
    }

    fn customers_changed_by_time(
        &mut self,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT DISTINCT customer_id FROM bonus_batches
             WHERE (burns_at <= ?1 AND remaining > 0) OR (active_from > ?2 AND active_from <= ?1)",
        )?;
        let ids = stmt
            .query_map(params![ts(now), ts(since)], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(ids)
    }

    fn birthday_customers(
        &mut self,
        month: u32,
        day: u32,
        year: i32,
        stores: &[String],
        homeless: bool,
    ) -> Result<Vec<String>, StoreError> {
        let stores = serde_json::to_string(stores).map_err(|e| StoreError::Other(e.to_string()))?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT c.id FROM customers c
             WHERE c.birth_date IS NOT NULL AND substr(c.birth_date, 6, 5) = ?1
               AND (c.store_id IN (SELECT value FROM json_each(?3))
                    OR (?4 AND (c.store_id IS NULL
                                OR c.store_id NOT IN (SELECT id FROM stores))))
               AND NOT EXISTS (SELECT 1 FROM birthday_grants g WHERE g.customer_id = c.id AND g.year = ?2)
             ORDER BY c.id",
        )?;
        let ids = stmt
            .query_map(
                params![format!("{month:02}-{day:02}"), year, stores, homeless],
                |r| r.get(0),
            )?
            .collect::<Result<_, _>>()?;
        Ok(ids)
    }

    fn claim_birthday(&mut self, customer_id: &str, year: i32) -> Result<bool, StoreError> {
        Ok(self.conn.execute(
            "INSERT INTO birthday_grants (customer_id, year) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            params![customer_id, year],
        )? == 1)
    }
}
