//! The cash-register bridge: HTTP on the loopback interface, through which the register's
//! plugin hands receipts to the cashier's panel and gets the loyalty result back
//! (SPEC.md §5; the contract is `docs/bridge-openapi.json`, the guide `docs/bridge.md`).
//!
//! The flow of one receipt: `POST /v1/receipts` opens it on the panel (`open`); the
//! register long-polls `GET /v1/receipts/{id}?wait_s=N` until the cashier applies it
//! (`applied`, with the prices to print) or cancels it; once the fiscal receipt is printed
//! the register posts `close` with the printed receipt, and only then is the operation
//! queued (`closed`). A `cancel` from the register, or no close within
//! `[bridge] close_timeout_s` (the register went away: `expired`), frees the panel and
//! records nothing.
//!
//! Architecture Invariant: the bridge holds no loyalty state of its own. It keeps what it
//! told the register about its last receipts (so a repeated request gets the same answer),
//! drives the panel through [`Panel`], and hears the cashier's side through
//! [`Bridge::outcome`]. One mutating request runs at a time, so two closes of one receipt
//! can never both queue.
pub mod client;
pub mod wire;

use std::collections::VecDeque;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{
    DefaultBodyLimit, FromRequest, FromRequestParts, Path, Query, Request, State as AxumState,
};
use axum::http::{HeaderMap, StatusCode, header, request::Parts};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::checkout::{Action, Applied, AppliedWhat, Outcome, Problem, Withdrawal};
use crate::domain::money::Money;
use crate::domain::receipt::Receipt;
use wire::{
    BridgeError, CloseRequest, ErrorCode, LoyaltyData, LoyaltyResult, MAX_WAIT_S, PositionImpact,
    PrintableData, ReceiptStatus, State, WaitQuery,
};

/// The largest request body the bridge reads: a receipt of the most positions a receipt
/// may have fits with room to spare.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// How many receipts the bridge remembers, for repeated requests and late polls.
const REMEMBERED: usize = 100;

type PanelFuture = Pin<Box<dyn Future<Output = Result<(), Problem>> + Send>>;

/// The cashier's panel as the bridge drives it: the window's session worker
/// ([`crate::runner::Runner::panel`]), or any other place a session runs.
pub trait Panel: Send + Sync + 'static {
    /// Does an action of the register on the panel ([`Action::OpenReceipt`],
    /// [`Action::Close`], [`Action::Withdraw`]); a refusal comes back. Outcomes of the
    /// session go to [`Bridge::outcome`] before the call answers.
    fn call(&self, action: Action) -> PanelFuture;
}

/// What the bridge needs to run.
#[derive(Clone)]
pub struct BridgeConfig {
    /// The port on 127.0.0.1; 0 picks a free one (tests).
    pub port: u16,
    /// The installer's key: every request carries it as `Authorization: Bearer KEY`.
    pub key: String,
    /// How long an applied receipt waits for the register's close.
    pub close_timeout: Duration,
}

impl std::fmt::Debug for BridgeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BridgeConfig")
            .field("port", &self.port)
            .field("key", &"***")
            .field("close_timeout", &self.close_timeout)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the register bridge has no key: run the till's setup to make one")]
    NoKey,
    #[error("cannot listen on 127.0.0.1:{port} for the cash register: {source}")]
    Bind {
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the register bridge: {0}")]
    Runtime(std::io::Error),
}

/// One receipt the register handed over, as the bridge told it.
#[derive(Debug, Clone)]
struct Entry {
    receipt: Receipt,
    state: State,
    result: Option<LoyaltyResult>,
    reason: Option<String>,
    applied_at: Option<Instant>,
    /// Set while the bridge itself takes the receipt back: the state it ends in and why.
    withdrawing: Option<(State, String)>,
}

impl Entry {
    fn status(&self) -> ReceiptStatus {
        ReceiptStatus {
            id: self.receipt.id.clone(),
            kind: self.receipt.kind,
            state: self.state,
            result: self.result.clone(),
            reason: self.reason.clone(),
        }
    }

    fn is_current(&self) -> bool {
        matches!(self.state, State::Open | State::Applied)
    }
}

struct Inner {
    panel: Arc<dyn Panel>,
    key: String,
    close_timeout: Duration,
    /// The last receipts, oldest first.
    book: Mutex<VecDeque<Entry>>,
    /// Bumped on every change, for the long polls.
    changed: tokio::sync::watch::Sender<u64>,
    /// One mutating request at a time.
    serial: tokio::sync::Mutex<()>,
    /// Set when the bridge stops: long polls answer at once instead of holding the stop.
    stopping: AtomicBool,
}

/// The bridge's state and its HTTP routes. Cloning shares it.
#[derive(Clone)]
pub struct Bridge {
    inner: Arc<Inner>,
}

impl Bridge {
    pub fn new(panel: Arc<dyn Panel>, key: String, close_timeout: Duration) -> Bridge {
        Bridge {
            inner: Arc::new(Inner {
                panel,
                key,
                close_timeout,
                book: Mutex::new(VecDeque::new()),
                changed: tokio::sync::watch::channel(0).0,
                serial: tokio::sync::Mutex::new(()),
                stopping: AtomicBool::new(false),
            }),
        }
    }

    /// What the cashier's side did with a receipt: the session's outcomes, in order.
    pub fn outcome(&self, outcome: &Outcome) {
        // A closed return names its sale, not the return receipt: it is the one applied
        // (one receipt at a time).
        let id = match outcome {
            Outcome::Applied(a) => Some(a.receipt.id.as_str()),
            Outcome::Sale { priced, .. } => Some(priced.receipt.id.as_str()),
            Outcome::Return { .. } => None,
            Outcome::Cancelled { receipt_id } => Some(receipt_id.as_str()),
        };
        self.update(|book| {
            let entry = match id {
                Some(id) => book.iter_mut().rev().find(|e| e.receipt.id == id),
                None => book.iter_mut().rev().find(|e| e.state == State::Applied),
            };
            let Some(entry) = entry else {
                return;
            };
            match outcome {
                Outcome::Applied(applied) if entry.state == State::Open => {
                    entry.state = State::Applied;
                    entry.result = Some(loyalty_result(applied));
                    entry.applied_at = Some(Instant::now());
                }
                Outcome::Sale { .. } | Outcome::Return { .. } if entry.state == State::Applied => {
                    entry.state = State::Closed;
                }
                Outcome::Cancelled { .. } if entry.is_current() => {
                    let (state, reason) = entry.withdrawing.take().unwrap_or((
                        State::Cancelled,
                        "the cashier cancelled the loyalty on the panel".into(),
                    ));
                    entry.state = state;
                    entry.reason = Some(reason);
                }
                _ => {}
            }
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Entry>> {
        self.inner.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn update<T>(&self, f: impl FnOnce(&mut VecDeque<Entry>) -> T) -> T {
        let out = f(&mut self.lock());
        self.inner.changed.send_modify(|n| *n = n.wrapping_add(1));
        out
    }

    fn find(&self, id: &str) -> Option<Entry> {
        self.lock()
            .iter()
            .rev()
            .find(|e| e.receipt.id == id)
            .cloned()
    }

    fn status(&self, id: &str) -> Result<ReceiptStatus, Refusal> {
        self.find(id)
            .map(|e| e.status())
            .ok_or_else(|| Refusal::unknown(id))
    }

    /// The HTTP routes, behind the key.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/v1/ping", get(ping))
            .route("/v1/receipts", post(open_receipt))
            .route("/v1/receipts/{id}", get(get_receipt))
            .route("/v1/receipts/{id}/close", post(close_receipt))
            .route("/v1/receipts/{id}/cancel", post(cancel_receipt))
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .layer(middleware::from_fn_with_state(self.clone(), authorize))
            .with_state(self.clone())
    }

    /// `POST /v1/receipts`.
    async fn open(&self, receipt: Receipt) -> Result<(StatusCode, ReceiptStatus), Refusal> {
        let _one = self.inner.serial.lock().await;
        let known = self.find(&receipt.id);
        if let Some(current) = self.lock().iter().rev().find(|e| e.is_current()) {
            if current.receipt == receipt {
                return Ok((StatusCode::OK, current.status()));
            }
            return Err(Refusal::new(
                ErrorCode::Busy,
                format!(
                    "receipt {:?} is open at the till: close or cancel it first",
                    current.receipt.id
                ),
            ));
        }
        if let Some(known) = known {
            if known.state == State::Closed {
                return Err(Refusal::new(
                    ErrorCode::AlreadyClosed,
                    format!("receipt {:?} is already closed", receipt.id),
                ));
            }
            if known.receipt.kind != receipt.kind {
                return Err(Refusal::new(
                    ErrorCode::IdReused,
                    format!("receipt id {:?} was used for another receipt", receipt.id),
                ));
            }
            // A cancelled or expired receipt may be handed over again.
        }
        // In the book before the panel hears of it: the cashier's outcomes find it.
        self.update(|book| {
            book.retain(|e| e.receipt.id != receipt.id);
            book.push_back(Entry {
                receipt: receipt.clone(),
                state: State::Open,
                result: None,
                reason: None,
                applied_at: None,
                withdrawing: None,
            });
            while book.len() > REMEMBERED {
                book.pop_front();
            }
        });
        let id = receipt.id.clone();
        if let Err(problem) = self.inner.panel.call(Action::OpenReceipt(receipt)).await {
            self.update(|book| book.retain(|e| e.receipt.id != id));
            return Err(Refusal::from_problem(&problem));
        }
        tracing::info!(receipt = %id, "the register handed over a receipt");
        Ok((StatusCode::CREATED, self.status(&id)?))
    }

    /// `GET /v1/receipts/{id}?wait_s=N`.
    async fn wait(&self, id: &str, wait_s: u32) -> Result<ReceiptStatus, Refusal> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(wait_s.into());
        let mut changed = self.inner.changed.subscribe();
        loop {
            let status = self.status(id)?;
            if status.state != State::Open || self.inner.stopping.load(Ordering::SeqCst) {
                return Ok(status);
            }
            match tokio::time::timeout_at(deadline, changed.changed()).await {
                Ok(Ok(())) => {}
                _ => return Ok(status),
            }
        }
    }

    /// `POST /v1/receipts/{id}/close`.
    async fn close(&self, id: &str, printed: Receipt) -> Result<ReceiptStatus, Refusal> {
        let _one = self.inner.serial.lock().await;
        let entry = self.find(id).ok_or_else(|| Refusal::unknown(id))?;
        match entry.state {
            // An applied receipt is compared by the panel, so that the cashier sees the
            // difference too (`Problem::ReceiptChanged` stays on the screen).
            State::Applied => {}
            State::Closed => {
                if let Some(difference) = entry.receipt.difference(&printed) {
                    return Err(Refusal::new(
                        ErrorCode::ReceiptChanged,
                        format!(
                            "the printed receipt is not the one the loyalty was applied to: {difference}"
                        ),
                    ));
                }
            }
            State::Open => {
                return Err(Refusal::new(
                    ErrorCode::NotApplied,
                    format!("the cashier has not applied receipt {id:?} yet"),
                ));
            }
            State::Cancelled | State::Expired => return Err(Refusal::cancelled(&entry)),
        }
        if entry.state == State::Closed {
            return Ok(entry.status());
        }
        let action = Action::Close {
            receipt_id: id.to_string(),
            printed,
        };
        match self.inner.panel.call(action).await {
            Ok(()) => {
                let status = self.status(id)?;
                tracing::info!(receipt = %id, state = ?status.state, "the register closed a receipt");
                Ok(status)
            }
            Err(Problem::NoSuchReceipt) => {
                // The panel no longer has it: the cashier cancelled it a moment ago.
                let entry = self.find(id).ok_or_else(|| Refusal::unknown(id))?;
                Err(Refusal::cancelled(&entry))
            }
            Err(problem) => Err(Refusal::from_problem(&problem)),
        }
    }

    /// `POST /v1/receipts/{id}/cancel`, and the expiry of a receipt never closed.
    async fn withdraw(&self, id: &str, why: Withdrawal) -> Result<ReceiptStatus, Refusal> {
        let entry = self.find(id).ok_or_else(|| Refusal::unknown(id))?;
        match entry.state {
            State::Closed => {
                return Err(Refusal::new(
                    ErrorCode::AlreadyClosed,
                    format!("receipt {id:?} is closed: its operation is recorded"),
                ));
            }
            State::Cancelled | State::Expired => return Ok(entry.status()),
            State::Open | State::Applied => {}
        }
        let (state, reason) = match why {
            Withdrawal::Register => (State::Cancelled, "the register cancelled it".to_string()),
            Withdrawal::NoAnswer => (
                State::Expired,
                format!(
                    "the register did not close it within {} s",
                    self.inner.close_timeout.as_secs()
                ),
            ),
        };
        self.update(|book| {
            if let Some(e) = book.iter_mut().rev().find(|e| e.receipt.id == id) {
                e.withdrawing = Some((state, reason.clone()));
            }
        });
        let action = Action::Withdraw {
            receipt_id: id.to_string(),
            why,
        };
        let answer = self.inner.panel.call(action).await;
        // Whether the panel still had it or not, nothing is recorded for it now.
        self.update(|book| {
            if let Some(e) = book.iter_mut().rev().find(|e| e.receipt.id == id)
                && e.is_current()
            {
                e.state = state;
                e.reason = Some(reason);
                e.withdrawing = None;
            }
        });
        match answer {
            Ok(()) | Err(Problem::NoSuchReceipt) => {}
            Err(problem) => {
                tracing::warn!(receipt = %id, %problem, "the panel refused to let a receipt go")
            }
        }
        tracing::info!(receipt = %id, ?why, "a receipt was taken back");
        self.status(id)
    }

    /// Expires the applied receipt the register has not closed in time.
    async fn expire_overdue(&self) {
        let overdue = self.lock().iter().find_map(|e| {
            (e.state == State::Applied
                && e.applied_at
                    .is_some_and(|at| at.elapsed() >= self.inner.close_timeout))
            .then(|| e.receipt.id.clone())
        });
        if let Some(id) = overdue {
            let _one = self.inner.serial.lock().await;
            tracing::warn!(receipt = %id, "the register never closed an applied receipt");
            if let Err(e) = self.withdraw(&id, Withdrawal::NoAnswer).await {
                tracing::warn!(receipt = %id, error = %e.message, "cannot expire a receipt");
            }
        }
    }

    /// Serves the routes on `listener` until `shutdown` resolves, expiring overdue
    /// receipts on the side.
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let ticker = {
            let bridge = self.clone();
            let period = (self.inner.close_timeout / 4)
                .clamp(Duration::from_millis(100), Duration::from_secs(1));
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(period);
                loop {
                    tick.tick().await;
                    bridge.expire_overdue().await;
                }
            })
        };
        // A graceful stop waits for the requests under way: the long polls answer now with
        // where their receipt stands, or a restart of the bridge (and the window's session
        // worker that drops it) would wait for them, up to a minute.
        let shutdown = {
            let bridge = self.clone();
            async move {
                shutdown.await;
                bridge.inner.stopping.store(true, Ordering::SeqCst);
                bridge.inner.changed.send_modify(|n| *n = n.wrapping_add(1));
            }
        };
        let served = axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await;
        ticker.abort();
        served
    }
}

/// A running bridge: its thread, and the address it listens on. Dropping it stops it.
pub struct BridgeHandle {
    pub addr: SocketAddr,
    pub bridge: Bridge,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for BridgeHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the register bridge's thread panicked");
        }
    }
}

/// Binds 127.0.0.1:`port` (a taken port is reported here, at once) and serves the bridge
/// on its own thread.
pub fn spawn(config: BridgeConfig, panel: Arc<dyn Panel>) -> Result<BridgeHandle, StartError> {
    if config.key.trim().is_empty() {
        return Err(StartError::NoKey);
    }
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, config.port)).map_err(|source| {
        StartError::Bind {
            port: config.port,
            source,
        }
    })?;
    listener
        .set_nonblocking(true)
        .map_err(StartError::Runtime)?;
    let addr = listener.local_addr().map_err(StartError::Runtime)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(StartError::Runtime)?;
    let bridge = Bridge::new(panel, config.key, config.close_timeout);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = bridge.clone();
    let thread = std::thread::Builder::new()
        .name("bonuskassa-bridge".into())
        .spawn(move || {
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!(error = %e, "the register bridge cannot listen");
                        return;
                    }
                };
                let shutdown = async move {
                    let _ = stopped.await;
                };
                if let Err(e) = served.serve(listener, shutdown).await {
                    tracing::error!(error = %e, "the register bridge stopped");
                }
            })
        })
        .map_err(StartError::Runtime)?;
    tracing::info!(%addr, "the register bridge listens");
    Ok(BridgeHandle {
        addr,
        bridge,
        stop: Some(stop),
        thread: Some(thread),
    })
}

// ---------------------------------------------------------------------------------------
// The loyalty result the register prints

/// The answer for an applied receipt.
pub fn loyalty_result(applied: &Applied) -> LoyaltyResult {
    let operation_id = applied.operation_id.to_string();
    match &applied.what {
        AppliedWhat::Sale { priced, .. } => {
            let calc = &priced.calculation;
            let impacts = calc
                .positions
                .iter()
                .flat_map(|p| {
                    p.impacts.iter().map(|i| PositionImpact {
                        position_id: p.id.clone(),
                        price: i.price,
                        quantity: i.quantity,
                    })
                })
                .collect();
            let balance = priced.customer.balance - calc.spent;
            let mut lines = vec![format!("Карта: {}", calc.card)];
            if !calc.discount.is_zero() {
                lines.push(format!("Скидка по карте: {} ₽", calc.discount));
            }
            lines.push(format!(
                "Списано бонусов: {}",
                whole(&calc.spent.to_string())
            ));
            lines.push(format!(
                "Начислено бонусов: {}",
                whole(&calc.accrued.to_string())
            ));
            lines.push(format!("Бонусов на счёте: {}", whole(&balance.to_string())));
            if priced.offline {
                lines.push("Бонусы будут проведены при связи с сервером".into());
            }
            LoyaltyResult {
                impacts,
                total: calc.total,
                discount: Money::new(calc.total.amount() - calc.to_pay.amount()),
                spent: calc.spent,
                to_pay: calc.to_pay,
                data: LoyaltyData {
                    operation_id,
                    customer_id: Some(priced.customer.id.clone()),
                    offline: priced.offline,
                },
                printable_data: PrintableData {
                    card: calc.card.clone(),
                    spent: Some(calc.spent),
                    accrued: Some(calc.accrued),
                    balance: Some(balance),
                    refunded: None,
                    clawed_back: None,
                    lines,
                },
            }
        }
        AppliedWhat::Return { result } => {
            let total = applied.receipt.total();
            LoyaltyResult {
                impacts: Vec::new(),
                total,
                discount: Money::ZERO,
                spent: crate::domain::money::Bonus::ZERO,
                to_pay: total,
                data: LoyaltyData {
                    operation_id,
                    customer_id: None,
                    offline: false,
                },
                printable_data: PrintableData {
                    card: String::new(),
                    spent: None,
                    accrued: None,
                    balance: None,
                    refunded: Some(result.refunded),
                    clawed_back: Some(result.clawed_back),
                    lines: vec![
                        format!(
                            "Возвращено бонусов: {}",
                            whole(&result.refunded.to_string())
                        ),
                        format!(
                            "Списано начисленных бонусов: {}",
                            whole(&result.clawed_back.to_string())
                        ),
                    ],
                },
            }
        }
    }
}

/// "100.00" → "100": whole bonuses print without kopecks.
fn whole(amount: &str) -> &str {
    amount.strip_suffix(".00").unwrap_or(amount)
}

// ---------------------------------------------------------------------------------------
// HTTP

/// A refusal: its code decides the status.
#[derive(Debug)]
struct Refusal {
    code: ErrorCode,
    message: String,
}

impl Refusal {
    fn new(code: ErrorCode, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            message: message.into(),
        }
    }

    fn unknown(id: &str) -> Refusal {
        Refusal::new(
            ErrorCode::NotFound,
            format!(
                "no receipt {id:?} at this till (it keeps the last {REMEMBERED} until it restarts)"
            ),
        )
    }

    fn cancelled(entry: &Entry) -> Refusal {
        Refusal::new(
            ErrorCode::Cancelled,
            format!(
                "receipt {:?} is {}: {}; nothing was recorded",
                entry.receipt.id,
                if entry.state == State::Expired {
                    "expired"
                } else {
                    "cancelled"
                },
                entry.reason.as_deref().unwrap_or("cancelled")
            ),
        )
    }

    fn from_problem(problem: &Problem) -> Refusal {
        let code = match problem {
            Problem::Busy | Problem::ReceiptOpen => ErrorCode::Busy,
            Problem::NotLoggedIn => ErrorCode::NoCashier,
            Problem::SetupOpen => ErrorCode::SetupOpen,
            Problem::BadReceipt(_) => ErrorCode::BadRequest,
            Problem::SaleNotKept => ErrorCode::UnknownSale,
            Problem::BadReturn(_) => ErrorCode::BadReturn,
            Problem::ReceiptChanged(_) => ErrorCode::ReceiptChanged,
            Problem::NotApplied => ErrorCode::NotApplied,
            Problem::NoSuchReceipt => ErrorCode::NotFound,
            _ => ErrorCode::Storage,
        };
        let message = match code {
            ErrorCode::NoCashier => "nobody is logged in at the till: the cashier logs in first".into(),
            ErrorCode::SetupOpen => "the installer's setup is open at the till: try when it is closed".into(),
            ErrorCode::UnknownSale => "this return's sale was not made at this till: it goes on without loyalty, a manager handles the bonuses".into(),
            _ => problem.to_string(),
        };
        Refusal::new(code, message)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = BridgeError {
            code: self.code,
            message: self.message,
        };
        (status, axum::Json(body)).into_response()
    }
}

/// A JSON body parsed strictly, with the path of a bad field in the error.
struct Body<T>(T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = Refusal;

    async fn from_request(req: Request, state: &S) -> Result<Self, Refusal> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Refusal::new(
                    ErrorCode::TooLarge,
                    format!("the body is larger than {MAX_BODY_BYTES} bytes"),
                )
            } else {
                Refusal::new(ErrorCode::BadRequest, format!("cannot read the body: {e}"))
            }
        })?;
        crate::protocol::parse_json(&bytes)
            .map(Body)
            .map_err(|m| Refusal::new(ErrorCode::BadRequest, m))
    }
}

/// The receipt id in the path. Ids are JSON strings, so a path whose id is not UTF-8 names
/// no receipt: `404` in the bridge's JSON, like any other unknown id (axum's own rejection
/// would be plain text).
struct ReceiptId(String);

impl<S: Send + Sync> FromRequestParts<S> for ReceiptId {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Refusal> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| ReceiptId(id))
            .map_err(|e| {
                Refusal::new(
                    ErrorCode::NotFound,
                    format!("no receipt with the id in this path: {}", e.body_text()),
                )
            })
    }
}

/// Every route needs the installer's key.
async fn authorize(
    AxumState(bridge): AxumState<Bridge>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    // The scheme is case-insensitive (RFC 9110 §11.1): "bearer KEY" is the key too.
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim_start().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim());
    match given {
        Some(key) if crate::crypto::ct_eq(key.as_bytes(), bridge.inner.key.as_bytes()) => {
            next.run(request).await
        }
        Some(_) => Refusal::new(
            ErrorCode::Unauthorized,
            "the key is not this till's bridge key",
        )
        .into_response(),
        None => Refusal::new(
            ErrorCode::Unauthorized,
            "no key: send Authorization: Bearer <the key from the till's setup>",
        )
        .into_response(),
    }
}

async fn ping() -> impl IntoResponse {
    axum::Json(serde_json::json!({ "ok": true }))
}

async fn open_receipt(
    AxumState(bridge): AxumState<Bridge>,
    Body(receipt): Body<Receipt>,
) -> Result<Response, Refusal> {
    receipt
        .validate()
        .map_err(|e| Refusal::new(ErrorCode::BadRequest, e.to_string()))?;
    let (status, body) = bridge.open(receipt).await?;
    Ok((status, axum::Json(body)).into_response())
}

async fn get_receipt(
    AxumState(bridge): AxumState<Bridge>,
    ReceiptId(id): ReceiptId,
    query: Result<Query<WaitQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<ReceiptStatus>, Refusal> {
    let Query(query) = query
        .map_err(|e| Refusal::new(ErrorCode::BadRequest, format!("query: {}", e.body_text())))?;
    if query.wait_s > MAX_WAIT_S {
        return Err(Refusal::new(
            ErrorCode::BadRequest,
            format!("wait_s: {} is more than {MAX_WAIT_S}", query.wait_s),
        ));
    }
    bridge.wait(&id, query.wait_s).await.map(axum::Json)
}

async fn close_receipt(
    AxumState(bridge): AxumState<Bridge>,
    ReceiptId(id): ReceiptId,
    Body(close): Body<CloseRequest>,
) -> Result<axum::Json<ReceiptStatus>, Refusal> {
    bridge.close(&id, close.receipt).await.map(axum::Json)
}

async fn cancel_receipt(
    AxumState(bridge): AxumState<Bridge>,
    ReceiptId(id): ReceiptId,
) -> Result<axum::Json<ReceiptStatus>, Refusal> {
    let _one = bridge.inner.serial.lock().await;
    bridge
        .withdraw(&id, Withdrawal::Register)
        .await
        .map(axum::Json)
}

async fn not_found() -> Refusal {
    Refusal::new(
        ErrorCode::NotFound,
        "no such path: the bridge serves /v1/ping and /v1/receipts",
    )
}

async fn method_not_allowed() -> Response {
    let mut response = Refusal::new(
        ErrorCode::BadRequest,
        "this method is not allowed on this path",
    )
    .into_response();
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    response
}
