//! Registering a customer at the till, step by step (the SMS code, the questionnaire, the
//! consents, the card), the phone of one registered «Без кода» verified later, and the
//! SMS codes a spend above the threshold needs.
use chrono::{DateTime, Utc};

use super::{AppliedWhat, CardChoice, Problem, Screen, Session};
use crate::domain::card::CardNumber;
use crate::domain::money::Bonus;
use crate::domain::phone::Phone;
use crate::domain::status::{cashier_statuses, registration_status};
use crate::protocol::server::{CardIssue, CustomerView, Questionnaire, Secret, SmsPurpose};
use crate::terminal::{Found, NewCustomer};

/// The step of a registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationStep {
    /// The SMS code: send, resend after the cooldown, enter.
    Code,
    Questionnaire,
    Consents,
    Card,
}

/// What a registration has gathered so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub phone: Phone,
    pub step: RegistrationStep,
    /// When the code went out and when it may be resent.
    pub code_sent_at: Option<DateTime<Utc>>,
    pub resend_at: Option<DateTime<Utc>>,
    pub tries_left: Option<u32>,
    pub verification: Option<Secret>,
    pub questionnaire: Questionnaire,
    pub consent_processing: bool,
    pub consent_advertising: bool,
    /// «Без кода» is offered.
    pub without_code_allowed: bool,
    /// Set when this is not a new customer but one registered «Без кода» whose phone is
    /// being verified now.
    pub existing: Option<CustomerView>,
    /// The card statuses the cashier may pick from (seed 004), lowest first: empty unless
    /// the cached rules let a cashier issue two or more.
    pub statuses: Vec<String>,
    /// The status the new customer gets: the rules' registration status unless the
    /// cashier picked another.
    pub status: String,
    /// Whether the cashier picked `status` (it goes with the operation) or it is the
    /// rules' registration status.
    pub status_picked: bool,
}

impl Session {
    pub(super) fn start_registration(&mut self, phone: &str) -> Result<(), Problem> {
        self.cashier_or_login()?;
        let receipt = match &self.screen {
            Screen::NotFound { receipt, .. } => receipt.clone(),
            Screen::Find { receipt } => Some(receipt.clone()),
            Screen::Manager => None,
            _ => return Err(Problem::NothingOpen),
        };
        let phone = Phone::parse(phone).map_err(|_| Problem::BadPhone)?;
        self.screen = Screen::Register {
            receipt,
            registration: Box::new(self.registration(phone, None)?),
        };
        Ok(())
    }

    /// A registration at its first step, the SMS code; `existing` for a customer
    /// registered «Без кода» who verifies their phone now.
    pub(super) fn registration(
        &self,
        phone: Phone,
        existing: Option<CustomerView>,
    ) -> Result<Registration, Problem> {
        let rules = self.terminal.rules()?.1;
        let offered = cashier_statuses(&rules);
        let statuses = if offered.len() > 1 && existing.is_none() {
            offered.iter().map(|c| c.name.clone()).collect()
        } else {
            Vec::new()
        };
        let status = registration_status(&rules, None)
            .map(|c| c.name.clone())
            .unwrap_or_default();
        Ok(Registration {
            phone,
            step: RegistrationStep::Code,
            code_sent_at: None,
            resend_at: None,
            tries_left: None,
            verification: None,
            questionnaire: Questionnaire::default(),
            consent_processing: false,
            consent_advertising: false,
            without_code_allowed: rules.verification.allow_without_code,
            existing,
            statuses,
            status,
            status_picked: false,
        })
    }

    pub(super) async fn send_code(&mut self) -> Result<(), Problem> {
        let now = self.clock.now();
        match &self.screen {
            Screen::Register { registration, .. }
                if registration.step == RegistrationStep::Code =>
            {
                if let Some(at) = registration.resend_at
                    && at > now
                {
                    return Err(Problem::Cooldown {
                        seconds: (at - now).num_seconds().max(1) as u64,
                    });
                }
                let phone = registration.phone.clone();
                let sent = self
                    .terminal
                    .send_code(&phone, SmsPurpose::Registration)
                    .await?;
                if let Screen::Register { registration, .. } = &mut self.screen {
                    registration.code_sent_at = Some(now);
                    registration.resend_at =
                        Some(now + chrono::Duration::seconds(sent.resend_after_s as i64));
                    registration.tries_left = Some(sent.tries);
                }
                Ok(())
            }
            Screen::Customer {
                phone,
                code: Some(code),
                ..
            } => {
                if let Some(at) = code.resend_at
                    && at > now
                {
                    return Err(Problem::Cooldown {
                        seconds: (at - now).num_seconds().max(1) as u64,
                    });
                }
                let phone = phone.clone().ok_or(Problem::SpendCodeNeedsPhone)?;
                let sent = self.terminal.send_code(&phone, SmsPurpose::Spend).await?;
                if let Screen::Customer { code: Some(c), .. } = &mut self.screen {
                    c.resend_at = Some(now + chrono::Duration::seconds(sent.resend_after_s as i64));
                    c.tries_left = Some(sent.tries);
                }
                Ok(())
            }
            _ => Err(Problem::NothingOpen),
        }
    }

    pub(super) async fn enter_code(&mut self, code: &str) -> Result<(), Problem> {
        if let Screen::Customer {
            phone: Some(phone),
            code: Some(_),
            priced,
            ..
        } = &self.screen
        {
            let (phone, priced) = (phone.clone(), priced.clone());
            let cashier = self.cashier_or_login()?;
            return match self
                .terminal
                .verify_code(&phone, SmsPurpose::Spend, code)
                .await
            {
                Ok(proof) => {
                    self.hand_over(
                        cashier,
                        AppliedWhat::Sale {
                            priced: Box::new(priced),
                            verification: Some(proof),
                        },
                    )
                    .await
                }
                Err(e) => {
                    let p = Problem::from(e);
                    if let Screen::Customer { code: Some(c), .. } = &mut self.screen {
                        c.tries_left = tries_after(&p, c.tries_left);
                    }
                    Err(p)
                }
            };
        }
        let Screen::Register { registration, .. } = &self.screen else {
            return Err(Problem::NothingOpen);
        };
        if registration.step != RegistrationStep::Code {
            return Err(Problem::NothingOpen);
        }
        let phone = registration.phone.clone();
        let result = self
            .terminal
            .verify_code(&phone, SmsPurpose::Registration, code)
            .await;
        let Screen::Register { registration, .. } = &mut self.screen else {
            return Err(Problem::NothingOpen);
        };
        match result {
            Ok(proof) => {
                if let Some(existing) = registration.existing.clone() {
                    return self.verified_existing(existing, proof).await;
                }
                registration.verification = Some(proof);
                registration.step = RegistrationStep::Questionnaire;
                Ok(())
            }
            Err(e) => {
                let p = Problem::from(e);
                registration.tries_left = tries_after(&p, registration.tries_left);
                Err(p)
            }
        }
    }

    /// The phone of a customer registered «Без кода» is verified: queue it and show their
    /// card, now able to spend.
    async fn verified_existing(
        &mut self,
        mut customer: CustomerView,
        proof: Secret,
    ) -> Result<(), Problem> {
        let cashier = self.cashier_or_login()?;
        let Screen::Register {
            registration,
            receipt,
        } = &self.screen
        else {
            return Err(Problem::NothingOpen);
        };
        let (phone, receipt) = (registration.phone.clone(), receipt.clone());
        self.terminal
            .verify_phone(&cashier, &customer.id, &phone, proof)?;
        customer.phone_verified = true;
        let receipt = receipt.ok_or(Problem::NothingOpen)?;
        let found = Found {
            customer,
            offline: false,
            issued_card: None,
        };
        self.show_customer(receipt, found, Some(phone), Bonus::ZERO)
            .await
    }

    pub(super) fn without_code(&mut self) -> Result<(), Problem> {
        let Screen::Register { registration, .. } = &mut self.screen else {
            return Err(Problem::NothingOpen);
        };
        if !registration.without_code_allowed {
            return Err(Problem::CodeRequired);
        }

        registration.verification = None;
        registration.step = RegistrationStep::Questionnaire;
        Ok(())
    }

    pub(super) fn questionnaire(&mut self, q: Questionnaire) -> Result<(), Problem> {
        let Screen::Register { registration, .. } = &mut self.screen else {
            return Err(Problem::NothingOpen);
        };
        if registration.step != RegistrationStep::Questionnaire {
            return Err(Problem::NothingOpen);
        }
        if let Some(email) = q.email.as_deref()
            && !email.is_empty()
            && !email.contains('@')
        {
            return Err(Problem::BadEmail);
        }
        if let Some(born) = q.birth_date
            && born > self.clock.now().date_naive()
        {
            return Err(Problem::BadBirthDate);
        }
        registration.questionnaire = q;
        registration.step = RegistrationStep::Consents;
        Ok(())
    }

    pub(super) fn consents(&mut self, processing: bool, advertising: bool) -> Result<(), Problem> {
        let Screen::Register { registration, .. } = &mut self.screen else {
            return Err(Problem::NothingOpen);
        };
        if registration.step != RegistrationStep::Consents {
            return Err(Problem::NothingOpen);
        }
        if !processing {
            return Err(Problem::ConsentRequired);
        }
        registration.consent_processing = true;
        registration.consent_advertising = advertising;
        registration.step = RegistrationStep::Card;
        Ok(())
    }

    /// The cashier picks the card status of the new customer on the card step.
    pub(super) fn choose_status(&mut self, name: &str) -> Result<(), Problem> {
        let Screen::Register { registration, .. } = &mut self.screen else {
            return Err(Problem::NothingOpen);
        };
        if registration.step != RegistrationStep::Card {
            return Err(Problem::NothingOpen);
        }
        if !registration.statuses.iter().any(|s| s == name) {
            return Err(Problem::StatusNotIssuable(name.to_string()));
        }
        registration.status = name.to_string();
        registration.status_picked = true;
        Ok(())
    }

    pub(super) async fn issue_card(&mut self, choice: CardChoice) -> Result<(), Problem> {
        let cashier = self.cashier_or_login()?;
        let Screen::Register {
            registration,
            receipt,
        } = &self.screen
        else {
            return Err(Problem::NothingOpen);
        };
        if registration.step != RegistrationStep::Card {
            return Err(Problem::NothingOpen);
        }
        let card = match choice {
            CardChoice::None => None,
            CardChoice::Virtual => Some(CardIssue::Virtual),
            CardChoice::Plastic(text) => {
                let card = CardNumber::parse(&text, &self.card_formats)
                    .map_err(|e| Problem::BadCard(e.to_string()))?;
                Some(CardIssue::Plastic {
                    number: Secret(card.as_str().to_string()),
                })
            }
        };
        let r = registration.as_ref().clone();
        let receipt = receipt.clone();
        let (customer, op) = self.terminal.register(
            &cashier,
            NewCustomer {
                phone: r.phone.clone(),
                verification: r.verification,
                questionnaire: r.questionnaire,
                consent_processing: r.consent_processing,
                consent_advertising: r.consent_advertising,
                card,
                card_status: r.status_picked.then_some(r.status),
            },
        )?;
        match receipt {
            Some(receipt) => {
                // Online, the server registers them now: the card shows its figures (a
                // welcome bonus, the balance the spend agrees with) and the virtual card.
                let found = match self.terminal.send_registration(&op).await {
                    Some(registered) => Found {
                        customer: registered.customer,
                        offline: false,
                        issued_card: registered.card_number,
                    },
                    None => Found {
                        customer,
                        offline: self.terminal.status().online != Some(true),
                        issued_card: None,
                    },
                };
                self.show_customer(receipt, found, Some(r.phone), Bonus::ZERO)
                    .await
            }
            None => {
                // A walk-in registered from the manager menu.
                self.screen = Screen::Manager;
                Ok(())
            }
        }
    }
}

/// The tries shown after a code was refused: the server's count for a wrong code; none
/// for a code that is dead (expired, or out of tries), since a new code brings its own.
fn tries_after(problem: &Problem, before: Option<u32>) -> Option<u32> {
    match problem {
        Problem::CodeWrong { tries_left } => *tries_left,
        Problem::CodeExpired | Problem::TooManyTries => None,
        _ => before,
    }
}
