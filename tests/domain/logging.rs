//! No phone number, card number or scan payload reaches a log line (SPEC.md §7).

use std::io::Write;
use std::sync::{Arc, Mutex};

use bonuskassa::domain::card::{CardFormat, CardNumber};
use bonuskassa::domain::phone::Phone;
use bonuskassa::domain::scan::ScanPayload;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn personal_data_is_masked_in_every_log_field() {
    let buf = Buffer::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let phone = Phone::parse("8 (999) 123-45-67").unwrap();
    let card = CardNumber::parse("2900000000018", &CardFormat::default_formats()).unwrap();
    let scan = ScanPayload::parse(b"tel:+79991234567", &CardFormat::default_formats()).unwrap();
    let phone_err = Phone::parse("8 (999) 123-45-6").unwrap_err();
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(%phone, ?card, ?scan, "customer found");
        tracing::warn!(phone = ?phone, card = %card, "lookup");
        tracing::error!(error = %phone_err, "bad phone");
        let span = tracing::info_span!("checkout", customer = ?phone);
        span.in_scope(|| tracing::debug!("inside"));
    });
    let log = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("customer found"), "the log was written: {log}");
    for secret in [
        "9991234567",
        "999 123",
        "123-45-67",
        "2900000000018",
        "00000018",
        "999123456",
    ] {
        assert!(!log.contains(secret), "{secret} leaked into: {log}");
    }
}
