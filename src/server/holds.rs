//! Holds: bonuses a till reserves for a sale it is about to close (БонусПлюс calls it a
//! balance reserve), so two tills computing one customer at the same moment cannot both
//! print a discount from the same bonuses.
//!
//! At apply the till places a hold named by the sale operation's id, for the spend, with an
//! expiry tied to the register's time to close the receipt. From then on every lookup and
//! calculation elsewhere sees the spendable balance less the customer's live holds; the
//! sale operation names its hold and consumes it when the server applies it; a cancelled
//! sale releases it; an expired hold simply stops counting, and the jobs prune it later.
//!
//! A hold is placed under the customer's row lock, like every spend, so of two holds
//! racing for the last bonuses exactly one is placed. Placing is idempotent by the id: the
//! same hold again answers the same; the id with another customer or amount is refused.
//!
//! Engine-free: everything goes through the store seam.

use chrono::{DateTime, Duration, Utc};

use super::auth::Terminal;
use super::store::{self, CustomerKey, HoldRow, HoldState, NewHold, ReadTx, Store, StoreError, Tx};
use crate::domain::money::Bonus;
use crate::protocol::server::{HoldRequest, HoldResponse, HoldStatus, MAX_HOLD_S};

/// How long ended and expired holds are kept before the jobs delete them, so a resent
/// place or release still finds them and answers the same.
pub const KEEP_ENDED: Duration = Duration::days(1);

/// Why a hold was not placed or released.
#[derive(Debug, thiserror::Error)]
pub enum HoldError {
    /// The request itself is wrong; the message names the field.
    #[error("{0}")]
    BadRequest(String),
    #[error("no customer with this id")]
    CustomerNotFound,
    #[error("no hold with this id at this till")]
    NotFound,
    /// The customer cannot spend this much now: `available` is what is left after the
    /// other tills' holds.
    #[error("not enough bonuses: {} spendable now, less other tills' holds", Bonus::from_kopecks(*available))]
    Insufficient { available: i64 },
    /// The id names a hold of another customer, amount or till.
    #[error(
        "hold {id} already exists for another customer, amount or till; a new sale needs a new id"
    )]
    Conflict { id: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a customer may spend: the active balance less the live holds, never below zero on
/// their account (a balance already negative after a claw-back stays what it is).
pub fn spendable(active: i64, held: i64) -> i64 {
    if held <= 0 || active <= 0 {
        return active;
    }
    active - held.min(active)
}

/// The customer's balance now less the live holds of other sales than `except`.
pub fn spendable_now(
    r: &mut dyn ReadTx,
    customer_id: &str,
    active: i64,
    now: DateTime<Utc>,
    except: Option<&str>,
) -> Result<i64, StoreError> {
    Ok(spendable(active, r.held(customer_id, now, except)?))
}

fn check(req: &HoldRequest) -> Result<(), HoldError> {
    if uuid::Uuid::parse_str(&req.id).is_err() {
        return Err(HoldError::BadRequest(
            "id: a hold is named by its sale operation's id, a UUID".into(),
        ));
    }
    if req.amount.kopecks() <= 0 {
        return Err(HoldError::BadRequest(
            "amount: a hold reserves more than zero bonuses".into(),
        ));
    }
    if req.expires_in_s == 0 || req.expires_in_s > MAX_HOLD_S {
        return Err(HoldError::BadRequest(format!(
            "expires_in_s: from 1 to {MAX_HOLD_S} seconds"
        )));
    }
    Ok(())
}

fn status(s: HoldState) -> HoldStatus {
    match s {
        HoldState::Live => HoldStatus::Live,
        HoldState::Released => HoldStatus::Released,
        HoldState::Consumed => HoldStatus::Consumed,
    }
}

fn answer(h: &HoldRow, balance: i64) -> HoldResponse {
    HoldResponse {
        id: h.id.clone(),
        customer_id: h.customer_id.clone(),
        amount: Bonus::from_kopecks(h.amount),
        expires_at: h.expires_at,
        status: status(h.state),
        balance: Bonus::from_kopecks(balance),
    }
}

/// What is left to spend elsewhere with every live hold counted.
fn left(tx: &mut dyn Tx, customer_id: &str, now: DateTime<Utc>) -> Result<i64, StoreError> {
    let active = tx.balance(customer_id, now)?.active;
    spendable_now(tx, customer_id, active, now, None)
}

/// Places a hold for `terminal` (or answers the same hold placed before).
pub fn place(
    store: &dyn Store,
    terminal: &Terminal,
    req: &HoldRequest,
    now: DateTime<Utc>,
) -> Result<HoldResponse, HoldError> {
    check(req)?;
    let amount = req.amount.kopecks();
    let placed = store::write(store, |tx| {
        if tx.customer(CustomerKey::Id(&req.customer_id))?.is_none() {
            return Ok(Err(HoldError::CustomerNotFound));
        }
        // Under the customer's lock: no other hold or spend of theirs runs meanwhile.
        tx.lock_customers(&[&req.customer_id])?;
        if let Some(h) = tx.hold(&req.id)? {
            return same(tx, h, req, &terminal.id, now);
        }
        let active = tx.balance(&req.customer_id, now)?.active;
        let available = spendable_now(tx, &req.customer_id, active, now, None)?;
        if amount > available {
            return Ok(Err(HoldError::Insufficient { available }));
        }
        let new = NewHold {
            id: &req.id,
            customer_id: &req.customer_id,
            terminal_id: &terminal.id,
            amount,
            created_at: now,
            expires_at: now + Duration::seconds(req.expires_in_s as i64),
        };
        if !tx.insert_hold(&new)? {
            // Another customer's transaction took the id meanwhile: compare with it.
            let h = tx.hold(&req.id)?.ok_or_else(|| {
                StoreError::Conflict("a hold id was taken and then vanished".into())
            })?;
            return same(tx, h, req, &terminal.id, now);
        }
        let h = HoldRow {
            id: req.id.clone(),
            customer_id: req.customer_id.clone(),
            terminal_id: terminal.id.clone(),
            amount,
            created_at: now,
            expires_at: new.expires_at,
            state: HoldState::Live,
        };
        Ok(Ok(answer(&h, available - amount)))
    })??;
    tracing::info!(hold = %placed.id, "hold placed");
    Ok(placed)
}

/// The answer to a hold placed again: the stored one when it is the same hold.
fn same(
    tx: &mut dyn Tx,
    h: HoldRow,
    req: &HoldRequest,
    terminal_id: &str,
    now: DateTime<Utc>,
) -> Result<Result<HoldResponse, HoldError>, StoreError> {
    if h.customer_id != req.customer_id
        || h.amount != req.amount.kopecks()
        || h.terminal_id != terminal_id
    {
        return Ok(Err(HoldError::Conflict { id: h.id }));
    }
    let balance = left(tx, &h.customer_id, now)?;
    Ok(Ok(answer(&h, balance)))
}

/// Releases a live hold of `terminal` (its sale was cancelled). Idempotent: a hold released
/// or consumed before answers as it is; one pruned (or never placed) is nothing to release.
pub fn release(
    store: &dyn Store,
    terminal: &Terminal,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Option<HoldResponse>, HoldError> {
    let released = store::write(store, |tx| {
        let Some(mut h) = tx.hold(id)? else {
            return Ok(Ok(None));
        };
        if h.terminal_id != terminal.id {
            return Ok(Err(HoldError::NotFound));
        }
        tx.lock_customers(&[&h.customer_id])?;
        if tx.end_hold(id, HoldState::Released)? {
            h.state = HoldState::Released;
        } else if let Some(now_row) = tx.hold(id)? {
            h = now_row;
        }
        let balance = left(tx, &h.customer_id, now)?;
        Ok(Ok(Some(answer(&h, balance))))
    })??;
    if let Some(h) = &released {
        tracing::info!(hold = %h.id, status = ?h.status, "hold released");
    }
    Ok(released)
}

/// Whether the hold a sale names is the sale's own: placed by its till for its customer.
/// Another till's hold (or another customer's) is not, so naming it neither frees its
/// bonuses for the sale nor consumes it.
pub fn own(
    r: &mut dyn ReadTx,
    id: &str,
    terminal_id: &str,
    customer_id: &str,
) -> Result<bool, StoreError> {
    Ok(r.hold(id)?
        .is_some_and(|h| h.terminal_id == terminal_id && h.customer_id == customer_id))
}

/// Deletes holds that ended or expired more than [`KEEP_ENDED`] ago.
pub fn prune(tx: &mut dyn Tx, now: DateTime<Utc>) -> Result<u64, StoreError> {
    tx.prune_holds(now - KEEP_ENDED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_take_from_what_is_spendable_never_below_zero_nor_below_a_debt() {
        for (active, held, left) in [
            (50_000, 0, 50_000),
            (50_000, 30_000, 20_000),
            (50_000, 50_000, 0),
            // Bonuses burnt under a live hold: nothing left, not a negative balance.
            (10_000, 30_000, 0),
            // A debt after a claw-back stays what it is.
            (-5_000, 30_000, -5_000),
            (0, 100, 0),
        ] {
            assert_eq!(spendable(active, held), left, "{active} less {held}");
        }
    }

    #[test]
    fn a_hold_request_is_checked_field_by_field() {
        let ok = HoldRequest {
            id: "0190f1c2-0000-7000-8000-0000000000ab".into(),
            customer_id: "c".into(),
            amount: "1".parse().unwrap(),
            expires_in_s: MAX_HOLD_S,
        };
        assert!(check(&ok).is_ok());
        let too_long = HoldRequest {
            expires_in_s: MAX_HOLD_S + 1,
            ..ok.clone()
        };
        assert!(
            matches!(check(&too_long), Err(HoldError::BadRequest(m)) if m.starts_with("expires_in_s"))
        );
        let negative = HoldRequest {
            amount: "-0.01".parse().unwrap(),
            ..ok
        };
        assert!(
            matches!(check(&negative), Err(HoldError::BadRequest(m)) if m.starts_with("amount"))
        );
    }
}
