//! The command-line jobs that are not the touch UI: `calc` for installers and support, and
//! the till commands of [`till`] (`enroll`, `status`, `sync`).
//!
//! Reads files, calls the pure engine, and prints JSON. Every problem with an input file
//! becomes one line that names the file and the field, with exit code 2, so a script or an
//! installer sees at once what to fix.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::domain::calc::{CustomerState, calculate};
use crate::domain::money::Bonus;
use crate::domain::receipt::Receipt;
use crate::domain::rules::Rules;

/// A failed command: what to print, and the process exit code.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    pub message: String,
    pub exit_code: u8,
}

impl CliError {
    /// Bad input from the user: exit code 2.
    pub fn input(message: impl Into<String>) -> CliError {
        let message: String = message.into();
        CliError {
            // One line, always: a multi-line parser message is folded.
            message: message.split_whitespace().collect::<Vec<_>>().join(" "),
            exit_code: 2,
        }
    }
}

/// Arguments of `bonuskassa calc`.
#[derive(Debug, Clone, clap::Args)]
pub struct CalcArgs {
    /// The loyalty rules file (TOML).
    #[arg(long, value_name = "RULES.toml")]
    pub rules: PathBuf,
    /// The receipt from the cash register (JSON).
    #[arg(long, value_name = "RECEIPT.json")]
    pub receipt: PathBuf,
    /// The customer: card status, balance, purchases so far (JSON).
    #[arg(long, value_name = "CUSTOMER.json")]
    pub customer: PathBuf,
    /// Bonuses to spend on this receipt.
    #[arg(long, value_name = "N", default_value = "0")]
    pub spend: String,
}

/// Computes a receipt offline and returns the result as pretty JSON.
pub fn calc(args: &CalcArgs) -> Result<String, CliError> {
    let rules_text = read(&args.rules, "rules file")?;
    let rules = Rules::from_toml_str(&rules_text)
        .map_err(|e| CliError::input(format!("rules file {}: {e}", args.rules.display())))?;
    let receipt: Receipt = load_json(&args.receipt, "receipt")?;
    receipt
        .validate()
        .map_err(|e| CliError::input(format!("receipt {}: field {e}", args.receipt.display())))?;
    let customer: CustomerState = load_json(&args.customer, "customer")?;
    let spend = Bonus::parse_non_negative(&args.spend)
        .map_err(|e| CliError::input(format!("--spend {}: {e}", args.spend)))?;
    let result = calculate(&rules, &customer, &receipt, spend)
        .map_err(|e| CliError::input(format!("cannot calculate: {e}")))?;
    let mut out = serde_json::to_string_pretty(&result).expect("a calculation always serializes");
    out.push('\n');
    Ok(out)
}

fn read(path: &Path, what: &str) -> Result<String, CliError> {
    std::fs::read_to_string(path)
        .map_err(|e| CliError::input(format!("{what} {}: cannot read it: {e}", path.display())))
}

/// Reads a JSON file; an error names the field path and the line.
fn load_json<T: DeserializeOwned>(path: &Path, what: &str) -> Result<T, CliError> {
    let text = read(path, what)?;
    let de = &mut serde_json::Deserializer::from_str(&text);
    let value: T = serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        if field == "." {
            CliError::input(format!("{what} {}: {inner}", path.display()))
        } else {
            CliError::input(format!("{what} {}: field {field}: {inner}", path.display()))
        }
    })?;
    Ok(value)
}

pub mod pos_sim;
pub mod till;
