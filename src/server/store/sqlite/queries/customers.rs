//! The store interface in SQLite's SQL for customers: lookups with the balance, the
//! terminals' feed, registration, card status, consents, audit events.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, named_params, params};

use super::{BALANCE_PARTS, Conn, SqliteTx, all, balance_col, customer, time_col};
use crate::server::store::*;
use crate::sqlite::ts;

impl<T: Conn> CustomerRead for T {
    fn customer(&mut self, key: CustomerKey<'_>) -> Result<Option<Customer>, StoreError> {
        let (column, value) = key.column();
        Ok(self
            .conn()
            .prepare_cached(&format!(
                "SELECT {CUSTOMER_COLUMNS} FROM customers c WHERE {column} = ?1"
            ))?
            .query_row([value], customer)
            .optional()?)
    }

    fn customer_with_balance(
        &mut self,
        key: CustomerKey<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<(Customer, Balance)>, StoreError> {
        let (column, value) = key.column();
        Ok(self
            .conn()
            .prepare_cached(&format!(
                "SELECT {CUSTOMER_COLUMNS}, c.bonus_total, {BALANCE_PARTS}
                 FROM customers c WHERE {column} = :key"
            ))?
            .query_row(named_params! { ":key": value, ":now": ts(now) }, |r| {
                Ok((customer(r)?, balance_col(r, CUSTOMER_WIDTH)?))
            })
            .optional()?)
    }

    fn feed(
        &mut self,
        since: i64,
        limit: i64,
        now: DateTime<Utc>,
    ) -> Result<(Vec<FeedRow>, i64), StoreError> {
        let conn = self.conn();
        let remaining: i64 = conn
            .prepare_cached("SELECT COUNT(*) FROM customers WHERE change_seq > ?1")?
            .query_row([since], |r| r.get(0))?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {CUSTOMER_COLUMNS}, c.bonus_total, {BALANCE_PARTS}, c.change_seq
             FROM customers c WHERE c.change_seq > :since ORDER BY c.change_seq LIMIT :limit"
        ))?;
        let rows = all(stmt.query_map(
            named_params! { ":since": since, ":limit": limit, ":now": ts(now) },
            |r| {
                Ok(FeedRow {
                    customer: customer(r)?,
                    balance: balance_col(r, CUSTOMER_WIDTH)?,
                    seq: r.get(CUSTOMER_WIDTH + 3)?,
                })
            },
        )?)?;
        Ok((rows, remaining))
    }

    fn consents(&mut self, customer_id: &str) -> Result<Vec<ConsentRow>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT kind, granted, at, terminal_id, cashier FROM consents
             WHERE customer_id = ?1 ORDER BY id",
        )?;
        all(stmt.query_map([customer_id], |r| {
            Ok(ConsentRow {
                kind: r.get(0)?,
                granted: r.get(1)?,
                at: time_col(r, 2)?,
                terminal_id: r.get(3)?,
                cashier: r.get(4)?,
            })
        })?)
    }
}

impl CustomerTx for SqliteTx<'_> {
    fn insert_customer(&mut self, c: &NewCustomer) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "INSERT INTO customers (id, phone, card_number, card_status, phone_verified, last_name,
                 first_name, middle_name, gender, birth_date, email, referrer_id, registered_at,
                 store_id, terminal_id, cashier, change_seq, bonus_total)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, 0, 0)
             ON CONFLICT DO NOTHING",
            params![
                c.id,
                c.phone,
                c.card_number,
                c.card_status,
                c.phone_verified,
                c.last_name,
                c.first_name,
                c.middle_name,
                c.gender,
                c.birth_date.map(|d| d.format("%Y-%m-%d").to_string()),
                c.email,
                c.referrer_id,
                ts(c.registered_at),
                c.store_id,
                c.terminal_id,
                c.cashier,
            ],
        )?;
        Ok(n == 1)
    }

    fn set_card_status(&mut self, customer_id: &str, status: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE customers SET card_status = ?1 WHERE id = ?2",
            params![status, customer_id],
        )?;
        Ok(())
    }

    fn set_phone_verified(&mut self, customer_id: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE customers SET phone_verified = 1 WHERE id = ?1",
            [customer_id],
        )?;
        Ok(())
    }

    fn insert_consent(&mut self, c: &NewConsent<'_>) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO consents (customer_id, kind, granted, at, terminal_id, cashier) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![c.customer_id, c.kind, c.granted, ts(c.at), c.terminal_id, c.cashier],
        )?;
        let column = consent_column(c.kind)?;
        self.conn.execute(
            &format!("UPDATE customers SET {column} = ?1 WHERE id = ?2"),
            params![c.granted, c.customer_id],
        )?;
        Ok(())
    }

    fn insert_audit(&mut self, a: &NewAudit<'_>) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO audit_events (operation_id, terminal_id, cashier_id, cashier, event, customer_id, reason, at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![a.operation_id, a.terminal_id, a.cashier_id, a.cashier, a.event, a.customer_id, a.reason, ts(a.at)],
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
        let last: i64 = self.conn.query_row(
            "UPDATE feed_counter SET last = last + ?1 WHERE id = 1 RETURNING last",
            [ids.len() as i64],
            |r| r.get(0),
        )?;
        let first = last - ids.len() as i64 + 1;
        let mut stmt = self
            .conn
            .prepare_cached("UPDATE customers SET change_seq = ?1 WHERE id = ?2")?;
        for (i, id) in ids.iter().enumerate() {
            stmt.execute(params![first + i as i64, id])?;
        }
        Ok(())
    }
}
