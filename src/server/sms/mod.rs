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

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::store::{self, NewSmsCode, SmsUsage, Store, StoreError, Tx};
use crate::domain::phone::Phone;
use crate::protocol::server::SmsPurpose;

mod gateway;

pub use gateway::{
    GatewayConfig, GatewayError, HTTP_TIMEOUT, HttpGateway, LOG_FILE, LOG_KEEP, LogGateway,
    SendFuture, SentSms, SmsGateway,
};

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
    /// Signing in to «Моя карта» on the customer's own page (`server::selfreg`): sent only
    /// by that page, so no code a till asked for opens a customer's page.
    CardSignIn,
}

impl Purpose {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Registration => "registration",
            Purpose::Spend => "spend",
            Purpose::CardSignIn => "card_sign_in",
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

/// A till asks only for registration and spend codes.
impl TryFrom<Purpose> for SmsPurpose {
    type Error = Purpose;

    fn try_from(p: Purpose) -> Result<SmsPurpose, Purpose> {
        match p {
            Purpose::Registration => Ok(SmsPurpose::Registration),
            Purpose::Spend => Ok(SmsPurpose::Spend),
            Purpose::CardSignIn => Err(p),
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
#[cfg(test)]
mod tests;
