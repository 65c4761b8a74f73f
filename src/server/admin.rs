//! Command-line jobs on a server's data dir: demo data and enrollment codes, terminal
//! revocation. They open the database directly, so they work with the server stopped.

use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use rusqlite::params;

use super::auth::{self, CashierError};
use super::ledger::{self, Grant, Source, ts};
use super::{ServerError, customers, open_database, store_rules};
use crate::domain::card::{CardFormat, CardNumber};
use crate::domain::phone::Phone;
use crate::protocol::server::Role;

/// The demo rules, compiled in so demo data needs no file.
pub const DEMO_RULES: &str = include_str!("../../assets/demo/rules.toml");

/// The demo store and its cashiers' codes (printed by `demo-data`).
pub const DEMO_STORE: &str = "store-1";
pub const DEMO_CASHIER_CODE: &str = "1111";
pub const DEMO_MANAGER_CODE: &str = "9999";

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Server(#[from] ServerError),
    #[error(transparent)]
    Cashier(#[from] CashierError),
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("the data dir already has demo data (store {DEMO_STORE}); use a fresh dir")]
    AlreadyFilled,
    #[error("no terminal {0}")]
    NoTerminal(String),
}

/// An invented demo customer: phone, card, last and first name, status, bonus kopecks.
type DemoCustomer = (
    &'static str,
    Option<&'static str>,
    &'static str,
    &'static str,
    &'static str,
    i64,
);

const DEMO_CUSTOMERS: &[DemoCustomer] = &[
    (
        "+79990000001",
        Some("2900000000018"),
        "Соколова",
        "Карина",
        "Стандартная",
        50_000,
    ),
    (
        "+79990000002",
        None,
        "Петров",
        "Илья",
        "Серебряная",
        120_000,
    ),
    (
        "+79990000003",
        Some("2900000000025"),
        "Мельникова",
        "Анна",
        "Золотая",
        350_000,
    ),
    ("+79990000004", None, "Орлов", "Денис", "Стандартная", 0),
];

/// What `demo-data` made, for printing.
#[derive(Debug)]
pub struct DemoSummary {
    pub store: String,
    pub cashier_code: &'static str,
    pub manager_code: &'static str,
    pub customers: usize,
    pub rules_version: i64,
}

/// Fills a fresh data dir with the demo store, cashiers, customers and rules.
pub fn demo_data(data_dir: &Path, now: DateTime<Utc>) -> Result<DemoSummary, AdminError> {
    let mut conn = open_database(data_dir)?;
    let tx = conn.transaction()?;
    let exists: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM stores WHERE id = ?1)",
        [DEMO_STORE],
        |r| r.get(0),
    )?;
    if exists {
        return Err(AdminError::AlreadyFilled);
    }
    let rules_version = store_rules(&tx, DEMO_RULES, now)?;
    auth::create_store(&tx, DEMO_STORE, "Кофе у Карины, Тверская 1", 180, now)?;
    auth::add_cashier(
        &tx,
        DEMO_STORE,
        "Кассир Мария",
        Role::Cashier,
        DEMO_CASHIER_CODE,
    )?;
    auth::add_cashier(
        &tx,
        DEMO_STORE,
        "Управляющий Олег",
        Role::Manager,
        DEMO_MANAGER_CODE,
    )?;
    let formats = CardFormat::default_formats();
    for (phone, card, last, first, status, bonuses) in DEMO_CUSTOMERS {
        let phone = Phone::parse(phone).expect("demo phones are valid");
        let card = card.map(|c| CardNumber::parse(c, &formats).expect("demo cards are valid"));
        let id = uuid::Uuid::now_v7().to_string();
        let seq = customers::next_seq(&tx)?;
        tx.execute(
            "INSERT INTO customers (id, phone, card_number, card_status, phone_verified, last_name, first_name, registered_at, store_id, change_seq)
             VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, ?7, ?8, ?9)",
            params![id, phone.as_e164(), card.map(|c| c.as_str().to_string()), status, last, first, ts(now), DEMO_STORE, seq],
        )?;
        for kind in ["processing", "advertising"] {
            tx.execute(
                "INSERT INTO consents (customer_id, kind, granted, at) VALUES (?1, ?2, 1, ?3)",
                params![id, kind, ts(now)],
            )?;
        }
        if *bonuses > 0 {
            ledger::grant(
                &tx,
                &Grant {
                    customer_id: &id,
                    amount: *bonuses,
                    source: Source::Manual,
                    description: "Ручное изменение: перенос баланса из старой программы".into(),
                    active_from: now,
                    burns_at: Some(now + Duration::days(365)),
                    operation_id: None,
                    actor: Some("demo-data"),
                },
                now,
            )
            .map_err(|e| match e {
                ledger::LedgerError::Db(d) => AdminError::Db(d),
                other => AdminError::Db(rusqlite::Error::ToSqlConversionFailure(Box::new(
                    std::io::Error::other(other.to_string()),
                ))),
            })?;
        }
    }
    tx.commit()?;
    Ok(DemoSummary {
        store: DEMO_STORE.into(),
        cashier_code: DEMO_CASHIER_CODE,
        manager_code: DEMO_MANAGER_CODE,
        customers: DEMO_CUSTOMERS.len(),
        rules_version,
    })
}

/// Prints a one-time enrollment code for a store.
pub fn enroll_code(data_dir: &Path, store: &str, now: DateTime<Utc>) -> Result<String, AdminError> {
    let mut conn = open_database(data_dir)?;
    let tx = conn.transaction()?;
    let code = auth::issue_enrollment_code(&tx, store, now)?;
    tx.commit()?;
    Ok(code)
}

/// Revokes a terminal's token.
pub fn revoke_terminal(
    data_dir: &Path,
    terminal: &str,
    now: DateTime<Utc>,
) -> Result<(), AdminError> {
    let mut conn = open_database(data_dir)?;
    let tx = conn.transaction()?;
    if !auth::revoke(&tx, terminal, now)? {
        return Err(AdminError::NoTerminal(terminal.to_string()));
    }
    tx.commit()?;
    Ok(())
}
