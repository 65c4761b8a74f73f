//! Wire types of the chain's kept sales: finding a sale for a return at any till (by the
//! till and its receipt number, or by the fiscal document of the sale receipt), and a
//! customer's recent purchases.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::fiscal::FiscalData;
use crate::domain::returns::{Returned, Sale};

/// A sale the server keeps: the till that made it and its receipt number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaleRef {
    #[schema(min_length = 1, max_length = 200)]
    pub terminal_id: String,
    #[schema(min_length = 1, max_length = 200)]
    pub receipt_id: String,
}

/// Find a sale for a return: by its receipt number (at the named till, or at any till of
/// the chain), or by the fiscal document the register printed on it. Exactly one of
/// `receipt_id` and `fiscal`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FindSaleRequest {
    /// The till that made the sale; absent: any till of the chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, min_length = 1, max_length = 200)]
    pub terminal_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, min_length = 1, max_length = 200)]
    pub receipt_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub fiscal: Option<FiscalData>,
}

/// A kept sale, with everything a return at any till needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeptSale {
    #[serde(rename = "ref")]
    pub sale_ref: SaleRef,
    /// The name of the till that made it.
    pub terminal_name: String,
    pub customer_id: String,
    pub at: DateTime<Utc>,
    /// What the sale gave per position (`receipt_id`, `positions`: `id`, `quantity`,
    /// `measure`, `paid`, `spent`, `accrued`), as the return engine reads it.
    #[schema(value_type = Object)]
    pub sale: Sale,
    /// What was returned of each position so far (position id → quantity).
    #[schema(value_type = Object)]
    pub returned: Returned,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub fiscal: Option<FiscalData>,
}

impl KeptSale {
    /// What the customer paid for the sale, in rubles.
    pub fn paid(&self) -> crate::domain::money::Money {
        self.sale
            .positions
            .iter()
            .fold(crate::domain::money::Money::ZERO, |sum, p| sum + p.paid)
    }
}

/// Kept sales: the ones a search found (none, one, or several tills' sales with the same
/// receipt number), or a customer's recent purchases, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SalesResponse {
    pub sales: Vec<KeptSale>,
}
