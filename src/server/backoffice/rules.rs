//! Rules versions: every uploaded rules file is kept as a version with who and when; one
//! version at a time is active (the tills take it at their next refresh, within a
//! minute); any version can be tried on a receipt, compared with another, activated, or
//! rolled back to. Only the owner changes the rules; a manager may read and try them.

use chrono::{DateTime, Utc};

use super::{Actor, BackofficeError, audit};
use crate::domain::calc::{self as engine, CustomerState};
use crate::domain::rules::Rules;
use crate::protocol::admin::{
    DiffLine, RulesDiff, RulesTryRequest, RulesTryResponse, RulesVersionText, RulesVersionView,
};
use crate::protocol::server::CalcRequest;
use crate::server::store::{self, NewRulesVersion, RulesVersionRow, Store, Tx};
use crate::server::{LoadedRules, customers};

/// The longest rules file accepted.
pub const MAX_RULES_BYTES: usize = 256 * 1024;

pub fn view(r: &RulesVersionRow) -> RulesVersionView {
    RulesVersionView {
        version: r.version,
        loaded_at: r.loaded_at,
        uploaded_by: r.uploaded_by.clone(),
        comment: r.comment.clone(),
        active: r.active,
        activated_at: r.activated_at,
        activated_by: r.activated_by.clone().filter(|a| !a.is_empty()),
    }
}

/// Every version, newest first.
pub fn versions(store: &dyn Store) -> Result<Vec<RulesVersionView>, BackofficeError> {
    Ok(store::read(store, |r| r.rules_versions())?
        .iter()
        .map(view)
        .collect())
}

fn version_row(
    r: &mut dyn store::ReadTx,
    version: i64,
) -> Result<Result<RulesVersionRow, BackofficeError>, store::StoreError> {
    Ok(r.rules_versions()?
        .into_iter()
        .find(|v| v.version == version)
        .ok_or_else(|| BackofficeError::NotFound(format!("no rules version {version}"))))
}

/// One version with its text.
pub fn version(store: &dyn Store, version: i64) -> Result<RulesVersionText, BackofficeError> {
    store::read(store, |r| {
        let row = match version_row(r, version)? {
            Ok(row) => row,
            Err(e) => return Ok(Err(e)),
        };
        let text = r.rules_text(version)?.unwrap_or_default();
        Ok(Ok(RulesVersionText {
            version: view(&row),
            text,
        }))
    })?
}

/// Checks a rules file as the engine reads it.
pub fn check(text: &str) -> Result<Rules, BackofficeError> {
    if text.len() > MAX_RULES_BYTES {
        return Err(BackofficeError::BadRequest(format!(
            "text: a rules file has at most {MAX_RULES_BYTES} bytes"
        )));
    }
    Rules::from_toml_str(text).map_err(BackofficeError::RulesInvalid)
}

/// Stores a rules file as a new version (owner only), and activates it when asked. A
/// file that does not parse is refused with its line and key named.
pub fn upload(
    store: &dyn Store,
    actor: &Actor,
    text: &str,
    comment: &str,
    activate: bool,
    now: DateTime<Utc>,
) -> Result<RulesVersionView, BackofficeError> {
    actor.require_owner("change the loyalty rules")?;
    check(text)?;
    let comment = comment.trim();
    if comment.chars().count() > 500 || comment.contains('\0') {
        return Err(BackofficeError::BadRequest(
            "comment: at most 500 characters, no NUL".into(),
        ));
    }
    store::write(store, |tx| {
        let version = tx
            .rules_versions()?
            .first()
            .map_or(1, |newest| newest.version + 1);
        tx.insert_rules_version(&NewRulesVersion {
            version,
            text,
            at: now,
            uploaded_by: &actor.name,
            comment,
        })?;
        if activate {
            tx.activate_rules(version, now, &actor.name)?;
        }
        let row = version_row(tx, version)?.map_err(|_| {
            store::StoreError::Corrupt("a new rules version does not read back".into())
        })?;
        let v = view(&row);
        audit(
            tx,
            actor,
            now,
            "rules.upload",
            &format!("rules {version}"),
            None,
            None::<&()>,
            Some(&v),
        )?;
        if activate {
            audit_activation(tx, actor, now, None, version)?;
        }
        Ok(v)
    })
    .map_err(Into::into)
}

fn audit_activation(
    tx: &mut dyn Tx,
    actor: &Actor,
    now: DateTime<Utc>,
    before: Option<i64>,
    after: i64,
) -> Result<(), store::StoreError> {
    audit(
        tx,
        actor,
        now,
        "rules.activate",
        &format!("rules {after}"),
        None,
        before.map(|v| serde_json::json!({ "active": v })).as_ref(),
        Some(&serde_json::json!({ "active": after })),
    )
}

/// Makes a stored version the active one (owner only); an older one is a roll-back. A
/// version the engine no longer reads is refused.
pub fn activate(
    store: &dyn Store,
    actor: &Actor,
    version: i64,
    now: DateTime<Utc>,
) -> Result<RulesVersionView, BackofficeError> {
    actor.require_owner("change the loyalty rules")?;
    store::write(store, |tx| {
        let Some(text) = tx.rules_text(version)? else {
            return Ok(Err(BackofficeError::NotFound(format!(
                "no rules version {version}"
            ))));
        };
        if let Err(e) = check(&text) {
            return Ok(Err(e));
        }
        let before = tx.rules_versions()?.into_iter().find(|v| v.active);
        if before.as_ref().is_some_and(|b| b.version == version) {
            return Ok(Ok(view(before.as_ref().expect("checked"))));
        }
        tx.activate_rules(version, now, &actor.name)?;
        audit_activation(tx, actor, now, before.map(|b| b.version), version)?;
        Ok(version_row(tx, version)?.map(|r| view(&r)))
    })?
}

/// Rolls back to the version that was active before the current one (owner only).
pub fn roll_back(
    store: &dyn Store,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<RulesVersionView, BackofficeError> {
    let versions = store::read(store, |r| r.rules_versions())?;
    let current = versions.iter().find(|v| v.active);
    // The previously active version: the latest activated one other than the current.
    let previous = versions
        .iter()
        .filter(|v| !v.active && v.activated_at.is_some())
        .max_by_key(|v| v.activated_at);
    let Some(previous) = previous else {
        return Err(BackofficeError::NotFound(format!(
            "no earlier activated rules version to roll back to{}",
            current.map_or(String::new(), |c| format!(
                " (version {} is active)",
                c.version
            ))
        )));
    };
    activate(store, actor, previous.version, now)
}

/// The difference between two versions, line by line.
pub fn diff(store: &dyn Store, from: i64, to: i64) -> Result<RulesDiff, BackofficeError> {
    let (a, b) = store::read(store, |r| Ok((r.rules_text(from)?, r.rules_text(to)?)))?;
    let a = a.ok_or_else(|| BackofficeError::NotFound(format!("no rules version {from}")))?;
    let b = b.ok_or_else(|| BackofficeError::NotFound(format!("no rules version {to}")))?;
    let d = similar::TextDiff::from_lines(&a, &b);
    let lines = d
        .iter_all_changes()
        .map(|c| DiffLine {
            op: match c.tag() {
                similar::ChangeTag::Equal => " ",
                similar::ChangeTag::Delete => "-",
                similar::ChangeTag::Insert => "+",
            }
            .into(),
            text: c.value().trim_end_matches('\n').to_string(),
        })
        .collect();
    let unified = d
        .unified_diff()
        .context_radius(3)
        .header(&format!("rules {from}"), &format!("rules {to}"))
        .to_string();
    Ok(RulesDiff {
        from,
        to,
        unified,
        lines,
    })
}

/// Prices a receipt with any version, active or not: for a real customer as they stand
/// now, or for one described in the request.
pub fn try_receipt(
    store: &dyn Store,
    version: i64,
    req: &RulesTryRequest,
    now: DateTime<Utc>,
) -> Result<RulesTryResponse, BackofficeError> {
    let text = store::read(store, |r| r.rules_text(version))?
        .ok_or_else(|| BackofficeError::NotFound(format!("no rules version {version}")))?;
    let rules = check(&text)?;
    let loaded = LoadedRules {
        version,
        text,
        rules,
    };
    if let Some(id) = &req.customer_id {
        let calc = CalcRequest {
            customer_id: id.clone(),
            receipt: req.receipt.clone(),
            spend: req.spend,
            hold: None,
        };
        let answer = store::read(store, |r| {
            // Customers belong to the chain, and the answer names no one: any account may
            // price a receipt for any of them.
            Ok(customers::calculate(r, &loaded, &calc, now).map_err(calc_error))
        })??;
        return Ok(RulesTryResponse {
            version,
            card: answer.customer.card_status.clone(),
            calculation: answer.calculation,
        });
    }
    let card = match &req.card {
        Some(c) if loaded.rules.cards.iter().any(|r| &r.name == c) => c.clone(),
        Some(c) => {
            return Err(BackofficeError::BadRequest(format!(
                "card: rules version {version} has no card status {c:?}"
            )));
        }
        None => loaded
            .rules
            .cards
            .first()
            .map(|c| c.name.clone())
            .unwrap_or_default(),
    };
    let state = CustomerState {
        card: card.clone(),
        balance: req.balance,
        purchases_sum: Default::default(),
        purchases_count: 0,
        can_spend: true,
        loyalty: true,
    };
    let calculation =
        engine::calculate(&loaded.rules, &state, &req.receipt, req.spend).map_err(|e| match e {
            engine::CalcError::Receipt(r) => BackofficeError::BadRequest(format!("receipt.{r}")),
            other => BackofficeError::BadRequest(other.to_string()),
        })?;
    Ok(RulesTryResponse {
        version,
        card,
        calculation,
    })
}

fn calc_error(e: customers::CalcError) -> BackofficeError {
    match e {
        customers::CalcError::NotFound => BackofficeError::NotFound("no such customer".into()),
        customers::CalcError::BadRequest(m) => BackofficeError::BadRequest(m),
        customers::CalcError::Store(e) => BackofficeError::Store(e),
    }
}
