//! `bonuskassa-server`, the central loyalty server's thin main: parse arguments, initialise
//! tracing, run the job, map errors to exit codes (2: bad input, 1: anything else).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::Utc;
use clap::{Parser, Subcommand};

use bonuskassa::domain::money::Bonus;
use bonuskassa::server::reports::{self, export};
use bonuskassa::server::selfreg::SelfRegPolicy;
use bonuskassa::server::store::sqlite::backup;
use bonuskassa::server::store::{self, Location, Store};

/// mimalloc instead of glibc's malloc: requests allocate on the executor's threads and free
/// on the read pool's, which glibc serialises on an arena lock (measured: calculations/s
/// on 2 cores, see README).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use bonuskassa::server::backoffice::cli;
use bonuskassa::server::{self, ServerConfig, SystemClock, admin};

#[derive(Parser)]
#[command(
    name = "bonuskassa-server",
    version,
    about = "The central loyalty server"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

/// Where the data is: exactly one of `--data` and `--database`.
#[derive(clap::Args)]
#[group(required = true, multiple = false)]
struct Db {
    /// A data dir with the embedded SQLite database (created if missing).
    #[arg(long)]
    data: Option<PathBuf>,
    /// A PostgreSQL database, `postgres://USER@HOST:PORT/DB`. The password comes from
    /// PGPASSWORD or a password file (PGPASSFILE, ~/.pgpass), never from the URL.
    #[arg(long)]
    database: Option<String>,
}

impl Db {
    fn location(self) -> Result<Location, (u8, String)> {
        match (self.data, self.database) {
            (_, Some(url)) => Ok(Location::Postgres(url)),
            (Some(dir), None) => Ok(Location::Sqlite(dir)),
            (None, None) => Err((2, "give --data DIR or --database URL".into())),
        }
    }
}

/// Where the data is, for the back office's commands: `--data DIR` or `--database URL`,
/// given anywhere on the line (`admin add --data DIR …`).
#[derive(clap::Args)]
struct AnyDb {
    /// A data dir with the embedded SQLite database.
    #[arg(long, global = true)]
    data: Option<PathBuf>,
    /// A PostgreSQL database, `postgres://USER@HOST:PORT/DB` (password from PGPASSWORD or
    /// a password file).
    #[arg(long, global = true, conflicts_with = "data")]
    database: Option<String>,
}

impl AnyDb {
    /// Opens the store.
    fn open(self) -> Result<Arc<dyn bonuskassa::server::store::Store>, (u8, String)> {
        let location = Db {
            data: self.data,
            database: self.database,
        }
        .location()?;
        bonuskassa::server::store::open(&location).map_err(|e| (1, e.to_string()))
    }
}

#[derive(Subcommand)]
enum Command {
    /// Back-office accounts: the chain's owner and store managers.
    Admin {
        #[command(flatten)]
        db: AnyDb,
        #[command(subcommand)]
        cmd: cli::AdminCommand,
    },
    /// The chain's stores, with their addresses and time zones.
    Store {
        #[command(flatten)]
        db: AnyDb,
        #[command(subcommand)]
        cmd: cli::StoreCommand,
    },
    /// Cashiers and till managers of the stores.
    Staff {
        #[command(flatten)]
        db: AnyDb,
        #[command(subcommand)]
        cmd: cli::StaffCommand,
    },
    /// The tills: what each reported, unlocking cashier logins.
    Terminal {
        #[command(flatten)]
        db: AnyDb,
        #[command(subcommand)]
        cmd: cli::TerminalCommand,
    },
    /// The loyalty rules versions: upload, list, diff, try, activate, roll back.
    Rules {
        #[command(flatten)]
        db: AnyDb,
        #[command(subcommand)]
        cmd: cli::RulesCommand,
    },
    /// Import an existing customer base from a CSV or XLSX file (the columns of
    /// assets/import/customers.csv): all or nothing, and importing the same file twice
    /// changes nothing. Prints a report naming every bad row (exit code 2 when there is one).
    Import {
        #[command(flatten)]
        db: Db,
        /// The file: CSV (`;` or `,`, UTF-8 or Windows-1251) or XLSX.
        file: PathBuf,
        /// The store the customers are registered in.
        #[arg(long)]
        store: String,
        /// Check every row and print the report; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Fill a fresh database with the demo chain: two stores, cashiers, invented customers,
    /// the demo rules, the owner's account and a year of invented purchases.
    DemoData {
        #[command(flatten)]
        db: Db,
        /// Leave out the year of purchases (a faster start, for load and fuzz tests).
        #[arg(long)]
        no_history: bool,
    },
    /// Print a one-time enrollment code for a terminal of a store.
    EnrollCode {
        #[command(flatten)]
        db: Db,
        #[arg(long)]
        store: String,
    },
    /// Revoke a terminal's token.
    RevokeTerminal {
        #[command(flatten)]
        db: Db,
        #[arg(long)]
        terminal: String,
    },
    /// Play simulated tills against server nodes, then check the database: nothing lost,
    /// nothing doubled, every balance equal to its ledger. A load tool, not for production
    /// databases: it adds customers and tills of its own.
    FleetSim {
        #[command(flatten)]
        db: Db,
        /// Nodes already serving this database (repeat the option); without it, `--nodes`
        /// server processes are started here.
        #[arg(long = "server")]
        servers: Vec<String>,
        #[arg(long, default_value_t = 1)]
        nodes: usize,
        #[arg(long, default_value_t = 1000)]
        tills: usize,
        /// Operations each till queues.
        #[arg(long, default_value_t = 20)]
        ops: usize,
        /// Operations per request.
        #[arg(long, default_value_t = 5)]
        batch: usize,
        /// Tills working at the same moment.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Customers made up front.
        #[arg(long, default_value_t = 2000)]
        customers: usize,
    },
    /// Print or export the chain's report for a period: loyalty receipts, revenue, discount,
    /// bonuses accrued, spent and burnt, returns, new customers and consents.
    Report {
        #[command(flatten)]
        db: Db,
        /// The first day, 2026-01-31 or 31.01.2026 (each store's local days).
        #[arg(long)]
        from: String,
        /// The last day, included.
        #[arg(long)]
        to: String,
        /// One line per day, store or cashier.
        #[arg(long, default_value = "day")]
        by: String,
        /// Only this store (repeat the option for several).
        #[arg(long = "store")]
        stores: Vec<String>,
        /// table (for the terminal), csv (UTF-8 with a BOM, `;`: Russian Excel) or xlsx.
        #[arg(long, default_value = "table")]
        format: String,
        /// Write to this file instead of standard output (needed for xlsx).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print the outstanding bonus liability: the bonuses customers hold, active and pending.
    Liability {
        #[command(flatten)]
        db: Db,
        /// As of the end of this day (Moscow time); without it, now.
        #[arg(long)]
        at: Option<String>,
        /// Only customers of this store (repeat the option for several).
        #[arg(long = "store")]
        stores: Vec<String>,
    },
    /// Copy the database to a new file, consistent as of one moment, while a server may be
    /// serving from it (SQLite's online backup).
    Backup {
        #[command(flatten)]
        db: Db,
        /// The new backup file.
        #[arg(long)]
        to: PathBuf,
    },
    /// Restore a backup into an empty (or new) data dir.
    Restore {
        /// The backup file.
        #[arg(long)]
        from: PathBuf,
        #[command(flatten)]
        db: Db,
    },
    /// Serve the HTTP API.
    Serve {
        #[command(flatten)]
        db: Db,
        /// Load this rules file (a changed text becomes a new rules version).
        #[arg(long)]
        rules: Option<PathBuf>,
        #[arg(long, default_value = "127.0.0.1:8700")]
        listen: String,
        /// Send SMS through an SMS.ru-style HTTP provider: a URL template with {key},
        /// {phone} and {text}. Without it, messages go to DATA/sms-outbox.log.
        #[arg(long)]
        sms_url: Option<String>,
        /// Serve the log gateway's latest messages at /api/v1/demo/sms (demo only).
        #[arg(long)]
        demo_endpoints: bool,
        /// The customer's page (/r/STORE): SMS codes for one client address per hour.
        #[arg(long, default_value_t = SelfRegPolicy::default().per_address_hour_max)]
        selfreg_per_address_hour: u32,
        /// The customer's page: SMS codes for everyone per hour.
        #[arg(long, default_value_t = SelfRegPolicy::default().hour_max)]
        selfreg_per_hour: u32,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    bonuskassa::logging::init();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, message)) => {
            eprintln!("bonuskassa-server: {message}");
            ExitCode::from(code)
        }
    }
}

/// Opens the store, migrated.
fn open(db: Db) -> Result<Arc<dyn Store>, (u8, String)> {
    store::open(&db.location()?).map_err(|e| (1, e.to_string()))
}

/// The data dir of an embedded database; a PostgreSQL one is backed up and restored by
/// PostgreSQL's own tool, named in the refusal.
fn embedded(db: Db, tool: &str) -> Result<PathBuf, (u8, String)> {
    match db.location()? {
        Location::Sqlite(dir) => Ok(dir),
        Location::Postgres(_) => Err((
            2,
            format!(
                "a PostgreSQL database is backed up and restored with PostgreSQL's own tools: use {tool} (see README, \"Backups\")"
            ),
        )),
    }
}

fn backup_failed(e: backup::BackupError) -> (u8, String) {
    (if e.is_bad_input() { 2 } else { 1 }, e.to_string())
}

fn run(args: Args) -> Result<(), (u8, String)> {
    let now = Utc::now();
    let fail = |e: &dyn std::fmt::Display| (1, e.to_string());
    match args.command {
        Command::Admin { db, cmd } => cli::admin(&*db.open()?, cmd, now)?,
        Command::Store { db, cmd } => cli::stores(&*db.open()?, cmd, now)?,
        Command::Staff { db, cmd } => cli::staff(&*db.open()?, cmd, now)?,
        Command::Terminal { db, cmd } => cli::terminals(&*db.open()?, cmd, now)?,
        Command::Rules { db, cmd } => cli::rules(&*db.open()?, cmd, now)?,
        Command::Import {
            db,
            file,
            store,
            dry_run,
        } => {
            let location = db.location()?;
            let opened = server::store::open(&location).map_err(|e| fail(&e))?;
            let report = server::import::import_file(&*opened, &file, &store, dry_run, now)
                .map_err(|e| (if e.is_bad_input() { 2 } else { 1 }, e.to_string()))?;
            println!("{report}");
            if !report.ok() {
                return Err((
                    2,
                    format!("{} bad rows in {}", report.bad_rows(), file.display()),
                ));
            }
        }
        Command::DemoData { db, no_history } => {
            let location = db.location()?;
            let s = admin::demo_data(&location, now).map_err(|e| fail(&e))?;
            if !no_history {
                let y = admin::demo_year(&location, now).map_err(|e| fail(&e))?;
                println!(
                    "a year of invented purchases: {} sales, {} returns, {} birthdays",
                    y.sales, y.returns, y.birthdays
                );
            }
            println!(
                "demo data in {location:?}: stores {} and {}, {} customers, rules version {}\n\
                 cashier code {}, manager code {} (in {}: {} and {})\n\
                 the cabinet (/admin on the server's address): {}, one-time password {}",
                s.store,
                admin::DEMO_STORE_EAST,
                s.customers,
                s.rules_version,
                s.cashier_code,
                s.manager_code,
                admin::DEMO_STORE_EAST,
                admin::DEMO_EAST_CASHIER_CODE,
                admin::DEMO_EAST_MANAGER_CODE,
                s.owner_email,
                s.owner_password.expose()
            );
        }
        Command::EnrollCode { db, store } => {
            let code = admin::enroll_code(db.location()?, &store, now).map_err(|e| fail(&e))?;
            println!("{code}");
        }
        Command::RevokeTerminal { db, terminal } => {
            admin::revoke_terminal(db.location()?, &terminal, now).map_err(|e| fail(&e))?;
            println!("terminal {terminal} revoked");
        }
        Command::FleetSim {
            db,
            servers,
            nodes,
            tills,
            ops,
            batch,
            concurrency,
            customers,
        } => {
            let exe = std::env::current_exe().map_err(|e| fail(&e))?;
            let config = bonuskassa::fleet::FleetConfig {
                servers,
                nodes,
                tills,
                ops_per_till: ops,
                batch,
                concurrency,
                customers,
                ..bonuskassa::fleet::FleetConfig::new(db.location()?, exe)
            };
            let report = bonuskassa::fleet::run(&config).map_err(|e| fail(&e))?;
            println!("{report}");
            if !report.ok() {
                return Err((1, "the fleet's checks failed".into()));
            }
        }
        Command::Report {
            db,
            from,
            to,
            by,
            stores,
            format,
            out,
        } => {
            let bad =
                |e: reports::ReportError| (if e.is_bad_input() { 2 } else { 1 }, e.to_string());
            let period = reports::Period::new(
                reports::parse_date(&from).map_err(bad)?,
                reports::parse_date(&to).map_err(bad)?,
            )
            .map_err(bad)?;
            let by: reports::GroupBy = by.parse().map_err(bad)?;
            let format = match format.as_str() {
                "table" | "csv" | "xlsx" => format,
                other => {
                    return Err((2, format!("--format is table, csv or xlsx, not {other:?}")));
                }
            };
            if format == "xlsx" && out.is_none() {
                return Err((2, "--format xlsx needs --out FILE".into()));
            }
            let store = open(db)?;
            let report = reports::report(
                &*store,
                &reports::ReportRequest {
                    period,
                    by,
                    stores: (!stores.is_empty()).then_some(stores.as_slice()),
                },
            )
            .map_err(bad)?;
            let bytes = match format.as_str() {
                "csv" => export::to_csv(&report),
                "xlsx" => export::to_xlsx(&report).map_err(bad)?,
                _ => export::to_table(&report).into_bytes(),
            };
            match out {
                Some(path) => std::fs::write(&path, bytes)
                    .map_err(|e| (1, format!("cannot write {}: {e}", path.display())))?,
                None => {
                    use std::io::Write;
                    std::io::stdout().write_all(&bytes).map_err(|e| fail(&e))?;
                }
            }
        }
        Command::Liability { db, at, stores } => {
            let bad =
                |e: reports::ReportError| (if e.is_bad_input() { 2 } else { 1 }, e.to_string());
            let moment = match at {
                Some(day) => reports::end_of_day(reports::parse_date(&day).map_err(bad)?),
                None => now,
            };
            let store = open(db)?;
            let owed = reports::liability(
                &*store,
                moment,
                (!stores.is_empty()).then_some(stores.as_slice()),
            )
            .map_err(bad)?;
            let rubles = |k: i64| Bonus::from_kopecks(k).to_string();
            println!(
                "bonus liability as of {}\nactive  {}\npending {}\ntotal   {}",
                moment.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                rubles(owed.active),
                rubles(owed.pending),
                rubles(owed.active + owed.pending)
            );
        }
        Command::Backup { db, to } => {
            let dir = embedded(db, "pg_dump")?;
            let made = backup::backup(&dir, &to).map_err(backup_failed)?;
            println!(
                "backup written to {} ({} bytes, schema version {})",
                made.path.display(),
                made.bytes,
                made.schema_version
            );
        }
        Command::Restore { from, db } => {
            let dir = embedded(db, "pg_restore")?;
            let made = backup::restore(&from, &dir).map_err(backup_failed)?;
            println!(
                "restored into {} (schema version {})",
                dir.display(),
                made.schema_version
            );
        }
        Command::Serve {
            db,
            rules,
            listen,
            sms_url,
            demo_endpoints,
            selfreg_per_address_hour,
            selfreg_per_hour,
        } => {
            let sms = match sms_url {
                None => server::sms::GatewayConfig::Log,
                Some(url_template) => {
                    // The key never goes on the command line, where `ps` would show it.
                    let key = std::env::var("BONUSKASSA_SMS_KEY").map_err(|_| {
                        (
                            2,
                            "--sms-url needs the provider key in BONUSKASSA_SMS_KEY".to_string(),
                        )
                    })?;
                    server::sms::GatewayConfig::Http { url_template, key }
                }
            };
            let config = ServerConfig {
                rules_path: rules,
                sms,
                demo_endpoints,
                selfreg: SelfRegPolicy {
                    per_address_hour_max: selfreg_per_address_hour,
                    hour_max: selfreg_per_hour,
                    ..SelfRegPolicy::default()
                },
                ..ServerConfig::at(db.location()?)
            };
            let server =
                server::Server::open(config, Arc::new(SystemClock)).map_err(|e| fail(&e))?;
            let rt = tokio::runtime::Runtime::new().map_err(|e| fail(&e))?;
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind(&listen)
                    .await
                    .map_err(|e| (1, format!("cannot listen on {listen}: {e}")))?;
                tracing::info!(addr = %listener.local_addr().map_err(|e| fail(&e))?, "serving /api/v1");
                server
                    .serve(listener, async {
                        let _ = tokio::signal::ctrl_c().await;
                        tracing::info!("stopping: finishing requests in flight");
                    })
                    .await
                    .map_err(|e| fail(&e))
            })?;
        }
    }
    Ok(())
}
