//! The customer's consents from the card («Согласия»): the advertising SMS switch, the
//! withdrawal of the consent to the processing of personal data after a confirmation, and
//! the consent given again. Each change is queued at once with the cashier and the till
//! (offline it waits in the queue), and the card and the preview follow it at once.
use super::{CustomerPanel, Problem, Screen, Session};
use crate::domain::money::Bonus;
use crate::protocol::server::OperationStatus;
use crate::terminal::ConsentChange;

impl Session {
    /// Opens the consents panel in place of the tabs; from the confirmation, goes back
    /// to it without withdrawing. A spend code form open closes: the spend stays, and
    /// «Применить к чеку» asks for the code again.
    pub(super) fn show_consents(&mut self) -> Result<(), Problem> {
        let Screen::Customer { panel, code, .. } = &mut self.screen else {
            return Err(Problem::NothingOpen);
        };
        *panel = CustomerPanel::Consents { confirming: false };
        *code = None;
        Ok(())
    }

    pub(super) async fn set_consent(&mut self, change: ConsentChange) -> Result<(), Problem> {
        let cashier = self.cashier_or_login()?;
        let Screen::Customer { found, panel, .. } = &mut self.screen else {
            return Err(Problem::NothingOpen);
        };
        let CustomerPanel::Consents { confirming } = panel else {
            return Err(Problem::NothingOpen);
        };
        let unchanged = match change {
            ConsentChange::Processing(given) => found.customer.consent_processing == given,
            ConsentChange::Advertising(given) => found.customer.consent_advertising == given,
        };
        if unchanged {
            // A second tap before the card showed the first: nothing more to record.
            *confirming = false;
            return Ok(());
        }
        if change == ConsentChange::Processing(false) && !*confirming {
            *confirming = true;
            return Ok(());
        }
        let customer_id = found.customer.id.clone();
        let op = self.terminal.set_consent(&cashier, &customer_id, change)?;
        let Screen::Customer {
            receipt,
            found,
            priced,
            spend_text,
            code,
            panel,
            ..
        } = &mut self.screen
        else {
            return Err(Problem::NothingOpen);
        };
        *panel = CustomerPanel::Consents { confirming: false };
        for view in [&mut found.customer, &mut priced.customer] {
            match change {
                ConsentChange::Processing(given) => view.consent_processing = given,
                ConsentChange::Advertising(given) => view.consent_advertising = given,
            }
        }
        if let ConsentChange::Advertising(_) = change {
            // Prices do not depend on it; the server hears of it with the queue.
            return Ok(());
        }
        // Without the consent nothing is spent; given again, the spend starts from 0 (it
        // was 0 while withdrawn).
        *spend_text = "0".into();
        *code = None;
        let (receipt, found) = (receipt.clone(), found.clone());
        // The server prices by the consent it knows: sent at once, the preview is the
        // server's; not sent (offline, a backlog), the till prices from its cache, which
        // the queued operation already changed, as the server will once it arrives
        // (before any sale queued after it).
        let applied = self.terminal.send_at_once(&op).await.is_some_and(|a| {
            a.reason.is_none()
                && matches!(
                    a.status,
                    OperationStatus::Applied | OperationStatus::Duplicate
                )
        });
        let cached = if applied {
            None
        } else {
            self.terminal
                .calculate_offline(&found.customer, &receipt, Bonus::ZERO)
                .ok()
        };
        let mut repriced = match cached {
            Some(mut p) => {
                p.offline = found.offline;
                p.issued_card = found.issued_card.clone();
                p
            }
            None => self.price(&found, &receipt, Bonus::ZERO).await?,
        };
        // The card keeps what the lookup showed (the card number, the held bonuses),
        // with the consent as it is now.
        repriced.customer = found.customer;
        if let Screen::Customer { priced, .. } = &mut self.screen {
            *priced = repriced;
        }
        Ok(())
    }
}
