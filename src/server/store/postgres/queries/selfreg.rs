//! The store interface in PostgreSQL's SQL for the customer's own page: its SMS sends, the
//! browsers' sessions, the web pseudo-terminals' sequences and the erase requests.

use chrono::{DateTime, Utc};

use super::{Conn, PgRead, PgTx, col};
use crate::server::store::*;

impl_reads! {
impl SelfRegRead {
    fn web_session(
        &mut self,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Option<WebSession>, StoreError> {
        self.session()
            .query_opt(
                "SELECT kind, store_id, phone, customer_id, expires_at FROM web_sessions
                 WHERE token_hash = $1 AND expires_at > $2",
                &[&token_hash, &now],
            )?
            .map(|r| {
                let kind: String = col(&r, 0)?;
                Ok(WebSession {
                    kind: WebSessionKind::parse(&kind).ok_or_else(|| {
                        StoreError::Corrupt(format!("unknown web session kind {kind:?}"))
                    })?,
                    store_id: col(&r, 1)?,
                    phone: col(&r, 2)?,
                    customer_id: col(&r, 3)?,
                    expires_at: col(&r, 4)?,
                })
            })
            .transpose()
    }

    fn erase_request(&mut self, customer_id: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.session()
            .query_opt(
                "SELECT requested_at FROM erase_requests WHERE customer_id = $1",
                &[&customer_id],
            )?
            .map(|r| col(&r, 0))
            .transpose()
    }

    fn open_erase_requests(&mut self) -> Result<Vec<EraseRequest>, StoreError> {
        self.session()
            .query(
                "SELECT r.customer_id, r.store_id, r.requested_at FROM erase_requests r
                 JOIN customers c ON c.id = r.customer_id
                 WHERE c.erased_at IS NULL AND c.merged_into IS NULL
                 ORDER BY r.requested_at, r.customer_id",
                &[],
            )?
            .iter()
            .map(|r| {
                Ok(EraseRequest {
                    customer_id: col(r, 0)?,
                    store_id: col(r, 1)?,
                    requested_at: col(r, 2)?,
                })
            })
            .collect()
    }
}
}

impl SelfRegTx for PgTx<'_> {
    fn web_sms_usage(
        &mut self,
        client_hash: &[u8],
        since: DateTime<Utc>,
    ) -> Result<WebSmsUsage, StoreError> {
        // One lock for every send of the page: they are few, and the global cap needs
        // them in one order anyway.
        if self
            .s
            .query_opt("SELECT id FROM web_sms_lock WHERE id = 1 FOR UPDATE", &[])?
            .is_none()
        {
            return Err(StoreError::Corrupt(
                "the row of web_sms_lock is missing".into(),
            ));
        }
        let times = |rows: Vec<tokio_postgres::Row>| -> Result<Vec<DateTime<Utc>>, StoreError> {
            rows.iter().map(|r| col(r, 0)).collect()
        };
        let client = times(self.s.query(
            "SELECT at FROM web_sms_sends WHERE client_hash = $1 AND at > $2 ORDER BY at",
            &[&client_hash, &since],
        )?)?;
        let everyone = times(self.s.query(
            "SELECT at FROM web_sms_sends WHERE at > $1 ORDER BY at",
            &[&since],
        )?)?;
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
        self.s.execute(
            "INSERT INTO web_sms_sends (client_hash, at) VALUES ($1, $2)",
            &[&client_hash, &at],
        )?;
        Ok(())
    }

    fn prune_web(
        &mut self,
        sends_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let sends = self
            .s
            .execute("DELETE FROM web_sms_sends WHERE at <= $1", &[&sends_before])?;
        let sessions = self
            .s
            .execute("DELETE FROM web_sessions WHERE expires_at <= $1", &[&now])?;
        Ok(sends + sessions)
    }

    fn next_web_seq(&mut self, terminal_id: &str) -> Result<i64, StoreError> {
        let row = self.s.query_one(
            "INSERT INTO web_terminals (id, last_seq) VALUES ($1, 1)
             ON CONFLICT (id) DO UPDATE SET last_seq = web_terminals.last_seq + 1
             RETURNING last_seq",
            &[&terminal_id],
        )?;
        col(&row, 0)
    }

    fn insert_web_session(&mut self, s: &NewWebSession<'_>) -> Result<(), StoreError> {
        self.s.execute(
            "INSERT INTO web_sessions
                 (token_hash, kind, store_id, phone, customer_id, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &s.token_hash,
                &s.kind.name(),
                &s.store_id,
                &s.phone,
                &s.customer_id,
                &s.created_at,
                &s.expires_at,
            ],
        )?;
        Ok(())
    }

    fn delete_web_session(&mut self, token_hash: &[u8]) -> Result<(), StoreError> {
        self.s.execute(
            "DELETE FROM web_sessions WHERE token_hash = $1",
            &[&token_hash],
        )?;
        Ok(())
    }

    fn insert_erase_request(
        &mut self,
        customer_id: &str,
        store_id: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let n = self.s.execute(
            "INSERT INTO erase_requests (customer_id, store_id, requested_at)
             VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[&customer_id, &store_id, &at],
        )?;
        Ok(n == 1)
    }
}
