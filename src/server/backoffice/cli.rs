//! The back office on the server's command line, for installers' scripts:
//! `bonuskassa-server admin|store|staff|terminal|rules …`. Each command opens the store
//! itself (it works with the server stopped or beside running servers), acts as the
//! owner, and is audited as `cli`. Cashier codes are read from standard input, never from
//! the command line where `ps` and the shell history would keep them.

use std::io::BufRead;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Subcommand, ValueEnum};

use super::{Actor, BackofficeError, accounts, chain, rules};
use crate::protocol::admin::{
    NewStaffRequest, NewStoreRequest, RulesTryRequest, StaffRole, StaffUpdate, StoreUpdate,
};
use crate::protocol::server::Secret;
use crate::server::store::{AccountRole, Store};

/// Why a command failed: the exit code (2: bad input, 1: anything else) and a sentence.
pub type Failure = (u8, String);

fn failure(e: BackofficeError) -> Failure {
    let code = match e {
        BackofficeError::Store(_) => 1,
        _ => 2,
    };
    (code, e.to_string())
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Owner,
    Manager,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StaffRoleArg {
    Cashier,
    Manager,
}

impl From<StaffRoleArg> for StaffRole {
    fn from(r: StaffRoleArg) -> StaffRole {
        match r {
            StaffRoleArg::Cashier => StaffRole::Cashier,
            StaffRoleArg::Manager => StaffRole::Manager,
        }
    }
}

/// `bonuskassa-server admin …`: back-office accounts.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an account and print its one-time password (changed at first sign-in).
    Add {
        #[arg(long)]
        email: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// A manager's store (repeat for several).
        #[arg(long = "store")]
        stores: Vec<String>,
    },
    /// List the accounts.
    List,
    /// Give an account a new one-time password (a forgotten one) and unlock it.
    ResetPassword {
        #[arg(long)]
        email: String,
    },
}

/// `bonuskassa-server store …`: the chain's stores.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Create a store.
    Add {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        address: String,
        /// An IANA time zone: birthdays and reports use the store's local date.
        #[arg(long, default_value = chain::DEFAULT_TIME_ZONE)]
        time_zone: String,
    },
    /// Change a store's name, address or time zone.
    Edit {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        address: Option<String>,
        #[arg(long)]
        time_zone: Option<String>,
    },
    /// List the stores.
    List,
}

/// `bonuskassa-server staff …`: cashiers and till managers.
#[derive(Debug, Subcommand)]
pub enum StaffCommand {
    /// Add a cashier or manager; the code (4 to 8 digits) is read from standard input.
    Add {
        #[arg(long)]
        store: String,
        #[arg(long)]
        name: String,
        #[arg(long, value_enum, default_value = "cashier")]
        role: StaffRoleArg,
    },
    /// Rename, change the role, set a new code (`--new-code`: read from standard input),
    /// deactivate or reactivate.
    Edit {
        #[arg(long)]
        id: i64,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, value_enum)]
        role: Option<StaffRoleArg>,
        #[arg(long)]
        new_code: bool,
        #[arg(long, conflicts_with = "activate")]
        deactivate: bool,
        #[arg(long)]
        activate: bool,
    },
    /// List the staff.
    List {
        #[arg(long)]
        store: Option<String>,
    },
}

/// `bonuskassa-server terminal …`: the tills.
#[derive(Debug, Subcommand)]
pub enum TerminalCommand {
    /// List the tills with what each last reported: version, last sync, queue.
    List {
        #[arg(long)]
        store: Option<String>,
    },
    /// Lift the lock that wrong cashier codes put on a till's logins.
    Unlock {
        #[arg(long)]
        id: String,
    },
}

/// `bonuskassa-server rules …`: the loyalty rules versions.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Store a rules file as a new version (checked first; refused with the line named).
    Upload {
        #[arg(long)]
        file: PathBuf,
        #[arg(long, default_value = "")]
        comment: String,
        /// Activate it at once.
        #[arg(long)]
        activate: bool,
    },
    /// List the versions; `*` marks the active one.
    List,
    /// Print a version's text.
    Show {
        #[arg(long)]
        version: i64,
    },
    /// Print the difference between two versions.
    Diff {
        #[arg(long)]
        from: i64,
        #[arg(long)]
        to: i64,
    },
    /// Make a version the active one (tills take it within a minute).
    Activate {
        #[arg(long)]
        version: i64,
    },
    /// Go back to the version active before the current one.
    Rollback,
    /// Price a receipt (JSON, as for `bonuskassa calc`) with a version.
    Try {
        #[arg(long)]
        version: i64,
        #[arg(long, value_name = "RECEIPT.json")]
        receipt: PathBuf,
        /// A real customer's id; otherwise `--card` and `--balance` describe one.
        #[arg(long)]
        customer_id: Option<String>,
        #[arg(long)]
        card: Option<String>,
        #[arg(long, default_value = "0")]
        balance: String,
        #[arg(long, default_value = "0")]
        spend: String,
    },
}

/// Reads a cashier code: the first line of standard input.
fn code_from_stdin() -> Result<Secret, Failure> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| (2, format!("cannot read the code from standard input: {e}")))?;
    let code = line.trim().to_string();
    if code.is_empty() {
        return Err((
            2,
            "give the cashier code on standard input: echo 1234 | bonuskassa-server staff …".into(),
        ));
    }
    Ok(Secret(code))
}

fn print_json<T: serde::Serialize>(v: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).expect("wire types always serialize")
    );
}

pub fn admin(store: &dyn Store, cmd: AdminCommand, now: DateTime<Utc>) -> Result<(), Failure> {
    let actor = Actor::cli();
    match cmd {
        AdminCommand::Add {
            email,
            role,
            stores,
        } => {
            let role = match role {
                RoleArg::Owner => AccountRole::Owner,
                RoleArg::Manager => AccountRole::Manager,
            };
            let (account, password) =
                accounts::add_account(store, &actor, &email, role, &stores, now)
                    .map_err(failure)?;
            println!(
                "account {} ({}) created; one-time password: {}\nchange it at the first sign-in",
                account.email,
                account.role.name(),
                password.expose()
            );
        }
        AdminCommand::List => {
            for a in accounts::list(store, &actor).map_err(failure)? {
                println!(
                    "{}\t{}\t{}\t{}",
                    a.email,
                    a.role.name(),
                    a.stores.join(","),
                    if a.active { "active" } else { "deactivated" }
                );
            }
        }
        AdminCommand::ResetPassword { email } => {
            let email = accounts::normalize_email(&email).map_err(failure)?;
            let id = accounts::list(store, &actor)
                .map_err(failure)?
                .into_iter()
                .find(|a| a.email == email)
                .map(|a| a.id)
                .ok_or_else(|| (2, format!("no account {email}")))?;
            let (_, password) = accounts::update_account(store, &actor, id, None, None, true, now)
                .map_err(failure)?;
            let password = password.expect("a reset gives a password");
            println!("new one-time password for {email}: {}", password.expose());
        }
    }
    Ok(())
}

pub fn stores(store: &dyn Store, cmd: StoreCommand, now: DateTime<Utc>) -> Result<(), Failure> {
    let actor = Actor::cli();
    match cmd {
        StoreCommand::Add {
            id,
            name,
            address,
            time_zone,
        } => {
            let s = chain::add_store(
                store,
                &actor,
                &NewStoreRequest {
                    id,
                    name,
                    address,
                    time_zone: Some(time_zone),
                },
                now,
            )
            .map_err(failure)?;
            println!("store {} created ({})", s.id, s.time_zone);
        }
        StoreCommand::Edit {
            id,
            name,
            address,
            time_zone,
        } => {
            let s = chain::update_store(
                store,
                &actor,
                &id,
                &StoreUpdate {
                    name,
                    address,
                    time_zone,
                },
                now,
            )
            .map_err(failure)?;
            print_json(&s);
        }
        StoreCommand::List => {
            for s in chain::stores(store, &actor, now).map_err(failure)? {
                println!("{}\t{}\t{}\t{}", s.id, s.name, s.time_zone, s.address);
            }
        }
    }
    Ok(())
}

pub fn staff(store: &dyn Store, cmd: StaffCommand, now: DateTime<Utc>) -> Result<(), Failure> {
    let actor = Actor::cli();
    match cmd {
        StaffCommand::Add {
            store: store_id,
            name,
            role,
        } => {
            let code = code_from_stdin()?;
            let s = chain::add_staff(
                store,
                &actor,
                &NewStaffRequest {
                    store_id,
                    name,
                    role: role.into(),
                    code,
                },
                now,
            )
            .map_err(failure)?;
            println!("staff {} added to store {}", s.id, s.store_id);
        }
        StaffCommand::Edit {
            id,
            name,
            role,
            new_code,
            deactivate,
            activate,
        } => {
            let code = if new_code {
                Some(code_from_stdin()?)
            } else {
                None
            };
            let active = match (activate, deactivate) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            };
            let s = chain::update_staff(
                store,
                &actor,
                id,
                &StaffUpdate {
                    name,
                    role: role.map(Into::into),
                    code,
                    active,
                },
                now,
            )
            .map_err(failure)?;
            print_json(&s);
        }
        StaffCommand::List { store: store_id } => {
            for s in chain::staff(store, &actor, store_id.as_deref()).map_err(failure)? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    s.id,
                    s.store_id,
                    s.name,
                    match s.role {
                        StaffRole::Cashier => "cashier",
                        StaffRole::Manager => "manager",
                    },
                    if s.active { "active" } else { "deactivated" }
                );
            }
        }
    }
    Ok(())
}

pub fn terminals(
    store: &dyn Store,
    cmd: TerminalCommand,
    now: DateTime<Utc>,
) -> Result<(), Failure> {
    let actor = Actor::cli();
    match cmd {
        TerminalCommand::List { store: store_id } => {
            let dash = || "-".to_string();
            for t in chain::terminals(store, &actor, store_id.as_deref(), now).map_err(failure)? {
                println!(
                    "{}\t{}\t{}\tversion {}\tlast sync {}\tqueue {}\toldest {}{}",
                    t.id,
                    t.store_id,
                    t.name,
                    t.app_version.unwrap_or_else(dash),
                    t.last_sync_at.map_or_else(dash, |t| t.to_rfc3339()),
                    t.queue_length.map_or_else(dash, |q| q.to_string()),
                    t.oldest_queued_at.map_or_else(dash, |t| t.to_rfc3339()),
                    if t.revoked_at.is_some() {
                        "\trevoked"
                    } else {
                        ""
                    }
                );
            }
        }
        TerminalCommand::Unlock { id } => {
            chain::unlock_terminal(store, &actor, &id, now).map_err(failure)?;
            println!("cashier logins at terminal {id} unlocked");
        }
    }
    Ok(())
}

pub fn rules(store: &dyn Store, cmd: RulesCommand, now: DateTime<Utc>) -> Result<(), Failure> {
    let actor = Actor::cli();
    match cmd {
        RulesCommand::Upload {
            file,
            comment,
            activate,
        } => {
            let text = std::fs::read_to_string(&file).map_err(|e| {
                (
                    2,
                    format!("rules file {}: cannot read it: {e}", file.display()),
                )
            })?;
            let v =
                rules::upload(store, &actor, &text, &comment, activate, now).map_err(
                    |e| match e {
                        BackofficeError::RulesInvalid(r) => {
                            (2, format!("rules file {}: {r}", file.display()))
                        }
                        other => failure(other),
                    },
                )?;
            println!(
                "rules version {} stored{}",
                v.version,
                if v.active {
                    " and active"
                } else {
                    "; activate it with `rules activate`"
                }
            );
        }
        RulesCommand::List => {
            for v in rules::versions(store).map_err(failure)? {
                println!(
                    "{}{}\t{}\t{}\t{}",
                    if v.active { "*" } else { " " },
                    v.version,
                    v.loaded_at.to_rfc3339(),
                    if v.uploaded_by.is_empty() {
                        "-"
                    } else {
                        &v.uploaded_by
                    },
                    v.comment
                );
            }
        }
        RulesCommand::Show { version } => {
            print!("{}", rules::version(store, version).map_err(failure)?.text);
        }
        RulesCommand::Diff { from, to } => {
            print!("{}", rules::diff(store, from, to).map_err(failure)?.unified);
        }
        RulesCommand::Activate { version } => {
            let v = rules::activate(store, &actor, version, now).map_err(failure)?;
            println!("rules version {} is active", v.version);
        }
        RulesCommand::Rollback => {
            let v = rules::roll_back(store, &actor, now).map_err(failure)?;
            println!("rolled back: rules version {} is active", v.version);
        }
        RulesCommand::Try {
            version,
            receipt,
            customer_id,
            card,
            balance,
            spend,
        } => {
            let text = std::fs::read_to_string(&receipt).map_err(|e| {
                (
                    2,
                    format!("receipt {}: cannot read it: {e}", receipt.display()),
                )
            })?;
            let receipt_value = crate::protocol::parse_json(text.as_bytes())
                .map_err(|e| (2, format!("receipt {}: {e}", receipt.display())))?;
            let amount = |name: &str, v: &str| {
                crate::domain::money::Bonus::parse_non_negative(v)
                    .map_err(|e| (2, format!("--{name} {v}: {e}")))
            };
            let req = RulesTryRequest {
                receipt: receipt_value,
                customer_id,
                card,
                balance: amount("balance", &balance)?,
                spend: amount("spend", &spend)?,
            };
            print_json(&rules::try_receipt(store, version, &req, now).map_err(failure)?);
        }
    }
    Ok(())
}
