//! The till's settings file, `terminal.toml` in its data dir: where the server is and how
//! to reach it, and where the secrets live. Never a secret itself: the token and the cache
//! key are in the secret store the file names.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::offline::LocalOffline;
use crate::lang::Language;
use crate::scanner::ScannerSettings;
use crate::secrets::SecretBackend;

/// The settings file in a data dir.
pub const CONFIG_FILE: &str = "terminal.toml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminalConfig {
    /// The central server, `https://…` (plain `http://` only on a loopback address).
    pub server_url: String,
    /// The till's name as managers see it ("Касса 2").
    pub name: String,
    /// `keyring`, or `file:/absolute/dir` on a till without a secret service.
    #[serde(with = "backend_text")]
    pub secrets: SecretBackend,
    /// A PEM file of a private CA the server's certificate is signed by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_ca: Option<PathBuf>,
    /// How long a lookup or a calculation waits for the server before the till falls back
    /// to its cache (SPEC.md §6: the fallback is on screen within 2 s).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// How long a batch of queued operations may take.
    #[serde(default = "default_sync_timeout_s")]
    pub sync_timeout_s: u64,
    /// How often rules and customers are pulled, in seconds.
    #[serde(default = "default_refresh_s")]
    pub refresh_s: u64,
    /// The page where customers register themselves (`https://…`), shown by the manager as
    /// the store's self-registration QR code; without it, the customer's page of the till's
    /// own server (`server_url/r/STORE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_registration_url: Option<String>,
    /// The language the till's screens open in (the cashier can switch for a session).
    #[serde(default)]
    pub language: Language,
    /// A logged-in cashier is logged out after this many seconds without a tap or a
    /// receipt, when nothing is under way; 0: never.
    #[serde(default = "default_idle_logout_s")]
    pub idle_logout_s: u64,
    /// A barcode/QR scanner on a serial port. Without one, only keyboard-wedge scanners
    /// work: they type into the window like a keyboard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scanner: Option<ScannerSettings>,
    /// The cash register's link: HTTP on 127.0.0.1; its key is in the secret store.
    #[serde(default)]
    pub bridge: BridgeSettings,
    /// This till's own offline limits, tighter than the rules' (never looser).
    #[serde(default, skip_serializing_if = "LocalOffline::is_default")]
    pub offline: LocalOffline,
}

/// Where the cash register reaches the till. Only the loopback interface is ever bound;
/// the key every request carries is in the secret store, never here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeSettings {
    #[serde(default = "default_bridge_port")]
    pub port: u16,
    /// How long an applied receipt waits for the register to close it before the panel
    /// gives up on it (the register may have gone away): nothing is recorded then.
    #[serde(default = "default_close_timeout_s")]
    pub close_timeout_s: u64,
}

/// Ten minutes: a card payment, a retried print and a paper change fit in it.
pub const DEFAULT_CLOSE_TIMEOUT_S: u64 = 600;

fn default_close_timeout_s() -> u64 {
    DEFAULT_CLOSE_TIMEOUT_S
}

/// The port the bridge listens on unless the installer picks another.
pub const DEFAULT_BRIDGE_PORT: u16 = 8765;

fn default_bridge_port() -> u16 {
    DEFAULT_BRIDGE_PORT
}

impl Default for BridgeSettings {
    fn default() -> Self {
        BridgeSettings {
            port: DEFAULT_BRIDGE_PORT,
            close_timeout_s: DEFAULT_CLOSE_TIMEOUT_S,
        }
    }
}

/// A quarter of an hour: a till left logged in is not left open for the whole shift.
pub const DEFAULT_IDLE_LOGOUT_S: u64 = 900;

fn default_idle_logout_s() -> u64 {
    DEFAULT_IDLE_LOGOUT_S
}

/// How long a lookup waits for the server unless the installer sets `timeout_ms`.
pub const DEFAULT_TIMEOUT_MS: u64 = 1500;

fn default_timeout_ms() -> u64 {
    DEFAULT_TIMEOUT_MS
}
fn default_sync_timeout_s() -> u64 {
    30
}
/// Half a minute: a rules version the owner activates reaches every till within a minute
/// (seed 002: «в течение минуты») even when the till prices nothing online meanwhile.
fn default_refresh_s() -> u64 {
    30
}

mod backend_text {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::secrets::SecretBackend;

    pub fn serialize<S: Serializer>(b: &SecretBackend, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(b)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SecretBackend, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl TerminalConfig {
    /// A config with the defaults for everything but the server, the name and the secrets.
    pub fn new(server_url: &str, name: &str, secrets: SecretBackend) -> TerminalConfig {
        TerminalConfig {
            server_url: server_url.to_string(),
            name: name.to_string(),
            secrets,
            private_ca: None,
            timeout_ms: default_timeout_ms(),
            sync_timeout_s: default_sync_timeout_s(),
            refresh_s: default_refresh_s(),
            self_registration_url: None,
            language: Language::default(),
            scanner: None,
            bridge: BridgeSettings::default(),
            offline: LocalOffline::default(),
            idle_logout_s: DEFAULT_IDLE_LOGOUT_S,
        }
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    pub fn sync_timeout(&self) -> Duration {
        Duration::from_secs(self.sync_timeout_s)
    }

    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join(CONFIG_FILE)
    }

    /// Reads `terminal.toml` from `data_dir`; a bad file gets an error naming the key.
    pub fn load(data_dir: &Path) -> Result<TerminalConfig, ConfigError> {
        let path = Self::path(data_dir);
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Io {
            path: path.clone(),
            source,
        })?;
        let config: TerminalConfig = toml::from_str(&text).map_err(|e| ConfigError::Invalid {
            path: path.clone(),
            message: e.message().to_string()
                + &e.span()
                    .map(|s| format!(" (line {})", text[..s.start].lines().count().max(1)))
                    .unwrap_or_default(),
        })?;
        config.check().map_err(|message| ConfigError::Invalid {
            path: path.clone(),
            message,
        })?;
        Ok(config)
    }

    /// The checks `load` and `save` make, naming the key that is wrong.
    pub fn check(&self) -> Result<(), String> {
        if !(100..=30_000).contains(&self.timeout_ms) {
            return Err(format!(
                "timeout_ms = {} is outside 100..=30000",
                self.timeout_ms
            ));
        }
        if !(1..=600).contains(&self.sync_timeout_s) {
            return Err(format!(
                "sync_timeout_s = {} is outside 1..=600",
                self.sync_timeout_s
            ));
        }
        if !(5..=86_400).contains(&self.refresh_s) {
            return Err(format!(
                "refresh_s = {} is outside 5..=86400",
                self.refresh_s
            ));
        }
        if let Some(url) = &self.self_registration_url
            && (!url.starts_with("https://")
                || url.len() > 512
                || url.contains(char::is_whitespace))
        {
            return Err(format!(
                "self_registration_url must be an https:// address of at most 512 characters without spaces, not {url:?}"
            ));
        }
        if self.name.trim().is_empty() {
            return Err("name must not be empty".into());
        }
        if !(10..=86_400).contains(&self.bridge.close_timeout_s) {
            return Err(format!(
                "[bridge] close_timeout_s = {} is not from 10 to 86400 seconds",
                self.bridge.close_timeout_s
            ));
        }
        if self.idle_logout_s != 0 && !(60..=86_400).contains(&self.idle_logout_s) {
            return Err(format!(
                "idle_logout_s = {} is neither 0 (never) nor from 60 to 86400 seconds",
                self.idle_logout_s
            ));
        }
        if self.bridge.port < 1024 {
            return Err(format!(
                "[bridge] port = {} is below 1024: choose a port from 1024 to 65535",
                self.bridge.port
            ));
        }
        if let Some(scanner) = &self.scanner {
            scanner
                .validate()
                .map_err(|message| format!("[scanner] {message}"))?;
        }
        if self.offline.horizon_hours == Some(0) {
            return Err("[offline] horizon_hours = 0: leave it out, or set spend_allowed = false to forbid offline spend".into());
        }
        Ok(())
    }

    /// Writes the file atomically (a temporary file renamed over the old one).
    pub fn save(&self, data_dir: &Path) -> Result<(), ConfigError> {
        let path = Self::path(data_dir);
        let io = |source| ConfigError::Io {
            path: path.clone(),
            source,
        };
        self.check().map_err(|message| ConfigError::Invalid {
            path: path.clone(),
            message,
        })?;
        let text = toml::to_string(self).map_err(|e| ConfigError::Invalid {
            path: path.clone(),
            message: e.to_string(),
        })?;
        std::fs::create_dir_all(data_dir).map_err(io)?;
        let tmp = path.with_extension("toml.tmp");
        {
            use std::io::Write;
            let mut file = std::fs::File::create(&tmp).map_err(io)?;
            file.write_all(text.as_bytes()).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, &path).map_err(io)?;
        // The rename itself is durable only once the directory is synced.
        if let Ok(dir) = std::fs::File::open(data_dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_round_trips_and_bad_values_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = TerminalConfig::new(
            "https://loyalty.example",
            "Касса 1",
            "file:/var/lib/bonuskassa/secrets".parse().unwrap(),
        );
        c.save(dir.path()).unwrap();
        assert_eq!(TerminalConfig::load(dir.path()).unwrap(), c);
        let text = std::fs::read_to_string(TerminalConfig::path(dir.path())).unwrap();
        assert!(text.contains("secrets = \"file:/var/lib/bonuskassa/secrets\""));

        // The idle logout: kept as written, 0 for never, and a few seconds refused.
        c.idle_logout_s = 0;
        c.save(dir.path()).unwrap();
        assert_eq!(TerminalConfig::load(dir.path()).unwrap().idle_logout_s, 0);
        c.idle_logout_s = 30;
        assert!(
            c.save(dir.path())
                .unwrap_err()
                .to_string()
                .contains("idle_logout_s = 30")
        );
        c.idle_logout_s = DEFAULT_IDLE_LOGOUT_S;

        c.timeout_ms = 5;
        assert!(
            c.save(dir.path())
                .unwrap_err()
                .to_string()
                .contains("timeout_ms = 5")
        );

        std::fs::write(
            TerminalConfig::path(dir.path()),
            "server_url = \"https://x\"\nname = \"K\"\nsecrets = \"file:relative\"\n",
        )
        .unwrap();
        let err = TerminalConfig::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("file:relative"), "{err}");
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn the_installers_tables_round_trip_and_bad_ones_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let mut c =
            TerminalConfig::new("https://loyalty.example", "Касса 1", SecretBackend::Keyring);
        c.language = Language::En;
        c.scanner = Some(
            toml::from_str("port = \"/dev/ttyACM0\"\nbaud = 115200\nterminator = \"crlf\"")
                .unwrap(),
        );
        c.bridge.port = 9000;
        c.offline.max_spend_per_operation = Some("300".parse().unwrap());
        c.offline.horizon_hours = Some(12);
        c.save(dir.path()).unwrap();
        assert_eq!(TerminalConfig::load(dir.path()).unwrap(), c);
        let text = std::fs::read_to_string(TerminalConfig::path(dir.path())).unwrap();
        for line in [
            "language = \"en\"",
            "[scanner]",
            "[bridge]",
            "port = 9000",
            "[offline]",
            "horizon_hours = 12",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }

        for (bad, named) in [
            ("[bridge]\nport = 80\n", "[bridge] port = 80"),
            ("[offline]\nhorizon_hours = 0\n", "horizon_hours = 0"),
            ("[offline]\nmax_spend = 1\n", "max_spend"),
            ("language = \"de\"\n", "de"),
        ] {
            std::fs::write(
                TerminalConfig::path(dir.path()),
                format!("server_url = \"https://x\"\nname = \"K\"\nsecrets = \"keyring\"\n{bad}"),
            )
            .unwrap();
            let err = TerminalConfig::load(dir.path()).unwrap_err().to_string();
            assert!(err.contains(named), "{named}: {err}");
        }
    }
}
