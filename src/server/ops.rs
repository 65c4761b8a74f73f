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
//! id becomes applied only through the store's unique key ([`Tx::record_operation`]); when
//! another process recorded it first, this chunk's effects of it are rolled back to the
//! savepoint and the original answer is returned. A chunk that conflicts as a whole
//! (serialization failure, deadlock) is run again by [`store::write`].
//!
//! Engine-free: everything goes through the store seam.

use chrono::{DateTime, Duration, Utc};

use super::auth::{self, Terminal};
use super::crypto::lookup_hash;
use super::customers::{self, Customer};
use super::ledger::{self, Grant, LedgerError, Source, Spend};
use super::sms;
use super::store::{
    self, CustomerKey, NewAudit, NewConsent, NewCustomer, NewOperation, NewSale, ReadTx, Store,
    StoreError, Tx,
};
use crate::domain::calc::{CalcError, CustomerState, calculate};
use crate::domain::card::{CardFormat, CardNumber, VirtualPrefix, generate_virtual};
use crate::domain::money::{Bonus, Money, round_half_up};
use crate::domain::receipt::{Receipt, ReceiptKind};
use crate::domain::returns::{ReturnError, Returned, Sale, compute_return};
use crate::domain::rules::{BonusGrant, Rules, Threshold};
use crate::domain::status::status_after_sale_by;
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
            OperationBody::Return { receipt } => {
                if let Some(original) = &receipt.original_receipt
                    && let Some(sale) = tx.sale(&terminal.id, original)?
                {
                    ids.push(sale.customer_id);
                }
            }
            OperationBody::ManualChange { customer_id, .. }
            | OperationBody::Consent { customer_id, .. }
            | OperationBody::VerifyPhone { customer_id, .. } => ids.push(customer_id.clone()),
            OperationBody::Registration { .. } | OperationBody::Audit { .. } => {}
        }
    }
    Ok(ids)
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
            } => self.sale(customer_id, receipt, *spend, verification.as_ref()),
            OperationBody::Return { receipt } => self.return_(receipt),
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
                advertising,
            } => self.consent(customer_id, *advertising),
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

    fn customer(&mut self, id: &str) -> Result<Customer, Failure> {
        self.tx.customer(CustomerKey::Id(id))?.map_or_else(
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

    fn sale(
        &mut self,
        customer_id: &str,
        receipt: &Receipt,
        spend: Bonus,
        verification: Option<&Secret>,
    ) -> Result<serde_json::Value, Failure> {
        let (rules, op, now) = (self.rules, self.op, self.now);
        let c = self.customer(customer_id)?;
        if receipt.kind != ReceiptKind::Sale {
            return reject(RejectReason::Invalid, "a sale carries a sale receipt");
        }
        // Registers number receipts per device: receipt "1" of two tills is two sales.
        if self.tx.sale(&self.terminal.id, &receipt.id)?.is_some() {
            return reject(
                RejectReason::Invalid,
                "this till already sold a receipt with this number",
            );
        }
        let balance = self.tx.balance(&c.id, now)?;
        if !spend.is_zero() {
            if !c.phone_verified {
                return reject(
                    RejectReason::VerificationRequired,
                    "the customer's phone is not verified: they may accrue but not spend",
                );
            }
            if let Some(limit) = rules.verification.code_to_spend_over
                && spend > limit
            {
                let phone = crate::domain::phone::Phone::parse(&c.phone).map_err(|_| {
                    Reject(RejectReason::Invalid, "stored phone does not parse".into())
                })?;
                let ok = match verification {
                    Some(v) => sms::consume_verification(
                        self.tx,
                        v.expose(),
                        &phone,
                        sms::Purpose::Spend,
                        now,
                    )?,
                    None => false,
                };
                if !ok {
                    return reject(
                        RejectReason::VerificationRequired,
                        format!("a spend above {limit} needs a fresh SMS code"),
                    );
                }
            }
        }
        let state = CustomerState {
            card: c.card_status.clone(),
            balance: Bonus::from_kopecks(balance.active),
            purchases_sum: Money::ZERO,
            purchases_count: 0,
            can_spend: c.phone_verified,
        };
        let calc = calculate(rules, &state, receipt, spend).map_err(|e| match e {
            CalcError::SpendAboveMax { .. } => {
                Reject(RejectReason::InsufficientBalance, e.to_string())
            }
            CalcError::SpendNotMultiple { .. } | CalcError::NegativeSpend => {
                Reject(RejectReason::SpendNotAllowed, e.to_string())
            }
            other => Reject(RejectReason::Invalid, other.to_string()),
        })?;
        let card = rules
            .card(&c.card_status)
            .ok_or_else(|| Reject(RejectReason::Invalid, "unknown card status".into()))?;
        if !calc.spent.is_zero() {
            ledger::spend(
                self.tx,
                &Spend {
                    customer_id: &c.id,
                    amount: calc.spent.kopecks(),
                    source: Source::Purchase,
                    description: &format!(
                        "Списание при оплате покупки (чек {})",
                        short_id(&receipt.id)
                    ),
                    operation_id: Some(&op.id),
                    actor: Some(&op.cashier),
                },
                now,
            )?;
        }
        let at = op.at.min(now);
        let active_from = at + Duration::days(i64::from(card.activate_after_days));
        if !calc.accrued.is_zero() {
            ledger::grant(
                self.tx,
                &Grant {
                    customer_id: &c.id,
                    amount: calc.accrued.kopecks(),
                    source: Source::Purchase,
                    description: format!("Начисление за покупку (чек {})", short_id(&receipt.id)),
                    active_from,
                    burns_at: burn_date(active_from, card.burn_after_days),
                    operation_id: Some(&op.id),
                    actor: Some(&op.cashier),
                },
                now,
            )?;
        }
        let first_purchase = !self.tx.has_purchases(&c.id)?;
        if first_purchase && let Some(gift) = &rules.first_purchase_gift {
            self.grant_bonus(
                &c.id,
                &gift.bonus,
                Source::FirstPurchase,
                "Подарок за первую покупку",
            )?;
        }
        self.tx.insert_purchase(&c.id, at, calc.to_pay.kopecks())?;
        self.referral_rewards(&c, calc.to_pay)?;
        let upgraded = self.upgrade_status(&c)?;
        let sale = Sale::from_calculation(receipt, &calc);
        let sale = serde_json::to_string(&sale)
            .map_err(|e| StoreError::Other(format!("a sale does not serialize: {e}")))?;
        let kept = self.tx.insert_sale(&NewSale {
            terminal_id: &self.terminal.id,
            receipt_id: &receipt.id,
            operation_id: &op.id,
            customer_id: &c.id,
            at,
            sale: &sale,
        })?;
        if !kept {
            return reject(
                RejectReason::Invalid,
                "this till already sold a receipt with this number",
            );
        }
        self.touch(&c.id);
        Ok(
            serde_json::json!({ "calculation": calc, "card_status": upgraded.unwrap_or(c.card_status) }),
        )
    }

    /// Pays each referrer up the chain their level's percent of the referee's ruble payment,
    /// while the referee is within `pay_for_days` of registering.
    fn referral_rewards(&mut self, referee: &Customer, paid: Money) -> Result<(), Failure> {
        let (rules, now) = (self.rules, self.now);
        let Some(referral) = &rules.referral else {
            return Ok(());
        };
        if let Some(days) = referral.pay_for_days
            && now > referee.registered_at + Duration::days(i64::from(days))
        {
            return Ok(());
        }
        let mut next = referee.referrer_id.clone();
        for level in &referral.levels {
            let Some(id) = next else { break };
            let Some(referrer) = self.tx.customer(CustomerKey::Id(&id))? else {
                break;
            };
            let reward = round_half_up(level.percent.of(paid.amount()), rules.bonus_rounding.dp());
            let amount = Bonus::new(reward).kopecks();
            if amount > 0 {
                ledger::grant(
                    self.tx,
                    &Grant {
                        customer_id: &referrer.id,
                        amount,
                        source: Source::Referral,
                        description: "Бонусы за покупку приглашённого друга".into(),
                        active_from: now,
                        burns_at: None,
                        operation_id: Some(&self.op.id),
                        actor: None,
                    },
                    now,
                )?;
                self.touch(&referrer.id);
            }
            next = referrer.referrer_id.clone();
        }
        Ok(())
    }

    /// Raises the card status right after the sale that crosses its threshold.
    fn upgrade_status(&mut self, c: &Customer) -> Result<Option<String>, Failure> {
        let (rules, now) = (self.rules, self.now);
        // Each threshold is one indexed sum over the purchases in its window (returns count
        // against the sum, not the count), never the customer's whole history in memory.
        let mut failed = None;
        let tx = &mut *self.tx;
        let next = status_after_sale_by(rules, &c.card_status, |t| {
            let since = t.within_days().map(|d| now - Duration::days(i64::from(d)));
            match tx.purchase_totals(&c.id, since, now) {
                Ok(totals) => match t {
                    Threshold::PurchasesSum { sum: need, .. } => {
                        Money::from_kopecks(totals.sum) >= *need
                    }
                    Threshold::PurchasesCount { count: need, .. } => {
                        totals.count >= i64::from(*need)
                    }
                },
                Err(e) => {
                    failed = Some(e);
                    false
                }
            }
        });
        if let Some(e) = failed {
            return Err(e.into());
        }
        match next {
            Some(card) => {
                self.tx.set_card_status(&c.id, &card.name)?;
                Ok(Some(card.name.clone()))
            }
            None => Ok(None),
        }
    }

    fn return_(&mut self, receipt: &Receipt) -> Result<serde_json::Value, Failure> {
        let (rules, op, now) = (self.rules, self.op, self.now);
        receipt
            .validate()
            .map_err(|e| Reject(RejectReason::Invalid, format!("receipt.{e}")))?;
        let original = receipt.original_receipt.clone().unwrap_or_default();
        let Some(row) = self.tx.sale(&self.terminal.id, &original)? else {
            return reject(
                RejectReason::SaleNotFound,
                "the server has no sale of this till with this receipt number",
            );
        };
        let sale: Sale = serde_json::from_str(&row.sale)
            .map_err(|e| Reject(RejectReason::Invalid, format!("stored sale: {e}")))?;
        let mut so_far: Returned = serde_json::from_str(&row.returned).unwrap_or_default();
        let lines = sale
            .lines_of(receipt)
            .map_err(|e| Reject(RejectReason::Invalid, e.to_string()))?;
        let result = compute_return(&sale, &so_far, &lines).map_err(|e| match e {
            ReturnError::TooMuch { .. } => Reject(RejectReason::ReturnExceedsSale, e.to_string()),
            other => Reject(RejectReason::Invalid, other.to_string()),
        })?;
        let c = self.customer(&row.customer_id)?;
        let card = rules.card(&c.card_status);
        if !result.refunded.is_zero() {
            ledger::grant(
                self.tx,
                &Grant {
                    customer_id: &c.id,
                    amount: result.refunded.kopecks(),
                    source: Source::ReturnRefund,
                    description: format!("Возврат списанных бонусов (чек {})", short_id(&original)),
                    active_from: now,
                    burns_at: burn_date(now, card.and_then(|c| c.burn_after_days)),
                    operation_id: Some(&op.id),
                    actor: Some(&op.cashier),
                },
                now,
            )?;
        }
        if !result.clawed_back.is_zero() {
            ledger::claw_back(
                self.tx,
                &c.id,
                result.clawed_back.kopecks(),
                &format!(
                    "Отмена начисления по возврату (чек {})",
                    short_id(&original)
                ),
                Some(&op.id),
                now,
            )?;
        }
        self.tx
            .insert_purchase(&c.id, now, -result.paid.kopecks())?;
        crate::domain::returns::record_return(&mut so_far, &result);
        let returned = serde_json::to_string(&so_far)
            .map_err(|e| StoreError::Other(format!("a return does not serialize: {e}")))?;
        self.tx
            .set_sale_returned(&self.terminal.id, &original, &returned)?;
        self.touch(&c.id);
        serde_json::to_value(&result)
            .map_err(|e| StoreError::Other(format!("a return does not serialize: {e}")).into())
    }

    fn register(&mut self, r: RegistrationInput) -> Result<serde_json::Value, Failure> {
        let (rules, op, now) = (self.rules, self.op, self.now);
        if uuid::Uuid::parse_str(r.customer_id).is_err() {
            return reject(RejectReason::Invalid, "customer_id is not a UUID");
        }
        if !r.consent_processing {
            return reject(
                RejectReason::Invalid,
                "registration needs the customer's consent to the processing of personal data",
            );
        }
        if let Some(existing) = self.tx.customer(CustomerKey::Phone(r.phone.as_e164()))? {
            return reject(
                RejectReason::AlreadyRegistered,
                format!(
                    "this phone is already registered as customer {}",
                    existing.id
                ),
            );
        }
        if self.tx.customer(CustomerKey::Id(r.customer_id))?.is_some() {
            return reject(RejectReason::Invalid, "this customer id is taken");
        }
        let verified = match r.verification {
            Some(v) => {
                if !sms::consume_verification(
                    self.tx,
                    v.expose(),
                    r.phone,
                    sms::Purpose::Registration,
                    now,
                )? {
                    return reject(
                        RejectReason::VerificationRequired,
                        "the SMS verification is unknown, used or expired; send a new code",
                    );
                }
                true
            }
            None if rules.verification.allow_without_code => false,
            None => {
                return reject(
                    RejectReason::VerificationRequired,
                    "the rules need an SMS code to register",
                );
            }
        };
        let formats = CardFormat::default_formats();
        let plastic = match r.card {
            Some(CardIssue::Plastic { number }) => {
                let card = CardNumber::parse(number.expose(), &formats)
                    .map_err(|e| Reject(RejectReason::Invalid, format!("card: {e}")))?;
                if self
                    .tx
                    .customer(CustomerKey::Card(card.as_str()))?
                    .is_some()
                {
                    return reject(
                        RejectReason::CardTaken,
                        "this card belongs to another customer",
                    );
                }
                Some(card)
            }
            _ => None,
        };
        let q = r.questionnaire;
        let referrer = match &q.referrer {
            Some(text) => customers::by_phone_or_card(self.tx, text.expose(), &formats)?,
            None => None,
        };
        let status = rules.registration_card().unwrap_or(&rules.cards[0]).clone();
        let mut new = NewCustomer {
            id: r.customer_id.to_string(),
            phone: r.phone.as_e164().to_string(),
            card_number: plastic.as_ref().map(|c| c.as_str().to_string()),
            card_status: status.name.clone(),
            phone_verified: verified,
            last_name: q.last_name.clone(),
            first_name: q.first_name.clone(),
            middle_name: q.middle_name.clone(),
            gender: q.gender.map(|g| match g {
                Gender::Male => "male",
                Gender::Female => "female",
            }),
            birth_date: q.birth_date,
            email: q.email.clone(),
            referrer_id: referrer.as_ref().map(|c| c.id.clone()),
            registered_at: now,
            store_id: Some(self.terminal.store_id.clone()),
            terminal_id: Some(self.terminal.id.clone()),
            cashier: Some(op.cashier.clone()),
        };
        // A virtual number is drawn until one is free; an insert that still finds a key
        // taken (another till registered at the same moment) is told apart and refused.
        let virtual_card = matches!(r.card, Some(CardIssue::Virtual));
        let mut rng = rand::rng();
        for _ in 0..8 {
            if virtual_card {
                let mut card = generate_virtual(&VirtualPrefix::default(), &mut rng);
                while self
                    .tx
                    .customer(CustomerKey::Card(card.as_str()))?
                    .is_some()
                {
                    card = generate_virtual(&VirtualPrefix::default(), &mut rng);
                }
                new.card_number = Some(card.as_str().to_string());
            }
            if self.tx.insert_customer(&new)? {
                break;
            }
            if self.tx.customer(CustomerKey::Phone(&new.phone))?.is_some() {
                return reject(
                    RejectReason::AlreadyRegistered,
                    "this phone was registered a moment ago at another till",
                );
            }
            if self.tx.customer(CustomerKey::Id(&new.id))?.is_some() {
                return reject(RejectReason::Invalid, "this customer id is taken");
            }
            if !virtual_card {
                return reject(
                    RejectReason::CardTaken,
                    "this card belongs to another customer",
                );
            }
        }
        let Some(inserted) = self.tx.customer(CustomerKey::Id(&new.id))? else {
            return Err(
                StoreError::Conflict("no free virtual card number was drawn".into()).into(),
            );
        };
        for (kind, granted) in [("processing", true), ("advertising", r.consent_advertising)] {
            self.tx.insert_consent(&NewConsent {
                customer_id: r.customer_id,
                kind,
                granted,
                at: now,
                terminal_id: Some(&self.terminal.id),
                cashier: Some(&op.cashier),
            })?;
        }
        if let Some(w) = &status.welcome_bonus {
            self.grant_bonus(r.customer_id, w, Source::Welcome, "Приветственные бонусы")?;
        }
        if referrer.is_some()
            && let Some(b) = rules
                .referral
                .as_ref()
                .and_then(|r| r.referee_bonus.as_ref())
        {
            self.grant_bonus(
                r.customer_id,
                b,
                Source::Referral,
                "Бонусы за регистрацию по приглашению",
            )?;
        }
        self.touch(r.customer_id);
        let balance = self.tx.balance(r.customer_id, now)?;
        let view = customers::view(rules, &inserted, balance);
        let mut answer =
            serde_json::json!({ "customer": view, "referrer_found": referrer.is_some() });
        if let Some(card) = &new.card_number
            && r.card.is_some()
        {
            // The till prints or shows the number once; it is not kept there.
            answer["card_number"] = serde_json::Value::String(card.clone());
        }
        Ok(answer)
    }

    fn consent(
        &mut self,
        customer_id: &str,
        advertising: bool,
    ) -> Result<serde_json::Value, Failure> {
        let c = self.customer(customer_id)?;
        self.tx.insert_consent(&NewConsent {
            customer_id: &c.id,
            kind: "advertising",
            granted: advertising,
            at: self.now,
            terminal_id: Some(&self.terminal.id),
            cashier: Some(&self.op.cashier),
        })?;
        Ok(serde_json::json!({ "advertising": advertising }))
    }

    /// Records an audit event; only a manager may send one.
    fn audit(
        &mut self,
        event: AuditEvent,
        customer_id: Option<&str>,
        reason: &str,
    ) -> Result<serde_json::Value, Failure> {
        let manager = match self.op.cashier_id {
            Some(id) if auth::is_manager(self.tx, &self.terminal.store_id, id)? => id,
            _ => {
                return reject(
                    RejectReason::NotPermitted,
                    "only a manager may allow what the rules do not",
                );
            }
        };
        if reason.trim().is_empty() {
            return reject(RejectReason::Invalid, "an audit event needs a reason");
        }
        let event_name = serde_json::to_value(event)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        self.tx.insert_audit(&NewAudit {
            operation_id: &self.op.id,
            terminal_id: &self.terminal.id,
            cashier_id: manager,
            cashier: &self.op.cashier,
            event: &event_name,
            customer_id,
            reason: reason.trim(),
            at: self.now,
        })?;
        Ok(serde_json::json!({ "event": event_name }))
    }

    /// Marks a customer's phone verified with a fresh SMS proof for that phone.
    fn verify_phone(
        &mut self,
        customer_id: &str,
        phone: &crate::domain::phone::Phone,
        verification: &Secret,
    ) -> Result<serde_json::Value, Failure> {
        let c = self.customer(customer_id)?;
        if c.phone != phone.as_e164() {
            return reject(
                RejectReason::Invalid,
                "the phone is not this customer's phone",
            );
        }
        if !sms::consume_verification(
            self.tx,
            verification.expose(),
            phone,
            sms::Purpose::Registration,
            self.now,
        )? {
            return reject(
                RejectReason::VerificationRequired,
                "the SMS verification is unknown, used or expired; send a new code",
            );
        }
        self.tx.set_phone_verified(&c.id)?;
        self.touch(&c.id);
        Ok(serde_json::json!({ "phone_verified": true }))
    }

    fn manual_change(
        &mut self,
        customer_id: &str,
        amount: Bonus,
        reason: &str,
        lifetime_days: Option<u32>,
    ) -> Result<serde_json::Value, Failure> {
        let (op, now) = (self.op, self.now);
        let manager = match op.cashier_id {
            Some(id) => auth::is_manager(self.tx, &self.terminal.store_id, id)?,
            None => false,
        };
        if !manager {
            return reject(
                RejectReason::NotPermitted,
                "a manual change needs a manager of this store",
            );
        }
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 200 {
            return reject(
                RejectReason::Invalid,
                "give a reason of 1 to 200 characters",
            );
        }
        let c = self.customer(customer_id)?;
        let k = amount.kopecks();
        let description = format!("Ручное изменение: {reason}");
        if k > 0 {
            ledger::grant(
                self.tx,
                &Grant {
                    customer_id: &c.id,
                    amount: k,
                    source: Source::Manual,
                    description,
                    active_from: now,
                    burns_at: burn_date(now, lifetime_days),
                    operation_id: Some(&op.id),
                    actor: Some(&op.cashier),
                },
                now,
            )?;
        } else if k < 0 {
            ledger::spend(
                self.tx,
                &Spend {
                    customer_id: &c.id,
                    amount: -k,
                    source: Source::Manual,
                    description: &description,
                    operation_id: Some(&op.id),
                    actor: Some(&op.cashier),
                },
                now,
            )?;
        } else {
            return reject(RejectReason::Invalid, "the amount must not be zero");
        }
        self.touch(&c.id);
        let balance = self.tx.balance(&c.id, now)?;
        Ok(serde_json::json!({ "balance": Bonus::from_kopecks(balance.active) }))
    }
}

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
