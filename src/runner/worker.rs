//! The worker thread: the session or the setup, the scanner and the bridge around it, and
//! the loop that runs commands in order and hands every result to the presenter.

use std::net::SocketAddr;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use super::command::{Command, Commands, Done, Reply};
use super::presenter::{Notice, Presenter, Shown};
use super::{BridgeChoice, OutcomeListener, PanelLink, RunnerOptions, Start};
use crate::bridge::{BridgeConfig, BridgeHandle, Panel};
use crate::checkout::{Action, Outcome, Problem, Screen, Session, Withdrawal};
use crate::clock::Clock;
use crate::scanner::{ScanEvent, SerialScanner, available_ports};
use crate::setup::{Finished, SecretsOpener, Setup};
use crate::terminal::{ConsentChange, Terminal};

/// Where the session's outcomes go: to the listener when one is set, else to
/// [`super::Runner::try_outcome`].
#[derive(Clone)]
pub(super) struct Outcomes {
    pub channel: std_mpsc::Sender<Outcome>,
    pub listener: Arc<Mutex<Option<OutcomeListener>>>,
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

/// What the worker runs: the checkout session, or the installer's setup (with the
/// session it was opened from, to go back to unchanged).
pub(super) enum Mode {
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

pub(super) struct Worker {
    presenter: Box<dyn Presenter>,
    commands: Commands,
    outcomes: Outcomes,
    clock: Arc<dyn Clock>,
    open_secrets: SecretsOpener,
    /// The outcome of the last receipt, for the «last receipt» line.
    last: Option<Outcome>,
    notice: Notice,
    /// The serial scanner of the running till, if it has one. Stopped while the setup is
    /// open (its live test needs the port) and restarted with the settings saved.
    scanner: Option<SerialScanner>,
    bridge_choice: BridgeChoice,
    close_timeout: Option<Duration>,
    /// The register bridge of the running till; restarted when the setup saves.
    bridge: Option<BridgeHandle>,
    bridge_addr: Arc<Mutex<Option<SocketAddr>>>,
}

impl Worker {
    pub(super) fn new(
        presenter: Box<dyn Presenter>,
        options: RunnerOptions,
        commands: Commands,
        outcomes: Outcomes,
        bridge_addr: Arc<Mutex<Option<SocketAddr>>>,
    ) -> Worker {
        Worker {
            presenter,
            commands,
            outcomes,
            clock: options.clock,
            open_secrets: options.open_secrets,
            last: None,
            notice: Notice::None,
            scanner: None,
            bridge_choice: options.bridge,
            close_timeout: options.close_timeout,
            bridge: None,
            bridge_addr,
        }
    }

    /// Turns `start` into the first mode; an enrolled till's scanner and bridge start
    /// here, before the worker thread does, so the bridge's address is known at once.
    pub(super) fn begin(&mut self, start: Start) -> Mode {
        match start {
            Start::Till(terminal) => {
                self.start_scanner(&terminal);
                self.start_bridge(&terminal);
                Mode::Till(Session::new(terminal, self.clock.clone()))
            }
            Start::Setup(setup) => Mode::Setup { setup, back: None },
        }
    }

    /// Starts the serial scanner `terminal.toml` names (stopping any other first). A
    /// scanner unplugged at start is retried every second; the till starts regardless.
    fn start_scanner(&mut self, terminal: &Terminal) {
        self.scanner = None;
        let Some(settings) = terminal.config().scanner.clone() else {
            return;
        };
        let commands = self.commands.clone();
        let started = SerialScanner::start(settings, move |event| match event {
            ScanEvent::Scan(bytes) => commands.act(Action::Scan(bytes)),
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

    /// Starts the register bridge with the key of `terminal` (stopping the one before),
    /// on its `[bridge]` port or a free one. A till without a key, or a port taken, runs
    /// without one; the reason is logged for the installer.
    fn start_bridge(&mut self, terminal: &Arc<Terminal>) {
        let port = match self.bridge_choice {
            BridgeChoice::Off => return,
            BridgeChoice::Configured => terminal.config().bridge.port,
            BridgeChoice::AnyPort => 0,
        };
        self.stop_bridge();
        let Some(key) = terminal.bridge_key() else {
            tracing::warn!("no register bridge: the till's setup has not made its key");
            return;
        };
        let config = BridgeConfig {
            port,
            key: key.expose().to_string(),
            close_timeout: self.close_timeout.unwrap_or(Duration::from_secs(
                terminal.config().bridge.close_timeout_s,
            )),
        };
        let panel: Arc<dyn Panel> = Arc::new(PanelLink {
            commands: self.commands.clone(),
            terminal: Some(terminal.clone()),
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
                *self.bridge_addr.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle.addr);
                self.bridge = Some(handle);
            }
            Err(e) => tracing::error!(error = %e, "the register bridge cannot start"),
        }
    }

    /// The register hears "connection refused" from now on.
    fn stop_bridge(&mut self) {
        *self.bridge_addr.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.bridge = None;
    }

    pub(super) async fn serve(
        mut self,
        mut mode: Mode,
        mut commands: mpsc::UnboundedReceiver<Command>,
    ) {
        if let Mode::Setup { setup, .. } = &mode {
            self.presenter.show_setup(setup, false, available_ports());
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
                        self.presenter.show_status(&session.terminal().status(), self.clock.now());
                    }
                }
                _ = tick.tick() => {
                    if let Mode::Till(session) = &mut mode {
                        // Idle long enough with nothing under way: the cashier is logged
                        // out, and the screen says why.
                        session.logout_if_idle();
                        // The countdowns move on. With a command waiting, its own view
                        // comes next: one from here, built before it, would show the
                        // buttons greyed for a moment, and a tap in that moment is lost.
                        if self.commands.pending() == 0 {
                            self.show(session, false, None);
                        }
                    }
                }
            }
        }
        self.stop_bridge();
        self.scanner = None;
        // A till the setup started is stopped here; one handed in is its owner's to stop
        // (stopping twice does no harm).
        if let Some(terminal) = mode.terminal() {
            terminal.stop_sync();
        }
        tracing::debug!("the session worker stops");
    }

    fn show(&self, session: &Session, busy: bool, spend_chosen: Option<String>) {
        self.presenter.show_session(&Shown {
            session,
            busy,
            notice: self.notice,
            last: self.last.as_ref(),
            spend_chosen,
            now: self.clock.now(),
        });
    }

    fn show_setup(&self, setup: &Setup, busy: bool) {
        self.presenter.show_setup(setup, busy, available_ports());
    }

    /// Runs one command in the current mode and returns the mode after it. The result is
    /// shown before the command stops counting as pending.
    async fn command(&mut self, mode: Mode, command: Command) -> Mode {
        let busy = self.commands.pending() > 1;
        let mut done: Option<Done> = None;
        let mode = match (mode, command) {
            (Mode::Till(mut session), Command::Act(action, d)) => {
                done = d;
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
            (Mode::Till(session), Command::OpenSetup) => self.open_setup(session, busy),
            (Mode::Setup { mut setup, back }, Command::Setup(action)) => {
                setup.act(*action).await;
                self.after_setup(setup, back, busy)
            }
            (Mode::Setup { setup, back }, Command::Act(action, d)) => {
                done = d;
                // A receipt from the register while the till is being set up goes on
                // without loyalty; the register hears it at once.
                if let Action::OpenReceipt(receipt) = action {
                    tracing::warn!(receipt = %receipt.id, "a receipt arrived during the setup");
                    self.outcomes.send(Outcome::Cancelled {
                        receipt_id: receipt.id.clone(),
                    });
                }
                self.show_setup(&setup, busy);
                Mode::Setup { setup, back }
            }
            (mode, _) => {
                match &mode {
                    Mode::Till(session) => self.show(session, busy, None),
                    Mode::Setup { setup, .. } => self.show_setup(setup, busy),
                }
                mode
            }
        };
        self.commands.done();
        if let Some(done) = done {
            let _ = done.send(());
        }
        mode
    }

    /// The manager opens the setup from the menu; anywhere else the request is refused.
    fn open_setup(&mut self, session: Session, busy: bool) -> Mode {
        let allowed = session.cashier().is_some_and(|c| c.is_manager())
            && *session.screen() == Screen::Manager;
        if !allowed {
            tracing::warn!("the setup was asked for outside the manager's menu");
            self.show(&session, busy, None);
            return Mode::Till(session);
        }
        self.scanner = None;
        let setup = Box::new(Setup::for_terminal(
            session.terminal().clone(),
            self.clock.clone(),
            self.open_secrets.clone(),
        ));
        self.show_setup(&setup, busy);
        tracing::info!("the manager opened the till's setup");
        Mode::Setup {
            setup,
            back: Some(session),
        }
    }

    /// After an action of the setup: stay on it, go back to the session it was opened
    /// from, or start the till it has just made ready.
    fn after_setup(&mut self, mut setup: Box<Setup>, back: Option<Session>, busy: bool) -> Mode {
        match setup.take_finished() {
            None => {
                self.show_setup(&setup, busy);
                Mode::Setup { setup, back }
            }
            Some(Finished::Back) => match back {
                Some(session) => {
                    let terminal = session.terminal().clone();
                    self.start_scanner(&terminal);
                    self.leave_setup(&session, busy, None);
                    Mode::Till(session)
                }
                None => {
                    self.show_setup(&setup, busy);
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
                self.last = None;
                self.notice = Notice::None;
                self.leave_setup(&session, busy, Some(language));
                Mode::Till(session)
            }
        }
    }

    fn leave_setup(&self, session: &Session, busy: bool, language: Option<crate::lang::Language>) {
        self.presenter.leave_setup(
            &Shown {
                session,
                busy,
                notice: self.notice,
                last: self.last.as_ref(),
                spend_chosen: None,
                now: self.clock.now(),
            },
            language,
        );
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
        // A change of the processing consent sets the spend to 0 as well.
        let chose_spend = matches!(
            action,
            Action::SpendMax
                | Action::SpendNothing
                | Action::SetConsent(ConsentChange::Processing(_))
        );
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
            self.last = Some(outcome.clone());
            self.outcomes.send(outcome);
        }
        if let Some(reply) = reply {
            // The register may have stopped waiting; the session's state stands.
            let _ = reply.send(result);
        }
        let spend = match (chose_spend, session.screen()) {
            (true, Screen::Customer { spend_text, .. }) => Some(spend_text.clone()),
            _ => None,
        };
        // Shown before the count drops (in `command`), so "idle" means the presenter
        // has the view.
        let busy = self.commands.pending() > 1;
        self.show(session, busy, spend);
    }
}
