//! A return of a kept sale: the spent bonuses refunded, the accrued ones clawed back.

use super::{Cx, Failure, Reject, burn_date, reject, short_id};
use crate::domain::receipt::Receipt;
use crate::domain::returns::{ReturnError, Returned, Sale, compute_return};
use crate::protocol::sales::SaleRef;
use crate::protocol::server::RejectReason;
use crate::server::ledger::{self, Grant, Source};
use crate::server::store::{NewReceiptFigures, StoreError};

impl Cx<'_> {
    /// A return of the sale `sale` names (made at any till of the chain), or else of this
    /// till's sale with the receipt's `original_receipt`.
    pub(super) fn return_(
        &mut self,
        receipt: &Receipt,
        sale_ref: Option<&SaleRef>,
    ) -> Result<serde_json::Value, Failure> {
        let (rules, op, now) = (self.rules, self.op, self.now);
        receipt
            .validate()
            .map_err(|e| Reject(RejectReason::Invalid, format!("receipt.{e}")))?;
        let (terminal_id, original) = match sale_ref {
            Some(s) => (s.terminal_id.clone(), s.receipt_id.clone()),
            None => (
                self.terminal.id.clone(),
                receipt.original_receipt.clone().unwrap_or_default(),
            ),
        };
        let Some(row) = self.tx.sale(&terminal_id, &original)? else {
            return reject(
                RejectReason::SaleNotFound,
                if sale_ref.is_some() {
                    "the server has no sale of that till with that receipt number"
                } else {
                    "the server has no sale of this till with this receipt number"
                },
            );
        };
        let sale: Sale = serde_json::from_str(&row.sale)
            .map_err(|e| Reject(RejectReason::Invalid, format!("stored sale: {e}")))?;
        let mut so_far: Returned = serde_json::from_str(&row.returned).unwrap_or_default();
        // A sale named by reference was found by the till, perhaps by its fiscal document:
        // the register's `original_receipt` need not be the server's receipt number.
        let lines = if sale_ref.is_some() {
            sale.lines_of_found(receipt)
        } else {
            sale.lines_of(receipt)
        };
        let lines = lines.map_err(|e| Reject(RejectReason::Invalid, e.to_string()))?;
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
            .set_sale_returned(&terminal_id, &original, &returned)?;
        self.tx.insert_receipt_figures(&NewReceiptFigures {
            operation_id: &op.id,
            kind: "return",
            at: op.at.min(now),
            store_id: &self.terminal.store_id,
            terminal_id: &self.terminal.id,
            cashier: &op.cashier,
            paid: result.paid.kopecks(),
            discount: 0,
        })?;
        self.touch(&c.id);
        serde_json::to_value(&result)
            .map_err(|e| StoreError::Other(format!("a return does not serialize: {e}")).into())
    }
}
