//! Cashiers: logging in by code, at the server or, while it is away, from the cashiers who
//! logged in here before, with the lock after too many wrong codes.
use super::{Terminal, TerminalError};
use crate::protocol::lookup_hash;
use crate::protocol::server::{
    AuditEvent, LoginRequest, LoginResponse, OperationBody, Role, Secret,
};
use crate::store::CachedCashier;

/// A cashier logged in at the till.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cashier {
    pub id: i64,
    pub name: String,
    pub role: Role,
    /// True when the till let them in from its cache, the server being away.
    pub offline: bool,
}

impl Cashier {
    pub fn is_manager(&self) -> bool {
        self.role == Role::Manager
    }

    /// The cashier the server let in.
    fn from_server(ok: LoginResponse) -> Cashier {
        Cashier {
            id: ok.cashier_id,
            name: ok.name,
            role: ok.role,
            offline: false,
        }
    }

    /// A cashier who logged in here before, let in from the till's cache.
    fn from_cache(c: CachedCashier) -> Cashier {
        Cashier {
            id: c.cashier_id,
            role: if c.role == "manager" {
                Role::Manager
            } else {
                Role::Cashier
            },
            name: c.name,
            offline: true,
        }
    }
}

/// Wrong cashier codes typed while the server is away: 5 are allowed, then the till
/// locks for 30 s, doubling with every further wrong code (SPEC.md §7).
fn offline_lock_seconds(failures: u32) -> u64 {
    if failures < 5 {
        0
    } else {
        30u64.saturating_mul(1u64 << (failures - 5).min(10))
    }
}

impl Terminal {
    fn code_hash(&self, code: &str) -> String {
        lookup_hash(&self.lookup_key, &format!("cashier:{}", code.trim()))
    }

    /// Logs a cashier in by code: at the server, or, while it is away, from the cashiers
    /// who logged in here before.
    pub async fn login(&self, code: &str) -> Result<Cashier, TerminalError> {
        let now = self.now();
        let locked_until = self
            .store()
            .get_meta("login_locked_until")?
            .as_deref()
            .and_then(crate::sqlite::parse_ts);
        if let Some(until) = locked_until
            && until > now
        {
            return Err(TerminalError::CashierLocked(
                (until - now).num_seconds().max(1) as u64,
            ));
        }
        let hash = self.code_hash(code);
        match self
            .api
            .login(&LoginRequest {
                code: Secret(code.trim().to_string()),
            })
            .await
        {
            Ok(ok) => {
                self.saw_server(true, None);
                let role = match ok.role {
                    Role::Cashier => "cashier",
                    Role::Manager => "manager",
                };
                let mut store = self.store();
                store.remember_cashier(
                    &hash,
                    &CachedCashier {
                        cashier_id: ok.cashier_id,
                        name: ok.name.clone(),
                        role: role.into(),
                    },
                    now,
                )?;
                store.put_meta("login_failures", "0")?;
                Ok(Cashier::from_server(ok))
            }
            Err(e) if e.is_offline() => {
                self.saw_server(false, Some(&e));
                let mut store = self.store();
                match store.cashier_by_code_hash(&hash)? {
                    Some(c) => {
                        store.put_meta("login_failures", "0")?;
                        Ok(Cashier::from_cache(c))
                    }
                    None => {
                        count_wrong_code(&mut store, now)?;
                        Err(TerminalError::WrongCashierCode)
                    }
                }
            }
            Err(e) => {
                self.saw_server(true, None);
                Err(e.into())
            }
        }
    }
}

impl Terminal {
    /// A manager lifts the lock of this till's logins after too many wrong codes, at the
    /// server and here, with their own code; audited. While the server is away, a manager
    /// who logged in here before may. Any other code counts as one more wrong code.
    pub async fn unlock_logins(&self, code: &str) -> Result<Cashier, TerminalError> {
        let now = self.now();
        let hash = self.code_hash(code);
        let request = LoginRequest {
            code: Secret(code.trim().to_string()),
        };
        let manager = match self.api.unlock(&request).await {
            Ok(ok) => {
                self.saw_server(true, None);
                Cashier::from_server(ok)
            }
            Err(e) if e.is_offline() => {
                self.saw_server(false, Some(&e));
                let mut store = self.store();
                match store.cashier_by_code_hash(&hash)?.map(Cashier::from_cache) {
                    Some(c) if c.is_manager() => c,
                    _ => {
                        count_wrong_code(&mut store, now)?;
                        return Err(TerminalError::WrongCashierCode);
                    }
                }
            }
            Err(e) => {
                self.saw_server(true, None);
                return Err(e.into());
            }
        };
        {
            let mut store = self.store();
            store.put_meta("login_failures", "0")?;
            store.put_meta("login_locked_until", &crate::sqlite::ts(now))?;
        }
        self.queue(
            &manager,
            OperationBody::Audit {
                event: AuditEvent::LoginsUnlocked,
                customer_id: None,
                reason: format!(
                    "Вход на кассе разблокирован менеджером {} после неверных кодов",
                    manager.name
                ),
            },
        )?;
        Ok(manager)
    }
}

/// One more wrong code typed while the server is away; from the fifth on, the till's
/// logins lock.
fn count_wrong_code(
    store: &mut crate::store::TerminalStore,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), TerminalError> {
    let failures = store
        .get_meta("login_failures")?
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(0)
        + 1;
    store.put_meta("login_failures", &failures.to_string())?;
    let lock = offline_lock_seconds(failures);
    if lock > 0 {
        let until = now + chrono::Duration::seconds(lock as i64);
        store.put_meta("login_locked_until", &crate::sqlite::ts(until))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offline_login_lock_grows() {
        assert_eq!(offline_lock_seconds(4), 0);
        assert_eq!(offline_lock_seconds(5), 30);
        assert_eq!(offline_lock_seconds(6), 60);
        assert_eq!(offline_lock_seconds(8), 240);
        assert_eq!(offline_lock_seconds(100), 30 * 1024);
    }
}
