//! Stores, cashiers and terminals: who may call the server, and as whom.
//!
//! A terminal is enrolled once with a one-time code an installer got from
//! `bonuskassa-server enroll-code`; it receives a bearer token that the server keeps only as
//! a hash and can revoke. Cashiers log in at a terminal with their code; five wrong codes
//! in a row lock logins on that terminal with a delay that doubles each time.
//!
//! Engine-free: the functions taking a `Tx` run inside the caller's transaction; those
//! taking a `Store` are whole services with their own.

use chrono::{DateTime, Duration, Utc};

use super::crypto::{ct_eq, enrollment_code, normalize_code, random_bytes, random_hex, sha256};
use super::store::{self, LoginState, NewTerminal, ReadTx, Store, StoreError, StoreRow, Tx};
use crate::protocol::server::{EnrollResponse, LoginResponse, Role, Secret};

/// How long an enrollment code stays valid.
pub const ENROLLMENT_TTL: Duration = Duration::hours(24);
/// Wrong cashier codes in a row before logins lock.
pub const LOGIN_TRIES: i64 = 5;
/// The first lock; each further lock doubles it, up to an hour.
pub const FIRST_LOCK: Duration = Duration::seconds(30);

/// An authenticated terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terminal {
    pub id: String,
    pub store_id: String,
}

/// Creates a store with a fresh key for its terminals' keyed lookup hashes.
pub fn create_store(
    tx: &mut dyn Tx,
    id: &str,
    name: &str,
    address: &str,
    time_zone: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.insert_store(
        &StoreRow {
            id: id.into(),
            name: name.into(),
            utc_offset_minutes: crate::server::backoffice::chain::offset_minutes(time_zone, now),
            address: address.into(),
            time_zone: time_zone.name().into(),
        },
        &random_bytes(32),
        now,
    )
}

#[derive(Debug, thiserror::Error)]
pub enum CashierError {
    #[error("a cashier code is 4 to 8 digits")]
    BadCode,
    #[error("another cashier of this store already has this code")]
    CodeTaken,
    #[error("no store {0}")]
    NoStore(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn require_store(tx: &mut dyn ReadTx, store_id: &str) -> Result<StoreRow, CashierError> {
    tx.store(store_id)?
        .ok_or_else(|| CashierError::NoStore(store_id.to_string()))
}

/// Adds a cashier with a code (4–8 digits, unique within the store).
pub fn add_cashier(
    tx: &mut dyn Tx,
    store_id: &str,
    name: &str,
    role: Role,
    code: &str,
) -> Result<i64, CashierError> {
    if !(4..=8).contains(&code.len()) || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CashierError::BadCode);
    }
    require_store(tx, store_id)?;
    if find_cashier(tx, store_id, code)?.is_some() {
        return Err(CashierError::CodeTaken);
    }
    let salt = random_bytes(16);
    let hash = sha256(&[&salt, code.as_bytes()]);
    Ok(tx.insert_cashier(store_id, name, role, &salt, &hash)?)
}

/// The id of the active cashier of a store whose code this is.
pub fn code_owner(
    tx: &mut dyn ReadTx,
    store_id: &str,
    code: &str,
) -> Result<Option<i64>, StoreError> {
    Ok(find_cashier(tx, store_id, code)?.map(|c| c.cashier_id))
}

/// The active cashier of a store whose code this is.
fn find_cashier(
    tx: &mut dyn ReadTx,
    store_id: &str,
    code: &str,
) -> Result<Option<LoginResponse>, StoreError> {
    // Every row is hashed, found or not, so timing says nothing about which codes exist.
    let mut found = None;
    for c in tx.cashiers(store_id)? {
        if ct_eq(&sha256(&[&c.code_salt, code.as_bytes()]), &c.code_hash) && found.is_none() {
            found = Some(LoginResponse {
                cashier_id: c.id,
                name: c.name,
                role: c.role,
            });
        }
    }
    Ok(found)
}

/// Whether `cashier_id` is an active manager of the store.
pub fn is_manager(
    tx: &mut dyn ReadTx,
    store_id: &str,
    cashier_id: i64,
) -> Result<bool, StoreError> {
    Ok(tx.cashier_role(store_id, cashier_id)? == Some(Role::Manager))
}

/// Issues a one-time enrollment code for a store; only its hash is kept.
pub fn issue_enrollment_code(
    tx: &mut dyn Tx,
    store_id: &str,
    now: DateTime<Utc>,
) -> Result<String, CashierError> {
    require_store(tx, store_id)?;
    let code = enrollment_code();
    tx.insert_enrollment_code(
        &sha256(&[normalize_code(&code).as_bytes()]),
        store_id,
        now,
        now + ENROLLMENT_TTL,
    )?;
    Ok(code)
}

/// Why an enrollment failed.
#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    #[error("name: give the terminal a name of 1 to 100 characters")]
    BadName,
    #[error(
        "the enrollment code is wrong, used or expired; ask for a new one with `bonuskassa-server enroll-code`"
    )]
    InvalidCode,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Enrolls a terminal with a one-time code: the code is spent, a token is born.
pub fn enroll(
    store: &dyn Store,
    code: &str,
    name: &str,
    now: DateTime<Utc>,
) -> Result<EnrollResponse, EnrollError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(EnrollError::BadName);
    }
    let hash = sha256(&[normalize_code(code).as_bytes()]);
    let enrolled = store::write(store, |tx| {
        let terminal_id = uuid::Uuid::now_v7().to_string();
        // Spending the code is one conditional update: of two tills racing with one code,
        // exactly one gets it.
        let Some(store_id) = tx.claim_enrollment_code(&hash, &terminal_id, now)? else {
            return Ok(None);
        };
        let token = random_hex(32);
        tx.insert_terminal(&NewTerminal {
            id: &terminal_id,
            store_id: &store_id,
            name,
            token_hash: &sha256(&[token.as_bytes()]),
            enrolled_at: now,
        })?;
        let store_name = tx.store(&store_id)?.map(|s| s.name).unwrap_or_default();
        let key = tx
            .lookup_key(&store_id)?
            .ok_or_else(|| StoreError::Corrupt(format!("store {store_id} has no lookup key")))?;
        Ok(Some(EnrollResponse {
            terminal_id,
            token: Secret(token),
            store_id,
            store_name,
            lookup_key: Secret(super::crypto::hex(&key)),
        }))
    })?;
    let out = enrolled.ok_or(EnrollError::InvalidCode)?;
    tracing::info!(terminal = %out.terminal_id, store = %out.store_id, "terminal enrolled");
    Ok(out)
}

/// Why a bearer token was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("unknown terminal token; enroll the terminal again")]
    Unknown,
    #[error("this terminal's token was revoked; enroll the terminal again")]
    Revoked,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The terminal a bearer token belongs to; revoked and unknown tokens are refused.
pub fn authenticate(tx: &mut dyn ReadTx, token: &str) -> Result<Terminal, AuthError> {
    match tx.terminal_by_token(&sha256(&[token.as_bytes()]))? {
        None => Err(AuthError::Unknown),
        Some(t) if t.revoked => Err(AuthError::Revoked),
        Some(t) => Ok(Terminal {
            id: t.id,
            store_id: t.store_id,
        }),
    }
}

/// Revokes a terminal's token; its later calls are refused. `false`: no such terminal.
pub fn revoke(
    store: &dyn Store,
    terminal_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    store::write(store, |tx| tx.revoke_terminal(terminal_id, now))
}

/// Why a cashier login was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    #[error("too many wrong cashier codes; try again in {retry_after_s} s or ask a manager")]
    Locked { retry_after_s: u64 },
    /// `retry_after_s` is set when this wrong code locked logins.
    #[error("wrong cashier code")]
    Wrong {
        tries_left: u32,
        retry_after_s: Option<u64>,
    },
}

/// Logs a cashier in at a terminal by code, with the lockout of SPEC.md §7. The failure
/// counter is committed even when the login is refused.
pub fn login(
    store: &dyn Store,
    terminal: &Terminal,
    code: &str,
    now: DateTime<Utc>,
) -> Result<Result<LoginResponse, LoginError>, StoreError> {
    store::write(store, |tx| {
        let state = tx.login_state(&terminal.id)?;
        if let Some(until) = state.locked_until
            && until > now
        {
            let wait = (until - now).num_seconds().max(1) as u64;
            return Ok(Err(LoginError::Locked {
                retry_after_s: wait,
            }));
        }
        match find_cashier(tx, &terminal.store_id, code)? {
            Some(c) => {
                tx.set_login_state(&terminal.id, LoginState::default())?;
                Ok(Ok(c))
            }
            None => wrong_code(tx, terminal, state, now),
        }
    })
}

/// A wrong code at `terminal`: counted, and from the fifth on the terminal's logins lock,
/// 30 s at first, doubling up to an hour.
fn wrong_code(
    tx: &mut dyn Tx,
    terminal: &Terminal,
    state: LoginState,
    now: DateTime<Utc>,
) -> Result<Result<LoginResponse, LoginError>, StoreError> {
    let failures = state.failures + 1;
    let mut lock = None;
    if failures >= LOGIN_TRIES {
        let doublings = (failures - LOGIN_TRIES).min(7) as u32;
        let delay = (FIRST_LOCK * 2i32.pow(doublings)).min(Duration::hours(1));
        lock = Some(now + delay);
    }
    tx.set_login_state(
        &terminal.id,
        LoginState {
            failures,
            locked_until: lock,
        },
    )?;
    Ok(Err(LoginError::Wrong {
        tries_left: (LOGIN_TRIES - failures).max(0) as u32,
        retry_after_s: lock.map(|until| (until - now).num_seconds() as u64),
    }))
}

/// A manager lifts the lock of `terminal`'s logins with their own code (SPEC.md §7), even
/// while it is locked; the wrong-code count starts again. Any other code, a cashier's
/// included, counts as one more wrong code, so the unlock is no way round the lock.
pub fn unlock(
    store: &dyn Store,
    terminal: &Terminal,
    code: &str,
    now: DateTime<Utc>,
) -> Result<Result<LoginResponse, LoginError>, StoreError> {
    store::write(store, |tx| {
        let state = tx.login_state(&terminal.id)?;
        match find_cashier(tx, &terminal.store_id, code)? {
            Some(manager) if manager.role == Role::Manager => {
                tx.set_login_state(&terminal.id, LoginState::default())?;
                Ok(Ok(manager))
            }
            _ => wrong_code(tx, terminal, state, now),
        }
    })
}
