//! The pure loyalty engine: money, identifiers, receipts, rules, and the calculations the
//! terminal and the server share.
//!
//! Architecture Invariant: nothing in `domain` does IO — no files, no network, no clock,
//! no database. Time and randomness come in as arguments, so every function here gives the
//! same answer for the same input, online or offline, on the till or on the server.
pub mod calc;
pub mod card;
pub mod fiscal;
pub mod masked;
pub mod money;
pub mod phone;
pub mod receipt;
pub mod returns;
pub mod rules;
pub mod scan;
pub mod status;
