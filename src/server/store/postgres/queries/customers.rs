//! The store interface in PostgreSQL's SQL for customers: lookups with the balance, the
//! terminals' feed, registration, card status, consents, audit events.

use chrono::{DateTime, Utc};

use super::{
    BALANCE_PARTS, Conn, PgRead, PgTx, balance_at, col, customer, no_customer, no_limit_if_negative,
};
use crate::server::store::*;

impl_reads! {
impl CustomerRead {
    fn customer(&mut self, key: CustomerKey<'_>) -> Result<Option<Customer>, StoreError> {
        let (column, value) = key.column();
        let sql = format!("SELECT {CUSTOMER_COLUMNS} FROM customers c WHERE {column} = $1");
        self.session()
            .query_opt(&sql, &[&value])?
            .map(|r| customer(&r))
            .transpose()
    }

    fn customer_with_balance(
        &mut self,
        key: CustomerKey<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<(Customer, Balance)>, StoreError> {
        let (column, value) = key.column();
        let sql = format!(
            "SELECT {CUSTOMER_COLUMNS}, c.bonus_total, {BALANCE_PARTS}
             FROM customers c WHERE {column} = $1"
        );
        self.session()
            .query_opt(&sql, &[&value, &now])?
            .map(|r| Ok((customer(&r)?, balance_at(&r, CUSTOMER_WIDTH)?)))
            .transpose()
    }

    fn feed(
        &mut self,
        since: i64,
        limit: i64,
        now: DateTime<Utc>,
    ) -> Result<(Vec<FeedRow>, i64), StoreError> {
        let s = self.session();
        let remaining = s.count(
            "SELECT COUNT(*) FROM customers WHERE change_seq > $1",
            &[&since],
        )?;
        let sql = format!(
            "SELECT {CUSTOMER_COLUMNS}, c.bonus_total, {BALANCE_PARTS}, c.change_seq
             FROM customers c WHERE c.change_seq > $1 ORDER BY c.change_seq LIMIT $3"
        );
        let rows = s
            .query(&sql, &[&since, &now, &no_limit_if_negative(limit)])?
            .iter()
            .map(|r| {
                Ok(FeedRow {
                    customer: customer(r)?,
                    balance: balance_at(r, CUSTOMER_WIDTH)?,
                    seq: col(r, CUSTOMER_WIDTH + 3)?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok((rows, remaining))
    }

    fn consents(&mut self, customer_id: &str) -> Result<Vec<ConsentRow>, StoreError> {
        self.session()
            .query(
                "SELECT kind, granted, at, terminal_id, cashier FROM consents
                 WHERE customer_id = $1 ORDER BY seq",
                &[&customer_id],
            )?
            .iter()
            .map(|r| {
                Ok(ConsentRow {
                    kind: col(r, 0)?,
                    granted: col(r, 1)?,
                    at: col(r, 2)?,
                    terminal_id: col(r, 3)?,
                    cashier: col(r, 4)?,
                })
            })
            .collect()
    }
}
}

impl CustomerTx for PgTx<'_> {
    fn insert_customer(&mut self, c: &NewCustomer) -> Result<bool, StoreError> {
        let n = self.s.execute(
            "INSERT INTO customers (id, phone, card_number, card_status, phone_verified, last_name,
                 first_name, middle_name, gender, birth_date, email, referrer_id, registered_at,
                 store_id, terminal_id, cashier, change_seq, bonus_total, ledger_seq)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, 0, 0, 0)
             ON CONFLICT DO NOTHING",
            &[
                &c.id,
                &c.phone,
                &c.card_number,
                &c.card_status,
                &c.phone_verified,
                &c.last_name,
                &c.first_name,
                &c.middle_name,
                &c.gender,
                &c.birth_date,
                &c.email,
                &c.referrer_id,
                &c.registered_at,
                &c.store_id,
                &c.terminal_id,
                &c.cashier,
            ],
        )?;
        Ok(n == 1)
    }

    fn set_card_status(&mut self, customer_id: &str, status: &str) -> Result<(), StoreError> {
        self.s.execute(
            "UPDATE customers SET card_status = $1 WHERE id = $2",
            &[&status, &customer_id],
        )?;
        Ok(())
    }

    fn set_phone_verified(&mut self, customer_id: &str) -> Result<(), StoreError> {
        self.s.execute(
            "UPDATE customers SET phone_verified = true WHERE id = $1",
            &[&customer_id],
        )?;
        Ok(())
    }

    fn insert_consent(&mut self, c: &NewConsent<'_>) -> Result<(), StoreError> {
        let row = self.s.query_opt(
            "WITH s AS (
                 UPDATE customers SET ledger_seq = ledger_seq + 1 WHERE id = $1::text
                 RETURNING ledger_seq)
             INSERT INTO consents (customer_id, seq, kind, granted, at, terminal_id, cashier)
             SELECT $1::text, s.ledger_seq, $2::text, $3::boolean, $4::timestamptz, $5::text, $6::text
             FROM s RETURNING seq",
            &[
                &c.customer_id,
                &c.kind,
                &c.granted,
                &c.at,
                &c.terminal_id,
                &c.cashier,
            ],
        )?;
        row.ok_or_else(|| no_customer("a consent", c.customer_id))?;
        let column = consent_column(c.kind)?;
        self.s.execute(
            &format!("UPDATE customers SET {column} = $1 WHERE id = $2"),
            &[&c.granted, &c.customer_id],
        )?;
        Ok(())
    }

    fn insert_audit(&mut self, a: &NewAudit<'_>) -> Result<(), StoreError> {
        self.s.execute(
            "INSERT INTO audit_events (operation_id, terminal_id, cashier_id, cashier, event,
                 customer_id, reason, at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &a.operation_id,
                &a.terminal_id,
                &a.cashier_id,
                &a.cashier,
                &a.event,
                &a.customer_id,
                &a.reason,
                &a.at,
            ],
        )?;
        Ok(())
    }

    fn bump_feed(&mut self, customer_ids: &[&str]) -> Result<(), StoreError> {
        let mut ids = customer_ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(());
        }
        let n = ids.len() as i64;
        // The counter row stays locked until this transaction ends, so a later bump waits
        // for this commit: positions are handed out in commit order and a terminal that
        // read up to a position never misses one committed below it later.
        let row = self.s.query_one(
            "UPDATE feed_counter SET last = last + $1 WHERE id = 1 RETURNING last",
            &[&n],
        )?;
        let last: i64 = col(&row, 0)?;
        let seqs: Vec<i64> = (last - n + 1..=last).collect();
        self.s.execute(
            "UPDATE customers SET change_seq = u.seq
             FROM unnest($1::text[], $2::bigint[]) AS u(id, seq) WHERE customers.id = u.id",
            &[&ids, &seqs],
        )?;
        Ok(())
    }
}
