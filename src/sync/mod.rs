//! Terminal ↔ server: what to send, and what each answer means (`plan`, pure), around
//! the IO steps that move operations from the store to the server.
//!
//! Architecture Invariant: the decisions live in `plan`, a pure function tested as a table
//! of cases (after atuin); the IO around it only reads the store, sends, and records.
pub mod client;
pub mod plan;
pub mod worker;
