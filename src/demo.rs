//! `bonuskassa demo`: the whole product on one machine. The loyalty server runs in this
//! process with its own data dir and the demo store; a till is enrolled with it; the
//! cashier's window and a simulated cash register (its own window) talk through the real
//! bridge on 127.0.0.1. The register's window also shows the demo SMS inbox and a switch
//! that stops and starts the server, so offline mode and the queue's drain can be seen.
//!
//! Everything lives in a fresh temporary directory that is removed on exit; the till's
//! secrets are in memory. Nothing here is used by a real till.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::bridge::client::BridgeClient;
use crate::clock::{Clock, SystemClock};
use crate::runner::{BridgeChoice, RunnerOptions, Start};
use crate::secrets::{MemoryStore, SecretName, SecretStore, SecretValue};
use crate::server::{self, RunningServer, ServerConfig, admin};
use crate::sync::plan::Backoff;
use crate::sync::worker::SyncOptions;
use crate::terminal::Terminal;
use crate::terminal::config::TerminalConfig;
use crate::ui::demo_register::{DemoServerSwitch, DemoSms, build_register_window};
use crate::ui::{self, Language, UiOptions};

/// How long the demo till waits for the server before it answers from its cache: short,
/// so cutting the server shows offline mode at once.
const DEMO_TIMEOUT_MS: u64 = 700;

/// The demo's loyalty server: running or stopped on a fixed address, by the switch.
pub struct DemoServer {
    addr: SocketAddr,
    data: PathBuf,
    clock: Arc<dyn Clock>,
    running: Mutex<Option<RunningServer>>,
    /// Every SMS sent since the demo started (a restarted server starts a new inbox).
    inbox: Mutex<Vec<DemoSms>>,
}

impl DemoServer {
    fn config(&self) -> ServerConfig {
        let mut config = ServerConfig::new(&self.data);
        config.demo_endpoints = true;
        config
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<RunningServer>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts or stops the server. Stopping waits for requests under way; nothing the
    /// server committed is lost, and the till queues what it does meanwhile.
    fn switch(&self, online: bool) -> Result<(), String> {
        let mut running = self.lock();
        match (online, running.is_some()) {
            (true, false) => {
                let server =
                    server::spawn(self.config(), self.clock.clone(), &self.addr.to_string())
                        .map_err(|e| format!("the server does not start: {e}"))?;
                *running = Some(server);
                tracing::info!("demo: the loyalty server is back");
            }
            (false, true) => {
                self.collect(running.as_ref());
                if let Some(server) = running.take() {
                    server
                        .stop()
                        .map_err(|e| format!("the server did not stop cleanly: {e}"))?;
                }
                tracing::info!("demo: the loyalty server is cut off");
            }
            _ => {}
        }
        Ok(())
    }

    /// The SMS sent so far, newest first.
    fn sent(&self) -> Vec<DemoSms> {
        let running = self.lock();
        self.collect(running.as_ref());
        let mut inbox = self.inbox.lock().unwrap_or_else(|p| p.into_inner()).clone();
        inbox.reverse();
        inbox
    }

    fn collect(&self, running: Option<&RunningServer>) {
        let Some(gateway) = running.and_then(|s| s.server.state().demo_inbox.clone()) else {
            return;
        };
        let mut inbox = self.inbox.lock().unwrap_or_else(|p| p.into_inner());
        for sms in gateway.latest() {
            let sms = DemoSms {
                at: sms.at,
                phone: sms.phone.masked(),
                text: sms.text,
            };
            if !inbox.contains(&sms) {
                inbox.push(sms);
            }
        }
    }
}

impl DemoServerSwitch for DemoServer {
    fn is_online(&self) -> bool {
        self.lock().is_some()
    }

    fn set_online(&self, online: bool) -> Result<(), String> {
        self.switch(online)
    }

    fn inbox(&self) -> Vec<DemoSms> {
        self.sent()
    }
}

/// The demo, ready to show: the server, the enrolled till, and the bridge key.
pub struct Demo {
    pub dir: DemoDir,
    pub server: Arc<DemoServer>,
    pub terminal: Arc<Terminal>,
    pub bridge_key: String,
    pub clock: Arc<dyn Clock>,
    /// The store the till was enrolled in, as the demo data made it.
    pub store: String,
    /// The back office's owner account and its one-time password.
    pub owner_email: String,
    pub owner_password: crate::protocol::server::Secret,
}

/// The demo's temporary directory, removed when dropped.
pub struct DemoDir(PathBuf);

impl DemoDir {
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for DemoDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            tracing::warn!(error = %e, "the demo's directory is left behind");
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("the demo directory {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the demo server: {0}")]
    Server(String),
    #[error("the demo till: {0}")]
    Till(String),
}

/// Makes a fresh demo: server data with the demo store, the server on 127.0.0.1, and a
/// till enrolled with it whose secrets live in memory. `runtime` runs the enrollment.
pub fn prepare(runtime: &tokio::runtime::Runtime) -> Result<Demo, DemoError> {
    if Path::new("/proc/self").exists() {
        remove_stale_demo_dirs();
    }
    let path = std::env::temp_dir().join(format!("bonuskassa-demo-{}", std::process::id()));
    if path.exists() {
        std::fs::remove_dir_all(&path).map_err(|source| DemoError::Dir {
            path: path.clone(),
            source,
        })?;
    }
    std::fs::create_dir_all(&path).map_err(|source| DemoError::Dir {
        path: path.clone(),
        source,
    })?;
    let dir = DemoDir(path);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let server_data = dir.path().join("server");
    let summary = admin::demo_data(&server_data, clock.now())
        .map_err(|e| DemoError::Server(e.to_string()))?;
    let mut config = ServerConfig::new(&server_data);
    config.demo_endpoints = true;
    let first = server::spawn(config, clock.clone(), "127.0.0.1:0")
        .map_err(|e| DemoError::Server(e.to_string()))?;
    let server = Arc::new(DemoServer {
        addr: first.addr,
        data: server_data.clone(),
        clock: clock.clone(),
        running: Mutex::new(Some(first)),
        inbox: Mutex::new(Vec::new()),
    });

    let code = admin::enroll_code(&server_data, admin::DEMO_STORE, clock.now())
        .map_err(|e| DemoError::Server(e.to_string()))?;
    let mut till = TerminalConfig::new(
        &server.url(),
        "Демо-касса",
        "memory"
            .parse()
            .map_err(|e: crate::secrets::SecretError| DemoError::Till(e.to_string()))?,
    );
    till.timeout_ms = DEMO_TIMEOUT_MS;
    till.sync_timeout_s = 2;
    let secrets: Arc<dyn SecretStore> = Arc::new(MemoryStore::new());
    let bridge_key = crate::setup::new_bridge_key();
    secrets
        .set(SecretName::BridgeKey, &SecretValue::new(bridge_key.clone()))
        .map_err(|e| DemoError::Till(e.to_string()))?;
    let terminal = runtime
        .block_on(Terminal::enroll(
            &dir.path().join("till"),
            till,
            secrets,
            &code,
            clock.clone(),
        ))
        .map_err(|e| DemoError::Till(e.to_string()))?;
    terminal
        .start_sync(SyncOptions {
            backoff: Backoff {
                base: Duration::from_millis(200),
                max: Duration::from_secs(2),
            },
            refresh_every: Duration::from_secs(10),
            paused_retry: Duration::from_secs(2),
            ..SyncOptions::default()
        })
        .map_err(|e| DemoError::Till(e.to_string()))?;
    Ok(Demo {
        dir,
        server,
        terminal: Arc::new(terminal),
        bridge_key,
        clock,
        store: admin::DEMO_STORE.into(),
        owner_email: summary.owner_email,
        owner_password: summary.owner_password,
    })
}

/// Ctrl-C, or a `kill` (SIGTERM, SIGHUP), ends the demo as closing its windows does: the
/// event loop stops, and the demo's directory is removed on the way out.
fn stop_on_signal() {
    let watcher = std::thread::Builder::new()
        .name("bonuskassa-demo-signals".into())
        .spawn(|| {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                #[cfg(unix)]
                {
                    use tokio::signal::unix::{SignalKind, signal};
                    let (Ok(mut term), Ok(mut hup)) = (
                        signal(SignalKind::terminate()),
                        signal(SignalKind::hangup()),
                    ) else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = term.recv() => {}
                        _ = hup.recv() => {}
                    }
                }
                #[cfg(not(unix))]
                let _ = tokio::signal::ctrl_c().await;
            });
            eprintln!("bonuskassa demo: stopping on a signal; removing the demo's directory");
            ui::quit_from_any_thread();
        });
    if let Err(e) = watcher {
        tracing::warn!(error = %e, "the demo cannot watch for Ctrl-C; close its windows to stop it");
    }
}

/// Directories of demos that ended without cleaning up (killed outright): their process is
/// gone, so nothing uses them.
fn remove_stale_demo_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("bonuskassa-demo-"))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// `bonuskassa demo`: the server in this process, an enrolled till's window with its
/// runner and bridge, and the simulated register's window. Runs until both windows are
/// closed; the demo's directory is removed then.
pub fn run(language: Language) -> anyhow::Result<()> {
    ui::select_backend()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let demo = prepare(&runtime)?;
    let opts = UiOptions {
        language,
        language_given: true,
        ..UiOptions::default()
    };
    let window = ui::build_window(&opts)
        .map_err(|e| anyhow::anyhow!("cannot create the till's window: {e}"))?;
    let options = RunnerOptions {
        clock: demo.clock.clone(),
        open_secrets: crate::setup::os_secrets(),
        bridge: BridgeChoice::AnyPort,
        close_timeout: None,
    };
    let runner = ui::start_runner(&window, Start::Till(demo.terminal.clone()), options)
        .map_err(|e| anyhow::anyhow!("cannot start the till: {e}"))?;
    let bridge = runner
        .bridge_addr()
        .ok_or_else(|| anyhow::anyhow!("the register bridge did not start (see the log)"))?;
    let client = BridgeClient::new(&format!("http://{bridge}"), &demo.bridge_key);
    let (register, register_handle) =
        build_register_window(client, demo.server.clone(), demo.store.clone())
            .map_err(|e| anyhow::anyhow!("cannot create the register's window: {e}"))?;
    // The translation is the process's: the register's window follows the till's language.
    eprintln!(
        "bonuskassa demo: the loyalty server runs at {}, the register bridge at {bridge}.\n\
         Log in on the till with 1111 (cashier) or 9999 (manager); ring up products on the\n\
         register and press «Оплатить». Demo customers: +7 999 000-00-01 … 04.\n\
         The chain's cabinet is {}/admin in a browser (its API is /api/v1/admin): sign in\n\
         as {} with the one-time password {} and choose your own.\n\
         Customers register themselves at {}/r/{}.",
        demo.server.url(),
        demo.server.url(),
        demo.owner_email,
        demo.owner_password.expose(),
        demo.server.url(),
        demo.store,
    );
    stop_on_signal();
    let ran = ui::run_side_by_side(&window, &register);
    drop(register_handle);
    drop(runner);
    demo.terminal.stop_sync();
    drop(demo);
    ran
}
