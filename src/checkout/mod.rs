//! The checkout session: what the cashier is doing right now, as a state machine over the
//! till's library ([`crate::terminal`]).
//!
//! The UI is a thin view of it: it shows [`Session::screen`] and [`Session::problem`] and
//! turns every tap into an [`Action`] for [`Session::act`]. Tests drive the same actions
//! directly. Receipts arrive through [`Action::OpenReceipt`] (from the cash-register bridge,
//! or from a test); when the cashier applies a sale the result for the register is
//! [`Session::outcome`].
//!
//! Architecture Invariant: the session never computes a number itself: prices come from
//! [`Terminal::calculate`](crate::terminal::Terminal::calculate), returns from [`Terminal::preview_return`](crate::terminal::Terminal::preview_return). A failed action
//! leaves the screen where it was and says why in [`Problem`]; nothing typed is lost.
//!
//! The files: [`Action`] and how the session dispatches it in `action.rs`; [`Screen`] and
//! the register's [`Outcome`] in `screen.rs`; the [`Session`] and the sale and return flow
//! in `session.rs`; registering a customer (and the SMS codes) in `registration.rs`; the
//! customer's consents on the card in `consents.rs`; the manager's actions in
//! `manager.rs`; the problems in `problem.rs`; the self-registration QR code in `qr.rs`.
mod action;
mod consents;
mod manager;
pub mod problem;
pub mod qr;
mod registration;
mod screen;
mod session;

pub use action::{Action, CardChoice, Withdrawal};
pub use problem::{Problem, ServerTrouble};
pub use registration::{Registration, RegistrationStep};
pub use screen::{
    Applied, AppliedWhat, CustomerPanel, CustomerPurchases, CustomerTab, Outcome, Screen, SpendCode,
};
pub use session::Session;
