//! The first window, driven headless on Slint's testing backend with the software renderer,
//! so text is laid out and drawn with the bundled DejaVu Sans rather than with the testing
//! backend's fixed metrics, and no display or system font is needed.
//!
//! Elements are found by their accessible label (a `Text`'s label is its text; a
//! `TouchButton`'s is its caption), which needs the element debug info that `build.rs`
//! always emits.
//!
//! With `BONUSKASSA_SCREENSHOTS=<dir>` set, the rendering test also writes
//! `first_window.png` and `first_window_en.png` (800×600) into that directory; see
//! `scripts/screenshots.sh`. Without it, nothing is written anywhere.

use crate::common::ui::{check_targets, labels, large, sizes, small, write_png};
use std::path::Path;

use bonuskassa::ui::{self, AppWindow, Language, UiOptions};
use i_slint_backend_testing::{
    AccessibleRole, ElementHandle, TestingBackend, TestingBackendOptions,
};
use slint::{ComponentHandle, PhysicalSize, Rgba8Pixel, SharedPixelBuffer};

const RUSSIAN_TEXTS: &[&str] = &[
    "bonuskassa",
    "Рабочее место кассира",
    "Терминал не подключён к серверу",
    "Ожидание чека от кассы",
    "Касса ещё не настроена: обратитесь к установщику",
];

const ENGLISH_TEXTS: &[&str] = &[
    "bonuskassa",
    "Cashier's workstation",
    "The terminal is not connected to the server",
    "Waiting for a receipt from the cash register",
    "The cash register is not set up yet: contact the installer",
];

/// Opens the window headless at `size`. A Slint platform belongs to its thread and each
/// test runs on its own, so the first call in a test sets up the testing backend with a real
/// rasterizer; later calls in the same test find it already set and reuse it.
fn open_window(language: Language, size: PhysicalSize) -> AppWindow {
    let _already_set =
        slint::platform::set_platform(Box::new(TestingBackend::new(TestingBackendOptions {
            mock_time: true,
            threading: false,
            renderer_name: Some("software".into()),
        })));
    let window = ui::build_window(&UiOptions {
        language,
        ..Default::default()
    })
    .expect("the window builds");
    window.window().set_size(size);
    window.show().expect("the headless window shows");
    window
}

fn shows(window: &AppWindow, text: &str) -> bool {
    ElementHandle::find_by_accessible_label(window, text)
        .next()
        .is_some()
}

fn button(window: &AppWindow, caption: &str) -> ElementHandle {
    let mut found = ElementHandle::find_by_accessible_label(window, caption)
        .filter(|e| e.accessible_role() == Some(AccessibleRole::Button));
    let button = found
        .next()
        .unwrap_or_else(|| panic!("no button labelled {caption:?}"));
    assert!(
        found.next().is_none(),
        "more than one button labelled {caption:?}"
    );
    button
}

fn is_cyrillic(c: char) -> bool {
    matches!(c, '\u{0400}'..='\u{04FF}')
}

#[test]
fn the_first_window_says_in_russian_that_the_till_waits_and_is_not_set_up() {
    let window = open_window(Language::Ru, small());
    for text in RUSSIAN_TEXTS {
        assert!(
            shows(&window, text),
            "missing {text:?}; visible: {:?}",
            labels(&window)
        );
    }
    for text in &ENGLISH_TEXTS[1..] {
        assert!(
            !shows(&window, text),
            "English {text:?} in the Russian window"
        );
    }
    assert_eq!(button(&window, "Русский").accessible_checked(), Some(true));
    assert_eq!(button(&window, "English").accessible_checked(), Some(false));
}

#[test]
fn pressing_english_translates_every_text_and_pressing_russian_switches_back() {
    let window = open_window(Language::Ru, small());

    button(&window, "English").invoke_accessible_default_action();
    for text in ENGLISH_TEXTS {
        assert!(
            shows(&window, text),
            "missing {text:?}; visible: {:?}",
            labels(&window)
        );
    }
    // Only the Russian button keeps its own name; anything else in Cyrillic is a string
    // missing from assets/lang/en/LC_MESSAGES/bonuskassa.po.
    let untranslated: Vec<String> = labels(&window)
        .into_iter()
        .filter(|l| l != "Русский" && l.chars().any(is_cyrillic))
        .collect();
    assert!(
        untranslated.is_empty(),
        "untranslated in English: {untranslated:?}"
    );
    assert_eq!(button(&window, "English").accessible_checked(), Some(true));
    assert_eq!(button(&window, "Русский").accessible_checked(), Some(false));

    button(&window, "Русский").invoke_accessible_default_action();
    for text in RUSSIAN_TEXTS {
        assert!(
            shows(&window, text),
            "missing {text:?} after switching back"
        );
    }
    assert_eq!(button(&window, "Русский").accessible_checked(), Some(true));
}

#[test]
fn a_window_opened_in_english_starts_in_english() {
    let window = open_window(Language::En, small());
    for text in ENGLISH_TEXTS {
        assert!(
            shows(&window, text),
            "missing {text:?}; visible: {:?}",
            labels(&window)
        );
    }
    assert_eq!(button(&window, "English").accessible_checked(), Some(true));
}

#[test]
fn the_footer_shows_the_program_version() {
    let window = open_window(Language::Ru, small());
    let version = format!("Версия {}", env!("CARGO_PKG_VERSION"));
    assert!(
        shows(&window, &version),
        "missing {version:?}; visible: {:?}",
        labels(&window)
    );
}

#[test]
fn language_codes_parse_and_anything_else_is_refused_with_the_choices() {
    assert_eq!("ru".parse::<Language>(), Ok(Language::Ru));
    assert_eq!("EN".parse::<Language>(), Ok(Language::En));
    let err = "de".parse::<Language>().unwrap_err().to_string();
    assert!(
        err.contains("\"de\"") && err.contains("ru") && err.contains("en"),
        "{err}"
    );
    assert_eq!(Language::En.to_string(), "en");
}

#[test]
fn every_button_is_finger_sized_and_inside_the_window_at_every_size_and_language() {
    for (size, language) in sizes()
        .into_iter()
        .flat_map(|size| [(size, Language::Ru), (size, Language::En)])
    {
        let window = open_window(language, size);
        let buttons =
            ElementHandle::find_by_element_type_name(&window, "TouchButton").collect::<Vec<_>>();
        assert_eq!(buttons.len(), 2, "the language switch has two buttons");
        let at = format!("{language} at {}×{}", size.width, size.height);
        check_targets(buttons.into_iter(), &at, size, false);
    }
}

/// Pixels in the page (between the status bar and the footer) dark enough to be the
/// headline's text; the page background and the receipt drawing are light.
fn dark_pixels_in_page(shot: &SharedPixelBuffer<Rgba8Pixel>) -> usize {
    let (w, h) = (shot.width() as usize, shot.height() as usize);
    let (top, bottom) = (72 + 48, h - 32);
    shot.as_slice()[top * w..bottom * w]
        .iter()
        .filter(|p| u32::from(p.r) + u32::from(p.g) + u32::from(p.b) < 3 * 96)
        .count()
}

#[test]
fn the_window_is_drawn_with_text_in_both_languages() {
    let screenshots = std::env::var_os("BONUSKASSA_SCREENSHOTS");
    for (size, language, name) in [
        (small(), Language::Ru, "first_window.png"),
        (small(), Language::En, "first_window_en.png"),
        (large(), Language::Ru, "first_window_1280x800.tmp.png"),
    ] {
        let window = open_window(language, size);
        let shot = window
            .window()
            .take_snapshot()
            .expect("the software renderer draws");
        assert_eq!((shot.width(), shot.height()), (size.width, size.height));
        let dark = dark_pixels_in_page(&shot);
        // The headline alone is several thousand dark pixels; an empty page has none.
        assert!(
            dark > 1000,
            "only {dark} text pixels in the {language} page at {size:?}"
        );
        if let Some(dir) = &screenshots {
            write_png(&Path::new(dir).join(name), &shot);
        }
    }
}
