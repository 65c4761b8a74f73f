//! The store interface in SQLite's SQL for SMS codes, the usage their limits count,
//! and verifications.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{SqliteTx, all, opt_time_col, time_col};
use crate::server::store::*;
use crate::sqlite::ts;

impl SmsTx for SqliteTx<'_> {
    fn sms_usage(
        &mut self,
        phone: &str,
        phone_since: DateTime<Utc>,
        terminal_id: &str,
        terminal_since: DateTime<Utc>,
    ) -> Result<SmsUsage, StoreError> {
        let last_to_phone = self
            .conn
            .prepare_cached("SELECT MAX(created_at) FROM sms_codes WHERE phone = ?1")?
            .query_row([phone], |r| opt_time_col(r, 0))?;
        let window = |sql: &str, value: &str, since: DateTime<Utc>| {
            let mut stmt = self.conn.prepare_cached(sql)?;
            all(stmt.query_map(params![value, ts(since)], |r| time_col(r, 0))?)
        };
        Ok(SmsUsage {
            last_to_phone,
            phone_window: window(
                "SELECT created_at FROM sms_codes WHERE phone = ?1 AND created_at > ?2 ORDER BY created_at",
                phone,
                phone_since,
            )?,
            terminal_window: window(
                "SELECT created_at FROM sms_codes WHERE terminal_id = ?1 AND created_at > ?2 ORDER BY created_at",
                terminal_id,
                terminal_since,
            )?,
        })
    }

    fn insert_sms_code(&mut self, c: &NewSmsCode<'_>) -> Result<i64, StoreError> {
        self.conn.execute(
            "INSERT INTO sms_codes (phone, purpose, salt, code_hash, created_at, expires_at,
                 tries_left, verified_at, terminal_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, ?8)",
            params![
                c.phone,
                c.purpose,
                c.salt,
                c.code_hash,
                ts(c.created_at),
                ts(c.expires_at),
                c.tries,
                c.terminal_id
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    fn latest_sms_code(
        &mut self,
        phone: &str,
        purpose: &str,
    ) -> Result<Option<SmsCodeRow>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT id, salt, code_hash, expires_at, tries_left, verified_at IS NOT NULL
                 FROM sms_codes WHERE phone = ?1 AND purpose = ?2 ORDER BY id DESC LIMIT 1",
            )?
            .query_row(params![phone, purpose], |r| {
                Ok(SmsCodeRow {
                    id: r.get(0)?,
                    salt: r.get(1)?,
                    code_hash: r.get(2)?,
                    expires_at: time_col(r, 3)?,
                    tries_left: r.get(4)?,
                    verified: r.get(5)?,
                })
            })
            .optional()?)
    }

    fn set_sms_tries(&mut self, id: i64, tries_left: i64) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE sms_codes SET tries_left = ?1 WHERE id = ?2",
            params![tries_left, id],
        )?;
        Ok(())
    }

    fn mark_sms_verified(&mut self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE sms_codes SET verified_at = ?1 WHERE id = ?2",
            params![ts(at), id],
        )?;
        Ok(())
    }

    fn delete_sms_code(&mut self, id: i64) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM sms_codes WHERE id = ?1", [id])?;
        Ok(())
    }

    fn insert_verification(
        &mut self,
        token_hash: &[u8],
        phone: &str,
        purpose: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO verifications (token_hash, phone, purpose, expires_at, used_at)
             VALUES (?1, ?2, ?3, ?4, NULL)",
            params![token_hash, phone, purpose, ts(expires_at)],
        )?;
        Ok(())
    }

    fn consume_verification(
        &mut self,
        token_hash: &[u8],
        phone: &str,
        purpose: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(self.conn.execute(
            "UPDATE verifications SET used_at = ?1 WHERE token_hash = ?2 AND phone = ?3
             AND purpose = ?4 AND used_at IS NULL AND expires_at > ?1",
            params![ts(now), token_hash, phone, purpose],
        )? == 1)
    }

    fn prune_sms(
        &mut self,
        codes_before: DateTime<Utc>,
        verifications_before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let codes = self.conn.execute(
            "DELETE FROM sms_codes WHERE created_at <= ?1",
            [ts(codes_before)],
        )?;
        let verifications = self.conn.execute(
            "DELETE FROM verifications WHERE expires_at <= ?1",
            [ts(verifications_before)],
        )?;
        Ok((codes + verifications) as u64)
    }
}
