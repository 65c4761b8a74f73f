//! The session page's callbacks: keys go to the [`Typing`] of the UI thread, taps become
//! commands for the runner's worker.

use std::cell::RefCell;
use std::rc::Rc;

use chrono::NaiveDate;
use slint::{ComponentHandle, SharedString};

use super::keypad::{FindModeChoice, Typing, show_entry};
use crate::checkout::{Action, CardChoice};
use crate::protocol::server::{Gender, Questionnaire, Secret};
use crate::runner::{Command, Commands};
use crate::ui::{AppWindow, FindMode, ProblemInfo, ProblemKind, Questions, SessionAdapter};

/// Connects every callback of the adapter: keypad keys change [`Typing`]; taps become
/// actions for the worker.
pub(super) fn wire(window: &AppWindow, actions: &Commands, typing: &Rc<RefCell<Typing>>) {
    let adapter = window.global::<SessionAdapter>();

    // Sends an action and marks the window busy until the worker's view comes back.
    let send = {
        let actions = actions.clone();
        let weak = window.as_weak();
        move |action: Action| {
            actions.act(action);
            if let Some(w) = weak.upgrade() {
                w.global::<SessionAdapter>().set_busy(true);
            }
        }
    };

    {
        let (weak, typing, send) = (window.as_weak(), typing.clone(), send.clone());
        adapter.on_key(move |key| {
            let mut t = typing.borrow_mut();
            let spend_changed = t.key(&key);
            if let Some(w) = weak.upgrade() {
                show_entry(&w, &t);
            }
            if spend_changed {
                send(Action::SetSpend(t.spend_text()));
            }
        });
    }
    {
        let (weak, typing, send) = (window.as_weak(), typing.clone(), send.clone());
        adapter.on_set_entry(move |text| {
            let mut t = typing.borrow_mut();
            let spend_changed = t.set(&text);
            if let Some(w) = weak.upgrade() {
                show_entry(&w, &t);
            }
            if spend_changed {
                send(Action::SetSpend(t.spend_text()));
            }
        });
    }
    {
        let (weak, typing) = (window.as_weak(), typing.clone());
        adapter.on_set_find_mode(move |mode| {
            let mut t = typing.borrow_mut();
            t.find_mode = match mode {
                FindMode::Card => FindModeChoice::Card,
                _ => FindModeChoice::Phone,
            };
            if let Some(w) = weak.upgrade() {
                show_entry(&w, &t);
            }
        });
    }
    {
        let (weak, typing, send) = (window.as_weak(), typing.clone(), send.clone());
        adapter.on_login(move || {
            let mut t = typing.borrow_mut();
            let code = std::mem::take(&mut t.cashier_code);
            if let Some(w) = weak.upgrade() {
                show_entry(&w, &t);
            }
            send(Action::Login { code });
        });
    }
    {
        let send = send.clone();
        adapter.on_logout(move || send(Action::Logout));
    }
    {
        let (typing, send) = (typing.clone(), send.clone());
        adapter.on_find(move || {
            let t = typing.borrow();
            send(match t.find_mode {
                FindModeChoice::Phone => Action::FindByPhone(t.phone.digits().to_string()),
                FindModeChoice::Card => Action::FindByCard(t.card.clone()),
            });
        });
    }
    {
        let send = send.clone();
        adapter.on_cancel(move || send(Action::Cancel));
    }
    {
        let (typing, send) = (typing.clone(), send.clone());
        adapter.on_start_registration(move || {
            // The phone the search was made with (the worker knows it), or the one typed.
            let t = typing.borrow();
            let phone = if t.phone_known {
                String::new()
            } else {
                t.phone.digits().to_string()
            };
            send(Action::StartRegistration { phone });
        });
    }
    {
        let send = send.clone();
        adapter.on_send_code(move || send(Action::SendCode));
    }
    {
        let (weak, typing, send) = (window.as_weak(), typing.clone(), send.clone());
        adapter.on_enter_code(move || {
            let mut t = typing.borrow_mut();
            let code = std::mem::take(&mut t.sms_code);
            if let Some(w) = weak.upgrade() {
                show_entry(&w, &t);
            }
            send(Action::EnterCode(code));
        });
    }
    {
        let send = send.clone();
        adapter.on_without_code(move || send(Action::WithoutCode));
    }
    {
        let (weak, send) = (window.as_weak(), send.clone());
        adapter.on_questionnaire(move |q| match questionnaire(&q) {
            Ok(q) => send(Action::Questionnaire(q)),
            // A date that does not parse never reaches the session; the page says so
            // in the session's own words for a bad birth date.
            Err(()) => {
                if let Some(w) = weak.upgrade() {
                    w.global::<SessionAdapter>().set_problem(ProblemInfo {
                        kind: ProblemKind::BadBirthDate,
                        figure: SharedString::new(),
                        detail: SharedString::new(),
                    });
                }
            }
        });
    }
    {
        let send = send.clone();
        adapter.on_consents(move |processing, advertising| {
            send(Action::Consents {
                processing,
                advertising,
            })
        });
    }
    {
        let (typing, send) = (typing.clone(), send.clone());
        adapter.on_issue_card(move |how| {
            let choice = match how.as_str() {
                "virtual" => CardChoice::Virtual,
                "none" => CardChoice::None,
                _ => CardChoice::Plastic(typing.borrow().card.clone()),
            };
            send(Action::IssueCard(choice));
        });
    }
    {
        let send = send.clone();
        adapter.on_spend_nothing(move || send(Action::SpendNothing));
    }
    {
        let send = send.clone();
        adapter.on_spend_max(move || send(Action::SpendMax));
    }
    {
        let send = send.clone();
        adapter.on_apply(move || send(Action::Apply));
    }
    {
        let send = send.clone();
        adapter.on_open_manager(move || send(Action::OpenManagerMenu));
    }
    {
        let send = send.clone();
        adapter.on_register_walk_in(move || send(Action::RegisterWalkIn));
    }
    {
        let send = send.clone();
        adapter.on_manual_change(move |phone, amount, reason| {
            send(Action::ManualChange {
                phone: phone.into(),
                amount: amount.into(),
                reason: reason.into(),
            })
        });
    }
    {
        let send = send.clone();
        adapter.on_show_conflicts(move || send(Action::ShowConflicts));
    }
    {
        let send = send.clone();
        adapter.on_show_self_registration(move || send(Action::ShowSelfRegistrationQr));
    }
    {
        let actions = actions.clone();
        adapter.on_open_setup(move || actions.send(Command::OpenSetup));
    }
    {
        let typing = typing.clone();
        adapter.on_wedge_text(move |text| {
            let mut t = typing.borrow_mut();
            // A code longer than any scan is noise (a key held down): start over.
            if t.wedge.len() + text.len() > crate::scanner::MAX_FRAME {
                t.wedge.clear();
            }
            t.wedge.push_str(&text);
        });
    }
    {
        let (typing, send) = (typing.clone(), send.clone());
        adapter.on_wedge_enter(move || {
            let code = std::mem::take(&mut typing.borrow_mut().wedge);
            if !code.trim().is_empty() {
                send(Action::Scan(code.trim().as_bytes().to_vec()));
            }
        });
    }
    {
        let send = send.clone();
        adapter.on_allow_offline_spend(move |manager_code, reason| {
            send(Action::AllowOfflineSpend {
                manager_code: manager_code.into(),
                reason: reason.into(),
            })
        });
    }
    adapter.on_resolve_conflict(move |id| send(Action::ResolveConflict(id.into())));
}

/// The questionnaire as typed, checked for what only the form can check: a birth date
/// that is not a date (`ДД.ММ.ГГГГ`, or ISO `ГГГГ-ММ-ДД`). The session checks the rest.
pub(super) fn questionnaire(q: &Questions) -> Result<Questionnaire, ()> {
    let text = |s: &SharedString| {
        let s = s.trim();
        (!s.is_empty()).then(|| s.to_string())
    };
    let birth_date = match text(&q.birth_date) {
        None => None,
        Some(d) => Some(
            NaiveDate::parse_from_str(&d, "%d.%m.%Y")
                .or_else(|_| NaiveDate::parse_from_str(&d, "%Y-%m-%d"))
                .map_err(|_| ())?,
        ),
    };
    Ok(Questionnaire {
        last_name: text(&q.last_name),
        first_name: text(&q.first_name),
        middle_name: text(&q.middle_name),
        gender: match q.gender.as_str() {
            "male" => Some(Gender::Male),
            "female" => Some(Gender::Female),
            _ => None,
        },
        birth_date,
        email: text(&q.email),
        referrer: text(&q.referrer).map(Secret),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_birth_date_is_read_in_russian_or_iso_form_and_anything_else_is_refused() {
        let q = |d: &str| Questions {
            birth_date: d.into(),
            ..Questions::default()
        };
        let date = NaiveDate::from_ymd_opt(1990, 5, 17);
        assert_eq!(questionnaire(&q("17.05.1990")).unwrap().birth_date, date);
        assert_eq!(questionnaire(&q("1990-05-17")).unwrap().birth_date, date);
        assert_eq!(questionnaire(&q("")).unwrap().birth_date, None);
        assert!(questionnaire(&q("17 мая")).is_err());
    }
}
