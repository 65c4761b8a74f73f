//! Wires `AppAdapter` (ui/adapters/app_adapter.slint): the interface language, the version,
//! and the terminal's standing, shown in the header, the status bar and the waiting page.

use slint::{ComponentHandle, PlatformError};

use super::{AppAdapter, AppWindow, Language, ServerLink};

/// Fills the adapter's state and handles its callbacks. Call once, right after creating
/// the window: Slint picks a bundled translation from the system locale when the first
/// component is created, and this overrides it with `language`.
pub(super) fn connect(window: &AppWindow, language: Language) -> Result<(), PlatformError> {
    let adapter = window.global::<AppAdapter>();
    adapter.set_version(env!("CARGO_PKG_VERSION").into());
    // Nothing enrols the terminal on a server or sets up the register bridge yet, so this
    // is the truth until those modules exist and report otherwise.
    adapter.set_server_link(ServerLink::NotEnrolled);
    adapter.set_till_configured(false);

    show_language(window, language)
        .map_err(|e| PlatformError::Other(format!("cannot select the language {language}: {e}")))?;

    let weak = window.as_weak();
    adapter.on_select_language(move |code| {
        let Some(window) = weak.upgrade() else {
            return;
        };
        let language = match code.parse::<Language>() {
            Ok(language) => language,
            Err(e) => {
                tracing::warn!(error = %e, "the language switch sent a language that is not bundled");
                return;
            }
        };
        match show_language(&window, language) {
            Ok(()) => tracing::info!(%language, "interface language switched"),
            Err(e) => tracing::error!(%language, error = %e, "cannot switch the interface language"),
        }
    });
    Ok(())
}

/// Switches the bundled translation and tells the language switch which button is current.
pub(super) fn show_language(
    window: &AppWindow,
    language: Language,
) -> Result<(), slint::SelectBundledTranslationError> {
    slint::select_bundled_translation(language.as_code())?;
    window
        .global::<AppAdapter>()
        .set_language(language.as_code().into());
    Ok(())
}
