//! Fills and wires the session's globals (ui/adapters/*_adapter.slint: `SessionAdapter`
//! for what all pages share, one global per feature besides): the touch screens as a thin
//! view of the checkout session ([`crate::checkout::Session`]), which runs in the
//! [`crate::runner`] on a worker thread of its own.
//!
//! - [`SlintPresenter`] is the runner's [`Presenter`]: it builds the pages' values on the
//!   worker thread ([`view`], [`format`]) and posts them to the event loop with
//!   `Weak::upgrade_in_event_loop`, where [`show`] sets each feature's global.
//! - The keypad ([`keypad`]) lives on the UI thread; the callbacks ([`wire`]) turn taps
//!   into the runner's commands.
//!
//! All conversion of the session's values into what the pages show happens here: the
//! pages never compute.

mod format;
mod keypad;
mod view;
mod wire;

use std::cell::RefCell;
use std::rc::Rc;

use chrono::{DateTime, Utc};
use slint::{ComponentHandle, Image, ModelRc, VecModel, Weak};

use self::keypad::{FindModeChoice, Typing, show_entry};
use self::view::View;
use super::setup_adapter;
use super::{
    AppAdapter, AppWindow, CustomerAdapter, FindAdapter, ManagerAdapter, Page, RegistrationAdapter,
    ReturnAdapter, SessionAdapter, StatusBarAdapter, TillStatus,
};
use crate::lang::Language;
use crate::runner::{Commands, Presenter, Shown};
use crate::setup::Setup;
use crate::sync::worker::SyncStatus;

thread_local! {
    /// The keypad state of the session window on this (the UI) thread.
    static TYPING: RefCell<Option<Rc<RefCell<Typing>>>> = const { RefCell::new(None) };
}

/// Readies the window for a runner: the login page (until the first view comes), the
/// keypad, and every callback of the session's and the setup's pages sending to
/// `commands`. `status`, when the till is enrolled, is its sync status for the status
/// bar's first frame (reading it is a watch borrow, no IO).
pub(super) fn attach(window: &AppWindow, commands: &Commands, status: Option<TillStatus>) {
    let adapter = window.global::<SessionAdapter>();
    adapter.set_page(Page::Login);
    let typing = Rc::new(RefCell::new(Typing {
        page: Some(Page::Login),
        ..Typing::default()
    }));
    show_entry(window, &typing.borrow());
    wire::wire(window, commands, &typing);
    setup_adapter::wire(window, commands);
    if let Some(status) = status {
        adapter.set_active(true);
        show_status(window, status);
    }
    // The typing state is not Send: the posted closures reach it through the window's
    // thread-local registry instead of capturing it.
    TYPING.with(|t| *t.borrow_mut() = Some(typing));
}

/// The status bar's values for `status` now.
pub(super) fn till_status(status: &SyncStatus, now: DateTime<Utc>) -> TillStatus {
    format::till_status(status, now)
}

/// The runner's presenter for the window.
pub struct SlintPresenter {
    ui: Weak<AppWindow>,
}

impl SlintPresenter {
    pub fn new(window: &AppWindow) -> SlintPresenter {
        SlintPresenter {
            ui: window.as_weak(),
        }
    }

    fn post(&self, what: &str, f: impl FnOnce(AppWindow) + Send + 'static) {
        if let Err(e) = self.ui.upgrade_in_event_loop(f) {
            tracing::warn!(error = %e, "the window is gone; the {what} is dropped");
        }
    }
}

impl Presenter for SlintPresenter {
    fn show_session(&self, shown: &Shown<'_>) {
        let view = view::view(shown);
        self.post("view", move |w| show(&w, view));
    }

    fn show_status(&self, status: &SyncStatus, now: DateTime<Utc>) {
        let status = format::till_status(status, now);
        self.post("status", move |w| show_status(&w, status));
    }

    fn show_setup(&self, setup: &Setup, busy: bool, ports: Vec<String>) {
        let view = setup_adapter::view(setup, busy, ports);
        self.post("setup view", move |w| setup_adapter::show(&w, view));
    }

    fn leave_setup(&self, shown: &Shown<'_>, language: Option<Language>) {
        let view = view::view(shown);
        self.post("view", move |w| {
            setup_adapter::hide(&w);
            w.global::<SessionAdapter>().set_active(true);
            if let Some(language) = language
                && let Err(e) = super::app_adapter::show_language(&w, language)
            {
                tracing::error!(%language, error = %e, "cannot switch the interface language");
            }
            show(&w, view);
        });
    }
}

/// Shows a view from the worker. A new screen (or step, or the spend code form opening)
/// forgets what was typed for the old one.
fn show(window: &AppWindow, view: View) {
    let typing = TYPING.with(|t| t.borrow().clone());
    if let Some(typing) = typing {
        let mut t = typing.borrow_mut();
        let step = (view.page == Page::Register).then_some(view.registration.step);
        if t.page != Some(view.page) {
            t.clear_fields();
            t.find_mode = FindModeChoice::Phone;
        }
        if t.page != Some(view.page) || t.step != step || t.spend_code_open != view.spend_code.open
        {
            t.sms_code.clear();
            t.card.clear();
        }
        if let Some(spend) = &view.spend_from_session {
            t.spend = spend.clone();
        }
        t.page = Some(view.page);
        t.step = step;
        t.spend_code_open = view.spend_code.open;
        t.phone_known = !view.not_found_phone.is_empty();
        show_entry(window, &t);
    }

    let session = window.global::<SessionAdapter>();
    session.set_page(view.page);
    session.set_busy(view.busy);
    session.set_problem(view.problem);
    session.set_notice(view.notice);
    session.set_last(view.last);

    let find = window.global::<FindAdapter>();
    find.set_receipt(view.receipt);
    find.set_not_found_phone(view.not_found_phone.into());

    let customer = window.global::<CustomerAdapter>();
    customer.set_customer(view.customer);
    customer.set_spend_code(view.spend_code);
    customer.set_tab(view.customer_tab);
    customer.set_purchases(ModelRc::new(VecModel::from(view.customer_purchases)));
    customer.set_purchases_need_server(view.purchases_need_server);
    customer.set_history(ModelRc::new(VecModel::from(view.customer_history.lines)));
    customer.set_activating(ModelRc::new(VecModel::from(
        view.customer_history.activating,
    )));
    customer.set_burning(view.customer_history.burning);
    customer.set_history_needs_server(view.customer_history.needs_server);
    customer.set_consents(view.consents);

    let registration = window.global::<RegistrationAdapter>();
    registration.set_registration(view.registration);
    // Set only when they change: a new model rebuilds the buttons under the cashier's finger.
    if !slint::Model::iter(&registration.get_statuses()).eq(view.statuses.iter().cloned()) {
        registration.set_statuses(ModelRc::new(VecModel::from(view.statuses)));
    }

    let refund = window.global::<ReturnAdapter>();
    refund.set_refund(view.refund);
    refund.set_lines(ModelRc::new(VecModel::from(view.refund_lines)));
    refund.set_purchases(ModelRc::new(VecModel::from(view.purchases)));
    refund.set_purchases_shown(view.purchases_shown);
    refund.set_owner(view.purchases_owner);

    let manager = window.global::<ManagerAdapter>();
    manager.set_manager(view.manager);
    manager.set_conflicts(ModelRc::new(VecModel::from(view.conflicts)));
    manager.set_unconfirmed(ModelRc::new(VecModel::from(view.unconfirmed)));
    manager.set_shift(view.shift);
    manager.set_shift_cashiers(ModelRc::new(VecModel::from(view.shift_cashiers)));
    manager.set_shift_total(view.shift_total);
    manager.set_qr_url(view.qr_url.into());
    manager.set_qr(match view.qr {
        Some(pixels) => Image::from_rgb8(pixels),
        None => Image::default(),
    });

    window
        .global::<StatusBarAdapter>()
        .set_cashier(view.cashier.into());
    show_status(window, view.status);
}

fn show_status(window: &AppWindow, status: TillStatus) {
    window.global::<AppAdapter>().set_server_link(status.link);
    window.global::<StatusBarAdapter>().set_status(status);
}
