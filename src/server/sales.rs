//! The chain's kept sales, for returns at any till: a sale found by the till and its
//! receipt number, by its receipt number at any till, or by the fiscal document of its
//! receipt; and a customer's recent purchases, for a return without the receipt.
//!
//! Engine-free: everything goes through the store seam.

use super::customers::HistoryError;
use super::store::{CustomerKey, ReadTx, SaleRow, StoreError};
use crate::domain::fiscal::FiscalData;
use crate::domain::receipt::check_id;
use crate::protocol::sales::{FindSaleRequest, KeptSale, SaleRef, SalesResponse};

/// Why a search for a sale was not made.
#[derive(Debug, thiserror::Error)]
pub enum FindError {
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The sales a return may take back: none, one, or (a receipt number alone, printed by
/// several tills) each till's.
pub fn find(r: &mut dyn ReadTx, req: &FindSaleRequest) -> Result<SalesResponse, FindError> {
    let rows = match (&req.receipt_id, &req.fiscal) {
        (Some(receipt), None) => {
            // As a register's receipt ids are checked: a NUL or another control character
            // names no sale (and PostgreSQL refuses to compare with it).
            check_id(receipt).map_err(|p| FindError::BadRequest(format!("receipt_id: {p}")))?;
            if let Some(t) = &req.terminal_id {
                check_id(t).map_err(|p| FindError::BadRequest(format!("terminal_id: {p}")))?;
            }
            match &req.terminal_id {
                Some(t) => r.sale(t, receipt)?.into_iter().collect(),
                None => r.sales_by_receipt(receipt)?,
            }
        }
        (None, Some(fiscal)) => {
            if req.terminal_id.is_some() {
                return Err(FindError::BadRequest(
                    "terminal_id: a fiscal document names its sale alone; give it without a till"
                        .into(),
                ));
            }
            fiscal
                .validate()
                .map_err(|e| FindError::BadRequest(format!("fiscal: {e}")))?;
            r.sale_by_fiscal(&fiscal.fn_number, i64::from(fiscal.fd))?
                .into_iter()
                .collect()
        }
        _ => {
            return Err(FindError::BadRequest(
                "give exactly one of receipt_id and fiscal".into(),
            ));
        }
    };
    Ok(SalesResponse {
        sales: rows.into_iter().map(kept).collect::<Result<_, _>>()?,
    })
}

/// A customer's latest `limit` purchases, newest first.
pub fn customer_sales(
    r: &mut dyn ReadTx,
    customer_id: &str,
    limit: usize,
) -> Result<SalesResponse, HistoryError> {
    let customer = r
        .customer(CustomerKey::Id(customer_id))?
        .ok_or(HistoryError::NotFound)?;
    let rows = r.customer_sales(&customer.id, limit as i64)?;
    Ok(SalesResponse {
        sales: rows.into_iter().map(kept).collect::<Result<_, _>>()?,
    })
}

fn kept(row: SaleRow) -> Result<KeptSale, StoreError> {
    let corrupt = |what: &str, e: serde_json::Error| {
        StoreError::Corrupt(format!("a kept sale's {what} does not parse: {e}"))
    };
    Ok(KeptSale {
        sale: serde_json::from_str(&row.sale).map_err(|e| corrupt("sale", e))?,
        returned: serde_json::from_str(&row.returned).map_err(|e| corrupt("returns", e))?,
        fiscal: row
            .fiscal
            .as_deref()
            .map(serde_json::from_str::<FiscalData>)
            .transpose()
            .map_err(|e| corrupt("fiscal data", e))?,
        sale_ref: SaleRef {
            terminal_id: row.terminal_id,
            receipt_id: row.receipt_id,
        },
        terminal_name: row.terminal_name,
        customer_id: row.customer_id,
        at: row.at,
    })
}
