//! Barcode and QR scanners on a serial port (a USB scanner in COM/CDC mode, or an RS-232
//! one). Keyboard-wedge scanners need none of this: they type into the window.
//!
//! This module only delivers raw codes — the bytes between two terminators — and says when
//! the port comes and goes; [`crate::domain::scan::ScanPayload::parse`] decides what a code
//! means. The split keeps the IO here (the only home of `serialport`) and the untrusted
//! parsing in the pure domain.
//!
//! - [`settings`]: the `[scanner]` table of `terminal.toml` ([`ScannerSettings`],
//!   [`Terminator`]).
//! - [`framer`]: the pure cutter of the byte stream into codes ([`Framer`]).
//! - [`serial`]: the port — the installer's live test [`read_one`], the till's reader
//!   thread [`SerialScanner`] and the setup screen's [`available_ports`].

pub mod framer;
pub mod serial;
pub mod settings;

pub use framer::{FrameError, Framer, MAX_FRAME};
pub use serial::{
    IDLE_FLUSH, READ_TIMEOUT, RETRY_EVERY, ScanEvent, ScannerError, SerialScanner, available_ports,
    read_one,
};
pub use settings::{DEFAULT_BAUD, STANDARD_BAUDS, ScannerSettings, Terminator, UnknownTerminator};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminators_round_trip_through_their_names_and_toml() {
        for t in Terminator::ALL {
            assert_eq!(t.to_string().parse::<Terminator>(), Ok(t));
            assert_eq!(t.as_str().to_uppercase().parse::<Terminator>(), Ok(t));
            let settings = ScannerSettings {
                terminator: t,
                ..ScannerSettings::new("/dev/ttyACM0")
            };
            let text = toml::to_string(&settings).unwrap();
            assert!(text.contains(&format!("terminator = \"{t}\"")), "{text}");
            assert_eq!(toml::from_str::<ScannerSettings>(&text).unwrap(), settings);
        }
        let e = "semicolon".parse::<Terminator>().unwrap_err().to_string();
        assert!(e.contains("\"semicolon\"") && e.contains("\"crlf\""), "{e}");
        assert_eq!(Terminator::default(), Terminator::Any);
    }

    #[test]
    fn settings_default_to_9600_and_any_and_refuse_unknown_keys() {
        let s: ScannerSettings = toml::from_str("port = \"/dev/ttyUSB0\"").unwrap();
        assert_eq!(s, ScannerSettings::new("/dev/ttyUSB0"));
        assert_eq!((s.baud, s.terminator), (9600, Terminator::Any));
        let e = toml::from_str::<ScannerSettings>("port = \"/dev/ttyUSB0\"\nparity = \"even\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("parity"), "{e}");
        assert!(
            toml::from_str::<ScannerSettings>("port = \"/dev/ttyUSB0\"\nterminator = \"nul\"")
                .is_err()
        );
        assert!(toml::from_str::<ScannerSettings>("baud = 9600").is_err());
    }

    #[test]
    fn validate_names_the_port_or_the_baud() {
        assert_eq!(ScannerSettings::new("/dev/ttyACM0").validate(), Ok(()));
        for port in [
            "",
            "  ",
            "COM3",
            "ttyUSB0",
            "/dev/",
            " /dev/ttyS0",
            "/dev/tty\nS0",
        ] {
            let e = ScannerSettings::new(port).validate().unwrap_err();
            assert!(e.contains("port") && !e.contains("baud"), "{port:?}: {e}");
        }
        for baud in STANDARD_BAUDS {
            let s = ScannerSettings {
                baud,
                ..ScannerSettings::new("/dev/serial/by-id/usb-Scanner-if00")
            };
            assert_eq!(s.validate(), Ok(()));
        }
        for baud in [0, 300, 1000, 9601, 1_000_000] {
            let s = ScannerSettings {
                baud,
                ..ScannerSettings::new("/dev/ttyACM0")
            };
            let e = s.validate().unwrap_err();
            assert!(e.contains("baud") && e.contains(&baud.to_string()), "{e}");
        }
    }
}
