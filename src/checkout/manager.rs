//! The manager's actions on the session: a balance changed by hand, an offline spend
//! allowed past the `[offline]` limits, the receipts the register never closed
//! («Неподтверждённые чеки»), booked or dropped, and the till's loyalty shift with its
//! report («Отчёт за смену»), opened and closed here when the register does not.
use super::{Problem, Screen, Session};
use crate::domain::money::Bonus;
use crate::domain::phone::Phone;
use crate::protocol::server::CustomerView;
use crate::store::ShiftBy;
use crate::terminal::Lookup;

impl Session {
    /// The shift report from the manager's menu; `open`: the manager opens (true) or closes
    /// (false) the shift first, and the report shows it as it stands then (a close: its
    /// final figures).
    pub(super) fn shift(&mut self, open: Option<bool>) -> Result<(), Problem> {
        let manager = self.cashier_or_login()?;
        if !manager.is_manager() {
            return Err(Problem::ManagerOnly);
        }
        let menu_or_report = matches!(self.screen, Screen::Manager | Screen::ShiftReport(_));
        if !menu_or_report || (open.is_some() && matches!(self.screen, Screen::Manager)) {
            return Err(Problem::NothingOpen);
        }
        let report = match open {
            Some(true) => {
                self.terminal
                    .open_shift(ShiftBy::Manager, Some(&manager.name))?;
                self.terminal.shift_report()?
            }
            Some(false) => {
                self.terminal
                    .close_shift(ShiftBy::Manager, Some(&manager.name))?
                    .report
            }
            None => self.terminal.shift_report()?,
        };
        self.screen = Screen::ShiftReport(Box::new(report));
        Ok(())
    }

    pub(super) fn show_unconfirmed(&mut self) -> Result<(), Problem> {
        let manager = self.cashier_or_login()?;
        if !manager.is_manager() {
            return Err(Problem::ManagerOnly);
        }
        if !matches!(self.screen, Screen::Manager | Screen::Unconfirmed(_)) {
            return Err(Problem::NothingOpen);
        }
        self.screen = Screen::Unconfirmed(self.terminal.unconfirmed()?);
        Ok(())
    }

    /// Books (the receipt was printed: its sale is queued) or drops (no sale) an
    /// unconfirmed receipt; either way an audit record is queued with it.
    pub(super) fn settle_unconfirmed(
        &mut self,
        operation_id: &str,
        book: bool,
    ) -> Result<(), Problem> {
        let manager = self.cashier_or_login()?;
        if !manager.is_manager() {
            return Err(Problem::ManagerOnly);
        }
        if !matches!(self.screen, Screen::Unconfirmed(_)) {
            return Err(Problem::NothingOpen);
        }
        if book {
            self.terminal.book_unconfirmed(&manager, operation_id)?;
        } else {
            self.terminal.drop_unconfirmed(&manager, operation_id)?;
        }
        self.screen = Screen::Unconfirmed(self.terminal.unconfirmed()?);
        Ok(())
    }

    pub(super) async fn allow_offline_spend(
        &mut self,
        code: &str,
        reason: &str,
    ) -> Result<(), Problem> {
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

    pub(super) async fn manual_change(
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
