//! The cashier's panel without a window: a plain checkout [`Session`] behind the register
//! bridge, as the window's session worker drives it. The register's requests reach it
//! through [`Panel::call`], the cashier's taps through [`SessionPanel::cashier`]; either
//! way the session's outcome goes to the bridge before the call returns.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bonuskassa::bridge::client::BridgeClient;
use bonuskassa::bridge::{Bridge, BridgeConfig, BridgeHandle, Panel};
use bonuskassa::checkout::{Action, Problem, Screen, Session};
use bonuskassa::clock::{Clock, SystemClock};
use bonuskassa::terminal::Terminal;

use super::{Rig, quick_sync, wait_for};

/// The cashier's login code in the demo data; "9999" is the manager's.
pub const CASHIER: &str = "1111";
/// Карина, a demo customer with bonuses.
pub const KARINA: &str = "+79990000001";

/// A session without a window, as the bridge's [`Panel`].
pub struct SessionPanel {
    pub session: Arc<tokio::sync::Mutex<Session>>,
    bridge: Arc<OnceLock<Bridge>>,
}

/// Hands the session's outcome, if any, to the bridge. Left in the session while no bridge
/// is set, so nothing is lost.
fn deliver(session: &mut Session, bridge: &OnceLock<Bridge>) {
    if let Some(bridge) = bridge.get()
        && let Some(outcome) = session.take_outcome()
    {
        bridge.outcome(&outcome);
    }
}

impl SessionPanel {
    pub fn new(session: Session) -> SessionPanel {
        SessionPanel {
            session: Arc::new(tokio::sync::Mutex::new(session)),
            bridge: Arc::new(OnceLock::new()),
        }
    }

    /// Connects the bridge the outcomes go to (once).
    pub fn connect(&self, bridge: Bridge) {
        assert!(
            self.bridge.set(bridge).is_ok(),
            "the panel has a bridge already"
        );
    }

    /// A tap of the cashier: the session acts, its outcome goes to the bridge, and the
    /// problem the cashier sees (if any) comes back.
    pub async fn cashier(&self, action: Action) -> Option<Problem> {
        let mut session = self.session.lock().await;
        session.act(action).await;
        let problem = session.problem().cloned();
        deliver(&mut session, &self.bridge);
        problem
    }

    /// What the cashier's screen shows now.
    pub async fn screen(&self) -> Screen {
        self.session.lock().await.screen().clone()
    }

    /// The problem the cashier's screen shows now.
    pub async fn problem(&self) -> Option<Problem> {
        self.session.lock().await.problem().cloned()
    }
}

impl Panel for SessionPanel {
    fn call(&self, action: Action) -> Pin<Box<dyn Future<Output = Result<(), Problem>> + Send>> {
        let session = self.session.clone();
        let bridge = self.bridge.clone();
        Box::pin(async move {
            let mut session = session.lock().await;
            let result = session.act_for_register(action).await;
            deliver(&mut session, &bridge);
            result
        })
    }
}

/// An enrolled till with its session behind a running bridge on 127.0.0.1, and the
/// register's client for it. Its sync is not started: the queue holds what was queued
/// until [`Headless::start_sync`].
pub struct Headless {
    pub panel: Arc<SessionPanel>,
    pub handle: BridgeHandle,
    pub client: BridgeClient,
    pub terminal: Arc<Terminal>,
    /// The bridge's key (each till its own).
    pub key: String,
}

impl Headless {
    /// Enrolls a till against `rig`'s server, logs in with `login` (or nobody logs in),
    /// and serves its bridge on a free port with `close_timeout`.
    pub async fn start(rig: &Rig, login: Option<&str>, close_timeout: Duration) -> Headless {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let terminal = Arc::new(rig.enroll(clock.clone()).await);
        let mut session = Session::new(terminal.clone(), clock);
        if let Some(code) = login {
            session.act(Action::Login { code: code.into() }).await;
            assert_eq!(session.problem(), None, "login with {code}");
            assert_eq!(*session.screen(), Screen::Waiting);
        }
        let panel = Arc::new(SessionPanel::new(session));
        let key = format!("bridge-key-{}", uuid::Uuid::new_v4().simple());
        let handle = bonuskassa::bridge::spawn(
            BridgeConfig {
                port: 0,
                key: key.clone(),
                close_timeout,
            },
            panel.clone(),
        )
        .expect("the bridge starts");
        panel.connect(handle.bridge.clone());
        let client = BridgeClient::new(&format!("http://{}", handle.addr), &key);
        Headless {
            panel,
            handle,
            client,
            terminal,
            key,
        }
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.handle.addr)
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
        // The panel and the bridge hold each other; the till's sync must not outlive the test.
        self.terminal.stop_sync();
    }
}
