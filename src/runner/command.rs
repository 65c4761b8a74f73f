//! The worker's way in: what the screens, the register bridge, the scanner and tests send
//! it, and the counted sender they share (the UI's adapters and the runner both name these
//! types, so they live here, below the UI).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{mpsc, oneshot};

use crate::checkout::{Action, Problem};
use crate::setup::SetupAction;

/// Where the register's call hears how it went.
pub type Reply = oneshot::Sender<Result<(), Problem>>;

/// Told when an action is done and its view handed to the presenter.
pub type Done = oneshot::Sender<()>;

pub enum Command {
    /// A tap of the cashier (or a scan); `Done` hears when it has been shown.
    Act(Action, Option<Done>),
    /// An action of the cash register (through the bridge), answered on `Reply` after
    /// the session's outcomes went to the listener.
    FromRegister(Action, Reply),
    /// The installer's setup page (boxed: it carries the whole form).
    Setup(Box<SetupAction>),
    /// The manager opens the setup of this till from the menu.
    OpenSetup,
    Stop,
}

/// The sending end of the worker's channel, with the count of commands not yet shown.
#[derive(Clone)]
pub struct Commands {
    tx: mpsc::UnboundedSender<Command>,
    pending: Arc<AtomicUsize>,
}

impl Commands {
    pub(super) fn channel() -> (Commands, mpsc::UnboundedReceiver<Command>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let commands = Commands {
            tx,
            pending: Arc::new(AtomicUsize::new(0)),
        };
        (commands, rx)
    }

    pub fn send(&self, command: Command) {
        let counted = !matches!(command, Command::Stop);
        if counted {
            self.pending.fetch_add(1, Ordering::SeqCst);
        }
        if self.tx.send(command).is_err() {
            if counted {
                self.pending.fetch_sub(1, Ordering::SeqCst);
            }
            tracing::warn!("the session worker has stopped; the tap is dropped");
        }
    }

    /// A tap: the action, with nobody waiting for it.
    pub fn act(&self, action: Action) {
        self.send(Command::Act(action, None));
    }

    /// Commands sent and not yet done and shown.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }

    /// The command under way is done: it no longer counts.
    pub(super) fn done(&self) {
        self.pending.fetch_sub(1, Ordering::SeqCst);
    }
}
