//! Compiles the Slint UI (ui/app_window.slint) into Rust at build time, so a broken `.slint`
//! file fails `cargo build`, not the till at start-up.
//!
//! - The fonts imported by the `.slint` code (assets/fonts) are embedded in the binary, so
//!   the window draws the same Cyrillic on every till whatever fonts it has installed
//!   (see the "Fonts" note in src/ui/mod.rs for the one case that still needs fontconfig).
//! - The gettext catalogues under assets/lang/<lang>/LC_MESSAGES/bonuskassa.po are bundled,
//!   so switching language needs no files at run time.
//! - Element debug info is always emitted. The UI tests find elements through it
//!   (`i_slint_backend_testing::ElementHandle`), and plain `cargo test` must work without
//!   setting SLINT_EMIT_DEBUG_INFO; the cost is a few strings in the binary.

use slint_build::{CompilerConfiguration, EmbedResourcesKind};

fn main() {
    // Slint reports the .slint files and catalogues it read; these lines also catch a file
    // added to a directory that nothing imports yet.
    println!("cargo:rerun-if-changed=ui");
    println!("cargo:rerun-if-changed=assets/fonts");
    println!("cargo:rerun-if-changed=assets/lang");

    let config = CompilerConfiguration::new()
        .embed_resources(EmbedResourcesKind::EmbedFiles)
        .with_bundled_translations("assets/lang")
        .with_debug_info(true);
    if let Err(e) = slint_build::compile_with_config("ui/app_window.slint", config) {
        // The diagnostics were printed above with file and line.
        panic!("the Slint UI does not compile: {e}");
    }
}
