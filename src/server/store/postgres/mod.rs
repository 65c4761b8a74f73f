//! PostgreSQL engine (being written).
use super::{Engine, ReadTx, Store, StoreError, Tx};

pub struct PgStore;

impl PgStore {
    pub fn open(_url: &str) -> Result<PgStore, StoreError> {
        Err(StoreError::Setup("PostgreSQL is not built yet".into()))
    }
}

impl Store for PgStore {
    fn engine(&self) -> Engine {
        Engine::Postgres
    }
    fn begin(&self) -> Result<Box<dyn Tx + '_>, StoreError> {
        Err(StoreError::Setup("PostgreSQL is not built yet".into()))
    }
    fn begin_read(&self) -> Result<Box<dyn ReadTx + '_>, StoreError> {
        Err(StoreError::Setup("PostgreSQL is not built yet".into()))
    }
}

/// The URL without a password.
pub fn redacted(url: &str) -> String {
    url.to_string()
}
