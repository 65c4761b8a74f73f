//! The checkout session: what the cashier is doing right now, as a state machine over the
//! till's library ([`crate::terminal`]).
//!
//! The UI is a thin view of it: it shows [`Session::screen`] and [`Session::problem`] and
//! turns every tap into an [`Action`] for [`Session::act`]. Tests drive the same actions
//! directly. Receipts arrive through [`Action::OpenReceipt`] (from the cash-register bridge,
//! or from a test); when the cashier applies a sale the result for the register is
//! [`Session::outcome`].
//!
//! Architecture Invariant: the session never computes a number itself: prices come from
//! [`Terminal::calculate`], returns from [`Terminal::preview_return`]. A failed action
//! leaves the screen where it was and says why in [`Problem`]; nothing typed is lost.
pub mod problem;
pub mod qr;

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::domain::card::{CardFormat, CardNumber};
use crate::domain::money::Bonus;
use crate::domain::phone::Phone;
use crate::domain::receipt::{Receipt, ReceiptKind};
use crate::domain::returns::ReturnResult;
use crate::domain::scan::ScanPayload;
use crate::protocol::server::{
    CardIssue, CustomerView, Operation, Questionnaire, Secret, SmsPurpose,
};
use crate::store::Conflict;
use crate::terminal::{Cashier, Found, Lookup, NewCustomer, Priced, Terminal};
pub use problem::{Problem, ServerTrouble};

/// What the cashier does: every tap and every receipt from the register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Login {
        code: String,
    },
    Logout,
    /// The cash register hands over a sale or a return receipt.
    OpenReceipt(Receipt),
    FindByPhone(String),
    FindByCard(String),
    /// Raw bytes from the scanner (a card barcode or a QR code).
    Scan(Vec<u8>),
    /// The spend typed on the keypad.
    SetSpend(String),
    SpendNothing,
    SpendMax,
    /// «Применить к чеку»: hand the prices of the sale (or, on the return screen, the
    /// return) to the register. Nothing is queued until the register closes the receipt.
    Apply,
    /// The register printed the fiscal receipt it was given prices for: queue the
    /// operation. `printed` is the receipt as printed; it must be the one applied.
    Close {
        receipt_id: String,
        printed: Receipt,
    },
    /// The register takes its receipt back (it cancelled it, or never confirmed the print
    /// in time): the panel closes and nothing is queued.
    Withdraw {
        receipt_id: String,
        why: Withdrawal,
    },
    /// Back out of whatever is open; with a receipt open the register gets "no loyalty".
    Cancel,
    /// From "not found" (or the manager menu without a receipt): register this phone.
    StartRegistration {
        phone: String,
    },
    SendCode,
    EnterCode(String),
    /// «Без кода»: register, or go on, without the SMS code when the rules allow it.
    WithoutCode,
    Questionnaire(Questionnaire),
    Consents {
        processing: bool,
        advertising: bool,
    },
    IssueCard(CardChoice),
    /// Manager mode.
    OpenManagerMenu,
    RegisterWalkIn,
    ManualChange {
        phone: String,
        amount: String,
        reason: String,
    },
    ShowConflicts,
    ResolveConflict(String),
    /// The manager shows the store's self-registration QR code.
    ShowSelfRegistrationQr,
    /// Offline, on the customer card: a manager types their code and a reason to let this
    /// sale spend past the `[offline]` limits (audited).
    AllowOfflineSpend {
        manager_code: String,
        reason: String,
    },
}

/// Why the register took its receipt back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Withdrawal {
    /// The register cancelled the receipt.
    Register,
    /// The register did not confirm the print in time; it may have gone away.
    NoAnswer,
}

/// A receipt the cashier applied: the register has its prices and is taking the payment
/// and printing. Nothing is queued until it closes the receipt with the printed one.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub receipt: Receipt,
    /// The id the operation will be queued under, told to the register now.
    pub operation_id: uuid::Uuid,
    /// Who applied it: the operation is theirs.
    pub cashier: Cashier,
    pub at: DateTime<Utc>,
    pub what: AppliedWhat,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AppliedWhat {
    Sale {
        priced: Box<Priced>,
        /// The SMS proof of a spend above `code_to_spend_over`.
        verification: Option<Secret>,
    },
    Return {
        result: ReturnResult,
    },
}

/// How a card is issued at registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardChoice {
    None,
    /// Scanned or typed.
    Plastic(String),
    Virtual,
}

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
}

/// A spend above the rules' `code_to_spend_over` waits for a fresh SMS code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendCode {
    pub resend_at: Option<DateTime<Utc>>,
    pub tries_left: Option<u32>,
}

/// What the screen shows.
// One screen exists at a time, so the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Screen {
    Login,
    /// Logged in; no receipt from the register.
    Waiting,
    /// A sale receipt is open: find the customer.
    Find {
        receipt: Receipt,
    },
    /// Nobody with this phone or card: offer to register.
    NotFound {
        receipt: Option<Receipt>,
        phone: Option<Phone>,
    },
    /// The customer card with the live preview.
    Customer {
        receipt: Receipt,
        found: Found,
        priced: Priced,
        /// The spend as typed (kept even when it is refused).
        spend_text: String,
        /// The phone the cashier found them by: a spend code goes to it.
        phone: Option<Phone>,
        /// The spend needs an SMS code before it can be applied.
        code: Option<SpendCode>,
    },
    Register {
        receipt: Option<Receipt>,
        registration: Box<Registration>,
    },
    /// A return receipt: what is refunded and clawed back.
    Return {
        receipt: Receipt,
        preview: ReturnResult,
    },
    /// Applied and handed to the register, which is taking the payment and printing.
    AtRegister(Box<Applied>),
    Manager,
    Conflicts(Vec<Conflict>),
    /// The store's self-registration QR code, large, for a customer's phone to scan.
    SelfRegistration {
        url: String,
        qr: qr::QrModules,
    },
}

/// What the register gets back for the receipt it handed over.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The cashier applied the receipt: the prices for the register to print. Nothing is
    /// queued yet.
    Applied(Box<Applied>),
    /// The register closed an applied sale: it is queued.
    Sale {
        operation: Operation,
        priced: Box<Priced>,
    },
    /// The register closed an applied return: it is queued.
    Return {
        operation: Operation,
        result: ReturnResult,
    },
    /// The cashier cancelled: the receipt goes on without loyalty.
    Cancelled { receipt_id: String },
}

pub struct Session {
    terminal: Arc<Terminal>,
    clock: Arc<dyn Clock>,
    cashier: Option<Cashier>,
    screen: Screen,
    problem: Option<Problem>,
    outcome: Option<Outcome>,
    card_formats: Vec<CardFormat>,
}

impl Session {
    pub fn new(terminal: Arc<Terminal>, clock: Arc<dyn Clock>) -> Session {
        Session {
            terminal,
            clock,
            cashier: None,
            screen: Screen::Login,
            problem: None,
            outcome: None,
            card_formats: CardFormat::default_formats(),
        }
    }

    pub fn screen(&self) -> &Screen {
        &self.screen
    }

    /// Why the last action did not go through, in terms the UI words for the cashier.
    pub fn problem(&self) -> Option<&Problem> {
        self.problem.as_ref()
    }

    pub fn cashier(&self) -> Option<&Cashier> {
        self.cashier.as_ref()
    }

    pub fn terminal(&self) -> &Arc<Terminal> {
        &self.terminal
    }

    /// The result of the last receipt, for the register; taken once.
    pub fn take_outcome(&mut self) -> Option<Outcome> {
        self.outcome.take()
    }

    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    /// Does what the cashier asked. On a problem the screen stays as it was and
    /// [`Session::problem`] says why.
    pub async fn act(&mut self, action: Action) {
        self.problem = self.step(action).await.err();
    }

    /// An action from the cash register (through the bridge). Its refusal goes back to the
    /// register; the cashier's screen keeps its own problem, except a printed receipt that
    /// is not the applied one, which the cashier must see.
    pub async fn act_for_register(&mut self, action: Action) -> Result<(), Problem> {
        match self.step(action).await {
            Ok(()) => {
                self.problem = None;
                Ok(())
            }
            Err(p) => {
                if matches!(p, Problem::ReceiptChanged(_)) {
                    self.problem = Some(p.clone());
                }
                Err(p)
            }
        }
    }

    fn cashier_or_login(&self) -> Result<Cashier, Problem> {
        self.cashier.clone().ok_or(Problem::NotLoggedIn)
    }

    fn open_receipt(&self) -> Option<Receipt> {
        match &self.screen {
            Screen::Find { receipt }
            | Screen::Customer { receipt, .. }
            | Screen::Return { receipt, .. } => Some(receipt.clone()),
            Screen::AtRegister(applied) => Some(applied.receipt.clone()),
            Screen::NotFound { receipt, .. } | Screen::Register { receipt, .. } => receipt.clone(),
            _ => None,
        }
    }

    async fn step(&mut self, action: Action) -> Result<(), Problem> {
        match action {
            Action::Login { code } => self.login(&code).await,
            Action::Logout => {
                if self.open_receipt().is_some() {
                    return Err(Problem::ReceiptOpen);
                }
                self.cashier = None;
                self.screen = Screen::Login;
                Ok(())
            }
            Action::OpenReceipt(receipt) => self.receipt_arrived(receipt),
            Action::FindByPhone(text) => {
                let phone = Phone::parse(&text).map_err(|_| Problem::BadPhone)?;
                self.find(Lookup::Phone(phone)).await
            }
            Action::FindByCard(text) => {
                let card = CardNumber::parse(&text, &self.card_formats)
                    .map_err(|e| Problem::BadCard(e.to_string()))?;
                self.find(Lookup::Card(card)).await
            }
            Action::Scan(bytes) => {
                let scan = ScanPayload::parse(&bytes, &self.card_formats)
                    .map_err(|e| Problem::BadScan(e.to_string()))?;
                match &self.screen {
                    Screen::Register { .. } => match scan {
                        // A card scanned at the card step of a registration.
                        ScanPayload::Card(c) => {
                            Box::pin(self.step(Action::IssueCard(CardChoice::Plastic(
                                c.as_str().to_string(),
                            ))))
                            .await
                        }
                        ScanPayload::Phone(_) => {
                            Err(Problem::BadScan("a phone QR code is not a card".into()))
                        }
                    },
                    _ => self.find(scan.into()).await,
                }
            }
            Action::SetSpend(text) => self.set_spend(text).await,
            Action::SpendNothing => self.set_spend("0".into()).await,
            Action::SpendMax => {
                let max = match &self.screen {
                    Screen::Customer { priced, .. } => priced.calculation.max_spend,
                    _ => return Err(Problem::NothingOpen),
                };
                self.set_spend(max.to_string()).await
            }
            Action::Apply => self.apply(),
            Action::Close {
                receipt_id,
                printed,
            } => self.close(&receipt_id, &printed),
            Action::Withdraw { receipt_id, .. } => self.withdraw(&receipt_id),
            Action::Cancel => {
                self.cancel();
                Ok(())
            }
            Action::StartRegistration { phone } => self.start_registration(&phone),
            Action::SendCode => self.send_code().await,
            Action::EnterCode(code) => self.enter_code(&code).await,
            Action::WithoutCode => {
                // A customer registered «Без кода» goes on unverified: accrual only.
                if let Screen::Register {
                    registration,
                    receipt: Some(receipt),
                } = &self.screen
                    && let Some(existing) = registration.existing.clone()
                {
                    if !registration.without_code_allowed {
                        return Err(Problem::CodeRequired);
                    }
                    let (receipt, phone) = (receipt.clone(), registration.phone.clone());
                    let found = Found {
                        customer: existing,
                        offline: false,
                    };
                    return self
                        .show_customer(receipt, found, Some(phone), Bonus::ZERO)
                        .await;
                }
                self.without_code()
            }
            Action::Questionnaire(q) => self.questionnaire(q),
            Action::Consents {
                processing,
                advertising,
            } => self.consents(processing, advertising),
            Action::IssueCard(choice) => self.issue_card(choice).await,
            Action::OpenManagerMenu => {
                let c = self.cashier_or_login()?;
                if !c.is_manager() {
                    return Err(Problem::ManagerOnly);
                }
                if self.open_receipt().is_some() {
                    return Err(Problem::ReceiptOpen);
                }
                self.screen = Screen::Manager;
                Ok(())
            }
            Action::RegisterWalkIn => {
                if self.screen != Screen::Manager {
                    return Err(Problem::NothingOpen);
                }
                self.screen = Screen::NotFound {
                    receipt: None,
                    phone: None,
                };
                Ok(())
            }
            Action::ManualChange {
                phone,
                amount,
                reason,
            } => self.manual_change(&phone, &amount, &reason).await,
            Action::ShowConflicts => {
                let c = self.cashier_or_login()?;
                if !c.is_manager() {
                    return Err(Problem::ManagerOnly);
                }
                self.screen = Screen::Conflicts(self.terminal.conflicts()?);
                Ok(())
            }
            Action::AllowOfflineSpend {
                manager_code,
                reason,
            } => self.allow_offline_spend(&manager_code, &reason).await,
            Action::ShowSelfRegistrationQr => {
                if self.screen != Screen::Manager {
                    return Err(Problem::NothingOpen);
                }
                let url = self
                    .terminal
                    .config()
                    .self_registration_url
                    .clone()
                    .ok_or(Problem::SelfRegistrationNotConfigured)?;
                let qr = qr::encode(&url).map_err(|_| Problem::SelfRegistrationNotConfigured)?;
                self.screen = Screen::SelfRegistration { url, qr };
                Ok(())
            }
            Action::ResolveConflict(id) => {
                let c = self.cashier_or_login()?;
                self.terminal.resolve_conflict(&c, &id)?;
                self.screen = Screen::Conflicts(self.terminal.conflicts()?);
                Ok(())
            }
        }
    }

    async fn login(&mut self, code: &str) -> Result<(), Problem> {
        if self.screen != Screen::Login {
            return Err(Problem::NothingOpen);
        }
        if code.trim().is_empty() {
            return Err(Problem::WrongCashierCode { tries_left: None });
        }
        let cashier = self.terminal.login(code).await?;
        self.cashier = Some(cashier);
        self.screen = Screen::Waiting;
        Ok(())
    }

    fn receipt_arrived(&mut self, receipt: Receipt) -> Result<(), Problem> {
        self.cashier_or_login()?;
        // Only a resting till takes a receipt: a walk-in registration or the manager's
        // screens keep what was typed, and the register hears "busy" and may retry.
        if self.screen != Screen::Waiting {
            return Err(Problem::Busy);
        }
        receipt
            .validate()
            .map_err(|e| Problem::BadReceipt(e.to_string()))?;
        self.outcome = None;
        self.screen = match receipt.kind {
            ReceiptKind::Sale => Screen::Find { receipt },
            ReceiptKind::Return => {
                let preview = self.terminal.preview_return(&receipt)?;
                Screen::Return { receipt, preview }
            }
        };
        Ok(())
    }

    async fn find(&mut self, lookup: Lookup) -> Result<(), Problem> {
        let receipt = match &self.screen {
            Screen::Find { receipt } => Some(receipt.clone()),
            Screen::NotFound { receipt, .. } => receipt.clone(),
            Screen::Customer { receipt, .. } => Some(receipt.clone()),
            _ => return Err(Problem::NothingOpen),
        };
        let Some(receipt) = receipt else {
            return Err(Problem::NothingOpen);
        };
        match self.terminal.lookup(&lookup).await? {
            None => {
                self.screen = Screen::NotFound {
                    receipt: Some(receipt),
                    phone: match lookup {
                        Lookup::Phone(p) => Some(p),
                        Lookup::Card(_) => None,
                    },
                };
                Ok(())
            }
            Some(found) => {
                let phone = match lookup {
                    Lookup::Phone(p) => Some(p),
                    Lookup::Card(_) => None,
                };
                match phone {
                    // Found but never verified: the code form again, with «Без кода».
                    Some(phone) if !found.customer.phone_verified && !found.offline => {
                        self.screen = Screen::Register {
                            receipt: Some(receipt),
                            registration: Box::new(self.registration(phone, Some(found.customer))?),
                        };
                        Ok(())
                    }
                    phone => self.show_customer(receipt, found, phone, Bonus::ZERO).await,
                }
            }
        }
    }

    async fn show_customer(
        &mut self,
        receipt: Receipt,
        found: Found,
        phone: Option<Phone>,
        spend: Bonus,
    ) -> Result<(), Problem> {
        let priced = self
            .terminal
            .calculate(&found.customer, &receipt, spend)
            .await?;
        self.screen = Screen::Customer {
            receipt,
            found,
            priced,
            spend_text: spend.to_string(),
            phone,
            code: None,
        };
        Ok(())
    }

    async fn set_spend(&mut self, text: String) -> Result<(), Problem> {
        let Screen::Customer {
            receipt,
            found,
            spend_text,
            ..
        } = &mut self.screen
        else {
            return Err(Problem::NothingOpen);
        };
        *spend_text = text.clone();
        let spend = Bonus::parse_non_negative(text.trim()).map_err(|_| Problem::BadSpend)?;
        let (receipt, found) = (receipt.clone(), found.clone());
        let priced = self
            .terminal
            .calculate(&found.customer, &receipt, spend)
            .await?;
        if let Screen::Customer {
            priced: p, code, ..
        } = &mut self.screen
        {
            *p = priced;
            *code = None;
        }
        Ok(())
    }

    fn needs_spend_code(&self, priced: &Priced) -> bool {
        let Ok((_, rules)) = self.terminal.rules() else {
            return false;
        };
        rules
            .verification
            .code_to_spend_over
            .is_some_and(|over| priced.spend > over)
    }

    fn apply(&mut self) -> Result<(), Problem> {
        let cashier = self.cashier_or_login()?;
        match self.screen.clone() {
            Screen::Customer { priced, code, .. } => {
                if self.needs_spend_code(&priced) {
                    if priced.offline {
                        return Err(Problem::NeedsServer);
                    }
                    // The code form opens; EnterCode confirms the sale.
                    if code.is_none()
                        && let Screen::Customer { code: c, .. } = &mut self.screen
                    {
                        *c = Some(SpendCode {
                            resend_at: None,
                            tries_left: None,
                        });
                    }
                    return Err(Problem::SpendNeedsCode);
                }
                self.hand_over(
                    cashier,
                    AppliedWhat::Sale {
                        priced: Box::new(priced),
                        verification: None,
                    },
                )
            }
            Screen::Return { receipt, .. } => {
                // Computed again: what the register prints is what the close will queue.
                let result = self.terminal.preview_return(&receipt)?;
                self.hand_over(cashier, AppliedWhat::Return { result })
            }
            _ => Err(Problem::NothingOpen),
        }
    }

    /// Gives the register the prices of the open receipt; the panel waits for the print.
    fn hand_over(&mut self, cashier: Cashier, what: AppliedWhat) -> Result<(), Problem> {
        let receipt = self.open_receipt().ok_or(Problem::NothingOpen)?;
        let applied = Box::new(Applied {
            receipt,
            operation_id: uuid::Uuid::now_v7(),
            cashier,
            at: self.clock.now(),
            what,
        });
        self.outcome = Some(Outcome::Applied(applied.clone()));
        self.screen = Screen::AtRegister(applied);
        Ok(())
    }

    /// The register printed the receipt: queue its operation under the id it was told.
    fn close(&mut self, receipt_id: &str, printed: &Receipt) -> Result<(), Problem> {
        let applied = match &self.screen {
            Screen::AtRegister(applied) if applied.receipt.id == receipt_id => applied.clone(),
            _ => {
                return Err(match self.open_receipt() {
                    Some(r) if r.id == receipt_id => Problem::NotApplied,
                    _ => Problem::NoSuchReceipt,
                });
            }
        };
        if let Some(difference) = applied.receipt.difference(printed) {
            return Err(Problem::ReceiptChanged(difference));
        }
        let Applied {
            operation_id,
            cashier,
            what,
            receipt,
            ..
        } = *applied;
        let outcome = match what {
            AppliedWhat::Sale {
                priced,
                verification,
            } => {
                let operation =
                    self.terminal
                        .sell_as(operation_id, &cashier, &priced, verification)?;
                Outcome::Sale { operation, priced }
            }
            AppliedWhat::Return { .. } => {
                let (result, operation) =
                    self.terminal
                        .make_return_as(operation_id, &cashier, &receipt)?;
                Outcome::Return { operation, result }
            }
        };
        self.finish(outcome);
        Ok(())
    }

    /// The register took its receipt back. A registration under way goes on without the
    /// receipt, so the customer is not lost.
    fn withdraw(&mut self, receipt_id: &str) -> Result<(), Problem> {
        match self.open_receipt() {
            Some(r) if r.id == receipt_id => {}
            _ => return Err(Problem::NoSuchReceipt),
        }
        self.outcome = Some(Outcome::Cancelled {
            receipt_id: receipt_id.to_string(),
        });
        match &mut self.screen {
            Screen::Register { receipt, .. } => *receipt = None,
            _ => {
                self.screen = if self.cashier.is_some() {
                    Screen::Waiting
                } else {
                    Screen::Login
                }
            }
        }
        Ok(())
    }

    fn finish(&mut self, outcome: Outcome) {
        self.outcome = Some(outcome);
        self.screen = Screen::Waiting;
    }

    fn cancel(&mut self) {
        match &mut self.screen {
            // Back out of the spend code to the card.
            Screen::Customer { code, .. } if code.is_some() => *code = None,
            // Back out of a registration step.
            Screen::Register {
                registration,
                receipt,
            } => match registration.step {
                RegistrationStep::Code => {
                    self.screen = match (&registration.existing, receipt.clone()) {
                        (Some(_), Some(receipt)) => Screen::Find { receipt },
                        _ => Screen::NotFound {
                            receipt: receipt.clone(),
                            phone: Some(registration.phone.clone()),
                        },
                    }
                }
                RegistrationStep::Questionnaire => registration.step = RegistrationStep::Code,
                RegistrationStep::Consents => registration.step = RegistrationStep::Questionnaire,
                RegistrationStep::Card => registration.step = RegistrationStep::Consents,
            },
            Screen::Conflicts(_) | Screen::SelfRegistration { .. } => self.screen = Screen::Manager,
            Screen::Manager => self.screen = Screen::Waiting,
            _ => {
                if let Some(r) = self.open_receipt() {
                    self.outcome = Some(Outcome::Cancelled { receipt_id: r.id });
                }
                self.screen = if self.cashier.is_some() {
                    Screen::Waiting
                } else {
                    Screen::Login
                };
            }
        }
    }

    fn start_registration(&mut self, phone: &str) -> Result<(), Problem> {
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
    fn registration(
        &self,
        phone: Phone,
        existing: Option<CustomerView>,
    ) -> Result<Registration, Problem> {
        let rules = self.terminal.rules()?.1;
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
        })
    }

    async fn send_code(&mut self) -> Result<(), Problem> {
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

    async fn enter_code(&mut self, code: &str) -> Result<(), Problem> {
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
                Ok(proof) => self.hand_over(
                    cashier,
                    AppliedWhat::Sale {
                        priced: Box::new(priced),
                        verification: Some(proof),
                    },
                ),
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
        };
        self.show_customer(receipt, found, Some(phone), Bonus::ZERO)
            .await
    }

    fn without_code(&mut self) -> Result<(), Problem> {
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

    fn questionnaire(&mut self, q: Questionnaire) -> Result<(), Problem> {
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

    fn consents(&mut self, processing: bool, advertising: bool) -> Result<(), Problem> {
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

    async fn issue_card(&mut self, choice: CardChoice) -> Result<(), Problem> {
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
        let (customer, _op) = self.terminal.register(
            &cashier,
            NewCustomer {
                phone: r.phone.clone(),
                verification: r.verification,
                questionnaire: r.questionnaire,
                consent_processing: r.consent_processing,
                consent_advertising: r.consent_advertising,
                card,
            },
        )?;
        match receipt {
            Some(receipt) => {
                let offline = self.terminal.status().online != Some(true);
                self.show_customer(
                    receipt,
                    Found { customer, offline },
                    Some(r.phone),
                    Bonus::ZERO,
                )
                .await
            }
            None => {
                // A walk-in registered from the manager menu.
                self.screen = Screen::Manager;
                Ok(())
            }
        }
    }

    async fn allow_offline_spend(&mut self, code: &str, reason: &str) -> Result<(), Problem> {
        let (customer_id, offline, spend_text) = match &self.screen {
            Screen::Customer {
                found,
                priced,
                spend_text,
                ..
            } => (
                found.customer.id.clone(),
                priced.offline,
                spend_text.clone(),
            ),
            _ => return Err(Problem::NothingOpen),
        };
        if !offline {
            return Err(Problem::NothingOpen);
        }
        if reason.trim().is_empty() {
            return Err(Problem::ReasonRequired);
        }
        let manager = self.terminal.login(code).await?;
        if !manager.is_manager() {
            return Err(Problem::ManagerOnly);
        }
        self.terminal
            .allow_offline_spend(&manager, &customer_id, reason)?;
        self.set_spend(spend_text).await
    }

    async fn manual_change(
        &mut self,
        phone: &str,
        amount: &str,
        reason: &str,
    ) -> Result<(), Problem> {
        let manager = self.cashier_or_login()?;
        if !manager.is_manager() {
            return Err(Problem::ManagerOnly);
        }
        if self.screen != Screen::Manager {
            return Err(Problem::NothingOpen);
        }
        let phone = Phone::parse(phone).map_err(|_| Problem::BadPhone)?;
        let amount: Bonus = amount.trim().parse().map_err(|_| Problem::BadAmount)?;
        if amount.is_zero() {
            return Err(Problem::BadAmount);
        }
        if reason.trim().is_empty() {
            return Err(Problem::ReasonRequired);
        }
        let customer: CustomerView = self
            .terminal
            .lookup(&Lookup::Phone(phone))
            .await?
            .ok_or(Problem::NotFound)?
            .customer;
        self.terminal
            .manual_change(&manager, &customer.id, amount, reason, None)?;
        Ok(())
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
