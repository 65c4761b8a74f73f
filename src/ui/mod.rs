//! The touch window: the only Rust code that touches the types Slint generates from
//! `ui/*.slint` (compiled by `build.rs`, fonts and Russian/English catalogues embedded).
//!
//! The `.slint` side follows the adapters pattern: one `export global XxxAdapter` per
//! feature, state in and callbacks out; here one `xxx_adapter.rs` per global wires it with
//! `connect`. Pages never compute a value: Rust decides, Slint shows.
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

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use crate::clock::{Clock, SystemClock};
use crate::terminal::Terminal;

mod app_adapter;
mod session_adapter;

pub use session_adapter::UiHandle;

slint::include_modules!();

/// The interface language. Russian is the language of the `.slint` sources; English comes
/// from the bundled catalogue `assets/lang/en/LC_MESSAGES/bonuskassa.po`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Language {
    #[default]
    Ru,
    En,
}

impl Language {
    /// The code the user types (`--lang ru`) and the name of the bundled translation.
    pub fn as_code(self) -> &'static str {
        match self {
            Language::Ru => "ru",
            Language::En => "en",
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_code())
    }
}

/// A language code that is not one of the bundled languages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown language {0:?}: expected \"ru\" or \"en\"")]
pub struct UnknownLanguage(pub String);

impl FromStr for Language {
    type Err = UnknownLanguage;

    /// Accepts `ru` and `en`, in any letter case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("ru") {
            Ok(Language::Ru)
        } else if s.eq_ignore_ascii_case("en") {
            Ok(Language::En)
        } else {
            Err(UnknownLanguage(s.to_owned()))
        }
    }
}

/// How the window starts.
#[derive(Debug, Clone, Default)]
pub struct UiOptions {
    /// The language the window opens in; the cashier can switch it on screen.
    pub language: Language,
    /// The data directory of an enrolled till: the window shows its checkout session.
    /// Without one the window says the till is not set up.
    pub data: Option<PathBuf>,
}

/// Opens the window and runs the Slint event loop on this thread until the window closes.
///
/// Unless `SLINT_BACKEND` says otherwise, this asks for winit with Slint's software
/// renderer: till terminals often have weak or missing GPU drivers, and the software
/// renderer needs none.
pub fn run(opts: UiOptions) -> anyhow::Result<()> {
    if std::env::var_os("SLINT_BACKEND").is_none() {
        slint::BackendSelector::new()
            .backend_name("winit".into())
            .renderer_name("software".into())
            .select()
            .map_err(|e| {
                anyhow::anyhow!("cannot start the winit backend with the software renderer: {e}")
            })?;
    }
    let Some(data) = &opts.data else {
        let window =
            build_window(&opts).map_err(|e| anyhow::anyhow!("cannot create the window: {e}"))?;
        tracing::info!(language = %opts.language, "window open, no till set up");
        return window
            .run()
            .map_err(|e| anyhow::anyhow!("the window's event loop failed: {e}"));
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let terminal = Terminal::open(data, clock.clone())
        .map_err(|e| anyhow::anyhow!("cannot open the till in {}: {e}", data.display()))?;
    terminal
        .start_sync(Default::default())
        .map_err(|e| anyhow::anyhow!("cannot start the sync worker: {e}"))?;
    let terminal = Arc::new(terminal);
    let (window, handle) = build_session_window(&opts, terminal.clone(), clock)
        .map_err(|e| anyhow::anyhow!("cannot create the window: {e}"))?;
    tracing::info!(language = %opts.language, data = %data.display(), "window open on the till");
    let ran = window.run();
    // The session's worker finishes the action under way, then the sync worker stops.
    drop(handle);
    terminal.stop_sync();
    ran.map_err(|e| anyhow::anyhow!("the window's event loop failed: {e}"))
}

/// Creates the window with its adapters connected and the language selected, without
/// showing it. [`run`] shows it; tests drive it on Slint's testing backend.
///
/// The Slint platform must already be chosen (by [`run`], or by a test) or Slint picks its
/// default on this first call.
pub fn build_window(opts: &UiOptions) -> Result<AppWindow, slint::PlatformError> {
    let window = AppWindow::new()?;
    app_adapter::connect(&window, opts.language)?;
    Ok(window)
}

/// Creates the window over the checkout session of an enrolled till, without showing it:
/// the session runs on a worker thread of its own (see `session_adapter`), and the
/// returned [`UiHandle`] is how the register bridge (and a test) hands it receipts and
/// takes the outcomes. The worker posts its views to the Slint event loop, so they show
/// while the loop runs ([`slint::ComponentHandle::run`], or `slint::run_event_loop`).
///
/// `data` in `opts` is not read: `terminal` is the till already opened.
pub fn build_session_window(
    opts: &UiOptions,
    terminal: Arc<Terminal>,
    clock: Arc<dyn Clock>,
) -> Result<(AppWindow, UiHandle), slint::PlatformError> {
    let window = build_window(opts)?;
    let handle = session_adapter::connect(&window, terminal, clock)?;
    Ok((window, handle))
}
