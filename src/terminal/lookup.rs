//! Finding a customer by phone or card: at the server, or in the till's cache when it does
//! not answer in time.
use super::{Terminal, TerminalError};
use crate::domain::card::CardNumber;
use crate::domain::money::Bonus;
use crate::domain::phone::Phone;
use crate::domain::scan::ScanPayload;
use crate::protocol::lookup_hash;
use crate::protocol::server::{CustomerView, ErrorCode, LookupRequest, Secret};
use crate::store::{CachedCustomer, TerminalStore};
use crate::sync::client::ClientError;

/// How the cashier finds a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Phone(Phone),
    Card(CardNumber),
}

impl Lookup {
    /// The customer a scan names; `None` for a receipt's fiscal code, which names a sale.
    pub fn of_scan(s: ScanPayload) -> Option<Lookup> {
        match s {
            ScanPayload::Phone(p) => Some(Lookup::Phone(p)),
            ScanPayload::Card(c) => Some(Lookup::Card(c)),
            ScanPayload::Fiscal(_) => None,
        }
    }
}

/// A customer found, and where the answer came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub customer: CustomerView,
    /// True when the server did not answer and the till's cache did.
    pub offline: bool,
    /// The virtual card the server issued at this registration, in full: the card shows
    /// it and the slip prints it, once.
    pub issued_card: Option<String>,
}

impl Terminal {
    pub(super) fn hash_of(&self, lookup: &Lookup) -> String {
        match lookup {
            Lookup::Phone(p) => lookup_hash(&self.lookup_key, p.as_e164()),
            Lookup::Card(c) => lookup_hash(&self.lookup_key, c.as_str()),
        }
    }

    /// What the cache says of a customer, with the bonuses spent here since the cache row
    /// came from the server taken off.
    pub(super) fn cached_view(
        &self,
        store: &TerminalStore,
        c: CachedCustomer,
    ) -> Result<CustomerView, TerminalError> {
        let spent = TerminalStore::spent_since_cache(store.connection(), &c.id)?;
        let discount = self
            .rules_in(store)
            .ok()
            .and_then(|(_, r)| {
                r.card(&c.card_status)
                    .map(|r| r.discount_percent.to_string())
            })
            .unwrap_or_else(|| "0".into());
        Ok(CustomerView {
            id: c.id,
            name: c.name,
            phone_masked: c.phone_masked,
            card_masked: None,
            card_status: c.card_status,
            phone_verified: c.phone_verified,
            balance: Bonus::from_kopecks(c.balance - spent),
            pending: Bonus::from_kopecks(c.pending),
            // Other tills' holds are known only to the server.
            held: Bonus::ZERO,
            discount_percent: discount,
            consent_processing: c.consent_processing,
            consent_advertising: c.consent_advertising,
        })
    }

    /// Finds a customer in the cache only (what an offline lookup does).
    pub fn lookup_cached(&self, lookup: &Lookup) -> Result<Option<CustomerView>, TerminalError> {
        let store = self.store();
        match store.customer_by_hash(&self.hash_of(lookup))? {
            Some(c) => Ok(Some(self.cached_view(&store, c)?)),
            None => Ok(None),
        }
    }

    /// Finds a customer: at the server, or in the cache when it does not answer in time.
    /// `Ok(None)`: nobody has this phone or card (register them).
    pub async fn lookup(&self, lookup: &Lookup) -> Result<Option<Found>, TerminalError> {
        let req = match lookup {
            Lookup::Phone(p) => LookupRequest {
                phone: Some(Secret(p.as_e164().to_string())),
                ..Default::default()
            },
            Lookup::Card(c) => LookupRequest {
                card: Some(Secret(c.as_str().to_string())),
                ..Default::default()
            },
        };
        match self.api.lookup(&req).await {
            Ok(customer) => {
                self.saw_server(true, None);
                // The server is back: what this till held and withdrew meanwhile goes now,
                // before the calculation that follows a lookup.
                self.release_unreleased().await;
                Ok(Some(Found {
                    customer,
                    offline: false,
                    issued_card: None,
                }))
            }
            Err(ClientError::Api(body)) if body.code == ErrorCode::CustomerNotFound => {
                self.saw_server(true, None);
                // Registered here a moment ago and not yet sent: the cache knows them.
                Ok(self.lookup_cached(lookup)?.map(|customer| Found {
                    customer,
                    offline: false,
                    issued_card: None,
                }))
            }
            Err(e) if e.is_offline() => {
                self.saw_server(false, Some(&e));
                Ok(self.lookup_cached(lookup)?.map(|customer| Found {
                    customer,
                    offline: true,
                    issued_card: None,
                }))
            }
            Err(e) => Err(e.into()),
        }
    }
}
