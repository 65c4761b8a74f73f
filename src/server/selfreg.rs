//! The customer's own page (`/r/{store}`): a customer registers themselves from the QR
//! code a manager shows on the till, and later signs in to «Моя карта».
//!
//! Engine-free, over the store seam; the HTML is in `web::public`.
//!
//! # Registration
//! Phone (a Russian mobile number) → an SMS code → the two consents and the optional
//! questionnaire → a virtual card. The code is an ordinary registration code
//! ([`sms::issue_code`], the per-phone cooldown and window as for tills), and the
//! registration is an ordinary `registration` operation applied by [`ops::apply_batch`] for
//! the store's web pseudo-terminal `web:STORE` (its own sequence, `web_terminals`): the same
//! checks, the same at-most-once record in `operations`, the same consents rows, the rules'
//! registration status and welcome bonus, the same feed to the tills. Whether a phone is
//! registered is said only after its code was verified, so the page does not tell strangers
//! who is a customer.
//!
//! # «Моя карта»
//! The customer signs in with their phone and a code of the page's own purpose
//! ([`sms::Purpose::CardSignIn`]): neither a spend code nor a registration code a till asked
//! for opens a customer's page. The session is a random token in an HttpOnly,
//! SameSite=Strict cookie; only its SHA-256 is stored, and it lives [`SelfRegPolicy::session_ttl`].
//! Advertising SMS are switched off by a `consent` operation of the web pseudo-terminal, as
//! the till records it. An erase request is recorded (`erase_requests`) for the owner, who
//! carries it out in the back office (`backoffice::customers::erase`): erasing is final,
//! and the chain decides about the bonuses and purchases it may still owe.
//!
//! # Limits of the public page
//! Besides the per-phone cooldown and window, every send counts against the client's
//! address (a hash of it, [`SelfRegPolicy::per_address_hour_max`] in a rolling hour) and
//! the whole page ([`SelfRegPolicy::hour_max`]). A filled honeypot field gets the same
//! polite answer and a session-like cookie, but nothing is sent or stored.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::State;
use super::customers;
use super::ops;
use super::sms::{self, Purpose, SmsLimit, SmsPolicy, VerifyError};
use super::store::{self, CustomerKey, NewWebSession, StoreError, WebSession, WebSessionKind};
use crate::domain::phone::{Phone, PhoneError};
use crate::protocol::server::{
    CardIssue, HistoryResponse, Operation, OperationBody, OperationStatus, Questionnaire,
    RejectReason, Secret,
};

/// The limits and lifetimes of the public page; [`Default`] is what a chain starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfRegPolicy {
    /// Codes the page sends for one client address within a rolling hour.
    pub per_address_hour_max: u32,
    /// Codes the page sends for everyone within a rolling hour.
    pub hour_max: u32,
    /// How long a registration or a sign-in waits for its code and consents.
    pub flow_ttl: Duration,
    /// How long a signed-in customer stays signed in.
    pub session_ttl: Duration,
}

impl Default for SelfRegPolicy {
    fn default() -> SelfRegPolicy {
        SelfRegPolicy {
            per_address_hour_max: 5,
            hour_max: 300,
            flow_ttl: Duration::minutes(15),
            session_ttl: Duration::minutes(30),
        }
    }
}

/// The window of both of the page's own limits.
const WINDOW: Duration = Duration::hours(1);
/// Bytes of randomness in a session token (twice as many hex digits in the cookie).
const TOKEN_BYTES: usize = 32;
/// The history lines «Моя карта» shows.
const HISTORY_SHOWN: usize = 50;
/// The name the page's operations carry where a till's carry the cashier's.
pub const WEB_ACTOR: &str = "Страница клиента";

/// The web pseudo-terminal of a store: its registrations and consent changes.
pub fn web_terminal(store_id: &str) -> String {
    format!("web:{store_id}")
}

/// What the customer started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Register,
    SignIn,
}

impl Flow {
    fn kind(self) -> WebSessionKind {
        match self {
            Flow::Register => WebSessionKind::Registration,
            Flow::SignIn => WebSessionKind::SignIn,
        }
    }

    fn purpose(self) -> Purpose {
        match self {
            Flow::Register => Purpose::Registration,
            Flow::SignIn => Purpose::CardSignIn,
        }
    }
}

/// Which limit held a send back; `retry_after_s` is when the same send would pass it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebLimit {
    /// The per-phone cooldown or window, as for tills.
    Phone(SmsLimit),
    /// Too many codes for this client address this hour.
    Address { retry_after_s: u64 },
    /// Too many codes for everyone this hour.
    Everyone { retry_after_s: u64 },
}

impl WebLimit {
    pub fn retry_after_s(&self) -> u64 {
        match *self {
            WebLimit::Phone(l) => l.retry_after_s(),
            WebLimit::Address { retry_after_s } | WebLimit::Everyone { retry_after_s } => {
                retry_after_s
            }
        }
    }
}

/// Why the page cannot do what was asked. Messages name the problem, never the phone, the
/// code or a name.
#[derive(Debug, thiserror::Error)]
pub enum SelfRegError {
    #[error("no such store")]
    UnknownStore,
    #[error("phone: {0}")]
    Phone(PhoneError),
    #[error("phone: only Russian mobile numbers (+7 9…) receive SMS")]
    NotMobile,
    #[error("too many codes; retry in {} s", .0.retry_after_s())]
    Limit(WebLimit),
    #[error("the SMS could not be sent; try again in a minute")]
    Gateway,
    /// No registration, sign-in or customer session behind the cookie (none, expired, or
    /// signed out).
    #[error("the session has expired; start again")]
    SessionExpired,
    #[error("code: six digits")]
    CodeFormat,
    #[error("code: {0}")]
    Code(VerifyError),
    #[error("this phone is already registered")]
    AlreadyRegistered,
    #[error("this phone is not registered")]
    NotRegistered,
    #[error("the consent to the processing of personal data is required")]
    ConsentRequired,
    /// A questionnaire field is wrong; names the field.
    #[error("{0}")]
    Field(Field),
    /// The code's confirmation was used or has expired before the registration.
    #[error("the confirmation of the phone has expired; start again")]
    VerificationExpired,
    /// The registration or consent operation was refused for another reason.
    #[error("the operation was refused: {0:?}")]
    Refused(RejectReason),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A questionnaire field that is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Field {
    #[error("name: at most 100 characters")]
    Name,
    #[error("email: an address like anna@example.ru")]
    Email,
    #[error("birth_date: a date between 1900-01-01 and today")]
    BirthDate,
}

/// A send that went out (or a honeypot's look-alike): the cookie's token.
#[derive(Clone, PartialEq, Eq)]
pub struct Started {
    pub token: String,
    pub resend_after_s: u64,
}

impl fmt::Debug for Started {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Started")
            .field("resend_after_s", &self.resend_after_s)
            .finish_non_exhaustive()
    }
}

/// What a verified code leads to.
#[derive(Clone, PartialEq, Eq)]
pub enum Confirmed {
    /// A registration may go on to the consents with this one-time proof.
    Registration { verification: String },
    /// A customer is signed in with this session token.
    SignedIn { session: String },
}

impl fmt::Debug for Confirmed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Confirmed::Registration { .. } => "Registration",
            Confirmed::SignedIn { .. } => "SignedIn",
        })
    }
}

/// The consents and the optional questionnaire of a registration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistrationForm {
    pub consent_processing: bool,
    pub consent_advertising: bool,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub birth_date: Option<NaiveDate>,
    pub email: Option<String>,
}

/// «Моя карта».
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardPage {
    pub store_name: String,
    /// The store's time zone, for the dates shown.
    pub time_zone: chrono_tz::Tz,
    /// First name and the initial of the last name, or empty.
    pub name: String,
    /// The card's full number: the customer shows it at the till.
    pub card_number: Option<String>,
    pub card_status: String,
    pub consent_advertising: bool,
    /// The welcome bonus the registration gave (kopecks), if any.
    pub welcome_kopecks: Option<i64>,
    /// Balance, pending bonuses with dates, what burns when, the history.
    pub history: HistoryResponse,
    pub erase_requested_at: Option<DateTime<Utc>>,
}

/// A Russian mobile number from what the customer typed.
pub fn mobile_phone(input: &str) -> Result<Phone, SelfRegError> {
    let phone = Phone::parse(input).map_err(SelfRegError::Phone)?;
    if !phone.national().starts_with('9') {
        return Err(SelfRegError::NotMobile);
    }
    Ok(phone)
}

/// The hash the page's limits count a client address by. The address itself is not kept.
pub fn address_hash(addr: IpAddr) -> Vec<u8> {
    super::crypto::sha256(&[b"bonuskassa web client ", addr.to_string().as_bytes()])
}

fn token_hash(token: &str) -> Vec<u8> {
    super::crypto::sha256(&[token.as_bytes()])
}

/// The SMS the page sends; it says what the code is for and that nobody else needs it.
pub fn message_text(flow: Flow, code: &str) -> String {
    match flow {
        Flow::Register => format!("Код для регистрации карты: {code}. Никому его не сообщайте"),
        Flow::SignIn => format!("Код для входа в «Мою карту»: {code}. Никому его не сообщайте"),
    }
}

/// How long until fewer than `max` of `sent` (oldest first, inside the window) remain in
/// the rolling window; zero when there is room.
fn window_wait(sent: &[DateTime<Utc>], max: u32, now: DateTime<Utc>) -> u64 {
    if max == 0 {
        // A limit of none: the page sends nothing.
        return u64::try_from(WINDOW.num_seconds()).unwrap_or(3600);
    }
    let over = sent.len() as i64 - i64::from(max);
    if over < 0 {
        return 0;
    }
    match sent.get(over as usize) {
        Some(leaving) => {
            let wait = (*leaving + WINDOW - now).max(Duration::zero());
            u64::try_from(wait.num_milliseconds().max(0))
                .unwrap_or(0)
                .div_ceil(1000)
        }
        None => 0,
    }
}

/// The store the page is for, by its id from the path.
pub fn store_name(state: &State, store_id: &str) -> Result<String, SelfRegError> {
    store::read(state.store(), |r| r.store(store_id))?
        .map(|s| s.name)
        .ok_or(SelfRegError::UnknownStore)
}

/// Sends a code for a registration or a sign-in, within every limit, and opens the
/// session that waits for it. A filled `honeypot` answers alike and does nothing.
pub async fn start(
    state: &Arc<State>,
    store_id: &str,
    phone: &str,
    client: IpAddr,
    honeypot: bool,
    flow: Flow,
) -> Result<Started, SelfRegError> {
    let phone = mobile_phone(phone)?;
    let sms_policy = SmsPolicy {
        // The page's own limits stand in for a terminal's.
        per_terminal_hour_max: u32::MAX,
        ..state.config.sms_policy.clone()
    };
    if honeypot {
        tracing::info!(
            store = store_id,
            "self-registration: honeypot filled, nothing sent"
        );
        return Ok(Started {
            token: super::crypto::random_hex(TOKEN_BYTES),
            resend_after_s: u64::try_from(sms_policy.cooldown.num_seconds()).unwrap_or(0),
        });
    }
    let (s, store_id_owned, phone_c) = (state.clone(), store_id.to_string(), phone.clone());
    let outcome = state
        .workers
        .write(move || {
            let now = s.now();
            let policy = &s.config.selfreg;
            let store_id = store_id_owned;
            if store::read(s.store(), |r| r.store(&store_id))?.is_none() {
                return Err(SelfRegError::UnknownStore);
            }
            let client = address_hash(client);
            let token = super::crypto::random_hex(TOKEN_BYTES);
            let hash = token_hash(&token);
            let terminal = web_terminal(&store_id);
            let issued = store::write(s.store(), |tx| {
                tx.prune_web(now - WINDOW, now)?;
                let usage = tx.web_sms_usage(&client, now - WINDOW)?;
                let address = window_wait(&usage.client, policy.per_address_hour_max, now);
                if address > 0 {
                    return Ok(Err(WebLimit::Address {
                        retry_after_s: address,
                    }));
                }
                let everyone = window_wait(&usage.all, policy.hour_max, now);
                if everyone > 0 {
                    return Ok(Err(WebLimit::Everyone {
                        retry_after_s: everyone,
                    }));
                }
                let issued = match sms::issue_code(
                    tx,
                    &sms_policy,
                    &phone_c,
                    flow.purpose(),
                    &terminal,
                    now,
                    &mut rand::rng(),
                )? {
                    Ok(issued) => issued,
                    Err(limit) => return Ok(Err(WebLimit::Phone(limit))),
                };
                tx.insert_web_sms_send(&client, now)?;
                tx.insert_web_session(&NewWebSession {
                    token_hash: &hash,
                    kind: flow.kind(),
                    store_id: &store_id,
                    phone: Some(phone_c.as_e164()),
                    customer_id: None,
                    created_at: now,
                    expires_at: now + policy.flow_ttl,
                })?;
                Ok(Ok(issued))
            })?;
            Ok(issued.map(|i| (i, token)))
        })
        .await
        .map_err(|e| SelfRegError::Store(StoreError::Other(e.to_string())))??;
    let (issued, token) = outcome.map_err(|limit| {
        tracing::info!(
            store = store_id,
            ?limit,
            "self-registration: a send was limited"
        );
        SelfRegError::Limit(limit)
    })?;
    if let Err(e) = state
        .gateway
        .send(&phone, &message_text(flow, &issued.code.code))
        .await
    {
        tracing::warn!(error = %e, "the SMS gateway refused a code of the customer's page");
        let (s, id) = (state.clone(), issued.id);
        let withdrawn = state
            .workers
            .write(move || store::write(s.store(), |tx| tx.delete_sms_code(id)))
            .await;
        if !matches!(withdrawn, Ok(Ok(()))) {
            tracing::error!("an unsent code of the customer's page could not be withdrawn");
        }
        return Err(SelfRegError::Gateway);
    }
    tracing::info!(
        store = store_id,
        ?flow,
        "self-registration: a code was sent"
    );
    Ok(Started {
        token,
        resend_after_s: issued.code.resend_after_s,
    })
}

/// The unexpired session behind a cookie's token.
fn session(state: &State, token: &str) -> Result<WebSession, SelfRegError> {
    if token.is_empty() || token.len() > 2 * TOKEN_BYTES {
        return Err(SelfRegError::SessionExpired);
    }
    let now = state.now();
    store::read(state.store(), |r| r.web_session(&token_hash(token), now))?
        .ok_or(SelfRegError::SessionExpired)
}

/// A flow session of `kind`, with its phone.
fn flow_session(
    state: &State,
    token: &str,
    kind: WebSessionKind,
) -> Result<(WebSession, Phone), SelfRegError> {
    let s = session(state, token)?;
    if s.kind != kind {
        return Err(SelfRegError::SessionExpired);
    }
    let phone = s
        .phone
        .as_deref()
        .and_then(|p| Phone::parse(p).ok())
        .ok_or(SelfRegError::SessionExpired)?;
    Ok((s, phone))
}

/// The store a session belongs to, for the page's links; `None` when there is no session.
pub fn session_store(state: &State, token: &str) -> Option<String> {
    session(state, token).ok().map(|s| s.store_id)
}

/// Replaces a flow session with a customer session; the new token.
fn sign_in(
    state: &State,
    old: &str,
    store_id: &str,
    customer_id: &str,
) -> Result<String, SelfRegError> {
    let now = state.now();
    let token = super::crypto::random_hex(TOKEN_BYTES);
    let hash = token_hash(&token);
    let ttl = state.config.selfreg.session_ttl;
    store::write(state.store(), |tx| {
        tx.delete_web_session(&token_hash(old))?;
        tx.insert_web_session(&NewWebSession {
            token_hash: &hash,
            kind: WebSessionKind::Customer,
            store_id,
            phone: None,
            customer_id: Some(customer_id),
            created_at: now,
            expires_at: now + ttl,
        })
    })?;
    Ok(token)
}

/// The customer a phone belongs to, unless the record was merged away or erased.
fn live_customer(state: &State, phone: &Phone) -> Result<Option<String>, SelfRegError> {
    Ok(store::read(state.store(), |r| {
        r.customer(CustomerKey::Phone(phone.as_e164()))
    })?
    .filter(|c| !c.gone)
    .map(|c| c.id))
}

/// Checks the code of a registration or a sign-in (call from a blocking thread). A wrong
/// code costs one of the code's tries.
pub fn confirm(state: &State, token: &str, code: &str) -> Result<Confirmed, SelfRegError> {
    let s = session(state, token)?;
    let flow = match s.kind {
        WebSessionKind::Registration => Flow::Register,
        WebSessionKind::SignIn => Flow::SignIn,
        WebSessionKind::Customer => return Err(SelfRegError::SessionExpired),
    };
    let (s, phone) = flow_session(state, token, s.kind)?;
    let code = code.trim();
    if code.len() != sms::CODE_DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SelfRegError::CodeFormat);
    }
    let verification = sms::verify(
        state.store(),
        &state.config.sms_policy,
        &phone,
        flow.purpose(),
        code,
        state.now(),
    )?
    .map_err(SelfRegError::Code)?;
    let customer = live_customer(state, &phone)?;
    match (flow, customer) {
        (Flow::Register, Some(_)) => Err(SelfRegError::AlreadyRegistered),
        (Flow::Register, None) => Ok(Confirmed::Registration { verification }),
        (Flow::SignIn, None) => Err(SelfRegError::NotRegistered),
        (Flow::SignIn, Some(id)) => Ok(Confirmed::SignedIn {
            session: sign_in(state, token, &s.store_id, &id)?,
        }),
    }
}

/// A name field: trimmed, at most 100 characters, empty = none.
fn name_field(v: Option<&str>) -> Result<Option<String>, SelfRegError> {
    match v.map(str::trim) {
        None | Some("") => Ok(None),
        Some(n) if n.chars().count() > 100 || n.chars().any(char::is_control) => {
            Err(SelfRegError::Field(Field::Name))
        }
        Some(n) => Ok(Some(n.to_string())),
    }
}

fn email_field(v: Option<&str>) -> Result<Option<String>, SelfRegError> {
    let e = match v.map(str::trim) {
        None | Some("") => return Ok(None),
        Some(e) => e.to_lowercase(),
    };
    let ok = e.len() <= 254
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !e.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(Some(e))
    } else {
        Err(SelfRegError::Field(Field::Email))
    }
}

/// The questionnaire the registration carries, checked.
pub fn questionnaire(
    form: &RegistrationForm,
    today: NaiveDate,
) -> Result<Questionnaire, SelfRegError> {
    if !form.consent_processing {
        return Err(SelfRegError::ConsentRequired);
    }
    if let Some(b) = form.birth_date
        && (b > today || b < NaiveDate::from_ymd_opt(1900, 1, 1).expect("a date"))
    {
        return Err(SelfRegError::Field(Field::BirthDate));
    }
    Ok(Questionnaire {
        first_name: name_field(form.first_name.as_deref())?,
        last_name: name_field(form.last_name.as_deref())?,
        email: email_field(form.email.as_deref())?,
        birth_date: form.birth_date,
        ..Questionnaire::default()
    })
}

/// Applies one operation of the store's web pseudo-terminal through the operations batch;
/// its refusal, if refused.
fn apply(state: &State, store_id: &str, body: OperationBody) -> Result<(), SelfRegError> {
    let terminal = super::auth::Terminal {
        id: web_terminal(store_id),
        store_id: store_id.to_string(),
    };
    let seq = store::write(state.store(), |tx| tx.next_web_seq(&terminal.id))?;
    let op = Operation {
        id: uuid::Uuid::new_v4().to_string(),
        seq: u64::try_from(seq).map_err(|_| StoreError::Corrupt("a negative sequence".into()))?,
        at: state.now(),
        cashier: WEB_ACTOR.to_string(),
        cashier_id: None,
        offline: false,
        body,
    };
    let rules = state.current_rules();
    let results = ops::apply_batch(state.store(), &rules.rules, &terminal, vec![op], || {
        state.now()
    })?;
    match results.first() {
        Some(r) if r.status == OperationStatus::Applied => Ok(()),
        Some(r) => {
            let reason = r.reason.unwrap_or(RejectReason::Invalid);
            tracing::info!(?reason, "an operation of the customer's page was refused");
            Err(match reason {
                RejectReason::AlreadyRegistered => SelfRegError::AlreadyRegistered,
                RejectReason::VerificationRequired => SelfRegError::VerificationExpired,
                other => SelfRegError::Refused(other),
            })
        }
        None => Err(StoreError::Other("the batch gave no answer".into()).into()),
    }
}

/// Registers the customer of a verified registration with a new virtual card (call from a
/// blocking thread); the token of their signed-in session.
pub fn register(
    state: &State,
    token: &str,
    verification: &str,
    form: &RegistrationForm,
) -> Result<String, SelfRegError> {
    let (s, phone) = flow_session(state, token, WebSessionKind::Registration)?;
    let q = questionnaire(form, state.now().date_naive())?;
    if verification.is_empty() {
        return Err(SelfRegError::VerificationExpired);
    }
    let customer_id = uuid::Uuid::new_v4().to_string();
    apply(
        state,
        &s.store_id,
        OperationBody::Registration {
            customer_id: customer_id.clone(),
            phone,
            verification: Some(Secret(verification.to_string())),
            questionnaire: q,
            consent_processing: true,
            consent_advertising: form.consent_advertising,
            card: Some(CardIssue::Virtual),
            card_status: None,
        },
    )?;
    tracing::info!(store = %s.store_id, customer = %customer_id, "self-registration: a customer registered");
    sign_in(state, token, &s.store_id, &customer_id)
}

/// The signed-in customer's id and store.
fn customer_session(state: &State, token: &str) -> Result<(String, String), SelfRegError> {
    let s = session(state, token)?;
    match (s.kind, s.customer_id) {
        (WebSessionKind::Customer, Some(id)) => Ok((id, s.store_id)),
        _ => Err(SelfRegError::SessionExpired),
    }
}

/// «Моя карта» of the signed-in customer (call from a blocking thread).
pub fn card(state: &State, token: &str) -> Result<CardPage, SelfRegError> {
    let (id, store_id) = customer_session(state, token)?;
    let now = state.now();
    store::read(state.store(), |r| {
        let Some(c) = r.customer(CustomerKey::Id(&id))?.filter(|c| !c.gone) else {
            return Ok(Err(SelfRegError::SessionExpired));
        };
        let history = match customers::history(r, &id, HISTORY_SHOWN, now) {
            Ok(h) => h,
            Err(customers::HistoryError::NotFound) => {
                return Ok(Err(SelfRegError::SessionExpired));
            }
            Err(customers::HistoryError::Store(e)) => return Err(e),
        };
        let welcome = r
            .batches(&id)?
            .iter()
            .filter(|b| b.source == super::ledger::Source::Welcome)
            .map(|b| b.amount)
            .sum::<i64>();
        let home = r.store(&store_id)?;
        Ok(Ok(CardPage {
            store_name: home.as_ref().map(|s| s.name.clone()).unwrap_or_default(),
            time_zone: home.as_ref().map_or(chrono_tz::Europe::Moscow, |s| s.tz()),
            name: customers::short_name(c.first_name.as_deref(), c.last_name.as_deref()),
            card_number: c.card_number.clone(),
            card_status: c.card_status.clone(),
            consent_advertising: c.consent_advertising,
            welcome_kopecks: (welcome > 0).then_some(welcome),
            history,
            erase_requested_at: r.erase_request(&id)?,
        }))
    })?
}

/// Switches the signed-in customer's advertising SMS off, recorded as a consent change of
/// the store's web pseudo-terminal (call from a blocking thread).
pub fn advertising_off(state: &State, token: &str) -> Result<(), SelfRegError> {
    let (id, store_id) = customer_session(state, token)?;
    let c = store::read(state.store(), |r| r.customer(CustomerKey::Id(&id)))?
        .filter(|c| !c.gone)
        .ok_or(SelfRegError::SessionExpired)?;
    if !c.consent_advertising {
        return Ok(());
    }
    apply(
        state,
        &store_id,
        OperationBody::Consent {
            customer_id: id,
            processing: None,
            advertising: Some(false),
        },
    )
}

/// Records the signed-in customer's request to erase their data, for the owner to carry
/// out; when it was asked (the first request's time when asked again).
pub fn request_erase(state: &State, token: &str) -> Result<DateTime<Utc>, SelfRegError> {
    let (id, store_id) = customer_session(state, token)?;
    let now = state.now();
    let at = store::write(state.store(), |tx| {
        tx.insert_erase_request(&id, Some(&store_id), now)?;
        Ok(tx.erase_request(&id)?.unwrap_or(now))
    })?;
    tracing::info!(customer = %id, "self-registration: the customer asked to erase their data");
    Ok(at)
}

/// Ends a session, whatever it was.
pub fn sign_out(state: &State, token: &str) -> Result<(), SelfRegError> {
    if token.is_empty() || token.len() > 2 * TOKEN_BYTES {
        return Ok(());
    }
    store::write(state.store(), |tx| {
        tx.delete_web_session(&token_hash(token))
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
    }

    #[test]
    fn only_russian_mobile_numbers() {
        assert!(mobile_phone("+7 999 123-45-67").is_ok());
        assert!(matches!(
            mobile_phone("+7 495 123-45-67"),
            Err(SelfRegError::NotMobile)
        ));
        assert!(matches!(
            mobile_phone("+1 202 555 0100"),
            Err(SelfRegError::Phone(_))
        ));
        assert!(matches!(mobile_phone(""), Err(SelfRegError::Phone(_))));
    }

    #[test]
    fn the_hourly_window() {
        let at = |m: i64| t0() + Duration::minutes(m);
        assert_eq!(window_wait(&[], 2, t0()), 0);
        assert_eq!(window_wait(&[at(0)], 2, at(1)), 0);
        // Two in the window and two allowed: the oldest leaves at 60 min.
        assert_eq!(window_wait(&[at(0), at(10)], 2, at(30)), 30 * 60);
        assert_eq!(window_wait(&[], 0, at(30)), 60 * 60);
    }

    #[test]
    fn the_questionnaire_is_checked() {
        let today = t0().date_naive();
        let ok = RegistrationForm {
            consent_processing: true,
            first_name: Some("  Анна ".into()),
            email: Some("Anna@Example.RU".into()),
            ..RegistrationForm::default()
        };
        let q = questionnaire(&ok, today).unwrap();
        assert_eq!(q.first_name.as_deref(), Some("Анна"));
        assert_eq!(q.email.as_deref(), Some("anna@example.ru"));
        assert!(matches!(
            questionnaire(
                &RegistrationForm {
                    consent_processing: false,
                    ..ok.clone()
                },
                today
            ),
            Err(SelfRegError::ConsentRequired)
        ));
        for email in [
            "anna",
            "anna@",
            "@example.ru",
            "a b@example.ru",
            "a@example",
        ] {
            let form = RegistrationForm {
                email: Some(email.into()),
                ..ok.clone()
            };
            assert!(
                matches!(
                    questionnaire(&form, today),
                    Err(SelfRegError::Field(Field::Email))
                ),
                "{email}"
            );
        }
        let born = |d: NaiveDate| RegistrationForm {
            birth_date: Some(d),
            ..ok.clone()
        };
        assert!(questionnaire(&born(today.succ_opt().unwrap()), today).is_err());
        assert!(
            questionnaire(&born(NaiveDate::from_ymd_opt(1899, 12, 31).unwrap()), today).is_err()
        );
        assert!(questionnaire(&born(NaiveDate::from_ymd_opt(1990, 5, 1).unwrap()), today).is_ok());
        let long = RegistrationForm {
            last_name: Some("я".repeat(101)),
            ..ok.clone()
        };
        assert!(matches!(
            questionnaire(&long, today),
            Err(SelfRegError::Field(Field::Name))
        ));
    }

    #[test]
    fn texts_name_the_purpose() {
        assert!(message_text(Flow::Register, "123456").contains("регистрации"));
        assert!(message_text(Flow::SignIn, "123456").contains("Мою карту"));
    }
}
