//! Returns at any till of the chain: the sale a return receipt takes back is found at the
//! server first (made at any till, with what was returned of it everywhere), or else in
//! this till's store; the return is computed by the same engine the server applies it with,
//! and queued naming the server's sale.
use super::{Cashier, Terminal, TerminalError};
use crate::domain::calc::CalcError;
use crate::domain::fiscal::FiscalData;
use crate::domain::receipt::{Receipt, ReceiptKind};
use crate::domain::returns::{
    ReturnError, ReturnResult, Returned, Sale, compute_return, record_return,
};
use crate::protocol::sales::{FindSaleRequest, KeptSale, SaleRef, SalesResponse};
use crate::protocol::server::{AuditEvent, ErrorCode, Operation, OperationBody};
use crate::store::{KeptState, TerminalStore};
use crate::sync::client::ClientError;

/// How many of a customer's purchases the card lists.
pub const PURCHASES_SHOWN: u32 = 10;

/// The sale a return takes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReturnSale {
    /// Kept in this till's store: made here, and the server did not answer or has not
    /// received it yet.
    Kept,
    /// The server's sale, made at any till of the chain, with what was returned of it so
    /// far. `by_reference`: found by its fiscal document or picked from the customer's
    /// purchases, so the register's `original_receipt` need not match its number.
    Server {
        sale: Box<KeptSale>,
        by_reference: bool,
    },
}

impl Terminal {
    /// This till's id at the server. Locks the store: never call it with the store held.
    pub(super) fn own_id(&self) -> Option<String> {
        self.enrollment().map(|e| e.terminal_id)
    }

    fn check_return_receipt(receipt: &Receipt) -> Result<String, TerminalError> {
        receipt
            .validate()
            .map_err(|e| TerminalError::Calc(CalcError::Receipt(e)))?;
        if receipt.kind != ReceiptKind::Return {
            return Err(ReturnError::NotAReturn.into());
        }
        Ok(receipt.original_receipt.clone().unwrap_or_default())
    }

    /// Finds the sale a return receipt takes back: at the server (this till's sale, or
    /// any till's with this receipt number), or kept here when the server does not answer
    /// or has not received it yet. Offline, a sale not kept here cannot be returned.
    pub async fn find_return_sale(&self, receipt: &Receipt) -> Result<ReturnSale, TerminalError> {
        let original = Self::check_return_receipt(receipt)?;
        let kept_here = self.store().sale(&original)?.is_some();
        let req = FindSaleRequest {
            terminal_id: if kept_here { self.own_id() } else { None },
            receipt_id: Some(original.clone()),
            fiscal: None,
        };
        match self.api.find_sale(&req).await {
            Ok(found) => {
                self.saw_server(true, None);
                let mut sales = found.sales;
                match sales.len() {
                    0 if kept_here => Ok(ReturnSale::Kept),
                    0 => Err(TerminalError::SaleNotKept(original)),
                    1 => Ok(ReturnSale::Server {
                        sale: Box::new(sales.remove(0)),
                        by_reference: false,
                    }),
                    n => Err(TerminalError::SaleAmbiguous(n)),
                }
            }
            Err(e) if e.is_offline() => {
                self.saw_server(false, Some(&e));
                if kept_here {
                    Ok(ReturnSale::Kept)
                } else {
                    Err(TerminalError::SaleElsewhereOffline)
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Finds a sale by the fiscal document printed on its receipt (the scanned fiscal QR
    /// code): at the server only.
    pub async fn find_sale_by_fiscal(
        &self,
        fiscal: &FiscalData,
    ) -> Result<ReturnSale, TerminalError> {
        let req = FindSaleRequest {
            fiscal: Some(fiscal.clone()),
            ..FindSaleRequest::default()
        };
        match self.api.find_sale(&req).await {
            Ok(found) => {
                self.saw_server(true, None);
                let sale = found
                    .sales
                    .into_iter()
                    .next()
                    .ok_or(TerminalError::FiscalSaleNotFound)?;
                Ok(ReturnSale::Server {
                    sale: Box::new(sale),
                    by_reference: true,
                })
            }
            Err(e) if e.is_offline() => {
                self.saw_server(false, Some(&e));
                Err(TerminalError::SaleElsewhereOffline)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A customer's recent purchases at any till, newest first: at the server only (none
    /// for a customer the server does not know yet). What was returned of this till's own sales counts the returns made here that the server
    /// has not received yet.
    pub async fn customer_sales(&self, customer_id: &str) -> Result<Vec<KeptSale>, TerminalError> {
        let answer = match self.api.customer_sales(customer_id, PURCHASES_SHOWN).await {
            // Registered at a till whose queue has not reached the server yet: the server
            // has no purchase of theirs.
            Err(ClientError::Api(body)) if body.code == ErrorCode::CustomerNotFound => {
                Ok(SalesResponse { sales: Vec::new() })
            }
            answer => answer,
        };
        let mut sales = self.online_only(answer, "the customer's purchases")?.sales;
        let own = self.own_id();
        let store = self.store();
        for sale in &mut sales {
            sale.returned = Self::returned_with_here(&store, own.as_ref(), sale)?;
        }
        Ok(sales)
    }

    /// What was returned of a server's sale: the server's count and, for this till's own
    /// sale, at least what the returns made here recorded.
    fn returned_with_here(
        store: &TerminalStore,
        own: Option<&String>,
        sale: &KeptSale,
    ) -> Result<Returned, TerminalError> {
        let mut returned = sale.returned.clone();
        if Some(&sale.sale_ref.terminal_id) == own
            && let Some((_, _, here)) = store.sale(&sale.sale_ref.receipt_id)?
        {
            for (position, q) in here {
                let at_least = returned.entry(position).or_default();
                *at_least = (*at_least).max(q);
            }
        }
        Ok(returned)
    }

    /// A manager picked a sale from the customer's purchases for a return without the
    /// receipt: queued as an audit event with the manager and the sale.
    pub fn audit_return_without_receipt(
        &self,
        manager: &Cashier,
        sale: &KeptSale,
    ) -> Result<Operation, TerminalError> {
        if !manager.is_manager() {
            return Err(TerminalError::NotPermitted(
                "return a sale without its receipt",
            ));
        }
        self.queue(
            manager,
            OperationBody::Audit {
                event: AuditEvent::ReturnWithoutReceipt,
                customer_id: Some(sale.customer_id.clone()),
                reason: format!(
                    "Возврат без чека: продажа {} ({}, {})",
                    sale.sale_ref.receipt_id,
                    sale.terminal_name,
                    sale.at.format("%d.%m.%Y %H:%M UTC"),
                ),
            },
        )
    }

    /// The sale and what was returned of it, as the return engine reads them. This till's
    /// own sale counts the returns made here that the server has not received yet.
    fn sale_for_return(
        store: &TerminalStore,
        own: Option<&String>,
        receipt: &Receipt,
        source: &ReturnSale,
    ) -> Result<(Sale, Returned, bool), TerminalError> {
        let original = Self::check_return_receipt(receipt)?;
        match source {
            ReturnSale::Kept => {
                let (_, sale, returned) = store
                    .sale(&original)?
                    .ok_or_else(|| TerminalError::SaleNotKept(original.clone()))?;
                Ok((sale, returned, false))
            }
            ReturnSale::Server { sale, by_reference } => Ok((
                sale.sale.clone(),
                Self::returned_with_here(store, own, sale)?,
                *by_reference,
            )),
        }
    }

    /// `own`: this till's id, read before the store is locked.
    pub(super) fn compute_return_in(
        store: &TerminalStore,
        own: Option<&String>,
        receipt: &Receipt,
        source: &ReturnSale,
    ) -> Result<(ReturnResult, Returned), TerminalError> {
        let (sale, returned, by_reference) = Self::sale_for_return(store, own, receipt, source)?;
        let lines = if by_reference {
            sale.lines_of_found(receipt)?
        } else {
            sale.lines_of(receipt)?
        };
        let result = compute_return(&sale, &returned, &lines)?;
        let mut after = returned;
        record_return(&mut after, &result);
        Ok((result, after))
    }

    /// What a return names and updates: the server's sale it takes back (none for a sale
    /// kept here only), and the receipt number of the sale kept here whose returned
    /// quantities it adds to (none when the sale was made at another till).
    pub(super) fn return_target(
        own: Option<&String>,
        result: &ReturnResult,
        source: &ReturnSale,
    ) -> (Option<SaleRef>, Option<String>) {
        match source {
            ReturnSale::Kept => (None, Some(result.original_receipt.clone())),
            ReturnSale::Server { sale, .. } => {
                let mine = Some(&sale.sale_ref.terminal_id) == own;
                (
                    Some(sale.sale_ref.clone()),
                    mine.then(|| sale.sale_ref.receipt_id.clone()),
                )
            }
        }
    }

    /// What a return receipt would refund and claw back from its sale.
    pub fn preview_return(
        &self,
        receipt: &Receipt,
        source: &ReturnSale,
    ) -> Result<ReturnResult, TerminalError> {
        let own = self.own_id();
        let store = self.store();
        Self::compute_return_in(&store, own.as_ref(), receipt, source).map(|(r, _)| r)
    }

    /// Confirms a return: queues it (naming the server's sale when it came from the server)
    /// and records what was returned of a sale kept here, in one transaction, so a second
    /// return can never take back more than was sold.
    pub fn make_return(
        &self,
        cashier: &Cashier,
        receipt: &Receipt,
        source: &ReturnSale,
    ) -> Result<(ReturnResult, Operation), TerminalError> {
        self.make_return_as(uuid::Uuid::now_v7(), cashier, receipt, source)
    }

    /// [`Terminal::make_return`] under the operation id the register was given when the
    /// return was applied.
    pub fn make_return_as(
        &self,
        operation_id: uuid::Uuid,
        cashier: &Cashier,
        receipt: &Receipt,
        source: &ReturnSale,
    ) -> Result<(ReturnResult, Operation), TerminalError> {
        let own = self.own_id();
        let mut store = self.store();
        let (result, after) = Self::compute_return_in(&store, own.as_ref(), receipt, source)?;
        let (sale_ref, kept_here) = Self::return_target(own.as_ref(), &result, source);
        let op = store.enqueue_as(
            operation_id,
            OperationBody::Return {
                receipt: receipt.clone(),
                sale: sale_ref,
            },
            &cashier.name,
            Some(cashier.id),
            self.status.borrow().online != Some(true),
            self.now(),
            |tx, op| {
                // An applied return kept for the register is closed in this transaction.
                TerminalStore::settle_kept(
                    tx,
                    &op.id,
                    &[KeptState::Applied, KeptState::Unconfirmed],
                    KeptState::Closed,
                    None,
                    None,
                    op.at,
                )?;
                match &kept_here {
                    Some(original) => Ok::<_, TerminalError>(TerminalStore::record_returned(
                        tx, original, &after,
                    )?),
                    None => Ok(()),
                }
            },
        )?;
        drop(store);
        self.nudge();
        Ok((result, op))
    }
}
