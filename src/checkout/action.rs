//! What the cashier does: every tap and every receipt from the register, as an [`Action`],
//! and how the session dispatches each to its flow.
use super::{CustomerTab, Problem, Screen, Session, qr};
use crate::domain::card::CardNumber;
use crate::domain::fiscal::FiscalData;
use crate::domain::money::Bonus;
use crate::domain::phone::Phone;
use crate::domain::receipt::Receipt;
use crate::domain::scan::ScanPayload;
use crate::protocol::server::Questionnaire;
use crate::terminal::{ConsentChange, Found, Lookup};

/// What the cashier does: every tap and every receipt from the register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Login {
        code: String,
    },
    Logout,
    /// On the login screen, locked after too many wrong codes: a manager types their code
    /// to lift the lock (audited); the cashier then logs in.
    UnlockLogins {
        code: String,
    },
    /// The cash register hands over a sale or a return receipt.
    OpenReceipt(Receipt),
    /// Find a customer (or, on a return whose sale is not found, their purchases).
    FindByPhone(String),
    FindByCard(String),
    /// On the customer card: show the spend keypad or the customer's purchases (loaded
    /// from the server as the tab opens).
    ShowCustomerTab(CustomerTab),
    /// On the customer card: «Согласия», the consents panel in place of the tabs (again
    /// from its confirmation: the withdrawal is not made). «Готово» is
    /// `ShowCustomerTab(CustomerTab::Spend)`.
    ShowConsents,
    /// On the consents panel: the customer gives or withdraws a consent, queued at once.
    /// Withdrawing the consent to the processing of personal data asks first: the first
    /// `Processing(false)` opens the confirmation, the one from it withdraws.
    SetConsent(ConsentChange),
    /// On a return whose sale is not found: a manager picks one of the customer's
    /// purchases (by its place in the list) as its sale (audited).
    PickPurchase(usize),
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
        /// The fiscal document the register printed, when it reports one: kept with the
        /// sale.
        fiscal: Option<FiscalData>,
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
    /// The card status picked on the card step, among those the rules let a cashier issue.
    ChooseStatus(String),
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
    /// «Неподтверждённые чеки»: receipts applied that the register never closed.
    ShowUnconfirmed,
    /// The manager books an unconfirmed receipt (by its operation id): it was printed, the
    /// sale is queued.
    BookUnconfirmed(String),
    /// The manager drops an unconfirmed receipt: it was not printed, no sale.
    DropUnconfirmed(String),
    /// The manager shows the store's self-registration QR code.
    ShowSelfRegistrationQr,
    /// «Отчёт за смену»: the till's loyalty shift and what it adds up to.
    ShowShiftReport,
    /// The manager opens the till's loyalty shift (on the report).
    OpenShift,
    /// The manager closes it: the report shows its final figures.
    CloseShift,
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

/// How a card is issued at registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardChoice {
    None,
    /// Scanned or typed.
    Plastic(String),
    Virtual,
}

impl Session {
    pub(super) async fn step(&mut self, action: Action) -> Result<(), Problem> {
        match action {
            Action::Login { code } => self.login(&code).await,
            Action::UnlockLogins { code } => self.unlock_logins(&code).await,
            Action::Logout => {
                if self.open_receipt().is_some() {
                    return Err(Problem::ReceiptOpen);
                }
                self.cashier = None;
                self.screen = Screen::Login;
                Ok(())
            }
            Action::OpenReceipt(receipt) => self.receipt_arrived(receipt).await,
            Action::FindByPhone(text) => {
                let phone = Phone::parse(&text).map_err(|_| Problem::BadPhone)?;
                if matches!(self.screen, Screen::Return { .. }) {
                    return self.return_purchases(Lookup::Phone(phone)).await;
                }
                self.find(Lookup::Phone(phone)).await
            }
            Action::PickPurchase(index) => self.pick_purchase(index),
            Action::FindByCard(text) => {
                let card = CardNumber::parse(&text, &self.card_formats)
                    .map_err(|e| Problem::BadCard(e.to_string()))?;
                if matches!(self.screen, Screen::Return { .. }) {
                    return self.return_purchases(Lookup::Card(card)).await;
                }
                self.find(Lookup::Card(card)).await
            }
            Action::ShowCustomerTab(tab) => self.show_customer_tab(tab).await,
            Action::ShowConsents => self.show_consents(),
            Action::SetConsent(change) => self.set_consent(change).await,
            Action::Scan(bytes) => {
                let scan = ScanPayload::parse(&bytes, &self.card_formats)
                    .map_err(|e| Problem::BadScan(e.to_string()))?;
                if let ScanPayload::Fiscal(fiscal) = &scan {
                    return match &self.screen {
                        Screen::Return { .. } => self.return_sale_by_fiscal(fiscal).await,
                        _ => Err(Problem::BadScan(
                            "a receipt's fiscal code finds a sale for a return, not a customer"
                                .into(),
                        )),
                    };
                }
                match &self.screen {
                    // A customer's card or phone code: their purchases.
                    Screen::Return { .. } => match Lookup::of_scan(scan) {
                        Some(lookup) => self.return_purchases(lookup).await,
                        None => Err(Problem::NothingOpen),
                    },
                    Screen::Register { .. } => match scan {
                        // A card scanned at the card step of a registration.
                        ScanPayload::Card(c) => {
                            Box::pin(self.step(Action::IssueCard(CardChoice::Plastic(
                                c.as_str().to_string(),
                            ))))
                            .await
                        }
                        ScanPayload::Phone(_) | ScanPayload::Fiscal(_) => {
                            Err(Problem::BadScan("a phone QR code is not a card".into()))
                        }
                    },
                    _ => match Lookup::of_scan(scan) {
                        Some(lookup) => self.find(lookup).await,
                        None => Err(Problem::NothingOpen),
                    },
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
            Action::Apply => self.apply().await,
            Action::Close {
                receipt_id,
                printed,
                fiscal,
            } => self.close(&receipt_id, &printed, fiscal),
            Action::Withdraw { receipt_id, why } => self.withdraw(&receipt_id, why).await,
            Action::Cancel => {
                self.cancel().await;
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
                        issued_card: None,
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
            Action::ChooseStatus(name) => self.choose_status(&name),
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
                // Without a configured page, the customer's page of the till's own server.
                let url = self
                    .terminal
                    .self_registration_url()
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
            Action::ShowUnconfirmed => self.show_unconfirmed(),
            Action::BookUnconfirmed(id) => self.settle_unconfirmed(&id, true),
            Action::DropUnconfirmed(id) => self.settle_unconfirmed(&id, false),
            Action::ShowShiftReport => self.shift(None),
            Action::OpenShift => self.shift(Some(true)),
            Action::CloseShift => self.shift(Some(false)),
        }
    }
}
