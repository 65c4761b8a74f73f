//! Back-office accounts and their sessions.
//!
//! Passwords are kept as argon2id hashes (the `argon2` crate's default parameters: 19 MiB,
//! two passes). A new account gets a one-time password that must be changed at the first
//! sign-in: until then every route but the password change and sign-out answers
//! `PASSWORD_CHANGE_REQUIRED`. Five wrong passwords in a row lock the account for 30 s,
//! each later lock twice as long (up to a day); a locked account is refused without its
//! password being checked. A session is a random token kept only as a hash, valid for
//! [`SESSION_TTL`]; a new password ends every other session of the account.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::{DateTime, Duration, Utc};

use super::{Actor, BackofficeError, audit};
use crate::protocol::admin::{AccountRoleWire, AccountView};
use crate::protocol::server::Secret;
use crate::server::crypto::{random_bytes, random_hex, sha256};
use crate::server::store::{
    self, AccountLock, AccountRole, AccountRow, NewAccount, ReadTx, Store, Tx,
};

/// How long a session lasts from sign-in.
pub const SESSION_TTL: Duration = Duration::hours(12);
/// Wrong passwords in a row before the account locks.
pub const SIGN_IN_TRIES: i64 = 5;
/// The first lock; each further one doubles, up to [`MAX_LOCK`].
pub const FIRST_LOCK: Duration = Duration::seconds(30);
pub const MAX_LOCK: Duration = Duration::hours(24);
/// The shortest password an account may choose.
pub const MIN_PASSWORD: usize = 10;

/// A signed-in session.
#[derive(Debug, Clone)]
pub struct Session {
    pub token: Secret,
    pub expires_at: DateTime<Utc>,
    pub account: AccountRow,
}

/// An account as the API shows it.
pub fn view(a: &AccountRow) -> AccountView {
    AccountView {
        id: a.id,
        email: a.email.clone(),
        role: match a.role {
            AccountRole::Owner => AccountRoleWire::Owner,
            AccountRole::Manager => AccountRoleWire::Manager,
        },
        stores: a.stores.clone(),
        must_change_password: a.must_change,
        active: a.active,
    }
}

/// Hashes a password with argon2id and a fresh salt, as a PHC string.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::encode_b64(&random_bytes(16)).expect("16 bytes are a valid salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with its default parameters hashes any password")
        .to_string()
}

fn password_matches(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash no password matches, checked for unknown e-mails so that the answer takes as
/// long as for a known one.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password(&random_hex(16)))
}

/// A one-time password: 12 characters without look-alikes (no 0/O, 1/l/I).
pub fn one_time_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzACDEFGHJKLMNPQRSTUVWXYZ23456789";
    random_bytes(12)
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// An e-mail as accounts are keyed: trimmed, lower case, `local@domain`.
pub fn normalize_email(email: &str) -> Result<String, BackofficeError> {
    let e = email.trim().to_lowercase();
    let ok = e.len() <= 254
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !e.chars().any(|c| c.is_whitespace() || c.is_control());
    if !ok {
        return Err(BackofficeError::BadRequest(
            "email: give an e-mail address like manager@example.ru".into(),
        ));
    }
    Ok(e)
}

fn check_new_password(email: &str, new: &str) -> Result<(), BackofficeError> {
    if new.chars().count() < MIN_PASSWORD {
        return Err(BackofficeError::BadRequest(format!(
            "new: a password has at least {MIN_PASSWORD} characters"
        )));
    }
    if new.chars().count() > 200 {
        return Err(BackofficeError::BadRequest(
            "new: a password has at most 200 characters".into(),
        ));
    }
    if new.trim().eq_ignore_ascii_case(email) {
        return Err(BackofficeError::BadRequest(
            "new: the password may not be the e-mail".into(),
        ));
    }
    Ok(())
}

fn check_stores(
    tx: &mut dyn Tx,
    role: AccountRole,
    stores: &[String],
) -> Result<Vec<String>, BackofficeError> {
    let mut stores: Vec<String> = stores.iter().map(|s| s.trim().to_string()).collect();
    stores.sort();
    stores.dedup();
    match role {
        AccountRole::Owner if !stores.is_empty() => Err(BackofficeError::BadRequest(
            "stores: an owner sees every store; give no stores".into(),
        )),
        AccountRole::Manager if stores.is_empty() => Err(BackofficeError::BadRequest(
            "stores: a manager manages at least one store".into(),
        )),
        _ => {
            for s in &stores {
                if tx.store(s)?.is_none() {
                    return Err(BackofficeError::BadRequest(format!("stores: no store {s}")));
                }
            }
            Ok(stores)
        }
    }
}

/// Creates an account with a one-time password (owner only); returns it and the password.
pub fn add_account(
    store: &dyn Store,
    actor: &Actor,
    email: &str,
    role: AccountRole,
    stores: &[String],
    now: DateTime<Utc>,
) -> Result<(AccountRow, Secret), BackofficeError> {
    actor.require_owner("add back-office accounts")?;
    let email = normalize_email(email)?;
    let password = one_time_password();
    let hash = hash_password(&password);
    let account = store::write(store, |tx| {
        let stores = match check_stores(tx, role, stores) {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
        let Some(id) = tx.insert_account(&NewAccount {
            email: &email,
            role,
            password: &hash,
            must_change: true,
            at: now,
        })?
        else {
            return Ok(Err(BackofficeError::AlreadyExists(format!(
                "email: there already is an account {email}"
            ))));
        };
        tx.set_account_stores(id, &stores)?;
        let account = tx
            .account(id)?
            .ok_or_else(|| store::StoreError::Corrupt("a new account does not read back".into()))?;
        audit(
            tx,
            actor,
            now,
            "account.add",
            &format!("account {email}"),
            None,
            None::<&()>,
            Some(&view(&account)),
        )?;
        Ok(Ok(account))
    })??;
    tracing::info!(
        account = account.id,
        role = account.role.name(),
        "back-office account added"
    );
    Ok((account, Secret(password)))
}

/// Changes an account's stores, deactivates or reactivates it, or gives it a new one-time
/// password (owner only). Deactivating or a new password ends its sessions.
pub fn update_account(
    store: &dyn Store,
    actor: &Actor,
    id: i64,
    stores: Option<&[String]>,
    active: Option<bool>,
    reset_password: bool,
    now: DateTime<Utc>,
) -> Result<(AccountRow, Option<Secret>), BackofficeError> {
    actor.require_owner("change back-office accounts")?;
    if actor.account_id == Some(id) && (active == Some(false) || stores.is_some()) {
        return Err(BackofficeError::BadRequest(
            "an owner may not deactivate or demote their own account".into(),
        ));
    }
    let password = reset_password.then(one_time_password);
    let hash = password.as_deref().map(hash_password);
    let account = store::write(store, |tx| {
        let Some(before) = tx.account(id)? else {
            return Ok(Err(BackofficeError::NotFound(format!("no account {id}"))));
        };
        if let Some(stores) = stores {
            match check_stores(tx, before.role, stores) {
                Ok(s) => tx.set_account_stores(id, &s)?,
                Err(e) => return Ok(Err(e)),
            }
        }
        if let Some(active) = active {
            tx.set_account_active(id, active)?;
            if !active {
                tx.delete_sessions_of(id)?;
            }
        }
        if let Some(hash) = &hash {
            tx.set_account_password(id, hash, true)?;
            tx.set_account_lock(id, AccountLock::default())?;
            tx.delete_sessions_of(id)?;
        }
        let after = tx
            .account(id)?
            .ok_or_else(|| store::StoreError::Corrupt("an account does not read back".into()))?;
        let action = if hash.is_some() {
            "account.reset_password"
        } else {
            "account.update"
        };
        audit(
            tx,
            actor,
            now,
            action,
            &format!("account {}", after.email),
            None,
            Some(&view(&before)),
            Some(&view(&after)),
        )?;
        Ok(Ok(after))
    })??;
    Ok((account, password.map(Secret)))
}

/// Every account (owner only).
pub fn list(store: &dyn Store, actor: &Actor) -> Result<Vec<AccountRow>, BackofficeError> {
    actor.require_owner("list back-office accounts")?;
    Ok(store::read(store, |r| r.accounts())?)
}

/// Signs in: a session for the right password of an active, unlocked account.
pub fn sign_in(
    store: &dyn Store,
    email: &str,
    password: &str,
    now: DateTime<Utc>,
) -> Result<Session, BackofficeError> {
    let email = email.trim().to_lowercase();
    // No account's e-mail holds a control character (and PostgreSQL stores no NUL).
    let found = if email.chars().any(char::is_control) {
        None
    } else {
        store::read(store, |r| r.account_by_email(&email))?
    };
    let Some(account) = found.filter(|a| a.active) else {
        password_matches(password, decoy_hash());
        return Err(BackofficeError::SignInFailed);
    };
    if let Some(wait) = locked_for(&account, now) {
        return Err(BackofficeError::Locked {
            retry_after_s: wait,
        });
    }
    // The hash is checked outside the transaction: it takes tens of milliseconds, which
    // the database's writer must not wait for.
    let right = password_matches(password, &account.password);
    store::write(store, |tx| {
        // Read again under the transaction: another sign-in may have counted meanwhile.
        let Some(current) = tx.account(account.id)? else {
            return Ok(Err(BackofficeError::SignInFailed));
        };
        if let Some(wait) = locked_for(&current, now) {
            return Ok(Err(BackofficeError::Locked {
                retry_after_s: wait,
            }));
        }
        if !right || current.password != account.password {
            return Ok(Err(wrong_password(tx, &current, now)?));
        }
        tx.set_account_lock(current.id, AccountLock::default())?;
        Ok(Ok(start_session(tx, current, now)?))
    })?
}

fn locked_for(account: &AccountRow, now: DateTime<Utc>) -> Option<u64> {
    account
        .locked_until
        .filter(|until| *until > now)
        .map(|until| (until - now).num_seconds().max(1) as u64)
}

/// Counts a wrong password; the fifth in a row locks the account.
fn wrong_password(
    tx: &mut dyn Tx,
    account: &AccountRow,
    now: DateTime<Utc>,
) -> Result<BackofficeError, store::StoreError> {
    let tries = account.failed_tries + 1;
    if tries < SIGN_IN_TRIES {
        tx.set_account_lock(
            account.id,
            AccountLock {
                failed_tries: tries,
                locks: account.locks,
                locked_until: account.locked_until,
            },
        )?;
        return Ok(BackofficeError::SignInFailed);
    }
    let delay = (FIRST_LOCK * 2i32.pow(account.locks.clamp(0, 16) as u32)).min(MAX_LOCK);
    tx.set_account_lock(
        account.id,
        AccountLock {
            failed_tries: 0,
            locks: account.locks + 1,
            locked_until: Some(now + delay),
        },
    )?;
    tracing::warn!(
        account = account.id,
        lock_s = delay.num_seconds(),
        "back-office account locked"
    );
    Ok(BackofficeError::Locked {
        retry_after_s: delay.num_seconds() as u64,
    })
}

fn start_session(
    tx: &mut dyn Tx,
    account: AccountRow,
    now: DateTime<Utc>,
) -> Result<Session, store::StoreError> {
    let token = random_hex(32);
    let expires_at = now + SESSION_TTL;
    tx.insert_session(&sha256(&[token.as_bytes()]), account.id, now, expires_at)?;
    Ok(Session {
        token: Secret(token),
        expires_at,
        account,
    })
}

/// The account of a session token; `None` for an unknown, expired or ended one.
pub fn authenticate(
    r: &mut dyn ReadTx,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<AccountRow>, store::StoreError> {
    r.session_account(&sha256(&[token.as_bytes()]), now)
}

/// Ends a session.
pub fn sign_out(store: &dyn Store, token: &str) -> Result<(), BackofficeError> {
    let hash = sha256(&[token.as_bytes()]);
    Ok(store::write(store, |tx| tx.delete_session(&hash))?)
}

/// Changes the signed-in account's password: every session of it ends, and a new one
/// starts.
pub fn change_password(
    store: &dyn Store,
    account: &AccountRow,
    current: &str,
    new: &str,
    now: DateTime<Utc>,
) -> Result<Session, BackofficeError> {
    if !password_matches(current, &account.password) {
        return Err(BackofficeError::BadRequest(
            "current: this is not the account's password".into(),
        ));
    }
    check_new_password(&account.email, new)?;
    if current == new {
        return Err(BackofficeError::BadRequest(
            "new: choose a password other than the current one".into(),
        ));
    }
    let hash = hash_password(new);
    let actor = Actor::of(account);
    store::write(store, |tx| {
        tx.set_account_password(account.id, &hash, false)?;
        tx.delete_sessions_of(account.id)?;
        audit(
            tx,
            &actor,
            now,
            "account.change_password",
            &format!("account {}", account.email),
            None,
            None::<&()>,
            None::<&()>,
        )?;
        let fresh = tx
            .account(account.id)?
            .ok_or_else(|| store::StoreError::Corrupt("an account does not read back".into()))?;
        start_session(tx, fresh, now)
    })
    .map_err(Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_matches_its_own_hash_only() {
        let h = hash_password("correct horse battery");
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(password_matches("correct horse battery", &h));
        assert!(!password_matches("correct horse batterY", &h));
        assert!(!password_matches("correct horse battery", "not a hash"));
        // A fresh salt every time.
        assert_ne!(h, hash_password("correct horse battery"));
    }

    #[test]
    fn one_time_passwords_have_no_look_alikes() {
        for _ in 0..50 {
            let p = one_time_password();
            assert_eq!(p.chars().count(), 12);
            assert!(!p.contains(['0', 'O', '1', 'l', 'I']), "{p}");
        }
    }

    #[test]
    fn e_mails_are_checked_and_lower_cased() {
        assert_eq!(
            normalize_email(" Owner@Example.RU ").unwrap(),
            "owner@example.ru"
        );
        for bad in [
            "",
            "owner",
            "@example.ru",
            "owner@example",
            "o wner@example.ru",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_new_password_is_long_and_not_the_e_mail() {
        assert!(check_new_password("a@b.ru", "short").is_err());
        assert!(check_new_password("owner@example.ru", "OWNER@example.ru").is_err());
        assert!(check_new_password("a@b.ru", "long enough password").is_ok());
    }
}
