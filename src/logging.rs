//! Tracing, initialised once per process.
//!
//! Log lines carry only what is safe to keep in a plain-text file: the types that hold
//! personal data (`Phone`, `CardNumber`, `ScanPayload`, …) mask themselves in `Debug` and
//! `Display`, so a value passed to `tracing` is masked whatever field it lands in. Filter
//! with `BONUSKASSA_LOG` (e.g. `BONUSKASSA_LOG=debug`); logs go to standard error.

use std::sync::Once;

use tracing_subscriber::EnvFilter;

static INIT: Once = Once::new();

/// Installs the global subscriber; later calls do nothing.
pub fn init() {
    INIT.call_once(|| {
        let filter =
            EnvFilter::try_from_env("BONUSKASSA_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
        // A second subscriber (a test harness, an embedding program) wins; that is fine.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_target(false)
            .try_init();
    });
}
