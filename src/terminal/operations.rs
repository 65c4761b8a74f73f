//! The till's operations: sales, registrations, phone verifications, consents,
//! manual changes and the conflicts list. None waits for the server: each is written with
//! its outbox row in one transaction, and the sync worker sends it.
use super::{Cashier, Lookup, OfflineLimit, Priced, Terminal, TerminalError};
use crate::domain::card::CardNumber;
use crate::domain::fiscal::FiscalData;
use crate::domain::money::Bonus;
use crate::domain::phone::Phone;
use crate::domain::returns::Sale;
use crate::domain::status::registration_status;
use crate::protocol::server::{
    CardIssue, CustomerView, Operation, OperationBody, OperationResult, OperationStatus,
    Questionnaire, Secret, SmsPurpose, SmsSendRequest, SmsSendResponse, SmsVerifyRequest,
};
use crate::protocol::short_name;
use crate::store::{CachedCustomer, Conflict, KeptState, TerminalStore};
use crate::sync::client::ClientError;
use crate::sync::plan::Backoff;
use crate::sync::worker::{drain, publish_queue};

/// The most operations a registration sends at once, itself included: one batch.
const AT_ONCE: usize = 100;

/// What the server made of a registration the till sent at once: the customer with any
/// welcome bonus, and the virtual card number it issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    pub customer: CustomerView,
    /// The virtual card the server issued, in full: shown and printed once, kept nowhere.
    pub card_number: Option<String>,
}

/// A customer to register at the till.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCustomer {
    pub phone: Phone,
    /// The proof from [`Terminal::verify_code`]; `None` registers «Без кода».
    pub verification: Option<Secret>,
    pub questionnaire: Questionnaire,
    pub consent_processing: bool,
    pub consent_advertising: bool,
    pub card: Option<CardIssue>,
    /// The card status the cashier picked; `None`: the rules' registration status.
    pub card_status: Option<String>,
}

/// One consent a customer gives (`true`) or withdraws (`false`) at the till.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentChange {
    /// The consent to the processing of personal data: withdrawn, the customer neither
    /// accrues nor spends until it is given again.
    Processing(bool),
    /// The separate consent to advertising SMS.
    Advertising(bool),
}

impl Terminal {
    /// Confirms a calculated sale: queues it with the sale record a later return needs, in
    /// one transaction, and returns once it is on disk. `verification` is the SMS proof a
    /// spend above `code_to_spend_over` needs.
    pub fn sell(
        &self,
        cashier: &Cashier,
        priced: &Priced,
        verification: Option<Secret>,
    ) -> Result<Operation, TerminalError> {
        self.sell_as(
            uuid::Uuid::now_v7(),
            cashier,
            priced,
            verification,
            None,
            false,
        )
    }

    /// [`Terminal::sell`] under the operation id the register was given when the receipt
    /// was applied; `held`: the server holds the spend under that id (the sale names it).
    pub fn sell_as(
        &self,
        operation_id: uuid::Uuid,
        cashier: &Cashier,
        priced: &Priced,
        verification: Option<Secret>,
        fiscal: Option<FiscalData>,
        held: bool,
    ) -> Result<Operation, TerminalError> {
        let sale = Sale::from_calculation(&priced.receipt, &priced.calculation);
        let overridden = priced.offline && self.overridden(&priced.customer.id);
        let max_unsynced = if priced.offline && !priced.spend.is_zero() && !overridden {
            let (_, rules) = self.rules()?;
            Some(
                self.config
                    .offline
                    .tighten(&rules.offline)
                    .max_unsynced_spend_per_terminal,
            )
        } else {
            None
        };
        let customer_id = priced.customer.id.clone();
        let op = self.store().enqueue_as(
            operation_id,
            OperationBody::Sale {
                customer_id: customer_id.clone(),
                receipt: priced.receipt.clone(),
                spend: priced.spend,
                verification,
                fiscal: fiscal.clone(),
                hold: held.then(|| operation_id.to_string()),
            },
            &cashier.name,
            Some(cashier.id),
            priced.offline,
            self.now(),
            |tx, op| {
                // Checked again inside the transaction: two sales priced side by side
                // cannot both take the last of the till's offline budget.
                if let Some(max) = max_unsynced {
                    let unsynced = Bonus::from_kopecks(TerminalStore::unsynced_offline_spend(tx)?);
                    if unsynced > max {
                        let left = (max - (unsynced - priced.spend)).max(Bonus::ZERO);
                        return Err(TerminalError::Offline(OfflineLimit::TerminalBudget {
                            left,
                        }));
                    }
                }
                // An applied receipt kept for the register is closed in this transaction.
                TerminalStore::settle_kept(
                    tx,
                    &op.id,
                    &[KeptState::Applied, KeptState::Unconfirmed],
                    KeptState::Closed,
                    fiscal.as_ref(),
                    None,
                    op.at,
                )?;
                Ok(TerminalStore::record_sale(tx, &customer_id, op, &sale)?)
            },
        )?;
        if overridden {
            self.overrides
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&customer_id);
        }
        self.nudge();
        Ok(op)
    }

    /// Sends an SMS code to a phone (registration, or a spend above the code threshold).
    pub async fn send_code(
        &self,
        phone: &Phone,
        purpose: SmsPurpose,
    ) -> Result<SmsSendResponse, TerminalError> {
        let req = SmsSendRequest {
            phone: phone.clone(),
            purpose,
        };
        self.online_only(self.api.sms_send(&req).await, "sending an SMS code")
    }

    /// Checks the code the customer read out; the proof goes into the registration or the
    /// sale.
    pub async fn verify_code(
        &self,
        phone: &Phone,
        purpose: SmsPurpose,
        code: &str,
    ) -> Result<Secret, TerminalError> {
        let req = SmsVerifyRequest {
            phone: phone.clone(),
            purpose,
            code: Secret(code.trim().to_string()),
        };
        self.online_only(self.api.sms_verify(&req).await, "checking an SMS code")
            .map(|r| r.verification)
    }

    pub(super) fn online_only<T>(
        &self,
        answer: Result<T, ClientError>,
        what: &'static str,
    ) -> Result<T, TerminalError> {
        match answer {
            Ok(t) => {
                self.saw_server(true, None);
                Ok(t)
            }
            Err(e) if e.is_offline() => {
                self.saw_server(false, Some(&e));
                Err(TerminalError::NeedsServer(what))
            }
            Err(e) => {
                self.saw_server(true, None);
                Err(e.into())
            }
        }
    }

    /// Registers a customer: queued like every operation, and put into the cache at once
    /// so the same receipt can go on. Without a verification only «Без кода», when the
    /// rules allow it (the only registration a till makes offline).
    pub fn register(
        &self,
        cashier: &Cashier,
        new: NewCustomer,
    ) -> Result<(CustomerView, Operation), TerminalError> {
        if !new.consent_processing {
            return Err(TerminalError::ConsentRequired);
        }
        let (_, rules) = self.rules()?;
        if new.verification.is_none() && !rules.verification.allow_without_code {
            return Err(TerminalError::CodeRequired);
        }
        let phone_hash = self.hash_of(&Lookup::Phone(new.phone.clone()));
        if self.store().customer_by_hash(&phone_hash)?.is_some() {
            return Err(TerminalError::AlreadyRegistered);
        }
        let (card_hash, card_masked) = match &new.card {
            Some(CardIssue::Plastic { number }) => {
                let card = CardNumber::parse(number.expose(), &self.card_formats)
                    .map_err(|e| TerminalError::Client(ClientError::Unreadable(e.to_string())))?;
                let masked = card.masked();
                (Some(self.hash_of(&Lookup::Card(card))), Some(masked))
            }
            // A virtual number is made by the server; the card shows it after the sync.
            _ => (None, None),
        };
        // The same rule as the server's, from the cached rules: a picked status must be one
        // a cashier may issue.
        let status = registration_status(&rules, new.card_status.as_deref())?.clone();
        let cached = CachedCustomer {
            id: uuid::Uuid::now_v7().to_string(),
            phone_masked: new.phone.masked(),
            name: short_name(
                new.questionnaire.first_name.as_deref(),
                new.questionnaire.last_name.as_deref(),
            ),
            card_status: status.name.clone(),
            phone_verified: new.verification.is_some(),
            balance: 0,
            pending: 0,
            consent_processing: true,
            consent_advertising: new.consent_advertising,
        };
        let online = self.status.borrow().online == Some(true);
        let now = self.now();
        let op = self.store().enqueue(
            OperationBody::Registration {
                customer_id: cached.id.clone(),
                phone: new.phone,
                verification: new.verification,
                questionnaire: new.questionnaire,
                consent_processing: true,
                consent_advertising: new.consent_advertising,
                card: new.card,
                card_status: new.card_status,
            },
            &cashier.name,
            Some(cashier.id),
            !online,
            now,
            |tx, _| {
                TerminalStore::cache_registered(tx, &cached, &phone_hash, card_hash.as_deref(), now)
            },
        )?;
        self.nudge();
        let view = CustomerView {
            id: cached.id,
            name: cached.name,
            phone_masked: cached.phone_masked,
            card_masked,
            card_status: cached.card_status,
            phone_verified: cached.phone_verified,
            balance: Bonus::ZERO,
            pending: Bonus::ZERO,
            held: Bonus::ZERO,
            discount_percent: status.discount_percent.to_string(),
            consent_processing: cached.consent_processing,
            consent_advertising: cached.consent_advertising,
        };
        Ok((view, op))
    }

    /// Sends the queue now, a just-queued registration at its end, and reads what the
    /// server made of it, so the card shows the welcome bonus and the virtual card number
    /// at once. `None` when the till is offline, the server did not answer within the
    /// lookup timeout, or it refused the registration (the conflicts list says why): the
    /// card then shows the till's own view, and the sync worker sends it later.
    pub async fn send_registration(&self, op: &Operation) -> Option<Registered> {
        let answer = self.send_at_once(op).await?;
        if answer.status == OperationStatus::Rejected || answer.reason.is_some() {
            return None;
        }
        // A duplicate (the sync worker sent it first) carries the original answer whole.
        let body = match answer.status {
            OperationStatus::Duplicate => {
                serde_json::from_value::<OperationResult>(answer.answer?)
                    .ok()?
                    .answer?
            }
            _ => answer.answer?,
        };
        let customer = serde_json::from_value(body.get("customer")?.clone()).ok()?;
        let card_number = body
            .get("card_number")
            .and_then(|v| v.as_str())
            .map(str::to_string);
        Some(Registered {
            customer,
            card_number,
        })
    }

    /// Sends the queue now, a just-queued operation at its end, and returns the server's
    /// answer to it. `None` when the till is offline, a backlog is the sync worker's to
    /// send, or the server did not answer: the sync worker sends it later.
    pub async fn send_at_once(&self, op: &Operation) -> Option<OperationResult> {
        if self.status.borrow().online != Some(true) {
            return None;
        }
        // A connection of its own, as the sync worker has: the send is awaited without
        // holding the till's store. Should the worker send the same operations meanwhile,
        // the server answers the second send with the first answer.
        let sent = match TerminalStore::open(&self.data_dir) {
            // A backlog (after a long time offline) is the sync worker's to send: the
            // cashier does not wait for it, and the card shows the till's own view.
            Ok(store)
                if store
                    .pending(AT_ONCE + 1)
                    .map_or(true, |p| p.len() > AT_ONCE) =>
            {
                return None;
            }
            Ok(mut store) => {
                let drained = drain(&mut store, &self.api, AT_ONCE, 0, Backoff::default()).await;
                publish_queue(&store, &self.status);
                drained.and_then(|_| store.answer(&op.id))
            }
            Err(e) => Err(e),
        };
        match sent {
            Ok(answer) => answer,
            Err(e) => {
                tracing::warn!(operation = %op.id, kind = op.body.kind(), error = %e, "an operation could not be sent at once");
                None
            }
        }
    }

    /// A customer registered «Без кода» proves their phone with an SMS code: queued, and
    /// the cache says verified at once, so the same receipt can spend.
    pub fn verify_phone(
        &self,
        cashier: &Cashier,
        customer_id: &str,
        phone: &Phone,
        verification: Secret,
    ) -> Result<Operation, TerminalError> {
        let online = self.status.borrow().online == Some(true);
        let op = self.store().enqueue(
            OperationBody::VerifyPhone {
                customer_id: customer_id.to_string(),
                phone: phone.clone(),
                verification,
            },
            &cashier.name,
            Some(cashier.id),
            !online,
            self.now(),
            |tx, _| TerminalStore::cache_verified(tx, customer_id),
        )?;
        self.nudge();
        Ok(op)
    }

    /// The customer gives or withdraws their consent to the processing of personal data
    /// or to advertising SMS: queued with the cashier and the till, and recorded in the
    /// cache in the same transaction, so the card and the prices follow at once, online
    /// or offline.
    pub fn set_consent(
        &self,
        cashier: &Cashier,
        customer_id: &str,
        change: ConsentChange,
    ) -> Result<Operation, TerminalError> {
        let (processing, advertising) = match change {
            ConsentChange::Processing(given) => (Some(given), None),
            ConsentChange::Advertising(given) => (None, Some(given)),
        };
        let online = self.status.borrow().online == Some(true);
        let op = self.store().enqueue(
            OperationBody::Consent {
                customer_id: customer_id.to_string(),
                processing,
                advertising,
            },
            &cashier.name,
            Some(cashier.id),
            !online,
            self.now(),
            |tx, _| TerminalStore::cache_consent(tx, customer_id, processing, advertising),
        )?;
        self.nudge();
        Ok(op)
    }

    /// A manager's change of a balance by hand, with a reason (audited on the server).
    pub fn manual_change(
        &self,
        manager: &Cashier,
        customer_id: &str,
        amount: Bonus,
        reason: &str,
        lifetime_days: Option<u32>,
    ) -> Result<Operation, TerminalError> {
        if !manager.is_manager() {
            return Err(TerminalError::NotPermitted("change a balance by hand"));
        }
        self.queue(
            manager,
            OperationBody::ManualChange {
                customer_id: customer_id.to_string(),
                amount,
                reason: reason.trim().to_string(),
                lifetime_days,
            },
        )
    }

    pub(super) fn queue(
        &self,
        cashier: &Cashier,
        body: OperationBody,
    ) -> Result<Operation, TerminalError> {
        let offline = self.status.borrow().online != Some(true);
        let op = self.store().enqueue(
            body,
            &cashier.name,
            Some(cashier.id),
            offline,
            self.now(),
            |_, _| Ok(()),
        )?;
        self.nudge();
        Ok(op)
    }

    /// The manager's conflicts list.
    pub fn conflicts(&self) -> Result<Vec<Conflict>, TerminalError> {
        Ok(self.store().conflicts()?)
    }

    /// A manager marks a conflict handled (after fixing the balance by hand, say).
    pub fn resolve_conflict(
        &self,
        manager: &Cashier,
        operation_id: &str,
    ) -> Result<bool, TerminalError> {
        if !manager.is_manager() {
            return Err(TerminalError::NotPermitted("resolve a conflict"));
        }
        let done = self
            .store()
            .resolve_conflict(operation_id, &manager.name, self.now())?;
        publish_queue(&self.store(), &self.status);
        Ok(done)
    }
}
