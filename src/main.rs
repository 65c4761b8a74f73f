//! `bonuskassa`, the terminal client: parses arguments, initialises tracing, runs the
//! chosen job, and maps errors to exit codes (2: bad input, 1: anything else).

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use bonuskassa::cli::{self, CalcArgs};

#[derive(Parser)]
#[command(
    name = "bonuskassa",
    version,
    about = "The cashier's loyalty workplace"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compute a receipt offline from a rules file, a receipt and a customer, and print the
    /// result JSON.
    Calc(CalcArgs),
    /// Enroll this till with a one-time code from the server.
    Enroll(cli::till::EnrollArgs),
    /// Show the till's queue, last sync and caches.
    Status(cli::till::TillArgs),
    /// Send what is queued and pull rules and customers now.
    Sync(cli::till::TillArgs),
    /// A command-line cash register: hand receipts to the till's bridge, wait for the
    /// cashier, print and close them.
    PosSim(cli::pos_sim::PosSimArgs),
    /// The whole product on this machine: the loyalty server, a till and a simulated cash
    /// register, each in its own window, in a temporary directory removed on exit.
    Demo {
        /// Interface language: ru or en.
        #[arg(long, default_value = "ru")]
        lang: String,
    },
    /// Open the touch window.
    Ui {
        /// Interface language: ru or en (default: the till's own setting, else ru).
        #[arg(long)]
        lang: Option<String>,
        /// The till's data directory: its checkout screens, or, for a till never
        /// enrolled, the installer's setup. Without it the window only says that the till
        /// is not set up.
        #[arg(long)]
        data: Option<std::path::PathBuf>,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    bonuskassa::logging::init();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bonuskassa: {}", e.message);
            ExitCode::from(e.exit_code)
        }
    }
}

fn run(args: Args) -> Result<(), cli::CliError> {
    match args.command {
        Command::Calc(a) => print(&cli::calc(&a)?),
        Command::Enroll(a) => print(&cli::till::enroll(&a)?),
        Command::Status(a) => print(&cli::till::status(&a)?),
        Command::Sync(a) => print(&cli::till::sync(&a)?),
        Command::PosSim(a) => print(&cli::pos_sim::run(&a)?),
        Command::Demo { lang } => {
            let language = lang
                .parse()
                .map_err(|e| cli::CliError::input(format!("--lang {lang}: {e}")))?;
            bonuskassa::demo::run(language).map_err(|e| cli::CliError {
                message: format!("the demo could not start: {e:#}"),
                exit_code: 1,
            })
        }
        Command::Ui { lang, data } => {
            let language = match &lang {
                Some(lang) => lang
                    .parse()
                    .map_err(|e| cli::CliError::input(format!("--lang {lang}: {e}")))?,
                None => Default::default(),
            };
            let options = bonuskassa::ui::UiOptions {
                language,
                language_given: lang.is_some(),
                data,
                bridge: bonuskassa::runner::BridgeChoice::Configured,
            };
            bonuskassa::ui::run(options).map_err(|e| cli::CliError {
                message: format!("the window could not start: {e:#}"),
                exit_code: 1,
            })
        }
    }
}

fn print(out: &str) -> Result<(), cli::CliError> {
    std::io::stdout()
        .write_all(out.as_bytes())
        .map_err(|e| cli::CliError {
            message: format!("cannot write the result: {e}"),
            exit_code: 1,
        })
}
