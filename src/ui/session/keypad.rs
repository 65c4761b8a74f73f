//! The keypad, on the UI thread: what the cashier types (the cashier code, a phone, a card
//! number, the spend, an SMS code) and which field a key goes to. A key press changes a
//! string and the field shown, which needs no IO; only the finished entry goes to the
//! session as an action (the spend goes at every key, for the live preview).

use crate::domain::phone::PhoneInput;
use crate::ui::{AppWindow, CustomerAdapter, FindAdapter, FindMode, Page, RegStep, SessionAdapter};
use slint::ComponentHandle;

/// The longest entries the keypad accepts: a cashier code, a card number, a spend (whole
/// bonuses), an SMS code.
const MAX_CASHIER_CODE: usize = 12;
const MAX_CARD: usize = 24;
const MAX_SPEND: usize = 9;
const MAX_SMS_CODE: usize = 6;

/// Which field the keypad types into; Rust decides from the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    CashierCode,
    Phone,
    Card,
    Spend,
    SmsCode,
    Nothing,
}

/// What the cashier has typed, and enough of the last view to route the keypad.
#[derive(Default)]
pub(super) struct Typing {
    pub(super) page: Option<Page>,
    pub(super) find_mode: FindModeChoice,
    pub(super) spend_code_open: bool,
    pub(super) step: Option<RegStep>,
    /// The "not found" screen knows the phone already (no keypad there).
    pub(super) phone_known: bool,
    pub(super) cashier_code: String,
    pub(super) phone: PhoneInput,
    pub(super) card: String,
    pub(super) spend: String,
    pub(super) sms_code: String,
    /// What a keyboard-wedge scanner has typed since its last Enter.
    pub(super) wedge: String,
}

/// [`FindMode`] with a default, kept on the Rust side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum FindModeChoice {
    #[default]
    Phone,
    Card,
}

impl Typing {
    fn target(&self) -> Target {
        match self.page {
            Some(Page::Login) => Target::CashierCode,
            Some(Page::Find) => match self.find_mode {
                FindModeChoice::Phone => Target::Phone,
                FindModeChoice::Card => Target::Card,
            },
            Some(Page::NotFound) if !self.phone_known => Target::Phone,
            Some(Page::Customer) if self.spend_code_open => Target::SmsCode,
            Some(Page::Customer) => Target::Spend,
            Some(Page::Register) => match self.step {
                Some(RegStep::Code) => Target::SmsCode,
                Some(RegStep::Card) => Target::Card,
                _ => Target::Nothing,
            },
            _ => Target::Nothing,
        }
    }

    /// Applies one key to the field in focus; true when the spend changed.
    pub(super) fn key(&mut self, key: &str) -> bool {
        let target = self.target();
        if target == Target::Phone {
            match key {
                "back" => {
                    self.phone.backspace();
                }
                "clear" => self.phone.clear(),
                k => {
                    for c in k.chars() {
                        self.phone.push_digit(c);
                    }
                }
            }
            return false;
        }
        let (field, max) = match target {
            Target::CashierCode => (&mut self.cashier_code, MAX_CASHIER_CODE),
            Target::Card => (&mut self.card, MAX_CARD),
            Target::Spend => (&mut self.spend, MAX_SPEND),
            Target::SmsCode => (&mut self.sms_code, MAX_SMS_CODE),
            Target::Phone | Target::Nothing => return false,
        };
        match key {
            "back" => {
                field.pop();
            }
            "clear" => field.clear(),
            k => {
                for c in k.chars().filter(char::is_ascii_digit) {
                    if field.len() < max {
                        field.push(c);
                    }
                }
            }
        }
        target == Target::Spend
    }

    /// Replaces the field in focus; true when the spend changed.
    pub(super) fn set(&mut self, text: &str) -> bool {
        if self.target() == Target::Phone {
            self.phone = PhoneInput::from_typed(text);
            return false;
        }
        self.key("clear");
        self.key(text)
    }

    /// The spend as the session gets it: an empty field is no spend.
    pub(super) fn spend_text(&self) -> String {
        if self.spend.is_empty() {
            "0".into()
        } else {
            self.spend.clone()
        }
    }

    /// The field in focus as shown: dots for the cashier code, the +7 mask for a phone.
    pub(super) fn entry(&self) -> String {
        match self.target() {
            Target::CashierCode => "●".repeat(self.cashier_code.chars().count()),
            Target::Phone => self.phone.screen_text(),
            Target::Card => self.card.clone(),
            Target::SmsCode => self.sms_code.clone(),
            Target::Spend | Target::Nothing => String::new(),
        }
    }

    /// Forgets what was typed for the screen that closed.
    pub(super) fn clear_fields(&mut self) {
        self.cashier_code.clear();
        self.phone.clear();
        self.card.clear();
        self.sms_code.clear();
        self.spend.clear();
    }
}

/// Shows what is typed: the keypad's field (shared), the spend on the customer card, and
/// which field the find screen types into.
pub(super) fn show_entry(window: &AppWindow, typing: &Typing) {
    window
        .global::<SessionAdapter>()
        .set_entry(typing.entry().into());
    window
        .global::<CustomerAdapter>()
        .set_spend(typing.spend.clone().into());
    window
        .global::<FindAdapter>()
        .set_find_mode(match typing.find_mode {
            FindModeChoice::Phone => FindMode::Phone,
            FindModeChoice::Card => FindMode::Card,
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keypad_types_into_the_field_of_the_screen() {
        let mut t = Typing {
            page: Some(Page::Login),
            ..Typing::default()
        };
        t.key("1");
        t.key("2");
        assert_eq!(t.entry(), "●●");
        t.key("back");
        assert_eq!(t.cashier_code, "1");

        t.page = Some(Page::Find);
        t.set("89990000001");
        assert_eq!(t.entry(), "+7 (999) 000-00-01");
        t.find_mode = FindModeChoice::Card;
        t.key("4");
        assert_eq!(t.entry(), "4");

        t.page = Some(Page::Customer);
        assert!(t.key("5"));
        assert_eq!(t.spend_text(), "5");
        t.spend_code_open = true;
        assert!(!t.key("7"));
        assert_eq!(t.entry(), "7");
    }
}
