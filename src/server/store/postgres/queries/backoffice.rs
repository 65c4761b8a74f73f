//! The store interface in PostgreSQL's SQL for the back office: accounts, sessions, the
//! audit log, stores and staff, the terminals' reports, rules versions and their
//! activations.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use super::setup::store_row;
use super::{Conn, PgRead, PgTx, col};
use crate::protocol::server::Role;
use crate::server::store::*;

const ACCOUNT_COLUMNS: &str = "a.id, a.email, a.role, a.password, a.must_change, a.failed_tries,
    a.locks, a.locked_until, a.active,
    ARRAY(SELECT s.store_id FROM admin_account_stores s WHERE s.account_id = a.id
          ORDER BY s.store_id)";

fn account(r: &Row) -> Result<AccountRow, StoreError> {
    let role: String = col(r, 2)?;
    Ok(AccountRow {
        id: col(r, 0)?,
        email: col(r, 1)?,
        role: AccountRole::parse(&role)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown account role {role:?}")))?,
        password: col(r, 3)?,
        must_change: col(r, 4)?,
        failed_tries: col(r, 5)?,
        locks: col(r, 6)?,
        locked_until: col(r, 7)?,
        active: col(r, 8)?,
        stores: col(r, 9)?,
    })
}

const STAFF_COLUMNS: &str = "id, store_id, name, role, active";

fn staff(r: &Row) -> Result<StaffRow, StoreError> {
    Ok(StaffRow {
        id: col(r, 0)?,
        store_id: col(r, 1)?,
        name: col(r, 2)?,
        role: role_from_name(col(r, 3)?),
        active: col(r, 4)?,
    })
}

fn terminal(r: &Row) -> Result<TerminalRow, StoreError> {
    Ok(TerminalRow {
        id: col(r, 0)?,
        store_id: col(r, 1)?,
        name: col(r, 2)?,
        enrolled_at: col(r, 3)?,
        revoked_at: col(r, 4)?,
        app_version: col(r, 5)?,
        last_sync_at: col(r, 6)?,
        queue_length: col(r, 7)?,
        oldest_queued_at: col(r, 8)?,
        login_locked_until: col(r, 9)?,
    })
}

fn audit(r: &Row) -> Result<AdminAuditRow, StoreError> {
    Ok(AdminAuditRow {
        at: col(r, 0)?,
        account_id: col(r, 1)?,
        actor: col(r, 2)?,
        action: col(r, 3)?,
        target: col(r, 4)?,
        store_id: col(r, 5)?,
        before: col(r, 6)?,
        after: col(r, 7)?,
    })
}

const PROFILE_COLUMNS: &str = "c.middle_name, c.gender, c.email, c.store_id, c.terminal_id, c.cashier, c.erased_at, c.merged_into";

fn profile(r: &Row) -> Result<CustomerProfile, StoreError> {
    let at = CUSTOMER_WIDTH;
    Ok(CustomerProfile {
        customer: super::customer(r)?,
        middle_name: col(r, at)?,
        gender: col(r, at + 1)?,
        email: col(r, at + 2)?,
        store_id: col(r, at + 3)?,
        terminal_id: col(r, at + 4)?,
        cashier: col(r, at + 5)?,
        erased_at: col(r, at + 6)?,
        merged_into: col(r, at + 7)?,
    })
}

impl_reads! {
impl BackofficeRead {
    fn search_customers(
        &mut self,
        by: CustomerSearch<'_>,
        limit: i64,
    ) -> Result<Vec<Customer>, StoreError> {
        let live = "c.erased_at IS NULL AND c.merged_into IS NULL";
        let rows = match by {
            CustomerSearch::Phone(p) => self.session().query(
                &format!(
                    "SELECT {CUSTOMER_COLUMNS} FROM customers c
                     WHERE c.phone = $1 AND {live} ORDER BY c.id LIMIT $2"
                ),
                &[&p, &limit],
            )?,
            CustomerSearch::Card(n) => self.session().query(
                &format!(
                    "SELECT {CUSTOMER_COLUMNS} FROM customers c
                     WHERE c.card_number = $1 AND {live} ORDER BY c.id LIMIT $2"
                ),
                &[&n, &limit],
            )?,
            CustomerSearch::Name(spellings) => self.session().query(
                &format!(
                    "SELECT {CUSTOMER_COLUMNS} FROM customers c
                     WHERE {live} AND EXISTS (SELECT 1 FROM unnest($1::text[]) s
                         WHERE strpos(COALESCE(c.last_name, ''), s) > 0
                            OR strpos(COALESCE(c.first_name, ''), s) > 0
                            OR strpos(COALESCE(c.middle_name, ''), s) > 0)
                     ORDER BY c.last_name COLLATE \"C\", c.first_name COLLATE \"C\", c.id
                     LIMIT $2"
                ),
                &[&spellings, &limit],
            )?,
        };
        rows.iter().map(super::customer).collect()
    }

    fn customer_profile(&mut self, id: &str) -> Result<Option<CustomerProfile>, StoreError> {
        self.session()
            .query_opt(
                &format!(
                    "SELECT {CUSTOMER_COLUMNS}, {PROFILE_COLUMNS} FROM customers c WHERE c.id = $1"
                ),
                &[&id],
            )?
            .map(|r| profile(&r))
            .transpose()
    }

    fn blocked_cards(&mut self, customer_id: &str) -> Result<Vec<BlockedCard>, StoreError> {
        self.session()
            .query(
                "SELECT card_number, blocked_at, reason FROM blocked_cards
                 WHERE customer_id = $1 ORDER BY blocked_at, card_number COLLATE \"C\"",
                &[&customer_id],
            )?
            .iter()
            .map(|r| {
                Ok(BlockedCard {
                    card_number: col(r, 0)?,
                    blocked_at: col(r, 1)?,
                    reason: col(r, 2)?,
                })
            })
            .collect()
    }

    fn card_blocked(&mut self, card_number: &str) -> Result<bool, StoreError> {
        let row = self.session().query_one(
            "SELECT EXISTS (SELECT 1 FROM blocked_cards WHERE card_number = $1)",
            &[&card_number],
        )?;
        col(&row, 0)
    }

    fn account(&mut self, id: i64) -> Result<Option<AccountRow>, StoreError> {
        self.session()
            .query_opt(
                &format!("SELECT {ACCOUNT_COLUMNS} FROM admin_accounts a WHERE a.id = $1"),
                &[&id],
            )?
            .map(|r| account(&r))
            .transpose()
    }

    fn account_by_email(&mut self, email: &str) -> Result<Option<AccountRow>, StoreError> {
        self.session()
            .query_opt(
                &format!("SELECT {ACCOUNT_COLUMNS} FROM admin_accounts a WHERE a.email = $1"),
                &[&email],
            )?
            .map(|r| account(&r))
            .transpose()
    }

    fn accounts(&mut self) -> Result<Vec<AccountRow>, StoreError> {
        self.session()
            .query(
                &format!("SELECT {ACCOUNT_COLUMNS} FROM admin_accounts a ORDER BY a.email"),
                &[],
            )?
            .iter()
            .map(account)
            .collect()
    }

    fn session_account(
        &mut self,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Option<AccountRow>, StoreError> {
        self.session()
            .query_opt(
                &format!(
                    "SELECT {ACCOUNT_COLUMNS} FROM admin_sessions z
                     JOIN admin_accounts a ON a.id = z.account_id
                     WHERE z.token_hash = $1 AND z.expires_at > $2 AND a.active"
                ),
                &[&token_hash, &now],
            )?
            .map(|r| account(&r))
            .transpose()
    }

    fn stores(&mut self) -> Result<Vec<StoreRow>, StoreError> {
        self.session()
            .query(
                "SELECT id, name, utc_offset_minutes, address, time_zone FROM stores ORDER BY id",
                &[],
            )?
            .iter()
            .map(store_row)
            .collect()
    }

    fn staff(&mut self, store_id: Option<&str>) -> Result<Vec<StaffRow>, StoreError> {
        self.session()
            .query(
                &format!(
                    "SELECT {STAFF_COLUMNS} FROM cashiers
                     WHERE $1::text IS NULL OR store_id = $1 ORDER BY id"
                ),
                &[&store_id],
            )?
            .iter()
            .map(staff)
            .collect()
    }

    fn staff_member(&mut self, id: i64) -> Result<Option<StaffRow>, StoreError> {
        self.session()
            .query_opt(
                &format!("SELECT {STAFF_COLUMNS} FROM cashiers WHERE id = $1"),
                &[&id],
            )?
            .map(|r| staff(&r))
            .transpose()
    }

    fn terminals(&mut self, store_id: Option<&str>) -> Result<Vec<TerminalRow>, StoreError> {
        self.session()
            .query(
                "SELECT id, store_id, name, enrolled_at, revoked_at, app_version, last_sync_at,
                        queue_length, oldest_queued_at, login_locked_until
                 FROM terminals WHERE $1::text IS NULL OR store_id = $1
                 ORDER BY store_id, name, id",
                &[&store_id],
            )?
            .iter()
            .map(terminal)
            .collect()
    }

    fn rules_versions(&mut self) -> Result<Vec<RulesVersionRow>, StoreError> {
        self.session()
            .query(
                "SELECT r.version, r.loaded_at, r.uploaded_by, r.comment, last.at, last.actor,
                    r.version = COALESCE(
                        (SELECT version FROM rules_activations ORDER BY seq DESC LIMIT 1),
                        (SELECT MAX(version) FROM rules))
                 FROM rules r
                 LEFT JOIN LATERAL (SELECT a.at, a.actor FROM rules_activations a
                     WHERE a.version = r.version ORDER BY a.seq DESC LIMIT 1) last ON true
                 ORDER BY r.version DESC",
                &[],
            )?
            .iter()
            .map(|r| {
                Ok(RulesVersionRow {
                    version: col(r, 0)?,
                    loaded_at: col(r, 1)?,
                    uploaded_by: col(r, 2)?,
                    comment: col(r, 3)?,
                    activated_at: col(r, 4)?,
                    activated_by: col(r, 5)?,
                    active: col(r, 6)?,
                })
            })
            .collect()
    }

    fn rules_text(&mut self, version: i64) -> Result<Option<String>, StoreError> {
        self.session()
            .query_opt("SELECT text FROM rules WHERE version = $1", &[&version])?
            .map(|r| col(&r, 0))
            .transpose()
    }

    fn admin_audit(
        &mut self,
        stores: Option<&[String]>,
        limit: i64,
    ) -> Result<Vec<AdminAuditRow>, StoreError> {
        let all = stores.is_none();
        let stores = stores.unwrap_or_default();
        self.session()
            .query(
                "SELECT at, account_id, actor, action, target, store_id, before, after
                 FROM admin_audit WHERE $1 OR store_id = ANY($2)
                 ORDER BY at DESC, id DESC LIMIT $3",
                &[&all, &stores, &limit],
            )?
            .iter()
            .map(audit)
            .collect()
    }
}
}

impl BackofficeTx for PgTx<'_> {
    fn set_questionnaire(&mut self, id: &str, q: &QuestionnaireRow) -> Result<(), StoreError> {
        self.s.execute(
            "UPDATE customers SET last_name = $1, first_name = $2, middle_name = $3, gender = $4,
                birth_date = $5, email = $6 WHERE id = $7",
            &[
                &q.last_name,
                &q.first_name,
                &q.middle_name,
                &q.gender,
                &q.birth_date,
                &q.email,
                &id,
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
        self.s.execute(
            "INSERT INTO blocked_cards (card_number, customer_id, blocked_at, reason)
             VALUES ($1, $2, $3, $4) ON CONFLICT (card_number) DO NOTHING",
            &[&card_number, &customer_id, &at, &reason],
        )?;
        self.s.execute(
            "UPDATE customers SET card_number = NULL WHERE id = $1 AND card_number = $2",
            &[&customer_id, &card_number],
        )?;
        Ok(())
    }

    fn set_card_number(
        &mut self,
        customer_id: &str,
        card_number: &str,
    ) -> Result<bool, StoreError> {
        // The unique key decides between two records racing for one number.
        Ok(self.s.execute(
            "UPDATE customers SET card_number = $1 WHERE id = $2
               AND NOT EXISTS (SELECT 1 FROM customers o WHERE o.card_number = $1)",
            &[&card_number, &customer_id],
        )? == 1)
    }

    fn erase_customer(&mut self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.s.execute(
            "DELETE FROM sms_codes WHERE phone = (SELECT phone FROM customers WHERE id = $1)",
            &[&id],
        )?;
        self.s.execute(
            "DELETE FROM verifications WHERE phone = (SELECT phone FROM customers WHERE id = $1)",
            &[&id],
        )?;
        self.s.execute(
            "UPDATE customers SET phone = 'erased:' || id, card_number = NULL, last_name = NULL,
                first_name = NULL, middle_name = NULL, gender = NULL, birth_date = NULL,
                email = NULL, cashier = NULL, phone_verified = false, consent_processing = false,
                consent_advertising = false, erased_at = $2
             WHERE id = $1",
            &[&id, &at],
        )?;
        Ok(())
    }

    fn merge_customers(&mut self, from: &str, into: &str) -> Result<(), StoreError> {
        // Rows keyed (customer_id, seq) take seqs after the last of `into`'s, in their
        // order: `into`'s ledger_seq moves past them.
        let row = self.s.query_one(
            "SELECT (SELECT ledger_seq FROM customers WHERE id = $2),
                    (SELECT ledger_seq FROM customers WHERE id = $1)",
            &[&from, &into],
        )?;
        let (offset, moved): (i64, i64) = (col(&row, 0)?, col(&row, 1)?);
        for table in ["bonus_batches", "ledger_entries", "purchases", "consents"] {
            self.s.execute(
                &format!(
                    "UPDATE {table} SET customer_id = $2, seq = seq + $3 WHERE customer_id = $1"
                ),
                &[&from, &into, &offset],
            )?;
        }
        for table in ["sales", "holds", "audit_events"] {
            self.s.execute(
                &format!("UPDATE {table} SET customer_id = $2 WHERE customer_id = $1"),
                &[&from, &into],
            )?;
        }
        self.s.execute(
            "DELETE FROM birthday_grants WHERE customer_id = $1
               AND year IN (SELECT year FROM birthday_grants WHERE customer_id = $2)",
            &[&from, &into],
        )?;
        self.s.execute(
            "UPDATE birthday_grants SET customer_id = $2 WHERE customer_id = $1",
            &[&from, &into],
        )?;
        self.s.execute(
            "UPDATE customers SET referrer_id = CASE WHEN id = $2 THEN NULL ELSE $2 END
             WHERE referrer_id = $1",
            &[&from, &into],
        )?;
        self.s.execute(
            "UPDATE customers SET ledger_seq = ledger_seq + $2,
                bonus_total = bonus_total + (SELECT bonus_total FROM customers WHERE id = $1)
             WHERE id = $3",
            &[&from, &moved, &into],
        )?;
        self.s.execute(
            "UPDATE customers SET bonus_total = 0, ledger_seq = 0, phone = 'merged:' || id,
                card_number = NULL, last_name = NULL, first_name = NULL, middle_name = NULL,
                gender = NULL, birth_date = NULL, email = NULL, phone_verified = false,
                merged_into = $2, erased_at = NULL
             WHERE id = $1",
            &[&from, &into],
        )?;
        Ok(())
    }

    fn insert_account(&mut self, a: &NewAccount<'_>) -> Result<Option<i64>, StoreError> {
        self.s
            .query_opt(
                "INSERT INTO admin_accounts (email, role, password, must_change, created_at)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (email) DO NOTHING RETURNING id",
                &[&a.email, &a.role.name(), &a.password, &a.must_change, &a.at],
            )?
            .map(|r| col(&r, 0))
            .transpose()
    }

    fn set_account_password(
        &mut self,
        id: i64,
        password: &str,
        must_change: bool,
    ) -> Result<(), StoreError> {
        self.s.execute(
            "UPDATE admin_accounts SET password = $1, must_change = $2 WHERE id = $3",
            &[&password, &must_change, &id],
        )?;
        Ok(())
    }

    fn set_account_lock(&mut self, id: i64, lock: AccountLock) -> Result<(), StoreError> {
        self.s.execute(
            "UPDATE admin_accounts SET failed_tries = $1, locks = $2, locked_until = $3
             WHERE id = $4",
            &[&lock.failed_tries, &lock.locks, &lock.locked_until, &id],
        )?;
        Ok(())
    }

    fn set_account_active(&mut self, id: i64, active: bool) -> Result<(), StoreError> {
        self.s.execute(
            "UPDATE admin_accounts SET active = $1 WHERE id = $2",
            &[&active, &id],
        )?;
        Ok(())
    }

    fn set_account_stores(&mut self, id: i64, stores: &[String]) -> Result<(), StoreError> {
        self.s.execute(
            "DELETE FROM admin_account_stores WHERE account_id = $1",
            &[&id],
        )?;
        self.s.execute(
            "INSERT INTO admin_account_stores (account_id, store_id)
             SELECT $1, s FROM unnest($2::text[]) s ON CONFLICT DO NOTHING",
            &[&id, &stores],
        )?;
        Ok(())
    }

    fn insert_session(
        &mut self,
        token_hash: &[u8],
        account_id: i64,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.s.execute(
            "INSERT INTO admin_sessions (token_hash, account_id, created_at, expires_at)
             VALUES ($1, $2, $3, $4)",
            &[&token_hash, &account_id, &at, &expires_at],
        )?;
        Ok(())
    }

    fn delete_session(&mut self, token_hash: &[u8]) -> Result<(), StoreError> {
        self.s.execute(
            "DELETE FROM admin_sessions WHERE token_hash = $1",
            &[&token_hash],
        )?;
        Ok(())
    }

    fn delete_sessions_of(&mut self, account_id: i64) -> Result<(), StoreError> {
        self.s.execute(
            "DELETE FROM admin_sessions WHERE account_id = $1",
            &[&account_id],
        )?;
        Ok(())
    }

    fn prune_sessions(&mut self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.s.execute(
            "DELETE FROM admin_sessions WHERE expires_at <= $1",
            &[&before],
        )
    }

    fn insert_admin_audit(&mut self, a: &NewAdminAudit<'_>) -> Result<(), StoreError> {
        self.s.execute(
            "INSERT INTO admin_audit (at, account_id, actor, action, target, store_id, before, after)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &a.at,
                &a.account_id,
                &a.actor,
                &a.action,
                &a.target,
                &a.store_id,
                &a.before,
                &a.after,
            ],
        )?;
        Ok(())
    }

    fn update_store(&mut self, s: &StoreRow) -> Result<bool, StoreError> {
        Ok(self.s.execute(
            "UPDATE stores SET name = $1, address = $2, time_zone = $3, utc_offset_minutes = $4
             WHERE id = $5",
            &[
                &s.name,
                &s.address,
                &s.time_zone,
                &s.utc_offset_minutes,
                &s.id,
            ],
        )? == 1)
    }

    fn set_staff_name_role(&mut self, id: i64, name: &str, role: Role) -> Result<(), StoreError> {
        self.s.execute(
            "UPDATE cashiers SET name = $1, role = $2 WHERE id = $3",
            &[&name, &role_name(role), &id],
        )?;
        Ok(())
    }

    fn set_staff_code(&mut self, id: i64, salt: &[u8], hash: &[u8]) -> Result<(), StoreError> {
        self.s.execute(
            "UPDATE cashiers SET code_salt = $1, code_hash = $2 WHERE id = $3",
            &[&salt, &hash, &id],
        )?;
        Ok(())
    }

    fn set_staff_active(&mut self, id: i64, active: bool) -> Result<(), StoreError> {
        self.s.execute(
            "UPDATE cashiers SET active = $1 WHERE id = $2",
            &[&active, &id],
        )?;
        Ok(())
    }

    fn report_terminal(&mut self, id: &str, r: &TerminalReport<'_>) -> Result<bool, StoreError> {
        Ok(self.s.execute(
            "UPDATE terminals SET app_version = $1, queue_length = $2, oldest_queued_at = $3,
                last_sync_at = $4 WHERE id = $5",
            &[
                &r.app_version,
                &r.queue_length,
                &r.oldest_queued_at,
                &r.at,
                &id,
            ],
        )? == 1)
    }

    fn insert_rules_version(&mut self, r: &NewRulesVersion<'_>) -> Result<(), StoreError> {
        self.s.execute(
            "INSERT INTO rules (version, text, loaded_at, uploaded_by, comment)
             VALUES ($1, $2, $3, $4, $5)",
            &[&r.version, &r.text, &r.at, &r.uploaded_by, &r.comment],
        )?;
        Ok(())
    }

    fn activate_rules(
        &mut self,
        version: i64,
        at: DateTime<Utc>,
        actor: &str,
    ) -> Result<(), StoreError> {
        let n = self.s.execute(
            "INSERT INTO rules_activations (seq, version, at, actor)
             SELECT COALESCE(MAX(seq), 0) + 1, $1, $2, $3 FROM rules_activations
             ON CONFLICT (seq) DO NOTHING",
            &[&version, &at, &actor],
        )?;
        if n == 0 {
            return Err(StoreError::Conflict(
                "another rules activation took the same place; run it again".into(),
            ));
        }
        Ok(())
    }
}
