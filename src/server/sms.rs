//! SMS verification codes (SPEC.md §4) and the gateways that deliver them.
//!
//! # Codes
//! A cashier asks the server to text a 6-digit code to a customer's phone; the customer
//! reads it out, the server checks it and hands the terminal a one-time *verification
//! token*, which the registration or spend operation then carries as its proof.
//!
//! - Codes come uniformly from the caller's CSPRNG and live [`SmsPolicy::ttl`] (5 minutes).
//! - Only `SHA-256(salt || phone || code)` with a random 16-byte salt is stored: a copy of the
//!   database does not hand out live codes, and equal codes do not look equal.
//! - [`SmsPolicy::max_tries`] wrong tries kill a code, even for the right code afterwards: a
//!   million codes against five tries is a one-in-200 000 guess per code.
//! - A new code for the same phone and purpose supersedes the older ones: only the latest code
//!   is ever checked, so a customer reading out the previous SMS gets "wrong", not a success
//!   against a code the cashier no longer expects.
//! - Sends are limited by a per-phone cooldown, a per-phone rolling window and a per-terminal
//!   rolling hour, so neither a stuck button nor a stolen terminal token turns the server into
//!   an SMS cannon (each SMS costs money and annoys a real person).
//! - Verification tokens are 32 random bytes, stored as SHA-256 only, bound to the phone and
//!   purpose, and good once until [`SmsPolicy::verification_ttl`].
//!
//! Everything on the database takes the time and the random generator as arguments, so tests
//! are exact and nothing here reads a clock. The code functions run inside the caller's
//! transaction over the store seam, which locks the phone and the terminal while a send
//! reads their usage, so two concurrent sends cannot both pass the limits, on one process or
//! several. **The caller must commit even when the inner result is an error**: a wrong try is
//! counted by a write in that transaction, and rolling it back would give an attacker
//! unlimited tries.
//!
//! # Gateways
//! [`SmsGateway`] is how a text reaches a phone: [`LogGateway`] appends it to a file in the
//! data dir (development and the demo), [`HttpGateway`] calls an SMS.ru-style HTTP API.
//! Gateway errors never carry the phone, the text (it holds the code) or the provider key.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Mutex;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::store::{self, NewSmsCode, SmsUsage, Store, StoreError, Tx};
use crate::domain::phone::Phone;
use crate::protocol::server::SmsPurpose;

/// Digits in a code.
pub const CODE_DIGITS: usize = 6;
/// Bytes of randomness in a verification token (it travels as twice as many hex digits).
pub const TOKEN_BYTES: usize = 32;
const SALT_BYTES: usize = 16;
/// The per-terminal cap counts over a rolling hour, as its name in [`SmsPolicy`] says.
const TERMINAL_WINDOW: Duration = Duration::hours(1);

/// The limits of SPEC.md §4; [`Default`] is the specification's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsPolicy {
    /// How long a code can be verified after it was issued.
    pub ttl: Duration,
    /// Wrong tries a code survives; the last one kills it.
    pub max_tries: u32,
    /// Minimum time between two codes to the same phone (any purpose).
    pub cooldown: Duration,
    /// The rolling window of [`SmsPolicy::per_phone_max`].
    pub per_phone_window: Duration,
    /// Codes to one phone (any purpose) within [`SmsPolicy::per_phone_window`].
    pub per_phone_max: u32,
    /// Codes requested by one terminal within a rolling hour.
    pub per_terminal_hour_max: u32,
    /// How long a verification token can be used after a successful check.
    pub verification_ttl: Duration,
}

impl Default for SmsPolicy {
    fn default() -> SmsPolicy {
        SmsPolicy {
            ttl: Duration::minutes(5),
            max_tries: 5,
            cooldown: Duration::seconds(60),
            per_phone_window: Duration::minutes(10),
            per_phone_max: 3,
            per_terminal_hour_max: 30,
            verification_ttl: Duration::minutes(15),
        }
    }
}

/// What a code proves: codes and tokens of one purpose never stand in for the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    Registration,
    Spend,
}

impl Purpose {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Registration => "registration",
            Purpose::Spend => "spend",
        }
    }
}

impl From<SmsPurpose> for Purpose {
    fn from(p: SmsPurpose) -> Purpose {
        match p {
            SmsPurpose::Registration => Purpose::Registration,
            SmsPurpose::Spend => Purpose::Spend,
        }
    }
}

impl From<Purpose> for SmsPurpose {
    fn from(p: Purpose) -> SmsPurpose {
        match p {
            Purpose::Registration => SmsPurpose::Registration,
            Purpose::Spend => SmsPurpose::Spend,
        }
    }
}

/// A freshly issued code. `code` is plain only so it can be put into the SMS; `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedCode {
    pub code: String,
    pub expires_in_s: u64,
    /// When the next code to this phone (or from this terminal) can be sent: the cooldown, or
    /// longer when this send used up a window.
    pub resend_after_s: u64,
    pub tries: u32,
}

impl fmt::Debug for IssuedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCode")
            .field("code", &"******")
            .field("expires_in_s", &self.expires_in_s)
            .field("resend_after_s", &self.resend_after_s)
            .field("tries", &self.tries)
            .finish()
    }
}

/// Why no code was sent now. `retry_after_s` is when the same request would pass this limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SmsLimit {
    #[error("a code was sent to this phone moments ago; retry in {retry_after_s} s")]
    Cooldown { retry_after_s: u64 },
    #[error("too many codes were sent to this phone recently; retry in {retry_after_s} s")]
    PhoneRateLimited { retry_after_s: u64 },
    #[error("this terminal has requested too many codes this hour; retry in {retry_after_s} s")]
    TerminalRateLimited { retry_after_s: u64 },
}

impl SmsLimit {
    pub fn retry_after_s(&self) -> u64 {
        match *self {
            SmsLimit::Cooldown { retry_after_s }
            | SmsLimit::PhoneRateLimited { retry_after_s }
            | SmsLimit::TerminalRateLimited { retry_after_s } => retry_after_s,
        }
    }
}

/// Why a code did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum VerifyError {
    /// No code was sent for this phone and purpose, or the latest one was already used.
    #[error("no code is waiting for this phone; request a new one")]
    NoCode,
    #[error("the code has expired; request a new one")]
    Expired,
    /// `tries_left == 0` means this was the last try and the code is now dead.
    #[error("wrong code; {tries_left} tries left")]
    Wrong { tries_left: u32 },
    #[error("too many wrong tries for this code; request a new one")]
    TooManyTries,
}

/// A code issued and recorded: its row (to withdraw it if the gateway fails) and what the
/// till is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub id: i64,
    pub code: IssuedCode,
}

/// Issues a new code for `phone` and `purpose`, or says which limit refuses it.
///
/// Limits are checked in the order cooldown, phone window, terminal hour; a refused request
/// writes nothing (it does not count against the limits). Older codes for the same phone and
/// purpose stop verifying, because [`verify_code`] only looks at the latest one. The store
/// locks the phone and the terminal while it reads their usage, so two sends at once cannot
/// both pass a limit.
pub fn issue_code<R: rand::CryptoRng + rand::Rng>(
    tx: &mut dyn Tx,
    policy: &SmsPolicy,
    phone: &Phone,
    purpose: Purpose,
    terminal_id: &str,
    now: DateTime<Utc>,
    rng: &mut R,
) -> Result<Result<Issued, SmsLimit>, StoreError> {
    let mut usage = tx.sms_usage(
        phone.as_e164(),
        now - policy.per_phone_window,
        terminal_id,
        now - TERMINAL_WINDOW,
    )?;
    if let Some(limit) = limit_waits(policy, &usage, now).refusal() {
        return Ok(Err(limit));
    }

    let code = format!(
        "{:0width$}",
        rng.random_range(0..10u32.pow(CODE_DIGITS as u32)),
        width = CODE_DIGITS
    );
    let mut salt = [0u8; SALT_BYTES];
    rng.fill(&mut salt);
    let hash = code_hash(&salt, phone, &code);
    let id = tx.insert_sms_code(&NewSmsCode {
        phone: phone.as_e164(),
        purpose: purpose.as_str(),
        salt: &salt,
        code_hash: &hash,
        created_at: now,
        expires_at: now + policy.ttl,
        tries: i64::from(policy.max_tries),
        terminal_id,
    })?;

    // Counted again with this send, the limits say when the next send can pass.
    usage.last_to_phone = Some(now);
    usage.phone_window.push(now);
    usage.terminal_window.push(now);
    Ok(Ok(Issued {
        id,
        code: IssuedCode {
            code,
            expires_in_s: whole_seconds(policy.ttl),
            resend_after_s: limit_waits(policy, &usage, now).longest(),
            tries: policy.max_tries,
        },
    }))
}

/// Checks `code` against the latest code for `phone` and `purpose`; on success returns a
/// fresh one-time verification token (plain, to hand to the terminal once).
///
/// A wrong code costs a try and is written to `tx`: commit it whatever this returns.
pub fn verify_code<R: rand::CryptoRng + rand::Rng>(
    tx: &mut dyn Tx,
    policy: &SmsPolicy,
    phone: &Phone,
    purpose: Purpose,
    code: &str,
    now: DateTime<Utc>,
    rng: &mut R,
) -> Result<Result<String, VerifyError>, StoreError> {
    // The latest code, used or not: a used latest code must not let an older, superseded
    // one verify. The store locks it, so two tries at once each cost one.
    let Some(latest) = tx.latest_sms_code(phone.as_e164(), purpose.as_str())? else {
        return Ok(Err(VerifyError::NoCode));
    };
    if latest.verified {
        return Ok(Err(VerifyError::NoCode));
    }
    if latest.tries_left <= 0 {
        return Ok(Err(VerifyError::TooManyTries));
    }
    if now >= latest.expires_at {
        return Ok(Err(VerifyError::Expired));
    }

    if !crate::crypto::ct_eq(&code_hash(&latest.salt, phone, code), &latest.code_hash) {
        let left = latest.tries_left - 1;
        tx.set_sms_tries(latest.id, left)?;
        return Ok(Err(VerifyError::Wrong {
            tries_left: u32::try_from(left).unwrap_or(0),
        }));
    }

    tx.mark_sms_verified(latest.id, now)?;
    let mut bytes = [0u8; TOKEN_BYTES];
    rng.fill(&mut bytes);
    let token = crate::crypto::hex(&bytes);
    tx.insert_verification(
        &token_hash(&token),
        phone.as_e164(),
        purpose.as_str(),
        now + policy.verification_ttl,
    )?;
    Ok(Ok(token))
}

/// Uses up a verification token: `true` exactly once for an unexpired token issued for this
/// phone and purpose, `false` for anything else (unknown, used, expired, other phone or
/// purpose). A mismatching phone or purpose does not use the token up.
pub fn consume_verification(
    tx: &mut dyn Tx,
    token: &str,
    phone: &Phone,
    purpose: Purpose,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    tx.consume_verification(&token_hash(token), phone.as_e164(), purpose.as_str(), now)
}

/// Deletes codes and verifications nobody can use any more and no limit still counts, so
/// phone numbers do not pile up in these tables. Returns the number of rows deleted.
pub fn prune(tx: &mut dyn Tx, policy: &SmsPolicy, now: DateTime<Utc>) -> Result<u64, StoreError> {
    let keep = policy
        .ttl
        .max(policy.cooldown)
        .max(policy.per_phone_window)
        .max(TERMINAL_WINDOW);
    tx.prune_sms(now - keep, now)
}

/// The SMS text. It names who asks for the code and, because reading it out is how the
/// customer consents to SMS, says so.
pub fn message_text(code: &str) -> String {
    format!("Код для кассира: {code}. Сообщая его, я даю согласие на получение SMS")
}

/// Why a code was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error(transparent)]
    Limit(SmsLimit),
    /// The gateway refused or failed; the code was withdrawn, so the cooldown does not hold
    /// the cashier back from trying again.
    #[error("the SMS could not be sent; try again in a minute")]
    Gateway(GatewayError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The whole send: records a code within the limits (on a blocking thread), hands the text
/// to the gateway, and withdraws the code when the gateway fails.
pub async fn send_code(
    store: Arc<dyn Store>,
    gateway: &dyn SmsGateway,
    policy: SmsPolicy,
    phone: Phone,
    purpose: Purpose,
    terminal_id: String,
    now: DateTime<Utc>,
) -> Result<IssuedCode, SendError> {
    let issued = {
        let (store, phone) = (store.clone(), phone.clone());
        blocking(move || {
            store::write(&*store, |tx| {
                issue_code(
                    tx,
                    &policy,
                    &phone,
                    purpose,
                    &terminal_id,
                    now,
                    &mut rand::rng(),
                )
            })
        })
        .await??
        .map_err(SendError::Limit)?
    };
    if let Err(e) = gateway.send(&phone, &message_text(&issued.code.code)).await {
        tracing::warn!(error = %e, "the SMS gateway refused a message");
        let id = issued.id;
        if let Err(w) = blocking(move || store::write(&*store, |tx| tx.delete_sms_code(id)))
            .await
            .and_then(|r| r)
        {
            tracing::error!(error = %w, "an unsent code could not be withdrawn");
        }
        return Err(SendError::Gateway(e));
    }
    Ok(issued.code)
}

/// Checks a code in its own transaction, committed whatever the answer (a wrong try must
/// stay counted).
pub fn verify(
    store: &dyn Store,
    policy: &SmsPolicy,
    phone: &Phone,
    purpose: Purpose,
    code: &str,
    now: DateTime<Utc>,
) -> Result<Result<String, VerifyError>, StoreError> {
    store::write(store, |tx| {
        verify_code(tx, policy, phone, purpose, code, now, &mut rand::rng())
    })
}

/// Runs store work on a blocking thread.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<Result<T, StoreError>, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Other(format!("a blocking task failed: {e}")))
}

/// How long each limit still refuses a send; zero where it passes.
struct LimitWaits {
    cooldown: Duration,
    phone: Duration,
    terminal: Duration,
}

impl LimitWaits {
    fn refusal(&self) -> Option<SmsLimit> {
        if self.cooldown > Duration::zero() {
            Some(SmsLimit::Cooldown {
                retry_after_s: whole_seconds(self.cooldown),
            })
        } else if self.phone > Duration::zero() {
            Some(SmsLimit::PhoneRateLimited {
                retry_after_s: whole_seconds(self.phone),
            })
        } else if self.terminal > Duration::zero() {
            Some(SmsLimit::TerminalRateLimited {
                retry_after_s: whole_seconds(self.terminal),
            })
        } else {
            None
        }
    }

    fn longest(&self) -> u64 {
        whole_seconds(self.cooldown.max(self.phone).max(self.terminal))
    }
}

fn limit_waits(policy: &SmsPolicy, usage: &SmsUsage, now: DateTime<Utc>) -> LimitWaits {
    let cooldown = match usage.last_to_phone {
        Some(last) => (last + policy.cooldown - now).max(Duration::zero()),
        None => Duration::zero(),
    };
    LimitWaits {
        cooldown,
        phone: window_wait(
            &usage.phone_window,
            policy.per_phone_window,
            policy.per_phone_max,
            now,
        ),
        terminal: window_wait(
            &usage.terminal_window,
            TERMINAL_WINDOW,
            policy.per_terminal_hour_max,
            now,
        ),
    }
}

/// How long until fewer than `max` of the sends in `sent` (oldest first, all inside the
/// rolling `window` ending at `now`) remain in it. A send at `t` counts while
/// `now < t + window`.
fn window_wait(sent: &[DateTime<Utc>], window: Duration, max: u32, now: DateTime<Utc>) -> Duration {
    let over = sent.len() as i64 - i64::from(max);
    if over < 0 {
        return Duration::zero();
    }
    // The window has room again when the send `over` places after the oldest one leaves it
    // (usually the oldest; more if the limit was lowered while sends were in the window).
    match sent.get(over as usize) {
        Some(leaving) => (*leaving + window - now).max(Duration::zero()),
        None => Duration::zero(),
    }
}

/// Seconds rounded up: a client that waits this long is sure to pass.
fn whole_seconds(d: Duration) -> u64 {
    let micros = d.num_microseconds().unwrap_or(i64::MAX).max(0) as u64;
    micros.div_ceil(1_000_000)
}

fn code_hash(salt: &[u8], phone: &Phone, code: &str) -> [u8; 32] {
    // Salt and phone have fixed formats, so the concatenation is unambiguous.
    let mut h = Sha256::new();
    h.update(salt);
    h.update(phone.as_e164().as_bytes());
    h.update(code.as_bytes());
    h.finalize().into()
}

/// Tokens are 256 random bits, so a plain hash is enough: there is nothing to brute-force.
fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Compares without an early exit, so the time taken says nothing about how much matched.
use crate::sqlite::ts;

// --- Gateways --------------------------------------------------------------------------------

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
fn provider_verdict(body: &[u8], secrets: &[&str]) -> Result<(), GatewayError> {
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
fn redact(s: &str, secrets: &[&str]) -> String {
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
fn fill_template(template: &str, key: &str, phone: &str, text: &str) -> String {
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
fn percent_encode(s: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::store::sqlite::SqliteStore;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    const TERMINAL: &str = "term-1";

    fn db() -> SqliteStore {
        SqliteStore::open_in_memory().unwrap()
    }

    fn phone(n: u8) -> Phone {
        Phone::parse(&format!("+7 999 000-00-{n:02}")).unwrap()
    }

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-22T11:05:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    /// A different, reproducible generator per call, so tokens and codes do not repeat.
    fn rng() -> StdRng {
        static SEED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(7);
        StdRng::seed_from_u64(SEED.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }

    fn issue(conn: &mut SqliteStore, p: &Phone, purpose: Purpose, at: DateTime<Utc>) -> IssuedCode {
        try_issue(
            conn,
            &SmsPolicy::default(),
            p,
            purpose,
            TERMINAL,
            at,
            &mut rng(),
        )
        .unwrap()
    }

    fn try_issue(
        conn: &mut SqliteStore,
        policy: &SmsPolicy,
        p: &Phone,
        purpose: Purpose,
        terminal: &str,
        at: DateTime<Utc>,
        rng: &mut StdRng,
    ) -> Result<IssuedCode, SmsLimit> {
        store::write(conn, |tx| {
            issue_code(tx, policy, p, purpose, terminal, at, rng)
        })
        .unwrap()
        .map(|i| i.code)
    }

    fn verify(
        conn: &mut SqliteStore,
        p: &Phone,
        purpose: Purpose,
        code: &str,
        at: DateTime<Utc>,
    ) -> Result<String, VerifyError> {
        super::verify(conn, &SmsPolicy::default(), p, purpose, code, at).unwrap()
    }

    fn consume(
        conn: &mut SqliteStore,
        token: &str,
        p: &Phone,
        purpose: Purpose,
        at: DateTime<Utc>,
    ) -> bool {
        store::write(conn, |tx| consume_verification(tx, token, p, purpose, at)).unwrap()
    }

    fn wrong(code: &str) -> String {
        let n: u32 = code.parse().unwrap();
        format!("{:06}", (n + 1) % 1_000_000)
    }

    fn secs(s: i64) -> Duration {
        Duration::seconds(s)
    }

    #[test]
    fn the_right_code_verifies_once() {
        let mut conn = db();
        let p = phone(1);
        let issued = issue(&mut conn, &p, Purpose::Registration, t0());
        assert_eq!(issued.expires_in_s, 300);
        assert_eq!(issued.resend_after_s, 60);
        assert_eq!(issued.tries, 5);
        let token = verify(
            &mut conn,
            &p,
            Purpose::Registration,
            &issued.code,
            t0() + secs(10),
        )
        .unwrap();
        assert_eq!(token.len(), 64);
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(
            verify(
                &mut conn,
                &p,
                Purpose::Registration,
                &issued.code,
                t0() + secs(11)
            ),
            Err(VerifyError::NoCode)
        );
    }

    #[test]
    fn no_code_and_other_purpose() {
        let mut conn = db();
        let p = phone(2);
        assert_eq!(
            verify(&mut conn, &p, Purpose::Spend, "123456", t0()),
            Err(VerifyError::NoCode)
        );
        let issued = issue(&mut conn, &p, Purpose::Registration, t0());
        assert_eq!(
            verify(&mut conn, &p, Purpose::Spend, &issued.code, t0()),
            Err(VerifyError::NoCode)
        );
        assert_eq!(
            verify(
                &mut conn,
                &phone(3),
                Purpose::Registration,
                &issued.code,
                t0()
            ),
            Err(VerifyError::NoCode)
        );
    }

    #[test]
    fn a_wrong_code_costs_a_try() {
        let mut conn = db();
        let p = phone(1);
        let issued = issue(&mut conn, &p, Purpose::Registration, t0());
        let bad = wrong(&issued.code);
        assert_eq!(
            verify(&mut conn, &p, Purpose::Registration, &bad, t0()),
            Err(VerifyError::Wrong { tries_left: 4 })
        );
        assert_eq!(
            verify(&mut conn, &p, Purpose::Registration, "not a code", t0()),
            Err(VerifyError::Wrong { tries_left: 3 })
        );
        assert!(verify(&mut conn, &p, Purpose::Registration, &issued.code, t0()).is_ok());
    }

    #[test]
    fn five_wrong_tries_kill_the_code_even_for_the_right_one() {
        let mut conn = db();
        let p = phone(1);
        let issued = issue(&mut conn, &p, Purpose::Spend, t0());
        let bad = wrong(&issued.code);
        for left in (0..5).rev() {
            assert_eq!(
                verify(&mut conn, &p, Purpose::Spend, &bad, t0()),
                Err(VerifyError::Wrong { tries_left: left })
            );
        }
        assert_eq!(
            verify(&mut conn, &p, Purpose::Spend, &issued.code, t0()),
            Err(VerifyError::TooManyTries)
        );
        assert_eq!(
            verify(&mut conn, &p, Purpose::Spend, &bad, t0()),
            Err(VerifyError::TooManyTries)
        );
    }

    #[test]
    fn a_code_expires_after_five_minutes() {
        let mut conn = db();
        let p = phone(1);
        let issued = issue(&mut conn, &p, Purpose::Registration, t0());
        assert_eq!(
            verify(
                &mut conn,
                &p,
                Purpose::Registration,
                &issued.code,
                t0() + Duration::minutes(5)
            ),
            Err(VerifyError::Expired)
        );
        let mut conn = db();
        let issued = issue(&mut conn, &p, Purpose::Registration, t0());
        let just_before = t0() + Duration::minutes(5) - Duration::microseconds(1);
        assert!(
            verify(
                &mut conn,
                &p,
                Purpose::Registration,
                &issued.code,
                just_before
            )
            .is_ok()
        );
    }

    #[test]
    fn cooldown_is_sixty_seconds_per_phone() {
        let mut conn = db();
        let policy = SmsPolicy::default();
        let p = phone(1);
        issue(&mut conn, &p, Purpose::Registration, t0());
        let mut r = rng();
        // Any purpose, any terminal: the phone is what is protected.
        assert_eq!(
            try_issue(
                &mut conn,
                &policy,
                &p,
                Purpose::Spend,
                "term-2",
                t0() + secs(1),
                &mut r
            ),
            Err(SmsLimit::Cooldown { retry_after_s: 59 })
        );
        let almost = t0() + secs(60) - Duration::milliseconds(500);
        assert_eq!(
            try_issue(
                &mut conn,
                &policy,
                &p,
                Purpose::Registration,
                TERMINAL,
                almost,
                &mut r
            ),
            Err(SmsLimit::Cooldown { retry_after_s: 1 })
        );
        // Another phone is not held back.
        assert!(
            try_issue(
                &mut conn,
                &policy,
                &phone(2),
                Purpose::Registration,
                TERMINAL,
                t0(),
                &mut r
            )
            .is_ok()
        );
        assert!(
            try_issue(
                &mut conn,
                &policy,
                &p,
                Purpose::Registration,
                TERMINAL,
                t0() + secs(60),
                &mut r
            )
            .is_ok()
        );
    }

    #[test]
    fn three_sends_per_ten_minutes_then_retry_after() {
        let mut conn = db();
        let p = phone(1);
        let first = issue(&mut conn, &p, Purpose::Registration, t0());
        assert_eq!(first.resend_after_s, 60);
        issue(&mut conn, &p, Purpose::Registration, t0() + secs(60));
        let third = issue(&mut conn, &p, Purpose::Registration, t0() + secs(120));
        // The third send used up the window: the next one is possible when the first leaves.
        assert_eq!(third.resend_after_s, 480);
        let policy = SmsPolicy::default();
        let mut r = rng();
        assert_eq!(
            try_issue(
                &mut conn,
                &policy,
                &p,
                Purpose::Registration,
                TERMINAL,
                t0() + secs(180),
                &mut r
            ),
            Err(SmsLimit::PhoneRateLimited { retry_after_s: 420 })
        );
        assert!(
            try_issue(
                &mut conn,
                &policy,
                &p,
                Purpose::Registration,
                TERMINAL,
                t0() + secs(600),
                &mut r
            )
            .is_ok()
        );
        // The second send (at 60 s) leaves the window at 660 s: room again exactly then.
        assert!(
            try_issue(
                &mut conn,
                &policy,
                &p,
                Purpose::Registration,
                TERMINAL,
                t0() + secs(659),
                &mut r
            )
            .is_err()
        );
        assert!(
            try_issue(
                &mut conn,
                &policy,
                &p,
                Purpose::Registration,
                TERMINAL,
                t0() + secs(660),
                &mut r
            )
            .is_ok()
        );
    }

    #[test]
    fn the_terminal_has_an_hourly_cap() {
        let mut conn = db();
        let policy = SmsPolicy {
            per_terminal_hour_max: 4,
            ..SmsPolicy::default()
        };
        let mut r = rng();
        for i in 0..4 {
            let at = t0() + Duration::minutes(i64::from(i) * 5);
            assert!(
                try_issue(
                    &mut conn,
                    &policy,
                    &phone(i),
                    Purpose::Registration,
                    TERMINAL,
                    at,
                    &mut r
                )
                .is_ok()
            );
        }
        let at = t0() + Duration::minutes(20);
        assert_eq!(
            try_issue(
                &mut conn,
                &policy,
                &phone(9),
                Purpose::Registration,
                TERMINAL,
                at,
                &mut r
            ),
            Err(SmsLimit::TerminalRateLimited {
                retry_after_s: 40 * 60
            })
        );
        // Another terminal is not held back; the same one is after the first code's hour.
        assert!(
            try_issue(
                &mut conn,
                &policy,
                &phone(9),
                Purpose::Registration,
                "term-2",
                at,
                &mut r
            )
            .is_ok()
        );
        assert!(
            try_issue(
                &mut conn,
                &policy,
                &phone(10),
                Purpose::Registration,
                TERMINAL,
                t0() + Duration::hours(1),
                &mut r
            )
            .is_ok()
        );
    }

    #[test]
    fn a_newer_code_supersedes_the_older() {
        let mut conn = db();
        let p = phone(1);
        let mut r = StdRng::seed_from_u64(1);
        let policy = SmsPolicy::default();
        let old = try_issue(
            &mut conn,
            &policy,
            &p,
            Purpose::Registration,
            TERMINAL,
            t0(),
            &mut r,
        )
        .unwrap();
        let new = try_issue(
            &mut conn,
            &policy,
            &p,
            Purpose::Registration,
            TERMINAL,
            t0() + secs(60),
            &mut r,
        )
        .unwrap();
        assert_ne!(old.code, new.code, "pick another seed");
        assert_eq!(
            verify(
                &mut conn,
                &p,
                Purpose::Registration,
                &old.code,
                t0() + secs(61)
            ),
            Err(VerifyError::Wrong { tries_left: 4 })
        );
        assert!(
            verify(
                &mut conn,
                &p,
                Purpose::Registration,
                &new.code,
                t0() + secs(62)
            )
            .is_ok()
        );
        // The old one does not come back once the new one is used.
        assert_eq!(
            verify(
                &mut conn,
                &p,
                Purpose::Registration,
                &old.code,
                t0() + secs(63)
            ),
            Err(VerifyError::NoCode)
        );
    }

    #[test]
    fn a_verification_is_one_time_and_bound_to_phone_and_purpose() {
        let mut conn = db();
        let p = phone(1);
        let issued = issue(&mut conn, &p, Purpose::Registration, t0());
        let token = verify(&mut conn, &p, Purpose::Registration, &issued.code, t0()).unwrap();
        let at = t0() + secs(30);
        assert!(!consume(
            &mut conn,
            &token,
            &phone(2),
            Purpose::Registration,
            at
        ));
        assert!(!consume(&mut conn, &token, &p, Purpose::Spend, at));
        assert!(!consume(&mut conn, "00", &p, Purpose::Registration, at));
        assert!(consume(&mut conn, &token, &p, Purpose::Registration, at));
        assert!(!consume(&mut conn, &token, &p, Purpose::Registration, at));

        // Expired after 15 minutes.
        let issued = issue(&mut conn, &p, Purpose::Spend, t0() + secs(60));
        let token = verify(&mut conn, &p, Purpose::Spend, &issued.code, t0() + secs(60)).unwrap();
        let late = t0() + secs(60) + Duration::minutes(15);
        assert!(!consume(&mut conn, &token, &p, Purpose::Spend, late));
        assert!(consume(
            &mut conn,
            &token,
            &p,
            Purpose::Spend,
            late - secs(1)
        ));
    }

    #[test]
    fn codes_are_six_digits_and_never_stored_in_plain() {
        let mut conn = db();
        let policy = SmsPolicy {
            cooldown: Duration::zero(),
            per_phone_max: 1000,
            per_terminal_hour_max: 1000,
            ..SmsPolicy::default()
        };
        let mut r = rng();
        let mut codes = Vec::new();
        for i in 0..200 {
            let at = t0() + Duration::milliseconds(i);
            let c = try_issue(
                &mut conn,
                &policy,
                &phone(1),
                Purpose::Spend,
                TERMINAL,
                at,
                &mut r,
            )
            .unwrap();
            assert_eq!(c.code.len(), 6);
            assert!(c.code.bytes().all(|b| b.is_ascii_digit()), "{}", c.code);
            codes.push(c.code);
        }
        let distinct: std::collections::HashSet<_> = codes.iter().collect();
        assert!(distinct.len() > 190, "codes repeat too often");
        let c = codes.last().unwrap().clone();
        // That no table holds a code or a token in plain is checked on the database file
        // in tests/server_sms_store.rs.
        assert!(verify(&mut conn, &phone(1), Purpose::Spend, &c, t0() + secs(1)).is_ok());
        let debug = format!(
            "{:?}",
            IssuedCode {
                code: c.clone(),
                expires_in_s: 1,
                resend_after_s: 1,
                tries: 1
            }
        );
        assert!(!debug.contains(&c), "{debug}");
    }

    #[test]
    fn prune_keeps_what_limits_still_count() {
        let mut conn = db();
        let p = phone(1);
        let issued = issue(&mut conn, &p, Purpose::Registration, t0());
        verify(&mut conn, &p, Purpose::Registration, &issued.code, t0()).unwrap();
        let policy = SmsPolicy::default();
        assert_eq!(
            store::write(&conn, |tx| prune(tx, &policy, t0() + Duration::minutes(30))).unwrap(),
            1
        );
        assert_eq!(
            store::write(&conn, |tx| prune(tx, &policy, t0() + Duration::minutes(60))).unwrap(),
            1
        );
    }

    #[test]
    fn the_message_text() {
        assert_eq!(
            message_text("012345"),
            "Код для кассира: 012345. Сообщая его, я даю согласие на получение SMS"
        );
    }

    #[test]
    fn purposes_and_limits() {
        assert_eq!(Purpose::from(SmsPurpose::Spend).as_str(), "spend");
        assert_eq!(
            Purpose::from(SmsPurpose::Registration).as_str(),
            "registration"
        );
        assert_eq!(SmsPurpose::from(Purpose::Spend), SmsPurpose::Spend);
        let limit = SmsLimit::PhoneRateLimited { retry_after_s: 420 };
        assert_eq!(limit.retry_after_s(), 420);
        assert_eq!(
            limit.to_string(),
            "too many codes were sent to this phone recently; retry in 420 s"
        );
    }

    #[test]
    fn templates_are_filled_once_and_encoded() {
        assert_eq!(percent_encode("a b+&=/~"), "a%20b%2B%26%3D%2F~");
        assert_eq!(percent_encode("Код"), "%D0%9A%D0%BE%D0%B4");
        assert_eq!(
            fill_template(
                "https://x/s?k={key}&to={phone}&m={text}&{other}",
                "{text}",
                "79990000001",
                "a&b"
            ),
            "https://x/s?k=%7Btext%7D&to=79990000001&m=a%26b&{other}"
        );
    }

    #[test]
    fn http_gateway_refuses_plain_http_to_other_hosts_and_hides_the_key() {
        let timeout = std::time::Duration::from_secs(1);
        let template = |s: &str| s.to_owned();
        assert!(matches!(
            HttpGateway::new(
                template("http://sms.example/s?to={phone}&m={text}"),
                "k".into(),
                timeout
            ),
            Err(GatewayError::Config(_))
        ));
        assert!(matches!(
            HttpGateway::new(
                template("https://sms.example/s?to={phone}"),
                "k".into(),
                timeout
            ),
            Err(GatewayError::Config(_))
        ));
        let g = HttpGateway::new(
            template("https://sms.example/s?api_id={key}&to={phone}&m={text}"),
            "SECRETKEY".into(),
            timeout,
        )
        .unwrap();
        let debug = format!("{g:?}");
        assert!(
            !debug.contains("SECRETKEY") && debug.contains("sms.example"),
            "{debug}"
        );
        let config = GatewayConfig::Http {
            url_template: "https://sms.example/{key}".into(),
            key: "SECRETKEY".into(),
        };
        assert!(!format!("{config:?}").contains("SECRETKEY"));
    }

    #[test]
    fn provider_answers() {
        let secrets = ["79990000001"];
        assert!(provider_verdict(br#"{"status":"OK","status_code":100}"#, &secrets).is_ok());
        let e = provider_verdict(br#"{"status":"ERROR","status_code":200}"#, &secrets)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "the sms provider refused the message: status ERROR (code 200)"
        );
        let e = provider_verdict(
            br#"{"status":"OK","sms":{"79990000001":{"status":"ERROR","status_code":207,"status_text":"79990000001"}}}"#,
            &secrets,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "the sms provider refused the message: status ERROR (code 207)"
        );
        let e = provider_verdict(br#"{"status":"79990000001"}"#, &secrets)
            .unwrap_err()
            .to_string();
        assert!(!e.contains("79990000001"), "{e}");
        assert!(provider_verdict(b"<html>", &secrets).is_err());
        assert_eq!(
            redact("code 402913 to 8 999 0001122, os error 111", &secrets),
            "code *** to 8 999 ***, os error 111"
        );
    }
}
