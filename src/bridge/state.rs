//! What the bridge told the register about its last receipts, and what each request does
//! to them: open a receipt on the panel, wait for the cashier, close it once printed, take
//! it back (at the register's word, or when it never closes in time).
//!
//! An applied receipt is on the till's disk from the apply on (`store::applied`): after a
//! restart the bridge finds it there ([`Panel::kept`]) and answers `GET`, `close` and
//! `cancel` for it without the panel, which no longer has it; the close queues its sale
//! exactly once. One never closed in time goes to the manager's list «Неподтверждённые
//! чеки», where it is booked or dropped; a close that comes late books it.
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;

use super::http::Refusal;
use super::wire::{ErrorCode, LoyaltyResult, ReceiptStatus, State};
use super::{Panel, kept_result, loyalty_result};
use crate::checkout::{Action, Outcome, Problem, Withdrawal};
use crate::domain::fiscal::FiscalData;
use crate::domain::receipt::Receipt;
use crate::store::{KeptReceipt, KeptState};
use crate::terminal::{KeptClose, TerminalError};

/// How many receipts the bridge remembers, for repeated requests and late polls.
pub(super) const REMEMBERED: usize = 100;

const CANCELLED: &str = "the register or the cashier cancelled it";
const UNCONFIRMED: &str = "the register did not close it in time: it waits on the manager's list of unconfirmed receipts, or a late close books it";

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
    /// The operation id the register was told at the apply.
    operation_id: Option<String>,
    /// Read back from the till's store: the panel does not have it (the till restarted
    /// since the apply), the store settles it.
    on_disk: bool,
}

impl Entry {
    /// A receipt as the till's store keeps it.
    fn from_kept(kept: &KeptReceipt) -> Entry {
        let (state, reason) = match kept.state {
            KeptState::Applied => (State::Applied, None),
            KeptState::Closed | KeptState::Booked => (State::Closed, None),
            KeptState::Cancelled => (State::Cancelled, Some(CANCELLED.to_string())),
            KeptState::Unconfirmed => (State::Expired, Some(UNCONFIRMED.to_string())),
            KeptState::Dropped => (
                State::Expired,
                Some("the register never closed it and a manager dropped it".to_string()),
            ),
        };
        Entry {
            receipt: kept.receipt.clone(),
            state,
            result: Some(kept_result(kept)),
            reason,
            applied_at: None,
            withdrawing: None,
            operation_id: Some(kept.operation_id.clone()),
            on_disk: true,
        }
    }

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
    pub(super) panel: Arc<dyn Panel>,
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
                    entry.operation_id = Some(applied.operation_id.to_string());
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

    /// The receipt as the bridge knows it; one it does not remember, or one read back
    /// from the till's store, as the store has it now.
    fn find(&self, id: &str) -> Option<Entry> {
        let known = self
            .lock()
            .iter()
            .rev()
            .find(|e| e.receipt.id == id)
            .cloned();
        match known {
            Some(e) if !e.on_disk => Some(e),
            known => self.recall(id).or(known),
        }
    }

    /// Reads a receipt back from the till's store into the book.
    fn recall(&self, id: &str) -> Option<Entry> {
        let terminal = self.inner.panel.kept()?;
        let kept = match terminal.kept_receipt(id) {
            Ok(kept) => kept?,
            Err(e) => {
                tracing::warn!(receipt = %id, error = %e, "cannot read a kept receipt");
                return None;
            }
        };
        let entry = Entry::from_kept(&kept);
        let remembered = entry.clone();
        self.update(|book| {
            book.retain(|e| e.receipt.id != id);
            book.push_back(remembered);
            while book.len() > REMEMBERED {
                book.pop_front();
            }
        });
        Some(entry)
    }

    /// Settles a receipt read back from the store in the book.
    fn set_state(&self, id: &str, state: State, reason: Option<String>) {
        self.update(|book| {
            if let Some(e) = book.iter_mut().rev().find(|e| e.receipt.id == id) {
                e.state = state;
                e.reason = reason;
            }
        });
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
        // Applied before the till restarted: the register resumes it with a close or a
        // cancel; posting it again gets where it stands.
        if let Some(kept) = known
            .as_ref()
            .filter(|k| k.on_disk && k.state == State::Applied)
        {
            if kept.receipt == receipt {
                return Ok((StatusCode::OK, kept.status()));
            }
            return Err(Refusal::new(
                ErrorCode::Busy,
                format!(
                    "receipt {:?} was applied before the till restarted: close or cancel it first",
                    receipt.id
                ),
            ));
        }
        // Only a receipt on the panel holds it; one applied before a restart does not.
        if let Some(current) = self
            .lock()
            .iter()
            .rev()
            .find(|e| e.is_current() && !e.on_disk)
        {
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
                operation_id: None,
                on_disk: false,
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
    pub(super) async fn close(
        &self,
        id: &str,
        printed: Receipt,
        fiscal: Option<FiscalData>,
    ) -> Result<ReceiptStatus, Refusal> {
        let _one = self.inner.serial.lock().await;
        let entry = self.find(id).ok_or_else(|| Refusal::unknown(id))?;
        if entry.on_disk && entry.state == State::Applied {
            return self.close_kept(&entry, printed, fiscal);
        }
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
            State::Cancelled => return Err(Refusal::cancelled(&entry)),
            // Taken back for want of a close, so on the manager's list: the register
            // printed it after all, and its close books it (unless a manager dropped it).
            State::Expired if entry.operation_id.is_some() => {
                return self.close_kept(&entry, printed, fiscal);
            }
            State::Expired => return Err(Refusal::cancelled(&entry)),
        }
        if entry.state == State::Closed {
            return Ok(entry.status());
        }
        let action = Action::Close {
            receipt_id: id.to_string(),
            printed,
            fiscal,
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

    /// The close of a receipt the panel no longer has (the till restarted since the apply,
    /// or the register closes it late, from the manager's list): the store queues its sale,
    /// once.
    fn close_kept(
        &self,
        entry: &Entry,
        printed: Receipt,
        fiscal: Option<FiscalData>,
    ) -> Result<ReceiptStatus, Refusal> {
        let id = entry.receipt.id.as_str();
        let terminal = self
            .inner
            .panel
            .kept()
            .ok_or_else(|| Refusal::unknown(id))?;
        let operation_id = entry.operation_id.clone().unwrap_or_default();
        match terminal.close_kept(&operation_id, &printed, fiscal) {
            Ok(done) => {
                if let KeptClose::Queued(_) = done {
                    tracing::info!(receipt = %id, late = entry.state == State::Expired, "the register closed a kept receipt");
                }
                self.set_state(id, State::Closed, None);
                self.status(id)
            }
            Err(TerminalError::KeptChanged(difference)) => Err(Refusal::new(
                ErrorCode::ReceiptChanged,
                format!(
                    "the printed receipt is not the one the loyalty was applied to: {difference}"
                ),
            )),
            Err(TerminalError::KeptSettled { .. }) => {
                // Settled on disk (cancelled, or dropped by a manager): as the store has it.
                let entry = self.recall(id).ok_or_else(|| Refusal::unknown(id))?;
                Err(Refusal::cancelled(&entry))
            }
            Err(e) => Err(Refusal::from_problem(&Problem::from(e))),
        }
    }

    /// Takes back a receipt the panel no longer has, in the store.
    fn withdraw_kept(&self, entry: &Entry, why: Withdrawal) -> Result<ReceiptStatus, Refusal> {
        let id = entry.receipt.id.as_str();
        let terminal = self
            .inner
            .panel
            .kept()
            .ok_or_else(|| Refusal::unknown(id))?;
        let operation_id = entry.operation_id.clone().unwrap_or_default();
        let (settled, state, reason) = match why {
            Withdrawal::Register => (
                terminal.cancel_kept(&operation_id),
                State::Cancelled,
                "the register cancelled it".to_string(),
            ),
            Withdrawal::NoAnswer => (
                terminal.unconfirm_kept(&operation_id),
                State::Expired,
                UNCONFIRMED.to_string(),
            ),
        };
        match settled {
            Ok(true) => {
                self.set_state(id, state, Some(reason));
                self.status(id)
            }
            // Closed or settled meanwhile: say where it stands now.
            Ok(false) => {
                let entry = self.find(id).ok_or_else(|| Refusal::unknown(id))?;
                if entry.state == State::Closed {
                    Err(Refusal::new(
                        ErrorCode::AlreadyClosed,
                        format!("receipt {id:?} is closed: its operation is recorded"),
                    ))
                } else {
                    Ok(entry.status())
                }
            }
            Err(e) => Err(Refusal::from_problem(&Problem::from(e))),
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
        if entry.on_disk {
            return self.withdraw_kept(&entry, why);
        }
        let (state, reason) = match why {
            Withdrawal::Register => (State::Cancelled, "the register cancelled it".to_string()),
            Withdrawal::NoAnswer => (
                State::Expired,
                format!(
                    "the register did not close it within {} s: it waits on the manager's list of unconfirmed receipts, or a late close books it",
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
        // Receipts applied before the till restarted, which nobody waits for here: the
        // manager's list once they are overdue.
        if let Some(terminal) = self.inner.panel.kept() {
            let _one = self.inner.serial.lock().await;
            match terminal.unconfirm_overdue(self.inner.close_timeout) {
                Ok(ids) => {
                    for op in ids {
                        tracing::warn!(operation = %op, "an applied receipt was never closed: it goes to the manager's list");
                        self.update(|book| {
                            if let Some(e) = book
                                .iter_mut()
                                .find(|e| e.on_disk && e.operation_id.as_deref() == Some(&op))
                            {
                                e.state = State::Expired;
                                e.reason = Some(UNCONFIRMED.to_string());
                            }
                        });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot list the overdue applied receipts"),
            }
        }
    }
}
