//! The cash register's side of the bridge: what a register plugin does, in Rust. `bonuskassa
//! pos-sim`, the demo's simulated register and the tests drive the bridge with it.

use std::time::Duration;

use chrono::Timelike;

use crate::domain::fiscal::{FiscalData, FiscalKind};
use crate::domain::money::Money;
use crate::domain::receipt::{Receipt, ReceiptKind};

use super::wire::{BridgeError, CloseRequest, ErrorCode, ReceiptStatus, ShiftReport};

/// The fiscal document a simulated register "prints" for `receipt` paid `sum`: a demo
/// fiscal drive, a document number from the clock, a fiscal sign made from the receipt id.
/// Plausible, never a real register's.
pub fn simulated_fiscal(receipt: &Receipt, sum: Money) -> FiscalData {
    let now = chrono::Local::now();
    // FNV-1a of the id: the same receipt gets the same sign.
    let sign = receipt.id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    }) % 10_000_000_000;
    FiscalData {
        fn_number: "9960440300112233".into(),
        fd: u32::try_from(now.timestamp().rem_euclid(1_000_000)).unwrap_or(0) + 1,
        fp: format!("{sign:010}"),
        at: now
            .naive_local()
            .with_nanosecond(0)
            .unwrap_or(now.naive_local()),
        sum,
        kind: match receipt.kind {
            ReceiptKind::Sale => FiscalKind::Sale,
            ReceiptKind::Return => FiscalKind::SaleReturn,
        },
    }
}

/// Why a request to the bridge did not give a status.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The bridge answered with a refusal.
    #[error("the till refused ({status}, {code:?}): {message}")]
    Refused {
        status: u16,
        code: ErrorCode,
        message: String,
    },
    /// Nobody answered: the till is not running, or not on this port.
    #[error("the till's bridge at {url} does not answer: {reason}")]
    Unreachable { url: String, reason: String },
    /// Something answered, but not the bridge's JSON.
    #[error("the answer from {url} is not the bridge's: {reason}")]
    BadAnswer { url: String, reason: String },
}

impl ClientError {
    /// The refusal's code, if the bridge refused.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Refused { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// A connection to one till's bridge.
#[derive(Clone)]
pub struct BridgeClient {
    base: String,
    key: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for BridgeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BridgeClient")
            .field("base", &self.base)
            .field("key", &"***")
            .finish()
    }
}

impl BridgeClient {
    /// `base` like `http://127.0.0.1:8765`; `key` the installer's bridge key.
    pub fn new(base: &str, key: &str) -> BridgeClient {
        BridgeClient {
            base: base.trim_end_matches('/').to_string(),
            key: key.to_string(),
            // A long poll waits up to a minute; a little more for the answer to arrive.
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(super::wire::MAX_WAIT_S as u64 + 10))
                .build()
                .unwrap_or_default(),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET /v1/ping`: the port and the key are right.
    pub async fn ping(&self) -> Result<(), ClientError> {
        let url = format!("{}/v1/ping", self.base);
        let request = self.http.get(&url).bearer_auth(&self.key);
        self.send::<serde_json::Value>(&url, request)
            .await
            .map(|_| ())
    }

    /// `POST /v1/receipts`: the panel opens on the till.
    pub async fn open(&self, receipt: &Receipt) -> Result<ReceiptStatus, ClientError> {
        let url = format!("{}/v1/receipts", self.base);
        let request = self.http.post(&url).bearer_auth(&self.key).json(receipt);
        self.send(&url, request).await
    }

    /// `GET /v1/receipts/{id}?wait_s=N`: the status, once it is no longer `open` or after
    /// `wait_s` seconds.
    pub async fn status(&self, id: &str, wait_s: u32) -> Result<ReceiptStatus, ClientError> {
        let url = format!("{}/v1/receipts/{}", self.base, path_segment(id));
        let request = self
            .http
            .get(&url)
            .bearer_auth(&self.key)
            .query(&[("wait_s", wait_s)]);
        self.send(&url, request).await
    }

    /// `POST /v1/receipts/{id}/close` with the receipt as printed.
    pub async fn close(&self, printed: &Receipt) -> Result<ReceiptStatus, ClientError> {
        self.close_with(printed, None).await
    }

    /// `POST /v1/receipts/{id}/close` with the receipt as printed and the fiscal document
    /// the register printed for it.
    pub async fn close_with(
        &self,
        printed: &Receipt,
        fiscal: Option<&crate::domain::fiscal::FiscalData>,
    ) -> Result<ReceiptStatus, ClientError> {
        let url = format!(
            "{}/v1/receipts/{}/close",
            self.base,
            path_segment(&printed.id)
        );
        let body = CloseRequest {
            receipt: printed.clone(),
            fiscal: fiscal.cloned(),
        };
        let request = self.http.post(&url).bearer_auth(&self.key).json(&body);
        self.send(&url, request).await
    }

    /// `POST /v1/receipts/{id}/cancel`.
    pub async fn cancel(&self, id: &str) -> Result<ReceiptStatus, ClientError> {
        let url = format!("{}/v1/receipts/{}/cancel", self.base, path_segment(id));
        let request = self.http.post(&url).bearer_auth(&self.key);
        self.send(&url, request).await
    }

    /// `POST /v1/shift/open`: the till's loyalty shift opens with the register's.
    pub async fn open_shift(&self) -> Result<ShiftReport, ClientError> {
        let url = format!("{}/v1/shift/open", self.base);
        let request = self.http.post(&url).bearer_auth(&self.key);
        self.send(&url, request).await
    }

    /// `POST /v1/shift/close`: the shift closes with the register's; its final report.
    pub async fn close_shift(&self) -> Result<ShiftReport, ClientError> {
        let url = format!("{}/v1/shift/close", self.base);
        let request = self.http.post(&url).bearer_auth(&self.key);
        self.send(&url, request).await
    }

    /// `GET /v1/shift/report`: the shift under way, with the lines to print.
    pub async fn shift_report(&self) -> Result<ShiftReport, ClientError> {
        let url = format!("{}/v1/shift/report", self.base);
        let request = self.http.get(&url).bearer_auth(&self.key);
        self.send(&url, request).await
    }

    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        let response = request.send().await.map_err(|e| ClientError::Unreachable {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ClientError::Unreachable {
                url: url.to_string(),
                reason: e.to_string(),
            })?;
        if status.is_success() {
            return crate::protocol::parse_json(&bytes).map_err(|reason| ClientError::BadAnswer {
                url: url.to_string(),
                reason,
            });
        }
        match crate::protocol::parse_json::<BridgeError>(&bytes) {
            Ok(e) => Err(ClientError::Refused {
                status: status.as_u16(),
                code: e.code,
                message: e.message,
            }),
            Err(reason) => Err(ClientError::BadAnswer {
                url: url.to_string(),
                reason: format!("{status}: {reason}"),
            }),
        }
    }
}

/// A receipt id as one path segment: anything but unreserved characters is escaped.
fn path_segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
