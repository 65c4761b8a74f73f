//! The store interface in SQLite's SQL for the customer's own page: its SMS sends, the
//! browsers' sessions, the web pseudo-terminals' sequences and the erase requests.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{Conn, SqliteTx, all, time_col};
use crate::server::store::*;
use crate::sqlite::ts;

impl<T: Conn> SelfRegRead for T {
    fn web_session(
        &mut self,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Option<WebSession>, StoreError> {
        let row = self
            .conn()
            .prepare_cached(
                "SELECT kind, store_id, phone, customer_id, expires_at FROM web_sessions
                 WHERE token_hash = ?1 AND expires_at > ?2",
            )?
            .query_row(params![token_hash, ts(now)], |r| {
                let kind: String = r.get(0)?;
                Ok((
                    kind,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    time_col(r, 4)?,
                ))
            })
            .optional()?;
        row.map(|(kind, store_id, phone, customer_id, expires_at)| {
            Ok(WebSession {
                kind: WebSessionKind::parse(&kind).ok_or_else(|| {
                    StoreError::Corrupt(format!("unknown web session kind {kind:?}"))
                })?,
                store_id,
                phone,
                customer_id,
                expires_at,
            })
        })
        .transpose()
    }

    fn erase_request(&mut self, customer_id: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached("SELECT requested_at FROM erase_requests WHERE customer_id = ?1")?
            .query_row([customer_id], |r| time_col(r, 0))
            .optional()?)
    }

    fn open_erase_requests(&mut self) -> Result<Vec<EraseRequest>, StoreError> {
        all(self
            .conn()
            .prepare_cached(
                "SELECT r.customer_id, r.store_id, r.requested_at FROM erase_requests r
                 JOIN customers c ON c.id = r.customer_id
                 WHERE c.erased_at IS NULL AND c.merged_into IS NULL
                 ORDER BY r.requested_at, r.customer_id",
            )?
            .query_map([], |r| {
                Ok(EraseRequest {
                    customer_id: r.get(0)?,
                    store_id: r.get(1)?,
                    requested_at: time_col(r, 2)?,
                })
            })?)
    }
}

impl SelfRegTx for SqliteTx<'_> {
    fn web_sms_usage(
        &mut self,
        client_hash: &[u8],
        since: DateTime<Utc>,
    ) -> Result<WebSmsUsage, StoreError> {
        // BEGIN IMMEDIATE already made this transaction the only writer.
        let client = all(self
            .conn
            .prepare_cached(
                "SELECT at FROM web_sms_sends WHERE client_hash = ?1 AND at > ?2 ORDER BY at",
            )?
            .query_map(params![client_hash, ts(since)], |r| time_col(r, 0))?)?;
        let everyone = all(self
            .conn
            .prepare_cached("SELECT at FROM web_sms_sends WHERE at > ?1 ORDER BY at")?
            .query_map([ts(since)], |r| time_col(r, 0))?)?;
        Ok(WebSmsUsage {
            client,
            all: everyone,
        })
    }

    fn insert_web_sms_send(
        &mut self,
        client_hash: &[u8],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("INSERT INTO web_sms_sends (client_hash, at) VALUES (?1, ?2)")?
            .execute(params![client_hash, ts(at)])?;
        Ok(())
    }

    fn prune_web(
        &mut self,
        sends_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let sends = self
            .conn
            .prepare_cached("DELETE FROM web_sms_sends WHERE at <= ?1")?
            .execute([ts(sends_before)])?;
        let sessions = self
            .conn
            .prepare_cached("DELETE FROM web_sessions WHERE expires_at <= ?1")?
            .execute([ts(now)])?;
        Ok((sends + sessions) as u64)
    }

    fn next_web_seq(&mut self, terminal_id: &str) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "INSERT INTO web_terminals (id, last_seq) VALUES (?1, 1)
                 ON CONFLICT (id) DO UPDATE SET last_seq = last_seq + 1
                 RETURNING last_seq",
            )?
            .query_row([terminal_id], |r| r.get(0))?)
    }

    fn insert_web_session(&mut self, s: &NewWebSession<'_>) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO web_sessions
                     (token_hash, kind, store_id, phone, customer_id, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                s.token_hash,
                s.kind.name(),
                s.store_id,
                s.phone,
                s.customer_id,
                ts(s.created_at),
                ts(s.expires_at),
            ])?;
        Ok(())
    }

    fn delete_web_session(&mut self, token_hash: &[u8]) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("DELETE FROM web_sessions WHERE token_hash = ?1")?
            .execute([token_hash])?;
        Ok(())
    }

    fn insert_erase_request(
        &mut self,
        customer_id: &str,
        store_id: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let n = self
            .conn
            .prepare_cached(
                "INSERT INTO erase_requests (customer_id, store_id, requested_at)
                 VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            )?
            .execute(params![customer_id, store_id, ts(at)])?;
        Ok(n == 1)
    }
}
