//! The operations batch: every operation made at a till, applied at most once, forever.
//!
//! Each operation runs in its own transaction, in the terminal's sequence order: the
//! operation row (with the answer it got) commits together with everything the operation
//! did, so a crash either keeps both or neither, and a resend after a lost answer finds the
//! row and gets the original answer back as `duplicate`. A rejected operation is final:
//! its row is kept too, so a resend cannot apply it later.

use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::auth::{self, Terminal};
use super::crypto::lookup_hash;
use super::customers::{self, Customer};
use super::error::ApiError;
use super::ledger::{self, Grant, LedgerError, Source, ts};
use super::{State, sms};
use crate::domain::calc::{CalcError, CustomerState, calculate};
use crate::domain::card::{CardFormat, CardNumber, VirtualPrefix, generate_virtual};
use crate::domain::money::{Bonus, Money, round_half_up};
use crate::domain::receipt::ReceiptKind;
use crate::domain::returns::{ReturnError, Returned, Sale, compute_return};
use crate::domain::rules::Threshold;
use crate::domain::rules::{BonusGrant, Rules};
use crate::domain::status::status_after_sale_by;
use crate::protocol::server::*;

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

/// Either a refusal, or a database failure that aborts the batch (and is retried).
enum Failure {
    Reject(Reject),
    Db(rusqlite::Error),
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Failure {
        Failure::Db(e)
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
            LedgerError::Db(d) => Failure::Db(d),
            other => Failure::Reject(other.into()),
        }
    }
}

fn reject<T>(reason: RejectReason, message: impl Into<String>) -> Result<T, Failure> {
    Err(Failure::Reject(Reject(reason, message.into())))
}

/// Applies a batch in sequence order and answers each operation.
pub fn apply_batch(
    state: &State,
    terminal: &Terminal,
    mut operations: Vec<Operation>,
) -> Result<Vec<OperationResult>, ApiError> {
    operations.sort_by_key(|o| o.seq);
    let rules = state.rules();
    let mut results = Vec::with_capacity(operations.len());
    // One commit (one fsync) per chunk rather than per operation: most of an operation's
    // cost was its commit. Each operation still runs in a savepoint of its own, so a
    // rejected one leaves nothing but its refusal, and its row commits together with its
    // effects; a crash loses the whole uncommitted chunk, which the terminal resends. A
    // chunk is short, so the database lock is never held long enough to stall a
    // calculation waiting behind it.
    for chunk in operations.chunks(CHUNK) {
        let now = state.now();
        let answers = state.with_db(|c| {
            let mut tx = c.transaction()?;
            let mut answers = Vec::with_capacity(chunk.len());
            for op in chunk {
                answers.push(apply_one(&mut tx, &rules.rules, terminal, op, now)?);
            }
            tx.commit()?;
            Ok::<_, ApiError>(answers)
        })?;
        results.extend(answers);
    }
    Ok(results)
}

/// Operations committed together.
const CHUNK: usize = 16;

fn apply_one(
    tx: &mut Transaction,
    rules: &Rules,
    terminal: &Terminal,
    op: &Operation,
    now: DateTime<Utc>,
) -> Result<OperationResult, ApiError> {
    // Seen before, from any terminal (or earlier in this chunk): the original answer.
    let seen: Option<String> = tx
        .prepare_cached("SELECT answer FROM operations WHERE id = ?1")?
        .query_row([&op.id], |r| r.get(0))
        .optional()?;
    if let Some(answer) = seen {
        let original: OperationResult = serde_json::from_str(&answer).map_err(|e| {
            tracing::error!(error = %e, "a stored answer does not parse");
            ApiError::internal()
        })?;
        return Ok(OperationResult {
            id: op.id.clone(),
            status: OperationStatus::Duplicate,
            reason: original.reason,
            message: original.message.clone(),
            answer: Some(serde_json::to_value(&original).unwrap_or_default()),
        });
    }
    let sp = tx.savepoint()?;
    let outcome = validate(&sp, terminal, op).and_then(|()| match &op.body {
        OperationBody::Sale {
            customer_id,
            receipt,
            spend,
            verification,
        } => sale(
            &sp,
            rules,
            terminal,
            op,
            customer_id,
            receipt,
            *spend,
            verification.as_ref(),
            now,
        ),
        OperationBody::Return { receipt } => return_(&sp, rules, op, receipt, now),
        OperationBody::Registration {
            customer_id,
            phone,
            verification,
            questionnaire,
            consent_processing,
            consent_advertising,
            card,
        } => register(
            &sp,
            rules,
            terminal,
            op,
            RegistrationInput {
                customer_id,
                phone,
                verification: verification.as_ref(),
                questionnaire,
                consent_processing: *consent_processing,
                consent_advertising: *consent_advertising,
                card: card.as_ref(),
            },
            now,
        ),
        OperationBody::Consent {
            customer_id,
            advertising,
        } => consent(&sp, terminal, op, customer_id, *advertising, now),
        OperationBody::VerifyPhone {
            customer_id,
            phone,
            verification,
        } => verify_phone(&sp, customer_id, phone, verification, now),
        OperationBody::Audit {
            event,
            customer_id,
            reason,
        } => audit(
            &sp,
            terminal,
            op,
            *event,
            customer_id.as_deref(),
            reason,
            now,
        ),
        OperationBody::ManualChange {
            customer_id,
            amount,
            reason,
            lifetime_days,
        } => manual_change(
            &sp,
            terminal,
            op,
            customer_id,
            *amount,
            reason,
            *lifetime_days,
            now,
        ),
    });
    let result = match outcome {
        Ok(answer) => OperationResult {
            id: op.id.clone(),
            status: OperationStatus::Applied,
            reason: None,
            message: String::new(),
            answer: Some(answer),
        },
        Err(Failure::Db(e)) => return Err(e.into()),
        Err(Failure::Reject(Reject(reason, message))) => {
            // Nothing the operation did stays (dropping the savepoint rolls it back);
            // only the refusal is recorded.
            drop(sp);
            let r = OperationResult {
                id: op.id.clone(),
                status: OperationStatus::Rejected,
                reason: Some(reason),
                message,
                answer: None,
            };
            record(tx, terminal, op, &r, now)?;
            tracing::info!(operation = %op.id, ?reason, "operation rejected");
            return Ok(r);
        }
    };
    record(&sp, terminal, op, &result, now)?;
    sp.commit()?;
    Ok(result)
}

fn record(
    tx: &Connection,
    terminal: &Terminal,
    op: &Operation,
    result: &OperationResult,
    now: DateTime<Utc>,
) -> rusqlite::Result<()> {
    let status = match result.status {
        OperationStatus::Rejected => "rejected",
        _ => "applied",
    };
    tx.execute(
        "INSERT INTO operations (id, terminal_id, seq, kind, received_at, status, answer) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            op.id,
            terminal.id,
            op.seq as i64,
            op.body.kind(),
            ts(now),
            status,
            serde_json::to_string(result).expect("an answer serializes")
        ],
    )?;
    tx.execute(
        "UPDATE terminals SET last_seq = MAX(last_seq, ?1) WHERE id = ?2",
        params![op.seq as i64, terminal.id],
    )?;
    Ok(())
}

fn validate(tx: &Connection, terminal: &Terminal, op: &Operation) -> Result<(), Failure> {
    if uuid::Uuid::parse_str(&op.id).is_err() {
        return reject(RejectReason::Invalid, "the operation id is not a UUID");
    }
    if op.seq == 0 || op.seq > i64::MAX as u64 {
        return reject(
            RejectReason::Invalid,
            "sequence numbers run from 1 to 9223372036854775807",
        );
    }
    let reused: bool = tx
        .query_row(
            "SELECT 1 FROM operations WHERE terminal_id = ?1 AND seq = ?2",
            params![terminal.id, op.seq as i64],
            |_| Ok(true),
        )
        .optional()?
        .unwrap_or(false);
    if reused {
        return reject(
            RejectReason::SequenceReused,
            "another operation of this terminal already has this sequence number",
        );
    }
    Ok(())
}

fn customer(tx: &Connection, id: &str) -> Result<Customer, Failure> {
    customers::by_id(tx, id)?.map_or_else(
        || reject(RejectReason::CustomerNotFound, "no customer with this id"),
        Ok,
    )
}

fn burn_date(from: DateTime<Utc>, days: Option<u32>) -> Option<DateTime<Utc>> {
    days.map(|d| from + Duration::days(i64::from(d)))
}

fn grant_bonus(
    tx: &Connection,
    customer_id: &str,
    g: &BonusGrant,
    source: Source,
    description: &str,
    op: &Operation,
    now: DateTime<Utc>,
) -> Result<(), Failure> {
    let amount = g.amount.kopecks();
    if amount > 0 {
        ledger::grant(
            tx,
            &Grant {
                customer_id,
                amount,
                source,
                description: description.to_string(),
                active_from: now,
                burns_at: burn_date(now, g.lifetime_days),
                operation_id: Some(&op.id),
                actor: Some(&op.cashier),
            },
            now,
        )?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn sale(
    tx: &Connection,
    rules: &Rules,
    terminal: &Terminal,
    op: &Operation,
    customer_id: &str,
    receipt: &crate::domain::receipt::Receipt,
    spend: Bonus,
    verification: Option<&Secret>,
    now: DateTime<Utc>,
) -> Result<serde_json::Value, Failure> {
    let c = customer(tx, customer_id)?;
    if receipt.kind != ReceiptKind::Sale {
        return reject(RejectReason::Invalid, "a sale carries a sale receipt");
    }
    let already: bool = tx
        .query_row(
            "SELECT 1 FROM sales WHERE receipt_id = ?1",
            [&receipt.id],
            |_| Ok(true),
        )
        .optional()?
        .unwrap_or(false);
    if already {
        return reject(RejectReason::Invalid, "this receipt was already sold");
    }
    let balance = ledger::balance(tx, &c.id, now)?;
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
            let phone = crate::domain::phone::Phone::parse(&c.phone)
                .map_err(|_| Reject(RejectReason::Invalid, "stored phone does not parse".into()))?;
            let ok = match verification {
                Some(v) => {
                    sms::consume_verification(tx, v.expose(), &phone, sms::Purpose::Spend, now)?
                }
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
        CalcError::SpendAboveMax { .. } => Reject(RejectReason::InsufficientBalance, e.to_string()),
        CalcError::SpendNotMultiple { .. } | CalcError::NegativeSpend => {
            Reject(RejectReason::SpendNotAllowed, e.to_string())
        }
        other => Reject(RejectReason::Invalid, other.to_string()),
    })?;
    let card = rules
        .card(&c.card_status)
        .expect("calculate checked the card");
    if !calc.spent.is_zero() {
        ledger::spend(
            tx,
            &c.id,
            calc.spent.kopecks(),
            Source::Purchase,
            &format!(
                "Списание при оплате покупки (чек {})",
                short_id(&receipt.id)
            ),
            Some(&op.id),
            Some(&op.cashier),
            now,
        )?;
    }
    let at = op.at.min(now);
    let active_from = at + Duration::days(i64::from(card.activate_after_days));
    if !calc.accrued.is_zero() {
        ledger::grant(
            tx,
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
    let first_purchase: bool = tx.query_row(
        "SELECT NOT EXISTS (SELECT 1 FROM purchases WHERE customer_id = ?1)",
        [&c.id],
        |r| r.get(0),
    )?;
    if first_purchase && let Some(gift) = &rules.first_purchase_gift {
        grant_bonus(
            tx,
            &c.id,
            &gift.bonus,
            Source::FirstPurchase,
            "Подарок за первую покупку",
            op,
            now,
        )?;
    }
    tx.execute(
        "INSERT INTO purchases (customer_id, at, sum) VALUES (?1, ?2, ?3)",
        params![c.id, ts(at), calc.to_pay.kopecks()],
    )?;
    referral_rewards(tx, rules, &c, calc.to_pay, op, now)?;
    let upgraded = upgrade_status(tx, rules, &c, now)?;
    let sale = Sale::from_calculation(receipt, &calc);
    tx.execute(
        "INSERT INTO sales (receipt_id, terminal_id, operation_id, customer_id, at, sale) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            receipt.id,
            terminal.id,
            op.id,
            c.id,
            ts(at),
            serde_json::to_string(&sale).expect("a sale serializes")
        ],
    )?;
    customers::touch(tx, &c.id)?;
    Ok(serde_json::json!({ "calculation": calc, "card_status": upgraded.unwrap_or(c.card_status) }))
}

/// The first eight characters of a receipt id, for the history line.
fn short_id(id: &str) -> String {
    id.chars().take(8).collect()
}

/// Pays each referrer up the chain their level's percent of the referee's ruble payment,
/// while the referee is within `pay_for_days` of registering.
fn referral_rewards(
    tx: &Connection,
    rules: &Rules,
    referee: &Customer,
    paid: Money,
    op: &Operation,
    now: DateTime<Utc>,
) -> Result<(), Failure> {
    let Some(referral) = &rules.referral else {
        return Ok(());
    };
    if let (Some(days), Some(registered)) = (
        referral.pay_for_days,
        ledger::parse_ts(&referee.registered_at),
    ) && now > registered + Duration::days(i64::from(days))
    {
        return Ok(());
    }
    let mut next = referee.referrer_id.clone();
    for level in &referral.levels {
        let Some(id) = next else { break };
        let Some(referrer) = customers::by_id(tx, &id)? else {
            break;
        };
        let reward = round_half_up(level.percent.of(paid.amount()), rules.bonus_rounding.dp());
        let amount = Bonus::new(reward).kopecks();
        if amount > 0 {
            ledger::grant(
                tx,
                &Grant {
                    customer_id: &referrer.id,
                    amount,
                    source: Source::Referral,
                    description: "Бонусы за покупку приглашённого друга".into(),
                    active_from: now,
                    burns_at: None,
                    operation_id: Some(&op.id),
                    actor: None,
                },
                now,
            )?;
            customers::touch(tx, &referrer.id)?;
        }
        next = referrer.referrer_id.clone();
    }
    Ok(())
}

/// Raises the card status right after the sale that crosses its threshold.
fn upgrade_status(
    tx: &Connection,
    rules: &Rules,
    c: &Customer,
    now: DateTime<Utc>,
) -> Result<Option<String>, Failure> {
    // Each threshold is one indexed sum over the purchases in its window (returns count
    // against the sum, not the count), never the customer's whole history in memory.
    let mut failed = None;
    let mut stmt = tx.prepare_cached(
        "SELECT COALESCE(SUM(sum), 0), COUNT(CASE WHEN sum >= 0 THEN 1 END)
         FROM purchases WHERE customer_id = ?1 AND at > ?2 AND at <= ?3",
    )?;
    let next = status_after_sale_by(rules, &c.card_status, |t| {
        let since = t
            .within_days()
            .map_or_else(String::new, |d| ts(now - Duration::days(i64::from(d))));
        match stmt.query_row(params![c.id, since, ts(now)], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
        }) {
            Ok((sum, count)) => match t {
                Threshold::PurchasesSum { sum: need, .. } => Money::from_kopecks(sum) >= *need,
                Threshold::PurchasesCount { count: need, .. } => count >= i64::from(*need),
            },
            Err(e) => {
                failed = Some(e);
                false
            }
        }
    });
    drop(stmt);
    if let Some(e) = failed {
        return Err(e.into());
    }
    match next {
        Some(card) => {
            tx.execute(
                "UPDATE customers SET card_status = ?1 WHERE id = ?2",
                params![card.name, c.id],
            )?;
            Ok(Some(card.name.clone()))
        }
        None => Ok(None),
    }
}

fn return_(
    tx: &Connection,
    rules: &Rules,
    op: &Operation,
    receipt: &crate::domain::receipt::Receipt,
    now: DateTime<Utc>,
) -> Result<serde_json::Value, Failure> {
    receipt
        .validate()
        .map_err(|e| Reject(RejectReason::Invalid, format!("receipt.{e}")))?;
    let original = receipt.original_receipt.clone().unwrap_or_default();
    let row: Option<(String, String, String)> = tx
        .query_row(
            "SELECT customer_id, sale, returned FROM sales WHERE receipt_id = ?1",
            [&original],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((customer_id, sale, returned)) = row else {
        return reject(
            RejectReason::SaleNotFound,
            "the server has no sale with this receipt id",
        );
    };
    let sale: Sale = serde_json::from_str(&sale)
        .map_err(|e| Reject(RejectReason::Invalid, format!("stored sale: {e}")))?;
    let mut so_far: Returned = serde_json::from_str(&returned).unwrap_or_default();
    let lines = sale
        .lines_of(receipt)
        .map_err(|e| Reject(RejectReason::Invalid, e.to_string()))?;
    let result = compute_return(&sale, &so_far, &lines).map_err(|e| match e {
        ReturnError::TooMuch { .. } => Reject(RejectReason::ReturnExceedsSale, e.to_string()),
        other => Reject(RejectReason::Invalid, other.to_string()),
    })?;
    let c = customer(tx, &customer_id)?;
    let card = rules.card(&c.card_status);
    if !result.refunded.is_zero() {
        ledger::grant(
            tx,
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
            tx,
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
    tx.execute(
        "INSERT INTO purchases (customer_id, at, sum) VALUES (?1, ?2, ?3)",
        params![c.id, ts(now), -result.paid.kopecks()],
    )?;
    crate::domain::returns::record_return(&mut so_far, &result);
    tx.execute(
        "UPDATE sales SET returned = ?1 WHERE receipt_id = ?2",
        params![
            serde_json::to_string(&so_far).expect("serializes"),
            original
        ],
    )?;
    customers::touch(tx, &c.id)?;
    Ok(serde_json::to_value(&result).expect("a return serializes"))
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

fn register(
    tx: &Connection,
    rules: &Rules,
    terminal: &Terminal,
    op: &Operation,
    r: RegistrationInput,
    now: DateTime<Utc>,
) -> Result<serde_json::Value, Failure> {
    if uuid::Uuid::parse_str(r.customer_id).is_err() {
        return reject(RejectReason::Invalid, "customer_id is not a UUID");
    }
    if !r.consent_processing {
        return reject(
            RejectReason::Invalid,
            "registration needs the customer's consent to the processing of personal data",
        );
    }
    if let Some(existing) = customers::by_phone(tx, r.phone)? {
        return reject(
            RejectReason::AlreadyRegistered,
            format!(
                "this phone is already registered as customer {}",
                existing.id
            ),
        );
    }
    if customers::by_id(tx, r.customer_id)?.is_some() {
        return reject(RejectReason::Invalid, "this customer id is taken");
    }
    let verified = match r.verification {
        Some(v) => {
            if !sms::consume_verification(tx, v.expose(), r.phone, sms::Purpose::Registration, now)?
            {
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
    let card_number = match r.card {
        None => None,
        Some(CardIssue::Plastic { number }) => {
            let card = CardNumber::parse(number.expose(), &formats)
                .map_err(|e| Reject(RejectReason::Invalid, format!("card: {e}")))?;
            if customers::by_card(tx, &card)?.is_some() {
                return reject(
                    RejectReason::CardTaken,
                    "this card belongs to another customer",
                );
            }
            Some(card)
        }
        Some(CardIssue::Virtual) => {
            let prefix = VirtualPrefix::default();
            let mut rng = rand::rng();
            let mut card = generate_virtual(&prefix, &mut rng);
            while customers::by_card(tx, &card)?.is_some() {
                card = generate_virtual(&prefix, &mut rng);
            }
            Some(card)
        }
    };
    let q = r.questionnaire;
    let referrer = match &q.referrer {
        Some(text) => customers::by_phone_or_card(tx, text.expose(), &formats)?,
        None => None,
    };
    let status = rules.registration_card().unwrap_or(&rules.cards[0]).clone();
    let gender = q.gender.map(|g| match g {
        Gender::Male => "male",
        Gender::Female => "female",
    });
    let seq = customers::next_seq(tx)?;
    tx.execute(
        "INSERT INTO customers (id, phone, card_number, card_status, phone_verified, last_name, first_name, middle_name, gender, birth_date, email, referrer_id, registered_at, store_id, terminal_id, cashier, change_seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
        params![
            r.customer_id,
            r.phone.as_e164(),
            card_number.as_ref().map(|c| c.as_str().to_string()),
            status.name,
            verified,
            q.last_name,
            q.first_name,
            q.middle_name,
            gender,
            q.birth_date.map(|d| d.format("%Y-%m-%d").to_string()),
            q.email,
            referrer.as_ref().map(|c| c.id.clone()),
            ts(now),
            terminal.store_id,
            terminal.id,
            op.cashier,
            seq
        ],
    )?;
    for (kind, granted) in [("processing", true), ("advertising", r.consent_advertising)] {
        tx.execute(
            "INSERT INTO consents (customer_id, kind, granted, at, terminal_id, cashier) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![r.customer_id, kind, granted, ts(now), terminal.id, op.cashier],
        )?;
    }
    if let Some(w) = &status.welcome_bonus {
        grant_bonus(
            tx,
            r.customer_id,
            w,
            Source::Welcome,
            "Приветственные бонусы",
            op,
            now,
        )?;
    }
    if referrer.is_some()
        && let Some(b) = rules
            .referral
            .as_ref()
            .and_then(|r| r.referee_bonus.as_ref())
    {
        grant_bonus(
            tx,
            r.customer_id,
            b,
            Source::Referral,
            "Бонусы за регистрацию по приглашению",
            op,
            now,
        )?;
    }
    let c = customers::by_id(tx, r.customer_id)?.expect("just inserted");
    let view = customers::view(tx, rules, &c, now)?;
    let mut answer = serde_json::json!({ "customer": view, "referrer_found": referrer.is_some() });
    if let Some(card) = card_number {
        // The till prints or shows the virtual number once; it is not kept there.
        answer["card_number"] = serde_json::Value::String(card.as_str().to_string());
    }
    Ok(answer)
}

fn consent(
    tx: &Connection,
    terminal: &Terminal,
    op: &Operation,
    customer_id: &str,
    advertising: bool,
    now: DateTime<Utc>,
) -> Result<serde_json::Value, Failure> {
    let c = customer(tx, customer_id)?;
    tx.execute(
        "INSERT INTO consents (customer_id, kind, granted, at, terminal_id, cashier) VALUES (?1, 'advertising', ?2, ?3, ?4, ?5)",
        params![c.id, advertising, ts(now), terminal.id, op.cashier],
    )?;
    Ok(serde_json::json!({ "advertising": advertising }))
}

/// Records an audit event; only a manager may send one.
fn audit(
    tx: &Connection,
    terminal: &Terminal,
    op: &Operation,
    event: crate::protocol::server::AuditEvent,
    customer_id: Option<&str>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<serde_json::Value, Failure> {
    let Some(manager) = op
        .cashier_id
        .filter(|id| auth::is_manager(tx, &terminal.store_id, *id).unwrap_or(false))
    else {
        return reject(
            RejectReason::NotPermitted,
            "only a manager may allow what the rules do not",
        );
    };
    if reason.trim().is_empty() {
        return reject(RejectReason::Invalid, "an audit event needs a reason");
    }
    let event_name = serde_json::to_value(event)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    tx.execute(
        "INSERT INTO audit_events (operation_id, terminal_id, cashier_id, cashier, event, customer_id, reason, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![op.id, terminal.id, manager, op.cashier, event_name, customer_id, reason.trim(), ts(now)],
    )?;
    Ok(serde_json::json!({ "event": event_name }))
}

/// Marks a customer's phone verified with a fresh SMS proof for that phone.
fn verify_phone(
    tx: &Connection,
    customer_id: &str,
    phone: &crate::domain::phone::Phone,
    verification: &Secret,
    now: DateTime<Utc>,
) -> Result<serde_json::Value, Failure> {
    let c = customer(tx, customer_id)?;
    if c.phone != phone.as_e164() {
        return reject(
            RejectReason::Invalid,
            "the phone is not this customer's phone",
        );
    }
    if !sms::consume_verification(
        tx,
        verification.expose(),
        phone,
        sms::Purpose::Registration,
        now,
    )? {
        return reject(
            RejectReason::VerificationRequired,
            "the SMS verification is unknown, used or expired; send a new code",
        );
    }
    tx.execute(
        "UPDATE customers SET phone_verified = 1 WHERE id = ?1",
        [&c.id],
    )?;
    customers::touch(tx, &c.id)?;
    Ok(serde_json::json!({ "phone_verified": true }))
}

#[allow(clippy::too_many_arguments)]
fn manual_change(
    tx: &Connection,
    terminal: &Terminal,
    op: &Operation,
    customer_id: &str,
    amount: Bonus,
    reason: &str,
    lifetime_days: Option<u32>,
    now: DateTime<Utc>,
) -> Result<serde_json::Value, Failure> {
    let manager = match op.cashier_id {
        Some(id) => auth::is_manager(tx, &terminal.store_id, id)?,
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
    let c = customer(tx, customer_id)?;
    let k = amount.kopecks();
    let description = format!("Ручное изменение: {reason}");
    if k > 0 {
        ledger::grant(
            tx,
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
            tx,
            &c.id,
            -k,
            Source::Manual,
            &description,
            Some(&op.id),
            Some(&op.cashier),
            now,
        )?;
    } else {
        return reject(RejectReason::Invalid, "the amount must not be zero");
    }
    customers::touch(tx, &c.id)?;
    let balance = ledger::balance(tx, &c.id, now)?;
    Ok(serde_json::json!({ "balance": Bonus::from_kopecks(balance.active) }))
}

/// One customer row of the feed query.
struct FeedRow {
    id: String,
    phone: String,
    card: Option<String>,
    status: String,
    verified: bool,
    first: Option<String>,
    last: Option<String>,
    seq: i64,
}

/// Customers changed after `since`, with only what a terminal may keep.
pub fn customer_feed(
    conn: &Connection,
    terminal: &Terminal,
    since: i64,
    limit: i64,
    now: DateTime<Utc>,
) -> Result<CustomerFeed, ApiError> {
    let key: Vec<u8> = conn.query_row(
        "SELECT key FROM lookup_keys WHERE store_id = ?1",
        [&terminal.store_id],
        |r| r.get(0),
    )?;
    let remaining: i64 = conn.query_row(
        "SELECT COUNT(*) FROM customers WHERE change_seq > ?1",
        [since],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare_cached(
        "SELECT id, phone, card_number, card_status, phone_verified, first_name, last_name, change_seq
         FROM customers WHERE change_seq > ?1 ORDER BY change_seq LIMIT ?2",
    )?;
    let rows: Vec<FeedRow> = stmt
        .query_map(params![since, limit], |r| {
            Ok(FeedRow {
                id: r.get(0)?,
                phone: r.get(1)?,
                card: r.get(2)?,
                status: r.get(3)?,
                verified: r.get(4)?,
                first: r.get(5)?,
                last: r.get(6)?,
                seq: r.get(7)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut out = Vec::with_capacity(rows.len());
    let mut cursor = since;
    for row in rows {
        let balance = ledger::balance(conn, &row.id, now)?;
        out.push(FeedCustomer {
            phone_hash: lookup_hash(&key, &row.phone),
            card_hash: row.card.as_deref().map(|c| lookup_hash(&key, c)),
            phone_masked: customers::masked_phone(&row.phone),
            name: customers::short_name(row.first.as_deref(), row.last.as_deref()),
            card_status: row.status,
            phone_verified: row.verified,
            balance: Bonus::from_kopecks(balance.active),
            pending: Bonus::from_kopecks(balance.pending),
            seq: row.seq,
            id: row.id,
        });
        cursor = out.last().map_or(cursor, |c| c.seq);
    }
    Ok(CustomerFeed {
        more: remaining > out.len() as i64,
        remaining,
        cursor,
        customers: out,
    })
}
