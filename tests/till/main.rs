//! The till's tests, one binary: the terminal against a real server on 127.0.0.1 (session,
//! setup, sync, a fault proxy between them), the till's store under faults, the register's
//! bridge, the barcode scanner, and the secret stores.

#[path = "../common/mod.rs"]
mod common;

mod bridge;
mod bridge_props;
mod bridge_schemathesis;
mod consents;
mod fault_proxy;
mod holds;
mod rules_pickup;
mod scanner;
mod scanner_props;
mod secrets;
mod session;
mod setup;
mod store_faults;
mod sync_drain;
mod terminal;
