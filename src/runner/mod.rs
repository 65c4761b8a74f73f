//! The till's composition root: one checkout session (or the installer's setup) on a
//! worker thread of its own, with everything around it, and a [`Presenter`] that shows it.
//!
//! The session does network and disk IO, so it never runs on a UI thread. The worker has
//! its own current-thread tokio runtime, which
//! - receives [`Command`]s (from the screens, the register bridge, the serial scanner and
//!   tests) over one channel, in order;
//! - runs `session.act(action).await`, sends any [`Outcome`] to the register bridge (or
//!   keeps it for [`Runner::try_outcome`]);
//! - hands the presenter the session to show after every command, when the till's sync
//!   status changes, and once a second (the status bar's ages, the SMS countdowns);
//! - owns the serial scanner and the register bridge of the running till, and restarts
//!   them when the setup saves new settings.
//!
//! `bonuskassa ui` and the demo start a runner with the window's presenter; the bridge
//! tests start the same runner with a recorder.

mod command;
mod presenter;
mod worker;

use std::net::SocketAddr;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use command::{Command, Commands, Done, Reply};
pub use presenter::{Notice, Presenter, Shown};

use crate::bridge::Panel;
use crate::checkout::{Action, Outcome, Problem};
use crate::clock::Clock;
use crate::domain::receipt::Receipt;
use crate::setup::{SecretsOpener, Setup};
use crate::terminal::Terminal;

/// What the worker starts with.
pub enum Start {
    /// An enrolled till: its checkout session, from the login screen.
    Till(Arc<Terminal>),
    /// The installer's setup of a till never enrolled.
    Setup(Box<Setup>),
}

/// Whether and where the runner serves the cash-register bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BridgeChoice {
    /// No bridge (tests that do not drive it share no port).
    #[default]
    Off,
    /// On the till's `[bridge]` port (`bonuskassa ui`).
    Configured,
    /// On a free port of 127.0.0.1, found through [`Runner::bridge_addr`] (the demo,
    /// tests).
    AnyPort,
}

/// How the runner starts.
pub struct RunnerOptions {
    pub clock: Arc<dyn Clock>,
    /// Opens the secret store when a manager opens the setup of the till.
    pub open_secrets: SecretsOpener,
    pub bridge: BridgeChoice,
    /// How long an applied receipt waits for the register's close, when not the till's
    /// `[bridge] close_timeout_s` (which is at least 10 s): tests that watch a receipt
    /// expire wait less.
    pub close_timeout: Option<Duration>,
}

/// A listener of the session's outcomes (the register bridge).
pub type OutcomeListener = Box<dyn Fn(&Outcome) + Send>;

/// The running till. Dropping it stops the worker thread (after the command under way),
/// the bridge and the scanner.
pub struct Runner {
    commands: Commands,
    outcomes: Mutex<std_mpsc::Receiver<Outcome>>,
    listener: Arc<Mutex<Option<OutcomeListener>>>,
    bridge_addr: Arc<Mutex<Option<SocketAddr>>>,
    worker: Option<std::thread::JoinHandle<()>>,
}

impl Runner {
    /// Starts the worker thread on `start`; the scanner and the bridge of an enrolled till
    /// are running when this returns.
    pub fn start(
        start: Start,
        options: RunnerOptions,
        presenter: Box<dyn Presenter>,
    ) -> std::io::Result<Runner> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (commands, rx) = Commands::channel();
        let (outcome_tx, outcome_rx) = std_mpsc::channel();
        let outcomes = worker::Outcomes {
            channel: outcome_tx,
            listener: Arc::new(Mutex::new(None)),
        };
        let bridge_addr = Arc::new(Mutex::new(None));
        let listener = outcomes.listener.clone();
        let mut worker = worker::Worker::new(
            presenter,
            options,
            commands.clone(),
            outcomes,
            bridge_addr.clone(),
        );
        let mode = worker.begin(start);
        let thread = std::thread::Builder::new()
            .name("bonuskassa-session".into())
            .spawn(move || runtime.block_on(worker.serve(mode, rx)))?;
        let runner = Runner {
            commands,
            outcomes: Mutex::new(outcome_rx),
            listener,
            bridge_addr,
            worker: Some(thread),
        };
        Ok(runner)
    }

    /// The sender the screens wire their callbacks to.
    pub fn commands(&self) -> Commands {
        self.commands.clone()
    }

    /// Queues an action for the session, as a tap would.
    pub fn act(&self, action: Action) {
        self.commands.act(action);
    }

    /// Does an action as a tap would and waits until it is done and shown.
    pub async fn tap(&self, action: Action) {
        let (done, shown) = tokio::sync::oneshot::channel();
        self.commands.send(Command::Act(action, Some(done)));
        // A stopped worker drops `done`: nothing more will be shown either way.
        let _ = shown.await;
    }

    /// The register handed over a sale or a return receipt.
    pub fn open_receipt(&self, receipt: Receipt) {
        self.act(Action::OpenReceipt(receipt));
    }

    /// Raw bytes from the scanner (a card barcode or a customer's QR code).
    pub fn scan(&self, bytes: Vec<u8>) {
        self.act(Action::Scan(bytes));
    }

    /// True when every command sent so far has been done and handed to the presenter.
    pub fn is_idle(&self) -> bool {
        self.commands.pending() == 0
    }

    /// Sends every outcome to `listener` from now on, instead of keeping it for
    /// [`Runner::try_outcome`]. It runs on the worker thread before the register's call
    /// is answered. The runner's own bridge sets itself as the listener when it starts.
    pub fn on_outcome(&self, listener: OutcomeListener) {
        *self.listener.lock().unwrap_or_else(|p| p.into_inner()) = Some(listener);
    }

    /// The panel as a register bridge drives it.
    pub fn panel(&self) -> Arc<dyn Panel> {
        Arc::new(PanelLink {
            commands: self.commands.clone(),
            terminal: None,
        })
    }

    /// The result of a receipt for the register, if one is waiting; each is given once.
    pub fn try_outcome(&self) -> Option<Outcome> {
        self.outcomes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .try_recv()
            .ok()
    }

    /// Where the register bridge listens, while it runs.
    pub fn bridge_addr(&self) -> Option<SocketAddr> {
        *self.bridge_addr.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.commands.send(Command::Stop);
        if let Some(worker) = self.worker.take()
            && worker.join().is_err()
        {
            tracing::error!("the session worker panicked");
        }
    }
}

/// The register bridge's way into the worker.
struct PanelLink {
    commands: Commands,
    /// Where the applied receipts are kept, for the bridge's answers after a restart.
    terminal: Option<Arc<Terminal>>,
}

impl Panel for PanelLink {
    fn kept(&self) -> Option<Arc<Terminal>> {
        self.terminal.clone()
    }

    fn call(
        &self,
        action: Action,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), Problem>> + Send>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.commands.send(Command::FromRegister(action, tx));
        Box::pin(async move {
            rx.await
                .unwrap_or_else(|_| Err(Problem::Storage("the till's panel has stopped".into())))
        })
    }
}
