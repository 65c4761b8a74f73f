//! The web pages in a real browser: Debian's chromium, driven through chromedriver
//! (WebDriver) by `fantoccini`, against a real server on 127.0.0.1.
//!
//! Without chromium and chromedriver on the machine the tests say so and pass, so a bare
//! `cargo test` needs nothing installed; `.ci/run` installs both and sets
//! `BONUSKASSA_REQUIRE_BROWSER=1`, which turns a missing browser into a failure.
//! `BONUSKASSA_SCREENSHOTS=DIR` saves a picture of every page a test names (the README's
//! pictures are made so).

#[path = "../common/mod.rs"]
mod common;

mod cabinet;
mod customers;
mod harness;
mod reports;
mod selfreg;
