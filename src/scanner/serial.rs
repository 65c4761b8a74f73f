//! The serial port itself: the installer's one-scan live test ([`read_one`]), the till's
//! reader thread ([`SerialScanner`]) and the list of ports the setup screen offers
//! ([`available_ports`]).
//!
//! A scanner is a USB cable the cashier may pull at any moment, so the reader never gives
//! up: a lost port is reported once and reopened every second, and the till comes up even
//! when the scanner is unplugged. Reads are short (100 ms) so that stopping is prompt.
//! Scans are personal data (card and phone numbers): only their lengths and the port's
//! name are ever logged.

use std::fmt;
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serialport::{DataBits, FlowControl, Parity, SerialPort, StopBits};

use super::framer::{FrameError, Framer, MAX_FRAME};
use super::settings::ScannerSettings;

/// How long one read waits for bytes; also the longest a stop request waits.
pub const READ_TIMEOUT: Duration = Duration::from_millis(100);

/// A frame still without its terminator after the line has been quiet this long is handed
/// over as it is: a scanner set to send no terminator (or another one) still works, and a
/// half code from line noise never glues itself to the next scan.
pub const IDLE_FLUSH: Duration = Duration::from_millis(250);

/// How often a lost or missing port is tried again.
pub const RETRY_EVERY: Duration = Duration::from_secs(1);

/// The slice the reader sleeps in between retries, looking at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(50);

/// Why the scanner could not be used. Each message names the port and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScannerError {
    /// The settings are wrong before any port is touched ([`ScannerSettings::validate`]).
    #[error("{0}")]
    Settings(String),
    #[error("port {port} does not exist: check the cable or choose another port")]
    NotFound { port: String },
    #[error(
        "no permission to open port {port}: add the till's user to the port's group \
         (usually `dialout`) and log in again"
    )]
    PermissionDenied { port: String },
    #[error(
        "port {port} is busy: another program (or the running till) is using it; close it \
         and try again"
    )]
    Busy { port: String },
    #[error("{port} is not a serial port: choose the scanner's port, e.g. /dev/ttyACM0")]
    NotSerial { port: String },
    #[error("port {port} cannot be opened ({message}): check that it is the scanner's port")]
    Io { port: String, message: String },
    #[error("port {port} stopped working ({message}): check the scanner's cable")]
    Lost { port: String, message: String },
    #[error("port {port}: {error}")]
    BadFrame { port: String, error: FrameError },
    #[error(
        "no scan within {seconds} s: scan a code; if the scanner beeps but nothing arrives, \
         check its speed (baud) and that it is in serial (COM/CDC) mode"
    )]
    NoScan { seconds: u64 },
}

/// What the reader thread of a [`SerialScanner`] reports.
#[derive(Clone, PartialEq, Eq)]
pub enum ScanEvent {
    /// A code, without its terminator; decode it with
    /// [`crate::domain::scan::ScanPayload::parse`]. `Debug` shows only its length.
    Scan(Vec<u8>),
    /// The port is open (at start, or back after a loss).
    Connected { port: String },
    /// The port is lost or cannot be opened; the reader retries every [`RETRY_EVERY`].
    /// Reported once per problem, not at every retry.
    Disconnected { port: String, reason: String },
    /// A code that could not be delivered (too long); the next one is read normally.
    BadFrame(FrameError),
}

impl fmt::Debug for ScanEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScanEvent::Scan(bytes) => write!(f, "Scan(<{} bytes>)", bytes.len()),
            ScanEvent::Connected { port } => {
                f.debug_struct("Connected").field("port", port).finish()
            }
            ScanEvent::Disconnected { port, reason } => f
                .debug_struct("Disconnected")
                .field("port", port)
                .field("reason", reason)
                .finish(),
            ScanEvent::BadFrame(e) => f.debug_tuple("BadFrame").field(e).finish(),
        }
    }
}

/// Opens the scanner's port: 8N1, no flow control, [`READ_TIMEOUT`] reads, exclusive (a
/// second reader would steal half the codes).
fn open(settings: &ScannerSettings) -> Result<Box<dyn SerialPort>, ScannerError> {
    let port = settings.port.as_str();
    match std::fs::metadata(port) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(ScannerError::NotFound { port: port.into() });
        }
        Ok(meta) if !is_device(&meta) => {
            return Err(ScannerError::NotSerial { port: port.into() });
        }
        _ => {}
    }
    serialport::new(port, settings.baud)
        .data_bits(DataBits::Eight)
        .parity(Parity::None)
        .stop_bits(StopBits::One)
        .flow_control(FlowControl::None)
        .timeout(READ_TIMEOUT)
        .open()
        .map_err(|e| open_error(port, &e))
}

#[cfg(unix)]
fn is_device(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::FileTypeExt;
    meta.file_type().is_char_device()
}

#[cfg(not(unix))]
fn is_device(_meta: &std::fs::Metadata) -> bool {
    true
}

/// Names the port and the likely cause of a failed open.
fn open_error(port: &str, e: &serialport::Error) -> ScannerError {
    let port = port.to_string();
    match e.kind() {
        // serialport's word for EBUSY (another exclusive opener) and a held lock.
        serialport::ErrorKind::NoDevice => ScannerError::Busy { port },
        serialport::ErrorKind::Io(io::ErrorKind::NotFound) => ScannerError::NotFound { port },
        serialport::ErrorKind::Io(io::ErrorKind::PermissionDenied) => {
            ScannerError::PermissionDenied { port }
        }
        _ => ScannerError::Io {
            port,
            message: e.to_string(),
        },
    }
}

/// Whether a read error only means "nothing arrived yet".
fn is_quiet(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

fn lost(port: &str, message: impl fmt::Display) -> ScannerError {
    ScannerError::Lost {
        port: port.to_string(),
        message: message.to_string(),
    }
}

/// What one read brought: the frames it completed (or flushed at idle), or the lost port.
enum Got {
    Frames(Vec<Result<Vec<u8>, FrameError>>),
    Lost(ScannerError),
}

/// Reads once (at most [`READ_TIMEOUT`]) and frames what arrived; hands over a pending
/// frame once the line has been quiet for [`IDLE_FLUSH`].
struct Line {
    port: Box<dyn SerialPort>,
    name: String,
    framer: Framer,
    last_byte: Instant,
    buf: [u8; 256],
}

impl Line {
    fn new(port: Box<dyn SerialPort>, settings: &ScannerSettings) -> Line {
        Line {
            port,
            name: settings.port.clone(),
            framer: Framer::new(settings.terminator, MAX_FRAME),
            last_byte: Instant::now(),
            buf: [0; 256],
        }
    }

    fn read(&mut self) -> Got {
        match self.port.read(&mut self.buf) {
            // A tty that reads nothing after poll said "ready" has hung up.
            Ok(0) => Got::Lost(lost(&self.name, "the port closed")),
            Ok(n) => {
                self.last_byte = Instant::now();
                Got::Frames(self.framer.push(&self.buf[..n]))
            }
            Err(e) if is_quiet(&e) => {
                if self.framer.is_pending() && self.last_byte.elapsed() >= IDLE_FLUSH {
                    tracing::debug!(port = %self.name, "scanner line idle: a code without its terminator is handed over");
                    Got::Frames(self.framer.flush_idle().into_iter().collect())
                } else {
                    Got::Frames(Vec::new())
                }
            }
            Err(e) => Got::Lost(lost(&self.name, e)),
        }
    }
}

/// The installer's live test: opens the port and waits up to `timeout` for one scan. The
/// code comes back without its terminator; a code too long to be one is an error
/// ([`ScannerError::BadFrame`]), as is a port that cannot be opened or is lost. Blocks the
/// calling thread (run it with `spawn_blocking` from async code).
pub fn read_one(settings: &ScannerSettings, timeout: Duration) -> Result<Vec<u8>, ScannerError> {
    settings.validate().map_err(ScannerError::Settings)?;
    let deadline = Instant::now() + timeout;
    let mut line = Line::new(open(settings)?, settings);
    tracing::info!(port = %settings.port, "scanner test: waiting for a scan");
    loop {
        match line.read() {
            Got::Lost(e) => return Err(e),
            Got::Frames(frames) => {
                if let Some(frame) = frames.into_iter().next() {
                    return match frame {
                        Ok(code) => {
                            tracing::info!(port = %settings.port, len = code.len(), "scanner test: a scan arrived");
                            Ok(code)
                        }
                        Err(error) => Err(ScannerError::BadFrame {
                            port: settings.port.clone(),
                            error,
                        }),
                    };
                }
            }
        }
        if Instant::now() >= deadline {
            let seconds = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
            return Err(ScannerError::NoScan { seconds });
        }
    }
}

/// The till's scanner: a thread (`bonuskassa-scanner`) that reads the port and reports
/// every code and every loss or return of the port to a sink. Stopping it ([`stop`] or
/// dropping it) takes at most about [`READ_TIMEOUT`], plus whatever the sink is doing.
///
/// [`stop`]: SerialScanner::stop
pub struct SerialScanner {
    port: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for SerialScanner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SerialScanner")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl SerialScanner {
    /// Starts reading the scanner. Fails only on invalid settings (or if no thread can be
    /// started): a port that is missing or cannot be opened yet is reported to the sink as
    /// [`ScanEvent::Disconnected`] and retried every [`RETRY_EVERY`], so the till starts
    /// with its scanner unplugged. The sink runs on the reader thread: it should hand the
    /// event on (a channel, the UI's event loop) and return, and must not panic.
    pub fn start(
        settings: ScannerSettings,
        sink: impl Fn(ScanEvent) + Send + 'static,
    ) -> Result<SerialScanner, ScannerError> {
        settings.validate().map_err(ScannerError::Settings)?;
        let stop = Arc::new(AtomicBool::new(false));
        let port = settings.port.clone();
        let thread = std::thread::Builder::new()
            .name("bonuskassa-scanner".into())
            .spawn({
                let stop = Arc::clone(&stop);
                move || run(&settings, &sink, &stop)
            })
            .map_err(|e| ScannerError::Io {
                port: port.clone(),
                message: format!("cannot start the scanner thread: {e}"),
            })?;
        Ok(SerialScanner {
            port,
            stop,
            thread: Some(thread),
        })
    }

    /// The port being read.
    pub fn port(&self) -> &str {
        &self.port
    }

    /// Stops the reader and waits for its thread; the port is closed when this returns.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            // Dropped from inside the sink: the thread ends by itself at its next look at
            // the flag, and cannot wait for itself.
            if thread.thread().id() != std::thread::current().id() && thread.join().is_err() {
                tracing::error!(port = %self.port, "the scanner thread panicked");
            }
        }
    }
}

impl Drop for SerialScanner {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The reader thread: open, read until lost, wait, open again — until stopped.
fn run(settings: &ScannerSettings, sink: &dyn Fn(ScanEvent), stop: &AtomicBool) {
    let port = settings.port.as_str();
    // The problem last reported, so that a retry failing the same way stays quiet.
    let mut reported: Option<String> = None;
    while !stop.load(Ordering::SeqCst) {
        let problem = match open(settings) {
            Ok(opened) => {
                tracing::info!(port, "scanner connected");
                reported = None;
                sink(ScanEvent::Connected { port: port.into() });
                match read_until_lost(Line::new(opened, settings), sink, stop) {
                    Some(problem) => problem,
                    None => return,
                }
            }
            Err(problem) => problem,
        };
        let reason = problem.to_string();
        if reported.as_deref() != Some(reason.as_str()) {
            tracing::warn!(port, error = %reason, "scanner disconnected");
            sink(ScanEvent::Disconnected {
                port: port.into(),
                reason: reason.clone(),
            });
            reported = Some(reason);
        }
        let until = Instant::now() + RETRY_EVERY;
        while Instant::now() < until {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(STOP_POLL);
        }
    }
}

/// Reads and reports codes until the port is lost (the problem) or a stop is asked (`None`).
fn read_until_lost(
    mut line: Line,
    sink: &dyn Fn(ScanEvent),
    stop: &AtomicBool,
) -> Option<ScannerError> {
    while !stop.load(Ordering::SeqCst) {
        match line.read() {
            Got::Lost(problem) => return Some(problem),
            Got::Frames(frames) => {
                for frame in frames {
                    match frame {
                        Ok(code) => {
                            tracing::debug!(port = %line.name, len = code.len(), "scan");
                            sink(ScanEvent::Scan(code));
                        }
                        Err(e) => {
                            tracing::warn!(port = %line.name, error = %e, "scanner frame dropped");
                            sink(ScanEvent::BadFrame(e));
                        }
                    }
                }
            }
        }
    }
    None
}

/// The serial ports a scanner may be on, for the setup screen's picker: what serialport
/// finds (without libudev that is the ports `/sys/class/tty` knows), plus the existing
/// `/dev/ttyUSB*`, `/dev/ttyACM*` and `/dev/ttyS*`; sorted by name with numbers in order
/// (`ttyS2` before `ttyS10`), each once.
pub fn available_ports() -> Vec<String> {
    let mut ports = Vec::new();
    // serialport panics when /sys/class/tty is missing (some containers): look first.
    if (!cfg!(target_os = "linux") || Path::new("/sys/class/tty").is_dir())
        && let Ok(found) = serialport::available_ports()
    {
        ports.extend(found.into_iter().map(|p| p.port_name));
    }
    if let Ok(dir) = std::fs::read_dir("/dev") {
        for entry in dir.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let numbered = ["ttyUSB", "ttyACM", "ttyS"].iter().any(|prefix| {
                name.strip_prefix(prefix)
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            });
            if numbered {
                ports.push(format!("/dev/{name}"));
            }
        }
    }
    ports.sort_by(|a, b| natural_key(a).cmp(&natural_key(b)));
    ports.dedup();
    ports
}

/// A name split into its text and its trailing number, so that numbers sort as numbers.
fn natural_key(name: &str) -> (&str, u64, &str) {
    let text = name.trim_end_matches(|c: char| c.is_ascii_digit());
    let number = name[text.len()..].parse().unwrap_or(0);
    (text, number, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_errors_name_the_port_and_the_cause() {
        let port = "/dev/ttyACM0";
        let cases = [
            (serialport::ErrorKind::NoDevice, "is busy"),
            (
                serialport::ErrorKind::Io(io::ErrorKind::NotFound),
                "does not exist",
            ),
            (
                serialport::ErrorKind::Io(io::ErrorKind::PermissionDenied),
                "dialout",
            ),
            (
                serialport::ErrorKind::Unknown,
                "cannot be opened (Input/output error)",
            ),
        ];
        for (kind, words) in cases {
            let message =
                open_error(port, &serialport::Error::new(kind, "Input/output error")).to_string();
            assert!(message.contains(port), "{message}");
            assert!(message.contains(words), "{message}");
        }
    }

    #[test]
    fn scans_are_masked_in_debug() {
        let shown = format!("{:?}", ScanEvent::Scan(b"4601234567890".to_vec()));
        assert_eq!(shown, "Scan(<13 bytes>)");
    }

    #[test]
    fn port_names_sort_with_their_numbers_in_order() {
        let mut names = vec![
            "/dev/ttyS10",
            "/dev/ttyUSB0",
            "/dev/ttyS2",
            "/dev/ttyACM1",
            "/dev/ttyS2",
        ];
        names.sort_by(|a, b| natural_key(a).cmp(&natural_key(b)));
        names.dedup();
        assert_eq!(
            names,
            ["/dev/ttyACM1", "/dev/ttyS2", "/dev/ttyS10", "/dev/ttyUSB0"]
        );
    }

    #[test]
    fn a_directory_or_a_file_is_not_a_serial_port() {
        let dir = std::env::temp_dir();
        let settings = ScannerSettings::new(dir.to_string_lossy());
        assert!(matches!(
            open(&settings),
            Err(ScannerError::NotSerial { .. })
        ));
    }
}
