//! The terminal's HTTP client of the central server: HTTPS through rustls, an optional
//! private CA, and no switch that accepts invalid certificates.
//!
//! Operations are sent as the exact bytes the store kept: the batch body is assembled from
//! the stored JSON texts, never re-serialized, so a resend is byte-identical.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use super::link::Link;
use super::plan::Outcome;
use crate::protocol::server::{
    API_PREFIX, CalcRequest, CalcResponse, CustomerFeed, CustomerView, EnrollRequest,
    EnrollResponse, ErrorBody, HoldRequest, HoldResponse, LoginRequest, LoginResponse,
    LookupRequest, OperationsResponse, RulesResponse, SmsSendRequest, SmsSendResponse,
    SmsVerifyRequest, SmsVerifyResponse,
};
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
    /// Not sent: the server did not answer the till a moment ago, and has not since.
    #[error("the server does not answer: the till works from its cache until it does")]
    Silent,
    /// TLS refused the server's certificate: a wrong address, or a private CA not given.
    #[error("the server's certificate is not trusted: {0}")]
    Certificate(String),
    #[error("the server answered HTTP {0}")]
    Status(u16),
    /// The server refused the request and said why (a wrong code, a cooldown, …).
    #[error("{}", .0.message)]
    Api(ErrorBody),
    #[error("the server's answer does not parse: {0}")]
    Unreadable(String),
}

/// The TLS layer's reason, when a connection failed because the server's certificate was
/// refused (rustls names it "invalid peer certificate: …").
fn certificate_problem(e: &reqwest::Error) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        let text = err.to_string();
        if text.contains("certificate") {
            return Some(text);
        }
        source = err.source();
    }
    None
}

/// How to reach the server.
#[derive(Clone)]
pub struct ServerClient {
    base: String,
    token: String,
    http: reqwest::Client,
    /// The till's link, told what each request met.
    link: Option<Arc<Link>>,
    /// Nothing is sent while the link is silent.
    guarded: bool,
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

impl ClientError {
    /// True when the server was not reached or did not answer in time, or failed on its
    /// side (5xx): the till falls back to its cache. A refusal the server explained is
    /// not offline.
    pub fn is_offline(&self) -> bool {
        match self {
            ClientError::Timeout
            | ClientError::Unreachable
            | ClientError::Silent
            | ClientError::Certificate(_) => true,
            ClientError::Status(code) => *code >= 500 || *code == 429,
            ClientError::Api(body) => body.code == crate::protocol::server::ErrorCode::Internal,
            _ => false,
        }
    }

    /// True when the server gave no answer at all: the request timed out, or the
    /// connection was refused, reset or closed. What makes the till's link silent.
    pub fn is_silence(&self) -> bool {
        matches!(self, ClientError::Timeout | ClientError::Unreachable)
    }

    /// True when the server answered, if not as asked: a refusal, an HTTP error, a body
    /// that does not parse.
    pub fn is_answer(&self) -> bool {
        matches!(
            self,
            ClientError::Api(_) | ClientError::Status(_) | ClientError::Unreadable(_)
        )
    }
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
            link: None,
            guarded: false,
        })
    }

    /// The same client, telling `link` whether each request met an answer (the sync
    /// worker's: its batches go whatever the link says, with their own backoff).
    pub fn reporting_to(self, link: Arc<Link>) -> ServerClient {
        ServerClient {
            link: Some(link),
            guarded: false,
            ..self
        }
    }

    /// The same client, telling `link` what each request met and sending nothing while
    /// it is silent: a request fails at once with [`ClientError::Silent`] (the till's
    /// lookups, calculations, holds, sales, SMS codes and logins). Only `/health`, the
    /// link's probe, is always sent.
    pub fn guarded_by(self, link: Arc<Link>) -> ServerClient {
        ServerClient {
            link: Some(link),
            guarded: true,
            ..self
        }
    }

    /// Sends a request unless the link is silent, and reads its answer.
    async fn exchange<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        if self.guarded && self.link.as_ref().is_some_and(|l| l.is_silent()) {
            return Err(ClientError::Silent);
        }
        self.ask(request).await
    }

    /// Sends a request, reads its answer, and tells the link what it met.
    async fn ask<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        let asked = Instant::now();
        let result = answer(request.send().await).await;
        if let Some(link) = &self.link {
            match &result {
                Ok(_) => link.answered(),
                Err(e) => link.met(asked, e),
            }
        }
        result
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
        let asked = Instant::now();
        let outcome = self.send_body(body).await;
        if let Some(link) = &self.link {
            match outcome {
                Outcome::Timeout => link.met(asked, &ClientError::Timeout),
                Outcome::Connection => link.met(asked, &ClientError::Unreachable),
                _ => link.answered(),
            }
        }
        outcome
    }

    async fn send_body(&self, body: String) -> Outcome {
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
        // The server answers after its transaction: from here on it has committed.
        crate::failpoint::hit("after_server_commit");
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
        self.exchange(self.http.get(self.url(path)).bearer_auth(&self.token))
            .await
    }

    async fn post<Q: serde::Serialize, T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &Q,
    ) -> Result<T, ClientError> {
        let mut req = self.http.post(self.url(path)).json(body);
        if !self.token.is_empty() {
            req = req.bearer_auth(&self.token);
        }
        self.exchange(req).await
    }

    /// The same server with the terminal's token, after enrollment.
    pub fn with_token(&self, token: &str) -> ServerClient {
        ServerClient {
            token: token.to_string(),
            ..self.clone()
        }
    }

    /// Enrolls this till with a one-time code (no token needed yet).
    pub async fn enroll(&self, req: &EnrollRequest) -> Result<EnrollResponse, ClientError> {
        self.post("/enroll", req).await
    }

    pub async fn login(&self, req: &LoginRequest) -> Result<LoginResponse, ClientError> {
        self.post("/cashiers/login", req).await
    }

    /// A manager lifts the lock of this till's logins with their code.
    pub async fn unlock(&self, req: &LoginRequest) -> Result<LoginResponse, ClientError> {
        self.post("/cashiers/unlock", req).await
    }

    /// The chain's sales a return may take back (by till and receipt, or fiscal document).
    pub async fn find_sale(
        &self,
        req: &crate::protocol::sales::FindSaleRequest,
    ) -> Result<crate::protocol::sales::SalesResponse, ClientError> {
        self.post("/sales/find", req).await
    }

    /// A customer's recent purchases, newest first.
    pub async fn customer_sales(
        &self,
        customer_id: &str,
        limit: u32,
    ) -> Result<crate::protocol::sales::SalesResponse, ClientError> {
        let id = url_segment(customer_id);
        self.get(&format!("/customers/{id}/sales?limit={limit}"))
            .await
    }

    /// A customer's last `limit` history lines, newest first, and their bonuses still to
    /// activate or to burn.
    pub async fn customer_history(
        &self,
        customer_id: &str,
        limit: u32,
    ) -> Result<crate::protocol::server::HistoryResponse, ClientError> {
        let id = url_segment(customer_id);
        self.get(&format!("/customers/{id}/history?limit={limit}"))
            .await
    }

    pub async fn lookup(&self, req: &LookupRequest) -> Result<CustomerView, ClientError> {
        self.post("/customers/lookup", req).await
    }

    pub async fn calc(&self, req: &CalcRequest) -> Result<CalcResponse, ClientError> {
        self.post("/calc", req).await
    }

    pub async fn sms_send(&self, req: &SmsSendRequest) -> Result<SmsSendResponse, ClientError> {
        self.post("/sms/send", req).await
    }

    pub async fn sms_verify(
        &self,
        req: &SmsVerifyRequest,
    ) -> Result<SmsVerifyResponse, ClientError> {
        self.post("/sms/verify", req).await
    }

    /// Reserves a customer's bonuses for a sale about to close.
    pub async fn place_hold(&self, req: &HoldRequest) -> Result<HoldResponse, ClientError> {
        self.post("/holds", req).await
    }

    /// Releases a hold; `None` when the server has no such hold (nothing counts).
    pub async fn release_hold(&self, id: &str) -> Result<Option<HoldResponse>, ClientError> {
        // A hold id is a UUID the till made: nothing in it needs escaping in a path.
        self.exchange(
            self.http
                .delete(self.url(&format!("/holds/{id}")))
                .bearer_auth(&self.token),
        )
        .await
    }

    /// Asks the server whether it is up (no token needed): the installer's connection
    /// test, and the link's probe, so it is sent even while the link is silent.
    pub async fn health(&self) -> Result<(), ClientError> {
        self.ask::<serde_json::Value>(self.http.get(self.url("/health")))
            .await
            .map(|_| ())
    }

    /// Tells the server this till's version and queue, for the back office's list of
    /// terminals.
    pub async fn report_status(
        &self,
        req: &crate::protocol::admin::TerminalStatusRequest,
    ) -> Result<(), ClientError> {
        self.post::<_, Option<serde_json::Value>>("/terminal/status", req)
            .await
            .map(|_| ())
    }

    pub async fn rules(&self) -> Result<RulesResponse, ClientError> {
        self.get("/rules").await
    }

    pub async fn customer_feed(&self, since: i64, limit: u32) -> Result<CustomerFeed, ClientError> {
        self.get(&format!("/feed/customers?since={since}&limit={limit}"))
            .await
    }
}

/// Reads an answer: the typed body on success, the server's `{code, message}` on a refusal
/// it explained, or what went wrong on the way.
async fn answer<T: serde::de::DeserializeOwned>(
    sent: reqwest::Result<reqwest::Response>,
) -> Result<T, ClientError> {
    let resp = sent.map_err(|e| {
        if e.is_timeout() {
            ClientError::Timeout
        } else if let Some(why) = certificate_problem(&e) {
            ClientError::Certificate(why)
        } else {
            ClientError::Unreachable
        }
    })?;
    let status = resp.status();
    let bytes = resp.bytes().await.map_err(|e| {
        if e.is_timeout() {
            ClientError::Timeout
        } else {
            ClientError::Unreachable
        }
    })?;
    if !status.is_success() {
        return Err(match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => ClientError::Api(body),
            Err(_) => ClientError::Status(status.as_u16()),
        });
    }
    // No content reads as JSON `null`: an `Option` answer is `None`.
    let bytes: &[u8] = if status == StatusCode::NO_CONTENT {
        b"null"
    } else {
        &bytes
    };
    serde_json::from_slice(bytes).map_err(|e| ClientError::Unreadable(e.to_string()))
}

/// A path segment with everything but unreserved characters percent-encoded.
fn url_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
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
