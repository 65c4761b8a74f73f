//! Terminal ↔ server: what to send, and what each answer means (`plan`, pure), around
//! the IO steps that move operations from the store to the server.
//!
//! Architecture Invariant: the decisions live in `plan`, a pure function tested as a table
//! of cases (after atuin); the IO around it only reads the store, sends, and records.
//! `link` keeps whether the server answers at all, so a silent server costs the till's
//! requests one timeout per outage, not one each.
pub mod client;
pub mod link;
pub mod plan;
pub mod worker;
