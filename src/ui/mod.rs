//! The touch window: the only Rust code that touches the types Slint generates from
//! `ui/*.slint` (compiled by `build.rs`, fonts and Russian/English catalogues embedded).
//!
//! The `.slint` side follows the adapters pattern: one `export global XxxAdapter` per
//! feature (ui/adapters/xxx_adapter.slint, the feature's types beside it), state in and
//! callbacks out. Here `app_adapter.rs`, `keyboard.rs` (the on-screen keyboard of the
//! text fields) and `setup_adapter.rs` wire their globals; the
//! session's (`SessionAdapter` for what every page shares, and `LoginAdapter`,
//! `FindAdapter`, `CustomerAdapter`, `RegistrationAdapter`, `ReturnAdapter`,
//! `ManagerAdapter`, `StatusBarAdapter`) are filled in `session/mod.rs` and wired in
//! `session/wire.rs`. Pages never compute a value: Rust decides, Slint shows.
//!
//! Fonts: `ui/app_window.slint` imports DejaVu Sans from `assets/fonts`, embedded by
//! `build.rs`, and makes it the window's default family, so no system font is ever used.
//! With `fontique`'s `fontconfig-dlopen` (see Cargo.toml) a till without libfontconfig
//! starts too. One case still fails, inside Slint before any of our code runs: libfontconfig
//! present but listing no font at all makes fontique 0.11 panic (fixed upstream in
//! linebender/parley#717). Debian's libfontconfig1 always pulls in a font, so this takes a
//! hand-built image.
//!
//! Architecture invariant: this module never opens SQLite or the network and never blocks
//! the event loop. Work that does either belongs to a worker thread that answers through
//! `slint::Weak::upgrade_in_event_loop`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::clock::{Clock, SystemClock};
use crate::runner::{BridgeChoice, Runner, RunnerOptions, Start};
use crate::setup::{SecretsOpener, Setup, os_secrets};
use crate::terminal::config::ConfigError;
use crate::terminal::{Terminal, TerminalError};

mod app_adapter;
pub mod demo_register;
mod first_frame;
mod keyboard;
mod session;
mod setup_adapter;

pub use crate::lang::{Language, UnknownLanguage};
pub use session::SlintPresenter;

slint::include_modules!();

/// How the window starts.
#[derive(Debug, Clone, Default)]
pub struct UiOptions {
    /// The language the window opens in; the cashier can switch it on screen.
    pub language: Language,
    /// True when `language` was asked for (`--lang`); otherwise an enrolled till opens
    /// in the language its installer chose.
    pub language_given: bool,
    /// The data directory of an enrolled till: the window shows its checkout session.
    /// Without one the window says the till is not set up.
    pub data: Option<PathBuf>,
    /// Whether the runner serves the cash-register bridge: on the till's `[bridge]` port
    /// (`bonuskassa ui`), on any free port (the demo), or not at all (tests that do not
    /// drive it, so they share no port).
    pub bridge: BridgeChoice,
}

/// Opens the window and runs the Slint event loop on this thread until the window closes.
///
/// Unless `SLINT_BACKEND` says otherwise, this asks for winit with Slint's software
/// renderer: till terminals often have weak or missing GPU drivers, and the software
/// renderer needs none.
pub fn run(opts: UiOptions) -> anyhow::Result<()> {
    select_backend()?;
    let Some(data) = &opts.data else {
        let window =
            build_window(&opts).map_err(|e| anyhow::anyhow!("cannot create the window: {e}"))?;
        tracing::info!(language = %opts.language, "window open, no till set up");
        return window
            .run()
            .map_err(|e| anyhow::anyhow!("the window's event loop failed: {e}"));
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut opts = opts.clone();
    let (window, handle, terminal) = match open_till(data, clock.clone())? {
        Some(terminal) => {
            terminal
                .start_sync(Default::default())
                .map_err(|e| anyhow::anyhow!("cannot start the sync worker: {e}"))?;
            let terminal = Arc::new(terminal);
            if !opts.language_given {
                opts.language = terminal.config().language;
            }
            let (window, handle) = build_session_window(&opts, terminal.clone(), clock)
                .map_err(|e| anyhow::anyhow!("cannot create the window: {e}"))?;
            (window, handle, Some(terminal))
        }
        None => {
            tracing::info!(data = %data.display(), "the till is not enrolled: the setup opens");
            let setup = Setup::new(data, clock.clone(), os_secrets());
            let (window, handle) = build_setup_window(&opts, setup, clock, os_secrets())
                .map_err(|e| anyhow::anyhow!("cannot create the window: {e}"))?;
            (window, handle, None)
        }
    };
    tracing::info!(language = %opts.language, data = %data.display(), "window open on the till");
    first_frame::install(&window);
    let ran = window.run();
    // The worker finishes the action under way and stops the sync of the till it runs.
    drop(handle);
    if let Some(terminal) = terminal {
        terminal.stop_sync();
    }
    ran.map_err(|e| anyhow::anyhow!("the window's event loop failed: {e}"))
}

/// Winit with Slint's software renderer unless `SLINT_BACKEND` says otherwise: till
/// terminals often have weak or missing GPU drivers, and the software renderer needs none.
pub fn select_backend() -> anyhow::Result<()> {
    if std::env::var_os("SLINT_BACKEND").is_none() {
        slint::BackendSelector::new()
            .backend_name("winit".into())
            .renderer_name("software".into())
            .select()
            .map_err(|e| {
                anyhow::anyhow!("cannot start the winit backend with the software renderer: {e}")
            })?;
    }
    Ok(())
}

/// Ends the event loop from any thread (a signal's): the windows close as if closed.
pub fn quit_from_any_thread() {
    let _ = slint::invoke_from_event_loop(|| {
        let _ = slint::quit_event_loop();
    });
}

/// The demo's windows on a 1366×768 laptop: the till, the gap, the register.
pub const DEMO_TILL: (f32, f32) = (800.0, 600.0);
pub const DEMO_GAP: f32 = 8.0;
pub const DEMO_REGISTER: (f32, f32) = (558.0, 700.0);

/// `bonuskassa demo`'s two windows, side by side where the desktop lets a window choose
/// (a window manager may not): the till at its 800×600, the register to its right, 1366
/// pixels in all. Runs the event loop until both are closed.
pub fn run_side_by_side(till: &AppWindow, register: &RegisterWindow) -> anyhow::Result<()> {
    till.show()
        .map_err(|e| anyhow::anyhow!("cannot show the till's window: {e}"))?;
    register
        .show()
        .map_err(|e| anyhow::anyhow!("cannot show the register's window: {e}"))?;
    // Side by side on the smallest common laptop screen, 1366×768 (and so on anything
    // larger): the till at its smallest landscape size, the register in the 558 pixels
    // beside it, its controls below the receipt, short enough for a title bar and a
    // taskbar. Together 1366 pixels wide.
    till.window()
        .set_size(slint::LogicalSize::new(DEMO_TILL.0, DEMO_TILL.1));
    till.window()
        .set_position(slint::LogicalPosition::new(0.0, 0.0));
    register
        .window()
        .set_size(slint::LogicalSize::new(DEMO_REGISTER.0, DEMO_REGISTER.1));
    register
        .window()
        .set_position(slint::LogicalPosition::new(DEMO_TILL.0 + DEMO_GAP, 0.0));
    slint::run_event_loop().map_err(|e| anyhow::anyhow!("the event loop failed: {e}"))
}

/// Opens the till in `data`, or `None` when it was never enrolled (no `terminal.toml`, or
/// no token in its secret store): then the installer's setup opens instead.
fn open_till(data: &Path, clock: Arc<dyn Clock>) -> anyhow::Result<Option<Terminal>> {
    match Terminal::open(data, clock) {
        Ok(terminal) => Ok(Some(terminal)),
        Err(TerminalError::NotEnrolled(_)) => Ok(None),
        Err(TerminalError::Config(ConfigError::Io { source, .. }))
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            Ok(None)
        }
        Err(e) => Err(anyhow::anyhow!(
            "cannot open the till in {}: {e}",
            data.display()
        )),
    }
}

/// Creates the window with its adapters connected and the language selected, without
/// showing it. [`run`] shows it; tests drive it on Slint's testing backend.
///
/// The Slint platform must already be chosen (by [`run`], or by a test) or Slint picks its
/// default on this first call.
pub fn build_window(opts: &UiOptions) -> Result<AppWindow, slint::PlatformError> {
    let window = AppWindow::new()?;
    app_adapter::connect(&window, opts.language)?;
    keyboard::connect(&window);
    Ok(window)
}

/// Starts the till's [`Runner`] on `start` with this window as its presenter, and wires
/// the window's pages to it. The runner posts its views to the Slint event loop, so they
/// show while the loop runs ([`slint::ComponentHandle::run`], or `slint::run_event_loop`).
pub fn start_runner(
    window: &AppWindow,
    start: Start,
    options: RunnerOptions,
) -> Result<Runner, slint::PlatformError> {
    let status = match &start {
        Start::Till(terminal) => Some(session::till_status(
            &terminal.status(),
            options.clock.now(),
        )),
        Start::Setup(setup) => {
            // No IO on the UI thread: the serial ports come with the worker's first view.
            setup_adapter::show(window, setup_adapter::view(setup, false, Vec::new()));
            None
        }
    };
    let runner = Runner::start(start, options, Box::new(SlintPresenter::new(window)))
        .map_err(|e| slint::PlatformError::Other(format!("cannot start the session: {e}")))?;
    session::attach(window, &runner.commands(), status);
    Ok(runner)
}

/// Creates the window over the checkout session of an enrolled till, without showing it,
/// and starts its [`Runner`]: the way the register bridge (and a test) hands the session
/// receipts and takes the outcomes.
///
/// `data` in `opts` is not read: `terminal` is the till already opened.
pub fn build_session_window(
    opts: &UiOptions,
    terminal: Arc<Terminal>,
    clock: Arc<dyn Clock>,
) -> Result<(AppWindow, Runner), slint::PlatformError> {
    let window = build_window(opts)?;
    let options = RunnerOptions {
        clock,
        open_secrets: os_secrets(),
        bridge: opts.bridge,
        close_timeout: None,
    };
    let runner = start_runner(&window, Start::Till(terminal), options)?;
    Ok((window, runner))
}

/// Creates the window over the installer's setup of a till never enrolled, without
/// showing it. Once the setup is saved the same window runs the till's checkout session,
/// and the returned [`Runner`] reaches it. `open_secrets` opens the secret store the
/// installer chooses (tests give keyring-core's mock store).
pub fn build_setup_window(
    opts: &UiOptions,
    setup: Setup,
    clock: Arc<dyn Clock>,
    open_secrets: SecretsOpener,
) -> Result<(AppWindow, Runner), slint::PlatformError> {
    let window = build_window(opts)?;
    let options = RunnerOptions {
        clock,
        open_secrets,
        bridge: opts.bridge,
        close_timeout: None,
    };
    let runner = start_runner(&window, Start::Setup(Box::new(setup)), options)?;
    Ok((window, runner))
}
