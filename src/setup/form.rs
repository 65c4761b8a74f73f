//! The setup form as typed ([`SetupForm`]): its fields, their defaults, and the parse
//! that checks every field and names the wrong one.
use std::path::{Path, PathBuf};

use rand::Rng;

use super::SetupProblem;
use crate::domain::money::Bonus;
use crate::lang::Language;
use crate::scanner::{ScannerSettings, Terminator};
use crate::secrets::SecretBackend;
use crate::terminal::config::{BridgeSettings, DEFAULT_BRIDGE_PORT};
use crate::terminal::{LocalOffline, TerminalConfig};

/// Where the secrets go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretChoice {
    /// The OS keyring (a desktop secret service).
    Keyring,
    /// An encrypted-at-rest-by-permissions vault directory (0700, files 0600) on a
    /// headless till without a secret service: the installer's explicit choice.
    File,
}

/// The setup form as typed. Text stays text until an action parses it, so nothing the
/// installer typed is lost when one field is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupForm {
    pub server_url: String,
    pub name: String,
    /// The one-time enrollment code from `bonuskassa-server enroll-code`.
    pub code: String,
    /// A PEM file of a private CA; empty for a public certificate.
    pub private_ca: String,
    pub secrets: SecretChoice,
    /// The vault directory when `secrets` is `File`.
    pub vault_dir: String,
    /// Empty: no serial scanner (keyboard-wedge scanners need no setup).
    pub scanner_port: String,
    pub scanner_baud: String,
    pub scanner_terminator: Terminator,
    pub bridge_port: String,
    pub bridge_key: String,
    pub language: Language,
    /// This till may spend bonuses offline (within the rules' limits).
    pub offline_spend: bool,
    /// The till's own caps; empty: the rules decide.
    pub offline_max_per_purchase: String,
    pub offline_max_unsynced: String,
    pub offline_horizon_hours: String,
    pub timeout_ms: String,
    pub self_registration_url: String,
}

/// A field of the form, named in problems so the screen can point at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupField {
    ServerUrl,
    Name,
    Code,
    PrivateCa,
    VaultDir,
    ScannerPort,
    ScannerBaud,
    BridgePort,
    BridgeKey,
    OfflineMaxPerPurchase,
    OfflineMaxUnsynced,
    OfflineHorizon,
    Timeout,
    SelfRegistrationUrl,
}

/// The form parsed: what `terminal.toml` and the secret store get.
pub(super) struct Parsed {
    pub(super) config: TerminalConfig,
    pub(super) bridge_key: String,
}

impl SetupForm {
    /// The form of a till never enrolled, with the defaults an installer mostly keeps.
    pub fn new(data_dir: &Path) -> SetupForm {
        let vault = std::path::absolute(data_dir)
            .unwrap_or_else(|_| data_dir.to_path_buf())
            .join("vault");
        SetupForm {
            server_url: String::new(),
            name: "Касса 1".into(),
            code: String::new(),
            private_ca: String::new(),
            secrets: SecretChoice::Keyring,
            vault_dir: vault.display().to_string(),
            scanner_port: String::new(),
            scanner_baud: "9600".into(),
            scanner_terminator: Terminator::default(),
            bridge_port: DEFAULT_BRIDGE_PORT.to_string(),
            bridge_key: new_bridge_key(),
            language: Language::Ru,
            offline_spend: true,
            offline_max_per_purchase: String::new(),
            offline_max_unsynced: String::new(),
            offline_horizon_hours: String::new(),
            timeout_ms: crate::terminal::config::DEFAULT_TIMEOUT_MS.to_string(),
            self_registration_url: String::new(),
        }
    }

    /// The form of an enrolled till: its settings, and its bridge key if it has one.
    pub fn from_config(config: &TerminalConfig, bridge_key: Option<String>) -> SetupForm {
        let text = |b: Option<Bonus>| b.map(|b| b.to_string()).unwrap_or_default();
        let (secrets, vault_dir) = match &config.secrets {
            SecretBackend::File(dir) => (SecretChoice::File, dir.display().to_string()),
            _ => (SecretChoice::Keyring, String::new()),
        };
        SetupForm {
            server_url: config.server_url.clone(),
            name: config.name.clone(),
            code: String::new(),
            private_ca: config
                .private_ca
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            secrets,
            vault_dir,
            scanner_port: config
                .scanner
                .as_ref()
                .map(|s| s.port.clone())
                .unwrap_or_default(),
            scanner_baud: config.scanner.as_ref().map_or(9600, |s| s.baud).to_string(),
            scanner_terminator: config
                .scanner
                .as_ref()
                .map(|s| s.terminator)
                .unwrap_or_default(),
            bridge_port: config.bridge.port.to_string(),
            bridge_key: bridge_key.unwrap_or_else(new_bridge_key),
            language: config.language,
            offline_spend: config.offline.spend_allowed,
            offline_max_per_purchase: text(config.offline.max_spend_per_operation),
            offline_max_unsynced: text(config.offline.max_unsynced_spend_per_terminal),
            offline_horizon_hours: config
                .offline
                .horizon_hours
                .map(|h| h.to_string())
                .unwrap_or_default(),
            timeout_ms: config.timeout_ms.to_string(),
            self_registration_url: config.self_registration_url.clone().unwrap_or_default(),
        }
    }

    fn backend(&self) -> Result<SecretBackend, SetupProblem> {
        match self.secrets {
            SecretChoice::Keyring => Ok(SecretBackend::Keyring),
            SecretChoice::File => {
                let dir = self.vault_dir.trim();
                if !Path::new(dir).is_absolute() {
                    return Err(SetupProblem::field(
                        SetupField::VaultDir,
                        format!("the vault must be an absolute directory (/…), not {dir:?}"),
                    ));
                }
                Ok(SecretBackend::File(PathBuf::from(dir)))
            }
        }
    }

    pub(super) fn server_url(&self) -> Result<String, SetupProblem> {
        let url = self.server_url.trim().trim_end_matches('/');
        if url.is_empty() {
            return Err(SetupProblem::field(
                SetupField::ServerUrl,
                "type the server's address, https://…",
            ));
        }
        if !url.starts_with("https://") && !url.starts_with("http://") {
            return Err(SetupProblem::field(
                SetupField::ServerUrl,
                format!("{url:?} is not an address: it starts with https://"),
            ));
        }
        Ok(url.to_string())
    }

    pub(super) fn private_ca(&self) -> Option<PathBuf> {
        let ca = self.private_ca.trim();
        (!ca.is_empty()).then(|| PathBuf::from(ca))
    }

    pub(super) fn timeout_ms(&self) -> Result<u64, SetupProblem> {
        self.timeout_ms
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|ms| (100..=30_000).contains(ms))
            .ok_or_else(|| {
                SetupProblem::field(
                    SetupField::Timeout,
                    "a number of milliseconds, 100 to 30000",
                )
            })
    }

    pub(super) fn scanner(&self) -> Result<Option<ScannerSettings>, SetupProblem> {
        let port = self.scanner_port.trim();
        if port.is_empty() {
            return Ok(None);
        }
        let baud = self.scanner_baud.trim().parse::<u32>().map_err(|_| {
            SetupProblem::field(SetupField::ScannerBaud, "the speed is a number, e.g. 9600")
        })?;
        let settings = ScannerSettings {
            port: port.to_string(),
            baud,
            terminator: self.scanner_terminator,
        };
        settings.validate().map_err(|m| {
            let field = if m.contains("baud") {
                SetupField::ScannerBaud
            } else {
                SetupField::ScannerPort
            };
            SetupProblem::field(field, m)
        })?;
        Ok(Some(settings))
    }

    pub(super) fn parse(&self) -> Result<Parsed, SetupProblem> {
        let server_url = self.server_url()?;
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 64 {
            return Err(SetupProblem::field(
                SetupField::Name,
                "the till's name, 1 to 64 characters, e.g. «Касса 2»",
            ));
        }
        let mut config = TerminalConfig::new(&server_url, name, self.backend()?);
        config.private_ca = self.private_ca();
        config.timeout_ms = self.timeout_ms()?;
        config.language = self.language;
        config.scanner = self.scanner()?;
        config.bridge = BridgeSettings {
            port: self
                .bridge_port
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|p| *p >= 1024)
                .ok_or_else(|| {
                    SetupProblem::field(SetupField::BridgePort, "a port from 1024 to 65535")
                })?,
            ..BridgeSettings::default()
        };
        let bonus = |text: &str, field| -> Result<Option<Bonus>, SetupProblem> {
            let text = text.trim();
            if text.is_empty() {
                return Ok(None);
            }
            text.replace(',', ".")
                .parse::<Bonus>()
                .ok()
                .filter(|b| !b.is_negative())
                .map(Some)
                .ok_or_else(|| {
                    SetupProblem::field(field, "a number of bonuses, or empty for the rules' limit")
                })
        };
        config.offline = LocalOffline {
            spend_allowed: self.offline_spend,
            max_spend_per_operation: bonus(
                &self.offline_max_per_purchase,
                SetupField::OfflineMaxPerPurchase,
            )?,
            max_unsynced_spend_per_terminal: bonus(
                &self.offline_max_unsynced,
                SetupField::OfflineMaxUnsynced,
            )?,
            horizon_hours: match self.offline_horizon_hours.trim() {
                "" => None,
                h => Some(h.parse::<u32>().ok().filter(|h| *h > 0).ok_or_else(|| {
                    SetupProblem::field(
                        SetupField::OfflineHorizon,
                        "a number of hours above 0, or empty for the rules' horizon",
                    )
                })?),
            },
        };
        let url = self.self_registration_url.trim();
        config.self_registration_url = (!url.is_empty()).then(|| url.to_string());
        let key = self.bridge_key.trim();
        if key.chars().count() < 16 || key.len() > 128 || !key.chars().all(|c| c.is_ascii_graphic())
        {
            return Err(SetupProblem::field(
                SetupField::BridgeKey,
                "at least 16 letters, digits or signs, no spaces: press «Новый ключ»",
            ));
        }
        // The config's own checks (the self-registration address among them).
        if let Err(message) = config.check() {
            let field = if message.contains("self_registration_url") {
                SetupField::SelfRegistrationUrl
            } else {
                SetupField::ServerUrl
            };
            return Err(SetupProblem::field(field, message));
        }
        Ok(Parsed {
            config,
            bridge_key: key.to_string(),
        })
    }
}

/// A fresh key for the cash register's requests: 24 characters from an alphabet without
/// look-alikes (no 0/O, 1/l/I), so the installer can type it into the register's plugin;
/// about 137 bits.
pub fn new_bridge_key() -> String {
    const ALPHABET: &[u8] = b"23456789abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";
    let mut rng = rand::rng();
    (0..24)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bridge_key_is_long_random_and_typeable() {
        let a = new_bridge_key();
        let b = new_bridge_key();
        assert_eq!(a.len(), 24);
        assert_ne!(a, b);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() && !"0O1lI".contains(c))
        );
    }

    #[test]
    fn every_bad_field_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let good = SetupForm {
            server_url: "https://loyalty.example".into(),
            ..SetupForm::new(dir.path())
        };
        assert!(good.parse().is_ok());
        type Spoil = Box<dyn Fn(&mut SetupForm)>;
        let cases: Vec<(SetupField, Spoil)> = vec![
            (
                SetupField::ServerUrl,
                Box::new(|f| f.server_url = "".into()),
            ),
            (
                SetupField::ServerUrl,
                Box::new(|f| f.server_url = "loyalty.example".into()),
            ),
            (SetupField::Name, Box::new(|f| f.name = "  ".into())),
            (
                SetupField::Timeout,
                Box::new(|f| f.timeout_ms = "50".into()),
            ),
            (
                SetupField::BridgePort,
                Box::new(|f| f.bridge_port = "80".into()),
            ),
            (
                SetupField::BridgePort,
                Box::new(|f| f.bridge_port = "порт".into()),
            ),
            (
                SetupField::BridgeKey,
                Box::new(|f| f.bridge_key = "short".into()),
            ),
            (
                SetupField::BridgeKey,
                Box::new(|f| f.bridge_key = "with spaces in the key".into()),
            ),
            (
                SetupField::ScannerBaud,
                Box::new(|f| {
                    f.scanner_port = "/dev/ttyACM0".into();
                    f.scanner_baud = "fast".into();
                }),
            ),
            (
                SetupField::ScannerPort,
                Box::new(|f| f.scanner_port = "COM3".into()),
            ),
            (
                SetupField::OfflineMaxPerPurchase,
                Box::new(|f| f.offline_max_per_purchase = "-5".into()),
            ),
            (
                SetupField::OfflineMaxUnsynced,
                Box::new(|f| f.offline_max_unsynced = "много".into()),
            ),
            (
                SetupField::OfflineHorizon,
                Box::new(|f| f.offline_horizon_hours = "0".into()),
            ),
            (
                SetupField::VaultDir,
                Box::new(|f| {
                    f.secrets = SecretChoice::File;
                    f.vault_dir = "vault".into();
                }),
            ),
            (
                SetupField::SelfRegistrationUrl,
                Box::new(|f| f.self_registration_url = "http://plain".into()),
            ),
        ];
        for (field, spoil) in cases {
            let mut form = good.clone();
            spoil(&mut form);
            match form.parse() {
                Err(SetupProblem::Field {
                    field: got,
                    message,
                }) => {
                    assert_eq!(got, field, "{message}");
                    assert!(!message.is_empty());
                }
                other => panic!("{field:?}: {:?}", other.map(|p| p.config)),
            }
        }
    }

    #[test]
    fn the_form_of_a_saved_config_reads_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let form = SetupForm {
            server_url: "https://loyalty.example".into(),
            name: "Касса 3".into(),
            secrets: SecretChoice::File,
            vault_dir: "/var/lib/bonuskassa/vault".into(),
            scanner_port: "/dev/ttyACM0".into(),
            scanner_baud: "115200".into(),
            scanner_terminator: Terminator::CrLf,
            bridge_port: "9100".into(),
            language: Language::En,
            offline_spend: false,
            offline_max_per_purchase: "300".into(),
            offline_max_unsynced: "2000".into(),
            offline_horizon_hours: "24".into(),
            timeout_ms: "1200".into(),
            self_registration_url: "https://loyalty.example/join".into(),
            ..SetupForm::new(dir.path())
        };
        let parsed = form.parse().unwrap();
        let back = SetupForm::from_config(&parsed.config, Some(parsed.bridge_key.clone()));
        let normal = |f: &SetupForm| SetupForm {
            offline_max_per_purchase: f.offline_max_per_purchase.trim_end_matches(".00").into(),
            offline_max_unsynced: f.offline_max_unsynced.trim_end_matches(".00").into(),
            ..f.clone()
        };
        assert_eq!(normal(&back), normal(&form));
    }
}
