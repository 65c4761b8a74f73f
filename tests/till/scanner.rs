//! The serial scanner against a pseudo-terminal standing in for the device: bytes written
//! to the pty's master side are what a scanner would send down its cable. Covers the
//! installer's live test (`read_one`), the till's reader thread (`SerialScanner`) with codes
//! in odd chunks, an overlong code, a busy port, and a scanner that is unplugged and comes
//! back (a symlink whose pty goes away and is replaced).
#![cfg(unix)]

use std::io::Write;
use std::path::Path;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use bonuskassa::scanner::{
    FrameError, MAX_FRAME, ScanEvent, ScannerError, ScannerSettings, SerialScanner, Terminator,
    available_ports, read_one,
};
use serialport::{SerialPort, TTYPort};

/// How long any one expected event may take; generous for a loaded build machine.
const PATIENCE: Duration = Duration::from_secs(5);

/// A scanner stand-in: the master side to write to and the slave's path to open. The
/// slave is kept open so that the pty lives until the pair is dropped.
struct FakeScanner {
    master: TTYPort,
    _slave: TTYPort,
    path: String,
}

impl FakeScanner {
    fn new() -> FakeScanner {
        let (master, slave) = TTYPort::pair().expect("a pseudo-terminal pair");
        let path = slave.name().expect("the pty slave has a name");
        FakeScanner {
            master,
            _slave: slave,
            path,
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.master
            .write_all(bytes)
            .expect("write to the pty master");
    }

    fn settings(&self) -> ScannerSettings {
        ScannerSettings::new(self.path.clone())
    }
}

/// Starts a scanner whose events go to a channel.
fn start(settings: ScannerSettings) -> (SerialScanner, Receiver<ScanEvent>) {
    let (tx, rx) = channel();
    let scanner = SerialScanner::start(settings, move |e| {
        let _ = tx.send(e);
    })
    .expect("the scanner starts");
    (scanner, rx)
}

fn next(rx: &Receiver<ScanEvent>) -> ScanEvent {
    match rx.recv_timeout(PATIENCE) {
        Ok(e) => e,
        Err(e) => panic!("no scanner event within {PATIENCE:?}: {e}"),
    }
}

/// Waits for `Connected`, passing over the `Disconnected` reports of failed retries.
fn connected(rx: &Receiver<ScanEvent>, port: &str) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(ScanEvent::Connected { port: p }) => {
                assert_eq!(p, port);
                return;
            }
            Ok(ScanEvent::Disconnected { .. }) => continue,
            Ok(other) => panic!("expected Connected, got {other:?}"),
            Err(e) => panic!("not connected within {PATIENCE:?}: {e}"),
        }
    }
}

fn scan(bytes: &[u8]) -> ScanEvent {
    ScanEvent::Scan(bytes.to_vec())
}

#[test]
fn read_one_returns_the_code_without_its_terminator() {
    let mut fake = FakeScanner::new();
    fake.send(b"4601234567890\r");
    assert_eq!(
        read_one(&fake.settings(), PATIENCE).unwrap(),
        b"4601234567890"
    );

    // The port is free again afterwards, and another terminator works when it is set.
    fake.send(b"+79991234567\t");
    let tab = ScannerSettings {
        terminator: Terminator::Tab,
        baud: 115200,
        ..fake.settings()
    };
    assert_eq!(read_one(&tab, PATIENCE).unwrap(), b"+79991234567");
}

#[test]
fn read_one_hands_over_a_code_without_terminator_once_the_line_is_quiet() {
    let mut fake = FakeScanner::new();
    fake.send(b"4601234567890");
    assert_eq!(
        read_one(&fake.settings(), PATIENCE).unwrap(),
        b"4601234567890"
    );
}

#[test]
fn read_one_gives_up_after_the_timeout_when_nothing_is_scanned() {
    let fake = FakeScanner::new();
    match read_one(&fake.settings(), Duration::from_millis(300)) {
        Err(e @ ScannerError::NoScan { seconds: 1 }) => {
            assert!(e.to_string().contains("no scan within 1 s"), "{e}");
        }
        other => panic!("expected NoScan, got {other:?}"),
    }
}

#[test]
fn read_one_reports_an_overlong_code() {
    let mut fake = FakeScanner::new();
    fake.send(&vec![b'7'; MAX_FRAME + 10]);
    fake.send(b"\r");
    match read_one(&fake.settings(), PATIENCE) {
        Err(e @ ScannerError::BadFrame { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains(&fake.path) && text.contains("longer than 512"),
                "{text}"
            );
        }
        other => panic!("expected BadFrame, got {other:?}"),
    }
}

#[test]
fn a_missing_port_is_named_in_the_error() {
    let port = "/dev/ttyACM-bonuskassa-missing";
    let e = read_one(&ScannerSettings::new(port), PATIENCE).unwrap_err();
    assert_eq!(e, ScannerError::NotFound { port: port.into() });
    assert_eq!(
        e.to_string(),
        "port /dev/ttyACM-bonuskassa-missing does not exist: check the cable or choose another port"
    );
}

#[test]
fn a_file_is_not_a_serial_port() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let port = file.path().to_string_lossy().to_string();
    let e = read_one(&ScannerSettings::new(port.clone()), PATIENCE).unwrap_err();
    assert_eq!(e, ScannerError::NotSerial { port: port.clone() });
    assert!(
        e.to_string()
            .starts_with(&format!("{port} is not a serial port")),
        "{e}"
    );
}

#[test]
fn a_port_without_permission_says_so() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let probe = tempfile::NamedTempFile::new().unwrap();
    if probe.as_file().metadata().unwrap().uid() == 0 {
        eprintln!("skipped: root opens any port");
        return;
    }
    let fake = FakeScanner::new();
    std::fs::set_permissions(&fake.path, std::fs::Permissions::from_mode(0o000)).unwrap();
    let e = read_one(&fake.settings(), PATIENCE).unwrap_err();
    assert_eq!(
        e,
        ScannerError::PermissionDenied {
            port: fake.path.clone()
        }
    );
    assert!(e.to_string().contains("dialout"), "{e}");
}

#[test]
fn invalid_settings_are_refused_before_any_port_is_touched() {
    let e = read_one(&ScannerSettings::new("COM3"), PATIENCE).unwrap_err();
    assert!(
        matches!(e, ScannerError::Settings(ref m) if m.contains("COM3")),
        "{e}"
    );
    let bad_baud = ScannerSettings {
        baud: 1234,
        ..ScannerSettings::new("/dev/ttyACM0")
    };
    let e = SerialScanner::start(bad_baud, |_| {}).unwrap_err();
    assert!(
        matches!(e, ScannerError::Settings(ref m) if m.contains("baud")),
        "{e}"
    );
}

#[test]
fn the_scanner_delivers_codes_written_in_odd_chunks() {
    let mut fake = FakeScanner::new();
    let (scanner, rx) = start(fake.settings());
    assert_eq!(scanner.port(), fake.path);
    assert_eq!(
        next(&rx),
        ScanEvent::Connected {
            port: fake.path.clone()
        }
    );
    let stream: &[&[u8]] = &[
        b"46012",
        b"34567890\r",
        b"\n+7999123",
        b"4567\r\nhttps://loyalty.example/c?card=",
        b"2000000000015\n",
        b"\r\n",
        b"1",
        b"2",
        b"3\r",
    ];
    for chunk in stream {
        fake.send(chunk);
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(next(&rx), scan(b"4601234567890"));
    assert_eq!(next(&rx), scan(b"+79991234567"));
    assert_eq!(
        next(&rx),
        scan(b"https://loyalty.example/c?card=2000000000015")
    );
    assert_eq!(next(&rx), scan(b"123"));
    scanner.stop();
}

#[test]
fn an_overlong_code_is_one_bad_frame_and_the_next_scan_still_arrives() {
    let mut fake = FakeScanner::new();
    let (_scanner, rx) = start(fake.settings());
    assert_eq!(
        next(&rx),
        ScanEvent::Connected {
            port: fake.path.clone()
        }
    );
    fake.send(&vec![b'7'; 3 * MAX_FRAME]);
    fake.send(b"\r\n4601234567890\r\n");
    assert_eq!(
        next(&rx),
        ScanEvent::BadFrame(FrameError::TooLong { max: MAX_FRAME })
    );
    assert_eq!(next(&rx), scan(b"4601234567890"));
}

#[test]
fn a_port_the_till_is_reading_is_busy_for_the_live_test() {
    let fake = FakeScanner::new();
    let (_scanner, rx) = start(fake.settings());
    assert_eq!(
        next(&rx),
        ScanEvent::Connected {
            port: fake.path.clone()
        }
    );
    let e = read_one(&fake.settings(), PATIENCE).unwrap_err();
    assert_eq!(
        e,
        ScannerError::Busy {
            port: fake.path.clone()
        }
    );
    assert!(e.to_string().contains("is busy"), "{e}");
}

#[test]
fn an_unplugged_scanner_is_reported_once_and_reconnected_when_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("scanner");
    let port = link.to_string_lossy().to_string();

    // The till comes up with the scanner unplugged.
    let (scanner, rx) = start(ScannerSettings::new(port.clone()));
    match next(&rx) {
        ScanEvent::Disconnected { port: p, reason } => {
            assert_eq!(p, port);
            assert!(reason.contains("does not exist"), "{reason}");
        }
        other => panic!("expected Disconnected, got {other:?}"),
    }

    // Plugged in.
    let mut fake = FakeScanner::new();
    std::os::unix::fs::symlink(&fake.path, &link).unwrap();
    connected(&rx, &port);
    fake.send(b"4601234567890\r");
    assert_eq!(next(&rx), scan(b"4601234567890"));

    // Unplugged: the device goes away under the open port.
    drop(fake);
    match next(&rx) {
        ScanEvent::Disconnected { port: p, reason } => {
            assert_eq!(p, port);
            assert!(reason.contains(&port), "{reason}");
        }
        other => panic!("expected Disconnected, got {other:?}"),
    }

    // Plugged in again (as another device node behind the same name).
    let mut fake = FakeScanner::new();
    replace_link(&fake.path, &link);
    connected(&rx, &port);
    fake.send(b"+79991234567\r\n");
    assert_eq!(next(&rx), scan(b"+79991234567"));

    // Stopping ends the thread: the sink (and its sender) is gone.
    scanner.stop();
    assert_eq!(
        rx.recv_timeout(PATIENCE),
        Err(RecvTimeoutError::Disconnected)
    );
}

fn replace_link(target: &str, link: &Path) {
    let tmp = link.with_extension("new");
    std::os::unix::fs::symlink(target, &tmp).unwrap();
    std::fs::rename(&tmp, link).unwrap();
}

#[test]
fn dropping_the_scanner_stops_its_thread_even_while_it_retries() {
    let (scanner, rx) = start(ScannerSettings::new("/dev/ttyUSB-bonuskassa-missing"));
    assert!(matches!(next(&rx), ScanEvent::Disconnected { .. }));
    drop(scanner);
    // The thread owned the sink: once it has ended, the channel is closed.
    assert_eq!(
        rx.try_recv(),
        Err(std::sync::mpsc::TryRecvError::Disconnected)
    );
}

#[test]
fn available_ports_are_existing_sorted_and_unique() {
    let ports = available_ports();
    for port in &ports {
        assert!(Path::new(port).exists(), "{port}");
    }
    let mut unique = ports.clone();
    unique.dedup();
    assert_eq!(unique, ports);
}
