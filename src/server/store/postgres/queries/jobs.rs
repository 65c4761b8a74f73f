//! The store interface in PostgreSQL's SQL for what the periodic jobs find and claim:
//! bonuses to burn, balances changed by time, birthdays.

use chrono::{DateTime, Utc};

use super::{PgTx, no_limit_if_negative};
use crate::server::store::*;

impl JobTx for PgTx<'_> {
    fn customers_to_burn(
        &mut self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        self.s.ids(
            "SELECT DISTINCT customer_id FROM bonus_batches
             WHERE burns_at IS NOT NULL AND burns_at <= $1 AND remaining > 0 LIMIT $2",
            &[&now, &no_limit_if_negative(limit)],
        )
    }

    fn customers_changed_by_time(
        &mut self,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        self.s.ids(
            "SELECT DISTINCT customer_id FROM bonus_batches
             WHERE (burns_at <= $1 AND remaining > 0) OR (active_from > $2 AND active_from <= $1)",
            &[&now, &since],
        )
    }

    fn birthday_customers(
        &mut self,
        month: u32,
        day: u32,
        year: i32,
        stores: &[String],
        homeless: bool,
    ) -> Result<Vec<String>, StoreError> {
        // Out-of-range numbers match no date, as SQLite's text comparison does.
        let (Ok(month), Ok(day)) = (i32::try_from(month), i32::try_from(day)) else {
            return Ok(Vec::new());
        };
        self.s.ids(
            "SELECT c.id FROM customers c
             WHERE c.birth_date IS NOT NULL
               AND EXTRACT(MONTH FROM c.birth_date)::integer = $1
               AND EXTRACT(DAY FROM c.birth_date)::integer = $2
               AND (c.store_id = ANY($4)
                    OR ($5 AND (c.store_id IS NULL
                                OR NOT EXISTS (SELECT 1 FROM stores s WHERE s.id = c.store_id))))
               AND NOT EXISTS (SELECT 1 FROM birthday_grants g
                               WHERE g.customer_id = c.id AND g.year = $3)
             ORDER BY c.id",
            &[&month, &day, &year, &stores, &homeless],
        )
    }

    fn claim_birthday(&mut self, customer_id: &str, year: i32) -> Result<bool, StoreError> {
        Ok(self.s.execute(
            "INSERT INTO birthday_grants (customer_id, year) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&customer_id, &year],
        )? == 1)
    }
}
