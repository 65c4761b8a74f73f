//! Wires `SessionAdapter` (ui/adapters/session_adapter.slint): the touch screens as a thin
//! view of the checkout session ([`crate::checkout::Session`]).
//!
//! The session does network and disk IO, so it never runs on the UI thread. It lives on a
//! worker thread with its own current-thread tokio runtime, which
//! - receives [`Action`]s over a channel (from the screens' callbacks, and from
//!   [`UiHandle::act`] for the register bridge and the scanner),
//! - runs `session.act(action).await`, sends any [`Outcome`] to [`UiHandle::try_outcome`],
//! - and posts a fresh [`View`] to the event loop with `Weak::upgrade_in_event_loop`.
//!
//! It also re-posts the view when the terminal's sync status changes and once a second, so
//! the status bar's ages and the SMS resend countdowns stay current.
//!
//! What the keypad types (the cashier code, a phone, a card number, the spend, an SMS code)
//! is kept on the UI thread, in [`Typing`]: a key press changes a string and the field
//! shown, which needs no IO. Only the finished entry goes to the session as an action (the
//! spend goes at every key, for the live preview).
//!
//! All conversion of the session's values into what the pages show happens here, in
//! [`view`] and its helpers: the pages never compute.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Local, NaiveDate, Utc};
use slint::{
    ComponentHandle, Image, ModelRc, PlatformError, Rgb8Pixel, SharedPixelBuffer, SharedString,
    VecModel, Weak,
};
use tokio::sync::mpsc;

use super::setup_adapter;
use super::{
    AppAdapter, AppWindow, ConflictLine, CustomerCard, FindMode, LastReceipt, Notice, OutcomeKind,
    Page, ProblemInfo, ProblemKind, Questions, ReceiptInfo, RegStep, RegistrationInfo, ReturnInfo,
    ReturnLine, ServerLink, SessionAdapter, SpendCode, TillStatus,
};
use crate::checkout::qr::QrModules;
use crate::checkout::{
    Action, Applied, AppliedWhat, CardChoice, Outcome, Problem, RegistrationStep, Screen, Session,
    Withdrawal,
};
use crate::clock::Clock;
use crate::domain::money::Bonus;
use crate::domain::phone::PhoneInput;
use crate::domain::receipt::Receipt;
use crate::lang::Language;
use crate::protocol::server::{Gender, Questionnaire, Secret};
use crate::scanner::{ScanEvent, SerialScanner, available_ports};
use crate::setup::{Finished, SecretsOpener, Setup, SetupAction};
use crate::sync::worker::SyncStatus;
use crate::terminal::{OfflineLimit, Priced, Terminal};

/// The longest entries the keypad accepts: a cashier code, a card number, a spend (whole
/// bonuses), an SMS code.
const MAX_CASHIER_CODE: usize = 12;
const MAX_CARD: usize = 24;
const MAX_SPEND: usize = 9;
const MAX_SMS_CODE: usize = 6;

/// The way into a running session from outside the screens: the cash-register bridge
/// hands over receipts and takes back outcomes here; tests drive it the same way.
///
/// Dropping it stops the session's worker thread (after the action under way).
pub struct UiHandle {
    actions: Actions,
    outcomes: Mutex<std_mpsc::Receiver<Outcome>>,
    listener: Arc<Mutex<Option<OutcomeListener>>>,
    worker: Option<std::thread::JoinHandle<()>>,
}

impl UiHandle {
    /// Queues an action for the session, as a tap would.
    pub fn act(&self, action: Action) {
        self.actions.send(Command::Act(action));
    }

    /// The register handed over a sale or a return receipt.
    pub fn open_receipt(&self, receipt: Receipt) {
        self.act(Action::OpenReceipt(receipt));
    }

    /// Raw bytes from the scanner (a card barcode or a customer's QR code).
    pub fn scan(&self, bytes: Vec<u8>) {
        self.act(Action::Scan(bytes));
    }

    /// True when every action sent so far has been done and its view posted to the event
    /// loop (the view shows once the event loop runs).
    pub fn is_idle(&self) -> bool {
        self.actions.pending.load(Ordering::SeqCst) == 0
    }

    /// Sends every outcome to `listener` from now on (the register bridge), instead of
    /// keeping it for [`UiHandle::try_outcome`]. It runs on the session's worker thread
    /// before the register's call is answered.
    pub fn on_outcome(&self, listener: OutcomeListener) {
        *self.listener.lock().unwrap_or_else(|p| p.into_inner()) = Some(listener);
    }

    /// The panel as the register bridge drives it.
    pub fn panel(&self) -> Arc<dyn crate::bridge::Panel> {
        Arc::new(PanelLink {
            actions: self.actions.clone(),
        })
    }

    /// The result of a receipt for the register, if one is waiting; each is given once.
    pub fn try_outcome(&self) -> Option<Outcome> {
        self.outcomes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .try_recv()
            .ok()
    }
}

/// The register bridge's way into the session worker.
struct PanelLink {
    actions: Actions,
}

impl crate::bridge::Panel for PanelLink {
    fn call(
        &self,
        action: Action,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), Problem>> + Send>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.actions.send(Command::FromRegister(action, tx));
        Box::pin(async move {
            rx.await
                .unwrap_or_else(|_| Err(Problem::Storage("the till's panel has stopped".into())))
        })
    }
}

impl Drop for UiHandle {
    fn drop(&mut self) {
        self.actions.send(Command::Stop);
        if let Some(worker) = self.worker.take()
            && worker.join().is_err()
        {
            tracing::error!("the session worker panicked");
        }
    }
}

/// Where the register's call hears how it went.
pub(super) type Reply = tokio::sync::oneshot::Sender<Result<(), Problem>>;

pub(super) enum Command {
    Act(Action),
    /// An action of the cash register (through the bridge), answered on `Reply` after
    /// the session's outcomes went to the listener.
    FromRegister(Action, Reply),
    /// The installer's setup page (boxed: it carries the whole form).
    Setup(Box<SetupAction>),
    /// The manager opens the setup of this till from the menu.
    OpenSetup,
    Stop,
}

/// The sending end of the worker's channel, with the count of actions not yet shown.
#[derive(Clone)]
pub(super) struct Actions {
    tx: mpsc::UnboundedSender<Command>,
    pending: Arc<AtomicUsize>,
}

impl Actions {
    pub(super) fn send(&self, command: Command) {
        let counted = !matches!(command, Command::Stop);
        if counted {
            self.pending.fetch_add(1, Ordering::SeqCst);
        }
        if self.tx.send(command).is_err() {
            if counted {
                self.pending.fetch_sub(1, Ordering::SeqCst);
            }
            tracing::warn!("the session worker has stopped; the tap is dropped");
        }
    }
}

/// What the worker starts with.
pub(super) enum Start {
    /// An enrolled till: its checkout session, from the login screen.
    Till(Arc<Terminal>),
    /// The installer's setup of a till never enrolled.
    Setup(Box<Setup>),
}

/// Starts the worker thread and wires the window's `SessionAdapter` and `SetupAdapter` to
/// it. The window shows the login screen (or the setup) until the first view comes.
/// `open_secrets` opens the secret store when a manager opens the setup of the till.
pub(super) fn connect(
    window: &AppWindow,
    start: Start,
    clock: Arc<dyn Clock>,
    open_secrets: SecretsOpener,
    serve_bridge: bool,
) -> Result<UiHandle, PlatformError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| PlatformError::Other(format!("cannot start the session's runtime: {e}")))?;
    let (tx, rx) = mpsc::unbounded_channel();
    let actions = Actions {
        tx,
        pending: Arc::new(AtomicUsize::new(0)),
    };
    let (outcome_tx, outcome_rx) = std_mpsc::channel();
    let outcomes = Outcomes {
        channel: outcome_tx,
        listener: Arc::new(Mutex::new(None)),
    };

    let adapter = window.global::<SessionAdapter>();
    adapter.set_page(Page::Login);
    let typing = Rc::new(RefCell::new(Typing {
        page: Some(Page::Login),
        ..Typing::default()
    }));
    show_entry(window, &typing.borrow());
    wire(window, &actions, &typing);
    setup_adapter::wire(window, &actions);

    let mode = match start {
        Start::Till(terminal) => {
            adapter.set_active(true);
            // The status bar's first frame shows the till's own status, not the preview
            // defaults of the .slint file (reading it is a watch borrow, no IO).
            show_status(window, till_status(&terminal.status(), clock.now()));
            Mode::Till(Session::new(terminal, clock.clone()))
        }
        Start::Setup(setup) => {
            // No IO on the UI thread: the serial ports come with the worker's first view.
            setup_adapter::show(window, setup_adapter::view(&setup, false, Vec::new()));
            Mode::Setup { setup, back: None }
        }
    };
    let worker = Worker {
        ui: window.as_weak(),
        pending: actions.pending.clone(),
        outcomes: outcomes.clone(),
        clock,
        open_secrets,
        last: LastReceipt::default(),
        notice: Notice::None,
        actions: actions.clone(),
        scanner: None,
        serve_bridge,
        bridge: None,
    };
    // The typing state is not Send: the posted closures reach it through the window's
    // thread-local registry instead of capturing it.
    TYPING.with(|t| *t.borrow_mut() = Some(typing));
    let thread = std::thread::Builder::new()
        .name("bonuskassa-session".into())
        .spawn(move || runtime.block_on(worker.serve(mode, rx)))
        .map_err(|e| PlatformError::Other(format!("cannot start the session thread: {e}")))?;
    Ok(UiHandle {
        actions,
        outcomes: Mutex::new(outcome_rx),
        listener: outcomes.listener,
        worker: Some(thread),
    })
}

thread_local! {
    /// The keypad state of the session window on this (the UI) thread.
    static TYPING: RefCell<Option<Rc<RefCell<Typing>>>> = const { RefCell::new(None) };
}

// ---------------------------------------------------------------------------------------
// The UI thread: typing and callbacks

/// Which field the keypad types into; Rust decides from the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    CashierCode,
    Phone,
    Card,
    Spend,
    SmsCode,
    Nothing,
}

/// What the cashier has typed, and enough of the last view to route the keypad.
#[derive(Default)]
struct Typing {
    page: Option<Page>,
    find_mode: FindModeChoice,
    spend_code_open: bool,
    step: Option<RegStep>,
    /// The "not found" screen knows the phone already (no keypad there).
    phone_known: bool,
    cashier_code: String,
    phone: PhoneInput,
    card: String,
    spend: String,
    sms_code: String,
    /// What a keyboard-wedge scanner has typed since its last Enter.
    wedge: String,
}

/// [`FindMode`] with a default, kept on the Rust side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum FindModeChoice {
    #[default]
    Phone,
    Card,
}

impl Typing {
    fn target(&self) -> Target {
        match self.page {
            Some(Page::Login) => Target::CashierCode,
            Some(Page::Find) => match self.find_mode {
                FindModeChoice::Phone => Target::Phone,
                FindModeChoice::Card => Target::Card,
            },
            Some(Page::NotFound) if !self.phone_known => Target::Phone,
            Some(Page::Customer) if self.spend_code_open => Target::SmsCode,
            Some(Page::Customer) => Target::Spend,
            Some(Page::Register) => match self.step {
                Some(RegStep::Code) => Target::SmsCode,
                Some(RegStep::Card) => Target::Card,
                _ => Target::Nothing,
            },
            _ => Target::Nothing,
        }
    }

    /// Applies one key to the field in focus; true when the spend changed.
    fn key(&mut self, key: &str) -> bool {
        let target = self.target();
        if target == Target::Phone {
            match key {
                "back" => {
                    self.phone.backspace();
                }
                "clear" => self.phone.clear(),
                k => {
                    for c in k.chars() {
                        self.phone.push_digit(c);
                    }
                }
            }
            return false;
        }
        let (field, max) = match target {
            Target::CashierCode => (&mut self.cashier_code, MAX_CASHIER_CODE),
            Target::Card => (&mut self.card, MAX_CARD),
            Target::Spend => (&mut self.spend, MAX_SPEND),
            Target::SmsCode => (&mut self.sms_code, MAX_SMS_CODE),
            Target::Phone | Target::Nothing => return false,
        };
        match key {
            "back" => {
                field.pop();
            }
            "clear" => field.clear(),
            k => {
                for c in k.chars().filter(char::is_ascii_digit) {
                    if field.len() < max {
                        field.push(c);
                    }
                }
            }
        }
        target == Target::Spend
    }

    /// Replaces the field in focus; true when the spend changed.
    fn set(&mut self, text: &str) -> bool {
        if self.target() == Target::Phone {
            self.phone = PhoneInput::from_typed(text);
            return false;
        }
        self.key("clear");
        self.key(text)
    }

    /// The spend as the session gets it: an empty field is no spend.
    fn spend_text(&self) -> String {
        if self.spend.is_empty() {
            "0".into()
        } else {
            self.spend.clone()
        }
    }

    /// The field in focus as shown: dots for the cashier code, the +7 mask for a phone.
    fn entry(&self) -> String {
        match self.target() {
            Target::CashierCode => "●".repeat(self.cashier_code.chars().count()),
            Target::Phone => self.phone.screen_text(),
            Target::Card => self.card.clone(),
            Target::SmsCode => self.sms_code.clone(),
            Target::Spend | Target::Nothing => String::new(),
        }
    }

    /// Forgets what was typed for the screen that closed.
    fn clear_fields(&mut self) {
        self.cashier_code.clear();
        self.phone.clear();
        self.card.clear();
        self.sms_code.clear();
        self.spend.clear();
    }
}

fn show_entry(window: &AppWindow, typing: &Typing) {
    let adapter = window.global::<SessionAdapter>();
    adapter.set_entry(typing.entry().into());
    adapter.set_spend(typing.spend.clone().into());
    adapter.set_find_mode(match typing.find_mode {
        FindModeChoice::Phone => FindMode::Phone,
        FindModeChoice::Card => FindMode::Card,
    });
}

/// Connects every callback of the adapter: keypad keys change [`Typing`]; taps become
/// actions for the worker.
fn wire(window: &AppWindow, actions: &Actions, typing: &Rc<RefCell<Typing>>) {
    let adapter = window.global::<SessionAdapter>();

    // Sends an action and marks the window busy until the worker's view comes back.
    let send = {
        let actions = actions.clone();
        let weak = window.as_weak();
        move |action: Action| {
            actions.send(Command::Act(action));
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
fn questionnaire(q: &Questions) -> Result<Questionnaire, ()> {
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

    let adapter = window.global::<SessionAdapter>();
    adapter.set_page(view.page);
    adapter.set_busy(view.busy);
    adapter.set_problem(view.problem);
    adapter.set_notice(view.notice);
    adapter.set_cashier(view.cashier.into());
    adapter.set_manager(view.manager);
    adapter.set_receipt(view.receipt);
    adapter.set_not_found_phone(view.not_found_phone.into());
    adapter.set_customer(view.customer);
    adapter.set_spend_code(view.spend_code);
    adapter.set_registration(view.registration);
    adapter.set_refund(view.refund);
    adapter.set_refund_lines(ModelRc::new(VecModel::from(view.refund_lines)));
    adapter.set_conflicts(ModelRc::new(VecModel::from(view.conflicts)));
    adapter.set_last(view.last);
    adapter.set_qr_url(view.qr_url.into());
    adapter.set_qr(match view.qr {
        Some(pixels) => Image::from_rgb8(pixels),
        None => Image::default(),
    });
    show_status(window, view.status);
}

fn show_status(window: &AppWindow, status: TillStatus) {
    window.global::<AppAdapter>().set_server_link(status.link);
    window.global::<SessionAdapter>().set_status(status);
}

// ---------------------------------------------------------------------------------------
// The worker thread: the session and its views

/// Everything a page shows, built on the worker thread from the session and posted to
/// the UI thread (it holds no model, so it is `Send`).
struct View {
    page: Page,
    busy: bool,
    problem: ProblemInfo,
    notice: Notice,
    cashier: String,
    manager: bool,
    receipt: ReceiptInfo,
    not_found_phone: String,
    customer: CustomerCard,
    /// Set when the session chose the spend («0», «Макс»): the spend field shows it.
    spend_from_session: Option<String>,
    spend_code: SpendCode,
    registration: RegistrationInfo,
    refund: ReturnInfo,
    refund_lines: Vec<ReturnLine>,
    conflicts: Vec<ConflictLine>,
    last: LastReceipt,
    status: TillStatus,
    qr: Option<SharedPixelBuffer<Rgb8Pixel>>,
    qr_url: String,
}

/// What the worker runs: the checkout session, or the installer's setup (with the
/// session it was opened from, to go back to unchanged).
enum Mode {
    Till(Session),
    Setup {
        setup: Box<Setup>,
        back: Option<Session>,
    },
}

impl Mode {
    fn terminal(&self) -> Option<&Arc<Terminal>> {
        match self {
            Mode::Till(session)
            | Mode::Setup {
                back: Some(session),
                ..
            } => Some(session.terminal()),
            Mode::Setup { back: None, .. } => None,
        }
    }
}

/// A listener of the session's outcomes (the register bridge).
pub type OutcomeListener = Box<dyn Fn(&Outcome) + Send>;

/// Where the session's outcomes go: to the listener when one is set, else to
/// [`UiHandle::try_outcome`].
#[derive(Clone)]
struct Outcomes {
    channel: std_mpsc::Sender<Outcome>,
    listener: Arc<Mutex<Option<OutcomeListener>>>,
}

impl Outcomes {
    fn send(&self, outcome: Outcome) {
        if let Some(listener) = self
            .listener
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            listener(&outcome);
            return;
        }
        if self.channel.send(outcome).is_err() {
            tracing::warn!("nobody takes the receipt outcomes any more");
        }
    }
}

struct Worker {
    ui: Weak<AppWindow>,
    pending: Arc<AtomicUsize>,
    outcomes: Outcomes,
    clock: Arc<dyn Clock>,
    open_secrets: SecretsOpener,
    last: LastReceipt,
    notice: Notice,
    /// The worker's own way in: the serial scanner's codes arrive as actions.
    actions: Actions,
    /// The serial scanner of the running till, if it has one. Stopped while the setup is
    /// open (its live test needs the port) and restarted with the settings saved.
    scanner: Option<SerialScanner>,
    /// Whether this window serves the register bridge ([`super::UiOptions::bridge`]).
    serve_bridge: bool,
    /// The register bridge of the running till; restarted when the setup saves.
    bridge: Option<crate::bridge::BridgeHandle>,
}

impl Worker {
    /// Starts the serial scanner `terminal.toml` names (stopping any other first). A
    /// scanner unplugged at start is retried every second; the till starts regardless.
    fn start_scanner(&mut self, terminal: &Terminal) {
        self.scanner = None;
        let Some(settings) = terminal.config().scanner.clone() else {
            return;
        };
        let actions = self.actions.clone();
        let started = SerialScanner::start(settings, move |event| match event {
            ScanEvent::Scan(bytes) => actions.send(Command::Act(Action::Scan(bytes))),
            ScanEvent::Connected { port } => tracing::info!(%port, "the scanner is connected"),
            ScanEvent::Disconnected { port, reason } => {
                tracing::warn!(%port, %reason, "the scanner is not connected")
            }
            ScanEvent::BadFrame(e) => {
                tracing::warn!(error = %e, "the scanner sent an unreadable code")
            }
        });
        match started {
            Ok(scanner) => self.scanner = Some(scanner),
            Err(e) => tracing::error!(error = %e, "the scanner cannot start"),
        }
    }

    /// Starts the register bridge on the port and with the key of `terminal` (stopping
    /// the one before). A till without a key, or a port taken, runs without one; the
    /// reason is logged for the installer.
    fn start_bridge(&mut self, terminal: &Terminal) {
        if !self.serve_bridge {
            return;
        }
        self.bridge = None;
        let Some(key) = terminal.bridge_key() else {
            tracing::warn!("no register bridge: the till's setup has not made its key");
            return;
        };
        let settings = &terminal.config().bridge;
        let config = crate::bridge::BridgeConfig {
            port: settings.port,
            key: key.expose().to_string(),
            close_timeout: Duration::from_secs(settings.close_timeout_s),
        };
        let panel: Arc<dyn crate::bridge::Panel> = Arc::new(PanelLink {
            actions: self.actions.clone(),
        });
        match crate::bridge::spawn(config, panel) {
            Ok(handle) => {
                let bridge = handle.bridge.clone();
                *self
                    .outcomes
                    .listener
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) =
                    Some(Box::new(move |o: &Outcome| bridge.outcome(o)));
                self.bridge = Some(handle);
            }
            Err(e) => tracing::error!(error = %e, "the register bridge cannot start"),
        }
    }

    async fn serve(mut self, mut mode: Mode, mut commands: mpsc::UnboundedReceiver<Command>) {
        match &mode {
            Mode::Till(session) => {
                let terminal = session.terminal().clone();
                self.start_scanner(&terminal);
                self.start_bridge(&terminal);
            }
            Mode::Setup { setup, .. } => {
                self.post_setup(setup_adapter::view(setup, false, available_ports()));
            }
        }
        let mut status = mode.terminal().map(|t| t.subscribe());
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                command = commands.recv() => {
                    let command = match command {
                        None | Some(Command::Stop) => break,
                        Some(c) => c,
                    };
                    let before = mode.terminal().map(Arc::as_ptr);
                    mode = self.command(mode, command).await;
                    if mode.terminal().map(Arc::as_ptr) != before {
                        status = mode.terminal().map(|t| t.subscribe());
                    }
                    self.pending.fetch_sub(1, Ordering::SeqCst);
                }
                changed = async {
                    match status.as_mut() {
                        Some(s) => s.changed().await,
                        None => std::future::pending().await,
                    }
                } => {
                    if changed.is_err() {
                        status = None;
                    }
                    if let Mode::Till(session) = &mode {
                        let status = till_status(&session.terminal().status(), self.clock.now());
                        self.post_status(status);
                    }
                }
                _ = tick.tick() => {
                    if let Mode::Till(session) = &mode {
                        let busy = self.pending.load(Ordering::SeqCst) > 0;
                        self.post(self.view(session, busy, None));
                    }
                }
            }
        }
        // The register hears "connection refused" from now on.
        self.bridge = None;
        // A till the setup started is stopped here; one handed in is its owner's to stop
        // (stopping twice does no harm).
        if let Some(terminal) = mode.terminal() {
            terminal.stop_sync();
        }
        tracing::debug!("the session worker stops");
    }

    /// Runs one command in the current mode and returns the mode after it. The view of
    /// the result is posted before the command stops counting as pending.
    async fn command(&mut self, mode: Mode, command: Command) -> Mode {
        let busy = self.pending.load(Ordering::SeqCst) > 1;
        match (mode, command) {
            (Mode::Till(mut session), Command::Act(action)) => {
                self.act(&mut session, action, None).await;
                Mode::Till(session)
            }
            (Mode::Till(mut session), Command::FromRegister(action, reply)) => {
                self.act(&mut session, action, Some(reply)).await;
                Mode::Till(session)
            }
            (mode @ Mode::Setup { .. }, Command::FromRegister(action, reply)) => {
                // Nothing can be open while the setup is: a receipt waits for the cashier.
                let refusal = match action {
                    Action::OpenReceipt(_) => Problem::SetupOpen,
                    _ => Problem::NoSuchReceipt,
                };
                let _ = reply.send(Err(refusal));
                mode
            }
            (Mode::Till(session), Command::OpenSetup) => {
                let allowed = session.cashier().is_some_and(|c| c.is_manager())
                    && *session.screen() == Screen::Manager;
                if !allowed {
                    tracing::warn!("the setup was asked for outside the manager's menu");
                    self.post(self.view(&session, busy, None));
                    return Mode::Till(session);
                }
                self.scanner = None;
                let setup = Box::new(Setup::for_terminal(
                    session.terminal().clone(),
                    self.clock.clone(),
                    self.open_secrets.clone(),
                ));
                self.post_setup(setup_adapter::view(&setup, busy, available_ports()));
                tracing::info!("the manager opened the till's setup");
                Mode::Setup {
                    setup,
                    back: Some(session),
                }
            }
            (Mode::Setup { mut setup, back }, Command::Setup(action)) => {
                setup.act(*action).await;
                match setup.take_finished() {
                    None => {
                        self.post_setup(setup_adapter::view(&setup, busy, available_ports()));
                        Mode::Setup { setup, back }
                    }
                    Some(Finished::Back) => match back {
                        Some(session) => {
                            let terminal = session.terminal().clone();
                            self.start_scanner(&terminal);
                            self.post_session(self.view(&session, busy, None), None);
                            Mode::Till(session)
                        }
                        None => {
                            self.post_setup(setup_adapter::view(&setup, busy, available_ports()));
                            Mode::Setup { setup, back: None }
                        }
                    },
                    Some(Finished::Ready(terminal)) => {
                        if let Some(old) = &back {
                            old.terminal().stop_sync();
                        }
                        if let Err(e) = terminal.start_sync(Default::default()) {
                            tracing::error!(error = %e, "cannot start the sync worker");
                        }
                        let language = terminal.config().language;
                        self.start_scanner(&terminal);
                        self.start_bridge(&terminal);
                        let session = Session::new(terminal, self.clock.clone());
                        self.last = LastReceipt::default();
                        self.notice = Notice::None;
                        self.post_session(self.view(&session, busy, None), Some(language));
                        Mode::Till(session)
                    }
                }
            }
            (Mode::Setup { setup, back }, Command::Act(action)) => {
                // A receipt from the register while the till is being set up goes on
                // without loyalty; the register hears it at once.
                if let Action::OpenReceipt(receipt) = action {
                    tracing::warn!(receipt = %receipt.id, "a receipt arrived during the setup");
                    let outcome = Outcome::Cancelled {
                        receipt_id: receipt.id.clone(),
                    };
                    self.outcomes.send(outcome);
                }
                self.post_setup(setup_adapter::view(&setup, busy, available_ports()));
                Mode::Setup { setup, back }
            }
            (mode, _) => {
                match &mode {
                    Mode::Till(session) => self.post(self.view(session, busy, None)),
                    Mode::Setup { setup, .. } => {
                        self.post_setup(setup_adapter::view(setup, busy, available_ports()));
                    }
                }
                mode
            }
        }
    }

    fn post_setup(&self, view: setup_adapter::SetupView) {
        if let Err(e) = self
            .ui
            .upgrade_in_event_loop(move |w| setup_adapter::show(&w, view))
        {
            tracing::warn!(error = %e, "the window is gone; the setup view is dropped");
        }
    }

    /// Leaves the setup for the session (in `language`, when the setup chose one).
    fn post_session(&self, view: View, language: Option<Language>) {
        let posted = self.ui.upgrade_in_event_loop(move |w| {
            setup_adapter::hide(&w);
            w.global::<SessionAdapter>().set_active(true);
            if let Some(language) = language
                && let Err(e) = super::app_adapter::show_language(&w, language)
            {
                tracing::error!(%language, error = %e, "cannot switch the interface language");
            }
            show(&w, view);
        });
        if let Err(e) = posted {
            tracing::warn!(error = %e, "the window is gone; the view is dropped");
        }
    }

    /// Does an action on the session: a tap (`reply` is `None`) or the register's call.
    async fn act(&mut self, session: &mut Session, mut action: Action, reply: Option<Reply>) {
        // «Зарегистрировать» on "not found" after a phone search registers that phone;
        // the screens never held the raw number.
        if let (Action::StartRegistration { phone }, Screen::NotFound { phone: Some(p), .. }) =
            (&mut action, session.screen())
            && phone.is_empty()
        {
            *phone = p.as_e164().to_string();
        }
        let chose_spend = matches!(action, Action::SpendMax | Action::SpendNothing);
        let manual = matches!(action, Action::ManualChange { .. });
        let withdrawn = match &action {
            Action::Withdraw { why, .. } => Some(*why),
            _ => None,
        };
        let walk_in = matches!(action, Action::IssueCard(_))
            && matches!(session.screen(), Screen::Register { receipt: None, .. });
        let result = match reply {
            Some(_) => session.act_for_register(action).await,
            None => {
                session.act(action).await;
                Ok(())
            }
        };
        let ok = result.is_ok() && session.problem().is_none();
        self.notice = match (ok, manual, walk_in, withdrawn) {
            (true, true, _, _) => Notice::BalanceChanged,
            (true, _, true, _) => Notice::WalkInRegistered,
            (true, _, _, Some(Withdrawal::Register)) => Notice::RegisterCancelled,
            (true, _, _, Some(Withdrawal::NoAnswer)) => Notice::RegisterSilent,
            _ => Notice::None,
        };
        if let Some(outcome) = session.take_outcome() {
            self.last = last_receipt(&outcome);
            self.outcomes.send(outcome);
        }
        if let Some(reply) = reply {
            // The register may have stopped waiting; the session's state stands.
            let _ = reply.send(result);
        }
        let spend = match (chose_spend, session.screen()) {
            (true, Screen::Customer { spend_text, .. }) => Some(spend_field(spend_text)),
            _ => None,
        };
        // Posted before the count drops (in `serve`), so "idle" means the view is in the
        // event loop.
        let busy = self.pending.load(Ordering::SeqCst) > 1;
        self.post(self.view(session, busy, spend));
    }

    fn post(&self, view: View) {
        if let Err(e) = self.ui.upgrade_in_event_loop(move |w| show(&w, view)) {
            tracing::warn!(error = %e, "the window is gone; the view is dropped");
        }
    }

    fn post_status(&self, status: TillStatus) {
        if let Err(e) = self
            .ui
            .upgrade_in_event_loop(move |w| show_status(&w, status))
        {
            tracing::warn!(error = %e, "the window is gone; the status is dropped");
        }
    }

    fn view(&self, session: &Session, busy: bool, spend_from_session: Option<String>) -> View {
        let now = self.clock.now();
        let cashier = session.cashier();
        let mut view = View {
            page: Page::Login,
            busy,
            problem: session.problem().map(problem_info).unwrap_or_default(),
            notice: self.notice,
            cashier: cashier.map(|c| c.name.clone()).unwrap_or_default(),
            manager: cashier.is_some_and(|c| c.is_manager()),
            receipt: ReceiptInfo::default(),
            not_found_phone: String::new(),
            customer: CustomerCard::default(),
            spend_from_session,
            spend_code: SpendCode {
                tries_left: -1,
                ..SpendCode::default()
            },
            registration: RegistrationInfo {
                tries_left: -1,
                ..RegistrationInfo::default()
            },
            refund: ReturnInfo::default(),
            refund_lines: Vec::new(),
            conflicts: Vec::new(),
            last: self.last.clone(),
            status: till_status(&session.terminal().status(), now),
            qr: None,
            qr_url: String::new(),
        };
        match session.screen() {
            Screen::Login => view.page = Page::Login,
            Screen::Waiting => view.page = Page::Waiting,
            Screen::Find { receipt } => {
                view.page = Page::Find;
                view.receipt = receipt_info(receipt);
            }
            Screen::NotFound { receipt, phone } => {
                view.page = Page::NotFound;
                if let Some(r) = receipt {
                    view.receipt = receipt_info(r);
                }
                view.not_found_phone = phone.as_ref().map(|p| p.formatted()).unwrap_or_default();
            }
            Screen::Customer {
                receipt,
                found,
                priced,
                phone,
                code,
                ..
            } => {
                view.page = Page::Customer;
                view.receipt = receipt_info(receipt);
                let c = &found.customer;
                let calc = &priced.calculation;
                view.customer = CustomerCard {
                    name: c.name.clone().into(),
                    phone: phone
                        .as_ref()
                        .map(|p| p.masked())
                        .unwrap_or_else(|| c.phone_masked.clone())
                        .into(),
                    card: c.card_masked.clone().unwrap_or_default().into(),
                    card_status: c.card_status.clone().into(),
                    balance: bonus(c.balance).into(),
                    pending: bonus(c.pending).into(),
                    discount_percent: c.discount_percent.clone().into(),
                    max_spend: bonus(calc.max_spend).into(),
                    offline: found.offline || priced.offline,
                    unverified: !c.phone_verified,
                    total: money(&calc.total.to_string()).into(),
                    discount: money(&calc.discount.to_string()).into(),
                    spent: bonus(calc.spent).into(),
                    to_pay: money(&calc.to_pay.to_string()).into(),
                    accrued: bonus(calc.accrued).into(),
                };
                if let Some(code) = code {
                    view.spend_code = SpendCode {
                        open: true,
                        sent: code.resend_at.is_some(),
                        resend_seconds: seconds_until(code.resend_at, now),
                        tries_left: code.tries_left.map_or(-1, |n| n as i32),
                    };
                }
            }
            Screen::Register {
                receipt,
                registration: r,
            } => {
                view.page = Page::Register;
                if let Some(receipt) = receipt {
                    view.receipt = receipt_info(receipt);
                }
                view.registration = RegistrationInfo {
                    phone: r.phone.formatted().into(),
                    step: match r.step {
                        RegistrationStep::Code => RegStep::Code,
                        RegistrationStep::Questionnaire => RegStep::Questionnaire,
                        RegistrationStep::Consents => RegStep::Consents,
                        RegistrationStep::Card => RegStep::Card,
                    },
                    sent: r.code_sent_at.is_some(),
                    resend_seconds: seconds_until(r.resend_at, now),
                    tries_left: r.tries_left.map_or(-1, |n| n as i32),
                    without_code_allowed: r.without_code_allowed,
                    existing: r.existing.is_some(),
                };
            }
            Screen::Return { receipt, preview } => {
                view.page = Page::ReturnReceipt;
                view.receipt = receipt_info(receipt);
                view.refund = ReturnInfo {
                    original: preview.original_receipt.clone().into(),
                    paid: money(&preview.paid.to_string()).into(),
                    refunded: bonus(preview.refunded).into(),
                    clawed_back: bonus(preview.clawed_back).into(),
                };
                view.refund_lines = preview
                    .positions
                    .iter()
                    .map(|p| {
                        let name = receipt
                            .positions
                            .iter()
                            .find(|q| q.id == p.id)
                            .map(|q| q.name.as_str())
                            .filter(|n| !n.is_empty())
                            .unwrap_or(p.id.as_str());
                        ReturnLine {
                            id: name.into(),
                            quantity: p.quantity.to_string().into(),
                            paid: money(&p.paid.to_string()).into(),
                            refunded: bonus(p.refunded).into(),
                            clawed_back: bonus(p.clawed_back).into(),
                        }
                    })
                    .collect();
            }
            Screen::AtRegister(applied) => {
                view.page = Page::AtRegister;
                view.receipt = receipt_info(&applied.receipt);
                view.last = applied_summary(applied);
            }
            Screen::Manager => view.page = Page::Manager,
            Screen::SelfRegistration { url, qr } => {
                view.page = Page::SelfRegistration;
                view.qr = Some(qr_pixels(qr));
                view.qr_url = url.clone();
            }
            Screen::Conflicts(conflicts) => {
                view.page = Page::Conflicts;
                view.conflicts = conflicts
                    .iter()
                    .map(|c| ConflictLine {
                        id: c.operation_id.clone().into(),
                        kind: c.kind.clone().into(),
                        message: c.message.clone().into(),
                        at: local_time(c.at, now).into(),
                        spend: bonus(Bonus::from_kopecks(c.spend)).into(),
                    })
                    .collect();
            }
        }
        view
    }
}

/// Pixels a QR module is wide, and the light border around the code (in modules) that
/// phone cameras need to find it.
const QR_MODULE_PX: usize = 8;
const QR_QUIET_MODULES: usize = 4;

/// Draws the QR code's modules black on white; the page scales the picture without
/// smoothing.
fn qr_pixels(qr: &QrModules) -> SharedPixelBuffer<Rgb8Pixel> {
    let side = (qr.width + 2 * QR_QUIET_MODULES) * QR_MODULE_PX;
    let side_u32 = u32::try_from(side).unwrap_or(u32::MAX);
    let mut buffer = SharedPixelBuffer::<Rgb8Pixel>::new(side_u32, side_u32);
    for (i, pixel) in buffer.make_mut_slice().iter_mut().enumerate() {
        let (x, y) = (i % side / QR_MODULE_PX, i / side / QR_MODULE_PX);
        let dark = x >= QR_QUIET_MODULES
            && y >= QR_QUIET_MODULES
            && x < qr.width + QR_QUIET_MODULES
            && y < qr.width + QR_QUIET_MODULES
            && qr.is_dark(x - QR_QUIET_MODULES, y - QR_QUIET_MODULES);
        let v = if dark { 0 } else { 255 };
        *pixel = Rgb8Pixel { r: v, g: v, b: v };
    }
    buffer
}

/// The spend field after the session chose the spend: whole bonuses without ".00", and
/// empty (the field's "0" placeholder) for none.
fn spend_field(spend_text: &str) -> String {
    let text = spend_text.trim();
    let text = text.strip_suffix(".00").unwrap_or(text);
    if text == "0" {
        String::new()
    } else {
        text.to_string()
    }
}

fn receipt_info(receipt: &Receipt) -> ReceiptInfo {
    ReceiptInfo {
        id: receipt.id.clone().into(),
        total: money(&receipt.total().to_string()).into(),
    }
}

fn sale_summary(priced: &Priced) -> LastReceipt {
    LastReceipt {
        kind: OutcomeKind::Sale,
        receipt: priced.receipt.id.clone().into(),
        spent: bonus(priced.calculation.spent).into(),
        accrued: bonus(priced.calculation.accrued).into(),
        to_pay: money(&priced.calculation.to_pay.to_string()).into(),
        ..LastReceipt::default()
    }
}

/// What an applied receipt gives the customer, while the register prints it.
fn applied_summary(applied: &Applied) -> LastReceipt {
    match &applied.what {
        AppliedWhat::Sale { priced, .. } => sale_summary(priced),
        AppliedWhat::Return { result } => LastReceipt {
            kind: OutcomeKind::Refund,
            receipt: applied.receipt.id.clone().into(),
            refunded: bonus(result.refunded).into(),
            clawed_back: bonus(result.clawed_back).into(),
            ..LastReceipt::default()
        },
    }
}

fn last_receipt(outcome: &Outcome) -> LastReceipt {
    match outcome {
        Outcome::Applied(applied) => applied_summary(applied),
        Outcome::Sale { priced, .. } => sale_summary(priced),
        // The waiting page names the sale the return belongs to.
        Outcome::Return { result, .. } => LastReceipt {
            kind: OutcomeKind::Refund,
            receipt: result.original_receipt.clone().into(),
            refunded: bonus(result.refunded).into(),
            clawed_back: bonus(result.clawed_back).into(),
            ..LastReceipt::default()
        },
        Outcome::Cancelled { receipt_id } => LastReceipt {
            kind: OutcomeKind::Cancelled,
            receipt: receipt_id.clone().into(),
            ..LastReceipt::default()
        },
    }
}

/// Seconds from `now` until `at`, 0 when it has passed or is not set.
fn seconds_until(at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> i32 {
    at.map_or(0, |at| {
        let ms = (at - now).num_milliseconds();
        // Rounded up, so the countdown shows 1 until the very end.
        i32::try_from((ms.max(0) + 999) / 1000).unwrap_or(i32::MAX)
    })
}

/// A moment in the till's local time: "14:05" today, "23.11 14:05" another day.
fn local_time(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let (at, now) = (at.with_timezone(&Local), now.with_timezone(&Local));
    if at.date_naive() == now.date_naive() {
        at.format("%H:%M").to_string()
    } else {
        at.format("%d.%m %H:%M").to_string()
    }
}

fn till_status(status: &SyncStatus, now: DateTime<Utc>) -> TillStatus {
    TillStatus {
        link: if status.online == Some(true) {
            ServerLink::Online
        } else {
            ServerLink::Offline
        },
        paused: status.paused.is_some(),
        queue: i32::try_from(status.queue.pending).unwrap_or(i32::MAX),
        oldest_minutes: status.queue.oldest_pending_at.map_or(0, |at| {
            i32::try_from((now - at).num_minutes().max(0)).unwrap_or(i32::MAX)
        }),
        last_sync: status
            .last_sync
            .map(|at| local_time(at, now))
            .unwrap_or_default()
            .into(),
        loading: status.cache.loading,
        loaded: i32::try_from(status.cache.loaded).unwrap_or(i32::MAX),
        total: i32::try_from(status.cache.total).unwrap_or(i32::MAX),
    }
}

/// Groups the whole part of a decimal string by thousands with no-break spaces:
/// "12345.60" → "12 345.60".
fn group_thousands(text: &str) -> String {
    let (sign, rest) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text),
    };
    let (whole, fraction) = match rest.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (rest, None),
    };
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push('\u{a0}');
        }
        grouped.push(c);
    }
    match fraction {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// Rubles as shown: "2 300.00".
fn money(text: &str) -> String {
    group_thousands(text)
}

/// Bonuses as shown: whole bonuses without kopecks ("500"), others with them ("12.50").
fn bonus(b: Bonus) -> String {
    let text = b.to_string();
    let text = text.strip_suffix(".00").unwrap_or(&text);
    group_thousands(text)
}

fn info(kind: ProblemKind, figure: impl Into<SharedString>, detail: &str) -> ProblemInfo {
    ProblemInfo {
        kind,
        figure: figure.into(),
        detail: detail.into(),
    }
}

/// The case of a problem and its figure; the words are in problem_banner.slint.
fn problem_info(problem: &Problem) -> ProblemInfo {
    use ProblemKind as K;
    let plain = |kind| info(kind, "", "");
    let tries = |t: &Option<u32>| t.map(|n| n.to_string()).unwrap_or_default();
    let amount = |s: &str| s.parse::<Bonus>().map(bonus).unwrap_or_else(|_| s.into());
    match problem {
        Problem::NotLoggedIn => plain(K::NotLoggedIn),
        Problem::WrongCashierCode { tries_left } => {
            info(K::WrongCashierCode, tries(tries_left), "")
        }
        Problem::CashierLocked { seconds } => info(K::CashierLocked, seconds.to_string(), ""),
        Problem::Busy => plain(K::Busy),
        Problem::ReceiptOpen => plain(K::ReceiptOpen),
        Problem::NothingOpen => plain(K::NothingOpen),
        Problem::NoSuchReceipt => plain(K::NoSuchReceipt),
        Problem::SetupOpen => plain(K::NothingOpen),
        Problem::NotApplied => plain(K::NotApplied),
        Problem::ReceiptChanged(d) => info(K::ReceiptChanged, "", d),
        Problem::BadReceipt(d) => info(K::BadReceipt, "", d),
        Problem::BadPhone => plain(K::BadPhone),
        Problem::BadCard(d) => info(K::BadCard, "", d),
        Problem::BadScan(d) => info(K::BadScan, "", d),
        Problem::NotFound => plain(K::NotFound),
        Problem::BadSpend => plain(K::BadSpend),
        Problem::SpendAboveMax { max } => info(K::SpendAboveMax, amount(max), ""),
        Problem::SpendStep { step } => info(K::SpendStep, amount(step), ""),
        Problem::Offline(limit) => match limit {
            OfflineLimit::NotAllowed => plain(K::OfflineNotAllowed),
            OfflineLimit::HorizonPassed { hours } => info(K::OfflineHorizon, hours.to_string(), ""),
            OfflineLimit::NeverSynced => plain(K::OfflineNeverSynced),
            OfflineLimit::NotVerified => plain(K::OfflineNotVerified),
            OfflineLimit::PerOperation { max } => info(K::OfflinePerOperation, bonus(*max), ""),
            OfflineLimit::TerminalBudget { left } => {
                info(K::OfflineTerminalBudget, bonus(*left), "")
            }
            OfflineLimit::NeedsCode { over } => info(K::OfflineNeedsCode, bonus(*over), ""),
        },
        Problem::NeedsServer => plain(K::NeedsServer),
        Problem::SpendNeedsCode => plain(K::SpendNeedsCode),
        Problem::SpendCodeNeedsPhone => plain(K::SpendCodeNeedsPhone),
        Problem::CodeWrong { tries_left } => info(K::CodeWrong, tries(tries_left), ""),
        Problem::CodeExpired => plain(K::CodeExpired),
        Problem::TooManyTries => plain(K::TooManyTries),
        Problem::Cooldown { seconds } => info(K::Cooldown, seconds.to_string(), ""),
        Problem::RateLimited => plain(K::RateLimited),
        Problem::SmsFailed => plain(K::SmsFailed),
        Problem::CodeRequired => plain(K::CodeRequired),
        Problem::ConsentRequired => plain(K::ConsentRequired),
        Problem::BadEmail => plain(K::BadEmail),
        Problem::BadBirthDate => plain(K::BadBirthDate),
        Problem::AlreadyRegistered => plain(K::AlreadyRegistered),
        Problem::SaleNotKept => plain(K::SaleNotKept),
        Problem::BadReturn(d) => info(K::BadReturn, "", d),
        Problem::ManagerOnly => plain(K::ManagerOnly),
        Problem::BadAmount => plain(K::BadAmount),
        Problem::ReasonRequired => plain(K::ReasonRequired),
        Problem::SelfRegistrationNotConfigured => plain(K::SelfRegistrationNotConfigured),
        Problem::NoRules => plain(K::NoRules),
        Problem::DiskFull => plain(K::DiskFull),
        Problem::Storage(d) => info(K::Storage, "", d),
        Problem::NotEnrolled => plain(K::NotEnrolled),
        Problem::Server(d) => info(K::Server, "", d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_grouped_and_whole_bonuses_lose_their_kopecks() {
        assert_eq!(money("2300.00"), "2\u{a0}300.00");
        assert_eq!(money("-1234567.5"), "-1\u{a0}234\u{a0}567.5");
        assert_eq!(money("12.00"), "12.00");
        assert_eq!(bonus("500".parse().unwrap()), "500");
        assert_eq!(bonus("12.5".parse().unwrap()), "12.50");
        assert_eq!(spend_field("0.00"), "");
        assert_eq!(spend_field("230.00"), "230");
    }

    #[test]
    fn the_keypad_types_into_the_field_of_the_screen() {
        let mut t = Typing {
            page: Some(Page::Login),
            ..Typing::default()
        };
        t.key("1");
        t.key("2");
        assert_eq!(t.entry(), "●●");
        t.key("back");
        assert_eq!(t.cashier_code, "1");

        t.page = Some(Page::Find);
        t.set("89990000001");
        assert_eq!(t.entry(), "+7 (999) 000-00-01");
        t.find_mode = FindModeChoice::Card;
        t.key("4");
        assert_eq!(t.entry(), "4");

        t.page = Some(Page::Customer);
        assert!(t.key("5"));
        assert_eq!(t.spend_text(), "5");
        t.spend_code_open = true;
        assert!(!t.key("7"));
        assert_eq!(t.entry(), "7");
    }

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

    #[test]
    fn a_countdown_rounds_up_and_stops_at_zero() {
        let now = Utc::now();
        assert_eq!(seconds_until(None, now), 0);
        assert_eq!(
            seconds_until(Some(now + chrono::Duration::milliseconds(1500)), now),
            2
        );
        assert_eq!(
            seconds_until(Some(now - chrono::Duration::seconds(5)), now),
            0
        );
    }
}
