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
//! records nothing; an expired receipt waits on the manager's list «Неподтверждённые чеки»
//! to be booked or dropped. An applied receipt is on the till's disk from the apply, so
//! after a restart of the till the bridge still answers for it ([`Panel::kept`]).
//!
//! Architecture Invariant: the bridge holds no loyalty state of its own. It keeps what it
//! told the register about its last receipts (so a repeated request gets the same answer),
//! drives the panel through [`Panel`], and hears the cashier's side through
//! [`Bridge::outcome`]. One mutating request runs at a time, so two closes of one receipt
//! can never both queue.
//!
//! The receipts the bridge remembers and what each request does to them are in `state.rs`;
//! the HTTP routes, the key check and the refusals in `http.rs`; the till's loyalty shift,
//! opened and closed with the register's and printed from there, in `shift.rs`; the loyalty result the
//! register prints in `loyalty.rs`; the JSON in `wire.rs`; the register's side in
//! `client.rs`. This file holds the [`Panel`] the bridge drives and the bridge's thread.
pub mod client;
mod http;
mod loyalty;
mod shift;
mod state;
pub mod wire;

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::checkout::{Action, Problem};
use crate::terminal::Terminal;
pub use loyalty::{kept_result, loyalty_result};
pub use shift::{report_lines, wire_report};
pub use state::Bridge;

/// The largest request body the bridge reads: a receipt of the most positions a receipt
/// may have fits with room to spare.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

type PanelFuture = Pin<Box<dyn Future<Output = Result<(), Problem>> + Send>>;

/// The cashier's panel as the bridge drives it: the window's session worker
/// ([`crate::runner::Runner::panel`]), or any other place a session runs.
pub trait Panel: Send + Sync + 'static {
    /// Does an action of the register on the panel ([`Action::OpenReceipt`],
    /// [`Action::Close`], [`Action::Withdraw`]); a refusal comes back. Outcomes of the
    /// session go to [`Bridge::outcome`] before the call answers.
    fn call(&self, action: Action) -> PanelFuture;

    /// The till whose store keeps the applied receipts, so the bridge answers for them
    /// after a restart (`GET`, `close`, `cancel`) and sends the ones never closed to the
    /// manager's list. `None`: the bridge remembers only what it saw.
    fn kept(&self) -> Option<Arc<Terminal>> {
        None
    }
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
