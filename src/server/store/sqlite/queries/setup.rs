//! The store interface in SQLite's SQL for the chain's setup: rules, stores and their
//! lookup keys, cashiers, enrollment codes, terminals and their cashier-code lockout.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{Conn, SqliteTx, opt_time_col};
use crate::protocol::server::Role;
use crate::server::store::*;
use crate::sqlite::ts;

pub(super) const STORE_COLUMNS: &str = "id, name, utc_offset_minutes, address, time_zone";

pub(super) fn store_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoreRow> {
    Ok(StoreRow {
        id: r.get(0)?,
        name: r.get(1)?,
        utc_offset_minutes: r.get(2)?,
        address: r.get(3)?,
        time_zone: r.get(4)?,
    })
}

impl<T: Conn> SetupRead for T {
    fn newest_rules(&mut self) -> Result<Option<(i64, String)>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT version, text FROM rules WHERE version = COALESCE(
                    (SELECT version FROM rules_activations ORDER BY seq DESC LIMIT 1),
                    (SELECT MAX(version) FROM rules))",
            )?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    fn store(&mut self, id: &str) -> Result<Option<StoreRow>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached(&format!("SELECT {STORE_COLUMNS} FROM stores WHERE id = ?1"))?
            .query_row([id], store_row)
            .optional()?)
    }

    fn lookup_key(&mut self, store_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached("SELECT key FROM lookup_keys WHERE store_id = ?1")?
            .query_row([store_id], |r| r.get(0))
            .optional()?)
    }

    fn terminal_by_token(&mut self, token_hash: &[u8]) -> Result<Option<TerminalAuth>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT id, store_id, revoked_at IS NOT NULL FROM terminals WHERE token_hash = ?1",
            )?
            .query_row([token_hash], |r| {
                Ok(TerminalAuth {
                    id: r.get(0)?,
                    store_id: r.get(1)?,
                    revoked: r.get(2)?,
                })
            })
            .optional()?)
    }

    fn cashiers(&mut self, store_id: &str) -> Result<Vec<CashierRow>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT id, name, role, code_salt, code_hash FROM cashiers
             WHERE store_id = ?1 AND active = 1 ORDER BY id",
        )?;
        let rows = stmt.query_map([store_id], |r| {
            Ok(CashierRow {
                id: r.get(0)?,
                name: r.get(1)?,
                role: role_from_name(&r.get::<_, String>(2)?),
                code_salt: r.get(3)?,
                code_hash: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn cashier_role(
        &mut self,
        store_id: &str,
        cashier_id: i64,
    ) -> Result<Option<Role>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT role FROM cashiers WHERE id = ?1 AND store_id = ?2 AND active = 1",
            )?
            .query_row(params![cashier_id, store_id], |r| r.get::<_, String>(0))
            .optional()?
            .map(|r| role_from_name(&r)))
    }
}

impl SetupTx for SqliteTx<'_> {
    fn insert_rules(
        &mut self,
        version: i64,
        text: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO rules (version, text, loaded_at) VALUES (?1, ?2, ?3)",
            params![version, text, ts(at)],
        )?;
        Ok(())
    }

    fn insert_store(
        &mut self,
        store: &StoreRow,
        lookup_key: &[u8],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO stores (id, name, utc_offset_minutes, created_at, address, time_zone)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                store.id,
                store.name,
                store.utc_offset_minutes,
                ts(at),
                store.address,
                store.time_zone
            ],
        )?;
        self.conn.execute(
            "INSERT INTO lookup_keys (store_id, key) VALUES (?1, ?2)",
            params![store.id, lookup_key],
        )?;
        Ok(())
    }

    fn insert_cashier(
        &mut self,
        store_id: &str,
        name: &str,
        role: Role,
        code_salt: &[u8],
        code_hash: &[u8],
    ) -> Result<i64, StoreError> {
        self.conn.execute(
            "INSERT INTO cashiers (store_id, name, role, code_salt, code_hash) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![store_id, name, role_name(role), code_salt, code_hash],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    fn insert_enrollment_code(
        &mut self,
        code_hash: &[u8],
        store_id: &str,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO enrollment_codes (code_hash, store_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
            params![code_hash, store_id, ts(at), ts(expires_at)],
        )?;
        Ok(())
    }

    fn claim_enrollment_code(
        &mut self,
        code_hash: &[u8],
        terminal_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "UPDATE enrollment_codes SET used_at = ?1, terminal_id = ?2
                 WHERE code_hash = ?3 AND used_at IS NULL AND expires_at > ?1
                 RETURNING store_id",
                params![ts(now), terminal_id, code_hash],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn insert_terminal(&mut self, t: &NewTerminal<'_>) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO terminals (id, store_id, name, token_hash, enrolled_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![t.id, t.store_id, t.name, t.token_hash, ts(t.enrolled_at)],
        )?;
        Ok(())
    }

    fn revoke_terminal(&mut self, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        Ok(self.conn.execute(
            "UPDATE terminals SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL",
            params![ts(at), id],
        )? == 1)
    }

    fn login_state(&mut self, terminal_id: &str) -> Result<LoginState, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT login_failures, login_locked_until FROM terminals WHERE id = ?1",
            )?
            .query_row([terminal_id], |r| {
                Ok(LoginState {
                    failures: r.get(0)?,
                    locked_until: opt_time_col(r, 1)?,
                })
            })
            .optional()?
            .unwrap_or_default())
    }

    fn set_login_state(&mut self, terminal_id: &str, s: LoginState) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE terminals SET login_failures = ?1, login_locked_until = ?2 WHERE id = ?3",
            params![s.failures, s.locked_until.map(ts), terminal_id],
        )?;
        Ok(())
    }
}
