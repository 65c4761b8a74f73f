//! The store interface for the customer's own page (`/r/{store}`, `server::selfreg`): the
//! public page's SMS sends its limits count, the browsers' sessions (by the hash of their
//! cookie's token), the sequence of each store's web pseudo-terminal, and the customers'
//! requests to erase their data.

use std::fmt;

use chrono::{DateTime, Utc};

use super::StoreError;

/// What a browser's session is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebSessionKind {
    /// A registration waiting for its SMS code, then for the consents.
    Registration,
    /// A sign-in to «Моя карта» waiting for its SMS code.
    SignIn,
    /// A signed-in customer.
    Customer,
}

impl WebSessionKind {
    pub fn name(self) -> &'static str {
        match self {
            WebSessionKind::Registration => "registration",
            WebSessionKind::SignIn => "sign_in",
            WebSessionKind::Customer => "customer",
        }
    }

    pub fn parse(s: &str) -> Option<WebSessionKind> {
        [
            WebSessionKind::Registration,
            WebSessionKind::SignIn,
            WebSessionKind::Customer,
        ]
        .into_iter()
        .find(|k| k.name() == s)
    }
}

/// A session as read. `Debug` leaves the phone out.
#[derive(Clone, PartialEq, Eq)]
pub struct WebSession {
    pub kind: WebSessionKind,
    pub store_id: String,
    /// E.164; for a registration or a sign-in.
    pub phone: Option<String>,
    /// For a signed-in customer.
    pub customer_id: Option<String>,
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for WebSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSession")
            .field("kind", &self.kind)
            .field("store_id", &self.store_id)
            .field("customer_id", &self.customer_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A session to write.
#[derive(Clone, Copy)]
pub struct NewWebSession<'a> {
    /// SHA-256 of the cookie's token.
    pub token_hash: &'a [u8],
    pub kind: WebSessionKind,
    pub store_id: &'a str,
    pub phone: Option<&'a str>,
    pub customer_id: Option<&'a str>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// The public page's sends inside a window, oldest first: those from one client address
/// and those from everyone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebSmsUsage {
    pub client: Vec<DateTime<Utc>>,
    pub all: Vec<DateTime<Utc>>,
}

/// Reads of the customer's page.
pub trait SelfRegRead {
    /// The session with this token hash, if it is unexpired at `now`.
    fn web_session(
        &mut self,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Option<WebSession>, StoreError>;
    /// When the customer asked for their data to be erased, if they did.
    fn erase_request(&mut self, customer_id: &str) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// The erase requests not yet carried out (the customer neither erased nor merged),
    /// oldest first: the customer's id, their home store and when they asked.
    fn open_erase_requests(&mut self) -> Result<Vec<EraseRequest>, StoreError>;
}

/// A customer's request, from their own page, for their data to be erased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EraseRequest {
    pub customer_id: String,
    pub store_id: Option<String>,
    pub requested_at: DateTime<Utc>,
}

/// Writes of the customer's page.
pub trait SelfRegTx {
    /// The public page's sends after `since`; locks the page's sends for the rest of the
    /// transaction, so two sends at once cannot both pass a limit.
    fn web_sms_usage(
        &mut self,
        client_hash: &[u8],
        since: DateTime<Utc>,
    ) -> Result<WebSmsUsage, StoreError>;
    /// Counts a send of the public page.
    fn insert_web_sms_send(
        &mut self,
        client_hash: &[u8],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Deletes the sends made at or before `sends_before` and the sessions expired at `now`;
    /// how many rows went.
    fn prune_web(
        &mut self,
        sends_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;
    /// The next operation sequence number of a web pseudo-terminal (1 for its first), taken
    /// once across connections and processes.
    fn next_web_seq(&mut self, terminal_id: &str) -> Result<i64, StoreError>;
    fn insert_web_session(&mut self, s: &NewWebSession<'_>) -> Result<(), StoreError>;
    fn delete_web_session(&mut self, token_hash: &[u8]) -> Result<(), StoreError>;
    /// Records a customer's erase request; `false` (nothing written) when one is recorded.
    fn insert_erase_request(
        &mut self,
        customer_id: &str,
        store_id: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}
