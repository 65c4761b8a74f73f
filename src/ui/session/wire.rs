//! The session pages' callbacks, one function per feature global: keys go to the
//! [`Typing`] of the UI thread, taps become commands for the runner's worker.

use std::cell::RefCell;
use std::rc::Rc;

use chrono::NaiveDate;
use slint::{ComponentHandle, SharedString, Weak};

use super::keypad::{FindModeChoice, Typing, show_entry};
use crate::checkout::{Action, CardChoice, CustomerTab as Tab};
use crate::protocol::server::{Gender, Questionnaire, Secret};
use crate::runner::{Command, Commands};
use crate::terminal::ConsentChange;
use crate::ui::{
    AppWindow, CustomerAdapter, CustomerTab, FindAdapter, FindMode, LoginAdapter, ManagerAdapter,
    ProblemInfo, ProblemKind, Questions, RegistrationAdapter, ReturnAdapter, SessionAdapter,
};

/// Sends the cashier's actions to the worker and marks the window busy until the worker's
/// view comes back.
#[derive(Clone)]
struct Sender {
    actions: Commands,
    ui: Weak<AppWindow>,
}

impl Sender {
    fn act(&self, action: Action) {
        self.actions.act(action);
        if let Some(w) = self.ui.upgrade() {
            w.global::<SessionAdapter>().set_busy(true);
        }
    }

    /// A callback that sends `action` as it is.
    fn tap(&self, action: Action) -> impl Fn() + 'static {
        let send = self.clone();
        move || send.act(action.clone())
    }

    /// The callback that confirms the SMS code typed (a spend's or a registration's): the
    /// code goes to the session and the field empties.
    fn enter_code(&self, typing: &Rc<RefCell<Typing>>) -> impl Fn() + 'static {
        let (send, typing) = (self.clone(), typing.clone());
        move || {
            let mut t = typing.borrow_mut();
            let code = std::mem::take(&mut t.sms_code);
            if let Some(w) = send.ui.upgrade() {
                show_entry(&w, &t);
            }
            send.act(Action::EnterCode(code));
        }
    }
}

/// Connects every callback of the session's feature globals.
pub(super) fn wire(window: &AppWindow, actions: &Commands, typing: &Rc<RefCell<Typing>>) {
    let send = Sender {
        actions: actions.clone(),
        ui: window.as_weak(),
    };
    session(window, &send, typing);
    login(window, &send, typing);
    find(window, &send, typing);
    customer(window, &send, typing);
    registration(window, &send, typing);
    refund(window, &send);
    manager(window, &send);
}

/// `SessionAdapter`: the shared keypad, the way back, a keyboard-wedge scanner.
fn session(window: &AppWindow, send: &Sender, typing: &Rc<RefCell<Typing>>) {
    let adapter = window.global::<SessionAdapter>();
    {
        let (typing, send) = (typing.clone(), send.clone());
        adapter.on_key(move |key| {
            let mut t = typing.borrow_mut();
            let spend_changed = t.key(&key);
            if let Some(w) = send.ui.upgrade() {
                show_entry(&w, &t);
            }
            if spend_changed {
                send.act(Action::SetSpend(t.spend_text()));
            }
        });
    }
    {
        let (typing, send) = (typing.clone(), send.clone());
        adapter.on_set_entry(move |text| {
            let mut t = typing.borrow_mut();
            let spend_changed = t.set(&text);
            if let Some(w) = send.ui.upgrade() {
                show_entry(&w, &t);
            }
            if spend_changed {
                send.act(Action::SetSpend(t.spend_text()));
            }
        });
    }
    adapter.on_cancel(send.tap(Action::Cancel));
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
                send.act(Action::Scan(code.trim().as_bytes().to_vec()));
            }
        });
    }
}

/// `LoginAdapter`: the cashier code typed on the keypad, and the way out.
fn login(window: &AppWindow, send: &Sender, typing: &Rc<RefCell<Typing>>) {
    let adapter = window.global::<LoginAdapter>();
    {
        let (typing, send) = (typing.clone(), send.clone());
        adapter.on_login(move || {
            let mut t = typing.borrow_mut();
            let code = std::mem::take(&mut t.cashier_code);
            if let Some(w) = send.ui.upgrade() {
                show_entry(&w, &t);
            }
            send.act(Action::Login { code });
        });
    }
    {
        let (typing, send) = (typing.clone(), send.clone());
        adapter.on_unlock(move || {
            let mut t = typing.borrow_mut();
            let code = std::mem::take(&mut t.cashier_code);
            if let Some(w) = send.ui.upgrade() {
                show_entry(&w, &t);
            }
            send.act(Action::UnlockLogins { code });
        });
    }
    adapter.on_logout(send.tap(Action::Logout));
}

/// `FindAdapter`: the search by the phone or card typed.
fn find(window: &AppWindow, send: &Sender, typing: &Rc<RefCell<Typing>>) {
    let adapter = window.global::<FindAdapter>();
    {
        let (typing, ui) = (typing.clone(), send.ui.clone());
        adapter.on_set_find_mode(move |mode| {
            let mut t = typing.borrow_mut();
            t.find_mode = match mode {
                FindMode::Card => FindModeChoice::Card,
                _ => FindModeChoice::Phone,
            };
            if let Some(w) = ui.upgrade() {
                show_entry(&w, &t);
            }
        });
    }
    {
        let (typing, send) = (typing.clone(), send.clone());
        adapter.on_find(move || {
            let t = typing.borrow();
            send.act(match t.find_mode {
                FindModeChoice::Phone => Action::FindByPhone(t.phone.digits().to_string()),
                FindModeChoice::Card => Action::FindByCard(t.card.clone()),
            });
        });
    }
}

/// `CustomerAdapter`: the spend, its SMS code, a manager's leave to spend offline, apply,
/// and the card's tabs.
fn customer(window: &AppWindow, send: &Sender, typing: &Rc<RefCell<Typing>>) {
    let adapter = window.global::<CustomerAdapter>();
    {
        let send = send.clone();
        adapter.on_show_tab(move |tab| {
            send.act(Action::ShowCustomerTab(match tab {
                CustomerTab::Spend => Tab::Spend,
                CustomerTab::Purchases => Tab::Purchases,
                CustomerTab::History => Tab::History,
            }))
        });
    }
    adapter.on_spend_nothing(send.tap(Action::SpendNothing));
    adapter.on_spend_max(send.tap(Action::SpendMax));
    adapter.on_apply(send.tap(Action::Apply));
    adapter.on_send_code(send.tap(Action::SendCode));
    adapter.on_enter_code(send.enter_code(typing));
    {
        let send = send.clone();
        adapter.on_allow_offline_spend(move |manager_code, reason| {
            send.act(Action::AllowOfflineSpend {
                manager_code: manager_code.into(),
                reason: reason.into(),
            })
        });
    }
    consents(&adapter, send);
}

/// `CustomerAdapter`: the «Согласия» panel of the card.
fn consents(adapter: &CustomerAdapter, send: &Sender) {
    adapter.on_show_consents(send.tap(Action::ShowConsents));
    {
        let send = send.clone();
        adapter.on_set_advertising(move |given| {
            send.act(Action::SetConsent(ConsentChange::Advertising(given)))
        });
    }
    adapter.on_withdraw_processing(send.tap(Action::SetConsent(ConsentChange::Processing(false))));
    adapter.on_give_processing(send.tap(Action::SetConsent(ConsentChange::Processing(true))));
}

/// `RegistrationAdapter`: the four steps of a registration.
fn registration(window: &AppWindow, send: &Sender, typing: &Rc<RefCell<Typing>>) {
    let adapter = window.global::<RegistrationAdapter>();
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
            send.act(Action::StartRegistration { phone });
        });
    }
    adapter.on_send_code(send.tap(Action::SendCode));
    adapter.on_enter_code(send.enter_code(typing));
    adapter.on_without_code(send.tap(Action::WithoutCode));
    {
        let send = send.clone();
        adapter.on_questionnaire(move |q| match questionnaire(&q) {
            Ok(q) => send.act(Action::Questionnaire(q)),
            // A date that does not parse never reaches the session; the page says so
            // in the session's own words for a bad birth date.
            Err(()) => {
                if let Some(w) = send.ui.upgrade() {
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
            send.act(Action::Consents {
                processing,
                advertising,
            })
        });
    }
    {
        let send = send.clone();
        adapter.on_choose_status(move |name| send.act(Action::ChooseStatus(name.into())));
    }
    {
        let (typing, send) = (typing.clone(), send.clone());
        adapter.on_issue_card(move |how| {
            let choice = match how.as_str() {
                "virtual" => CardChoice::Virtual,
                "none" => CardChoice::None,
                _ => CardChoice::Plastic(typing.borrow().card.clone()),
            };
            send.act(Action::IssueCard(choice));
        });
    }
}

/// `ReturnAdapter`: confirm the return.
fn refund(window: &AppWindow, send: &Sender) {
    let adapter = window.global::<ReturnAdapter>();
    adapter.on_apply(send.tap(Action::Apply));
    {
        let send = send.clone();
        adapter.on_find_purchases(move |phone| send.act(Action::FindByPhone(phone.to_string())));
    }
    {
        let send = send.clone();
        adapter.on_pick(move |index| {
            if let Ok(index) = usize::try_from(index) {
                send.act(Action::PickPurchase(index));
            }
        });
    }
}

/// `ManagerAdapter`: the manager's menu and what it opens.
fn manager(window: &AppWindow, send: &Sender) {
    let adapter = window.global::<ManagerAdapter>();
    adapter.on_open_manager(send.tap(Action::OpenManagerMenu));
    adapter.on_register_walk_in(send.tap(Action::RegisterWalkIn));
    {
        let send = send.clone();
        adapter.on_manual_change(move |phone, amount, reason| {
            send.act(Action::ManualChange {
                phone: phone.into(),
                amount: amount.into(),
                reason: reason.into(),
            })
        });
    }
    adapter.on_show_conflicts(send.tap(Action::ShowConflicts));
    adapter.on_show_unconfirmed(send.tap(Action::ShowUnconfirmed));
    {
        let send = send.clone();
        adapter.on_book_unconfirmed(move |id| send.act(Action::BookUnconfirmed(id.into())));
    }
    {
        let send = send.clone();
        adapter.on_drop_unconfirmed(move |id| send.act(Action::DropUnconfirmed(id.into())));
    }
    adapter.on_show_shift_report(send.tap(Action::ShowShiftReport));
    adapter.on_open_shift(send.tap(Action::OpenShift));
    adapter.on_close_shift(send.tap(Action::CloseShift));
    adapter.on_show_self_registration(send.tap(Action::ShowSelfRegistrationQr));
    {
        let send = send.clone();
        adapter.on_resolve_conflict(move |id| send.act(Action::ResolveConflict(id.into())));
    }
    {
        let actions = send.actions.clone();
        adapter.on_open_setup(move || actions.send(Command::OpenSetup));
    }
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
