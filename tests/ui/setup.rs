//! The installer's setup through the window, headless: a till never enrolled opens on the
//! setup page; the installer tests the link, enrolls (a wrong code first), fixes a wrong
//! field, saves, and the same window becomes the cashier's login. Then a manager opens
//! the setup again from the menu and leaves it unchanged.
//!
//! With `BONUSKASSA_SCREENSHOTS=<dir>` the walk writes `setup_*.png` (see
//! `scripts/screenshots.sh`).

use crate::common::Rig;
use crate::common::ui::{Till, large, on_slint_thread, small};
use bonuskassa::server::admin;
use bonuskassa::terminal::TerminalConfig;
use bonuskassa::ui::Language;
use chrono::Utc;
use slint::PhysicalSize;

/// Tall enough that the whole setup page is in view: the testing backend finds only
/// elements that are visible, and a finger would scroll to them anyway.
fn whole_page() -> PhysicalSize {
    PhysicalSize::new(800, 2000)
}

/// The whole setup page on the 720 px wide portrait terminal.
fn whole_portrait_page() -> PhysicalSize {
    PhysicalSize::new(720, 2400)
}

#[test]
fn an_installer_sets_up_a_new_till_on_the_touch_screen() {
    on_slint_thread(walk);
}

/// The test, on the Slint thread.
fn walk() {
    let rig = Rig::new();
    let till = Till::setup(&rig);
    till.expect("Настройка кассы");
    till.expect_starting("Касса ещё не подключена к серверу");
    till.pictures_in_portrait("new");
    till.resize(whole_page());
    till.pump();

    // The connection test: a wrong address, then the server.
    till.type_into("Адрес сервера", "http://127.0.0.1:9");
    till.tap("Проверить связь");
    till.expect_starting("Сервер не отвечает по этому адресу");
    till.type_into("Адрес сервера", &format!("http://{}", rig.addr));
    till.tap("Проверить связь");
    till.expect_starting("Связь есть: ответ за");

    // A wrong enrollment code is refused and stays typed.
    till.type_into("Код подключения", "WRONG-CODE");
    till.tap("Подключить кассу");
    till.expect_starting("Код подключения неверный");
    assert_eq!(
        till.field("Код подключения").accessible_value().as_deref(),
        Some("WRONG-CODE")
    );
    till.picture("wrong_code");

    let code = admin::enroll_code(&rig.server_data, admin::DEMO_STORE, Utc::now()).unwrap();
    till.type_into("Код подключения", &code);
    till.type_into("Название кассы", "Касса 5");
    till.tap("Подключить кассу");
    till.expect_starting("Касса подключена: магазин");
    assert_eq!(
        till.field("Код подключения").accessible_value().as_deref(),
        Some(""),
        "the one-time code is not kept on screen"
    );

    // A wrong field is named; a new bridge key replaces the old one.
    till.type_into("Порт", "80");
    till.tap("Сохранить и начать работу");
    till.expect("Порт связи с кассой: число от 1024 до 65535");
    till.picture("wrong_field");
    till.type_into("Порт", "9123");
    let key = till.field("Ключ связи").accessible_value().unwrap();
    till.tap("Новый ключ");
    let new_key = till.field("Ключ связи").accessible_value().unwrap();
    assert_ne!(key, new_key);
    assert_eq!(new_key.len(), 24);
    till.tap("Открывать на английском");
    till.type_into("Не больше за покупку, бонусов", "200");
    till.picture("enrolled_whole_page");
    // The whole page on the portrait terminal too: nothing on it is wider than 720 px,
    // down to the bottom a finger scrolls to.
    till.check_buttons_at_sizes("enrolled_whole_page", &[whole_portrait_page()]);
    till.resize(large());
    till.pump();
    till.picture("enrolled_1280x800");
    till.resize(whole_page());
    till.pump();

    // Saved: the same window is the cashier's login, in the language chosen.
    till.tap("Сохранить и начать работу");
    till.resize(small());
    till.pump();
    till.expect("Cashier login");
    let config = TerminalConfig::load(&rig.till_data).unwrap();
    assert_eq!(config.name, "Касса 5");
    assert_eq!(config.bridge.port, 9123);
    assert_eq!(config.language, Language::En);
    assert_eq!(
        config.offline.max_spend_per_operation,
        Some("200".parse().unwrap())
    );
    till.tap("Русский");

    // A manager opens the setup from the menu, sees the till's settings, and goes back.
    till.keys("9999");
    till.tap("Войти");
    till.tap("Режим менеджера");
    till.tap("Настройка кассы");
    till.resize(whole_page());
    till.pump();
    till.expect_starting("Касса подключена: магазин");
    assert_eq!(
        till.field("Порт").accessible_value().as_deref(),
        Some("9123")
    );
    assert_eq!(
        till.field("Ключ связи").accessible_value().as_deref(),
        Some(new_key.as_str())
    );
    till.resize(small());
    till.pump();
    till.picture("reopened");
    till.tap("Отмена");
    till.expect("Режим менеджера");
}
