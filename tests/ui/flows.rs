//! The checkout flows tests/ui_session.rs does not walk, through the window only: a spend
//! that needs the customer's SMS code, «Без кода», cancel at every step of a registration,
//! an SMS code that expires, and a till that loses the server (the offline limits, the
//! manager's override, the queue draining when the server is back).
//!
//! As in ui_session.rs: a demo server on 127.0.0.1, a till enrolled against it, the session
//! window on Slint's testing backend with the software renderer, every step a tap, a keypad
//! key or an accessible value set by label, every check a label on screen. The register's
//! side (a receipt handed over, the outcome taken back) goes through the [`Runner`](bonuskassa::runner::Runner), as
//! the cash-register bridge will. The server and the till share a manual clock, so a code
//! can expire and the till can pass its offline horizon without waiting.
//!
//! Slint's testing backend and its event loop belong to one thread of the process, so the
//! walks run one after another in one test, on one window.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::ui::{AT_REGISTER, Till, on_slint_thread};
use crate::common::{Rig, b, last_sms_code, quick_sync, receipt, wait_for};
use bonuskassa::checkout::Outcome;
use bonuskassa::clock::{Clock, ManualClock};
use bonuskassa::domain::money::Bonus;
use bonuskassa::domain::receipt::Receipt;
use bonuskassa::terminal::Terminal;
use i_slint_backend_testing::{AccessibleRole, ElementHandle};

/// The shared harness (tests/common/ui.rs) with what these walks add: a tap refuses a
/// greyed-out button, values read by caption, the problem banner, the status bar.
struct Walk {
    till: Till,
}

impl std::ops::Deref for Walk {
    type Target = Till;

    fn deref(&self) -> &Till {
        &self.till
    }
}

impl Walk {
    /// Shows what the worker posts (status changes, the second's tick) until `ok` holds.
    fn wait_until(&self, what: &str, ok: impl Fn(&Walk) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            self.pump();
            if ok(self) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "waiting for {what}; visible: {:?}",
                self.labels()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn shows_containing(&self, part: &str) -> bool {
        self.labels().iter().any(|l| l.contains(part))
    }

    fn expect_not(&self, text: &str) {
        assert!(
            !self.shows(text),
            "{text:?} should be gone; visible: {:?}",
            self.labels()
        );
    }

    /// No problem banner on screen.
    fn expect_no_problem(&self) {
        let banners = ElementHandle::find_by_element_type_name(&self.window, "ProblemBanner")
            .filter(|e| e.size().height > 0.0)
            .count();
        assert_eq!(banners, 0, "a problem is shown: {:?}", self.labels());
    }

    fn button(&self, caption: &str) -> ElementHandle {
        self.element(caption, AccessibleRole::Button)
    }

    /// Taps a button that is not greyed out, and waits for the session's answer.
    fn tap(&self, caption: &str) {
        assert_eq!(
            self.button(caption).accessible_enabled(),
            Some(true),
            "{caption:?} is greyed out; visible: {:?}",
            self.labels()
        );
        self.till.tap(caption);
    }

    fn keys(&self, digits: &str) {
        for d in digits.chars() {
            self.tap(&d.to_string());
        }
    }

    /// The text of a field, as shown.
    fn value(&self, label: &str) -> String {
        self.field(label)
            .accessible_value()
            .unwrap_or_default()
            .to_string()
    }

    fn check(&self, label: &str) {
        let check = self.element(label, AccessibleRole::Checkbox);
        check.invoke_accessible_default_action();
        self.pump();
        assert_eq!(check.accessible_checked(), Some(true), "{label:?}");
    }

    fn no_outcome(&self) {
        assert_eq!(
            self.handle.try_outcome(),
            None,
            "the register heard too early"
        );
    }

    /// The register hands over a receipt; the find screen opens.
    fn open(&self, receipt: Receipt) {
        self.handle.open_receipt(receipt);
        self.settle();
        self.expect_starting("Сумма чека:");
        self.expect("Телефон клиента");
        self.check_buttons("find");
    }

    /// The status bar's details: "Очередь пуста · Синхронизация: 12:00" and the like.
    fn queue_empty(&self) -> bool {
        self.shows_containing("Очередь пуста")
    }
}

/// Operations the server holds, whatever their status.
fn server_operations(rig: &Rig) -> i64 {
    let census = crate::common::server::census(&rig.server_data);
    census.applied + census.rejected
}

fn sale(outcome: Outcome) -> (bonuskassa::protocol::server::Operation, Bonus, Bonus) {
    let Outcome::Sale { operation, priced } = outcome else {
        panic!("not a sale: {outcome:?}")
    };
    (operation, priced.spend, priced.calculation.accrued)
}

#[test]
fn the_touch_screens_walk_a_spend_code_without_code_cancels_an_expired_code_and_offline() {
    on_slint_thread(walk);
}

/// The test, on the Slint thread.
fn walk() {
    let started = Instant::now();
    let clock = ManualClock::at(chrono::Utc::now());
    let mut rig = Rig::with_server_clock(clock.clone());
    // The test's own runtime enrols the till and reads the demo SMS inbox; it stays alive
    // for the whole walk, since the till's HTTP connections were made on it.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let terminal = Arc::new(rt.block_on(rig.enroll(clock.clone())));
    terminal.start_sync(quick_sync()).unwrap();
    // The customer cache is in before anything else, so the offline walk finds Анна.
    rt.block_on(wait_for(&terminal, "the cache", |s| {
        s.cached_customers == 4
    }));

    let till = Walk {
        till: Till::session(terminal.clone(), clock.clone() as Arc<dyn Clock>, "flows_"),
    };
    till.settle();

    // The manager logs in once while the server answers, so the till knows their code for
    // the offline override at the end; then the cashier's shift.
    till.expect("Вход кассира");
    till.check_buttons("login");
    till.keys("9999");
    till.tap("Войти");
    till.expect("Режим менеджера");
    till.tap("Выйти");
    till.expect("Вход кассира");
    till.keys("1111");
    till.tap("Войти");
    till.expect("Ожидание чека от кассы");
    till.expect_not("Режим менеджера");
    till.check_buttons("waiting");

    spend_code(&till, &rig, &rt);
    without_code(&till);
    cancel_at_every_step(&till, &rig, &rt, &terminal);
    expired_code(&till, &rig, &rt, &clock);
    offline(&till, &mut rig, &clock, &terminal);

    eprintln!("the walks took {:.1} s", started.elapsed().as_secs_f64());
}

/// Анна (3 500 bonuses) spends 1 500, above the rules' `code_to_spend_over` of 1 000: the
/// card asks for the code from her phone; a wrong code leaves tries; the right one, from
/// the demo SMS inbox, confirms the sale with that spend.
fn spend_code(till: &Walk, rig: &Rig, rt: &tokio::runtime::Runtime) {
    till.open(receipt("ui-code", "9000.00"));
    till.keys("9990000003");
    assert_eq!(till.value("Телефон клиента"), "+7 (999) 000-00-03");
    till.tap("Найти");
    till.expect_starting("Анна");
    till.expect("+7 *** ***-**-03 · карта ****0025 · Золотая");
    assert_eq!(till.value_of("Баланс"), "3\u{a0}500");
    till.check_buttons("customer");

    till.keys("1500");
    assert_eq!(till.value("Списать бонусов"), "1500");
    till.expect_no_problem();
    assert_eq!(till.value_of("Списано бонусов"), "1\u{a0}500");
    till.tap("Применить к чеку");
    till.expect("Такое списание подтверждается кодом из SMS: отправьте код и введите его");
    till.expect("Код из SMS клиента");
    till.expect_not("Применить к чеку");
    till.no_outcome();
    till.picture("customer_spend_code");

    // «Отмена» closes the code form, not the receipt; «Применить к чеку» opens it again.
    till.tap("Отмена");
    till.expect("Применить к чеку");
    till.expect_not("Код из SMS клиента");
    assert_eq!(till.value("Списать бонусов"), "1500");
    till.no_outcome();
    till.tap("Применить к чеку");
    till.expect("Подтвердить код");

    till.tap("Отправить код");
    till.expect_no_problem();
    let resend = till.button("Повтор через 60 с");
    assert_eq!(resend.accessible_enabled(), Some(false));
    till.expect("Осталось попыток: 5");
    till.keys("000000");
    assert_eq!(till.value("Код из SMS клиента"), "000000");
    till.tap("Подтвердить код");
    till.expect("Неверный код из SMS. Осталось попыток: 4");
    till.expect("Осталось попыток: 4");
    assert_eq!(till.value("Код из SMS клиента"), "");
    till.no_outcome();
    till.picture("customer_spend_code_wrong");

    let code = rt.block_on(last_sms_code(rig.addr));
    till.keys(&code);
    till.tap("Подтвердить код");
    till.expect(AT_REGISTER);
    let (operation, spend, _) = sale(till.outcome());
    assert_eq!(spend, b("1500"));
    assert!(!operation.offline);
    till.expect_starting("Чек ui-code напечатан и проведён: списано 1\u{a0}500,");
}

/// A new customer registered «Без кода»: no SMS, accrual only, applied to the receipt.
/// At their next visit the code form comes again, and «Без кода» goes on to their card.
fn without_code(till: &Walk) {
    till.open(receipt("ui-nocode", "400.00"));
    till.type_into("Телефон клиента", "89994445566");
    till.tap("Найти");
    till.expect("Клиент не найден");
    till.expect("Телефон +7 999 444-55-66: зарегистрировать клиента?");
    till.check_buttons("not_found");
    till.tap("Зарегистрировать");
    till.expect("Регистрация клиента");
    till.expect("Шаг 1 из 4: код из SMS на +7 999 444-55-66");
    till.check_buttons("register_code");
    till.tap("Без кода");
    till.expect("Шаг 2 из 4: анкета, все поля необязательны");
    till.check_buttons("register_questionnaire");
    till.tap("Далее");
    till.expect("Шаг 3 из 4: согласия клиента");
    till.check("Согласие на обработку персональных данных (обязательно)");
    till.check_buttons("register_consents");
    till.tap("Далее");
    till.expect("Шаг 4 из 4: карта");
    till.check_buttons("register_card");
    till.tap("Без карты");

    // Their card: nothing to spend (and «Макс» spends nothing), the purchase accrues.
    till.expect("Клиент без имени");
    till.expect_no_problem();
    assert_eq!(till.value_of("Можно списать"), "0");
    till.tap("Макс");
    assert_eq!(till.value("Списать бонусов"), "");
    let accrued = till.value_of("Начислено бонусов");
    assert_ne!(accrued, "0");
    till.picture("customer_without_code");
    till.tap("Применить к чеку");
    till.expect(AT_REGISTER);
    let (_, spend, accrued_sale) = sale(till.outcome());
    assert_eq!(spend, Bonus::ZERO);
    assert!(accrued_sale > Bonus::ZERO);
    assert_eq!(accrued_sale.to_string().trim_end_matches(".00"), accrued);

    // The next visit: the phone is not verified, so the code form again, with «Без кода».
    till.open(receipt("ui-nocode-2", "400.00"));
    till.type_into("Телефон клиента", "9994445566");
    till.tap("Найти");
    till.expect("Подтверждение телефона");
    till.expect("Шаг 1 из 4: код из SMS на +7 999 444-55-66");
    till.tap("Без кода");
    till.expect_no_problem();
    assert_eq!(till.value_of("Можно списать"), "0");
    till.tap("Применить к чеку");
    let (_, spend, accrued) = sale(till.outcome());
    assert_eq!(spend, Bonus::ZERO);
    assert!(accrued > Bonus::ZERO);
}

/// Cancel from every screen a receipt can be on — find, the customer card, "not found",
/// and each step of a registration, walked forward to the card and back again — hands the
/// receipt back without loyalty and queues nothing.
fn cancel_at_every_step(till: &Walk, rig: &Rig, rt: &tokio::runtime::Runtime, terminal: &Terminal) {
    till.wait_until("the queue to drain", Walk::queue_empty);
    let before = server_operations(rig);
    let cancelled = |id: &str| {
        till.expect("Ожидание чека от кассы");
        assert_eq!(
            till.outcome(),
            Outcome::Cancelled {
                receipt_id: id.into()
            }
        );
        till.expect(&format!("Чек {id} передан кассе без бонусов"));
    };

    // The find screen.
    till.open(receipt("ui-cancel-find", "100.00"));
    till.tap("Отмена");
    cancelled("ui-cancel-find");

    // The customer card, with a spend typed.
    till.open(receipt("ui-cancel-card", "100.00"));
    till.type_into("Телефон клиента", "9990000001");
    till.tap("Найти");
    till.expect_starting("Карина");
    till.keys("50");
    till.tap("Отмена");
    cancelled("ui-cancel-card");

    // The spend code form: «Отмена» closes it, the next «Отмена» the receipt.
    till.open(receipt("ui-cancel-code", "9000.00"));
    till.type_into("Телефон клиента", "9990000003");
    till.tap("Найти");
    till.keys("1500");
    till.tap("Применить к чеку");
    till.expect("Подтвердить код");
    till.tap("Отмена");
    till.expect("Применить к чеку");
    till.no_outcome();
    till.tap("Отмена");
    cancelled("ui-cancel-code");

    // A registration: forward to the card step, then back one step at a time and out.
    let phone = "9997770011";
    till.open(receipt("ui-cancel-reg", "100.00"));
    till.type_into("Телефон клиента", phone);
    till.tap("Найти");
    till.expect("Клиент не найден");
    till.tap("Зарегистрировать");
    till.expect("Шаг 1 из 4: код из SMS на +7 999 777-00-11");
    till.tap("Отправить код");
    till.keys(&rt.block_on(last_sms_code(rig.addr)));
    till.tap("Подтвердить");
    till.expect("Шаг 2 из 4: анкета, все поля необязательны");
    till.field("Имя").set_accessible_value("Ольга");
    till.tap("Далее");
    till.expect("Шаг 3 из 4: согласия клиента");
    till.check("Согласие на обработку персональных данных (обязательно)");
    till.tap("Далее");
    till.expect("Шаг 4 из 4: карта");
    till.tap("Назад");
    till.expect("Шаг 3 из 4: согласия клиента");
    till.tap("Назад");
    till.expect("Шаг 2 из 4: анкета, все поля необязательны");
    till.tap("Назад");
    till.expect("Шаг 1 из 4: код из SMS на +7 999 777-00-11");
    till.no_outcome();
    till.tap("Отмена");
    till.expect("Клиент не найден");
    till.no_outcome();
    till.tap("Отмена");
    cancelled("ui-cancel-reg");

    // Nothing was queued, nothing reached the server, and the phone is still unknown.
    assert_eq!(terminal.status().queue.pending, 0);
    assert!(till.queue_empty(), "{:?}", till.labels());
    assert_eq!(server_operations(rig), before);
    till.open(receipt("ui-cancel-again", "100.00"));
    till.type_into("Телефон клиента", phone);
    till.tap("Найти");
    till.expect("Клиент не найден");
    till.tap("Отмена");
    cancelled("ui-cancel-again");
}

/// During a registration the code waits out its resend cooldown, then expires: the page
/// says so, «Отправить снова» sends a new one, and the registration goes on to the sale.
fn expired_code(till: &Walk, rig: &Rig, rt: &tokio::runtime::Runtime, clock: &ManualClock) {
    till.open(receipt("ui-expired", "700.00"));
    till.type_into("Телефон клиента", "9993330022");
    till.tap("Найти");
    till.tap("Зарегистрировать");
    till.tap("Отправить код");
    till.expect_no_problem();
    // The resend waits for the cooldown: the button counts down and ignores taps.
    let resend = till.button("Повтор через 60 с");
    assert_eq!(resend.accessible_enabled(), Some(false));
    resend.invoke_accessible_default_action();
    till.settle();
    till.expect("Повтор через 60 с");
    till.expect("Осталось попыток: 5");
    let old = rt.block_on(last_sms_code(rig.addr));

    // Six minutes later the code has expired (they live five).
    clock.advance(chrono::Duration::minutes(6));
    till.keys(&old);
    till.tap("Подтвердить");
    till.expect("Код из SMS устарел. Отправьте новый код");
    till.expect("Шаг 1 из 4: код из SMS на +7 999 333-00-22");
    till.picture("register_code_expired");
    till.tap("Отправить снова");
    till.expect_no_problem();
    till.expect("Повтор через 60 с");
    let new = rt.block_on(last_sms_code(rig.addr));
    till.keys(&new);
    till.tap("Подтвердить");
    till.expect("Шаг 2 из 4: анкета, все поля необязательны");
    till.tap("Далее");
    till.check("Согласие на обработку персональных данных (обязательно)");
    till.tap("Далее");
    till.tap("Виртуальная карта");
    till.expect("Клиент без имени");
    till.check_buttons("customer_registered");
    till.expect("Применить к чеку");
    till.tap("Применить к чеку");
    let (_, spend, accrued) = sale(till.outcome());
    assert_eq!(spend, Bonus::ZERO);
    assert!(accrued > Bonus::ZERO);
}

/// The server stops. Анна is found in the till's cache; the status bar says the server
/// does not answer (in English too); a spend above the offline limit per purchase is
/// refused in words that name the limit; a small spend goes into the queue. Past the
/// offline horizon nothing may be spent until a manager allows this sale with their code
/// and a reason. The server comes back and the queue drains.
fn offline(till: &Walk, rig: &mut Rig, clock: &ManualClock, terminal: &Terminal) {
    till.wait_until("the queue to drain", Walk::queue_empty);
    till.expect("На связи");
    rig.stop_server();

    till.open(receipt("ui-offline", "3000.00"));
    till.type_into("Телефон клиента", "9990000003");
    till.tap("Найти");
    till.expect_starting("Анна");
    till.expect("Офлайн");
    // The connection was refused: no answer at all, so the till asks the server nothing
    // until its probe hears it again, and says so.
    till.expect("Сервер не отвечает");
    till.expect_not("Нет связи");
    till.tap("English");
    till.expect("Server not answering");
    till.tap("Русский");
    // The cache keeps no card number: the card line does not claim she has none.
    till.expect("+7 *** ***-**-03 · Золотая");
    assert_eq!(till.value_of("Баланс"), "2\u{a0}000");
    till.picture("customer_offline");
    // «Макс» offline spends what the offline limits allow.
    till.tap("Макс");
    till.expect_no_problem();
    assert_eq!(till.value("Списать бонусов"), "1000");
    till.tap("Без списания");
    assert_eq!(till.value("Списать бонусов"), "");
    till.keys("1500");
    till.expect("Без сети можно списать не больше 1\u{a0}000 бонусов за покупку");
    // The receipt keeps the last spend that went through.
    assert_eq!(till.value_of("Списано бонусов"), "150");
    till.tap("Очистить");
    till.keys("200");
    till.expect_no_problem();
    assert_eq!(till.value_of("Списано бонусов"), "200");
    till.tap("Применить к чеку");
    till.expect(AT_REGISTER);
    let (first, spend, _) = sale(till.outcome());
    assert_eq!(spend, b("200"));
    assert!(first.offline);
    till.expect_starting("Чек ui-offline напечатан и проведён: списано 200,");
    till.expect("Сервер не отвечает");
    till.expect_starting("В очереди: 1,");

    // Three days and more without the server: the horizon stops any spend.
    clock.advance(chrono::Duration::hours(80));
    till.open(receipt("ui-override", "3000.00"));
    till.type_into("Телефон клиента", "9990000003");
    till.tap("Найти");
    till.expect("Офлайн");
    till.keys("200");
    till.expect("Касса без связи больше 72 ч: списание остановлено. Проверьте сеть");
    assert_eq!(till.value_of("Списано бонусов"), "0");

    // The manager's override: a reason is required, a cashier's code is not enough.
    till.field("Код менеджера").set_accessible_value("9999");
    till.tap("Разрешить");
    till.expect("Укажите причину");
    till.field("Код менеджера").set_accessible_value("1111");
    till.field("Причина")
        .set_accessible_value("постоянный клиент");
    till.tap("Разрешить");
    till.expect("Это может сделать только менеджер");
    till.field("Код менеджера").set_accessible_value("9999");
    till.tap("Разрешить");
    till.expect_no_problem();
    assert_eq!(till.value("Списать бонусов"), "200");
    assert_eq!(till.value_of("Списано бонусов"), "200");
    till.picture("customer_offline_override");
    till.tap("Применить к чеку");
    let (second, spend, _) = sale(till.outcome());
    assert_eq!(spend, b("200"));
    assert!(second.offline);
    // The sale, the audit of the override and this sale wait.
    till.expect_starting("В очереди: 3,");

    // The override was for that sale only.
    till.open(receipt("ui-override-2", "3000.00"));
    till.type_into("Телефон клиента", "9990000003");
    till.tap("Найти");
    till.keys("10");
    till.expect("Касса без связи больше 72 ч: списание остановлено. Проверьте сеть");
    till.tap("Отмена");
    assert!(matches!(till.outcome(), Outcome::Cancelled { .. }));

    // The server is back: the status bar goes green and the queue drains.
    rig.start_server();
    till.wait_until("the link and an empty queue", |t| {
        t.shows("На связи") && t.queue_empty()
    });
    assert_eq!(terminal.status().queue.pending, 0);
    assert_eq!((rig.applied(&first.id), rig.applied(&second.id)), (1, 1));
    let (event, reason) = crate::common::server::audit_events(&rig.server_data)
        .into_iter()
        .next()
        .unwrap();
    assert_eq!(
        (event.as_str(), reason.as_str()),
        ("offline_spend_override", "постоянный клиент")
    );
    assert!(terminal.conflicts().unwrap().is_empty());
}
