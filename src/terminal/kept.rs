//! Applied receipts kept on disk from the apply to the register's close: keeping one,
//! closing one after a restart (its sale queued exactly once, in the transaction that
//! marks it closed), taking one back, and the manager's list «Неподтверждённые чеки» of
//! receipts the register never closed, each booked (the sale queued) or dropped (no sale),
//! with an audit record either way.
use chrono::{DateTime, Utc};

use super::{Cashier, Priced, ReturnSale, Terminal, TerminalError};
use crate::domain::fiscal::FiscalData;
use crate::domain::receipt::Receipt;
use crate::domain::returns::{ReturnResult, Returned, Sale};
use crate::protocol::server::{AuditEvent, Operation, OperationBody, Secret};
use crate::store::{Kept, KeptReceipt, KeptServerSale, KeptState, TerminalStore};

/// What a close of a kept receipt did.
// Returned once per close: the size of the larger variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum KeptClose {
    /// Its operation is queued now.
    Queued(Operation),
    /// It was closed or booked before: nothing more is queued.
    Already(KeptState),
}

/// The states from which a receipt may still be closed by the register: an unconfirmed
/// one was printed after all.
const OPEN: [KeptState; 2] = [KeptState::Applied, KeptState::Unconfirmed];

impl Terminal {
    /// What the till keeps of a sale applied under `operation_id` until the register
    /// closes it; `held`: the server holds its spend under that id.
    pub fn kept_sale(
        &self,
        operation_id: uuid::Uuid,
        cashier: &Cashier,
        priced: &Priced,
        verification: Option<Secret>,
        held: bool,
        at: DateTime<Utc>,
    ) -> KeptReceipt {
        let c = &priced.customer;
        KeptReceipt {
            operation_id: operation_id.to_string(),
            receipt: priced.receipt.clone(),
            state: KeptState::Applied,
            kept: Kept::Sale {
                body: OperationBody::Sale {
                    customer_id: c.id.clone(),
                    receipt: priced.receipt.clone(),
                    spend: priced.spend,
                    verification,
                    fiscal: None,
                    // A close after a restart, or a manager's booking, consumes the hold.
                    hold: held.then(|| operation_id.to_string()),
                },
                calculation: priced.calculation.clone(),
                balance: c.balance,
                sale: Sale::from_calculation(&priced.receipt, &priced.calculation),
            },
            customer_id: Some(c.id.clone()),
            customer: Some(if c.name.is_empty() {
                c.phone_masked.clone()
            } else {
                c.name.clone()
            }),
            cashier: cashier.name.clone(),
            cashier_id: Some(cashier.id),
            offline: priced.offline,
            applied_at: at,
            fiscal: None,
            settled_at: None,
            settled_by: None,
        }
    }

    /// What the till keeps of a return applied under `operation_id`.
    pub fn kept_return(
        &self,
        operation_id: uuid::Uuid,
        cashier: &Cashier,
        receipt: &Receipt,
        result: &ReturnResult,
        source: &ReturnSale,
        at: DateTime<Utc>,
    ) -> KeptReceipt {
        KeptReceipt {
            operation_id: operation_id.to_string(),
            receipt: receipt.clone(),
            state: KeptState::Applied,
            kept: Kept::Return {
                result: result.clone(),
                server_sale: match source {
                    ReturnSale::Kept => None,
                    ReturnSale::Server { sale, by_reference } => Some(KeptServerSale {
                        sale: (**sale).clone(),
                        by_reference: *by_reference,
                    }),
                },
            },
            customer_id: None,
            customer: None,
            cashier: cashier.name.clone(),
            cashier_id: Some(cashier.id),
            offline: self.status.borrow().online != Some(true),
            applied_at: at,
            fiscal: None,
            settled_at: None,
            settled_by: None,
        }
    }

    /// Receipts applied and not closed (after a restart: the ones the register may still
    /// close), oldest first.
    pub fn kept_applied(&self) -> Result<Vec<KeptReceipt>, TerminalError> {
        Ok(self.store().kept_in(KeptState::Applied)?)
    }

    /// Keeps a receipt just applied, before the register hears its prices.
    pub fn keep_applied(&self, kept: &KeptReceipt) -> Result<(), TerminalError> {
        Ok(self.store().keep_applied(kept)?)
    }

    /// The latest receipt applied under this register id, in whatever state.
    pub fn kept_receipt(&self, receipt_id: &str) -> Result<Option<KeptReceipt>, TerminalError> {
        Ok(self.store().kept_by_receipt(receipt_id)?)
    }

    /// The manager's list «Неподтверждённые чеки»: applied, never closed, oldest first.
    pub fn unconfirmed(&self) -> Result<Vec<KeptReceipt>, TerminalError> {
        Ok(self.store().kept_in(KeptState::Unconfirmed)?)
    }

    /// The register took an applied receipt back, or the cashier cancelled it: nothing
    /// is recorded. False when it was no longer applied.
    pub fn cancel_kept(&self, operation_id: &str) -> Result<bool, TerminalError> {
        Ok(self.store().settle_kept_alone(
            operation_id,
            &[KeptState::Applied],
            KeptState::Cancelled,
            self.now(),
        )?)
    }

    /// The register never closed an applied receipt: it goes to the manager's list.
    pub fn unconfirm_kept(&self, operation_id: &str) -> Result<bool, TerminalError> {
        Ok(self.store().settle_kept_alone(
            operation_id,
            &[KeptState::Applied],
            KeptState::Unconfirmed,
            self.now(),
        )?)
    }

    /// Every receipt applied before `before` and still not closed goes to the manager's
    /// list (after a restart nobody is waiting for them any more). Their operation ids.
    pub fn unconfirm_overdue(
        &self,
        older_than: std::time::Duration,
    ) -> Result<Vec<String>, TerminalError> {
        let now = self.now();
        let before = now - chrono::Duration::from_std(older_than).unwrap_or(chrono::Duration::MAX);
        Ok(self.store().unconfirm_overdue(before, now)?)
    }

    /// The register closed a kept receipt that is no longer on the panel (the till
    /// restarted since the apply): its operation is queued under the id the register was
    /// told, exactly once.
    pub fn close_kept(
        &self,
        operation_id: &str,
        printed: &Receipt,
        fiscal: Option<FiscalData>,
    ) -> Result<KeptClose, TerminalError> {
        let kept = self
            .store()
            .kept(operation_id)?
            .ok_or_else(|| TerminalError::NoKept(operation_id.to_string()))?;
        if let Some(difference) = kept.receipt.difference(printed) {
            return Err(TerminalError::KeptChanged(difference));
        }
        self.settle_by_queueing(kept, KeptState::Closed, fiscal, None, None)
    }

    /// A manager books an unconfirmed receipt (it was printed): its sale is queued, with
    /// an audit record.
    pub fn book_unconfirmed(
        &self,
        manager: &Cashier,
        operation_id: &str,
    ) -> Result<KeptClose, TerminalError> {
        if !manager.is_manager() {
            return Err(TerminalError::NotPermitted("book an unconfirmed receipt"));
        }
        let kept = self
            .store()
            .kept(operation_id)?
            .ok_or_else(|| TerminalError::NoKept(operation_id.to_string()))?;
        if kept.state != KeptState::Unconfirmed {
            return Ok(KeptClose::Already(kept.state));
        }
        let audit = OperationBody::Audit {
            event: AuditEvent::UnconfirmedReceiptBooked,
            customer_id: kept.customer_id.clone(),
            reason: format!(
                "receipt {} booked by {}: the register printed it and never closed it",
                kept.receipt.id, manager.name
            ),
        };
        self.settle_by_queueing(kept, KeptState::Booked, None, Some(manager), Some(audit))
    }

    /// A manager drops an unconfirmed receipt (it was not printed): no sale; an audit
    /// record is queued, and its hold, if any, is released. False when it was not on the
    /// list any more.
    pub fn drop_unconfirmed(
        &self,
        manager: &Cashier,
        operation_id: &str,
    ) -> Result<bool, TerminalError> {
        if !manager.is_manager() {
            return Err(TerminalError::NotPermitted("drop an unconfirmed receipt"));
        }
        let mut store = self.store();
        let kept = store
            .kept(operation_id)?
            .ok_or_else(|| TerminalError::NoKept(operation_id.to_string()))?;
        if kept.state != KeptState::Unconfirmed {
            return Ok(false);
        }
        let now = self.now();
        let mut dropped = false;
        store.enqueue(
            OperationBody::Audit {
                event: AuditEvent::UnconfirmedReceiptDropped,
                customer_id: kept.customer_id.clone(),
                reason: format!(
                    "receipt {} dropped by {}: the register never closed it, no sale",
                    kept.receipt.id, manager.name
                ),
            },
            &manager.name,
            Some(manager.id),
            self.status.borrow().online != Some(true),
            now,
            |tx, _| {
                dropped = TerminalStore::settle_kept(
                    tx,
                    operation_id,
                    &[KeptState::Unconfirmed],
                    KeptState::Dropped,
                    None,
                    Some(&manager.name),
                    now,
                )?;
                if !dropped {
                    return Err(crate::store::StoreError::Corrupt(
                        "the receipt was settled meanwhile".into(),
                    ));
                }
                // No sale will consume its hold: the sync worker releases it.
                if let Some(hold) = kept.hold() {
                    TerminalStore::release_later_in(tx, hold, now)?;
                }
                Ok(())
            },
        )?;
        drop(store);
        self.nudge();
        Ok(dropped)
    }

    /// Queues a kept receipt's operation (and `also`, an audit record) in the transaction
    /// that moves it to `to`; when somebody settled it first, nothing is queued.
    fn settle_by_queueing(
        &self,
        kept: KeptReceipt,
        to: KeptState,
        fiscal: Option<FiscalData>,
        by: Option<&Cashier>,
        also: Option<OperationBody>,
    ) -> Result<KeptClose, TerminalError> {
        if !OPEN.contains(&kept.state) {
            return if kept.state.is_queued() {
                Ok(KeptClose::Already(kept.state))
            } else {
                Err(TerminalError::KeptSettled {
                    receipt: kept.receipt.id.clone(),
                    state: kept.state.as_str(),
                })
            };
        }
        crate::failpoint::hit("before_close_queue");
        let now = self.now();
        let id = uuid::Uuid::parse_str(&kept.operation_id)
            .map_err(|e| TerminalError::Store(crate::store::StoreError::Corrupt(e.to_string())))?;
        let by_name = by.map(|m| m.name.clone());
        let own = self.own_id();
        let mut store = self.store();
        // What the close queues, and what it records beside it in the same transaction.
        let (body, record) = match &kept.kept {
            Kept::Sale { body, sale, .. } => {
                let mut body = body.clone();
                if let OperationBody::Sale { fiscal: f, .. } = &mut body {
                    *f = fiscal.clone();
                }
                let customer_id = kept.customer_id.clone().unwrap_or_default();
                (body, Record::Sale { customer_id, sale })
            }
            Kept::Return { server_sale, .. } => {
                let source = match server_sale {
                    None => ReturnSale::Kept,
                    Some(s) => ReturnSale::Server {
                        sale: Box::new(s.sale.clone()),
                        by_reference: s.by_reference,
                    },
                };
                let (result, after) =
                    Self::compute_return_in(&store, own.as_ref(), &kept.receipt, &source)?;
                let (sale_ref, kept_here) = Self::return_target(own.as_ref(), &result, &source);
                let body = OperationBody::Return {
                    receipt: kept.receipt.clone(),
                    sale: sale_ref,
                };
                (body, Record::Return { kept_here, after })
            }
        };
        let result = store.enqueue_as(
            id,
            body,
            &kept.cashier,
            kept.cashier_id,
            kept.offline,
            now,
            |tx, op| {
                if !TerminalStore::settle_kept(
                    tx,
                    &kept.operation_id,
                    &OPEN,
                    to,
                    fiscal.as_ref(),
                    by_name.as_deref(),
                    now,
                )? {
                    return Err(TerminalError::KeptSettled {
                        receipt: kept.receipt.id.clone(),
                        state: "settled",
                    });
                }
                match &record {
                    Record::Sale { customer_id, sale } => {
                        TerminalStore::record_sale(tx, customer_id, op, sale)?
                    }
                    Record::Return {
                        kept_here: Some(original),
                        after,
                    } => TerminalStore::record_returned(tx, original, after)?,
                    Record::Return { .. } => {}
                }
                if let (Some(audit), Some(manager)) = (also.clone(), by) {
                    TerminalStore::enqueue_in(
                        tx,
                        uuid::Uuid::now_v7(),
                        audit,
                        &manager.name,
                        Some(manager.id),
                        kept.offline,
                        now,
                    )?;
                }
                Ok(())
            },
        );
        let op = match result {
            Ok(op) => op,
            Err(TerminalError::KeptSettled { .. }) => {
                // Settled by somebody else a moment ago: say what it is now.
                let state = store
                    .kept(&kept.operation_id)?
                    .map(|k| k.state)
                    .unwrap_or(KeptState::Cancelled);
                return if state.is_queued() {
                    Ok(KeptClose::Already(state))
                } else {
                    Err(TerminalError::KeptSettled {
                        receipt: kept.receipt.id.clone(),
                        state: state.as_str(),
                    })
                };
            }
            Err(e) => return Err(e),
        };
        drop(store);
        crate::failpoint::hit("after_close_queue");
        self.nudge();
        Ok(KeptClose::Queued(op))
    }
}

/// What the close of a kept receipt records beside its operation.
enum Record<'a> {
    /// The sale, for a later return at this till.
    Sale { customer_id: String, sale: &'a Sale },
    /// What is returned now of the sale kept here (none: made at another till).
    Return {
        kept_here: Option<String>,
        after: Returned,
    },
}
