//! The gateways that deliver a text to a phone: the [`SmsGateway`] trait, the development and
//! demo [`LogGateway`], the SMS.ru-style [`HttpGateway`], and [`GatewayConfig`], which picks one.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::Serialize;
use thiserror::Error;

use super::CODE_DIGITS;
use crate::domain::phone::Phone;

use crate::sqlite::ts;

/// Why a message was not delivered to the provider. No variant carries the phone, the text
/// or the provider key, so these errors are safe to log and to show.
#[derive(Debug, Error)]
pub enum GatewayError {
    #[error("could not write the sms log: {0}")]
    Io(#[from] std::io::Error),
    #[error("the sms provider answered http {status}")]
    Http { status: u16 },
    #[error("the sms provider refused the message: status {status}")]
    Provider { status: String },
    #[error("the sms provider did not answer in time")]
    Timeout,
    #[error("could not reach the sms provider: {detail}")]
    Network { detail: String },
    #[error("sms gateway configuration: {0}")]
    Config(&'static str),
}

/// The future a gateway returns; boxed because traits cannot have async methods that are
/// object-safe without `async_trait`.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), GatewayError>> + Send + 'a>>;

/// Delivers one text to one phone.
pub trait SmsGateway: Send + Sync {
    fn send<'a>(&'a self, phone: &'a Phone, text: &'a str) -> SendFuture<'a>;
}

/// One message the log gateway "sent", for the demo's inbox endpoint.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct SentSms {
    pub at: DateTime<Utc>,
    pub phone: Phone,
    pub text: String,
}

impl fmt::Debug for SentSms {
    // The text carries the code.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SentSms")
            .field("at", &self.at)
            .field("phone", &self.phone)
            .field(
                "text",
                &format_args!("<{} chars>", self.text.chars().count()),
            )
            .finish()
    }
}

/// The development and demo gateway: instead of an SMS, one line per message in a file
/// (`time<TAB>masked phone<TAB>text with its digits hidden`), plus the latest messages in
/// memory.
///
/// SPEC.md §7 allows no phone number or code in a plain-text file, so the file only
/// records that a message went out; the full messages stay in memory for the demo inbox
/// endpoint (`/api/v1/demo/sms`, off unless the server runs with `--demo-endpoints`).
/// Production configures [`HttpGateway`] instead, which writes nothing.
pub struct LogGateway {
    /// `None`: no file (a server on PostgreSQL has no data dir); the masked line goes to the
    /// log only.
    path: Option<PathBuf>,
    keep: usize,
    latest: Mutex<VecDeque<SentSms>>,
}

impl LogGateway {
    /// Appends to `path` (created on first send, mode 0600) if given, and keeps the latest
    /// `keep` in memory.
    pub fn new(path: Option<PathBuf>, keep: usize) -> LogGateway {
        LogGateway {
            path,
            keep,
            latest: Mutex::new(VecDeque::with_capacity(keep)),
        }
    }

    /// The latest messages, oldest first: for the demo-only inbox endpoint.
    pub fn latest(&self) -> Vec<SentSms> {
        self.lock().iter().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<SentSms>> {
        // A panic elsewhere cannot leave a half-pushed queue, so a poisoned lock is fine.
        self.latest.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn append(&self, line: &str) -> std::io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
            options.mode(0o600);
            let file = options.open(path)?;
            // The mode only applies on creation; tighten a file someone made readable.
            if file.metadata()?.permissions().mode() & 0o077 != 0 {
                file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            }
            write_line(file, line)
        }
        #[cfg(not(unix))]
        write_line(options.open(path)?, line)
    }
}

fn write_line(mut file: std::fs::File, line: &str) -> std::io::Result<()> {
    // One write call, so concurrent sends append whole lines.
    file.write_all(line.as_bytes())
}

impl fmt::Debug for LogGateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogGateway")
            .field("path", &self.path)
            .field("keep", &self.keep)
            .finish_non_exhaustive()
    }
}

impl SmsGateway for LogGateway {
    fn send<'a>(&'a self, phone: &'a Phone, text: &'a str) -> SendFuture<'a> {
        Box::pin(async move {
            let at = Utc::now();
            // A line per message, whatever the text holds.
            let flat: String = text
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            // SPEC.md §7: no phone number or code in a plain-text file. The file records that
            // a message went out (masked phone, digits of the text hidden); the full text
            // lives only in memory, for the demo inbox endpoint, which is off by default.
            let hidden: String = flat
                .chars()
                .map(|c| if c.is_ascii_digit() { '*' } else { c })
                .collect();
            // A one-line append is short enough to do on the executor.
            self.append(&format!("{}\t{}\t{}\n", ts(at), phone.masked(), hidden))?;
            let mut latest = self.lock();
            if self.keep > 0 {
                while latest.len() >= self.keep {
                    latest.pop_front();
                }
                latest.push_back(SentSms {
                    at,
                    phone: phone.clone(),
                    text: text.to_owned(),
                });
            }
            drop(latest);
            tracing::info!(%phone, "sms written to the log gateway");
            Ok(())
        })
    }
}

/// Caps how much of a provider's answer is read: a status JSON is tiny.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// An SMS.ru-style provider: one GET to a URL built from a template.
///
/// The template's placeholders are `{key}` (the provider key), `{phone}` (E.164 without the
/// `+`) and `{text}`, each percent-encoded, e.g.
/// `https://sms.ru/sms/send?api_id={key}&to={phone}&msg={text}&json=1`. Success is HTTP 200
/// with a JSON body whose `status` is `"OK"` and, when the body lists per-number results
/// under `sms` as SMS.ru does, each of those is `"OK"` too. Only `https` is accepted, except
/// for a loopback host (a local relay, tests). Redirects are not followed, so the key is
/// never sent anywhere the template does not name.
pub struct HttpGateway {
    client: reqwest::Client,
    url_template: String,
    key: String,
    host: String,
    timeout: std::time::Duration,
}

impl HttpGateway {
    /// Checks the template and builds the HTTP client; `timeout` bounds the whole request.
    pub fn new(
        url_template: String,
        key: String,
        timeout: std::time::Duration,
    ) -> Result<HttpGateway, GatewayError> {
        for placeholder in ["{phone}", "{text}"] {
            if !url_template.contains(placeholder) {
                return Err(GatewayError::Config(
                    "the url template must contain {phone} and {text}",
                ));
            }
        }
        let sample = fill_template(&url_template, "key", "79990000000", "text");
        let url = reqwest::Url::parse(&sample)
            .map_err(|_| GatewayError::Config("the url template is not a valid url"))?;
        let host = url
            .host_str()
            .ok_or(GatewayError::Config("the url template has no host"))?
            .to_owned();
        let loopback = matches!(host.as_str(), "localhost" | "127.0.0.1" | "[::1]");
        if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
            return Err(GatewayError::Config(
                "the url template must use https (plain http only to a loopback host)",
            ));
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|_| GatewayError::Config("could not set up the https client"))?;
        Ok(HttpGateway {
            client,
            url_template,
            key,
            host,
            timeout,
        })
    }

    async fn deliver(&self, phone: &Phone, text: &str) -> Result<(), GatewayError> {
        let number = &phone.as_e164()[1..];
        let url = fill_template(&self.url_template, &self.key, number, text);
        // Whatever the provider or the network says is scrubbed of these before it is kept.
        let secrets = [
            number,
            phone.national(),
            text,
            &percent_encode(text),
            &self.key,
            &percent_encode(&self.key),
        ];

        let mut response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| network_error(e, &secrets))?;
        let status = response.status();
        if status != reqwest::StatusCode::OK {
            return Err(GatewayError::Http {
                status: status.as_u16(),
            });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| network_error(e, &secrets))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_ANSWER_BYTES {
                return Err(GatewayError::Provider {
                    status: "answer too long".into(),
                });
            }
        }
        provider_verdict(&body, &secrets)
    }
}

impl fmt::Debug for HttpGateway {
    // Neither the key nor the template (an installer may have pasted the key into it).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpGateway")
            .field("host", &self.host)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl SmsGateway for HttpGateway {
    fn send<'a>(&'a self, phone: &'a Phone, text: &'a str) -> SendFuture<'a> {
        Box::pin(async move {
            let result = self.deliver(phone, text).await;
            match &result {
                Ok(()) => tracing::info!(%phone, host = %self.host, "sms handed to the provider"),
                Err(e) => tracing::warn!(%phone, host = %self.host, error = %e, "sms not sent"),
            }
            result
        })
    }
}

/// Reads an SMS.ru-style JSON answer: top-level `status`, optional per-number `sms` map.
pub(super) fn provider_verdict(body: &[u8], secrets: &[&str]) -> Result<(), GatewayError> {
    let refused = |status: &str| GatewayError::Provider {
        status: redact(status, secrets),
    };
    let json: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| refused("answer is not json"))?;
    let describe = |v: &serde_json::Value| {
        let status = v.get("status").and_then(|s| s.as_str()).unwrap_or("none");
        match v.get("status_code") {
            Some(code) if code.is_number() || code.is_string() => {
                format!(
                    "{status} (code {})",
                    code.as_str().unwrap_or(&code.to_string())
                )
            }
            _ => status.to_owned(),
        }
    };
    if json.get("status").and_then(|s| s.as_str()) != Some("OK") {
        return Err(refused(&describe(&json)));
    }
    if let Some(per_number) = json.get("sms").and_then(|s| s.as_object()) {
        // The map is keyed by the phone number: report the status, never the key.
        for result in per_number.values() {
            if result.get("status").and_then(|s| s.as_str()) != Some("OK") {
                return Err(refused(&describe(result)));
            }
        }
    }
    Ok(())
}

fn network_error(e: reqwest::Error, secrets: &[&str]) -> GatewayError {
    if e.is_timeout() {
        return GatewayError::Timeout;
    }
    // reqwest's own message names the URL, which holds the key, phone and text: drop it, and
    // keep the causes ("connection refused", a TLS error) that tell an installer what is wrong.
    let e = e.without_url();
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        source = s.source();
    }
    GatewayError::Network {
        detail: redact(&detail, secrets),
    }
}

/// Keeps a provider- or network-supplied string short, printable, and free of the secrets.
pub(super) fn redact(s: &str, secrets: &[&str]) -> String {
    let mut out: String = s.chars().filter(|c| !c.is_control()).take(200).collect();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(secret, "***");
    }
    mask_digit_runs(&out)
}

/// Hides every run of six or more digits: a phone or a code quoted in some spelling the
/// secrets above do not match. Status codes and OS error numbers are shorter and survive.
fn mask_digit_runs(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        out.push_str(if run.len() >= CODE_DIGITS { "***" } else { run });
        run.clear();
    };
    for c in s.chars() {
        if c.is_ascii_digit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Replaces the placeholders in one pass, so a value can never introduce another one.
pub(super) fn fill_template(template: &str, key: &str, phone: &str, text: &str) -> String {
    let mut out = String::with_capacity(template.len() + text.len() * 3);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let value = [("{key}", key), ("{phone}", phone), ("{text}", text)]
            .into_iter()
            .find(|(p, _)| tail.starts_with(p));
        match value {
            Some((placeholder, value)) => {
                out.push_str(&percent_encode(value));
                rest = &tail[placeholder.len()..];
            }
            None => {
                out.push('{');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Percent-encodes everything but RFC 3986's unreserved characters, byte by byte of UTF-8,
/// so Cyrillic text and any key survive a query string.
pub(super) fn percent_encode(s: &str) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len() * 3);
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(DIGITS[usize::from(b >> 4)]));
            out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
        }
    }
    out
}

/// How long the HTTP gateway built from [`GatewayConfig`] waits for the provider.
pub const HTTP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// The log gateway's file in the data dir, and how many messages it keeps in memory.
pub const LOG_FILE: &str = "sms-outbox.log";
pub const LOG_KEEP: usize = 50;

/// Which gateway the server uses.
#[derive(Clone, PartialEq, Eq)]
pub enum GatewayConfig {
    /// [`LogGateway`] into `data_dir/sms-outbox.log` (no file without a data dir):
    /// development and the demo only.
    Log,
    /// [`HttpGateway`] with [`HTTP_TIMEOUT`].
    Http { url_template: String, key: String },
}

impl GatewayConfig {
    /// Builds the gateway; only an HTTP configuration can be refused (see
    /// [`HttpGateway::new`]), so a bad template stops the server at start, not at the first SMS.
    pub fn build(&self, data_dir: Option<&Path>) -> Result<Box<dyn SmsGateway>, GatewayError> {
        Ok(match self {
            GatewayConfig::Log => Box::new(LogGateway::new(
                data_dir.map(|d| d.join(LOG_FILE)),
                LOG_KEEP,
            )),
            GatewayConfig::Http { url_template, key } => Box::new(HttpGateway::new(
                url_template.clone(),
                key.clone(),
                HTTP_TIMEOUT,
            )?),
        })
    }
}

impl fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GatewayConfig::Log => f.write_str("Log"),
            GatewayConfig::Http { .. } => f.write_str("Http { .. }"),
        }
    }
}
