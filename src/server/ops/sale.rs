//! A sale at a till: the spend, the accrual, the first-purchase gift, the referrers' rewards
//! and the card status it may raise.

use chrono::Duration;

use super::{Cx, Failure, Reject, burn_date, reject, short_id};
use crate::domain::calc::{CalcError, CustomerState, calculate};
use crate::domain::fiscal::{FiscalData, FiscalKind};
use crate::domain::money::{Bonus, Money, round_half_up};
use crate::domain::receipt::{Receipt, ReceiptKind};
use crate::domain::returns::Sale;
use crate::domain::status::status_after_sale_by;
use crate::protocol::server::{RejectReason, Secret};
use crate::server::customers::Customer;
use crate::server::holds;
use crate::server::ledger::{self, Grant, Source, Spend};
use crate::server::sms;
use crate::server::statuses;
use crate::server::store::{
    CustomerKey, HoldState, NewReceiptFigures, NewSale, NewStatusChange, SaleFiscal, StatusCause,
    StoreError,
};

impl Cx<'_> {
    /// The fiscal document to keep with a sale, as JSON. A sale is never refused for its
    /// fiscal data (the customer paid, the receipt is printed): a document that is not a
    /// sale's, does not validate, or is another sale's already is left out, and logged.
    fn fiscal_to_keep(
        &mut self,
        fiscal: Option<&FiscalData>,
    ) -> Result<Option<(FiscalData, String)>, Failure> {
        let Some(f) = fiscal else { return Ok(None) };
        if let Err(e) = f.validate() {
            tracing::warn!(operation = %self.op.id, error = %e, "a sale's fiscal data is not kept");
            return Ok(None);
        }
        if f.kind != FiscalKind::Sale {
            tracing::warn!(operation = %self.op.id, fiscal = ?f, "a sale's fiscal document is not a sale's");
            return Ok(None);
        }
        if self
            .tx
            .sale_by_fiscal(&f.fn_number, i64::from(f.fd))?
            .is_some()
        {
            tracing::warn!(operation = %self.op.id, fiscal = ?f, "another sale has this fiscal document");
            return Ok(None);
        }
        let json = serde_json::to_string(f)
            .map_err(|e| StoreError::Other(format!("fiscal data does not serialize: {e}")))?;
        Ok(Some((f.clone(), json)))
    }

    pub(super) fn sale(
        &mut self,
        customer_id: &str,
        receipt: &Receipt,
        spend: Bonus,
        verification: Option<&Secret>,
        hold: Option<&str>,
        fiscal: Option<&FiscalData>,
    ) -> Result<serde_json::Value, Failure> {
        let (rules, op, now) = (self.rules, self.op, self.now);
        let c = self.customer(customer_id)?;
        if receipt.kind != ReceiptKind::Sale {
            return reject(RejectReason::Invalid, "a sale carries a sale receipt");
        }
        // Registers number receipts per device: receipt "1" of two tills is two sales.
        if self.tx.sale(&self.terminal.id, &receipt.id)?.is_some() {
            return reject(
                RejectReason::Invalid,
                "this till already sold a receipt with this number",
            );
        }
        let balance = self.tx.balance(&c.id, now)?;
        // Bonuses other tills hold for their sales are not this sale's to spend; its own
        // hold (this till's, for this customer) is what it spends.
        let hold = match hold {
            Some(id) => holds::own(self.tx, id, &self.terminal.id, &c.id)?.then_some(id),
            None => None,
        };
        let held = self.tx.held(&c.id, now, hold)?;
        let spendable = holds::spendable(balance.active, held);
        if !spend.is_zero() {
            if !c.consent_processing {
                return reject(
                    RejectReason::SpendNotAllowed,
                    "the customer withdrew the consent to the processing of personal data: \
                     no bonuses are spent or accrued until it is given again",
                );
            }
            if !c.phone_verified {
                return reject(
                    RejectReason::VerificationRequired,
                    "the customer's phone is not verified: they may accrue but not spend",
                );
            }
            if let Some(limit) = rules.verification.code_to_spend_over
                && spend > limit
            {
                let phone = crate::domain::phone::Phone::parse(&c.phone).map_err(|_| {
                    Reject(RejectReason::Invalid, "stored phone does not parse".into())
                })?;
                let ok = match verification {
                    Some(v) => sms::consume_verification(
                        self.tx,
                        v.expose(),
                        &phone,
                        sms::Purpose::Spend,
                        now,
                    )?,
                    None => false,
                };
                if !ok {
                    return reject(
                        RejectReason::VerificationRequired,
                        format!("a spend above {limit} needs a fresh SMS code"),
                    );
                }
            }
        }
        let state = CustomerState {
            card: c.card_status.clone(),
            balance: Bonus::from_kopecks(spendable),
            purchases_sum: Money::ZERO,
            purchases_count: 0,
            can_spend: c.phone_verified,
            loyalty: c.consent_processing,
        };
        let calc = calculate(rules, &state, receipt, spend).map_err(|e| match e {
            CalcError::SpendAboveMax { .. } => {
                Reject(RejectReason::InsufficientBalance, e.to_string())
            }
            CalcError::SpendNotMultiple { .. } | CalcError::NegativeSpend => {
                Reject(RejectReason::SpendNotAllowed, e.to_string())
            }
            other => Reject(RejectReason::Invalid, other.to_string()),
        })?;
        let card = rules
            .card(&c.card_status)
            .ok_or_else(|| Reject(RejectReason::Invalid, "unknown card status".into()))?;
        if !calc.spent.is_zero() {
            ledger::spend(
                self.tx,
                &Spend {
                    customer_id: &c.id,
                    amount: calc.spent.kopecks(),
                    source: Source::Purchase,
                    description: &format!(
                        "Списание при оплате покупки (чек {})",
                        short_id(&receipt.id)
                    ),
                    operation_id: Some(&op.id),
                    actor: Some(&op.cashier),
                },
                now,
            )?;
        }
        let at = op.at.min(now);
        let active_from = at + Duration::days(i64::from(card.activate_after_days));
        if !calc.accrued.is_zero() {
            ledger::grant(
                self.tx,
                &Grant {
                    customer_id: &c.id,
                    amount: calc.accrued.kopecks(),
                    source: Source::Purchase,
                    description: format!("Начисление за покупку (чек {})", short_id(&receipt.id)),
                    active_from,
                    burns_at: burn_date(active_from, card.burn_after_days),
                    operation_id: Some(&op.id),
                    actor: Some(&op.cashier),
                },
                now,
            )?;
        }
        // Without the consent to the processing of personal data the sale is booked as for
        // no customer (issue 14; the withdrawal under 152-ФЗ, SPEC.md §8): the engine gave no
        // discount, spend or accrual, and nothing else personal follows either — no
        // first-purchase gift, no referrers' rewards, no status raised. The sale and its
        // purchase sum are kept all the same, so a return of it finds it and counts right.
        let loyalty = c.consent_processing;
        let first_purchase = loyalty && !self.tx.has_purchases(&c.id)?;
        if first_purchase && let Some(gift) = &rules.first_purchase_gift {
            self.grant_bonus(
                &c.id,
                &gift.bonus,
                Source::FirstPurchase,
                "Подарок за первую покупку",
            )?;
        }
        self.tx.insert_purchase(&c.id, at, calc.to_pay.kopecks())?;
        let upgraded = if loyalty {
            self.referral_rewards(&c, calc.to_pay)?;
            self.upgrade_status(&c)?
        } else {
            None
        };
        let sale = Sale::from_calculation(receipt, &calc);
        let sale = serde_json::to_string(&sale)
            .map_err(|e| StoreError::Other(format!("a sale does not serialize: {e}")))?;
        let fiscal = self.fiscal_to_keep(fiscal)?;
        let mut new_sale = NewSale {
            terminal_id: &self.terminal.id,
            receipt_id: &receipt.id,
            operation_id: &op.id,
            customer_id: &c.id,
            at,
            sale: &sale,
            fiscal: fiscal.as_ref().map(|(f, json)| SaleFiscal {
                fn_number: &f.fn_number,
                fd: i64::from(f.fd),
                json,
            }),
        };
        let mut kept = self.tx.insert_sale(&new_sale)?;
        if !kept && new_sale.fiscal.is_some() {
            // Another sale with this fiscal document committed after `fiscal_to_keep`
            // looked (two tills reporting one document at once): this sale is kept
            // without it, as when the document was taken before.
            tracing::warn!(operation = %op.id, "another sale took this fiscal document meanwhile");
            new_sale.fiscal = None;
            kept = self.tx.insert_sale(&new_sale)?;
        }
        if !kept {
            return reject(
                RejectReason::Invalid,
                "this till already sold a receipt with this number",
            );
        }
        self.tx.insert_receipt_figures(&NewReceiptFigures {
            operation_id: &op.id,
            kind: "sale",
            at,
            store_id: &self.terminal.store_id,
            terminal_id: &self.terminal.id,
            cashier: &op.cashier,
            paid: calc.to_pay.kopecks(),
            discount: calc.discount.kopecks(),
        })?;
        if let Some(id) = hold {
            self.tx.end_hold(id, HoldState::Consumed)?;
        }
        self.touch(&c.id);
        Ok(
            serde_json::json!({ "calculation": calc, "card_status": upgraded.unwrap_or(c.card_status) }),
        )
    }

    /// Pays each referrer up the chain their level's percent of the referee's ruble payment,
    /// while the referee is within `pay_for_days` of registering.
    fn referral_rewards(&mut self, referee: &Customer, paid: Money) -> Result<(), Failure> {
        let (rules, now) = (self.rules, self.now);
        let Some(referral) = &rules.referral else {
            return Ok(());
        };
        if let Some(days) = referral.pay_for_days
            && now > referee.registered_at + Duration::days(i64::from(days))
        {
            return Ok(());
        }
        let mut next = referee.referrer_id.clone();
        for level in &referral.levels {
            let Some(id) = next else { break };
            let Some(referrer) = self.tx.customer(CustomerKey::Id(&id))? else {
                break;
            };
            let reward = round_half_up(level.percent.of(paid.amount()), rules.bonus_rounding.dp());
            let amount = Bonus::new(reward).kopecks();
            if amount > 0 {
                ledger::grant(
                    self.tx,
                    &Grant {
                        customer_id: &referrer.id,
                        amount,
                        source: Source::Referral,
                        description: "Бонусы за покупку приглашённого друга".into(),
                        active_from: now,
                        burns_at: None,
                        operation_id: Some(&self.op.id),
                        actor: None,
                    },
                    now,
                )?;
                self.touch(&referrer.id);
            }
            next = referrer.referrer_id.clone();
        }
        Ok(())
    }

    /// Raises the card status right after the sale that crosses its threshold.
    fn upgrade_status(&mut self, c: &Customer) -> Result<Option<String>, Failure> {
        let (rules, now) = (self.rules, self.now);
        // Each threshold is one indexed sum over the purchases in its window, never the
        // customer's whole history in memory.
        let mut failed = None;
        let tx = &mut *self.tx;
        let next = status_after_sale_by(rules, &c.card_status, |t| {
            // After a failed statement the transaction is aborted: the first error (a
            // serialization conflict, which runs the batch again) is the one to report.
            if failed.is_some() {
                return false;
            }
            statuses::threshold_met(tx, &c.id, t, now).unwrap_or_else(|e| {
                failed = Some(e);
                false
            })
        });
        if let Some(e) = failed {
            return Err(e.into());
        }
        match next {
            Some(card) => {
                self.tx.change_card_status(&NewStatusChange {
                    customer_id: &c.id,
                    from: &c.card_status,
                    to: &card.name,
                    cause: StatusCause::Sale,
                    actor: None,
                    reason: "",
                    at: now,
                    review_day: None,
                })?;
                Ok(Some(card.name.clone()))
            }
            None => Ok(None),
        }
    }
}
