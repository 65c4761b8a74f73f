//! How the till reaches its serial scanner: the port, the speed and the byte that ends a
//! code. The `[scanner]` table of `terminal.toml`, written by the installer's setup screen.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The speeds a scanner may be set to. Serial scanners ship at 9600 or 115200; the rest are
/// the other standard rates a scanner's configuration sheet offers.
pub const STANDARD_BAUDS: [u32; 11] = [
    1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600,
];

/// The speed a new scanner setting starts with, the factory default of most scanners.
pub const DEFAULT_BAUD: u32 = 9600;

/// What the scanner sends after each code (its «suffix»). Scanners ship with CR or CRLF;
/// [`Terminator::Any`] accepts both, and LF, so the till works out of the box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Terminator {
    /// Carriage return, `\r` (13).
    Cr,
    /// Line feed, `\n` (10).
    Lf,
    /// `\r\n`; a lone `\r` is part of the code.
    CrLf,
    /// Tab, `\t` (9).
    Tab,
    /// `\r`, `\n` or `\r\n`.
    #[default]
    Any,
}

impl Terminator {
    /// Every terminator, in the order a picker offers them (the default first).
    pub const ALL: [Terminator; 5] = [
        Terminator::Any,
        Terminator::Cr,
        Terminator::Lf,
        Terminator::CrLf,
        Terminator::Tab,
    ];

    /// The name in `terminal.toml` and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Terminator::Cr => "cr",
            Terminator::Lf => "lf",
            Terminator::CrLf => "crlf",
            Terminator::Tab => "tab",
            Terminator::Any => "any",
        }
    }
}

impl fmt::Display for Terminator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A terminator name that is none of [`Terminator::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown scanner terminator {0:?}: expected one of \"any\", \"cr\", \"lf\", \"crlf\", \"tab\""
)]
pub struct UnknownTerminator(pub String);

impl FromStr for Terminator {
    type Err = UnknownTerminator;

    /// Reads a name of [`Terminator::as_str`], ignoring case and surrounding spaces.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim();
        Terminator::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(name))
            .ok_or_else(|| UnknownTerminator(s.to_string()))
    }
}

/// A serial scanner: `[scanner]` in `terminal.toml`. The line is always 8N1 without flow
/// control, which is what scanners use; only the speed and the terminator vary.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScannerSettings {
    /// The device, e.g. `/dev/ttyACM0` (a USB scanner in serial mode), `/dev/ttyUSB0` (an
    /// adapter) or a stable `/dev/serial/by-id/…` link.
    pub port: String,
    /// The line speed, one of [`STANDARD_BAUDS`].
    #[serde(default = "default_baud")]
    pub baud: u32,
    /// What ends each code.
    #[serde(default)]
    pub terminator: Terminator,
}

fn default_baud() -> u32 {
    DEFAULT_BAUD
}

impl ScannerSettings {
    /// A scanner on `port` at 9600 baud ending its codes with CR, LF or CRLF.
    pub fn new(port: impl Into<String>) -> ScannerSettings {
        ScannerSettings {
            port: port.into(),
            baud: DEFAULT_BAUD,
            terminator: Terminator::default(),
        }
    }

    /// Checks what can be checked without opening the port. The message names the key
    /// (`port` or `baud`) and what to write instead.
    pub fn validate(&self) -> Result<(), String> {
        let port = self.port.as_str();
        if port.trim().is_empty() {
            return Err("scanner port is empty: write the device path, e.g. /dev/ttyACM0".into());
        }
        if !port.starts_with('/')
            || port.ends_with('/')
            || port.trim() != port
            || port.chars().any(char::is_control)
            || port.len() > 4096
        {
            return Err(format!(
                "scanner port {port:?} is not a device path: write it like /dev/ttyACM0 or /dev/ttyUSB0"
            ));
        }
        if !STANDARD_BAUDS.contains(&self.baud) {
            return Err(format!(
                "scanner baud = {} is not a standard speed: use one of {} (scanners usually use 9600 or 115200)",
                self.baud,
                STANDARD_BAUDS.map(|b| b.to_string()).join(", ")
            ));
        }
        Ok(())
    }
}
