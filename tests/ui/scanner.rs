//! Scans reach the open loyalty panel: from a serial scanner (a pty stands in for it, named
//! in the till's `[scanner]` settings, so the window's worker starts the reader itself) and
//! from a keyboard-wedge scanner typing into the window with no field focused.

use std::io::Write;
use std::sync::Arc;

use crate::common::ui::{Till, on_slint_thread};
use crate::common::{Rig, quick_sync, receipt, wait_for};
use bonuskassa::checkout::Outcome;
use bonuskassa::clock::{Clock, SystemClock};
use bonuskassa::scanner::{ScannerSettings, Terminator};
use bonuskassa::server::admin;
use bonuskassa::terminal::Terminal;
use chrono::Utc;
use serialport::SerialPort;
use slint::ComponentHandle;
use slint::platform::WindowEvent;

/// Types `text` on the keyboard, then Enter, as a keyboard-wedge scanner does.
pub(crate) fn wedge_types(till: &Till, text: &str) {
    for c in text.chars().map(String::from).chain(["\n".to_string()]) {
        let window = till.window.window();
        window.dispatch_event(WindowEvent::KeyPressed {
            text: c.as_str().into(),
        });
        window.dispatch_event(WindowEvent::KeyReleased { text: c.into() });
    }
    till.settle();
}

#[test]
fn a_serial_and_a_keyboard_wedge_scan_find_the_customer_on_the_open_receipt() {
    on_slint_thread(walk);
}

/// The test, on the Slint thread.
fn walk() {
    let rig = Rig::new();
    let (mut scanner, slave) = serialport::TTYPort::pair().unwrap();
    let mut config = rig.config();
    config.scanner = Some(ScannerSettings {
        terminator: Terminator::Cr,
        ..ScannerSettings::new(slave.name().unwrap())
    });
    let rt = tokio::runtime::Runtime::new().unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let code = admin::enroll_code(&rig.server_data, admin::DEMO_STORE, Utc::now()).unwrap();
    let terminal = rt
        .block_on(Terminal::enroll(
            &rig.till_data,
            config,
            rig.secrets(),
            &code,
            clock.clone(),
        ))
        .unwrap();
    terminal.start_sync(quick_sync()).unwrap();
    rt.block_on(wait_for(&terminal, "the cache", |s| {
        s.cached_customers == 4
    }));

    let till = Till::session(Arc::new(terminal), clock, "scanner_");
    till.keys("1111");
    till.tap("Войти");
    till.expect("Ожидание чека от кассы");

    // The serial scanner: Карина's card, while the find screen is open.
    till.handle.open_receipt(receipt("scan-serial", "300.00"));
    till.settle();
    scanner.write_all(b"2900000000018\r").unwrap();
    till.wait_to_show("Карина");
    till.tap("Отмена");
    assert!(matches!(
        till.handle.try_outcome(),
        Some(Outcome::Cancelled { .. })
    ));

    // The keyboard wedge: Анна's card typed into the window, then Enter.
    till.handle.open_receipt(receipt("scan-wedge", "300.00"));
    till.settle();
    wedge_types(&till, "2900000000025");
    till.wait_to_show("Анна");
    till.tap("Отмена");

    // A wedge code that is not one of ours is refused and named, and the panel stays.
    till.handle.open_receipt(receipt("scan-bad", "300.00"));
    till.settle();
    wedge_types(&till, "hello");
    till.expect_starting("Отсканирована не карта и не QR-код клиента");
    till.expect("Найти");
}
