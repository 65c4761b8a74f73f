//! Wire types: what travels between the terminal and the central server.
//!
//! Architecture Invariant: only `protocol` knows the wire format. The server's handlers and
//! the terminal's sync client both speak these types; the domain types inside them
//! (`Receipt`, `Calculation`, `Bonus`, …) serialize as decimal strings. Version 1 of the
//! API lives under `/api/v1`: add fields with defaults and new endpoints; a changed meaning
//! is a new version, never an edit.
pub mod server;
