//! The [`Session`]: the cashier logged in, the screen, the last problem and the register's
//! outcome; and the flow of a receipt: logging in, a receipt arriving, finding the
//! customer, the spend, applying it, the register's close or withdrawal, and backing out.
use std::sync::Arc;

use super::{
    Action, Applied, AppliedWhat, CustomerPanel, CustomerPurchases, CustomerTab, Outcome, Problem,
    RegistrationStep, Screen, SpendCode, Withdrawal,
};
use crate::clock::Clock;
use crate::domain::card::CardFormat;
use crate::domain::fiscal::FiscalData;
use crate::domain::money::Bonus;
use crate::domain::phone::Phone;
use crate::domain::receipt::{Receipt, ReceiptKind};
use crate::store::KeptReceipt;
use crate::terminal::{Cashier, Found, Held, Lookup, Priced, ReturnSale, Terminal, TerminalError};

/// The cashier's session at the till: what the UI shows and what its actions change.
pub struct Session {
    pub(super) terminal: Arc<Terminal>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) cashier: Option<Cashier>,
    pub(super) screen: Screen,
    pub(super) problem: Option<Problem>,
    pub(super) outcome: Option<Outcome>,
    pub(super) card_formats: Vec<CardFormat>,
    /// The last tap of the cashier or receipt of the register: the idle logout counts
    /// from here.
    pub(super) last_activity: chrono::DateTime<chrono::Utc>,
}

impl Session {
    pub fn new(terminal: Arc<Terminal>, clock: Arc<dyn Clock>) -> Session {
        let last_activity = clock.now();
        Session {
            terminal,
            clock,
            cashier: None,
            screen: Screen::Login,
            problem: None,
            outcome: None,
            card_formats: CardFormat::default_formats(),
            last_activity,
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
        self.last_activity = self.clock.now();
        self.problem = self.step(action).await.err();
    }

    /// Logs the cashier out when nothing happened for the till's `idle_logout_s` (0: never)
    /// and nothing is under way: no receipt, no registration, nothing typed on a form. True
    /// when it did.
    pub fn logout_if_idle(&mut self) -> bool {
        let idle_s = self.terminal.config().idle_logout_s;
        let resting = matches!(
            self.screen,
            Screen::Waiting
                | Screen::Manager
                | Screen::Conflicts(_)
                | Screen::Unconfirmed(_)
                | Screen::SelfRegistration { .. }
        );
        let idle = self.clock.now() - self.last_activity;
        if idle_s == 0
            || self.cashier.is_none()
            || !resting
            || idle < chrono::Duration::seconds(idle_s as i64)
        {
            return false;
        }
        tracing::info!(idle_s, "the cashier was logged out after the idle time");
        self.cashier = None;
        self.screen = Screen::Login;
        self.problem = Some(Problem::LoggedOutIdle {
            minutes: idle_s.div_ceil(60),
        });
        true
    }

    /// An action from the cash register (through the bridge). Its refusal goes back to the
    /// register; the cashier's screen keeps its own problem, except a printed receipt that
    /// is not the applied one, which the cashier must see.
    pub async fn act_for_register(&mut self, action: Action) -> Result<(), Problem> {
        self.last_activity = self.clock.now();
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

    pub(super) fn cashier_or_login(&self) -> Result<Cashier, Problem> {
        self.cashier.clone().ok_or(Problem::NotLoggedIn)
    }

    pub(super) fn open_receipt(&self) -> Option<Receipt> {
        match &self.screen {
            Screen::Find { receipt }
            | Screen::Customer { receipt, .. }
            | Screen::Return { receipt, .. } => Some(receipt.clone()),
            Screen::AtRegister(applied) => Some(applied.receipt.clone()),
            Screen::NotFound { receipt, .. } | Screen::Register { receipt, .. } => receipt.clone(),
            _ => None,
        }
    }

    pub(super) async fn login(&mut self, code: &str) -> Result<(), Problem> {
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

    pub(super) async fn unlock_logins(&mut self, code: &str) -> Result<(), Problem> {
        if self.screen != Screen::Login {
            return Err(Problem::NothingOpen);
        }
        if code.trim().is_empty() {
            return Err(Problem::WrongCashierCode { tries_left: None });
        }
        self.terminal.unlock_logins(code).await?;
        Ok(())
    }

    pub(super) async fn receipt_arrived(&mut self, receipt: Receipt) -> Result<(), Problem> {
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
            ReceiptKind::Return => match self.terminal.find_return_sale(&receipt).await {
                Ok(sale) => {
                    let preview = self.terminal.preview_return(&receipt, &sale)?;
                    Screen::Return {
                        receipt,
                        sale: Some(sale),
                        preview: Some(preview),
                        purchases: None,
                    }
                }
                // Online, but no single sale has this number: the cashier scans the sale
                // receipt's fiscal QR code, or cancels (the return goes on without bonuses).
                Err(TerminalError::SaleNotKept(_) | TerminalError::SaleAmbiguous(_)) => {
                    Screen::Return {
                        receipt,
                        sale: None,
                        preview: None,
                        purchases: None,
                    }
                }
                Err(e) => return Err(e.into()),
            },
        };
        Ok(())
    }

    /// On the return screen: the sale found by the fiscal QR code of its receipt.
    pub(super) async fn return_sale_by_fiscal(
        &mut self,
        fiscal: &FiscalData,
    ) -> Result<(), Problem> {
        let Screen::Return { receipt, .. } = &self.screen else {
            return Err(Problem::NothingOpen);
        };
        let receipt = receipt.clone();
        let sale = self.terminal.find_sale_by_fiscal(fiscal).await?;
        let preview = self.terminal.preview_return(&receipt, &sale)?;
        self.screen = Screen::Return {
            receipt,
            sale: Some(sale),
            preview: Some(preview),
            purchases: None,
        };
        Ok(())
    }

    /// On the return screen of a receipt whose sale is not found: the customer's recent
    /// purchases at any till (online only), for a manager to pick one.
    pub(super) async fn return_purchases(&mut self, lookup: Lookup) -> Result<(), Problem> {
        if !matches!(self.screen, Screen::Return { sale: None, .. }) {
            return Err(Problem::NothingOpen);
        }
        let found = self
            .terminal
            .lookup(&lookup)
            .await?
            .ok_or(Problem::NotFound)?;
        if found.offline {
            return Err(Problem::NeedsServer);
        }
        let sales = self.terminal.customer_sales(&found.customer.id).await?;
        if let Screen::Return { purchases, .. } = &mut self.screen {
            *purchases = Some(Box::new(CustomerPurchases {
                customer: found.customer,
                phone: match lookup {
                    Lookup::Phone(p) => Some(p),
                    Lookup::Card(_) => None,
                },
                sales,
            }));
        }
        Ok(())
    }

    /// A manager picks one of the customer's purchases as the sale of the open return,
    /// the customer having lost the receipt: audited.
    pub(super) fn pick_purchase(&mut self, index: usize) -> Result<(), Problem> {
        let cashier = self.cashier_or_login()?;
        if !cashier.is_manager() {
            return Err(Problem::ManagerOnly);
        }
        let Screen::Return {
            receipt,
            sale: None,
            purchases: Some(purchases),
            ..
        } = &self.screen
        else {
            return Err(Problem::NothingOpen);
        };
        let picked = purchases
            .sales
            .get(index)
            .cloned()
            .ok_or(Problem::NothingOpen)?;
        let receipt = receipt.clone();
        let sale = ReturnSale::Server {
            sale: Box::new(picked.clone()),
            by_reference: true,
        };
        let preview = self.terminal.preview_return(&receipt, &sale)?;
        self.terminal
            .audit_return_without_receipt(&cashier, &picked)?;
        self.screen = Screen::Return {
            receipt,
            sale: Some(sale),
            preview: Some(preview),
            purchases: None,
        };
        Ok(())
    }

    pub(super) async fn find(&mut self, lookup: Lookup) -> Result<(), Problem> {
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

    /// Prices the receipt for the customer found; a card issued at their registration
    /// goes with the figures to the slip.
    pub(super) async fn price(
        &self,
        found: &Found,
        receipt: &Receipt,
        spend: Bonus,
    ) -> Result<Priced, TerminalError> {
        let mut priced = self
            .terminal
            .calculate(&found.customer, receipt, spend)
            .await?;
        priced.issued_card = found.issued_card.clone();
        Ok(priced)
    }

    pub(super) async fn show_customer(
        &mut self,
        receipt: Receipt,
        found: Found,
        phone: Option<Phone>,
        spend: Bonus,
    ) -> Result<(), Problem> {
        let priced = self.price(&found, &receipt, spend).await?;
        self.screen = Screen::Customer {
            receipt,
            found,
            priced,
            spend_text: spend.to_string(),
            phone,
            code: None,
            panel: CustomerPanel::Spend,
        };
        Ok(())
    }

    /// On the customer card: the spend keypad, or the customer's recent purchases at any
    /// till or their bonus history, asked of the server now. Without the server the tab
    /// says it needs it; the spend and the figures stay as they were.
    pub(super) async fn show_customer_tab(&mut self, tab: CustomerTab) -> Result<(), Problem> {
        let Screen::Customer { found, .. } = &self.screen else {
            return Err(Problem::NothingOpen);
        };
        let panel = match tab {
            CustomerTab::Spend => CustomerPanel::Spend,
            CustomerTab::Purchases => {
                let id = found.customer.id.clone();
                match self.terminal.customer_sales(&id).await {
                    Ok(sales) => CustomerPanel::Purchases(sales),
                    Err(TerminalError::NeedsServer(_)) => CustomerPanel::PurchasesNeedServer,
                    Err(e) => return Err(e.into()),
                }
            }
            CustomerTab::History => {
                let id = found.customer.id.clone();
                match self.terminal.customer_history(&id).await {
                    Ok(history) => CustomerPanel::History(Box::new(history)),
                    Err(TerminalError::NeedsServer(_)) => CustomerPanel::HistoryNeedsServer,
                    Err(e) => return Err(e.into()),
                }
            }
        };
        if let Screen::Customer { panel: p, .. } = &mut self.screen {
            *p = panel;
        }
        Ok(())
    }

    pub(super) async fn set_spend(&mut self, text: String) -> Result<(), Problem> {
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
        if !spend.is_zero() && !found.customer.consent_processing {
            return Err(Problem::ProcessingConsentWithdrawn);
        }
        let (receipt, found) = (receipt.clone(), found.clone());
        let priced = self.price(&found, &receipt, spend).await?;
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

    pub(super) async fn apply(&mut self) -> Result<(), Problem> {
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
                .await
            }
            Screen::Return { receipt, sale, .. } => {
                let sale = sale.ok_or(Problem::SaleNotKept)?;
                // Computed again: what the register prints is what the close will queue.
                let result = self.terminal.preview_return(&receipt, &sale)?;
                self.hand_over(cashier, AppliedWhat::Return { result, sale })
                    .await
            }
            _ => Err(Problem::NothingOpen),
        }
    }

    /// Gives the register the prices of the open receipt; the panel waits for the print.
    /// A sale priced online first holds its spend at the server, so no other till can
    /// spend the same bonuses before this one closes.
    pub(super) async fn hand_over(
        &mut self,
        cashier: Cashier,
        what: AppliedWhat,
    ) -> Result<(), Problem> {
        let receipt = self.open_receipt().ok_or(Problem::NothingOpen)?;
        let operation_id = uuid::Uuid::now_v7();
        let (what, held) = match what {
            AppliedWhat::Sale {
                priced,
                verification,
            } => match self.terminal.hold_spend(operation_id, &priced).await {
                Ok(Held::Placed) => (
                    AppliedWhat::Sale {
                        priced,
                        verification,
                    },
                    true,
                ),
                Ok(Held::NotNeeded) => (
                    AppliedWhat::Sale {
                        priced,
                        verification,
                    },
                    false,
                ),
                Ok(Held::Offline) => {
                    // The server stopped answering since the price: the sale goes on
                    // offline, within the offline limits, as one priced offline would.
                    let offline = self.terminal.calculate_offline(
                        &priced.customer,
                        &priced.receipt,
                        priced.spend,
                    )?;
                    (
                        AppliedWhat::Sale {
                            priced: Box::new(offline),
                            verification,
                        },
                        false,
                    )
                }
                Err(TerminalError::BonusesTaken) => return Err(self.bonuses_taken().await),
                Err(e) => return Err(e.into()),
            },
            other => (other, false),
        };
        let applied = Box::new(Applied {
            receipt,
            operation_id,
            cashier,
            at: self.clock.now(),
            what,
            held,
        });
        // On disk before the register hears the prices: a restart cannot lose it.
        self.terminal.keep_applied(&self.kept(&applied))?;
        self.outcome = Some(Outcome::Applied(applied.clone()));
        self.screen = Screen::AtRegister(applied);
        Ok(())
    }

    /// What the till keeps of an applied receipt until the register closes it.
    fn kept(&self, applied: &Applied) -> KeptReceipt {
        match &applied.what {
            AppliedWhat::Sale {
                priced,
                verification,
            } => self.terminal.kept_sale(
                applied.operation_id,
                &applied.cashier,
                priced,
                verification.clone(),
                applied.held,
                applied.at,
            ),
            AppliedWhat::Return { result, sale } => self.terminal.kept_return(
                applied.operation_id,
                &applied.cashier,
                &applied.receipt,
                result,
                sale,
                applied.at,
            ),
        }
    }

    /// Another till took the bonuses this spend counted on: the spend is recalculated to
    /// what is left (at most what the cashier asked for) and shown on the card, and the
    /// cashier is told why.
    async fn bonuses_taken(&mut self) -> Problem {
        let Screen::Customer {
            receipt,
            found,
            priced,
            ..
        } = &self.screen
        else {
            return Problem::NothingOpen;
        };
        let (receipt, found, asked) = (receipt.clone(), found.clone(), priced.spend);
        let recalculated = match self.price(&found, &receipt, Bonus::ZERO).await {
            Ok(zero) => {
                let spend = asked.min(zero.calculation.max_spend).max(Bonus::ZERO);
                if spend.is_zero() {
                    Ok(zero)
                } else {
                    self.price(&found, &receipt, spend).await
                }
            }
            Err(e) => Err(e),
        };
        match recalculated {
            Ok(p) => {
                let spend = p.spend;
                if let Screen::Customer {
                    priced,
                    spend_text,
                    code,
                    ..
                } = &mut self.screen
                {
                    *priced = p;
                    *spend_text = spend.to_string();
                    *code = None;
                }
                Problem::BonusesTaken {
                    spend: spend.to_string(),
                }
            }
            Err(e) => e.into(),
        }
    }

    /// Releases the hold of a sale at the register that will not close.
    async fn release_hold(&self) {
        if let Screen::AtRegister(applied) = &self.screen
            && applied.held
        {
            self.terminal.release_hold(applied.operation_id).await;
        }
    }

    /// The register printed the receipt: queue its operation under the id it was told.
    pub(super) fn close(
        &mut self,
        receipt_id: &str,
        printed: &Receipt,
        fiscal: Option<FiscalData>,
    ) -> Result<(), Problem> {
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
            held,
            ..
        } = *applied;
        let outcome = match what {
            AppliedWhat::Sale {
                priced,
                verification,
            } => {
                let operation = self.terminal.sell_as(
                    operation_id,
                    &cashier,
                    &priced,
                    verification,
                    fiscal,
                    held,
                )?;
                Outcome::Sale { operation, priced }
            }
            AppliedWhat::Return { sale, .. } => {
                let (result, operation) =
                    self.terminal
                        .make_return_as(operation_id, &cashier, &receipt, &sale)?;
                Outcome::Return { operation, result }
            }
        };
        self.finish(outcome);
        Ok(())
    }

    /// The register took its receipt back. A registration under way goes on without the
    /// receipt, so the customer is not lost.
    pub(super) async fn withdraw(
        &mut self,
        receipt_id: &str,
        why: Withdrawal,
    ) -> Result<(), Problem> {
        match self.open_receipt() {
            Some(r) if r.id == receipt_id => {}
            _ => return Err(Problem::NoSuchReceipt),
        }
        if let Screen::AtRegister(applied) = &self.screen {
            // Never closed in time: it may have been printed, a manager settles it.
            let id = applied.operation_id.to_string();
            let kept = match why {
                Withdrawal::NoAnswer => self.terminal.unconfirm_kept(&id),
                Withdrawal::Register => self.terminal.cancel_kept(&id),
            };
            if let Err(e) = kept {
                // Still `applied` on disk: the bridge's sweep lists it for the manager.
                tracing::warn!(receipt = %receipt_id, error = %e, "cannot settle a kept receipt");
            }
        }
        // The register took it back: its hold goes at once. One never closed in time may
        // have been printed and a manager may book it: its hold stays until it expires.
        if why == Withdrawal::Register {
            self.release_hold().await;
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

    pub(super) async fn cancel(&mut self) {
        self.release_hold().await;
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
            Screen::Conflicts(_)
            | Screen::Unconfirmed(_)
            | Screen::ShiftReport(_)
            | Screen::SelfRegistration { .. } => self.screen = Screen::Manager,
            Screen::Manager => self.screen = Screen::Waiting,
            _ => {
                if let Screen::AtRegister(applied) = &self.screen
                    && let Err(e) = self.terminal.cancel_kept(&applied.operation_id.to_string())
                {
                    tracing::warn!(error = %e, "cannot cancel a kept receipt");
                }
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
}
