//! The server's tests, one binary: the contract suite (`api`, `ledger_props`,
//! `replay_props`, `store`: each on SQLite, and on PostgreSQL with
//! `BONUSKASSA_TEST_PG_URL`), the OpenAPI document against real exchanges, the SMS
//! gateways, and the `bonuskassa-server` binary. `.ci/run` picks the contract suite by
//! module: `cargo test --test server -- api:: ledger_props:: replay_props:: store::`.

#[path = "../common/mod.rs"]
mod common;

mod api;
mod binary;
mod ledger_props;
mod openapi;
mod replay_props;
mod reports_cli;
mod sms_gateway;
mod store;
