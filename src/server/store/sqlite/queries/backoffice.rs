//! The store interface in SQLite's SQL for the back office: accounts, sessions, the audit
//! log, stores and staff, the terminals' reports, rules versions and their activations.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};

use super::setup::{STORE_COLUMNS, store_row};
use super::{Conn, SqliteTx, all, opt_time_col, time_col};
use crate::protocol::server::Role;
use crate::server::store::*;
use crate::sqlite::ts;

const ACCOUNT_COLUMNS: &str = "a.id, a.email, a.role, a.password, a.must_change, a.failed_tries,
    a.locks, a.locked_until, a.active,
    (SELECT group_concat(store_id, char(31)) FROM
        (SELECT store_id FROM admin_account_stores s WHERE s.account_id = a.id ORDER BY store_id))";

fn account(r: &Row<'_>) -> rusqlite::Result<AccountRow> {
    let role: String = r.get(2)?;
    let stores: Option<String> = r.get(9)?;
    Ok(AccountRow {
        id: r.get(0)?,
        email: r.get(1)?,
        role: AccountRole::parse(&role).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                2,
                rusqlite::types::Type::Text,
                format!("unknown account role {role:?}").into(),
            )
        })?,
        password: r.get(3)?,
        must_change: r.get(4)?,
        failed_tries: r.get(5)?,
        locks: r.get(6)?,
        locked_until: opt_time_col(r, 7)?,
        active: r.get(8)?,
        stores: stores
            .map(|s| s.split('\u{1f}').map(str::to_string).collect())
            .unwrap_or_default(),
    })
}

const STAFF_COLUMNS: &str = "id, store_id, name, role, active";

fn staff(r: &Row<'_>) -> rusqlite::Result<StaffRow> {
    Ok(StaffRow {
        id: r.get(0)?,
        store_id: r.get(1)?,
        name: r.get(2)?,
        role: role_from_name(&r.get::<_, String>(3)?),
        active: r.get(4)?,
    })
}

fn terminal(r: &Row<'_>) -> rusqlite::Result<TerminalRow> {
    Ok(TerminalRow {
        id: r.get(0)?,
        store_id: r.get(1)?,
        name: r.get(2)?,
        enrolled_at: time_col(r, 3)?,
        revoked_at: opt_time_col(r, 4)?,
        app_version: r.get(5)?,
        last_sync_at: opt_time_col(r, 6)?,
        queue_length: r.get(7)?,
        oldest_queued_at: opt_time_col(r, 8)?,
        login_locked_until: opt_time_col(r, 9)?,
    })
}

fn audit(r: &Row<'_>) -> rusqlite::Result<AdminAuditRow> {
    Ok(AdminAuditRow {
        at: time_col(r, 0)?,
        account_id: r.get(1)?,
        actor: r.get(2)?,
        action: r.get(3)?,
        target: r.get(4)?,
        store_id: r.get(5)?,
        before: r.get(6)?,
        after: r.get(7)?,
    })
}

const PROFILE_COLUMNS: &str = "c.middle_name, c.gender, c.email, c.store_id, c.terminal_id, c.cashier, c.erased_at, c.merged_into";

fn profile(r: &Row<'_>) -> rusqlite::Result<CustomerProfile> {
    let at = CUSTOMER_WIDTH;
    Ok(CustomerProfile {
        customer: super::customer(r)?,
        middle_name: r.get(at)?,
        gender: r.get(at + 1)?,
        email: r.get(at + 2)?,
        store_id: r.get(at + 3)?,
        terminal_id: r.get(at + 4)?,
        cashier: r.get(at + 5)?,
        erased_at: opt_time_col(r, at + 6)?,
        merged_into: r.get(at + 7)?,
    })
}

impl<T: Conn> BackofficeRead for T {
    fn search_customers(
        &mut self,
        by: CustomerSearch<'_>,
        limit: i64,
    ) -> Result<Vec<Customer>, StoreError> {
        let live = "c.erased_at IS NULL AND c.merged_into IS NULL";
        match by {
            CustomerSearch::Phone(p) | CustomerSearch::Card(p) => {
                let column = if matches!(by, CustomerSearch::Phone(_)) {
                    "c.phone"
                } else {
                    "c.card_number"
                };
                let mut stmt = self.conn().prepare_cached(&format!(
                    "SELECT {CUSTOMER_COLUMNS} FROM customers c
                     WHERE {column} = ?1 AND {live} ORDER BY c.id LIMIT ?2"
                ))?;
                all(stmt.query_map(params![p, limit], super::customer)?)
            }
            CustomerSearch::Name(spellings) => {
                let list = serde_json::to_string(spellings)
                    .map_err(|e| StoreError::Other(e.to_string()))?;
                let mut stmt = self.conn().prepare_cached(&format!(
                    "SELECT {CUSTOMER_COLUMNS} FROM customers c
                     WHERE {live} AND EXISTS (SELECT 1 FROM json_each(?1) s
                         WHERE instr(COALESCE(c.last_name, ''), s.value) > 0
                            OR instr(COALESCE(c.first_name, ''), s.value) > 0
                            OR instr(COALESCE(c.middle_name, ''), s.value) > 0)
                     ORDER BY c.last_name, c.first_name, c.id LIMIT ?2"
                ))?;
                all(stmt.query_map(params![list, limit], super::customer)?)
            }
        }
    }

    fn customer_profile(&mut self, id: &str) -> Result<Option<CustomerProfile>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached(&format!(
                "SELECT {CUSTOMER_COLUMNS}, {PROFILE_COLUMNS} FROM customers c WHERE c.id = ?1"
            ))?
            .query_row([id], profile)
            .optional()?)
    }

    fn blocked_cards(&mut self, customer_id: &str) -> Result<Vec<BlockedCard>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT card_number, blocked_at, reason FROM blocked_cards
             WHERE customer_id = ?1 ORDER BY blocked_at, card_number",
        )?;
        all(stmt.query_map([customer_id], |r| {
            Ok(BlockedCard {
                card_number: r.get(0)?,
                blocked_at: time_col(r, 1)?,
                reason: r.get(2)?,
            })
        })?)
    }

    fn card_blocked(&mut self, card_number: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn()
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM blocked_cards WHERE card_number = ?1)")?
            .query_row([card_number], |r| r.get(0))?)
    }

    fn account(&mut self, id: i64) -> Result<Option<AccountRow>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached(&format!(
                "SELECT {ACCOUNT_COLUMNS} FROM admin_accounts a WHERE a.id = ?1"
            ))?
            .query_row([id], account)
            .optional()?)
    }

    fn account_by_email(&mut self, email: &str) -> Result<Option<AccountRow>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached(&format!(
                "SELECT {ACCOUNT_COLUMNS} FROM admin_accounts a WHERE a.email = ?1"
            ))?
            .query_row([email], account)
            .optional()?)
    }

    fn accounts(&mut self) -> Result<Vec<AccountRow>, StoreError> {
        let mut stmt = self.conn().prepare_cached(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM admin_accounts a ORDER BY a.email"
        ))?;
        all(stmt.query_map([], account)?)
    }

    fn session_account(
        &mut self,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Option<AccountRow>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached(&format!(
                "SELECT {ACCOUNT_COLUMNS} FROM admin_sessions z
                 JOIN admin_accounts a ON a.id = z.account_id
                 WHERE z.token_hash = ?1 AND z.expires_at > ?2 AND a.active = 1"
            ))?
            .query_row(params![token_hash, ts(now)], account)
            .optional()?)
    }

    fn stores(&mut self) -> Result<Vec<StoreRow>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare_cached(&format!("SELECT {STORE_COLUMNS} FROM stores ORDER BY id"))?;
        all(stmt.query_map([], store_row)?)
    }

    fn staff(&mut self, store_id: Option<&str>) -> Result<Vec<StaffRow>, StoreError> {
        let mut stmt = self.conn().prepare_cached(&format!(
            "SELECT {STAFF_COLUMNS} FROM cashiers
             WHERE ?1 IS NULL OR store_id = ?1 ORDER BY id"
        ))?;
        all(stmt.query_map([store_id], staff)?)
    }

    fn staff_member(&mut self, id: i64) -> Result<Option<StaffRow>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached(&format!(
                "SELECT {STAFF_COLUMNS} FROM cashiers WHERE id = ?1"
            ))?
            .query_row([id], staff)
            .optional()?)
    }

    fn terminals(&mut self, store_id: Option<&str>) -> Result<Vec<TerminalRow>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT id, store_id, name, enrolled_at, revoked_at, app_version, last_sync_at,
                    queue_length, oldest_queued_at, login_locked_until
             FROM terminals WHERE ?1 IS NULL OR store_id = ?1 ORDER BY store_id, name, id",
        )?;
        all(stmt.query_map([store_id], terminal)?)
    }

    fn rules_versions(&mut self) -> Result<Vec<RulesVersionRow>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT r.version, r.loaded_at, r.uploaded_by, r.comment,
                (SELECT a.at FROM rules_activations a WHERE a.version = r.version
                  ORDER BY a.seq DESC LIMIT 1),
                (SELECT a.actor FROM rules_activations a WHERE a.version = r.version
                  ORDER BY a.seq DESC LIMIT 1),
                r.version = COALESCE(
                    (SELECT version FROM rules_activations ORDER BY seq DESC LIMIT 1),
                    (SELECT MAX(version) FROM rules))
             FROM rules r ORDER BY r.version DESC",
        )?;
        all(stmt.query_map([], |r| {
            Ok(RulesVersionRow {
                version: r.get(0)?,
                loaded_at: time_col(r, 1)?,
                uploaded_by: r.get(2)?,
                comment: r.get(3)?,
                activated_at: opt_time_col(r, 4)?,
                activated_by: r.get(5)?,
                active: r.get(6)?,
            })
        })?)
    }

    fn rules_text(&mut self, version: i64) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached("SELECT text FROM rules WHERE version = ?1")?
            .query_row([version], |r| r.get(0))
            .optional()?)
    }

    fn admin_audit(
        &mut self,
        stores: Option<&[String]>,
        limit: i64,
    ) -> Result<Vec<AdminAuditRow>, StoreError> {
        let columns = "at, account_id, actor, action, target, store_id, before, after";
        match stores {
            None => {
                let mut stmt = self.conn().prepare_cached(&format!(
                    "SELECT {columns} FROM admin_audit ORDER BY at DESC, id DESC LIMIT ?1"
                ))?;
                all(stmt.query_map([limit], audit)?)
            }
            Some(stores) => {
                let list =
                    serde_json::to_string(stores).map_err(|e| StoreError::Other(e.to_string()))?;
                let mut stmt = self.conn().prepare_cached(&format!(
                    "SELECT {columns} FROM admin_audit
                     WHERE store_id IN (SELECT value FROM json_each(?1))
                     ORDER BY at DESC, id DESC LIMIT ?2"
                ))?;
                all(stmt.query_map(params![list, limit], audit)?)
            }
        }
    }
}

impl BackofficeTx for SqliteTx<'_> {
    fn set_questionnaire(&mut self, id: &str, q: &QuestionnaireRow) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE customers SET last_name = ?1, first_name = ?2, middle_name = ?3, gender = ?4,
                birth_date = ?5, email = ?6 WHERE id = ?7",
            params![
                q.last_name,
                q.first_name,
                q.middle_name,
                q.gender,
                q.birth_date.map(|d| d.format("%Y-%m-%d").to_string()),
                q.email,
                id
            ],
        )?;
        Ok(())
    }

    fn block_card(
        &mut self,
        customer_id: &str,
        card_number: &str,
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO blocked_cards (card_number, customer_id, blocked_at, reason)
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (card_number) DO NOTHING",
            params![card_number, customer_id, ts(at), reason],
        )?;
        self.conn.execute(
            "UPDATE customers SET card_number = NULL WHERE id = ?1 AND card_number = ?2",
            params![customer_id, card_number],
        )?;
        Ok(())
    }

    fn set_card_number(
        &mut self,
        customer_id: &str,
        card_number: &str,
    ) -> Result<bool, StoreError> {
        Ok(self.conn.execute(
            "UPDATE customers SET card_number = ?1 WHERE id = ?2
               AND NOT EXISTS (SELECT 1 FROM customers o WHERE o.card_number = ?1)",
            params![card_number, customer_id],
        )? == 1)
    }

    fn erase_customer(&mut self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn.execute(
            "DELETE FROM sms_codes WHERE phone = (SELECT phone FROM customers WHERE id = ?1)",
            [id],
        )?;
        self.conn.execute(
            "DELETE FROM verifications WHERE phone = (SELECT phone FROM customers WHERE id = ?1)",
            [id],
        )?;
        self.conn.execute(
            "UPDATE customers SET phone = 'erased:' || id, card_number = NULL, last_name = NULL,
                first_name = NULL, middle_name = NULL, gender = NULL, birth_date = NULL,
                email = NULL, cashier = NULL, phone_verified = 0, consent_processing = 0,
                consent_advertising = 0, erased_at = ?2
             WHERE id = ?1",
            params![id, ts(at)],
        )?;
        Ok(())
    }

    fn merge_customers(&mut self, from: &str, into: &str) -> Result<(), StoreError> {
        for table in [
            "bonus_batches",
            "ledger_entries",
            "purchases",
            "sales",
            "consents",
            "holds",
            "audit_events",
        ] {
            self.conn.execute(
                &format!("UPDATE {table} SET customer_id = ?2 WHERE customer_id = ?1"),
                params![from, into],
            )?;
        }
        // A birthday granted to both in one year stays granted once.
        self.conn.execute(
            "DELETE FROM birthday_grants WHERE customer_id = ?1
               AND year IN (SELECT year FROM birthday_grants WHERE customer_id = ?2)",
            params![from, into],
        )?;
        self.conn.execute(
            "UPDATE birthday_grants SET customer_id = ?2 WHERE customer_id = ?1",
            params![from, into],
        )?;
        self.conn.execute(
            "UPDATE customers SET referrer_id = CASE WHEN id = ?2 THEN NULL ELSE ?2 END
             WHERE referrer_id = ?1",
            params![from, into],
        )?;
        self.conn.execute(
            "UPDATE customers SET bonus_total = bonus_total +
                (SELECT bonus_total FROM customers WHERE id = ?1) WHERE id = ?2",
            params![from, into],
        )?;
        self.conn.execute(
            "UPDATE customers SET bonus_total = 0, phone = 'merged:' || id, card_number = NULL,
                last_name = NULL, first_name = NULL, middle_name = NULL, gender = NULL,
                birth_date = NULL, email = NULL, phone_verified = 0, merged_into = ?2,
                erased_at = NULL
             WHERE id = ?1",
            params![from, into],
        )?;
        Ok(())
    }

    fn insert_account(&mut self, a: &NewAccount<'_>) -> Result<Option<i64>, StoreError> {
        let n = self.conn.execute(
            "INSERT INTO admin_accounts (email, role, password, must_change, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (email) DO NOTHING",
            params![a.email, a.role.name(), a.password, a.must_change, ts(a.at)],
        )?;
        Ok((n == 1).then(|| self.conn.last_insert_rowid()))
    }

    fn set_account_password(
        &mut self,
        id: i64,
        password: &str,
        must_change: bool,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE admin_accounts SET password = ?1, must_change = ?2 WHERE id = ?3",
            params![password, must_change, id],
        )?;
        Ok(())
    }

    fn set_account_lock(&mut self, id: i64, lock: AccountLock) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE admin_accounts SET failed_tries = ?1, locks = ?2, locked_until = ?3
             WHERE id = ?4",
            params![lock.failed_tries, lock.locks, lock.locked_until.map(ts), id],
        )?;
        Ok(())
    }

    fn set_account_active(&mut self, id: i64, active: bool) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE admin_accounts SET active = ?1 WHERE id = ?2",
            params![active, id],
        )?;
        Ok(())
    }

    fn set_account_stores(&mut self, id: i64, stores: &[String]) -> Result<(), StoreError> {
        self.conn.execute(
            "DELETE FROM admin_account_stores WHERE account_id = ?1",
            [id],
        )?;
        for s in stores {
            self.conn.execute(
                "INSERT INTO admin_account_stores (account_id, store_id) VALUES (?1, ?2)
                 ON CONFLICT DO NOTHING",
                params![id, s],
            )?;
        }
        Ok(())
    }

    fn insert_session(
        &mut self,
        token_hash: &[u8],
        account_id: i64,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO admin_sessions (token_hash, account_id, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4)",
            params![token_hash, account_id, ts(at), ts(expires_at)],
        )?;
        Ok(())
    }

    fn delete_session(&mut self, token_hash: &[u8]) -> Result<(), StoreError> {
        self.conn.execute(
            "DELETE FROM admin_sessions WHERE token_hash = ?1",
            [token_hash],
        )?;
        Ok(())
    }

    fn delete_sessions_of(&mut self, account_id: i64) -> Result<(), StoreError> {
        self.conn.execute(
            "DELETE FROM admin_sessions WHERE account_id = ?1",
            [account_id],
        )?;
        Ok(())
    }

    fn prune_sessions(&mut self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(self.conn.execute(
            "DELETE FROM admin_sessions WHERE expires_at <= ?1",
            [ts(before)],
        )? as u64)
    }

    fn insert_admin_audit(&mut self, a: &NewAdminAudit<'_>) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO admin_audit (at, account_id, actor, action, target, store_id, before, after)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                ts(a.at),
                a.account_id,
                a.actor,
                a.action,
                a.target,
                a.store_id,
                a.before,
                a.after
            ],
        )?;
        Ok(())
    }

    fn update_store(&mut self, s: &StoreRow) -> Result<bool, StoreError> {
        Ok(self.conn.execute(
            "UPDATE stores SET name = ?1, address = ?2, time_zone = ?3, utc_offset_minutes = ?4
             WHERE id = ?5",
            params![s.name, s.address, s.time_zone, s.utc_offset_minutes, s.id],
        )? == 1)
    }

    fn set_staff_name_role(&mut self, id: i64, name: &str, role: Role) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE cashiers SET name = ?1, role = ?2 WHERE id = ?3",
            params![name, role_name(role), id],
        )?;
        Ok(())
    }

    fn set_staff_code(&mut self, id: i64, salt: &[u8], hash: &[u8]) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE cashiers SET code_salt = ?1, code_hash = ?2 WHERE id = ?3",
            params![salt, hash, id],
        )?;
        Ok(())
    }

    fn set_staff_active(&mut self, id: i64, active: bool) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE cashiers SET active = ?1 WHERE id = ?2",
            params![active, id],
        )?;
        Ok(())
    }

    fn report_terminal(&mut self, id: &str, r: &TerminalReport<'_>) -> Result<bool, StoreError> {
        Ok(self.conn.execute(
            "UPDATE terminals SET app_version = ?1, queue_length = ?2, oldest_queued_at = ?3,
                last_sync_at = ?4 WHERE id = ?5",
            params![
                r.app_version,
                r.queue_length,
                r.oldest_queued_at.map(ts),
                ts(r.at),
                id
            ],
        )? == 1)
    }

    fn insert_rules_version(&mut self, r: &NewRulesVersion<'_>) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO rules (version, text, loaded_at, uploaded_by, comment)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![r.version, r.text, ts(r.at), r.uploaded_by, r.comment],
        )?;
        Ok(())
    }

    fn activate_rules(
        &mut self,
        version: i64,
        at: DateTime<Utc>,
        actor: &str,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO rules_activations (version, at, actor) VALUES (?1, ?2, ?3)",
            params![version, ts(at), actor],
        )?;
        Ok(())
    }
}
