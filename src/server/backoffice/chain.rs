//! The chain as the back office edits it: stores (name, address, time zone), their staff
//! (cashiers and till managers with their codes), and their terminals (what each till last
//! reported, enrollment codes, revocation, unlocking cashier logins).

use chrono::{DateTime, Utc};

use super::{Actor, BackofficeError, audit, text_field};
use crate::protocol::admin::{
    EnrollmentCodeResponse, NewStaffRequest, NewStoreRequest, StaffRole, StaffUpdate, StaffView,
    StoreUpdate, StoreView, TerminalView,
};
use crate::protocol::server::{Role, Secret};
use crate::server::auth::{self, CashierError};
use crate::server::crypto::{random_bytes, sha256};
use crate::server::store::{
    self, LoginState, StaffRow, Store, StoreError, StoreRow, TerminalReport, TerminalRow,
};

/// The time zone of a store made without one.
pub const DEFAULT_TIME_ZONE: &str = "Europe/Moscow";

/// Parses an IANA time zone name.
pub fn time_zone(name: &str) -> Result<chrono_tz::Tz, BackofficeError> {
    name.trim().parse().map_err(|_| {
        BackofficeError::BadRequest(format!(
            "time_zone: {name:?} is not a time zone; give an IANA name such as Europe/Moscow \
             or Asia/Yekaterinburg"
        ))
    })
}

/// The offset of a zone from UTC at `at`, in minutes.
pub fn offset_minutes(tz: chrono_tz::Tz, at: DateTime<Utc>) -> i32 {
    use chrono::Offset;
    at.with_timezone(&tz).offset().fix().local_minus_utc() / 60
}

pub fn store_view(s: &StoreRow, now: DateTime<Utc>) -> StoreView {
    StoreView {
        id: s.id.clone(),
        name: s.name.clone(),
        address: s.address.clone(),
        time_zone: s.time_zone.clone(),
        utc_offset_minutes: offset_minutes(s.tz(), now),
    }
}

fn check_store_id(id: &str) -> Result<(), BackofficeError> {
    let ok = (1..=40).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(BackofficeError::BadRequest(
            "id: a store id is 1 to 40 Latin letters, digits, '-' or '_'".into(),
        ))
    }
}

fn check_address(address: &str) -> Result<String, BackofficeError> {
    let a = address.trim();
    if a.chars().count() > 300 || a.chars().any(char::is_control) {
        return Err(BackofficeError::BadRequest(
            "address: at most 300 characters, no control characters".into(),
        ));
    }
    Ok(a.to_string())
}

/// The stores this actor may see.
pub fn stores(
    store: &dyn Store,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Vec<StoreView>, BackofficeError> {
    let all = store::read(store, |r| r.stores())?;
    Ok(all
        .iter()
        .filter(|s| actor.require_store(&s.id).is_ok())
        .map(|s| store_view(s, now))
        .collect())
}

/// Creates a store with a fresh lookup key (owner only).
pub fn add_store(
    store: &dyn Store,
    actor: &Actor,
    req: &NewStoreRequest,
    now: DateTime<Utc>,
) -> Result<StoreView, BackofficeError> {
    actor.require_owner("add stores")?;
    let id = req.id.trim();
    check_store_id(id)?;
    let name = text_field("name", &req.name, 200)?;
    let address = check_address(&req.address)?;
    let tz = time_zone(req.time_zone.as_deref().unwrap_or(DEFAULT_TIME_ZONE))?;
    store::write(store, |tx| {
        if tx.store(id)?.is_some() {
            return Ok(Err(BackofficeError::AlreadyExists(format!(
                "id: there already is a store {id}"
            ))));
        }
        auth::create_store(tx, id, &name, &address, tz, now)?;
        let row = tx
            .store(id)?
            .ok_or_else(|| StoreError::Corrupt("a new store does not read back".into()))?;
        let view = store_view(&row, now);
        audit(
            tx,
            actor,
            now,
            "store.add",
            &format!("store {id}"),
            Some(id),
            None::<&()>,
            Some(&view),
        )?;
        Ok(Ok(view))
    })?
}

/// Changes a store's name, address or time zone. A manager may edit their own stores.
pub fn update_store(
    store: &dyn Store,
    actor: &Actor,
    id: &str,
    req: &StoreUpdate,
    now: DateTime<Utc>,
) -> Result<StoreView, BackofficeError> {
    actor.require_store(id)?;
    let name = req
        .name
        .as_deref()
        .map(|n| text_field("name", n, 200))
        .transpose()?;
    let address = req.address.as_deref().map(check_address).transpose()?;
    let tz = req.time_zone.as_deref().map(time_zone).transpose()?;
    store::write(store, |tx| {
        let Some(before) = tx.store(id)? else {
            return Ok(Err(BackofficeError::NotFound(format!("no store {id}"))));
        };
        let mut after = before.clone();
        if let Some(n) = &name {
            after.name = n.clone();
        }
        if let Some(a) = &address {
            after.address = a.clone();
        }
        if let Some(tz) = tz {
            after.time_zone = tz.name().to_string();
            after.utc_offset_minutes = offset_minutes(tz, now);
        }
        tx.update_store(&after)?;
        let (b, a) = (store_view(&before, now), store_view(&after, now));
        audit(
            tx,
            actor,
            now,
            "store.update",
            &format!("store {id}"),
            Some(id),
            Some(&b),
            Some(&a),
        )?;
        Ok(Ok(a))
    })?
}

fn staff_view(s: &StaffRow) -> StaffView {
    StaffView {
        id: s.id,
        store_id: s.store_id.clone(),
        name: s.name.clone(),
        role: match s.role {
            Role::Cashier => StaffRole::Cashier,
            Role::Manager => StaffRole::Manager,
        },
        active: s.active,
    }
}

fn role_of(r: StaffRole) -> Role {
    match r {
        StaffRole::Cashier => Role::Cashier,
        StaffRole::Manager => Role::Manager,
    }
}

/// The staff of a store, or of every store the actor may see.
pub fn staff(
    store: &dyn Store,
    actor: &Actor,
    store_id: Option<&str>,
) -> Result<Vec<StaffView>, BackofficeError> {
    if let Some(s) = store_id {
        actor.require_store(s)?;
    }
    let rows = store::read(store, |r| r.staff(store_id))?;
    Ok(rows
        .iter()
        .filter(|s| actor.require_store(&s.store_id).is_ok())
        .map(staff_view)
        .collect())
}

fn cashier_error(e: CashierError) -> BackofficeError {
    match e {
        CashierError::BadCode => {
            BackofficeError::BadRequest("code: a cashier code is 4 to 8 digits".into())
        }
        CashierError::CodeTaken => BackofficeError::AlreadyExists(
            "code: another cashier of this store already has this code".into(),
        ),
        CashierError::NoStore(s) => BackofficeError::BadRequest(format!("store_id: no store {s}")),
        CashierError::Store(e) => BackofficeError::Store(e),
    }
}

/// Adds a cashier or a till manager to a store.
pub fn add_staff(
    store: &dyn Store,
    actor: &Actor,
    req: &NewStaffRequest,
    now: DateTime<Utc>,
) -> Result<StaffView, BackofficeError> {
    actor.require_store(&req.store_id)?;
    let name = text_field("name", &req.name, 100)?;
    store::write(store, |tx| {
        let id = match auth::add_cashier(
            tx,
            &req.store_id,
            &name,
            role_of(req.role),
            req.code.expose(),
        ) {
            Ok(id) => id,
            Err(CashierError::Store(e)) => return Err(e),
            Err(e) => return Ok(Err(cashier_error(e))),
        };
        let row = tx
            .staff_member(id)?
            .ok_or_else(|| StoreError::Corrupt("a new cashier does not read back".into()))?;
        let view = staff_view(&row);
        audit(
            tx,
            actor,
            now,
            "staff.add",
            &format!("staff {id}"),
            Some(&req.store_id),
            None::<&()>,
            Some(&view),
        )?;
        Ok(Ok(view))
    })?
}

/// Renames, changes the role or the code of, deactivates or reactivates a staff member.
pub fn update_staff(
    store: &dyn Store,
    actor: &Actor,
    id: i64,
    req: &StaffUpdate,
    now: DateTime<Utc>,
) -> Result<StaffView, BackofficeError> {
    let name = req
        .name
        .as_deref()
        .map(|n| text_field("name", n, 100))
        .transpose()?;
    store::write(store, |tx| {
        let Some(before) = tx.staff_member(id)? else {
            return Ok(Err(BackofficeError::NotFound(format!(
                "no staff member {id}"
            ))));
        };
        if let Err(e) = actor.require_store(&before.store_id) {
            return Ok(Err(e));
        }
        if name.is_some() || req.role.is_some() {
            tx.set_staff_name_role(
                id,
                name.as_deref().unwrap_or(&before.name),
                req.role.map(role_of).unwrap_or(before.role),
            )?;
        }
        if let Some(code) = &req.code {
            let code = code.expose();
            if !(4..=8).contains(&code.len()) || !code.bytes().all(|b| b.is_ascii_digit()) {
                return Ok(Err(cashier_error(CashierError::BadCode)));
            }
            if auth::code_owner(tx, &before.store_id, code)?.is_some_and(|owner| owner != id) {
                return Ok(Err(cashier_error(CashierError::CodeTaken)));
            }
            let salt = random_bytes(16);
            tx.set_staff_code(id, &salt, &sha256(&[&salt, code.as_bytes()]))?;
        }
        if let Some(active) = req.active {
            tx.set_staff_active(id, active)?;
        }
        let after = tx
            .staff_member(id)?
            .ok_or_else(|| StoreError::Corrupt("a cashier does not read back".into()))?;
        let (b, a) = (staff_view(&before), staff_view(&after));
        // The audit says that the code changed, never the code.
        let action = if req.code.is_some() {
            "staff.update_code"
        } else {
            "staff.update"
        };
        audit(
            tx,
            actor,
            now,
            action,
            &format!("staff {id}"),
            Some(&after.store_id),
            Some(&b),
            Some(&a),
        )?;
        Ok(Ok(a))
    })?
}

pub fn terminal_view(t: &TerminalRow, now: DateTime<Utc>) -> TerminalView {
    TerminalView {
        id: t.id.clone(),
        store_id: t.store_id.clone(),
        name: t.name.clone(),
        enrolled_at: t.enrolled_at,
        revoked_at: t.revoked_at,
        app_version: t.app_version.clone(),
        last_sync_at: t.last_sync_at,
        queue_length: t.queue_length,
        oldest_queued_at: t.oldest_queued_at,
        logins_locked_until: t.login_locked_until.filter(|u| *u > now),
    }
}

/// The terminals of a store, or of every store the actor may see.
pub fn terminals(
    store: &dyn Store,
    actor: &Actor,
    store_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Vec<TerminalView>, BackofficeError> {
    if let Some(s) = store_id {
        actor.require_store(s)?;
    }
    let rows = store::read(store, |r| r.terminals(store_id))?;
    Ok(rows
        .iter()
        .filter(|t| actor.require_store(&t.store_id).is_ok())
        .map(|t| terminal_view(t, now))
        .collect())
}

fn terminal_of(
    tx: &mut dyn store::Tx,
    actor: &Actor,
    id: &str,
) -> Result<Result<TerminalRow, BackofficeError>, StoreError> {
    // A terminal list is short (a few per store): finding one in it is fine.
    let found = tx.terminals(None)?.into_iter().find(|t| t.id == id);
    Ok(match found {
        None => Err(BackofficeError::NotFound(format!("no terminal {id}"))),
        Some(t) => actor.require_store(&t.store_id).map(|()| t),
    })
}

/// Issues a one-time enrollment code for a store's new till.
pub fn enrollment_code(
    store: &dyn Store,
    actor: &Actor,
    store_id: &str,
    now: DateTime<Utc>,
) -> Result<EnrollmentCodeResponse, BackofficeError> {
    actor.require_store(store_id)?;
    store::write(store, |tx| {
        let code = match auth::issue_enrollment_code(tx, store_id, now) {
            Ok(code) => code,
            Err(CashierError::Store(e)) => return Err(e),
            Err(e) => return Ok(Err(cashier_error(e))),
        };
        audit(
            tx,
            actor,
            now,
            "terminal.enrollment_code",
            &format!("store {store_id}"),
            Some(store_id),
            None::<&()>,
            None::<&()>,
        )?;
        Ok(Ok(EnrollmentCodeResponse {
            code: Secret(code),
            store_id: store_id.to_string(),
            expires_at: now + auth::ENROLLMENT_TTL,
        }))
    })?
}

/// Revokes a till's token: its later calls are refused until it is enrolled again.
pub fn revoke_terminal(
    store: &dyn Store,
    actor: &Actor,
    id: &str,
    now: DateTime<Utc>,
) -> Result<TerminalView, BackofficeError> {
    change_terminal(store, actor, id, now, "terminal.revoke", |tx| {
        tx.revoke_terminal(id, now).map(|_| ())
    })
}

/// Lifts the lock that wrong cashier codes put on a till's logins.
pub fn unlock_terminal(
    store: &dyn Store,
    actor: &Actor,
    id: &str,
    now: DateTime<Utc>,
) -> Result<TerminalView, BackofficeError> {
    change_terminal(store, actor, id, now, "terminal.unlock", |tx| {
        tx.set_login_state(id, LoginState::default())
    })
}

fn change_terminal(
    store: &dyn Store,
    actor: &Actor,
    id: &str,
    now: DateTime<Utc>,
    action: &str,
    change: impl Fn(&mut dyn store::Tx) -> Result<(), StoreError>,
) -> Result<TerminalView, BackofficeError> {
    store::write(store, |tx| {
        let before = match terminal_of(tx, actor, id)? {
            Ok(t) => t,
            Err(e) => return Ok(Err(e)),
        };
        change(tx)?;
        let after = match terminal_of(tx, actor, id)? {
            Ok(t) => t,
            Err(e) => return Ok(Err(e)),
        };
        let (b, a) = (terminal_view(&before, now), terminal_view(&after, now));
        audit(
            tx,
            actor,
            now,
            action,
            &format!("terminal {id}"),
            Some(&after.store_id),
            Some(&b),
            Some(&a),
        )?;
        Ok(Ok(a))
    })?
}

/// Records what a till reported of itself.
pub fn report_terminal(
    store: &dyn Store,
    terminal_id: &str,
    report: &crate::protocol::admin::TerminalStatusRequest,
    now: DateTime<Utc>,
) -> Result<(), BackofficeError> {
    let version = report.app_version.trim();
    if version.is_empty() || version.chars().count() > 50 {
        return Err(BackofficeError::BadRequest(
            "app_version: give 1 to 50 characters".into(),
        ));
    }
    store::write(store, |tx| {
        tx.report_terminal(
            terminal_id,
            &TerminalReport {
                app_version: version,
                queue_length: i64::from(report.queue_length),
                oldest_queued_at: report.oldest_queued_at,
                at: now,
            },
        )
    })?;
    Ok(())
}
