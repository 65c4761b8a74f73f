//! Wires `KeyboardAdapter` (ui/adapters/keyboard_adapter.slint): the on-screen keyboard's
//! keys, and a keyboard-wedge scanner's keys while a text field has the focus.
//!
//! A key of the on-screen keyboard becomes a key press of the window, the event a physical
//! keyboard makes, so the focused field types it with its own cursor, selection and
//! backspace, and a physical keyboard keeps working beside it.
//!
//! With no field focused, a wedge scanner's keys reach the window's scanner scope and make
//! a scan (`SessionAdapter.wedge-text`, `wedge-enter`). With a field of the session
//! focused they would land in the field, so every key of a physical keyboard passes through
//! a [`Burst`] first: keys that come closer together than [`BURST_GAP`] are held back; the
//! Enter that closes a burst of at least [`MIN_SCAN`] characters makes it a scan by the same
//! path as the scanner scope's, and the field never sees it; a pause hands what was held to
//! the field as typed, in order. A person types slower than a scanner, so their keys reach
//! the field at most [`BURST_GAP`] late.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak as RcWeak};
use std::time::Duration;

use slint::platform::WindowEvent;
use slint::{ComponentHandle, SharedString, Timer, TimerMode, Weak};

use super::{AppWindow, KeyboardAdapter, SessionAdapter};

/// Keys closer together than this may be a scanner's; a person's come further apart (a
/// fast typist's about 100 ms; a wedge scanner types a character every few).
const BURST_GAP: Duration = Duration::from_millis(50);

/// The shortest code a scanner sends: a burst ending in Enter with fewer characters is
/// typed into the field (an EAN-8 card is 8 digits; a person's Enter right after a quick
/// pair of keys is not a scan).
const MIN_SCAN: usize = 4;

/// What to do with a key of a physical keyboard that a focused field is about to get.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    /// To the field now.
    Pass,
    /// Held back until the next key or a pause.
    Hold,
    /// The held keys were a scanner's code and this key its Enter: a scan.
    Scan(String),
    /// Held back behind the keys held before it, all of them to the field now.
    Release,
}

/// The keys of a physical keyboard held back from a focused field, pure (the timer that
/// ends a burst is the caller's).
#[derive(Debug, Default)]
struct Burst {
    held: Vec<SharedString>,
}

impl Burst {
    /// Takes one key press, given as its event text.
    fn key(&mut self, text: &str) -> Verdict {
        let enter = text == "\n" || text == "\r";
        if enter {
            let all_printable = self.held.iter().all(|k| printable(k));
            if all_printable && self.held.len() >= MIN_SCAN {
                let code: String = self.held.drain(..).map(|k| k.to_string()).collect();
                return Verdict::Scan(code);
            }
            if self.held.is_empty() {
                return Verdict::Pass;
            }
            self.held.push(text.into());
            return Verdict::Release;
        }
        if modifier(text) {
            return Verdict::Pass;
        }
        // A key that is no character (backspace, an arrow) goes in order behind the held
        // ones; alone it goes to the field at once.
        if printable(text) || !self.held.is_empty() {
            self.held.push(text.into());
            return Verdict::Hold;
        }
        Verdict::Pass
    }

    /// What was held, in order, for the field.
    fn release(&mut self) -> Vec<SharedString> {
        std::mem::take(&mut self.held)
    }
}

/// A character a field would show: not a control key, not a named key (arrows, F-keys,
/// which Slint gives code points from U+F700 up).
fn printable(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| !c.is_control() && !('\u{F700}'..='\u{F8FF}').contains(&c))
}

/// Shift, Control, Alt, AltGr, Caps Lock, Meta: they type nothing and change the keys
/// after them, so they are never held.
fn modifier(text: &str) -> bool {
    let mut chars = text.chars();
    matches!((chars.next(), chars.next()), (Some(c), None) if ('\u{10}'..='\u{18}').contains(&c))
}

/// The keyboard's side of one window.
struct Router {
    window: Weak<AppWindow>,
    /// True while this code itself gives keys to the field (an on-screen key, or keys
    /// held back): they pass the scanner's check untouched.
    giving: Cell<bool>,
    burst: RefCell<Burst>,
    /// Fires [`BURST_GAP`] after the last key held: the burst was a person's.
    pause: Timer,
}

impl Router {
    /// Hands `keys` to the focused field as key presses.
    fn give(&self, keys: &[SharedString]) {
        let Some(window) = self.window.upgrade() else {
            return;
        };
        self.giving.set(true);
        for text in keys {
            window
                .window()
                .dispatch_event(WindowEvent::KeyPressed { text: text.clone() });
            window
                .window()
                .dispatch_event(WindowEvent::KeyReleased { text: text.clone() });
        }
        self.giving.set(false);
    }

    /// A key of a physical keyboard on its way to a focused field of the session: true
    /// when it is held back (or was a scan's Enter).
    fn field_key(self: &Rc<Self>, text: &str) -> bool {
        if self.giving.get() {
            return false;
        }
        let verdict = self.burst.borrow_mut().key(text);
        match verdict {
            Verdict::Pass => false,
            Verdict::Hold => {
                self.release_after(BURST_GAP);
                true
            }
            Verdict::Release => {
                // Not from inside this key's own delivery: on the next turn of the loop.
                self.release_after(Duration::ZERO);
                true
            }
            Verdict::Scan(code) => {
                self.pause.stop();
                if let Some(window) = self.window.upgrade() {
                    tracing::debug!(
                        chars = code.chars().count(),
                        "a scanner's burst in a text field: scanned"
                    );
                    let session = window.global::<SessionAdapter>();
                    session.invoke_wedge_text(code.into());
                    session.invoke_wedge_enter();
                }
                true
            }
        }
    }

    /// Gives the held keys to the field after `delay`, unless a key comes first.
    fn release_after(self: &Rc<Self>, delay: Duration) {
        let router: RcWeak<Router> = Rc::downgrade(self);
        self.pause.start(TimerMode::SingleShot, delay, move || {
            if let Some(router) = router.upgrade() {
                let keys = router.burst.borrow_mut().release();
                router.give(&keys);
            }
        });
    }
}

/// Connects the keyboard's callbacks. Call once, right after creating the window.
pub(super) fn connect(window: &AppWindow) {
    let router = Rc::new(Router {
        window: window.as_weak(),
        giving: Cell::new(false),
        burst: RefCell::new(Burst::default()),
        pause: Timer::default(),
    });
    let adapter = window.global::<KeyboardAdapter>();
    {
        let router = router.clone();
        adapter.on_press(move |key| router.give(&[key]));
    }
    adapter.on_field_key(move |text| router.field_key(&text));
}

/// The text of `key` as the on-screen keyboard sends it.
#[cfg(test)]
fn key_text(key: slint::platform::Key) -> SharedString {
    key.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use slint::platform::Key;

    fn keys(burst: &mut Burst, text: &str) -> Vec<Verdict> {
        text.chars().map(|c| burst.key(&c.to_string())).collect()
    }

    #[test]
    fn a_quick_burst_closed_by_enter_is_a_scan_and_the_field_gets_none_of_it() {
        let mut burst = Burst::default();
        assert!(
            keys(&mut burst, "2900000000025")
                .iter()
                .all(|v| *v == Verdict::Hold)
        );
        assert_eq!(burst.key("\n"), Verdict::Scan("2900000000025".into()));
        assert!(burst.release().is_empty());
    }

    #[test]
    fn a_short_burst_closed_by_enter_goes_to_the_field_with_its_enter() {
        let mut burst = Burst::default();
        keys(&mut burst, "ab");
        assert_eq!(burst.key("\n"), Verdict::Release);
        assert_eq!(burst.release(), ["a", "b", "\n"]);
    }

    #[test]
    fn enter_alone_and_modifiers_pass_and_a_named_key_waits_behind_held_ones() {
        let mut burst = Burst::default();
        assert_eq!(burst.key("\n"), Verdict::Pass);
        assert_eq!(burst.key(&key_text(Key::Shift)), Verdict::Pass);
        assert_eq!(burst.key(&key_text(Key::Backspace)), Verdict::Pass);
        assert_eq!(burst.key(&key_text(Key::LeftArrow)), Verdict::Pass);
        assert_eq!(burst.key("Ж"), Verdict::Hold);
        assert_eq!(burst.key(&key_text(Key::Shift)), Verdict::Pass);
        assert_eq!(burst.key(&key_text(Key::Backspace)), Verdict::Hold);
        assert_eq!(burst.key("ё"), Verdict::Hold);
        // A burst with a backspace in it is a person's, however quick.
        keys(&mut burst, "abcd");
        assert_eq!(burst.key("\n"), Verdict::Release);
        assert_eq!(
            burst.release(),
            [
                "Ж".into(),
                key_text(Key::Backspace),
                "ё".into(),
                "a".into(),
                "b".into(),
                "c".into(),
                "d".into(),
                "\n".into()
            ]
        );
    }
}
