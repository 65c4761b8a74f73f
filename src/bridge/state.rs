//! What the bridge told the register about its last receipts, and what each request does
//! to them: open a receipt on the panel, wait for the cashier, close it once printed, take
//! it back (at the register's word, or when it never closes in time).
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;

use super::Panel;
use super::http::Refusal;
use super::loyalty_result;
use super::wire::{ErrorCode, LoyaltyResult, ReceiptStatus, State};
use crate::checkout::{Action, Outcome, Problem, Withdrawal};
use crate::domain::receipt::Receipt;

/// How many receipts the bridge remembers, for repeated requests and late polls.
pub(super) const REMEMBERED: usize = 100;

/// One receipt the register handed over, as the bridge told it.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) receipt: Receipt,
    pub(super) state: State,
    result: Option<LoyaltyResult>,
    pub(super) reason: Option<String>,
    applied_at: Option<Instant>,
    /// Set while the bridge itself takes the receipt back: the state it ends in and why.
    withdrawing: Option<(State, String)>,
}

impl Entry {
    fn status(&self) -> ReceiptStatus {
        ReceiptStatus {
            id: self.receipt.id.clone(),
            kind: self.receipt.kind,
            state: self.state,
            result: self.result.clone(),
            reason: self.reason.clone(),
        }
    }

    fn is_current(&self) -> bool {
        matches!(self.state, State::Open | State::Applied)
    }
}

pub(super) struct Inner {
    panel: Arc<dyn Panel>,
    pub(super) key: String,
    pub(super) close_timeout: Duration,
    /// The last receipts, oldest first.
    book: Mutex<VecDeque<Entry>>,
    /// Bumped on every change, for the long polls.
    pub(super) changed: tokio::sync::watch::Sender<u64>,
    /// One mutating request at a time.
    pub(super) serial: tokio::sync::Mutex<()>,
    /// Set when the bridge stops: long polls answer at once instead of holding the stop.
    pub(super) stopping: AtomicBool,
}

/// The bridge's state and its HTTP routes. Cloning shares it.
#[derive(Clone)]
pub struct Bridge {
    pub(super) inner: Arc<Inner>,
}

impl Bridge {
    pub fn new(panel: Arc<dyn Panel>, key: String, close_timeout: Duration) -> Bridge {
        Bridge {
            inner: Arc::new(Inner {
                panel,
                key,
                close_timeout,
                book: Mutex::new(VecDeque::new()),
                changed: tokio::sync::watch::channel(0).0,
                serial: tokio::sync::Mutex::new(()),
                stopping: AtomicBool::new(false),
            }),
        }
    }

    /// What the cashier's side did with a receipt: the session's outcomes, in order.
    pub fn outcome(&self, outcome: &Outcome) {
        // A closed return names its sale, not the return receipt: it is the one applied
        // (one receipt at a time).
        let id = match outcome {
            Outcome::Applied(a) => Some(a.receipt.id.as_str()),
            Outcome::Sale { priced, .. } => Some(priced.receipt.id.as_str()),
            Outcome::Return { .. } => None,
            Outcome::Cancelled { receipt_id } => Some(receipt_id.as_str()),
        };
        self.update(|book| {
            let entry = match id {
                Some(id) => book.iter_mut().rev().find(|e| e.receipt.id == id),
                None => book.iter_mut().rev().find(|e| e.state == State::Applied),
            };
            let Some(entry) = entry else {
                return;
            };
            match outcome {
                Outcome::Applied(applied) if entry.state == State::Open => {
                    entry.state = State::Applied;
                    entry.result = Some(loyalty_result(applied));
                    entry.applied_at = Some(Instant::now());
                }
                Outcome::Sale { .. } | Outcome::Return { .. } if entry.state == State::Applied => {
                    entry.state = State::Closed;
                }
                Outcome::Cancelled { .. } if entry.is_current() => {
                    let (state, reason) = entry.withdrawing.take().unwrap_or((
                        State::Cancelled,
                        "the cashier cancelled the loyalty on the panel".into(),
                    ));
                    entry.state = state;
                    entry.reason = Some(reason);
                }
                _ => {}
            }
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Entry>> {
        self.inner.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn update<T>(&self, f: impl FnOnce(&mut VecDeque<Entry>) -> T) -> T {
        let out = f(&mut self.lock());
        self.inner.changed.send_modify(|n| *n = n.wrapping_add(1));
        out
    }

    fn find(&self, id: &str) -> Option<Entry> {
        self.lock()
            .iter()
            .rev()
            .find(|e| e.receipt.id == id)
            .cloned()
    }

    fn status(&self, id: &str) -> Result<ReceiptStatus, Refusal> {
        self.find(id)
            .map(|e| e.status())
            .ok_or_else(|| Refusal::unknown(id))
    }

    /// `POST /v1/receipts`.
    pub(super) async fn open(
        &self,
        receipt: Receipt,
    ) -> Result<(StatusCode, ReceiptStatus), Refusal> {
        let _one = self.inner.serial.lock().await;
        let known = self.find(&receipt.id);
        if let Some(current) = self.lock().iter().rev().find(|e| e.is_current()) {
            if current.receipt == receipt {
                return Ok((StatusCode::OK, current.status()));
            }
            return Err(Refusal::new(
                ErrorCode::Busy,
                format!(
                    "receipt {:?} is open at the till: close or cancel it first",
                    current.receipt.id
                ),
            ));
        }
        if let Some(known) = known {
            if known.state == State::Closed {
                return Err(Refusal::new(
                    ErrorCode::AlreadyClosed,
                    format!("receipt {:?} is already closed", receipt.id),
                ));
            }
            if known.receipt.kind != receipt.kind {
                return Err(Refusal::new(
                    ErrorCode::IdReused,
                    format!("receipt id {:?} was used for another receipt", receipt.id),
                ));
            }
            // A cancelled or expired receipt may be handed over again.
        }
        // In the book before the panel hears of it: the cashier's outcomes find it.
        self.update(|book| {
            book.retain(|e| e.receipt.id != receipt.id);
            book.push_back(Entry {
                receipt: receipt.clone(),
                state: State::Open,
                result: None,
                reason: None,
                applied_at: None,
                withdrawing: None,
            });
            while book.len() > REMEMBERED {
                book.pop_front();
            }
        });
        let id = receipt.id.clone();
        if let Err(problem) = self.inner.panel.call(Action::OpenReceipt(receipt)).await {
            self.update(|book| book.retain(|e| e.receipt.id != id));
            return Err(Refusal::from_problem(&problem));
        }
        tracing::info!(receipt = %id, "the register handed over a receipt");
        Ok((StatusCode::CREATED, self.status(&id)?))
    }

    /// `GET /v1/receipts/{id}?wait_s=N`.
    pub(super) async fn wait(&self, id: &str, wait_s: u32) -> Result<ReceiptStatus, Refusal> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(wait_s.into());
        let mut changed = self.inner.changed.subscribe();
        loop {
            let status = self.status(id)?;
            if status.state != State::Open || self.inner.stopping.load(Ordering::SeqCst) {
                return Ok(status);
            }
            match tokio::time::timeout_at(deadline, changed.changed()).await {
                Ok(Ok(())) => {}
                _ => return Ok(status),
            }
        }
    }

    /// `POST /v1/receipts/{id}/close`.
    pub(super) async fn close(&self, id: &str, printed: Receipt) -> Result<ReceiptStatus, Refusal> {
        let _one = self.inner.serial.lock().await;
        let entry = self.find(id).ok_or_else(|| Refusal::unknown(id))?;
        match entry.state {
            // An applied receipt is compared by the panel, so that the cashier sees the
            // difference too (`Problem::ReceiptChanged` stays on the screen).
            State::Applied => {}
            State::Closed => {
                if let Some(difference) = entry.receipt.difference(&printed) {
                    return Err(Refusal::new(
                        ErrorCode::ReceiptChanged,
                        format!(
                            "the printed receipt is not the one the loyalty was applied to: {difference}"
                        ),
                    ));
                }
            }
            State::Open => {
                return Err(Refusal::new(
                    ErrorCode::NotApplied,
                    format!("the cashier has not applied receipt {id:?} yet"),
                ));
            }
            State::Cancelled | State::Expired => return Err(Refusal::cancelled(&entry)),
        }
        if entry.state == State::Closed {
            return Ok(entry.status());
        }
        let action = Action::Close {
            receipt_id: id.to_string(),
            printed,
        };
        match self.inner.panel.call(action).await {
            Ok(()) => {
                let status = self.status(id)?;
                tracing::info!(receipt = %id, state = ?status.state, "the register closed a receipt");
                Ok(status)
            }
            Err(Problem::NoSuchReceipt) => {
                // The panel no longer has it: the cashier cancelled it a moment ago.
                let entry = self.find(id).ok_or_else(|| Refusal::unknown(id))?;
                Err(Refusal::cancelled(&entry))
            }
            Err(problem) => Err(Refusal::from_problem(&problem)),
        }
    }

    /// `POST /v1/receipts/{id}/cancel`, and the expiry of a receipt never closed.
    pub(super) async fn withdraw(
        &self,
        id: &str,
        why: Withdrawal,
    ) -> Result<ReceiptStatus, Refusal> {
        let entry = self.find(id).ok_or_else(|| Refusal::unknown(id))?;
        match entry.state {
            State::Closed => {
                return Err(Refusal::new(
                    ErrorCode::AlreadyClosed,
                    format!("receipt {id:?} is closed: its operation is recorded"),
                ));
            }
            State::Cancelled | State::Expired => return Ok(entry.status()),
            State::Open | State::Applied => {}
        }
        let (state, reason) = match why {
            Withdrawal::Register => (State::Cancelled, "the register cancelled it".to_string()),
            Withdrawal::NoAnswer => (
                State::Expired,
                format!(
                    "the register did not close it within {} s",
                    self.inner.close_timeout.as_secs()
                ),
            ),
        };
        self.update(|book| {
            if let Some(e) = book.iter_mut().rev().find(|e| e.receipt.id == id) {
                e.withdrawing = Some((state, reason.clone()));
            }
        });
        let action = Action::Withdraw {
            receipt_id: id.to_string(),
            why,
        };
        let answer = self.inner.panel.call(action).await;
        // Whether the panel still had it or not, nothing is recorded for it now.
        self.update(|book| {
            if let Some(e) = book.iter_mut().rev().find(|e| e.receipt.id == id)
                && e.is_current()
            {
                e.state = state;
                e.reason = Some(reason);
                e.withdrawing = None;
            }
        });
        match answer {
            Ok(()) | Err(Problem::NoSuchReceipt) => {}
            Err(problem) => {
                tracing::warn!(receipt = %id, %problem, "the panel refused to let a receipt go")
            }
        }
        tracing::info!(receipt = %id, ?why, "a receipt was taken back");
        self.status(id)
    }

    /// Expires the applied receipt the register has not closed in time.
    pub(super) async fn expire_overdue(&self) {
        let overdue = self.lock().iter().find_map(|e| {
            (e.state == State::Applied
                && e.applied_at
                    .is_some_and(|at| at.elapsed() >= self.inner.close_timeout))
            .then(|| e.receipt.id.clone())
        });
        if let Some(id) = overdue {
            let _one = self.inner.serial.lock().await;
            tracing::warn!(receipt = %id, "the register never closed an applied receipt");
            if let Err(e) = self.withdraw(&id, Withdrawal::NoAnswer).await {
                tracing::warn!(receipt = %id, error = %e.message, "cannot expire a receipt");
            }
        }
    }
}
