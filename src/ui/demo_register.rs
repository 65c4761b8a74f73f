//! Wires the demo's simulated cash register (`ui/demo/register_window.slint`): a register
//! plugin in miniature. It rings up products, hands the receipt to the till's bridge with
//! [`BridgeClient`], shows the prices the loyalty panel gives back, prints (closes) or
//! cancels, and returns positions of the last sale. The server switch and the SMS inbox
//! reach the demo's server through [`DemoServerSwitch`] (implemented by `crate::demo`, so
//! the UI never names the server).
//!
//! As everywhere in `ui`, the network runs on a worker thread, never on the event loop: the
//! callbacks send commands, the worker posts views.

use std::sync::Arc;
use std::time::Duration;

use chrono::Local;
use rust_decimal::Decimal;
use slint::{ComponentHandle, ModelRc, PlatformError, SharedString, VecModel, Weak};
use tokio::sync::mpsc;

use super::{
    InboxLine, ProductRow, RegisterAdapter, RegisterLine, RegisterNote, RegisterProduct,
    RegisterStage, RegisterWindow,
};
use crate::bridge::client::{BridgeClient, ClientError};
use crate::bridge::wire::{ReceiptStatus, State};
use crate::domain::money::{Money, Quantity};
use crate::domain::receipt::{Measure, Position, Receipt, ReceiptKind};

/// One SMS the demo server "sent".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoSms {
    pub at: chrono::DateTime<chrono::Utc>,
    /// The phone, masked the way the till shows it.
    pub phone: String,
    pub text: String,
}

/// The demo's loyalty server as the register's window switches it and reads its inbox.
/// Calls may block (starting or stopping a server): the window makes them on its worker.
pub trait DemoServerSwitch: Send + Sync + 'static {
    fn is_online(&self) -> bool;
    /// Starts or stops the server; the error says why it did not start.
    fn set_online(&self, online: bool) -> Result<(), String>;
    /// The SMS sent so far, newest first.
    fn inbox(&self) -> Vec<DemoSms>;
}

/// A product on the demo register's shelf.
struct Product {
    name: &'static str,
    category: &'static str,
    price: &'static str,
    /// What one tap adds: 1 piece, or a weighed portion.
    step: &'static str,
    measure: Measure,
    excise: bool,
}

const PRODUCTS: [Product; 6] = [
    Product {
        name: "Капучино",
        category: "coffee",
        price: "234.00",
        step: "1",
        measure: Measure::Piece,
        excise: false,
    },
    Product {
        name: "Круассан",
        category: "bakery",
        price: "150.00",
        step: "1",
        measure: Measure::Piece,
        excise: false,
    },
    Product {
        name: "Чизкейк",
        category: "desserts",
        price: "320.00",
        step: "1",
        measure: Measure::Piece,
        excise: false,
    },
    Product {
        name: "Кофе в зёрнах, кг",
        category: "coffee-beans",
        price: "1800.00",
        step: "0.350",
        measure: Measure::Weight,
        excise: false,
    },
    Product {
        name: "Вода 0,5 л",
        category: "drinks",
        price: "60.00",
        step: "1",
        measure: Measure::Piece,
        excise: false,
    },
    Product {
        name: "Пиво светлое (акциз)",
        category: "beer",
        price: "120.00",
        step: "1",
        measure: Measure::Piece,
        excise: true,
    },
];

enum Command {
    Add(usize),
    Clear,
    Pay,
    Print,
    Cancel,
    ReturnLine(usize),
    SetServer(bool),
    /// The register opens its shift, prints the shift report, or closes its shift.
    Shift(ShiftCall),
    Stop,
}

#[derive(Debug, Clone, Copy)]
enum ShiftCall {
    Open,
    Report,
    Close,
}

/// The running register; dropping it stops its worker.
pub struct RegisterHandle {
    commands: mpsc::UnboundedSender<Command>,
    worker: Option<std::thread::JoinHandle<()>>,
}

impl Drop for RegisterHandle {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Stop);
        if let Some(worker) = self.worker.take()
            && worker.join().is_err()
        {
            tracing::error!("the demo register's worker panicked");
        }
    }
}

/// Creates the register's window (not shown) and its worker.
pub fn build_register_window(
    client: BridgeClient,
    server: Arc<dyn DemoServerSwitch>,
    store: String,
) -> Result<(RegisterWindow, RegisterHandle), PlatformError> {
    let window = RegisterWindow::new()?;
    let adapter = window.global::<RegisterAdapter>();
    let rows: Vec<ProductRow> = PRODUCTS
        .chunks(2)
        .enumerate()
        .map(|(r, chunk)| ProductRow {
            items: ModelRc::new(VecModel::from(
                chunk
                    .iter()
                    .enumerate()
                    .map(|(i, p)| RegisterProduct {
                        index: (r * 2 + i) as i32,
                        name: p.name.into(),
                        price: p.price.into(),
                    })
                    .collect::<Vec<_>>(),
            )),
        })
        .collect();
    adapter.set_products(ModelRc::new(VecModel::from(rows)));

    let (tx, rx) = mpsc::unbounded_channel();
    {
        let send = |tx: &mpsc::UnboundedSender<Command>, c| {
            if tx.send(c).is_err() {
                tracing::warn!("the demo register has stopped");
            }
        };
        let t = tx.clone();
        adapter.on_add(move |i| send(&t, Command::Add(i.max(0) as usize)));
        let t = tx.clone();
        adapter.on_clear(move || send(&t, Command::Clear));
        let t = tx.clone();
        adapter.on_pay(move || send(&t, Command::Pay));
        let t = tx.clone();
        adapter.on_print(move || send(&t, Command::Print));
        let t = tx.clone();
        adapter.on_cancel(move || send(&t, Command::Cancel));
        let t = tx.clone();
        adapter.on_return_line(move |i| send(&t, Command::ReturnLine(i.max(0) as usize)));
        let t = tx.clone();
        adapter.on_set_server(move |on| send(&t, Command::SetServer(on)));
        let t = tx.clone();
        adapter.on_open_shift(move || send(&t, Command::Shift(ShiftCall::Open)));
        let t = tx.clone();
        adapter.on_print_shift(move || send(&t, Command::Shift(ShiftCall::Report)));
        let t = tx.clone();
        adapter.on_close_shift(move || send(&t, Command::Shift(ShiftCall::Close)));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| PlatformError::Other(format!("cannot start the register's runtime: {e}")))?;
    let sim = Sim {
        client,
        server,
        store,
        ui: window.as_weak(),
        building: Vec::new(),
        receipt: None,
        status: None,
        stage: RegisterStage::Building,
        note: RegisterNote::None,
        detail: String::new(),
        last_sale: None,
        returned: Vec::new(),
        shift_lines: Vec::new(),
        counter: 0,
    };
    let worker = std::thread::Builder::new()
        .name("bonuskassa-demo-register".into())
        .spawn(move || runtime.block_on(sim.serve(rx)))
        .map_err(|e| PlatformError::Other(format!("cannot start the register's thread: {e}")))?;
    Ok((
        window,
        RegisterHandle {
            commands: tx,
            worker: Some(worker),
        },
    ))
}

struct Sim {
    client: BridgeClient,
    server: Arc<dyn DemoServerSwitch>,
    /// The store the demo's receipts are rung up in.
    store: String,
    ui: Weak<RegisterWindow>,
    /// The receipt being rung up: product and quantity.
    building: Vec<(usize, Decimal)>,
    /// The receipt handed to the till, and what the till last said of it.
    receipt: Option<Receipt>,
    status: Option<ReceiptStatus>,
    stage: RegisterStage,
    note: RegisterNote,
    detail: String,
    /// The last sale printed, and how much of each of its positions came back.
    last_sale: Option<Receipt>,
    returned: Vec<Decimal>,
    /// The shift report the register last printed.
    shift_lines: Vec<String>,
    counter: u32,
}

impl Sim {
    async fn serve(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        self.post();
        let mut tick = tokio::time::interval(Duration::from_millis(400));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    None | Some(Command::Stop) => break,
                    Some(c) => self.command(c).await,
                },
                _ = tick.tick() => self.poll().await,
            }
            self.post();
        }
    }

    async fn command(&mut self, command: Command) {
        match command {
            Command::Add(i) if self.stage == RegisterStage::Building && i < PRODUCTS.len() => {
                let step: Decimal = PRODUCTS[i].step.parse().unwrap_or(Decimal::ONE);
                match self.building.iter_mut().find(|(p, _)| *p == i) {
                    Some((_, q)) => *q += step,
                    None => self.building.push((i, step)),
                }
                if self
                    .receipt
                    .as_ref()
                    .is_some_and(|r| r.kind == ReceiptKind::Return)
                {
                    self.receipt = None;
                }
                self.note = RegisterNote::None;
            }
            Command::Add(_) => {}
            Command::Clear => {
                if matches!(self.stage, RegisterStage::Building | RegisterStage::Printed) {
                    self.building.clear();
                    self.receipt = None;
                    self.status = None;
                    self.stage = RegisterStage::Building;
                    self.note = RegisterNote::None;
                }
            }
            Command::Pay => {
                if self.stage != RegisterStage::Building || self.building.is_empty() {
                    return;
                }
                match self.sale() {
                    Ok(receipt) => self.hand_over(receipt).await,
                    Err(e) => self.say(RegisterNote::Refused, e),
                }
            }
            Command::Print => self.print().await,
            Command::Cancel => {
                let Some(receipt) = self.receipt.clone() else {
                    return;
                };
                match self.client.cancel(&receipt.id).await {
                    Ok(status) => self.track(status),
                    Err(e) => self.failed(e),
                }
            }
            Command::ReturnLine(i) => {
                if !matches!(self.stage, RegisterStage::Building | RegisterStage::Printed) {
                    return;
                }
                match self.return_of(i) {
                    Some(receipt) => {
                        self.building.clear();
                        self.hand_over(receipt).await;
                    }
                    None => self.say(RegisterNote::Refused, "nothing left to return".into()),
                }
            }
            Command::SetServer(online) => {
                let server = self.server.clone();
                let switched = tokio::task::spawn_blocking(move || server.set_online(online)).await;
                match switched {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => self.say(RegisterNote::ServerError, e),
                    Err(e) => self.say(RegisterNote::ServerError, e.to_string()),
                }
            }
            Command::Shift(call) => {
                let answer = match call {
                    ShiftCall::Open => self.client.open_shift().await,
                    ShiftCall::Report => self.client.shift_report().await,
                    ShiftCall::Close => self.client.close_shift().await,
                };
                match answer {
                    Ok(report) => self.shift_lines = report.lines,
                    Err(e) => self.failed(e),
                }
            }
            Command::Stop => {}
        }
    }

    fn say(&mut self, note: RegisterNote, detail: String) {
        self.note = note;
        self.detail = detail;
    }

    fn failed(&mut self, e: ClientError) {
        match e {
            ClientError::Refused { message, .. } => self.say(RegisterNote::Refused, message),
            other => self.say(RegisterNote::Unreachable, other.to_string()),
        }
    }

    async fn hand_over(&mut self, receipt: Receipt) {
        match self.client.open(&receipt).await {
            Ok(status) => {
                self.receipt = Some(receipt);
                self.track(status);
            }
            Err(e) => self.failed(e),
        }
    }

    async fn print(&mut self) {
        if self.stage != RegisterStage::Applied {
            return;
        }
        let Some(receipt) = self.receipt.clone() else {
            return;
        };
        let paid = self
            .status
            .as_ref()
            .and_then(|s| s.result.as_ref())
            .map_or_else(|| receipt.total(), |r| r.to_pay);
        let fiscal = crate::bridge::client::simulated_fiscal(&receipt, paid);
        match self.client.close_with(&receipt, Some(&fiscal)).await {
            Ok(status) => {
                if status.state == State::Closed {
                    match receipt.kind {
                        ReceiptKind::Sale => {
                            self.returned = vec![Decimal::ZERO; receipt.positions.len()];
                            self.last_sale = Some(receipt.clone());
                        }
                        ReceiptKind::Return => {
                            self.record_returned(&receipt);
                        }
                    }
                    self.building.clear();
                }
                self.track(status);
            }
            Err(e) => self.failed(e),
        }
    }

    fn record_returned(&mut self, receipt: &Receipt) {
        let Some(sale) = &self.last_sale else {
            return;
        };
        for p in &receipt.positions {
            if let Some(i) = sale.positions.iter().position(|s| s.id == p.id)
                && let Some(r) = self.returned.get_mut(i)
            {
                *r += p.quantity.amount();
            }
        }
    }

    /// Follows what the till says about the receipt.
    fn track(&mut self, status: ReceiptStatus) {
        let (stage, note, detail) = match status.state {
            State::Open => (
                RegisterStage::Waiting,
                RegisterNote::WaitingCashier,
                String::new(),
            ),
            State::Applied => (RegisterStage::Applied, RegisterNote::Applied, String::new()),
            State::Closed => (
                RegisterStage::Printed,
                RegisterNote::Printed,
                status
                    .result
                    .as_ref()
                    .map(|r| r.data.operation_id.clone())
                    .unwrap_or_default(),
            ),
            State::Cancelled => (
                RegisterStage::Building,
                RegisterNote::Cancelled,
                status.reason.clone().unwrap_or_default(),
            ),
            State::Expired => (
                RegisterStage::Building,
                RegisterNote::Expired,
                status.reason.clone().unwrap_or_default(),
            ),
        };
        if stage == RegisterStage::Building
            && self
                .receipt
                .as_ref()
                .is_some_and(|r| r.kind == ReceiptKind::Return)
        {
            self.receipt = None;
        }
        self.stage = stage;
        self.note = note;
        self.detail = detail;
        self.status = Some(status);
    }

    async fn poll(&mut self) {
        if matches!(self.stage, RegisterStage::Waiting | RegisterStage::Applied)
            && let Some(receipt) = &self.receipt
        {
            let id = receipt.id.clone();
            match self.client.status(&id, 0).await {
                Ok(status) => {
                    if self.status.as_ref().map(|s| s.state) != Some(status.state) {
                        self.track(status);
                    }
                }
                Err(e) => self.failed(e),
            }
        }
    }

    fn next_id(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!(
            "{prefix}-{}-{}",
            Local::now().format("%H%M%S"),
            self.counter
        )
    }

    fn sale(&mut self) -> Result<Receipt, String> {
        let positions = self
            .building
            .iter()
            .enumerate()
            .map(|(n, (i, q))| {
                let p = &PRODUCTS[*i];
                Ok(Position {
                    id: (n + 1).to_string(),
                    sku: format!("460000000{:04}", i + 1),
                    name: p.name.into(),
                    category: p.category.into(),
                    price: p.price.parse::<Money>().map_err(|e| e.to_string())?,
                    quantity: Quantity::new(*q).map_err(|e| e.to_string())?,
                    measure: p.measure,
                    excise: p.excise,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Receipt {
            id: self.next_id("demo"),
            kind: ReceiptKind::Sale,
            at: Local::now().fixed_offset(),
            store: self.store.clone(),
            cashier: "Касса 1".into(),
            original_receipt: None,
            positions,
        })
    }

    /// A return of one piece (or the whole rest of a weighed position) of the last sale.
    fn return_of(&mut self, i: usize) -> Option<Receipt> {
        let sale = self.last_sale.clone()?;
        let position = sale.positions.get(i)?;
        let left = position.quantity.amount() - self.returned.get(i).copied()?;
        let quantity = match position.measure {
            Measure::Piece => left.min(Decimal::ONE),
            Measure::Weight => left,
        };
        let quantity = Quantity::new(quantity).ok()?;
        Some(Receipt {
            id: self.next_id("demo-return"),
            kind: ReceiptKind::Return,
            at: Local::now().fixed_offset(),
            store: sale.store.clone(),
            cashier: sale.cashier.clone(),
            original_receipt: Some(sale.id.clone()),
            positions: vec![Position {
                quantity,
                ..position.clone()
            }],
        })
    }

    fn post(&self) {
        let view = self.view();
        if let Err(e) = self.ui.upgrade_in_event_loop(move |w| view.show(&w)) {
            tracing::warn!(error = %e, "the register's window is gone");
        }
    }

    fn view(&self) -> RegisterView {
        let result = self.status.as_ref().and_then(|s| s.result.as_ref());
        let (lines, total, returning) = match &self.receipt {
            Some(receipt) if self.stage != RegisterStage::Building => (
                receipt
                    .positions
                    .iter()
                    .map(|p| RegisterLine {
                        name: p.name.clone().into(),
                        quantity: p.quantity.to_string().into(),
                        price: p.price.to_string().into(),
                        printed: result
                            .map(|r| {
                                r.impacts
                                    .iter()
                                    .filter(|i| i.position_id == p.id)
                                    .map(|i| format!("{} × {}", i.price, i.quantity))
                                    .collect::<Vec<_>>()
                                    .join(" + ")
                            })
                            .unwrap_or_default()
                            .into(),
                    })
                    .collect(),
                receipt.total().to_string(),
                receipt.kind == ReceiptKind::Return,
            ),
            _ => {
                let lines: Vec<RegisterLine> = self
                    .building
                    .iter()
                    .map(|(i, q)| RegisterLine {
                        name: PRODUCTS[*i].name.into(),
                        quantity: q.normalize().to_string().into(),
                        price: PRODUCTS[*i].price.into(),
                        printed: SharedString::new(),
                    })
                    .collect();
                let total: Decimal = self
                    .building
                    .iter()
                    .map(|(i, q)| PRODUCTS[*i].price.parse::<Decimal>().unwrap_or_default() * q)
                    .sum();
                (lines, Money::new(total).to_string(), false)
            }
        };
        let last_sale = self
            .last_sale
            .as_ref()
            .map(|sale| {
                sale.positions
                    .iter()
                    .zip(&self.returned)
                    .map(|(p, r)| RegisterLine {
                        name: p.name.clone().into(),
                        quantity: (p.quantity.amount() - r).normalize().to_string().into(),
                        price: p.price.to_string().into(),
                        printed: SharedString::new(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let inbox = self
            .server
            .inbox()
            .into_iter()
            .take(8)
            .map(|sms| InboxLine {
                at: sms
                    .at
                    .with_timezone(&Local)
                    .format("%H:%M:%S")
                    .to_string()
                    .into(),
                phone: sms.phone.into(),
                text: sms.text.into(),
            })
            .collect();
        RegisterView {
            lines,
            stage: self.stage,
            returning,
            receipt_id: self
                .receipt
                .as_ref()
                .filter(|_| self.stage != RegisterStage::Building)
                .map(|r| r.id.clone())
                .unwrap_or_default(),
            total,
            to_pay: result.map(|r| r.to_pay.to_string()).unwrap_or_default(),
            printable: result
                .map(|r| r.printable_data.lines.clone())
                .unwrap_or_default(),
            note: self.note,
            detail: self.detail.clone(),
            last_sale,
            server_online: self.server.is_online(),
            inbox,
            shift_lines: self.shift_lines.clone(),
        }
    }
}

/// What the register's window shows, built on the worker.
struct RegisterView {
    lines: Vec<RegisterLine>,
    stage: RegisterStage,
    returning: bool,
    receipt_id: String,
    total: String,
    to_pay: String,
    printable: Vec<String>,
    note: RegisterNote,
    detail: String,
    last_sale: Vec<RegisterLine>,
    server_online: bool,
    inbox: Vec<InboxLine>,
    shift_lines: Vec<String>,
}

impl RegisterView {
    fn show(self, window: &RegisterWindow) {
        let a = window.global::<RegisterAdapter>();
        a.set_lines(ModelRc::new(VecModel::from(self.lines)));
        a.set_stage(self.stage);
        a.set_returning(self.returning);
        a.set_receipt_id(self.receipt_id.into());
        a.set_total(self.total.into());
        a.set_to_pay(self.to_pay.into());
        a.set_printable(ModelRc::new(VecModel::from(
            self.printable
                .into_iter()
                .map(SharedString::from)
                .collect::<Vec<_>>(),
        )));
        a.set_note(self.note);
        a.set_detail(self.detail.into());
        a.set_last_sale(ModelRc::new(VecModel::from(self.last_sale)));
        a.set_server_online(self.server_online);
        a.set_inbox(ModelRc::new(VecModel::from(self.inbox)));
        a.set_shift_report(ModelRc::new(VecModel::from(
            self.shift_lines
                .into_iter()
                .map(SharedString::from)
                .collect::<Vec<_>>(),
        )));
    }
}
