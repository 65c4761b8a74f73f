//! A new customer registered at a till, their advertising consent, and their phone verified.

use super::{Cx, Failure, RegistrationInput, Reject, reject};
use crate::domain::card::{CardFormat, CardNumber, VirtualPrefix, generate_virtual};
use crate::protocol::server::{CardIssue, Gender, RejectReason, Secret};
use crate::server::customers;
use crate::server::ledger::Source;
use crate::server::sms;
use crate::server::store::{CustomerKey, NewConsent, NewCustomer, StoreError};

impl Cx<'_> {
    pub(super) fn register(&mut self, r: RegistrationInput) -> Result<serde_json::Value, Failure> {
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
                if self.tx.card_blocked(card.as_str())? {
                    return reject(
                        RejectReason::CardTaken,
                        "this card number was blocked (lost, replaced or erased); issue another card",
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
        let Some(mut inserted) = self.tx.customer(CustomerKey::Id(&new.id))? else {
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
        (inserted.consent_processing, inserted.consent_advertising) = (true, r.consent_advertising);
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

    /// Records each consent the till changed, with the time, the till and the cashier,
    /// and answers both as they stand now. The feed carries the new state to every till.
    pub(super) fn consent(
        &mut self,
        customer_id: &str,
        processing: Option<bool>,
        advertising: Option<bool>,
    ) -> Result<serde_json::Value, Failure> {
        if processing.is_none() && advertising.is_none() {
            return reject(
                RejectReason::Invalid,
                "a consent operation names processing, advertising or both",
            );
        }
        let c = self.customer(customer_id)?;
        let changes = [("processing", processing), ("advertising", advertising)];
        for (kind, granted) in changes {
            let Some(granted) = granted else { continue };
            self.tx.insert_consent(&NewConsent {
                customer_id: &c.id,
                kind,
                granted,
                at: self.now,
                terminal_id: Some(&self.terminal.id),
                cashier: Some(&self.op.cashier),
            })?;
        }
        self.touch(&c.id);
        Ok(serde_json::json!({
            "processing": processing.unwrap_or(c.consent_processing),
            "advertising": advertising.unwrap_or(c.consent_advertising),
        }))
    }

    /// Marks a customer's phone verified with a fresh SMS proof for that phone.
    pub(super) fn verify_phone(
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
}
