//! Where the time comes from: the system, or a test's hand. The server and the terminal
//! both read the clock through [`Clock`], so tests can move time (SMS expiry, bonus
//! activation, the offline horizon) without sleeping.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

/// Where the clock comes from: the system, or a test's hand.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock tests move by hand.
#[derive(Default)]
pub struct ManualClock(Mutex<Option<DateTime<Utc>>>);

impl ManualClock {
    pub fn at(t: DateTime<Utc>) -> Arc<ManualClock> {
        Arc::new(ManualClock(Mutex::new(Some(t))))
    }
    pub fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().expect("clock lock") = Some(t);
    }
    pub fn advance(&self, d: chrono::Duration) {
        let mut g = self.0.lock().expect("clock lock");
        *g = Some(g.unwrap_or_else(Utc::now) + d);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.lock().expect("clock lock").unwrap_or_else(Utc::now)
    }
}
