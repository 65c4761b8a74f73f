//! The import of an existing customer base (issue 15; seed 004: «загрузка базы из 10 000
//! клиентов занимает около 25 минут»): a CSV or XLSX file with the template's columns
//! ([`Column`]) becomes customers with their cards, statuses, bonuses and purchases.
//!
//! - **A dry run first**: every row is read and checked against the file and the database,
//!   and the [`ImportReport`] names every bad row (the row number Excel shows, the column,
//!   why); nothing is written.
//! - **All or nothing**: the import itself checks again inside one transaction and writes
//!   only when no row is bad.
//! - **Idempotent**: every customer a row made keeps the row's digest (a SHA-256 of its
//!   content as read). Importing the same file again finds each phone with the same digest
//!   and changes nothing; the same phone with another digest (a customer registered at a
//!   till meanwhile, or an edited row) is a conflict the report names, never overwritten.
//! - A row's **balance** becomes one bonus batch with the source
//!   «Перенос из старой программы» ([`Source::Import`]): spendable at once, burning after
//!   the row's card status's `burn_after_days` from the import. Its **purchases sum** is one
//!   purchase dated [`IMPORTED_PURCHASES_AT`], before this program existed: status thresholds
//!   over all time count it, those over the last N days do not. Every new customer moves to
//!   the end of the tills' feed, so the tills learn them.
//! - **Consents**: the old program held the customers' consent to the processing of their
//!   personal data (it could not have kept them otherwise), so each imported customer gets
//!   that consent recorded as given at the import, by «Перенос из старой программы»; the
//!   consent to advertising is not assumed and stays not given. The phone counts as verified:
//!   the old program's members spend their bonuses as they did there.
//!
//! Engine-free: everything goes through the store seam ([`ImportRead`], [`ImportTx`] and the
//! ledger), one transaction for the whole file, no statement per row beyond what a
//! registration writes.

mod columns;
mod read;

use std::collections::HashMap;
use std::fmt;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use columns::Column;
pub use read::{FileError, FileFormat, MAX_ROWS};

use super::backoffice::{Actor, BackofficeError, audit};
use super::ledger::{self, Grant};
use super::store::{
    self, ImportMark, NewConsent, NewCustomer, ReadTx, Source, Store, StoreError, Tx,
};
use crate::domain::card::{CardError, CardFormat, CardNumber};
use crate::domain::money::{Bonus, Money};
use crate::domain::phone::{Phone, PhoneError};
use crate::domain::rules::Rules;
use read::{Cell, Sheet};

/// The history line of an imported balance, and who gave an imported customer's consent.
pub const IMPORT_DESCRIPTION: &str = "Перенос из старой программы";

/// When an imported purchases sum is dated: before this program existed, so a status
/// threshold over the last N days never counts the old program's lifetime total.
pub const IMPORTED_PURCHASES_AT: DateTime<Utc> = DateTime::UNIX_EPOCH;

/// The largest file the back office's API takes: 10 000 customers are about 1.5 MB of CSV.
pub const MAX_FILE_BYTES: usize = 64 * 1024 * 1024;

/// The longest name part kept.
pub const MAX_NAME: usize = 100;

/// What a dry run found, or what an import did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImportReport {
    /// How the file was read.
    pub format: FileFormat,
    pub dry_run: bool,
    /// Whether anything was written: never on a dry run, nor when a row is bad.
    pub written: bool,
    /// Data rows read (blank rows left out).
    pub rows: u32,
    /// Customers the file adds (on a dry run: would add).
    pub new_customers: u32,
    /// Rows imported before, recognised and left as they are.
    pub already_imported: u32,
    /// Bonuses the new customers bring.
    #[schema(value_type = String, example = "12500.00")]
    pub bonuses: Bonus,
    /// The purchases sum the new customers bring.
    #[schema(value_type = String, example = "350000.00")]
    pub purchases_sum: Money,
    /// The template's columns found in the header row.
    pub columns: Vec<Column>,
    /// Headers that name no column of the template; their cells are not read.
    pub ignored_columns: Vec<String>,
    /// Every bad row, by row then column.
    pub problems: Vec<RowProblem>,
}

impl ImportReport {
    /// Whether every row is good.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// A bad row: its number as Excel shows it, the column (none for the row as a whole), why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RowProblem {
    pub row: u32,
    /// Left out when the row as a whole is at fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub column: Option<Column>,
    pub problem: Problem,
}

/// Why a row cannot be imported. Never quotes a phone, a card, a name or an e-mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    /// The phone cell is empty: a customer is found by their phone.
    MissingPhone,
    /// Not a Russian phone number; `reason` says why.
    BadPhone { reason: String },
    /// A bank card's number (Luhn-valid, 13–19 digits): refused and never stored.
    BankCard,
    /// Not a card number of this program; `reason` says why.
    BadCard { reason: String },
    /// The same phone is in an earlier row of the file.
    DuplicatePhone { first_row: u32 },
    /// The same card number is in an earlier row of the file.
    DuplicateCard { first_row: u32 },
    /// A customer with this phone is already in bonuskassa, registered at a till or made by
    /// an import row with other content.
    PhoneTaken,
    /// The card number belongs to a customer with another phone.
    CardTaken,
    /// No card status of the loyalty rules has this name.
    UnknownStatus { value: String, known: Vec<String> },
    /// A balance or purchases sum below zero.
    Negative,
    /// Not a number.
    NotANumber { value: String },
    /// More than two digits after the decimal point.
    TooPrecise { value: String },
    /// More than ten billion.
    TooLarge { value: String },
    /// Not a date in `ДД.ММ.ГГГГ` or `ГГГГ-ММ-ДД` (two-digit years are not guessed).
    BadDate { value: String },
    /// A birth date before 1900 or in the future.
    DateOutOfRange { value: String },
    /// Not м/ж (male/female).
    BadGender { value: String },
    /// Not an e-mail address.
    BadEmail,
    /// Longer than `max` characters.
    TooLong { max: usize },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::MissingPhone => f.write_str("no phone: every customer needs one"),
            Problem::BadPhone { reason } => write!(f, "not a Russian phone number: {reason}"),
            Problem::BankCard => f.write_str(
                "this looks like a bank card number; bank cards are not loyalty cards and are not stored",
            ),
            Problem::BadCard { reason } => write!(f, "not a card number of this program: {reason}"),
            Problem::DuplicatePhone { first_row } => {
                write!(f, "the same phone is already in row {first_row}")
            }
            Problem::DuplicateCard { first_row } => {
                write!(f, "the same card number is already in row {first_row}")
            }
            Problem::PhoneTaken => f.write_str(
                "a customer with this phone is already in bonuskassa (registered at a till, or imported from a row with other data); remove the row or change the customer in the back office",
            ),
            Problem::CardTaken => {
                f.write_str("this card number belongs to a customer with another phone")
            }
            Problem::UnknownStatus { value, known } => write!(
                f,
                "unknown card status «{value}»; the rules have {}",
                known
                    .iter()
                    .map(|k| format!("«{k}»"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Problem::Negative => f.write_str("a negative amount"),
            Problem::NotANumber { value } => write!(f, "«{value}» is not a number"),
            Problem::TooPrecise { value } => {
                write!(f, "«{value}» has more than two digits after the decimal point")
            }
            Problem::TooLarge { value } => write!(f, "«{value}» is more than ten billion"),
            Problem::BadDate { value } => write!(
                f,
                "«{value}» is not a date: write it as ДД.ММ.ГГГГ, e.g. 05.03.1990"
            ),
            Problem::DateOutOfRange { value } => {
                write!(f, "«{value}» is before 1900 or in the future")
            }
            Problem::BadGender { value } => write!(f, "«{value}» is not a gender: write м or ж"),
            Problem::BadEmail => f.write_str("not an e-mail address"),
            Problem::TooLong { max } => write!(f, "longer than {max} characters"),
        }
    }
}

impl fmt::Display for RowProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(c) => write!(f, "row {}, «{}»: {}", self.row, c.header(), self.problem),
            None => write!(f, "row {}: {}", self.row, self.problem),
        }
    }
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "file: {}", self.format)?;
        writeln!(
            f,
            "columns: {}",
            self.columns
                .iter()
                .map(|c| c.header())
                .collect::<Vec<_>>()
                .join(", ")
        )?;
        if !self.ignored_columns.is_empty() {
            writeln!(
                f,
                "ignored columns: {}",
                self.ignored_columns
                    .iter()
                    .map(|c| format!("«{c}»"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )?;
        }
        writeln!(
            f,
            "rows: {}; new customers: {}; already imported: {}; bonuses: {}; purchases: {}",
            self.rows, self.new_customers, self.already_imported, self.bonuses, self.purchases_sum
        )?;
        if !self.problems.is_empty() {
            writeln!(f, "{} bad rows:", self.bad_rows())?;
            for p in &self.problems {
                writeln!(f, "  {p}")?;
            }
        }
        let outcome = match (self.dry_run, self.written, self.ok()) {
            (true, _, true) => "dry run: every row is good; nothing written",
            (true, _, false) => "dry run: fix the rows above; nothing written",
            (false, true, _) => "imported",
            (false, false, true) => "nothing new to import",
            (false, false, false) => "nothing imported: fix the rows above and import again",
        };
        write!(f, "{outcome}")
    }
}

impl ImportReport {
    /// How many rows have at least one problem.
    pub fn bad_rows(&self) -> usize {
        let mut rows: Vec<u32> = self.problems.iter().map(|p| p.row).collect();
        rows.dedup();
        rows.len()
    }
}

/// Why a file was not imported at all (a bad row is not an error: it is in the report).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error(
        "the header row has no phone column: name it «Телефон» (the columns are {})",
        template_headers()
    )]
    NoPhoneColumn,
    #[error("the columns «{first}» and «{second}» both name the column «{column}»")]
    DuplicateColumn {
        column: Column,
        first: String,
        second: String,
    },
    #[error("no store {0}")]
    UnknownStore(String),
    /// A store manager importing into a store not theirs.
    #[error("{0}")]
    Forbidden(String),
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("no loyalty rules are active yet: upload and activate a rules file first")]
    NoRules,
    #[error("the active rules version {0} no longer parses")]
    StoredRules(i64),
    #[error("the loyalty rules have no card status for new customers")]
    NoCardStatus,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ImportError {
    /// Whether the file, the command or the account is at fault (exit code 2, HTTP 4xx),
    /// not the database.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, ImportError::Store(_) | ImportError::StoredRules(_))
    }
}

impl From<BackofficeError> for ImportError {
    fn from(e: BackofficeError) -> ImportError {
        match e {
            BackofficeError::Store(e) => ImportError::Store(e),
            other => ImportError::Forbidden(other.to_string()),
        }
    }
}

/// What the audit event of an import keeps: counts, never a customer.
#[derive(Serialize)]
struct AuditSummary {
    rows: u32,
    new_customers: u32,
    already_imported: u32,
    bonuses: Bonus,
    purchases_sum: Money,
}

fn template_headers() -> String {
    Column::ALL
        .iter()
        .map(|c| format!("«{}»", c.header()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where each column of the template is in the file.
struct Layout {
    at: HashMap<Column, usize>,
    columns: Vec<Column>,
    ignored: Vec<String>,
}

fn layout(headers: &[String]) -> Result<Layout, ImportError> {
    let mut at: HashMap<Column, usize> = HashMap::new();
    let mut columns = Vec::new();
    let mut ignored = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        if h.trim().is_empty() {
            continue;
        }
        match Column::of_header(h) {
            Some(c) => {
                if let Some(&first) = at.get(&c) {
                    return Err(ImportError::DuplicateColumn {
                        column: c,
                        first: headers[first].clone(),
                        second: h.clone(),
                    });
                }
                at.insert(c, i);
                columns.push(c);
            }
            None => ignored.push(h.clone()),
        }
    }
    if !at.contains_key(&Column::Phone) {
        return Err(ImportError::NoPhoneColumn);
    }
    columns.sort_by_key(|c| Column::ALL.iter().position(|a| a == c));
    Ok(Layout {
        at,
        columns,
        ignored,
    })
}

/// A good row, ready to become a customer.
#[derive(Clone)]
struct Row {
    number: u32,
    phone: String,
    card: Option<String>,
    last_name: Option<String>,
    first_name: Option<String>,
    middle_name: Option<String>,
    birth_date: Option<NaiveDate>,
    gender: Option<&'static str>,
    email: Option<String>,
    status: String,
    balance: i64,
    purchases: i64,
    digest: String,
}

impl Row {
    /// A SHA-256 of what the row says, as read: the same row in another file, another
    /// encoding or another spelling of the phone has the same digest.
    fn digest(&self) -> String {
        let mut h = Sha256::new();
        let fields = [
            self.phone.clone(),
            self.card.clone().unwrap_or_default(),
            self.last_name.clone().unwrap_or_default(),
            self.first_name.clone().unwrap_or_default(),
            self.middle_name.clone().unwrap_or_default(),
            self.birth_date.map(|d| d.to_string()).unwrap_or_default(),
            self.gender.unwrap_or_default().to_string(),
            self.email.clone().unwrap_or_default(),
            self.status.clone(),
            self.balance.to_string(),
            self.purchases.to_string(),
        ];
        for f in fields {
            h.update(f.as_bytes());
            h.update([0x1f]);
        }
        hex::encode(h.finalize())
    }
}

/// Reads every row; the good ones and the problems of the bad ones (the file's own
/// duplicates included).
fn read_rows(
    sheet: &Sheet,
    layout: &Layout,
    rules: &Rules,
    today: NaiveDate,
) -> Result<(Vec<Row>, Vec<RowProblem>), ImportError> {
    let default_status = rules
        .registration_card()
        .or(rules.cards.first())
        .ok_or(ImportError::NoCardStatus)?
        .name
        .clone();
    let formats = CardFormat::default_formats();
    let mut problems = Vec::new();
    let mut rows = Vec::with_capacity(sheet.rows.len());
    let mut phones: HashMap<String, u32> = HashMap::with_capacity(sheet.rows.len());
    let mut cards: HashMap<String, u32> = HashMap::new();
    let empty = Cell::Empty;
    for r in &sheet.rows {
        let cell = |c: Column| {
            layout
                .at
                .get(&c)
                .and_then(|&i| r.cells.get(i))
                .unwrap_or(&empty)
        };
        let before = problems.len();
        let mut bad = |column: Option<Column>, problem: Problem| {
            problems.push(RowProblem {
                row: r.number,
                column,
                problem,
            })
        };
        let phone = match cell(Column::Phone) {
            c if c.is_empty() => {
                bad(Some(Column::Phone), Problem::MissingPhone);
                None
            }
            c => match Phone::parse(&c.text()) {
                Ok(p) => Some(p.as_e164().to_string()),
                Err(e) => {
                    bad(Some(Column::Phone), phone_problem(&e));
                    None
                }
            },
        };
        if let Some(p) = &phone
            && let Some(&first_row) = phones.get(p)
        {
            bad(Some(Column::Phone), Problem::DuplicatePhone { first_row });
        }
        let card = match cell(Column::Card) {
            c if c.is_empty() => None,
            c => match CardNumber::parse(&c.text(), &formats) {
                Ok(n) => Some(n.as_str().to_string()),
                Err(CardError::BankCardLike) => {
                    bad(Some(Column::Card), Problem::BankCard);
                    None
                }
                Err(e) => {
                    bad(
                        Some(Column::Card),
                        Problem::BadCard {
                            reason: e.to_string(),
                        },
                    );
                    None
                }
            },
        };
        if let Some(n) = &card
            && let Some(&first_row) = cards.get(n)
        {
            bad(Some(Column::Card), Problem::DuplicateCard { first_row });
        }
        let mut name = |c: Column| {
            let t = cell(c).text();
            if t.chars().count() > MAX_NAME {
                bad(Some(c), Problem::TooLong { max: MAX_NAME });
                return None;
            }
            (!t.is_empty()).then_some(t)
        };
        let last_name = name(Column::LastName);
        let first_name = name(Column::FirstName);
        let middle_name = name(Column::MiddleName);
        let birth_date = match columns::date(cell(Column::BirthDate), today) {
            Ok(d) => d,
            Err(e) => {
                let value = cell(Column::BirthDate).text();
                bad(
                    Some(Column::BirthDate),
                    match e {
                        columns::DateError::NotADate => Problem::BadDate { value },
                        columns::DateError::OutOfRange => Problem::DateOutOfRange { value },
                    },
                );
                None
            }
        };
        let gender = columns::gender(cell(Column::Gender)).unwrap_or_else(|()| {
            bad(
                Some(Column::Gender),
                Problem::BadGender {
                    value: cell(Column::Gender).text(),
                },
            );
            None
        });
        let email = match cell(Column::Email).text() {
            e if e.is_empty() => None,
            e if columns::email_ok(&e) => Some(e),
            _ => {
                bad(Some(Column::Email), Problem::BadEmail);
                None
            }
        };
        let status = match cell(Column::CardStatus).text() {
            s if s.is_empty() => default_status.clone(),
            s => match status_named(rules, &s) {
                Some(name) => name,
                None => {
                    bad(
                        Some(Column::CardStatus),
                        Problem::UnknownStatus {
                            value: s,
                            known: rules.cards.iter().map(|c| c.name.clone()).collect(),
                        },
                    );
                    default_status.clone()
                }
            },
        };
        let mut amount = |c: Column| {
            columns::amount(cell(c)).unwrap_or_else(|e| {
                let value = cell(c).text();
                bad(
                    Some(c),
                    match e {
                        columns::AmountError::Negative => Problem::Negative,
                        columns::AmountError::NotANumber => Problem::NotANumber { value },
                        columns::AmountError::TooPrecise => Problem::TooPrecise { value },
                        columns::AmountError::TooLarge => Problem::TooLarge { value },
                    },
                );
                0
            })
        };
        let balance = amount(Column::Balance);
        let purchases = amount(Column::PurchasesSum);
        if let Some(p) = &phone {
            phones.entry(p.clone()).or_insert(r.number);
        }
        if let Some(n) = &card {
            cards.entry(n.clone()).or_insert(r.number);
        }
        if problems.len() > before {
            continue;
        }
        let Some(phone) = phone else { continue };
        let mut row = Row {
            number: r.number,
            phone,
            card,
            last_name,
            first_name,
            middle_name,
            birth_date,
            gender,
            email,
            status,
            balance,
            purchases,
            digest: String::new(),
        };
        row.digest = row.digest();
        rows.push(row);
    }
    Ok((rows, problems))
}

fn phone_problem(e: &PhoneError) -> Problem {
    Problem::BadPhone {
        reason: e.to_string(),
    }
}

/// The rules' card status a cell names, whatever its case, `ё`/`е` and spaces.
fn status_named(rules: &Rules, cell: &str) -> Option<String> {
    let key = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
            .replace('ё', "е")
    };
    let want = key(cell);
    rules
        .cards
        .iter()
        .find(|c| key(&c.name) == want)
        .map(|c| c.name.clone())
}

/// The rows the database does not know yet; the rows it has from an earlier import are
/// counted; conflicts go to `problems`.
fn against_database(
    r: &mut dyn ReadTx,
    rows: &[Row],
    problems: &mut Vec<RowProblem>,
) -> Result<(Vec<Row>, u32), StoreError> {
    let phones: Vec<&str> = rows.iter().map(|r| r.phone.as_str()).collect();
    let cards: Vec<&str> = rows.iter().filter_map(|r| r.card.as_deref()).collect();
    let matches = r.import_matches(&phones, &cards)?;
    let by_phone: HashMap<&str, &store::ImportMatch> =
        matches.iter().map(|m| (m.phone.as_str(), m)).collect();
    let by_card: HashMap<&str, &store::ImportMatch> = matches
        .iter()
        .filter_map(|m| m.card_number.as_deref().map(|c| (c, m)))
        .collect();
    let mut new = Vec::with_capacity(rows.len());
    let mut already = 0;
    for row in rows {
        let bad = |column, problem| RowProblem {
            row: row.number,
            column: Some(column),
            problem,
        };
        if let Some(m) = by_phone.get(row.phone.as_str()) {
            if m.digest.as_deref() == Some(row.digest.as_str()) {
                already += 1;
            } else {
                problems.push(bad(Column::Phone, Problem::PhoneTaken));
            }
        } else if row.card.as_deref().is_some_and(|c| by_card.contains_key(c)) {
            problems.push(bad(Column::Card, Problem::CardTaken));
        } else {
            new.push(row.clone());
        }
    }
    Ok((new, already))
}

/// What one pass over the file and the database found.
struct Plan {
    new: Vec<Row>,
    already: u32,
    problems: Vec<RowProblem>,
}

fn make_plan(
    r: &mut dyn ReadTx,
    rows: &[Row],
    file_problems: &[RowProblem],
) -> Result<Plan, StoreError> {
    let mut problems = file_problems.to_vec();
    let (new, already) = against_database(r, rows, &mut problems)?;
    problems.sort_by_key(|p| {
        (
            p.row,
            p.column
                .and_then(|c| Column::ALL.iter().position(|a| *a == c)),
        )
    });
    Ok(Plan {
        new,
        already,
        problems,
    })
}

/// Writes the new customers: the customer, the consent, the balance, the purchases sum,
/// the import mark; then moves them all to the end of the tills' feed in one step.
fn write_rows(
    tx: &mut dyn Tx,
    rows: &[Row],
    rules: &Rules,
    store_id: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let ids: Vec<String> = rows
        .iter()
        .map(|_| uuid::Uuid::now_v7().to_string())
        .collect();
    for (row, id) in rows.iter().zip(&ids) {
        let inserted = tx.insert_customer(&NewCustomer {
            id: id.clone(),
            phone: row.phone.clone(),
            card_number: row.card.clone(),
            card_status: row.status.clone(),
            phone_verified: true,
            last_name: row.last_name.clone(),
            first_name: row.first_name.clone(),
            middle_name: row.middle_name.clone(),
            gender: row.gender,
            birth_date: row.birth_date,
            email: row.email.clone(),
            referrer_id: None,
            registered_at: now,
            store_id: Some(store_id.to_string()),
            terminal_id: None,
            cashier: Some(IMPORT_DESCRIPTION.to_string()),
        })?;
        if !inserted {
            // The check ran in this same transaction: only a concurrent writer on an engine
            // without a snapshot could take the phone or card since. Run it all again.
            return Err(StoreError::Conflict(
                "a customer with an imported phone or card appeared during the import".into(),
            ));
        }
        tx.insert_consent(&NewConsent {
            customer_id: id,
            kind: "processing",
            granted: true,
            at: now,
            terminal_id: None,
            cashier: Some(IMPORT_DESCRIPTION),
        })?;
        if row.balance > 0 {
            let burns = rules
                .card(&row.status)
                .and_then(|c| c.burn_after_days)
                .map(|d| now + Duration::days(i64::from(d)));
            ledger::grant(
                tx,
                &Grant {
                    customer_id: id,
                    amount: row.balance,
                    source: Source::Import,
                    description: IMPORT_DESCRIPTION.into(),
                    active_from: now,
                    burns_at: burns,
                    operation_id: None,
                    actor: Some(IMPORT_DESCRIPTION),
                },
                now,
            )
            .map_err(|e| match e {
                ledger::LedgerError::Store(e) => e,
                other => StoreError::Other(other.to_string()),
            })?;
        }
        if row.purchases > 0 {
            tx.insert_purchase(id, IMPORTED_PURCHASES_AT, row.purchases)?;
        }
    }
    let marks: Vec<ImportMark<'_>> = rows
        .iter()
        .zip(&ids)
        .map(|(row, id)| ImportMark {
            customer_id: id,
            digest: &row.digest,
            store_id: Some(store_id),
            at: now,
        })
        .collect();
    tx.insert_import_marks(&marks)?;
    tx.bump_feed(&ids.iter().map(String::as_str).collect::<Vec<_>>())?;
    Ok(())
}

/// Checks a customer base file (`dry_run`), or imports it into the store `store_id` for
/// `actor` (a store manager only into their own stores): all or nothing, in one
/// transaction, with an audit event of the counts when it writes. The report names every
/// bad row; an error means the file as a whole cannot be read, the store is not the
/// actor's, or the database failed.
#[allow(clippy::too_many_arguments)]
pub fn import(
    db: &dyn Store,
    actor: &Actor,
    rules: &Rules,
    file: &[u8],
    store_id: &str,
    dry_run: bool,
    now: DateTime<Utc>,
) -> Result<ImportReport, ImportError> {
    actor.require_store(store_id)?;
    let sheet = read::read(file)?;
    let layout = layout(&sheet.headers)?;
    let (rows, file_problems) = read_rows(&sheet, &layout, rules, now.date_naive())?;
    if store::read(db, |r| r.store(store_id))?.is_none() {
        return Err(ImportError::UnknownStore(store_id.to_string()));
    }
    let report = |plan: &Plan, written: bool| ImportReport {
        format: sheet.format.clone(),
        dry_run,
        written,
        rows: u32::try_from(sheet.rows.len()).unwrap_or(u32::MAX),
        new_customers: u32::try_from(plan.new.len()).unwrap_or(u32::MAX),
        already_imported: plan.already,
        bonuses: Bonus::from_kopecks(plan.new.iter().map(|r| r.balance).sum()),
        purchases_sum: Money::from_kopecks(plan.new.iter().map(|r| r.purchases).sum()),
        columns: layout.columns.clone(),
        ignored_columns: layout.ignored.clone(),
        problems: plan.problems.clone(),
    };
    if dry_run || !file_problems.is_empty() {
        let plan = store::read(db, |r| make_plan(r, &rows, &file_problems))?;
        return Ok(report(&plan, false));
    }
    let (plan, written) = store::write(db, |tx| {
        let plan = make_plan(&mut *tx, &rows, &file_problems)?;
        let write = plan.problems.is_empty() && !plan.new.is_empty();
        if write {
            write_rows(tx, &plan.new, rules, store_id, now)?;
            let r = report(&plan, true);
            let summary = AuditSummary {
                rows: r.rows,
                new_customers: r.new_customers,
                already_imported: r.already_imported,
                bonuses: r.bonuses,
                purchases_sum: r.purchases_sum,
            };
            audit(
                tx,
                actor,
                now,
                "customers.import",
                &format!("store {store_id}"),
                Some(store_id),
                None::<&()>,
                Some(&summary),
            )?;
        }
        Ok((plan, write))
    })?;
    Ok(report(&plan, written))
}

/// [`import`] of a file on disk with the store's active rules, as the owner on the
/// server's command line (`bonuskassa-server import`).
pub fn import_file(
    db: &dyn Store,
    path: &std::path::Path,
    store_id: &str,
    dry_run: bool,
    now: DateTime<Utc>,
) -> Result<ImportReport, ImportError> {
    let file = std::fs::read(path).map_err(|source| ImportError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let (version, text) = store::read(db, |r| r.newest_rules())?.ok_or(ImportError::NoRules)?;
    let rules = Rules::from_toml_str(&text).map_err(|_| ImportError::StoredRules(version))?;
    import(db, &Actor::cli(), &rules, &file, store_id, dry_run, now)
}
