//! The databases the server's contract suite runs on: embedded SQLite always, and
//! PostgreSQL when `BONUSKASSA_TEST_PG_URL` names a server (`postgres://USER@HOST:PORT/DB`,
//! a user who may create databases). Each test gets a fresh database of its own; a
//! PostgreSQL one is dropped when the test ends.
//!
//! Without the variable the PostgreSQL half is skipped, and says so on standard error
//! where `cargo test` shows it (written past the test harness's output capture), so a run
//! never passes silently without it. With `BONUSKASSA_REQUIRE_PG=1` (set by `.ci/run`) a
//! missing variable fails instead.
#![allow(dead_code)]

use std::io::Write;
use std::sync::{Arc, Once};

use bonuskassa::server::store::postgres::Scratch;
use bonuskassa::server::store::{self, Engine, Location, Store};

/// The variable naming the PostgreSQL server of the contract suite.
pub const PG_URL: &str = "BONUSKASSA_TEST_PG_URL";

/// The engines to run on.
pub fn engines() -> Vec<Engine> {
    match std::env::var(PG_URL) {
        Ok(url) if !url.trim().is_empty() => vec![Engine::Sqlite, Engine::Postgres],
        _ => {
            if std::env::var("BONUSKASSA_REQUIRE_PG").is_ok_and(|v| v == "1") {
                panic!(
                    "{PG_URL} is not set, and BONUSKASSA_REQUIRE_PG=1 asks for the PostgreSQL suite"
                );
            }
            static SAID: Once = Once::new();
            SAID.call_once(|| {
                let bin = std::env::args()
                    .next()
                    .and_then(|a| {
                        std::path::Path::new(&a)
                            .file_name()
                            .map(|n| n.to_string_lossy().to_string())
                    })
                    .unwrap_or_default();
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIPPED the PostgreSQL half of {bin}: set {PG_URL}=postgres://USER@HOST:PORT/DB to run it"
                );
            });
            vec![Engine::Sqlite]
        }
    }
}

/// A fresh, empty database of one engine.
pub struct TestDb {
    pub engine: Engine,
    pub location: Location,
    // Dropped after everything that uses the database.
    _scratch: Option<Scratch>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub fn new(engine: Engine) -> TestDb {
        match engine {
            Engine::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                TestDb {
                    engine,
                    location: Location::Sqlite(dir.path().join("server")),
                    _scratch: None,
                    _dir: Some(dir),
                }
            }
            Engine::Postgres => {
                let admin = std::env::var(PG_URL).expect("engines() said PostgreSQL is there");
                let scratch = Scratch::create(&admin).unwrap();
                TestDb {
                    engine,
                    location: Location::Postgres(scratch.url().to_string()),
                    _scratch: Some(scratch),
                    _dir: None,
                }
            }
        }
    }

    /// Opens (creating and migrating) the store.
    pub fn open(&self) -> Arc<dyn Store> {
        store::open(&self.location).unwrap()
    }

    /// The data dir of a SQLite database.
    pub fn data_dir(&self) -> Option<&std::path::Path> {
        self.location.data_dir()
    }
}
