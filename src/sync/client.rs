//! The terminal's HTTP client of the central server: HTTPS through rustls, an optional
//! private CA, and no switch that accepts invalid certificates.
//!
//! Operations are sent as the exact bytes the store kept: the batch body is assembled from
//! the stored JSON texts, never re-serialized, so a resend is byte-identical.

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;

use super::plan::Outcome;
use crate::protocol::server::{API_PREFIX, CustomerFeed, OperationsResponse, RulesResponse};
use crate::store::Pending;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the server URL must start with https:// (or http:// for a loopback address)")]
    InsecureUrl,
    #[error("the private CA file cannot be read: {0}")]
    CaFile(std::io::Error),
    #[error("the private CA file is not a PEM certificate")]
    CaPem,
    #[error("the HTTP client cannot start: {0}")]
    Build(String),
    #[error("the server did not answer in time")]
    Timeout,
    #[error("the server cannot be reached")]
    Unreachable,
    #[error("the server answered HTTP {0}")]
    Status(u16),
    #[error("the server's answer does not parse: {0}")]
    Unreadable(String),
}

/// How to reach the server.
#[derive(Clone)]
pub struct ServerClient {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for ServerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.debug_struct("ServerClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

fn is_loopback_http(url: &str) -> bool {
    let rest = match url.strip_prefix("http://") {
        Some(r) => r,
        None => return false,
    };
    let host = rest.split(['/', ':']).next().unwrap_or("");
    host == "localhost" || host.starts_with("127.") || rest.starts_with("[::1]")
}

impl ServerClient {
    /// `base_url` like `https://loyalty.example`; `timeout` bounds every call (the till
    /// falls back to its cache after it).
    pub fn new(
        base_url: &str,
        token: &str,
        private_ca: Option<&Path>,
        timeout: Duration,
    ) -> Result<ServerClient, ClientError> {
        let base = base_url.trim_end_matches('/').to_string();
        if !base.starts_with("https://") && !is_loopback_http(&base) {
            return Err(ClientError::InsecureUrl);
        }
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(path) = private_ca {
            let pem = std::fs::read(path).map_err(ClientError::CaFile)?;
            // The TLS library parses lazily and would take a file without a certificate
            // as an empty list: say so now, while the installer is at the till.
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|_| ClientError::CaPem)?;
            if certs.is_empty()
                || !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----")
            {
                return Err(ClientError::CaPem);
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder
            .build()
            .map_err(|e| ClientError::Build(e.to_string()))?;
        Ok(ServerClient {
            base,
            token: token.to_string(),
            http,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{API_PREFIX}{path}", self.base)
    }

    /// Sends stored operations as one batch and says what happened, for `plan::decide`.
    pub async fn send_batch(&self, batch: &[Pending]) -> Outcome {
        let mut body =
            String::with_capacity(batch.iter().map(|p| p.payload.len() + 1).sum::<usize>() + 20);
        body.push_str("{\"operations\":[");
        for (i, p) in batch.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(&p.payload);
        }
        body.push_str("]}");
        let sent = self
            .http
            .post(self.url("/operations"))
            .bearer_auth(&self.token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return Outcome::Timeout,
            Err(_) => return Outcome::Connection,
        };
        let status = resp.status();
        if status != StatusCode::OK {
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            return Outcome::Status {
                code: status.as_u16(),
                retry_after,
            };
        }
        match resp.bytes().await {
            Err(e) if e.is_timeout() => Outcome::Timeout,
            Err(_) => Outcome::Connection,
            Ok(bytes) => match serde_json::from_slice::<OperationsResponse>(&bytes) {
                Ok(r) => Outcome::Answered(r),
                Err(_) => Outcome::Unreadable,
            },
        }
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let resp = self
            .http
            .get(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    ClientError::Timeout
                } else {
                    ClientError::Unreachable
                }
            })?;
        if !resp.status().is_success() {
            return Err(ClientError::Status(resp.status().as_u16()));
        }
        resp.json()
            .await
            .map_err(|e| ClientError::Unreadable(e.to_string()))
    }

    pub async fn rules(&self) -> Result<RulesResponse, ClientError> {
        self.get("/rules").await
    }

    pub async fn customer_feed(&self, since: i64, limit: u32) -> Result<CustomerFeed, ClientError> {
        self.get(&format!("/feed/customers?since={since}&limit={limit}"))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_refused_except_on_loopback() {
        let t = Duration::from_secs(1);
        assert!(matches!(
            ServerClient::new("http://loyalty.example", "t", None, t),
            Err(ClientError::InsecureUrl)
        ));
        assert!(ServerClient::new("http://127.0.0.1:8700", "t", None, t).is_ok());
        assert!(ServerClient::new("https://loyalty.example/", "t", None, t).is_ok());
    }

    #[test]
    fn a_private_ca_that_is_not_pem_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "not a certificate").unwrap();
        assert!(matches!(
            ServerClient::new("https://x.example", "t", Some(&ca), Duration::from_secs(1)),
            Err(ClientError::CaPem)
        ));
    }
}
