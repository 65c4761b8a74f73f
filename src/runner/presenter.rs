//! What the runner asks of whatever shows the till: the [`Presenter`]. The Slint window
//! implements it (`ui`), posting each view to its event loop; tests implement it with a
//! recorder. Every call comes from the runner's worker thread and must not block it.

use chrono::{DateTime, Utc};

use crate::checkout::{Outcome, Session};
use crate::lang::Language;
use crate::setup::Setup;
use crate::sync::worker::SyncStatus;

/// A one-line confirmation the cashier sees after an action that leaves the screen
/// unchanged or goes back to waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Notice {
    #[default]
    None,
    /// A manager's manual change of a balance went through.
    BalanceChanged,
    /// A walk-in registration (no receipt open) finished.
    WalkInRegistered,
    /// The register cancelled the receipt it had been handed.
    RegisterCancelled,
    /// The register never confirmed the receipt in time; it was given up.
    RegisterSilent,
}

/// The checkout session as it stands, with what the runner knows beside it.
pub struct Shown<'a> {
    pub session: &'a Session,
    /// More actions are queued behind this one: the screens stay greyed.
    pub busy: bool,
    pub notice: Notice,
    /// The outcome of the last receipt, for the «last receipt» line.
    pub last: Option<&'a Outcome>,
    /// Set when the session chose the spend («0», «Макс»): the spend field shows it.
    pub spend_chosen: Option<String>,
    pub now: DateTime<Utc>,
}

/// Shows the till. Implementations hand the work to their own thread (the window's event
/// loop) and return at once.
pub trait Presenter: Send + 'static {
    /// Shows the checkout session: after an action, a tick of the clock (countdowns and
    /// ages), or a return from the setup.
    fn show_session(&self, shown: &Shown<'_>);
    /// Only the till's sync status changed.
    fn show_status(&self, status: &SyncStatus, now: DateTime<Utc>);
    /// Shows the installer's setup; `ports` are the serial ports found on this machine.
    fn show_setup(&self, setup: &Setup, busy: bool, ports: Vec<String>);
    /// The setup finished: leave it for the session shown, in `language` when the setup
    /// chose one.
    fn leave_setup(&self, shown: &Shown<'_>, language: Option<Language>);
}
