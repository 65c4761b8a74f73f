//! The store interface in PostgreSQL's SQL for SMS codes, the usage their limits count,
//! and verifications.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use super::{PgTx, col, sms_slot};
use crate::server::store::*;

impl SmsTx for PgTx<'_> {
    fn sms_usage(
        &mut self,
        phone: &str,
        phone_since: DateTime<Utc>,
        terminal_id: &str,
        terminal_since: DateTime<Utc>,
    ) -> Result<SmsUsage, StoreError> {
        // Lock the phone's slot, then the terminal, before reading: two sends to one phone
        // or from one terminal see each other's codes, so both cannot pass a limit.
        let slot = sms_slot(phone);
        if self
            .s
            .query_opt(
                "SELECT slot FROM sms_locks WHERE slot = $1 FOR UPDATE",
                &[&slot],
            )?
            .is_none()
        {
            return Err(StoreError::Corrupt(format!(
                "the SMS lock slot {slot} is missing from sms_locks"
            )));
        }
        self.s.query_opt(
            "SELECT id FROM terminals WHERE id = $1 FOR UPDATE",
            &[&terminal_id],
        )?;
        let last_row = self.s.query_one(
            "SELECT MAX(created_at) FROM sms_codes WHERE phone = $1",
            &[&phone],
        )?;
        let last_to_phone: Option<DateTime<Utc>> = col(&last_row, 0)?;
        let times = |rows: Vec<Row>| -> Result<Vec<DateTime<Utc>>, StoreError> {
            rows.iter().map(|r| col(r, 0)).collect()
        };
        let phone_window = times(self.s.query(
            "SELECT created_at FROM sms_codes WHERE phone = $1 AND created_at > $2
             ORDER BY created_at",
            &[&phone, &phone_since],
        )?)?;
        let terminal_window = times(self.s.query(
            "SELECT created_at FROM sms_codes WHERE terminal_id = $1 AND created_at > $2
             ORDER BY created_at",
            &[&terminal_id, &terminal_since],
        )?)?;
        Ok(SmsUsage {
            last_to_phone,
            phone_window,
            terminal_window,
        })
    }

    fn insert_sms_code(&mut self, c: &NewSmsCode<'_>) -> Result<i64, StoreError> {
        let row = self.s.query_one(
            "INSERT INTO sms_codes (phone, purpose, salt, code_hash, created_at, expires_at,
                 tries_left, verified_at, terminal_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8) RETURNING id",
            &[
                &c.phone,
                &c.purpose,
                &c.salt,
                &c.code_hash,
                &c.created_at,
                &c.expires_at,
                &c.tries,
                &c.terminal_id,
            ],
        )?;
        col(&row, 0)
    }

    fn latest_sms_code(
        &mut self,
        phone: &str,
        purpose: &str,
    ) -> Result<Option<SmsCodeRow>, StoreError> {
        // Latest by creation time; the generated id only breaks ties (it is no commit
        // order on a distributed cluster).
        self.s
            .query_opt(
                "SELECT id, salt, code_hash, expires_at, tries_left, verified_at IS NOT NULL
                 FROM sms_codes WHERE phone = $1 AND purpose = $2
                 ORDER BY created_at DESC, id DESC LIMIT 1 FOR UPDATE",
                &[&phone, &purpose],
            )?
            .map(|r| {
                Ok(SmsCodeRow {
                    id: col(&r, 0)?,
                    salt: col(&r, 1)?,
                    code_hash: col(&r, 2)?,
                    expires_at: col(&r, 3)?,
                    tries_left: col(&r, 4)?,
                    verified: col(&r, 5)?,
                })
            })
            .transpose()
    }

    fn set_sms_tries(&mut self, id: i64, tries_left: i64) -> Result<(), StoreError> {
        self.s.execute(
            "UPDATE sms_codes SET tries_left = $1 WHERE id = $2",
            &[&tries_left, &id],
        )?;
        Ok(())
    }

    fn mark_sms_verified(&mut self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.s.execute(
            "UPDATE sms_codes SET verified_at = $1 WHERE id = $2",
            &[&at, &id],
        )?;
        Ok(())
    }

    fn delete_sms_code(&mut self, id: i64) -> Result<(), StoreError> {
        self.s
            .execute("DELETE FROM sms_codes WHERE id = $1", &[&id])?;
        Ok(())
    }

    fn insert_verification(
        &mut self,
        token_hash: &[u8],
        phone: &str,
        purpose: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.s.execute(
            "INSERT INTO verifications (token_hash, phone, purpose, expires_at, used_at)
             VALUES ($1, $2, $3, $4, NULL)",
            &[&token_hash, &phone, &purpose, &expires_at],
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
        Ok(self.s.execute(
            "UPDATE verifications SET used_at = $1 WHERE token_hash = $2 AND phone = $3
             AND purpose = $4 AND used_at IS NULL AND expires_at > $1",
            &[&now, &token_hash, &phone, &purpose],
        )? == 1)
    }

    fn prune_sms(
        &mut self,
        codes_before: DateTime<Utc>,
        verifications_before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let codes = self.s.execute(
            "DELETE FROM sms_codes WHERE created_at <= $1",
            &[&codes_before],
        )?;
        let verifications = self.s.execute(
            "DELETE FROM verifications WHERE expires_at <= $1",
            &[&verifications_before],
        )?;
        Ok(codes + verifications)
    }
}
