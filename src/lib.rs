//! bonuskassa: the loyalty workplace of a cashier, and the loyalty engine it shares with
//! the central server.
//!
//! # Bird's-eye view
//! A cash register forms a receipt and hands it to bonuskassa; the cashier finds the
//! customer, chooses a bonus spend, and bonuskassa answers with the discount, the spend,
//! the accrual and the unit prices the register prints. Every number comes from one pure
//! engine ([`domain`]), so the terminal offline and the server online agree to the kopeck.
//!
//! # Codemap (in reading order)
//! - [`domain`] — the pure engine: [`domain::money`] (rubles, bonuses, quantities,
//!   percents), [`domain::phone`], [`domain::card`], [`domain::scan`] (what a cashier
//!   types or scans), [`domain::receipt`] (the register's input), [`domain::rules`] (the
//!   rules file), [`domain::calc`] (SPEC.md §3 steps 1–7), [`domain::returns`],
//!   [`domain::status`] (card status upgrades).
//! - [`protocol`] — the wire types of the server API.
//! - [`crypto`], [`sqlite`] — hex and constant-time comparison; durable SQLite settings,
//!   migrations and stored times: the ground both sides share.
//! - [`server`] — the central loyalty server (`bonuskassa-server`): HTTP in `server::api`,
//!   engine-free services (`auth`, `customers`, `sms`, `ledger`, `ops`, `jobs`, `admin`)
//!   over the storage seam [`server::store`] with its two engines, embedded SQLite and
//!   PostgreSQL.
//! - [`store`] — the terminal's SQLite: outbox, caches, kept sales.
//! - [`sync`] — terminal ↔ server; [`sync::plan`] is the pure decision step, [`sync::link`]
//!   whether the server answers at all (a silent one is waited for once per outage).
//! - [`terminal`] — the till's operations as a library: enrollment, online-first lookups
//!   and calculations with the offline fallback, queued operations, the sync status.
//! - [`checkout`] — the checkout session: a state machine of screens and actions the UI
//!   shows; its problems are closed cases ([`checkout::Problem`]).
//! - [`setup`] — the installer's setup, a second state machine.
//! - [`bridge`] — the cash register's HTTP link on 127.0.0.1.
//! - [`runner`] — the till's composition root: the session (or the setup), the scanner and
//!   the bridge on one worker thread, shown through a [`runner::Presenter`].
//! - [`scanner`] — serial barcode scanners: framing, the live test, the reconnecting reader.
//! - [`lang`] — the interface languages.
//! - [`secrets`] — the terminal token and keys: the OS keyring, or an explicit file vault.
//! - [`cli`] — command-line jobs such as `bonuskassa calc`.
//! - [`logging`] — tracing, initialised once.
//! - [`clock`], [`failpoint`] — the time source, and the named crash points of the
//!   kill -9 tests.
//! - [`fleet`] — `bonuskassa-server fleet-sim`: simulated tills against server nodes, and
//!   the database checked afterwards.
//! - `ui` — the Slint adapters, the only code that touches generated UI types: the
//!   runner's presenter for the window.
//! - [`demo`] — `bonuskassa demo`: a server, an enrolled till, the runner, its window and
//!   a simulated register in one process.
//!
//! How a sale travels through these, and the layers `tests/tidy.rs` enforces, are in
//! `ARCHITECTURE.md`.
//!
//! # Architecture invariants
//! - `domain` does no IO and reads no clock: time and randomness are arguments.
//! - Money is never a float: `rust_decimal` behind newtypes, decimal strings on the wire.
//! - Personal data (phones, card numbers, scan payloads) is masked in `Debug` and
//!   `Display`; the raw value is reachable only through an explicit accessor.
//! - Dependencies run one way (`tests/tidy.rs`): domain ← protocol ← store ← sync ←
//!   terminal ← checkout ← setup ← bridge ← runner ← ui; the server uses only the shared
//!   ground; only `demo`, `cli` and `fleet` use both sides.
//! - Each IO crate has one home: `slint` only in `ui`, `rusqlite` in `store`, `sqlite` and
//!   the server's SQLite engine (`server::store::sqlite`), `tokio_postgres` in its PostgreSQL
//!   engine (`server::store::postgres`),
//!   `axum` in `server`, `reqwest` in `sync` and the server's SMS gateway, `serialport` in
//!   `scanner`.
//! - An operation made at the till is on disk, with its outbox row, before it is confirmed;
//!   the server applies each operation id at most once, across processes.
//! - The server touches its database only through [`server::store`]: no other module
//!   names `rusqlite` or `tokio_postgres` (`tests/tidy.rs`).

pub mod bridge;
pub mod checkout;
pub mod cli;
pub mod clock;
pub mod crypto;
pub mod demo;
pub mod domain;
pub mod failpoint;
pub mod fleet;
pub mod lang;
pub mod logging;
pub mod protocol;
pub mod runner;
pub mod scanner;
pub mod secrets;
pub mod server;
pub mod setup;
pub mod sqlite;
pub mod store;
pub mod sync;
pub mod terminal;
pub mod ui;
