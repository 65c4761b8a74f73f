//! Stores, cashiers and terminals: who may call the server, and as whom.
//!
//! A terminal is enrolled once with a one-time code an installer got from
//! `bonuskassa-server enroll-code`; it receives a bearer token that the server keeps only as
//! a hash and can revoke. Cashiers log in at a terminal with their code; five wrong codes
//! in a row lock logins on that terminal with a delay that doubles each time.

use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::crypto::{ct_eq, enrollment_code, normalize_code, random_bytes, random_hex, sha256};
use super::error::ApiError;
use super::ledger::{parse_ts, ts};
use crate::protocol::server::{EnrollResponse, ErrorCode, LoginResponse, Role, Secret};

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

pub fn create_store(
    tx: &Transaction,
    id: &str,
    name: &str,
    utc_offset_minutes: i32,
    now: DateTime<Utc>,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO stores (id, name, utc_offset_minutes, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![id, name, utc_offset_minutes, ts(now)],
    )?;
    tx.execute(
        "INSERT INTO lookup_keys (store_id, key) VALUES (?1, ?2)",
        params![id, random_bytes(32)],
    )?;
    Ok(())
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
    Db(#[from] rusqlite::Error),
}

fn require_store(conn: &Connection, store_id: &str) -> Result<(), CashierError> {
    let exists: bool = conn
        .query_row("SELECT 1 FROM stores WHERE id = ?1", [store_id], |_| {
            Ok(true)
        })
        .optional()?
        .unwrap_or(false);
    if exists {
        Ok(())
    } else {
        Err(CashierError::NoStore(store_id.to_string()))
    }
}

/// Adds a cashier with a code (4–8 digits, unique within the store).
pub fn add_cashier(
    tx: &Transaction,
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
    let role = match role {
        Role::Cashier => "cashier",
        Role::Manager => "manager",
    };
    tx.execute(
        "INSERT INTO cashiers (store_id, name, role, code_salt, code_hash) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![store_id, name, role, salt, hash],
    )?;
    Ok(tx.last_insert_rowid())
}

/// The active cashier of a store whose code this is.
fn find_cashier(
    conn: &Connection,
    store_id: &str,
    code: &str,
) -> rusqlite::Result<Option<LoginResponse>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, name, role, code_salt, code_hash FROM cashiers WHERE store_id = ?1 AND active = 1",
    )?;
    let rows = stmt.query_map([store_id], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Vec<u8>>(3)?,
            r.get::<_, Vec<u8>>(4)?,
        ))
    })?;
    // Every row is hashed, found or not, so timing says nothing about which codes exist.
    let mut found = None;
    for row in rows {
        let (id, name, role, salt, hash) = row?;
        if ct_eq(&sha256(&[&salt, code.as_bytes()]), &hash) && found.is_none() {
            let role = if role == "manager" {
                Role::Manager
            } else {
                Role::Cashier
            };
            found = Some(LoginResponse {
                cashier_id: id,
                name,
                role,
            });
        }
    }
    Ok(found)
}

/// Whether `cashier_id` is an active manager of the store.
pub fn is_manager(conn: &Connection, store_id: &str, cashier_id: i64) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT role FROM cashiers WHERE id = ?1 AND store_id = ?2 AND active = 1",
        params![cashier_id, store_id],
        |r| r.get::<_, String>(0),
    )
    .optional()
    .map(|r| r.as_deref() == Some("manager"))
}

/// Issues a one-time enrollment code for a store; only its hash is kept.
pub fn issue_enrollment_code(
    tx: &Transaction,
    store_id: &str,
    now: DateTime<Utc>,
) -> Result<String, CashierError> {
    require_store(tx, store_id)?;
    let code = enrollment_code();
    tx.execute(
        "INSERT INTO enrollment_codes (code_hash, store_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![
            sha256(&[normalize_code(&code).as_bytes()]),
            store_id,
            ts(now),
            ts(now + ENROLLMENT_TTL)
        ],
    )?;
    Ok(code)
}

/// Enrolls a terminal with a one-time code: the code is spent, a token is born.
pub fn enroll(
    tx: &Transaction,
    code: &str,
    name: &str,
    now: DateTime<Utc>,
) -> Result<EnrollResponse, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::bad_request(
            "name: give the terminal a name of 1 to 100 characters",
        ));
    }
    let hash = sha256(&[normalize_code(code).as_bytes()]);
    let row: Option<(String, String, Option<String>)> = tx
        .query_row(
            "SELECT store_id, expires_at, used_at FROM enrollment_codes WHERE code_hash = ?1",
            [&hash],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let invalid = || {
        ApiError::unauthorized(
            ErrorCode::EnrollmentCodeInvalid,
            "the enrollment code is wrong, used or expired; ask for a new one with `bonuskassa-server enroll-code`",
        )
    };
    let Some((store_id, expires_at, used_at)) = row else {
        return Err(invalid());
    };
    if used_at.is_some() || parse_ts(&expires_at).is_none_or(|e| e <= now) {
        return Err(invalid());
    }
    let terminal_id = uuid::Uuid::now_v7().to_string();
    let token = random_hex(32);
    tx.execute(
        "INSERT INTO terminals (id, store_id, name, token_hash, enrolled_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![terminal_id, store_id, name, sha256(&[token.as_bytes()]), ts(now)],
    )?;
    tx.execute(
        "UPDATE enrollment_codes SET used_at = ?1, terminal_id = ?2 WHERE code_hash = ?3",
        params![ts(now), terminal_id, hash],
    )?;
    let (store_name, key): (String, Vec<u8>) = tx.query_row(
        "SELECT s.name, k.key FROM stores s JOIN lookup_keys k ON k.store_id = s.id WHERE s.id = ?1",
        [&store_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(EnrollResponse {
        terminal_id,
        token: Secret(token),
        store_id,
        store_name,
        lookup_key: Secret(super::crypto::hex(&key)),
    })
}

/// The terminal a bearer token belongs to; revoked and unknown tokens are refused.
pub fn authenticate(conn: &Connection, token: &str) -> Result<Terminal, ApiError> {
    let row: Option<(String, String, Option<String>)> = conn
        .prepare_cached("SELECT id, store_id, revoked_at FROM terminals WHERE token_hash = ?1")?
        .query_row([sha256(&[token.as_bytes()])], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    match row {
        None => Err(ApiError::unauthorized(
            ErrorCode::Unauthorized,
            "unknown terminal token; enroll the terminal again",
        )),
        Some((_, _, Some(_))) => Err(ApiError::unauthorized(
            ErrorCode::TokenRevoked,
            "this terminal's token was revoked; enroll the terminal again",
        )),
        Some((id, store_id, None)) => Ok(Terminal { id, store_id }),
    }
}

/// Revokes a terminal's token; its later calls are refused.
pub fn revoke(tx: &Transaction, terminal_id: &str, now: DateTime<Utc>) -> rusqlite::Result<bool> {
    Ok(tx.execute(
        "UPDATE terminals SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL",
        params![ts(now), terminal_id],
    )? == 1)
}

/// Logs a cashier in at a terminal by code, with the lockout of SPEC.md §7.
pub fn login(
    tx: &Transaction,
    terminal: &Terminal,
    code: &str,
    now: DateTime<Utc>,
) -> Result<LoginResponse, ApiError> {
    let (failures, locked_until): (i64, Option<String>) = tx.query_row(
        "SELECT login_failures, login_locked_until FROM terminals WHERE id = ?1",
        [&terminal.id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if let Some(until) = locked_until.as_deref().and_then(parse_ts)
        && until > now
    {
        let wait = (until - now).num_seconds().max(1) as u64;
        return Err(ApiError::new(
            axum::http::StatusCode::LOCKED,
            ErrorCode::CashierLocked,
            format!("too many wrong cashier codes; try again in {wait} s or ask a manager"),
        )
        .retry_after(wait));
    }
    match find_cashier(tx, &terminal.store_id, code)? {
        Some(c) => {
            tx.execute(
                "UPDATE terminals SET login_failures = 0, login_locked_until = NULL WHERE id = ?1",
                [&terminal.id],
            )?;
            Ok(c)
        }
        None => {
            let failures = failures + 1;
            let mut lock = None;
            if failures >= LOGIN_TRIES {
                // 30 s at the fifth wrong code, then 60 s, 120 s, … up to an hour.
                let doublings = (failures - LOGIN_TRIES).min(7) as i32;
                let delay = (FIRST_LOCK * 2i32.pow(doublings as u32)).min(Duration::hours(1));
                lock = Some(now + delay);
            }
            tx.execute(
                "UPDATE terminals SET login_failures = ?1, login_locked_until = ?2 WHERE id = ?3",
                params![failures, lock.map(ts), terminal.id],
            )?;
            let left = (LOGIN_TRIES - failures).max(0) as u32;
            let err = ApiError::unauthorized(ErrorCode::CashierCodeWrong, "wrong cashier code")
                .tries_left(left);
            Err(match lock {
                Some(until) => err.retry_after((until - now).num_seconds() as u64),
                None => err,
            })
        }
    }
}
