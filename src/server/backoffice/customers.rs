//! Customers in the back office: search, the customer's page, the questionnaire, the card
//! (blocked, replaced keeping the balance), a manual change of the balance, consents, two
//! records of one person merged, and erasure on request (152-ФЗ).
//!
//! Customers belong to the chain; a store manager sees and changes those whose home store
//! (where they registered) is one of theirs, and only the owner merges two records. Every
//! change is audited, moves the customer to the end of the tills' feed (an erased or merged
//! record reaches the tills as gone, and they forget it), and never logs personal data.

use chrono::{DateTime, Utc};

use super::{Actor, BackofficeError, audit};
use crate::domain::card::{CardFormat, CardNumber, VirtualPrefix, generate_virtual};
use crate::domain::money::Bonus;
use crate::domain::phone::Phone;
use crate::protocol::admin::*;
use crate::protocol::server::{Gender, HistoryEntry};
use crate::server::customers::{masked_card, masked_phone, short_name};
use crate::server::ledger::{self, Grant, LedgerError, Source, Spend};
use crate::server::store::{
    self, Customer, CustomerProfile, CustomerSearch, NewConsent, QuestionnaireRow, Store,
    StoreError, Tx,
};

/// At most this many customers in a search's answer.
pub const SEARCH_LIMIT: i64 = 50;
/// The history lines and purchases the page shows.
pub const PAGE_HISTORY: usize = 100;
pub const PAGE_PURCHASES: i64 = 20;

fn not_found(id: &str) -> BackofficeError {
    BackofficeError::NotFound(format!("no customer {id}"))
}

/// Whether the actor may see this customer: the owner always, a manager when the
/// customer's home store is one of theirs.
fn may_see(actor: &Actor, home_store: Option<&str>) -> bool {
    actor.is_owner() || home_store.is_some_and(|s| actor.require_store(s).is_ok())
}

/// Reads a customer's record, refusing one the actor may not see.
fn profile_for(
    r: &mut dyn store::ReadTx,
    actor: &Actor,
    id: &str,
) -> Result<Result<CustomerProfile, BackofficeError>, StoreError> {
    Ok(match r.customer_profile(id)? {
        None => Err(not_found(id)),
        Some(p) if !may_see(actor, p.store_id.as_deref()) => Err(BackofficeError::Forbidden(
            format!("customer {id} is not a customer of this account's stores"),
        )),
        Some(p) => Ok(p),
    })
}

/// Refuses changes to an erased or merged record.
fn require_live(p: &CustomerProfile) -> Result<(), BackofficeError> {
    if p.erased_at.is_some() {
        return Err(BackofficeError::BadRequest(
            "this customer was erased: nothing of them is kept to change".into(),
        ));
    }
    if let Some(into) = &p.merged_into {
        return Err(BackofficeError::BadRequest(format!(
            "this record was merged into customer {into}; change that one"
        )));
    }
    Ok(())
}

/// Finds customers by phone (any Russian spelling), card number or a part of a name.
pub fn search(
    store: &dyn Store,
    actor: &Actor,
    query: &str,
) -> Result<Vec<CustomerListItem>, BackofficeError> {
    let q = query.trim();
    if q.chars().count() < 2 || q.chars().count() > 100 {
        return Err(BackofficeError::BadRequest(
            "q: give a phone, a card number or 2 to 100 letters of a name".into(),
        ));
    }
    let formats = CardFormat::default_formats();
    // One read view for the search and the home stores of what it found.
    store::read(store, |r| {
        let found = if let Ok(phone) = Phone::parse(q) {
            r.search_customers(CustomerSearch::Phone(phone.as_e164()), SEARCH_LIMIT)?
        } else if q
            .chars()
            .all(|c| c.is_ascii_digit() || c == ' ' || c == '-')
        {
            match CardNumber::parse(q, &formats) {
                Ok(card) => {
                    r.search_customers(CustomerSearch::Card(card.as_str()), SEARCH_LIMIT)?
                }
                Err(_) => Vec::new(),
            }
        } else {
            r.search_customers(CustomerSearch::Name(&spellings(q)), SEARCH_LIMIT)?
        };
        let mut out = Vec::new();
        for c in found {
            let home = r.customer_profile(&c.id)?.and_then(|p| p.store_id);
            if may_see(actor, home.as_deref()) {
                out.push(list_item(&c, home));
            }
        }
        Ok(out)
    })
    .map_err(Into::into)
}

/// A name as typed, in lower case, capitalised and in upper case: the store compares
/// exactly, so these four cover how names are written.
fn spellings(q: &str) -> Vec<String> {
    let lower = q.to_lowercase();
    let mut capital = String::new();
    let mut chars = lower.chars();
    if let Some(first) = chars.next() {
        capital.extend(first.to_uppercase());
        capital.extend(chars);
    }
    let mut all = vec![q.to_string(), lower, capital, q.to_uppercase()];
    all.sort();
    all.dedup();
    all
}

fn list_item(c: &Customer, home_store: Option<String>) -> CustomerListItem {
    CustomerListItem {
        id: c.id.clone(),
        name: short_name(c.first_name.as_deref(), c.last_name.as_deref()),
        phone_masked: masked_phone(&c.phone),
        card_masked: masked_card(c.card_number.as_deref()),
        card_status: c.card_status.clone(),
        home_store,
    }
}

fn questionnaire_of(p: &CustomerProfile) -> CustomerQuestionnaire {
    CustomerQuestionnaire {
        last_name: p.customer.last_name.clone(),
        first_name: p.customer.first_name.clone(),
        middle_name: p.middle_name.clone(),
        gender: match p.gender.as_deref() {
            Some("male") => Some(Gender::Male),
            Some("female") => Some(Gender::Female),
            _ => None,
        },
        birth_date: p.customer.birth_date,
        email: p.email.clone(),
    }
}

/// The customer's page.
pub fn page(
    store: &dyn Store,
    actor: &Actor,
    id: &str,
    now: DateTime<Utc>,
) -> Result<CustomerPage, BackofficeError> {
    store::read(store, |r| {
        let p = match profile_for(r, actor, id)? {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        let balance = r.balance(id, now)?;
        let batches = r
            .batches(id)?
            .into_iter()
            .map(|b| BatchView {
                amount: Bonus::from_kopecks(b.amount),
                remaining: Bonus::from_kopecks(b.remaining),
                source: b.source,
                active_from: b.active_from,
                burns_at: b.burns_at,
            })
            .collect();
        let history = r
            .history(id, PAGE_HISTORY)?
            .into_iter()
            .map(|h| HistoryEntry {
                at: h.at,
                amount: Bonus::from_kopecks(h.amount),
                kind: h.kind,
                description: h.description,
            })
            .collect();
        let purchases = crate::server::sales::customer_sales(r, id, PAGE_PURCHASES as usize)
            .map(|s| s.sales)
            .unwrap_or_default();
        let consents = r
            .consents(id)?
            .into_iter()
            .map(|c| ConsentChange {
                kind: c.kind,
                granted: c.granted,
                at: c.at,
                terminal_id: c.terminal_id,
                by: c.cashier,
            })
            .collect();
        let blocked_cards = r
            .blocked_cards(id)?
            .into_iter()
            .map(|b| BlockedCardView {
                card_number: b.card_number,
                blocked_at: b.blocked_at,
                reason: b.reason,
            })
            .collect();
        let status_changes = r
            .status_changes(id)?
            .into_iter()
            .map(|c| StatusChangeView {
                from: c.from,
                to: c.to,
                cause: c.cause.name().into(),
                by: c.actor,
                reason: c.reason,
                at: c.at,
            })
            .collect();
        let gone = p.customer.gone;
        Ok(Ok(CustomerPage {
            id: p.customer.id.clone(),
            phone: if gone {
                String::new()
            } else {
                p.customer.phone.clone()
            },
            phone_verified: p.customer.phone_verified,
            card_number: p.customer.card_number.clone(),
            card_status: p.customer.card_status.clone(),
            questionnaire: questionnaire_of(&p),
            registered_at: p.customer.registered_at,
            home_store: p.store_id.clone(),
            balance: Bonus::from_kopecks(balance.active),
            pending: Bonus::from_kopecks(balance.pending),
            batches,
            history,
            purchases,
            consent_processing: p.customer.consent_processing,
            consent_advertising: p.customer.consent_advertising,
            consents,
            blocked_cards,
            status_changes,
            erased_at: p.erased_at,
            merged_into: p.merged_into.clone(),
        }))
    })?
}

/// A name field: trimmed, at most 100 characters, empty = none.
fn name_field(field: &str, v: &Option<String>) -> Result<Option<String>, BackofficeError> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(n) if n.chars().count() > 100 || n.chars().any(char::is_control) => Err(
            BackofficeError::BadRequest(format!("{field}: at most 100 characters")),
        ),
        Some(n) => Ok(Some(n.to_string())),
    }
}

fn check_questionnaire(
    q: &CustomerQuestionnaire,
    now: DateTime<Utc>,
) -> Result<QuestionnaireRow, BackofficeError> {
    let email = match q.email.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(e) => Some(super::accounts::normalize_email(e).map_err(|_| {
            BackofficeError::BadRequest("email: give an e-mail address like anna@example.ru".into())
        })?),
    };
    if let Some(b) = q.birth_date
        && (b > now.date_naive()
            || b < chrono::NaiveDate::from_ymd_opt(1900, 1, 1).expect("a date"))
    {
        return Err(BackofficeError::BadRequest(
            "birth_date: a date between 1900-01-01 and today".into(),
        ));
    }
    Ok(QuestionnaireRow {
        last_name: name_field("last_name", &q.last_name)?,
        first_name: name_field("first_name", &q.first_name)?,
        middle_name: name_field("middle_name", &q.middle_name)?,
        gender: q.gender.map(|g| match g {
            Gender::Male => "male",
            Gender::Female => "female",
        }),
        birth_date: q.birth_date,
        email,
    })
}

/// Runs a change of one live customer the actor may see: `f` gets the record and says what
/// it did (the audit action and the record's questionnaire, card and consents after are
/// written by the caller's audit call inside `f`).
fn change<T>(
    store: &dyn Store,
    actor: &Actor,
    id: &str,
    f: impl Fn(&mut dyn Tx, &CustomerProfile) -> Result<Result<T, BackofficeError>, StoreError>,
) -> Result<T, BackofficeError> {
    store::write(store, |tx| {
        tx.lock_customers(&[id])?;
        let p = match profile_for(tx, actor, id)? {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        if let Err(e) = require_live(&p) {
            return Ok(Err(e));
        }
        let out = f(tx, &p)?;
        if out.is_ok() {
            tx.bump_feed(&[id])?;
        }
        Ok(out)
    })?
}

/// Replaces the questionnaire.
pub fn update_questionnaire(
    store: &dyn Store,
    actor: &Actor,
    id: &str,
    q: &CustomerQuestionnaire,
    now: DateTime<Utc>,
) -> Result<CustomerQuestionnaire, BackofficeError> {
    let row = check_questionnaire(q, now)?;
    change(store, actor, id, |tx, p| {
        tx.set_questionnaire(id, &row)?;
        let after = tx
            .customer_profile(id)?
            .map(|p| questionnaire_of(&p))
            .unwrap_or_default();
        audit(
            tx,
            actor,
            now,
            "customer.questionnaire",
            &format!("customer {id}"),
            p.store_id.as_deref(),
            Some(&questionnaire_of(p)),
            Some(&after),
        )?;
        Ok(Ok(after))
    })
}

fn reason_field(reason: &str) -> Result<String, BackofficeError> {
    super::text_field("reason", reason, 200)
}

/// Blocks the customer's card (lost, stolen): the number opens nothing any more and is
/// never issued again; the customer is still found by phone.
pub fn block_card(
    store: &dyn Store,
    actor: &Actor,
    id: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), BackofficeError> {
    let reason = reason_field(reason)?;
    change(store, actor, id, |tx, p| {
        let Some(number) = p.customer.card_number.clone() else {
            return Ok(Err(BackofficeError::BadRequest(
                "this customer has no card to block".into(),
            )));
        };
        tx.block_card(id, &number, now, &reason)?;
        audit(
            tx,
            actor,
            now,
            "customer.block_card",
            &format!("customer {id}"),
            p.store_id.as_deref(),
            Some(&serde_json::json!({ "card": masked_card(Some(&number)) })),
            Some(&serde_json::json!({ "card": null, "reason": reason })),
        )?;
        Ok(Ok(()))
    })
}

/// Replaces a lost card with a new one (a plastic number, or a new virtual one), keeping
/// the balance, history and status: the old number is blocked.
pub fn replace_card(
    store: &dyn Store,
    actor: &Actor,
    id: &str,
    number: Option<&str>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<String, BackofficeError> {
    let reason = reason_field(reason)?;
    let formats = CardFormat::default_formats();
    let plastic = number
        .map(|n| {
            CardNumber::parse(n, &formats)
                .map_err(|e| BackofficeError::BadRequest(format!("number: {e}")))
        })
        .transpose()?;
    change(store, actor, id, |tx, p| {
        if let Some(old) = &p.customer.card_number {
            tx.block_card(id, old, now, &reason)?;
        }
        let new = match &plastic {
            Some(card) => {
                if tx.card_blocked(card.as_str())? {
                    return Ok(Err(BackofficeError::AlreadyExists(
                        "number: this card number was blocked; it is never issued again".into(),
                    )));
                }
                if !tx.set_card_number(id, card.as_str())? {
                    return Ok(Err(BackofficeError::AlreadyExists(
                        "number: this card belongs to another customer".into(),
                    )));
                }
                card.as_str().to_string()
            }
            None => {
                let mut rng = rand::rng();
                loop {
                    let card = generate_virtual(&VirtualPrefix::default(), &mut rng);
                    if !tx.card_blocked(card.as_str())? && tx.set_card_number(id, card.as_str())? {
                        break card.as_str().to_string();
                    }
                }
            }
        };
        audit(
            tx,
            actor,
            now,
            "customer.replace_card",
            &format!("customer {id}"),
            p.store_id.as_deref(),
            Some(&serde_json::json!({ "card": masked_card(p.customer.card_number.as_deref()) })),
            Some(&serde_json::json!({ "card": masked_card(Some(&new)), "reason": reason })),
        )?;
        Ok(Ok(new))
    })
}

/// Adds (positive) or takes (negative) bonuses with a reason, as a manager at the till
/// does; the answer is the balance after.
pub fn manual_change(
    store: &dyn Store,
    actor: &Actor,
    id: &str,
    req: &ManualChangeRequest,
    now: DateTime<Utc>,
) -> Result<Bonus, BackofficeError> {
    let reason = reason_field(&req.reason)?;
    let k = req.amount.kopecks();
    if k == 0 {
        return Err(BackofficeError::BadRequest(
            "amount: give a signed amount other than zero".into(),
        ));
    }
    let description = format!("Ручное изменение: {reason}");
    change(store, actor, id, |tx, p| {
        let before = tx.balance(id, now)?.active;
        let done = if k > 0 {
            ledger::grant(
                tx,
                &Grant {
                    customer_id: id,
                    amount: k,
                    source: Source::Manual,
                    description: description.clone(),
                    active_from: now,
                    burns_at: req
                        .lifetime_days
                        .map(|d| now + chrono::Duration::days(i64::from(d))),
                    operation_id: None,
                    actor: Some(&actor.name),
                },
                now,
            )
        } else {
            ledger::spend(
                tx,
                &Spend {
                    customer_id: id,
                    amount: -k,
                    source: Source::Manual,
                    description: &description,
                    operation_id: None,
                    actor: Some(&actor.name),
                },
                now,
            )
        };
        match done {
            Ok(()) => {}
            Err(LedgerError::Store(e)) => return Err(e),
            Err(LedgerError::Insufficient { available }) => {
                return Ok(Err(BackofficeError::BadRequest(format!(
                    "amount: the customer has only {} bonuses to take",
                    Bonus::from_kopecks(available.max(0))
                ))));
            }
            Err(e) => return Ok(Err(BackofficeError::BadRequest(format!("amount: {e}")))),
        }
        let after = tx.balance(id, now)?.active;
        audit(
            tx,
            actor,
            now,
            "customer.manual_change",
            &format!("customer {id}"),
            p.store_id.as_deref(),
            Some(&serde_json::json!({ "balance": Bonus::from_kopecks(before) })),
            Some(&serde_json::json!({
                "balance": Bonus::from_kopecks(after), "amount": req.amount, "reason": reason
            })),
        )?;
        Ok(Ok(Bonus::from_kopecks(after)))
    })
}

/// Gives or withdraws the customer's consents, as they asked.
pub fn set_consents(
    store: &dyn Store,
    actor: &Actor,
    id: &str,
    req: &ConsentsUpdate,
    now: DateTime<Utc>,
) -> Result<(), BackofficeError> {
    if req.processing.is_none() && req.advertising.is_none() {
        return Err(BackofficeError::BadRequest(
            "give processing, advertising or both".into(),
        ));
    }
    change(store, actor, id, |tx, p| {
        let before = serde_json::json!({
            "processing": p.customer.consent_processing,
            "advertising": p.customer.consent_advertising,
        });
        for (kind, granted) in [
            ("processing", req.processing),
            ("advertising", req.advertising),
        ] {
            if let Some(granted) = granted {
                tx.insert_consent(&NewConsent {
                    customer_id: id,
                    kind,
                    granted,
                    at: now,
                    terminal_id: None,
                    cashier: Some(&actor.name),
                })?;
            }
        }
        let after = serde_json::json!({
            "processing": req.processing.unwrap_or(p.customer.consent_processing),
            "advertising": req.advertising.unwrap_or(p.customer.consent_advertising),
        });
        audit(
            tx,
            actor,
            now,
            "customer.consents",
            &format!("customer {id}"),
            p.store_id.as_deref(),
            Some(&before),
            Some(&after),
        )?;
        Ok(Ok(()))
    })
}

/// Moves a duplicate record of the same person into this one (owner only): its balance
/// (every batch as it was), history, purchases, sales, consents and referrals; its card
/// moves too when this record has none, and is blocked otherwise. The duplicate stays as an
/// empty record pointing here, and the tills forget it.
pub fn merge(
    store: &dyn Store,
    actor: &Actor,
    into: &str,
    duplicate: &str,
    now: DateTime<Utc>,
) -> Result<CustomerPage, BackofficeError> {
    actor.require_owner("merge customer records")?;
    if into == duplicate {
        return Err(BackofficeError::BadRequest(
            "duplicate_id: a record cannot be merged into itself".into(),
        ));
    }
    store::write(store, |tx| {
        let mut ids = [into, duplicate];
        ids.sort();
        tx.lock_customers(&ids)?;
        let (keep, gone) = match (tx.customer_profile(into)?, tx.customer_profile(duplicate)?) {
            (Some(k), Some(g)) => (k, g),
            (None, _) => return Ok(Err(not_found(into))),
            (_, None) => return Ok(Err(not_found(duplicate))),
        };
        for p in [&keep, &gone] {
            if let Err(e) = require_live(p) {
                return Ok(Err(e));
            }
        }
        let before = serde_json::json!({
            "into": { "balance": Bonus::from_kopecks(tx.balance(into, now)?.active) },
            "duplicate": { "balance": Bonus::from_kopecks(tx.balance(duplicate, now)?.active),
                           "card": masked_card(gone.customer.card_number.as_deref()) },
        });
        tx.merge_customers(duplicate, into)?;
        if let Some(card) = &gone.customer.card_number {
            // The card the person carries keeps working when the record kept has none;
            // otherwise its number is blocked.
            if keep.customer.card_number.is_some() || !tx.set_card_number(into, card)? {
                tx.block_card(duplicate, card, now, "merged into another record")?;
            }
        }
        tx.bump_feed(&ids)?;
        let after = serde_json::json!({
            "into": { "balance": Bonus::from_kopecks(tx.balance(into, now)?.active) },
            "duplicate": { "merged_into": into },
        });
        audit(
            tx,
            actor,
            now,
            "customer.merge",
            &format!("customer {duplicate} into {into}"),
            keep.store_id.as_deref(),
            Some(&before),
            Some(&after),
        )?;
        Ok(Ok(()))
    })??;
    page(store, actor, into, now)
}

/// Erases a customer's personal data on their request (152-ФЗ): phone, names, birth date,
/// e-mail, card and the SMS codes sent to them go; the ledger, purchases and sales stay
/// with the anonymous record, so the chain's figures still add up. The tills forget them.
pub fn erase(
    store: &dyn Store,
    actor: &Actor,
    id: &str,
    now: DateTime<Utc>,
) -> Result<(), BackofficeError> {
    change(store, actor, id, |tx, p| {
        if let Some(card) = &p.customer.card_number {
            tx.block_card(id, card, now, "erased on request")?;
        }
        tx.erase_customer(id, now)?;
        audit(
            tx,
            actor,
            now,
            "customer.erase",
            &format!("customer {id}"),
            p.store_id.as_deref(),
            None::<&()>,
            Some(&serde_json::json!({ "erased": true })),
        )?;
        Ok(Ok(()))
    })
}

/// Sets the customer's card status by hand — any status of the active rules, an
/// `issue = "manual"` one too, up or down — with a reason; traced and audited.
pub fn set_status(
    store: &dyn Store,
    actor: &Actor,
    id: &str,
    req: &StatusRequest,
    rules: &crate::domain::rules::Rules,
    now: DateTime<Utc>,
) -> Result<(), BackofficeError> {
    let reason = reason_field(&req.reason)?;
    change(store, actor, id, |tx, p| {
        let set = match crate::server::statuses::set_card_status_in(
            tx,
            rules,
            &actor.name,
            id,
            &req.status,
            &reason,
            now,
        )? {
            Ok(set) => set,
            Err(e) => return Ok(Err(BackofficeError::BadRequest(format!("status: {e}")))),
        };
        audit(
            tx,
            actor,
            now,
            "customer.status",
            &format!("customer {id}"),
            p.store_id.as_deref(),
            Some(&serde_json::json!({ "status": set.from })),
            Some(&serde_json::json!({ "status": set.to, "reason": reason })),
        )?;
        Ok(Ok(()))
    })
}
