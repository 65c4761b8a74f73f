//! Enrollment: the till gets its token and cache key from the server with a one-time code,
//! and the installer's connection test.
use std::path::Path;
use std::sync::Arc;

use super::{Terminal, TerminalConfig, TerminalError};
use crate::clock::Clock;
use crate::protocol::server::{EnrollRequest, Secret};
use crate::secrets::{SecretName, SecretStore, SecretValue};
use crate::store::TerminalStore;
use crate::sync::client::{ClientError, ServerClient};

/// The till as its enrollment made it: the store the code was issued for, and the id the
/// server gave this till.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrollment {
    pub store_name: String,
    pub terminal_id: String,
}

/// The installer's connection test: can the till reach the server at `url` (with the
/// private CA, if any) and how long did the answer take. With the till's `token` the
/// server is also asked for the rules, which proves the token is still good.
pub async fn probe_server(
    url: &str,
    private_ca: Option<&Path>,
    timeout: std::time::Duration,
    token: Option<&str>,
) -> Result<std::time::Duration, ClientError> {
    let client = ServerClient::new(url, token.unwrap_or(""), private_ca, timeout)?;
    let started = std::time::Instant::now();
    client.health().await?;
    let took = started.elapsed();
    if token.is_some() {
        client.rules().await?;
    }
    Ok(took)
}

impl Terminal {
    /// Enrolls this till with a one-time code from the server: keeps the token and the
    /// cache key in `secrets`, writes `terminal.toml`, and opens the till.
    pub async fn enroll(
        data_dir: &Path,
        config: TerminalConfig,
        secrets: Arc<dyn SecretStore>,
        code: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<Terminal, TerminalError> {
        let anonymous = ServerClient::new(
            &config.server_url,
            "",
            config.private_ca.as_deref(),
            config.sync_timeout(),
        )?;
        let enrolled = anonymous
            .enroll(&EnrollRequest {
                code: Secret(code.trim().to_string()),
                name: config.name.clone(),
            })
            .await?;
        secrets.set(
            SecretName::TerminalToken,
            &SecretValue::new(enrolled.token.expose()),
        )?;
        secrets.set(
            SecretName::CacheKey,
            &SecretValue::new(enrolled.lookup_key.expose()),
        )?;
        config.save(data_dir)?;
        let mut store = TerminalStore::open(data_dir)?;
        store.put_meta("terminal_id", &enrolled.terminal_id)?;
        store.put_meta("store_id", &enrolled.store_id)?;
        store.put_meta("store_name", &enrolled.store_name)?;
        drop(store);
        tracing::info!(terminal = %enrolled.terminal_id, store = %enrolled.store_id, "enrolled");
        Terminal::open_with(data_dir, config, secrets, clock)
    }
}
