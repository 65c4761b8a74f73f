//! End to end, one binary: the built programs run as processes (`cli_calc`, `cli_till`,
//! `torture`'s kill -9 of `bonuskassa-till-load`), and a register (pos-sim) selling
//! through the bridge of a till with its window open (`register`, the one test here on
//! Slint's testing backend), and `demo_signals`: the demo on Xvfb, stopped by signals.

#[path = "../common/mod.rs"]
mod common;

mod cli_calc;
mod cli_till;
mod demo_signals;
mod register;
mod torture;
