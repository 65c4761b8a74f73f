//! The touch window's tests, one binary, on Slint's headless testing backend with the
//! software renderer. `window` opens windows that need no event loop proxy, each test on
//! its own thread; the walks over a live session (`flows`, `scanner`, `session`, `setup`)
//! need the backend whose event loop a worker posts to, which a process has once, so they
//! run one after another on one thread (`common::ui::on_slint_thread`).

#[path = "../common/mod.rs"]
mod common;

mod consents;
mod flows;
mod keyboard;
mod scanner;
mod session;
mod setup;
mod window;
