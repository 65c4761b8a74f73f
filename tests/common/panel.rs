//! The cashier's panel without a window: the till's real [`Runner`], serving its bridge on
//! a free port of 127.0.0.1, with a [`Recorder`] as its presenter instead of the Slint
//! window. The register's requests reach it through the bridge, the cashier's taps through
//! [`RunnerPanel::cashier`]; either way the session's outcome goes to the bridge before
//! the call returns.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bonuskassa::bridge::client::BridgeClient;
use bonuskassa::checkout::{Action, Problem, Screen};
use bonuskassa::clock::{Clock, SystemClock};
use bonuskassa::lang::Language;
use bonuskassa::runner::{BridgeChoice, Presenter, Runner, RunnerOptions, Shown, Start};
use bonuskassa::secrets::{SecretName, SecretValue};
use bonuskassa::setup::Setup;
use bonuskassa::sync::worker::SyncStatus;
use bonuskassa::terminal::Terminal;
use chrono::{DateTime, Utc};

use super::{Rig, quick_sync, wait_for};

/// The cashier's login code in the demo data; "9999" is the manager's.
pub const CASHIER: &str = "1111";
/// Карина, a demo customer with bonuses.
pub const KARINA: &str = "+79990000001";

/// What the last view handed to the presenter showed.
#[derive(Default)]
struct Seen {
    screen: Option<Screen>,
    problem: Option<Problem>,
}

/// A presenter that keeps what a window would show.
#[derive(Clone, Default)]
pub struct Recorder(Arc<Mutex<Seen>>);

impl Recorder {
    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Presenter for Recorder {
    fn show_session(&self, shown: &Shown<'_>) {
        *self.seen() = Seen {
            screen: Some(shown.session.screen().clone()),
            problem: shown.session.problem().cloned(),
        };
    }

    fn show_status(&self, _: &SyncStatus, _: DateTime<Utc>) {}

    fn show_setup(&self, _: &Setup, _: bool, _: Vec<String>) {}

    fn leave_setup(&self, shown: &Shown<'_>, _: Option<Language>) {
        self.show_session(shown);
    }
}

/// The runner as a test's cashier drives it.
pub struct RunnerPanel {
    /// `None` only while the till restarts.
    runner: Option<Runner>,
    recorder: Recorder,
}

impl RunnerPanel {
    /// A tap of the cashier: the session acts, its outcome goes to the bridge, and the
    /// problem the cashier sees (if any) comes back.
    pub async fn cashier(&self, action: Action) -> Option<Problem> {
        self.runner().tap(action).await;
        self.recorder.seen().problem.clone()
    }

    fn runner(&self) -> &Runner {
        self.runner.as_ref().expect("the till is running")
    }

    /// Waits until the runner has shown everything sent to it (a register's call is
    /// answered just before its view is handed over).
    async fn settled(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.runner().is_idle() {
            assert!(Instant::now() < deadline, "the runner never settled");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// What the cashier's screen shows now.
    pub async fn screen(&self) -> Screen {
        self.settled().await;
        self.recorder
            .seen()
            .screen
            .clone()
            .expect("a view was shown")
    }

    /// The problem the cashier's screen shows now.
    pub async fn problem(&self) -> Option<Problem> {
        self.settled().await;
        self.recorder.seen().problem.clone()
    }
}

/// An enrolled till with its runner serving the bridge on 127.0.0.1, and the register's
/// client for it. Its sync is not started: the queue holds what was queued until
/// [`Headless::sync`].
pub struct Headless {
    pub panel: RunnerPanel,
    /// Where the bridge listens.
    pub addr: SocketAddr,
    pub client: BridgeClient,
    pub terminal: Arc<Terminal>,
    /// The bridge's key (each till its own).
    pub key: String,
}

impl Headless {
    /// Enrolls a till against `rig`'s server (its bridge key in the rig's secret store),
    /// starts its runner with `close_timeout`, and logs in with `login` (or nobody logs in).
    pub async fn start(rig: &Rig, login: Option<&str>, close_timeout: Duration) -> Headless {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let key = format!("bridge-key-{}", uuid::Uuid::new_v4().simple());
        rig.secrets()
            .set(SecretName::BridgeKey, &SecretValue::new(key.clone()))
            .unwrap();
        let terminal = Arc::new(rig.enroll(clock.clone()).await);
        let recorder = Recorder::default();
        let runner = Runner::start(
            Start::Till(terminal.clone()),
            RunnerOptions {
                clock,
                open_secrets: rig.opener(),
                bridge: BridgeChoice::AnyPort,
                close_timeout: Some(close_timeout),
            },
            Box::new(recorder.clone()),
        )
        .expect("the runner starts");
        let addr = runner.bridge_addr().expect("the bridge starts");
        let panel = RunnerPanel {
            runner: Some(runner),
            recorder,
        };
        if let Some(code) = login {
            let problem = panel.cashier(Action::Login { code: code.into() }).await;
            assert_eq!(problem, None, "login with {code}");
            assert_eq!(panel.screen().await, Screen::Waiting);
        }
        let client = BridgeClient::new(&format!("http://{addr}"), &key);
        Headless {
            panel,
            addr,
            client,
            terminal,
            key,
        }
    }

    /// The till restarts: its runner, session and bridge stop and start again on the same
    /// data dir (with `close_timeout`), remembering nothing but what is on disk. Nobody is
    /// logged in afterwards.
    pub async fn restart(&mut self, rig: &Rig, close_timeout: Duration) {
        let recorder = Recorder::default();
        // The old runner stops first: its bridge and session are gone before the new one.
        drop(self.panel.runner.take());
        let runner = Runner::start(
            Start::Till(self.terminal.clone()),
            RunnerOptions {
                clock: Arc::new(SystemClock),
                open_secrets: rig.opener(),
                bridge: BridgeChoice::AnyPort,
                close_timeout: Some(close_timeout),
            },
            Box::new(recorder.clone()),
        )
        .expect("the runner starts again");
        self.addr = runner.bridge_addr().expect("the bridge starts again");
        self.panel = RunnerPanel {
            runner: Some(runner),
            recorder,
        };
        self.client = BridgeClient::new(&format!("http://{}", self.addr), &self.key);
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Operations queued on the till and not yet sent.
    pub fn pending(&self) -> u64 {
        self.terminal.status().queue.pending
    }

    /// Starts the till's sync and waits until its queue is empty.
    pub async fn sync(&self) {
        self.terminal.start_sync(quick_sync()).unwrap();
        wait_for(&self.terminal, "the queue to drain", |s| {
            s.queue.pending == 0 && s.last_sync.is_some()
        })
        .await;
    }
}

impl Drop for Headless {
    fn drop(&mut self) {
        // The till's sync must not outlive the test.
        self.terminal.stop_sync();
    }
}
