//! The on-screen keyboard through the real window, headless: a tap on a text field opens
//! it at the bottom of the window with the field still in view (at 800×600 and 1280×800);
//! its keys type a Russian name with shift and backspace and, on the Latin letters, an
//! e-mail address, which reach the server in the registration's questionnaire; a physical
//! keyboard still types into the field; a keyboard-wedge scanner's code typed while the
//! keyboard is open is a scan and never lands in the field; and the installer types the
//! server's address on the setup page with it.
//!
//! With `BONUSKASSA_SCREENSHOTS=<dir>` the walks write `session_keyboard_ru.png`,
//! `session_keyboard_latin.png`, `session_keyboard_1280x800.png` and
//! `setup_keyboard.png` (see `scripts/screenshots.sh`).

use std::time::Duration;

use crate::common::ui::{Till, large, on_slint_thread, small};
use crate::common::{Rig, last_sms_code, receipt, return_of, wait_for};
use crate::scanner::wedge_types;
use i_slint_backend_testing::ElementHandle;
use slint::ComponentHandle;
use slint::platform::{PointerEventButton, WindowEvent};

/// Taps a text field with a finger (a pointer press and release at its centre).
fn tap_field(till: &Till, label: &str) {
    till.field(label)
        .mock_single_click(PointerEventButton::Left);
    till.settle();
}

/// Taps the keyboard's keys, one label each.
fn tap_keys(till: &Till, keys: &[&str]) {
    for key in keys {
        till.tap(key);
    }
}

/// Taps the keyboard's key of every character of `text`.
fn tap_chars(till: &Till, text: &str) {
    for c in text.chars() {
        till.tap(&c.to_string());
    }
}

fn keyboard(till: &Till) -> Option<ElementHandle> {
    ElementHandle::find_by_element_type_name(&till.window, "TouchKeyboard").next()
}

fn value(till: &Till, label: &str) -> String {
    till.field(label)
        .accessible_value()
        .unwrap_or_default()
        .to_string()
}

/// The keyboard is open at the bottom of the window, and the field `label` is in full view
/// inside the element that scrolls it (`scroller`, a type name) and above the keyboard.
fn in_view_above_keyboard(till: &Till, label: &str, scroller: &str) {
    let keyboard = keyboard(till).expect("the keyboard is open");
    let window = till.window.window().size();
    let (k, ksize) = (keyboard.absolute_position(), keyboard.size());
    assert!(
        (k.y + ksize.height - window.height as f32).abs() < 0.5 && ksize.height >= 4.0 * 48.0,
        "the keyboard at {k:?} {ksize:?} is not the bottom of the {window:?} window"
    );
    let scroller = ElementHandle::find_by_element_type_name(&till.window, scroller)
        .next()
        .unwrap_or_else(|| panic!("no {scroller} shown"));
    let (s, ssize) = (scroller.absolute_position(), scroller.size());
    let field = till.field(label);
    let (f, fsize) = (field.absolute_position(), field.size());
    let bottom = (s.y + ssize.height).min(k.y);
    assert!(
        f.y >= s.y - 0.5 && f.y + fsize.height <= bottom + 0.5,
        "{label:?} at {f:?} {fsize:?} is not in view between {} and {bottom}",
        s.y
    );
}

/// Taps the field `label` and checks the keyboard opened with the field in view.
fn edit(till: &Till, label: &str, scroller: &str) {
    tap_field(till, label);
    in_view_above_keyboard(till, label, scroller);
}

/// Keys a person types on a physical keyboard, each a moment after the last.
fn person_types(till: &Till, text: &str) {
    for c in text.chars() {
        let window = till.window.window();
        window.dispatch_event(WindowEvent::KeyPressed {
            text: c.to_string().into(),
        });
        window.dispatch_event(WindowEvent::KeyReleased {
            text: c.to_string().into(),
        });
        i_slint_backend_testing::mock_elapsed_time(Duration::from_millis(120));
        till.pump();
    }
    till.settle();
}

#[test]
fn the_on_screen_keyboard_types_a_questionnaire_and_a_scan_still_scans() {
    on_slint_thread(session_walk);
}

/// The session's walk, on the Slint thread.
fn session_walk() {
    let rig = Rig::new();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (till, terminal) = Till::enrolled(&rig, &rt, "session_");
    // Real taps reach the keypad through the page's scroller.
    for _ in 0..4 {
        till.element("1", i_slint_backend_testing::AccessibleRole::Button)
            .mock_single_click(PointerEventButton::Left);
        till.settle();
    }
    till.element("Войти", i_slint_backend_testing::AccessibleRole::Button)
        .mock_single_click(PointerEventButton::Left);
    till.settle();
    till.expect("Ожидание чека от кассы");

    // A new customer, to the questionnaire.
    till.handle.open_receipt(receipt("kb-1", "300.00"));
    till.settle();
    till.type_into("Телефон клиента", "9995557711");
    till.tap("Найти");
    till.tap("Зарегистрировать");
    till.tap("Отправить код");
    let code = rt.block_on(last_sms_code(rig.addr));
    till.type_into("Код из SMS", &code);
    till.tap("Подтвердить");
    till.expect("Шаг 2 из 4: анкета, все поля необязательны");
    assert!(keyboard(&till).is_none(), "no field has the focus yet");

    // A tap on the first name opens the Russian letters; shift makes one capital, the
    // backspace takes a wrong letter back.
    edit(&till, "Имя", "SessionPages");
    till.expect("й");
    till.expect("ё");
    till.expect("ъ");
    tap_keys(&till, &["Заглавная буква", "М"]);
    tap_chars(&till, "арин");
    tap_keys(&till, &["ы", "Стереть знак", "а"]);
    assert_eq!(value(&till, "Имя"), "Марина");
    till.pictures_in_portrait("keyboard_ru");

    // The e-mail on the Latin letters, with @ and the dot.
    edit(&till, "Электронная почта", "SessionPages");
    till.tap("Латиница");
    tap_chars(&till, "marina@ya.ru");
    assert_eq!(value(&till, "Электронная почта"), "marina@ya.ru");
    assert_eq!(
        value(&till, "Имя"),
        "Марина",
        "the other field kept its text"
    );
    till.picture("keyboard_latin");

    // A date opens on the digits; so does the referrer's phone or card, in view at 1280×800
    // too.
    edit(&till, "Дата рождения, ДД.ММ.ГГГГ", "SessionPages");
    tap_chars(&till, "17.05.1990");
    assert_eq!(value(&till, "Дата рождения, ДД.ММ.ГГГГ"), "17.05.1990");
    till.resize(large());
    till.pump();
    edit(&till, "Кто пригласил: телефон или карта", "SessionPages");
    till.picture("keyboard_1280x800");
    till.resize(small());
    till.pump();

    // A physical keyboard types into the field the keyboard is open for. (The field
    // edited at 1280×800 kept itself in view at every size the picture was checked at, so
    // the page is scrolled to it: «Готово» scrolls it back to the top.)
    till.tap("Готово");
    edit(&till, "Отчество", "SessionPages");
    person_types(&till, "Ивановна");
    assert_eq!(value(&till, "Отчество"), "Ивановна");
    // Shift tapped twice keeps capitals on until it is tapped again.
    tap_keys(&till, &["Кириллица", "Заглавная буква", "Заглавная буква"]);
    till.expect("Все заглавные");
    tap_chars(&till, "АБ");
    tap_keys(&till, &["Стереть знак", "Стереть знак", "Все заглавные"]);
    till.expect("а");
    assert_eq!(value(&till, "Отчество"), "Ивановна");

    // «Готово» closes the keyboard and gives the page its room back.
    till.tap("Готово");
    assert!(keyboard(&till).is_none());
    till.expect_starting("Версия");
    till.tap("Далее");
    till.expect("Шаг 3 из 4: согласия клиента");
    till.element(
        "Согласие на обработку персональных данных (обязательно)",
        i_slint_backend_testing::AccessibleRole::Checkbox,
    )
    .invoke_accessible_default_action();
    till.tap("Далее");
    till.tap("Виртуальная карта");
    till.expect("Марина");
    till.tap("Применить к чеку");
    till.outcome();

    // What was typed reached the server with the registration.
    rt.block_on(wait_for(&terminal, "the registration sent", |s| {
        s.queue.pending == 0
    }));
    let (first, middle, email, birth) =
        crate::common::server::questionnaire_of(&rig.server_data, "+79995557711");
    assert_eq!(
        (
            first.as_deref(),
            middle.as_deref(),
            email.as_deref(),
            birth.as_deref()
        ),
        (
            Some("Марина"),
            Some("Ивановна"),
            Some("marina@ya.ru"),
            Some("1990-05-17")
        )
    );

    // A return whose receipt is lost: the phone field opens the keyboard on the digits, and
    // a card scanned on a keyboard-wedge scanner meanwhile is a scan: the customer's
    // purchases show and the field stays empty.
    till.handle.open_receipt(return_of("kb-ret", "lost", "1"));
    till.settle();
    till.expect_starting("Продажа не найдена по номеру чека");
    tap_field(&till, "Телефон клиента");
    till.expect("Буквы");
    wedge_types(&till, "2900000000025");
    till.wait_to_show("У клиента нет покупок");
    assert_eq!(value(&till, "Телефон клиента"), "");
    assert!(
        keyboard(&till).is_some(),
        "the keyboard stays open for the field"
    );

    // A quick pair of keys and Enter is too short for a code: typing, not a scan.
    wedge_types(&till, "79");
    till.settle();
    assert_eq!(value(&till, "Телефон клиента"), "79");
    till.tap("Готово");
    till.tap("Отмена");

    // The manager's form is taller than what the keyboard leaves: the page scrolls its last
    // field into view, and back when the keyboard closes.
    till.tap("Выйти");
    till.keys("9999");
    till.tap("Войти");
    till.tap("Режим менеджера");
    edit(&till, "Причина", "SessionPages");
    tap_chars(&till, "жалоба");
    assert_eq!(value(&till, "Причина"), "жалоба");
    till.picture("keyboard_manager");
    till.tap("Готово");
    till.expect("Режим менеджера");
    till.tap("Назад");
}

#[test]
fn the_installer_types_the_server_address_on_the_on_screen_keyboard() {
    on_slint_thread(setup_walk);
}

/// The setup's walk, on the Slint thread.
fn setup_walk() {
    let rig = Rig::new();
    let till = Till::setup(&rig);

    edit(&till, "Адрес сервера", "ScrollView");
    till.tap("Латиница");
    tap_chars(&till, "http");
    till.tap("Цифры и знаки");
    tap_chars(&till, &format!("://{}", rig.addr));
    assert_eq!(
        value(&till, "Адрес сервера"),
        format!("http://{}", rig.addr)
    );
    till.picture("keyboard");

    // A finger scrolls the page above the keyboard until a lower field peeks out at its
    // bottom; a tap on the part in view brings the whole field into view.
    let page = ElementHandle::find_by_element_type_name(&till.window, "ScrollView")
        .next()
        .expect("the setup scrolls");
    let page_bottom = page.absolute_position().y + page.size().height;
    let peeking = |till: &Till| {
        ElementHandle::find_by_accessible_label(&till.window, "Название кассы")
            .find(|e| {
                e.accessible_role() == Some(i_slint_backend_testing::AccessibleRole::TextInput)
            })
            .filter(|e| e.absolute_position().y + e.size().height / 2.0 < page_bottom - 4.0)
    };
    for _ in 0..60 {
        if peeking(&till).is_some() {
            break;
        }
        page.scroll(0.0, -20.0);
        till.pump();
    }
    let field = peeking(&till).expect("the field peeks out above the keyboard");
    assert!(
        field.absolute_position().y + field.size().height > page_bottom,
        "the field is not cut by the bottom of the page yet"
    );
    edit(&till, "Название кассы", "ScrollView");
    assert_eq!(value(&till, "Название кассы"), "Касса 1");
    for _ in 0.."Касса 1".chars().count() {
        till.tap("Стереть знак");
    }
    till.tap("Кириллица");
    tap_keys(&till, &["Заглавная буква", "К"]);
    tap_chars(&till, "асса");
    tap_keys(&till, &["Пробел", "Цифры и знаки", "5"]);
    assert_eq!(value(&till, "Название кассы"), "Касса 5");
    till.picture("keyboard_scrolled");
    till.tap("Готово");
    till.tap("Проверить связь");
    till.expect_starting("Связь есть: ответ за");
}
