//! The store interface in PostgreSQL's SQL for the chain's setup: rules, stores and their
//! lookup keys, cashiers, enrollment codes, terminals and their cashier-code lockout.

use chrono::{DateTime, Utc};

use super::{Conn, PgRead, PgTx, col};
use crate::protocol::server::Role;
use crate::server::store::*;

pub(super) fn store_row(r: &tokio_postgres::Row) -> Result<StoreRow, StoreError> {
    Ok(StoreRow {
        id: col(r, 0)?,
        name: col(r, 1)?,
        utc_offset_minutes: col(r, 2)?,
        address: col(r, 3)?,
        time_zone: col(r, 4)?,
    })
}

impl_reads! {
impl SetupRead {
    fn newest_rules(&mut self) -> Result<Option<(i64, String)>, StoreError> {
        self.session()
            .query_opt(
                "SELECT version, text FROM rules WHERE version = COALESCE(
                    (SELECT version FROM rules_activations ORDER BY seq DESC LIMIT 1),
                    (SELECT MAX(version) FROM rules))",
                &[],
            )?
            .map(|r| Ok((col(&r, 0)?, col(&r, 1)?)))
            .transpose()
    }

    fn store(&mut self, id: &str) -> Result<Option<StoreRow>, StoreError> {
        self.session()
            .query_opt(
                "SELECT id, name, utc_offset_minutes, address, time_zone FROM stores WHERE id = $1",
                &[&id],
            )?
            .map(|r| store_row(&r))
            .transpose()
    }

    fn lookup_key(&mut self, store_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.session()
            .query_opt(
                "SELECT key FROM lookup_keys WHERE store_id = $1",
                &[&store_id],
            )?
            .map(|r| col(&r, 0))
            .transpose()
    }

    fn terminal_by_token(&mut self, token_hash: &[u8]) -> Result<Option<TerminalAuth>, StoreError> {
        self.session()
            .query_opt(
                "SELECT id, store_id, revoked_at IS NOT NULL FROM terminals WHERE token_hash = $1",
                &[&token_hash],
            )?
            .map(|r| {
                Ok(TerminalAuth {
                    id: col(&r, 0)?,
                    store_id: col(&r, 1)?,
                    revoked: col(&r, 2)?,
                })
            })
            .transpose()
    }

    fn cashiers(&mut self, store_id: &str) -> Result<Vec<CashierRow>, StoreError> {
        self.session()
            .query(
                "SELECT id, name, role, code_salt, code_hash FROM cashiers
                 WHERE store_id = $1 AND active ORDER BY id",
                &[&store_id],
            )?
            .iter()
            .map(|r| {
                Ok(CashierRow {
                    id: col(r, 0)?,
                    name: col(r, 1)?,
                    role: role_from_name(col(r, 2)?),
                    code_salt: col(r, 3)?,
                    code_hash: col(r, 4)?,
                })
            })
            .collect()
    }

    fn cashier_role(
        &mut self,
        store_id: &str,
        cashier_id: i64,
    ) -> Result<Option<Role>, StoreError> {
        self.session()
            .query_opt(
                "SELECT role FROM cashiers WHERE id = $1 AND store_id = $2 AND active",
                &[&cashier_id, &store_id],
            )?
            .map(|r| Ok(role_from_name(col(&r, 0)?)))
            .transpose()
    }
}
}

impl SetupTx for PgTx<'_> {
    fn insert_rules(
        &mut self,
        version: i64,
        text: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.s.execute(
            "INSERT INTO rules (version, text, loaded_at) VALUES ($1, $2, $3)",
            &[&version, &text, &at],
        )?;
        Ok(())
    }

    fn insert_store(
        &mut self,
        store: &StoreRow,
        lookup_key: &[u8],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.s.execute(
            "INSERT INTO stores (id, name, utc_offset_minutes, created_at, address, time_zone)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &store.id,
                &store.name,
                &store.utc_offset_minutes,
                &at,
                &store.address,
                &store.time_zone,
            ],
        )?;
        self.s.execute(
            "INSERT INTO lookup_keys (store_id, key) VALUES ($1, $2)",
            &[&store.id, &lookup_key],
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
        let row = self.s.query_one(
            "INSERT INTO cashiers (store_id, name, role, code_salt, code_hash)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
            &[&store_id, &name, &role_name(role), &code_salt, &code_hash],
        )?;
        col(&row, 0)
    }

    fn insert_enrollment_code(
        &mut self,
        code_hash: &[u8],
        store_id: &str,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.s.execute(
            "INSERT INTO enrollment_codes (code_hash, store_id, created_at, expires_at)
             VALUES ($1, $2, $3, $4)",
            &[&code_hash, &store_id, &at, &expires_at],
        )?;
        Ok(())
    }

    fn claim_enrollment_code(
        &mut self,
        code_hash: &[u8],
        terminal_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        // One conditional update: a second claimer waits for the first and then finds the
        // code used.
        self.s
            .query_opt(
                "UPDATE enrollment_codes SET used_at = $1, terminal_id = $2
                 WHERE code_hash = $3 AND used_at IS NULL AND expires_at > $1
                 RETURNING store_id",
                &[&now, &terminal_id, &code_hash],
            )?
            .map(|r| col(&r, 0))
            .transpose()
    }

    fn insert_terminal(&mut self, t: &NewTerminal<'_>) -> Result<(), StoreError> {
        self.s.execute(
            "INSERT INTO terminals (id, store_id, name, token_hash, enrolled_at)
             VALUES ($1, $2, $3, $4, $5)",
            &[&t.id, &t.store_id, &t.name, &t.token_hash, &t.enrolled_at],
        )?;
        Ok(())
    }

    fn revoke_terminal(&mut self, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        Ok(self.s.execute(
            "UPDATE terminals SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
            &[&at, &id],
        )? == 1)
    }

    fn login_state(&mut self, terminal_id: &str) -> Result<LoginState, StoreError> {
        let row = self.s.query_opt(
            "SELECT login_failures, login_locked_until FROM terminals WHERE id = $1 FOR UPDATE",
            &[&terminal_id],
        )?;
        match row {
            None => Ok(LoginState::default()),
            Some(r) => Ok(LoginState {
                failures: col(&r, 0)?,
                locked_until: col(&r, 1)?,
            }),
        }
    }

    fn set_login_state(&mut self, terminal_id: &str, s: LoginState) -> Result<(), StoreError> {
        self.s.execute(
            "UPDATE terminals SET login_failures = $1, login_locked_until = $2 WHERE id = $3",
            &[&s.failures, &s.locked_until, &terminal_id],
        )?;
        Ok(())
    }
}
