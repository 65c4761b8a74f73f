//! Command-line jobs on a server's database: demo data, enrollment codes, terminal
//! revocation. They open the store themselves (a data dir's SQLite file, or PostgreSQL), so
//! they work with the server stopped, or beside running servers.
//!
//! Engine-free: everything goes through the store seam.

use chrono::{DateTime, Duration, Utc};

use super::auth::{self, CashierError};
use super::backoffice::{Actor, accounts};
use super::ledger::{self, Grant, Source};
use super::store::AccountRole;
use super::store::{self, Location, NewConsent, NewCustomer, Store, StoreError};
use super::{ServerError, store_rules};
use crate::domain::card::{CardFormat, CardNumber};
use crate::domain::phone::Phone;
use crate::protocol::server::Role;

/// The demo rules, compiled in so demo data needs no file.
pub const DEMO_RULES: &str = include_str!("../../assets/demo/rules.toml");

/// The demo store and its cashiers' codes (printed by `demo-data`).
pub const DEMO_STORE: &str = "store-1";
pub const DEMO_CASHIER_CODE: &str = "1111";
pub const DEMO_MANAGER_CODE: &str = "9999";
/// The demo chain's second store, two hours east of the first.
pub const DEMO_STORE_EAST: &str = "ekb-1";
pub const DEMO_EAST_CASHIER_CODE: &str = "2222";
pub const DEMO_EAST_MANAGER_CODE: &str = "8888";
/// The demo chain's owner account (its one-time password is printed by `demo-data`).
pub const DEMO_OWNER_EMAIL: &str = "owner@demo.bonuskassa.ru";
/// The invented regulars of the demo year, beside the four named demo customers (whose
/// balances the README and the tests quote, so the year leaves them alone).
pub const DEMO_REGULARS: usize = 40;

const REGULAR_NAMES: &[(&str, &str)] = &[
    ("Волкова", "Ольга"),
    ("Смирнов", "Артём"),
    ("Кузнецова", "Дарья"),
    ("Попов", "Никита"),
    ("Лебедева", "Софья"),
    ("Новиков", "Максим"),
    ("Морозова", "Алиса"),
    ("Фёдоров", "Глеб"),
];

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Server(#[from] ServerError),
    #[error(transparent)]
    Cashier(#[from] CashierError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the database already has demo data (store {DEMO_STORE}); use a fresh one")]
    AlreadyFilled,
    #[error("no terminal {0}")]
    NoTerminal(String),
    #[error("back office: {0}")]
    Backoffice(String),
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
    pub owner_email: String,
    /// The owner's one-time password, changed at the first sign-in.
    pub owner_password: crate::protocol::server::Secret,
}

/// Fills a fresh database with the demo store, cashiers, customers and rules.
pub fn demo_data(at: impl Into<Location>, now: DateTime<Utc>) -> Result<DemoSummary, AdminError> {
    demo_data_in(&*store::open(&at.into())?, now)
}

/// [`demo_data`] in an open store.
pub fn demo_data_in(store: &dyn Store, now: DateTime<Utc>) -> Result<DemoSummary, AdminError> {
    let rules_version = store::write(store, |tx| {
        if tx.store(DEMO_STORE)?.is_some() {
            return Ok(Err(AdminError::AlreadyFilled));
        }
        let rules_version = store_rules(tx, DEMO_RULES, now)?;
        auth::create_store(
            tx,
            DEMO_STORE,
            "Кофе у Карины",
            "Москва, Тверская ул., 1",
            chrono_tz::Europe::Moscow,
            now,
        )?;
        auth::create_store(
            tx,
            DEMO_STORE_EAST,
            "Кофе у Карины, Екатеринбург",
            "Екатеринбург, ул. Ленина, 5",
            chrono_tz::Asia::Yekaterinburg,
            now,
        )?;
        let cashiers = [
            (DEMO_STORE, "Кассир Мария", Role::Cashier, DEMO_CASHIER_CODE),
            (
                DEMO_STORE,
                "Управляющий Олег",
                Role::Manager,
                DEMO_MANAGER_CODE,
            ),
            (
                DEMO_STORE_EAST,
                "Кассир Зарина",
                Role::Cashier,
                DEMO_EAST_CASHIER_CODE,
            ),
            (
                DEMO_STORE_EAST,
                "Управляющая Вера",
                Role::Manager,
                DEMO_EAST_MANAGER_CODE,
            ),
        ];
        for (store_id, name, role, code) in cashiers {
            if let Err(e) = auth::add_cashier(tx, store_id, name, role, code) {
                return match e {
                    CashierError::Store(e) => Err(e),
                    other => Ok(Err(other.into())),
                };
            }
        }
        let formats = CardFormat::default_formats();
        let mut ids = Vec::new();
        for (phone, card, last, first, status, bonuses) in DEMO_CUSTOMERS {
            let phone = Phone::parse(phone).expect("demo phones are valid");
            let card = card.map(|c| CardNumber::parse(c, &formats).expect("demo cards are valid"));
            let id = uuid::Uuid::now_v7().to_string();
            tx.insert_customer(&NewCustomer {
                id: id.clone(),
                phone: phone.as_e164().to_string(),
                card_number: card.map(|c| c.as_str().to_string()),
                card_status: status.to_string(),
                phone_verified: true,
                last_name: Some(last.to_string()),
                first_name: Some(first.to_string()),
                registered_at: now,
                store_id: Some(DEMO_STORE.into()),
                ..NewCustomer::default()
            })?;
            for kind in ["processing", "advertising"] {
                tx.insert_consent(&NewConsent {
                    customer_id: &id,
                    kind,
                    granted: true,
                    at: now,
                    terminal_id: None,
                    cashier: None,
                })?;
            }
            if *bonuses > 0 {
                ledger::grant(
                    tx,
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
                    ledger::LedgerError::Store(e) => e,
                    other => StoreError::Other(other.to_string()),
                })?;
            }
            ids.push(id);
        }
        tx.bump_feed(&ids.iter().map(String::as_str).collect::<Vec<_>>())?;
        Ok(Ok(rules_version))
    })??;
    let (owner, owner_password) = accounts::add_account(
        store,
        &Actor::cli(),
        DEMO_OWNER_EMAIL,
        AccountRole::Owner,
        &[],
        now,
    )
    .map_err(|e| AdminError::Backoffice(e.to_string()))?;
    Ok(DemoSummary {
        store: DEMO_STORE.into(),
        cashier_code: DEMO_CASHIER_CODE,
        manager_code: DEMO_MANAGER_CODE,
        customers: DEMO_CUSTOMERS.len(),
        rules_version,
        owner_email: owner.email,
        owner_password,
    })
}

/// A one-time enrollment code for a store.
pub fn enroll_code(
    at: impl Into<Location>,
    store: &str,
    now: DateTime<Utc>,
) -> Result<String, AdminError> {
    enroll_code_in(&*store::open(&at.into())?, store, now)
}

/// [`enroll_code`] in an open store.
pub fn enroll_code_in(
    store: &dyn Store,
    store_id: &str,
    now: DateTime<Utc>,
) -> Result<String, AdminError> {
    Ok(store::write(
        store,
        |tx| match auth::issue_enrollment_code(tx, store_id, now) {
            Ok(code) => Ok(Ok(code)),
            Err(CashierError::Store(e)) => Err(e),
            Err(other) => Ok(Err(other)),
        },
    )??)
}

/// Revokes a terminal's token.
pub fn revoke_terminal(
    at: impl Into<Location>,
    terminal: &str,
    now: DateTime<Utc>,
) -> Result<(), AdminError> {
    if !auth::revoke(&*store::open(&at.into())?, terminal, now)? {
        return Err(AdminError::NoTerminal(terminal.to_string()));
    }
    Ok(())
}

/// A year of invented purchases at both demo stores, for the back office's reports:
/// [`DEMO_REGULARS`] regulars registered a year before `now` (phones +7 999 100 00 00 and
/// on), then every store's day through the real operation path and the nightly jobs
/// ([`super::demo_history`]). Deterministic. Call after [`demo_data`].
pub fn demo_year(
    at: impl Into<Location>,
    now: DateTime<Utc>,
) -> Result<super::demo_history::HistorySummary, AdminError> {
    demo_year_in(&*store::open(&at.into())?, now)
}

/// [`demo_year`] in an open store.
pub fn demo_year_in(
    store: &dyn Store,
    now: DateTime<Utc>,
) -> Result<super::demo_history::HistorySummary, AdminError> {
    use super::demo_history::{self, HistoryStore};
    let start = now - Duration::days(demo_history::DAYS);
    let ids = store::write(store, |tx| {
        let mut ids = Vec::with_capacity(DEMO_REGULARS);
        for i in 0..DEMO_REGULARS {
            let (last, first) = REGULAR_NAMES[i % REGULAR_NAMES.len()];
            let id = format!("demo-regular-{i:03}");
            let home = if i % 3 == 2 {
                DEMO_STORE_EAST
            } else {
                DEMO_STORE
            };
            tx.insert_customer(&NewCustomer {
                id: id.clone(),
                phone: format!("+79991{i:06}"),
                card_status: "Стандартная".into(),
                phone_verified: true,
                last_name: Some(last.into()),
                first_name: Some(first.into()),
                registered_at: start + Duration::hours(i as i64),
                store_id: Some(home.into()),
                ..NewCustomer::default()
            })?;
            tx.insert_consent(&NewConsent {
                customer_id: &id,
                kind: "processing",
                granted: true,
                at: start,
                terminal_id: None,
                cashier: None,
            })?;
            ids.push(id);
        }
        tx.bump_feed(&ids.iter().map(String::as_str).collect::<Vec<_>>())?;
        Ok(ids)
    })?;
    let rules = super::newest_rules(store)?;
    let (west, east) = store::read(store, |r| {
        Ok((r.store(DEMO_STORE)?, r.store(DEMO_STORE_EAST)?))
    })?;
    let (Some(west), Some(east)) = (west, east) else {
        return Err(AdminError::Backoffice(
            "the demo year needs the demo stores: run demo-data first".into(),
        ));
    };
    let west_cashiers = ["Кассир Мария".to_string(), "Управляющий Олег".to_string()];
    let east_cashiers = ["Кассир Зарина".to_string(), "Управляющая Вера".to_string()];
    let stores = [
        HistoryStore {
            store: &west,
            cashiers: &west_cashiers,
        },
        HistoryStore {
            store: &east,
            cashiers: &east_cashiers,
        },
    ];
    Ok(demo_history::apply_year(
        store,
        &rules.rules,
        &stores,
        &ids,
        now,
    )?)
}
