//! The operations batch: every operation made at a till, applied at most once, forever.
//!
//! A batch is applied in the terminal's sequence order, in chunks: each chunk is one
//! transaction (one commit, one fsync, rather than one per operation), and each operation
//! runs in a savepoint of its own inside it, so a rejected one leaves nothing but its
//! refusal. The operation's record (with the answer it got) commits together with
//! everything the operation did, so a crash keeps both or neither, and a resend after a lost
//! answer finds the record and gets the original answer back as `duplicate`. A rejected
//! operation is final: its record is kept too, so a resend cannot apply it later.
//!
//! With several server processes on one database: a chunk first locks every customer it
//! will touch, in sorted id order (no deadlocks between chunks), so two tills spending the
//! same bonuses at once are serialised and the second sees the first's spend. An operation
//! id becomes applied only through the store's unique key
//! ([`store::OperationTx::record_operation`]); when another process recorded it first, this
//! chunk's effects of it are rolled back to the savepoint and the original answer is
//! returned. A chunk that conflicts as a whole (serialization failure, deadlock) is run again
//! by [`store::write`].
//!
//! Engine-free: everything goes through the store seam.

use chrono::{DateTime, Duration, Utc};

use super::auth::Terminal;
use super::crypto::lookup_hash;
use super::customers::{self, Customer};
use super::ledger::{self, Grant, LedgerError, Source};
use super::store::{self, CustomerKey, NewOperation, ReadTx, Store, StoreError, Tx};
use crate::domain::money::Bonus;
use crate::domain::rules::{BonusGrant, Rules};
use crate::protocol::server::*;

/// Operations committed together. Reads never wait for the writer (SQLite's readers are
/// WAL connections of their own), so a chunk can be a whole batch's worth.
pub const CHUNK: usize = 100;

/// A refusal of one operation: final, with a stable reason.
struct Reject(RejectReason, String);

impl From<LedgerError> for Reject {
    fn from(e: LedgerError) -> Reject {
        match e {
            LedgerError::Insufficient { available } => Reject(
                RejectReason::InsufficientBalance,
                format!(
                    "not enough bonuses: {} available",
                    Bonus::from_kopecks(available)
                ),
            ),
            other => Reject(RejectReason::Invalid, other.to_string()),
        }
    }
}

/// Either a refusal, or a store failure that aborts the chunk (and is retried, by the
/// store or by the terminal).
enum Failure {
    Reject(Reject),
    Store(StoreError),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        Failure::Store(e)
    }
}

impl From<Reject> for Failure {
    fn from(r: Reject) -> Failure {
        Failure::Reject(r)
    }
}

impl From<LedgerError> for Failure {
    fn from(e: LedgerError) -> Failure {
        match e {
            LedgerError::Store(d) => Failure::Store(d),
            other => Failure::Reject(other.into()),
        }
    }
}

fn reject<T>(reason: RejectReason, message: impl Into<String>) -> Result<T, Failure> {
    Err(Failure::Reject(Reject(reason, message.into())))
}

/// Applies a batch in sequence order and answers each operation. `now` is read once per
/// chunk.
pub fn apply_batch(
    store: &dyn Store,
    rules: &Rules,
    terminal: &Terminal,
    mut operations: Vec<Operation>,
    now: impl Fn() -> DateTime<Utc>,
) -> Result<Vec<OperationResult>, StoreError> {
    operations.sort_by_key(|o| o.seq);
    let mut results = Vec::with_capacity(operations.len());
    for chunk in operations.chunks(CHUNK) {
        let now = now();
        let answers = store::write(store, |tx| apply_chunk(tx, rules, terminal, chunk, now))?;
        results.extend(answers);
    }
    Ok(results)
}

/// One chunk in one transaction: lock, apply each operation, move the touched customers to
/// the end of the feed.
fn apply_chunk(
    tx: &mut dyn Tx,
    rules: &Rules,
    terminal: &Terminal,
    chunk: &[Operation],
    now: DateTime<Utc>,
) -> Result<Vec<OperationResult>, StoreError> {
    let lock = customers_to_lock(tx, rules, terminal, chunk)?;
    tx.lock_customers(&lock.iter().map(String::as_str).collect::<Vec<_>>())?;
    let mut touched = Vec::new();
    let mut answers = Vec::with_capacity(chunk.len());
    for op in chunk {
        answers.push(apply_one(tx, rules, terminal, op, now, &mut touched)?);
    }
    // The feed counter is taken last, so the chunks of other processes wait for it only
    // for the commit.
    tx.bump_feed(&touched.iter().map(String::as_str).collect::<Vec<_>>())?;
    Ok(answers)
}

/// Every customer whose bonuses the chunk may change: the customers its operations name,
/// the owners of the sales its returns return, and the referrers its sales may reward.
/// Read before any lock; a customer missed here is locked when the ledger first touches
/// them (a deadlock that could cause is a conflict the whole chunk is retried on).
fn customers_to_lock(
    tx: &mut dyn Tx,
    rules: &Rules,
    terminal: &Terminal,
    chunk: &[Operation],
) -> Result<Vec<String>, StoreError> {
    let levels = rules.referral.as_ref().map_or(0, |r| r.levels.len());
    let mut ids = Vec::new();
    for op in chunk {
        match &op.body {
            OperationBody::Sale { customer_id, .. } => {
                ids.push(customer_id.clone());
                let mut next = tx
                    .customer(CustomerKey::Id(customer_id))?
                    .and_then(|c| c.referrer_id);
                for _ in 0..levels {
                    let Some(id) = next else { break };
                    next = tx
                        .customer(CustomerKey::Id(&id))?
                        .and_then(|c| c.referrer_id);
                    ids.push(id);
                }
            }
            OperationBody::Return { receipt, sale } => {
                let kept = match (sale, &receipt.original_receipt) {
                    (Some(s), _) => tx.sale(&s.terminal_id, &s.receipt_id)?,
                    (None, Some(original)) => tx.sale(&terminal.id, original)?,
                    (None, None) => None,
                };
                if let Some(kept) = kept {
                    ids.push(kept.customer_id);
                }
            }
            OperationBody::ManualChange { customer_id, .. }
            | OperationBody::Consent { customer_id, .. }
            | OperationBody::VerifyPhone { customer_id, .. } => ids.push(customer_id.clone()),
            OperationBody::Registration { .. } | OperationBody::Audit { .. } => {}
        }
    }
    // A record merged into another (in the back office) is applied to the one kept.
    let mut kept = Vec::new();
    for id in &ids {
        if let Some(into) = merged_into(tx, id)? {
            kept.push(into);
        }
    }
    ids.extend(kept);
    Ok(ids)
}

/// The record a merged record now lives in (following merges of merges), or `None` for a
/// record that was not merged.
fn merged_into(
    r: &mut dyn crate::server::store::ReadTx,
    id: &str,
) -> Result<Option<String>, StoreError> {
    let mut found = None;
    let mut at = id.to_string();
    // A merge chain is short; the bound only guards against a cycle in bad data.
    for _ in 0..8 {
        match r.customer_profile(&at)?.and_then(|p| p.merged_into) {
            Some(into) => {
                found = Some(into.clone());
                at = into;
            }
            None => break,
        }
    }
    Ok(found)
}

/// The answer to an operation seen before: the original one, marked `duplicate`.
fn duplicate(op: &Operation, stored: &str) -> Result<OperationResult, StoreError> {
    let original: OperationResult = serde_json::from_str(stored)
        .map_err(|e| StoreError::Corrupt(format!("a stored answer does not parse: {e}")))?;
    Ok(OperationResult {
        id: op.id.clone(),
        status: OperationStatus::Duplicate,
        reason: original.reason,
        message: original.message.clone(),
        answer: Some(serde_json::to_value(&original).unwrap_or_default()),
    })
}

/// The original answer of an operation another transaction recorded while this one was
/// applying it.
fn recorded_elsewhere(tx: &mut dyn Tx, op: &Operation) -> Result<OperationResult, StoreError> {
    tx.rollback_savepoint()?;
    let stored = tx.operation_answer(&op.id)?.ok_or_else(|| {
        StoreError::Conflict("an operation id was taken and then vanished".into())
    })?;
    duplicate(op, &stored)
}

fn apply_one(
    tx: &mut dyn Tx,
    rules: &Rules,
    terminal: &Terminal,
    op: &Operation,
    now: DateTime<Utc>,
    touched: &mut Vec<String>,
) -> Result<OperationResult, StoreError> {
    // Seen before, from any terminal (or earlier in this chunk): the original answer.
    if let Some(answer) = tx.operation_answer(&op.id)? {
        return duplicate(op, &answer);
    }
    tx.savepoint()?;
    let mut op_touched = Vec::new();
    let outcome = {
        let mut cx = Cx {
            tx: &mut *tx,
            rules,
            terminal,
            op,
            now,
            touched: &mut op_touched,
        };
        cx.validate().and_then(|()| cx.apply())
    };
    let result = match outcome {
        Ok(answer) => OperationResult {
            id: op.id.clone(),
            status: OperationStatus::Applied,
            reason: None,
            message: String::new(),
            answer: Some(answer),
        },
        Err(Failure::Store(e)) => return Err(e),
        Err(Failure::Reject(Reject(reason, message))) => {
            // Nothing the operation did stays; only the refusal is recorded.
            tx.rollback_savepoint()?;
            let r = OperationResult {
                id: op.id.clone(),
                status: OperationStatus::Rejected,
                reason: Some(reason),
                message,
                answer: None,
            };
            tx.savepoint()?;
            if !record(tx, terminal, op, &r, now)? {
                return recorded_elsewhere(tx, op);
            }
            tx.release_savepoint()?;
            tracing::info!(operation = %op.id, ?reason, "operation rejected");
            return Ok(r);
        }
    };
    if !record(tx, terminal, op, &result, now)? {
        return recorded_elsewhere(tx, op);
    }
    tx.release_savepoint()?;
    touched.extend(op_touched);
    Ok(result)
}

fn record(
    tx: &mut dyn Tx,
    terminal: &Terminal,
    op: &Operation,
    result: &OperationResult,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let answer = serde_json::to_string(result)
        .map_err(|e| StoreError::Other(format!("an answer does not serialize: {e}")))?;
    tx.record_operation(&NewOperation {
        id: &op.id,
        terminal_id: &terminal.id,
        seq: op.seq as i64,
        kind: op.body.kind(),
        received_at: now,
        rejected: result.status == OperationStatus::Rejected,
        answer: &answer,
    })
}

/// One operation being applied.
struct Cx<'a> {
    tx: &'a mut dyn Tx,
    rules: &'a Rules,
    terminal: &'a Terminal,
    op: &'a Operation,
    now: DateTime<Utc>,
    /// Customers whose cached copies are stale once this operation commits.
    touched: &'a mut Vec<String>,
}

fn burn_date(from: DateTime<Utc>, days: Option<u32>) -> Option<DateTime<Utc>> {
    days.map(|d| from + Duration::days(i64::from(d)))
}

/// The first eight characters of a receipt id, for the history line.
fn short_id(id: &str) -> String {
    id.chars().take(8).collect()
}

struct RegistrationInput<'a> {
    customer_id: &'a str,
    phone: &'a crate::domain::phone::Phone,
    verification: Option<&'a Secret>,
    questionnaire: &'a Questionnaire,
    consent_processing: bool,
    consent_advertising: bool,
    card: Option<&'a CardIssue>,
}

impl Cx<'_> {
    fn validate(&mut self) -> Result<(), Failure> {
        let op = self.op;
        if uuid::Uuid::parse_str(&op.id).is_err() {
            return reject(RejectReason::Invalid, "the operation id is not a UUID");
        }
        if op.seq == 0 || op.seq > i64::MAX as u64 {
            return reject(
                RejectReason::Invalid,
                "sequence numbers run from 1 to 9223372036854775807",
            );
        }
        if self.tx.sequence_used(&self.terminal.id, op.seq as i64)? {
            return reject(
                RejectReason::SequenceReused,
                "another operation of this terminal already has this sequence number",
            );
        }
        Ok(())
    }

    fn apply(&mut self) -> Result<serde_json::Value, Failure> {
        let op = self.op;
        match &op.body {
            OperationBody::Sale {
                customer_id,
                receipt,
                spend,
                verification,
                fiscal,
                hold,
            } => self.sale(
                customer_id,
                receipt,
                *spend,
                verification.as_ref(),
                hold.as_deref(),
                fiscal.as_ref(),
            ),
            OperationBody::Return { receipt, sale } => self.return_(receipt, sale.as_ref()),
            OperationBody::Registration {
                customer_id,
                phone,
                verification,
                questionnaire,
                consent_processing,
                consent_advertising,
                card,
            } => self.register(RegistrationInput {
                customer_id,
                phone,
                verification: verification.as_ref(),
                questionnaire,
                consent_processing: *consent_processing,
                consent_advertising: *consent_advertising,
                card: card.as_ref(),
            }),
            OperationBody::Consent {
                customer_id,
                processing,
                advertising,
            } => self.consent(customer_id, *processing, *advertising),
            OperationBody::VerifyPhone {
                customer_id,
                phone,
                verification,
            } => self.verify_phone(customer_id, phone, verification),
            OperationBody::Audit {
                event,
                customer_id,
                reason,
            } => self.audit(*event, customer_id.as_deref(), reason),
            OperationBody::ManualChange {
                customer_id,
                amount,
                reason,
                lifetime_days,
            } => self.manual_change(customer_id, *amount, reason, *lifetime_days),
        }
    }

    /// The customer an operation names; an operation queued for a record that was merged
    /// since applies to the record kept, so nothing a till sold or gave is lost.
    fn customer(&mut self, id: &str) -> Result<Customer, Failure> {
        let id = match merged_into(self.tx, id)? {
            Some(into) => into,
            None => id.to_string(),
        };
        self.tx.customer(CustomerKey::Id(&id))?.map_or_else(
            || reject(RejectReason::CustomerNotFound, "no customer with this id"),
            Ok,
        )
    }

    fn touch(&mut self, customer_id: &str) {
        self.touched.push(customer_id.to_string());
    }

    fn grant_bonus(
        &mut self,
        customer_id: &str,
        g: &BonusGrant,
        source: Source,
        description: &str,
    ) -> Result<(), Failure> {
        let amount = g.amount.kopecks();
        if amount > 0 {
            ledger::grant(
                self.tx,
                &Grant {
                    customer_id,
                    amount,
                    source,
                    description: description.to_string(),
                    active_from: self.now,
                    burns_at: burn_date(self.now, g.lifetime_days),
                    operation_id: Some(&self.op.id),
                    actor: Some(&self.op.cashier),
                },
                self.now,
            )?;
        }
        Ok(())
    }
}

mod manager;
mod registration;
mod returns;
mod sale;

/// Customers changed after `since`, with only what a terminal may keep.
pub fn customer_feed(
    r: &mut dyn ReadTx,
    terminal: &Terminal,
    since: i64,
    limit: i64,
    now: DateTime<Utc>,
) -> Result<CustomerFeed, StoreError> {
    {
        let key = r.lookup_key(&terminal.store_id)?.ok_or_else(|| {
            StoreError::Corrupt(format!("store {} has no lookup key", terminal.store_id))
        })?;
        let (rows, remaining) = r.feed(since, limit, now)?;
        let mut out = Vec::with_capacity(rows.len());
        let mut cursor = since;
        for row in rows {
            let c = row.customer;
            cursor = row.seq;
            if c.gone {
                // Only that it is gone: nothing of the person goes to the till.
                out.push(FeedCustomer {
                    id: c.id,
                    phone_hash: String::new(),
                    card_hash: None,
                    phone_masked: String::new(),
                    name: String::new(),
                    card_status: String::new(),
                    phone_verified: false,
                    balance: Bonus::ZERO,
                    pending: Bonus::ZERO,
                    seq: row.seq,
                    consent_processing: false,
                    consent_advertising: false,
                    gone: true,
                });
                continue;
            }
            out.push(FeedCustomer {
                phone_hash: lookup_hash(&key, &c.phone),
                card_hash: c.card_number.as_deref().map(|n| lookup_hash(&key, n)),
                phone_masked: customers::masked_phone(&c.phone),
                name: customers::short_name(c.first_name.as_deref(), c.last_name.as_deref()),
                card_status: c.card_status,
                phone_verified: c.phone_verified,
                balance: Bonus::from_kopecks(row.balance.active),
                pending: Bonus::from_kopecks(row.balance.pending),
                seq: row.seq,
                consent_processing: c.consent_processing,
                consent_advertising: c.consent_advertising,
                gone: false,
                id: c.id,
            });
        }
        Ok(CustomerFeed {
            more: remaining > out.len() as i64,
            remaining,
            cursor,
            customers: out,
        })
    }
}
