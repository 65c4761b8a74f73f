//! Calculating a receipt for a customer and a spend: at the server, or with the cached rules
//! within the offline limits, and a manager's leave to spend past them.
use super::offline::{self, Allowance};
use super::{Cashier, Terminal, TerminalError};
use crate::domain::calc::{CalcError, Calculation, CustomerState, calculate};
use crate::domain::money::{Bonus, Money};
use crate::domain::receipt::Receipt;
use crate::domain::rules::Rules;
use crate::protocol::server::{CalcRequest, CustomerView, ErrorCode, Operation, OperationBody};
use crate::store::TerminalStore;
use crate::sync::client::ClientError;

/// A receipt calculated for a customer and a spend: what the cashier previews and what
/// [`Terminal::sell`] confirms.
#[derive(Debug, Clone, PartialEq)]
pub struct Priced {
    pub receipt: Receipt,
    pub spend: Bonus,
    pub customer: CustomerView,
    pub calculation: Calculation,
    pub rules_version: i64,
    pub offline: bool,
    /// Offline only: what limits the spend beyond the customer's balance.
    pub allowance: Option<Allowance>,
    /// The virtual card the server issued at this registration, for the slip.
    pub issued_card: Option<String>,
}

impl Terminal {
    pub(super) fn overridden(&self, customer_id: &str) -> bool {
        self.overrides
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(customer_id)
    }

    /// A manager lets this customer's next offline sale spend past the `[offline]` limits
    /// (not past their balance, an unverified phone or the SMS-code threshold). Queued as
    /// an audit event with the manager and the reason.
    pub fn allow_offline_spend(
        &self,
        manager: &Cashier,
        customer_id: &str,
        reason: &str,
    ) -> Result<Operation, TerminalError> {
        if !manager.is_manager() {
            return Err(TerminalError::NotPermitted("allow an offline spend"));
        }
        let op = self.queue(
            manager,
            OperationBody::Audit {
                event: crate::protocol::server::AuditEvent::OfflineSpendOverride,
                customer_id: Some(customer_id.to_string()),
                reason: reason.trim().to_string(),
            },
        )?;
        self.overrides
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(customer_id.to_string());
        Ok(op)
    }

    /// The offline allowance for a customer now.
    pub fn offline_allowance(
        &self,
        rules: &Rules,
        customer: &CustomerView,
    ) -> Result<Allowance, TerminalError> {
        let store = self.store();
        let unsynced = TerminalStore::unsynced_offline_spend(store.connection())?;
        Ok(offline::allowance(
            rules,
            &self.config.offline,
            offline::OfflineFacts {
                last_sync: store.last_sync()?,
                now: self.now(),
                unsynced_spend: Bonus::from_kopecks(unsynced),
                phone_verified: customer.phone_verified,
                manager_override: self.overridden(&customer.id),
            },
        ))
    }

    /// Calculates a receipt for a customer and a spend: at the server, or with the cached
    /// rules when it does not answer in time (then the spend is held to the offline limits).
    pub async fn calculate(
        &self,
        customer: &CustomerView,
        receipt: &Receipt,
        spend: Bonus,
    ) -> Result<Priced, TerminalError> {
        receipt
            .validate()
            .map_err(|e| TerminalError::Calc(CalcError::Receipt(e)))?;
        let req = CalcRequest {
            customer_id: customer.id.clone(),
            receipt: receipt.clone(),
            spend,
            hold: None,
        };
        match self.api.calc(&req).await {
            Ok(r) => {
                self.saw_server(true, None);
                self.release_unreleased().await;
                // The server calculates with another rules version than the cached one
                // (an owner activated or rolled one back): fetch it now rather than at the
                // next periodic refresh, so the offline fallback prices alike.
                if self
                    .status()
                    .rules_version
                    .is_some_and(|v| v != r.rules_version)
                {
                    self.refresh();
                }
                Ok(Priced {
                    receipt: receipt.clone(),
                    spend,
                    customer: r.customer,
                    calculation: r.calculation,
                    rules_version: r.rules_version,
                    offline: false,
                    allowance: None,
                    issued_card: None,
                })
            }
            Err(ClientError::Api(body)) if body.code == ErrorCode::CustomerNotFound => {
                self.saw_server(true, None);
                // Registered here and not yet at the server: nothing to spend, so the
                // cached rules give the same answer the server will. The server is there,
                // so the answer is not an offline one.
                let mut priced = self.calculate_offline(customer, receipt, spend)?;
                priced.offline = false;
                Ok(priced)
            }
            Err(ClientError::Api(body))
                if body.code == ErrorCode::BadRequest && !spend.is_zero() =>
            {
                self.saw_server(true, None);
                // The server refuses a spend this receipt cannot take: ask what it can,
                // so the cashier is told the maximum rather than the server's words.
                let zero = CalcRequest {
                    spend: Bonus::ZERO,
                    ..req
                };
                match self.api.calc(&zero).await {
                    Ok(r) if spend > r.calculation.max_spend => Err(CalcError::SpendAboveMax {
                        requested: spend,
                        max: r.calculation.max_spend,
                    }
                    .into()),
                    _ => Err(ClientError::Api(body).into()),
                }
            }
            Err(e) if e.is_offline() => {
                self.saw_server(false, Some(&e));
                self.calculate_offline(customer, receipt, spend)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Calculates with the cached rules and the cached customer, within the offline limits.
    pub fn calculate_offline(
        &self,
        customer: &CustomerView,
        receipt: &Receipt,
        spend: Bonus,
    ) -> Result<Priced, TerminalError> {
        let (version, rules) = self.rules()?;
        let customer = {
            let store = self.store();
            match store.customer_by_id(&customer.id)? {
                Some(c) => self.cached_view(&store, c)?,
                None => return Err(TerminalError::UnknownCustomer(customer.id.clone())),
            }
        };
        let allowance = self.offline_allowance(&rules, &customer)?;
        if spend > allowance.max
            && let Some(limit) = allowance.limit
        {
            return Err(limit.into());
        }
        let state = CustomerState {
            card: customer.card_status.clone(),
            balance: customer.balance.min(allowance.max),
            purchases_sum: Money::ZERO,
            purchases_count: 0,
            can_spend: customer.phone_verified && !allowance.max.is_zero(),
            loyalty: customer.consent_processing,
        };
        let calculation = calculate(&rules, &state, receipt, spend)?;
        Ok(Priced {
            receipt: receipt.clone(),
            spend,
            customer,
            calculation,
            rules_version: version,
            offline: true,
            allowance: Some(allowance),
            issued_card: None,
        })
    }
}
