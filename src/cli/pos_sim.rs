//! `bonuskassa pos-sim`: a small command-line cash register. It builds a receipt, hands it
//! to the till's bridge as a register plugin would, waits for the cashier, prints what the
//! register would print, and closes (or cancels) the receipt. Installers use it to test the
//! link before a real register is plugged in; the tests use it end to end.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::Local;

use super::{CliError, load_json};
use crate::bridge::client::{BridgeClient, ClientError};
use crate::bridge::wire::{ErrorCode, MAX_WAIT_S, ReceiptStatus, State};
use crate::domain::money::{Money, Quantity};
use crate::domain::receipt::{Measure, Position, Receipt, ReceiptKind};
use crate::secrets::SecretName;
use crate::terminal::config::TerminalConfig;

/// Arguments of `bonuskassa pos-sim`.
#[derive(Debug, Clone, clap::Args)]
pub struct PosSimArgs {
    /// The till's bridge (default: 127.0.0.1 and the port in the till's terminal.toml, or
    /// 8765).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// The bridge key shown on the till's setup page.
    #[arg(
        long,
        value_name = "KEY",
        env = "BONUSKASSA_BRIDGE_KEY",
        hide_env_values = true
    )]
    pub key: Option<String>,
    /// Or: the till's data directory on this machine, to read the port and the key from
    /// its terminal.toml and secret store.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    #[command(subcommand)]
    pub job: PosSimJob,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum PosSimJob {
    /// Check that the bridge answers and takes the key.
    Ping,
    /// Ring up a sale, wait for the cashier, print and close it.
    Sale {
        /// A position: PRICE[xQTY[kg]][:NAME[:CATEGORY]], e.g. `234.00:Капучино`,
        /// `150x2:Круассан:bakery`, `1800x0.350kg:Кофе в зёрнах`; a leading `!` marks
        /// excise goods. Without any, a coffee and two croissants.
        #[arg(long = "item", value_name = "ITEM")]
        items: Vec<String>,
        /// The receipt as a JSON file instead of items.
        #[arg(long, value_name = "RECEIPT.json", conflicts_with = "items")]
        receipt: Option<PathBuf>,
        #[command(flatten)]
        finish: Finish,
    },
    /// Return positions of an earlier sale: ITEM is POSITION_ID[:QTY] of that sale.
    Return {
        /// The sale receipt's id.
        #[arg(long, value_name = "ID")]
        sale: String,
        /// What comes back, e.g. `2:1` (one of position 2); repeat for more.
        #[arg(long = "item", value_name = "POSITION[:QTY]", required = true)]
        items: Vec<String>,
        #[command(flatten)]
        finish: Finish,
    },
    /// Show where a receipt stands.
    Status { id: String },
    /// Cancel a receipt: the panel closes, nothing is recorded.
    Cancel { id: String },
}

/// How the simulated register ends a receipt.
#[derive(Debug, Clone, clap::Args)]
pub struct Finish {
    /// The receipt id (default: a new one).
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,
    /// How long to wait for the cashier, in seconds.
    #[arg(long, value_name = "S", default_value_t = 300)]
    pub wait: u64,
    /// Leave the applied receipt unclosed (as a register that went away would).
    #[arg(long, conflicts_with = "cancel")]
    pub no_close: bool,
    /// Cancel instead of printing once the cashier applied it.
    #[arg(long)]
    pub cancel: bool,
}

/// Runs one job and returns what to print.
pub fn run(args: &PosSimArgs) -> Result<String, CliError> {
    let client = client(args)?;
    let rt = super::till::runtime()?;
    rt.block_on(async {
        match &args.job {
            PosSimJob::Ping => {
                client.ping().await.map_err(failed)?;
                Ok(format!(
                    "the till's bridge at {} answers and takes the key",
                    client.base()
                ))
            }
            PosSimJob::Sale {
                items,
                receipt,
                finish,
            } => {
                let receipt = match receipt {
                    Some(path) => load_json(path, "receipt")?,
                    None => sale(finish.id.clone(), items)?,
                };
                drive(&client, receipt, finish).await
            }
            PosSimJob::Return {
                sale,
                items,
                finish,
            } => drive(&client, return_of(finish.id.clone(), sale, items)?, finish).await,
            PosSimJob::Status { id } => client
                .status(id, 0)
                .await
                .map(|s| describe(&s, None))
                .map_err(failed),
            PosSimJob::Cancel { id } => client
                .cancel(id)
                .await
                .map(|s| describe(&s, None))
                .map_err(failed),
        }
    })
}

fn client(args: &PosSimArgs) -> Result<BridgeClient, CliError> {
    let config = match &args.data {
        Some(dir) => Some(TerminalConfig::load(dir).map_err(|e| CliError::input(e.to_string()))?),
        None => None,
    };
    let url = args.url.clone().unwrap_or_else(|| {
        let port = config
            .as_ref()
            .map_or(crate::terminal::config::DEFAULT_BRIDGE_PORT, |c| {
                c.bridge.port
            });
        format!("http://127.0.0.1:{port}")
    });
    let key = match (&args.key, &config) {
        (Some(key), _) => key.clone(),
        (None, Some(config)) => {
            let store = crate::secrets::open(config.secrets.clone())
                .map_err(|e| CliError::input(format!("the till's secret store: {e}")))?;
            store
                .get(SecretName::BridgeKey)
                .map_err(|e| CliError::input(format!("the till's secret store: {e}")))?
                .ok_or_else(|| {
                    CliError::input("the till has no bridge key: make one in its setup")
                })?
                .expose()
                .to_string()
        }
        (None, None) => {
            return Err(CliError::input(
                "no key: give --key (or BONUSKASSA_BRIDGE_KEY), or --data with the till's data directory",
            ));
        }
    };
    Ok(BridgeClient::new(&url, &key))
}

/// Hands the receipt over, waits for the cashier, then prints and closes it (or not).
async fn drive(
    client: &BridgeClient,
    receipt: Receipt,
    finish: &Finish,
) -> Result<String, CliError> {
    receipt
        .validate()
        .map_err(|e| CliError::input(format!("receipt: {e}")))?;
    let opened = client.open(&receipt).await.map_err(failed)?;
    eprintln!(
        "receipt {} handed to the till: waiting for the cashier (up to {} s)",
        opened.id, finish.wait
    );
    let deadline = Instant::now() + Duration::from_secs(finish.wait);
    let mut status = opened;
    while status.state == State::Open {
        let left = deadline.saturating_duration_since(Instant::now()).as_secs();
        if left == 0 {
            return Err(CliError {
                message: format!(
                    "the cashier did not answer within {} s; receipt {} is still open (pos-sim cancel {} frees the till)",
                    finish.wait, receipt.id, receipt.id
                ),
                exit_code: 1,
            });
        }
        let wait = u32::try_from(left).unwrap_or(MAX_WAIT_S).min(MAX_WAIT_S);
        status = client.status(&receipt.id, wait).await.map_err(failed)?;
    }
    if status.state != State::Applied {
        return Ok(describe(&status, Some(&receipt)));
    }
    let applied = describe(&status, Some(&receipt));
    if finish.no_close {
        return Ok(format!("{applied}\nleft applied, not closed"));
    }
    if finish.cancel {
        let cancelled = client.cancel(&receipt.id).await.map_err(failed)?;
        return Ok(format!("{applied}\n{}", describe(&cancelled, None)));
    }
    // The register reports the fiscal document it printed, as a real plugin may.
    let paid = status
        .result
        .as_ref()
        .map_or_else(|| receipt.total(), |r| r.to_pay);
    let fiscal = crate::bridge::client::simulated_fiscal(&receipt, paid);
    let closed = client
        .close_with(&receipt, Some(&fiscal))
        .await
        .map_err(failed)?;
    Ok(format!("{applied}\n{}", describe(&closed, None)))
}

/// What the register prints and what it was told, as text.
fn describe(status: &ReceiptStatus, receipt: Option<&Receipt>) -> String {
    let mut out = format!("receipt {}: {}", status.id, state_word(status.state));
    if let Some(reason) = &status.reason {
        out.push_str(&format!(" ({reason})"));
    }
    let Some(result) = &status.result else {
        return out;
    };
    if status.state == State::Closed {
        out.push_str(&format!(
            "; operation {} queued at the till",
            result.data.operation_id
        ));
        return out;
    }
    for impact in &result.impacts {
        let name = receipt
            .and_then(|r| r.positions.iter().find(|p| p.id == impact.position_id))
            .map(|p| p.name.as_str())
            .filter(|n| !n.is_empty())
            .unwrap_or(&impact.position_id);
        out.push_str(&format!(
            "\n  {name:<24} {:>10} × {}",
            impact.price.to_string(),
            impact.quantity
        ));
    }
    out.push_str(&format!(
        "\n  total {}, loyalty −{}, to pay {}",
        result.total, result.discount, result.to_pay
    ));
    for line in &result.printable_data.lines {
        out.push_str(&format!("\n  | {line}"));
    }
    out
}

fn state_word(state: State) -> &'static str {
    match state {
        State::Open => "open on the till",
        State::Applied => "applied by the cashier",
        State::Closed => "printed and closed",
        State::Cancelled => "cancelled",
        State::Expired => "expired",
    }
}

fn failed(e: ClientError) -> CliError {
    let exit_code = match e.code() {
        Some(ErrorCode::BadRequest | ErrorCode::TooLarge | ErrorCode::Unauthorized) => 2,
        _ => 1,
    };
    CliError {
        message: e.to_string(),
        exit_code,
    }
}

fn new_id(prefix: &str) -> String {
    format!("{prefix}-{}", Local::now().format("%Y%m%d-%H%M%S%3f"))
}

/// A sale receipt from `--item`s (a coffee and two croissants without any).
fn sale(id: Option<String>, items: &[String]) -> Result<Receipt, CliError> {
    let defaults = [
        "234.00:Капучино:coffee".to_string(),
        "150.00x2:Круассан:bakery".to_string(),
    ];
    let items = if items.is_empty() {
        &defaults[..]
    } else {
        items
    };
    let positions = items
        .iter()
        .enumerate()
        .map(|(i, item)| item_position(i + 1, item))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Receipt {
        id: id.unwrap_or_else(|| new_id("sale")),
        kind: ReceiptKind::Sale,
        at: Local::now().fixed_offset(),
        store: String::new(),
        cashier: "pos-sim".into(),
        original_receipt: None,
        positions,
    })
}

/// One `--item`: PRICE[xQTY[kg]][:NAME[:CATEGORY]], `!` first for excise goods.
fn item_position(n: usize, item: &str) -> Result<Position, CliError> {
    let bad = |why: &str| CliError::input(format!("--item {item:?}: {why}"));
    let (excise, rest) = match item.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, item),
    };
    let mut parts = rest.splitn(3, ':');
    let amount = parts.next().unwrap_or_default().trim();
    let name = parts.next().unwrap_or_default().trim().to_string();
    let category = parts.next().unwrap_or_default().trim().to_string();
    let (price, quantity) = amount.split_once(['x', 'х', '*']).unwrap_or((amount, "1"));
    let (quantity, measure) = match quantity.trim().strip_suffix("kg") {
        Some(q) => (q, Measure::Weight),
        None => (quantity, Measure::Piece),
    };
    let price: Money = price
        .trim()
        .parse()
        .map_err(|e| bad(&format!("price: {e}")))?;
    let quantity: Quantity = quantity
        .trim()
        .parse()
        .map_err(|e| bad(&format!("quantity: {e}")))?;
    Ok(Position {
        id: n.to_string(),
        sku: String::new(),
        name,
        category,
        price,
        quantity,
        measure,
        excise,
    })
}

/// A return receipt of `items` (POSITION[:QTY]) of the sale `sale`.
fn return_of(id: Option<String>, sale: &str, items: &[String]) -> Result<Receipt, CliError> {
    let positions = items
        .iter()
        .map(|item| {
            let (position, quantity) = item.split_once(':').unwrap_or((item, "1"));
            let quantity: Quantity = quantity
                .trim()
                .parse()
                .map_err(|e| CliError::input(format!("--item {item:?}: quantity: {e}")))?;
            // The till knows the sale's prices; the register sends its own lines back.
            Ok(Position {
                id: position.trim().to_string(),
                sku: String::new(),
                name: String::new(),
                category: String::new(),
                price: Money::ZERO,
                quantity,
                measure: Measure::Piece,
                excise: false,
            })
        })
        .collect::<Result<Vec<_>, CliError>>()?;
    Ok(Receipt {
        id: id.unwrap_or_else(|| new_id("return")),
        kind: ReceiptKind::Return,
        at: Local::now().fixed_offset(),
        store: String::new(),
        cashier: "pos-sim".into(),
        original_receipt: Some(sale.to_string()),
        positions,
    })
}
