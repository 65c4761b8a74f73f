//! The checkout screens over a real session, headless: a demo server on 127.0.0.1, a till
//! enrolled against it, and the session window on Slint's testing backend with the
//! software renderer, driven by accessible labels as a cashier's finger would.
//!
//! The session runs on its own worker thread and posts its views with
//! `invoke_from_event_loop`, so the test runs the testing backend's event loop (with
//! threading) until the worker is idle. Slint keeps that event loop's proxy once per
//! process, so all the flows walk in one test, one after another, on one window.
//!
//! With `BONUSKASSA_SCREENSHOTS=<dir>` set, the walk also writes a picture of each screen
//! (`session_*.png`, 800×600; the login and the customer card also in English and at
//! 1280×800; the login, find, registration and the manager's menu also on the portrait
//! 720×1280 terminal) into that directory; see `scripts/screenshots.sh`.

use crate::common::ui::{AT_REGISTER, Till, on_slint_thread};
use crate::common::{Rig, last_sms_code, receipt, return_of, wait_for};
use bonuskassa::checkout::{Action, Outcome, Withdrawal};
use bonuskassa::domain::money::Bonus;
use i_slint_backend_testing::AccessibleRole;

/// The fiscal QR code of a sale receipt printed at another till.
const FISCAL_QR: &str = "t=20261123T1200&s=800.00&fn=9960440300112233&i=4021&fp=2837461902&n=1";

#[test]
fn the_touch_screens_walk_a_sale_a_registration_a_return_and_the_manager_menu() {
    on_slint_thread(walk);
}

/// The test, on the Slint thread.
fn walk() {
    let mut rig = Rig::new();
    // Two statuses a cashier may issue, so the registration's card step offers the pick.
    rig.two_cashier_statuses();
    // The test's own runtime enrols the till and reads the demo SMS inbox; it stays alive
    // for the whole walk, since the till's HTTP connections were made on it.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (till, terminal) = Till::enrolled(&rig, &rt, "session_");

    // Login: a wrong code says so; the code is typed on the keypad and shown as dots.
    till.expect("Вход кассира");
    till.keys("0000");
    assert_eq!(
        till.field("Код кассира").accessible_value().as_deref(),
        Some("●●●●")
    );
    till.tap("Войти");
    till.expect_starting("Неверный код кассира");
    till.picture("login_wrong_code");
    // Five wrong codes lock the logins; a cashier's code cannot lift the lock, a
    // manager's can (audited), and the cashier then logs in.
    assert!(!till.shows("Разблокировать"));
    for _ in 0..4 {
        till.keys("0000");
        till.tap("Войти");
    }
    till.expect("Разблокировать");
    till.picture("login_locked");
    till.keys("1111");
    till.tap("Разблокировать");
    till.expect("Разблокировать");
    till.keys("9999");
    till.tap("Разблокировать");
    assert!(!till.shows("Разблокировать"), "the lock is lifted");
    till.keys("1111");
    till.pictures_in_both_languages("login");
    till.tap("Войти");
    till.expect("Ожидание чека от кассы");
    assert!(!till.shows("Режим менеджера"), "a cashier is no manager");
    till.expect_starting("На связи");
    till.picture("waiting");

    // A sale: find by phone, spend the most allowed, apply.
    till.handle.open_receipt(receipt("ui-1", "2000.00"));
    till.settle();
    till.expect("Сумма чека: 2\u{a0}300.00 ₽");
    till.type_into("Телефон клиента", "89990000001");
    assert_eq!(
        till.field("Телефон клиента").accessible_value().as_deref(),
        Some("+7 (999) 000-00-01")
    );
    till.pictures_in_portrait("find");
    till.tap("Найти");
    till.expect("Баланс");
    till.expect("500");
    till.tap("Макс");
    let spend = till
        .field("Списать бонусов")
        .accessible_value()
        .unwrap_or_default()
        .to_string();
    let spend: Bonus = spend.parse().expect("the spend field shows the maximum");
    assert!(
        spend > Bonus::ZERO && spend <= "500".parse().unwrap(),
        "{spend:?}"
    );
    till.pictures_in_both_languages("customer");
    till.tap("Применить к чеку");
    till.expect(AT_REGISTER);
    till.expect("Чек ui-1 передан кассе");
    till.picture("at_register");
    let Outcome::Sale { priced, .. } = till.outcome() else {
        panic!("not a sale")
    };
    assert_eq!((priced.receipt.id.as_str(), priced.spend), ("ui-1", spend));
    till.expect_starting("Чек ui-1 напечатан и проведён: списано");
    till.picture("waiting_after_sale");

    // A new customer: not found, registered with the SMS code, on to their card.
    till.handle.open_receipt(receipt("ui-2", "700.00"));
    till.settle();
    till.type_into("Телефон клиента", "9993210000");
    till.tap("Найти");
    till.expect("Клиент не найден");
    till.pictures_in_portrait("not_found");
    till.tap("Зарегистрировать");
    till.expect("Шаг 1 из 4: код из SMS на +7 999 321-00-00");
    till.tap("Отправить код");
    till.expect_starting("Повтор через");
    till.expect_starting("Осталось попыток:");
    till.type_into("Код из SMS", "000000");
    till.tap("Подтвердить");
    till.expect_starting("Неверный код из SMS");
    till.pictures_in_portrait("register_code");
    let code = rt.block_on(last_sms_code(rig.addr));
    till.type_into("Код из SMS", &code);
    till.tap("Подтвердить");
    till.expect("Шаг 2 из 4: анкета, все поля необязательны");
    till.field("Имя").set_accessible_value("Вера");
    till.field("Дата рождения, ДД.ММ.ГГГГ")
        .set_accessible_value("31.02.1990");
    till.tap("Далее");
    till.expect_starting("Дата рождения указана неверно");
    till.field("Дата рождения, ДД.ММ.ГГГГ")
        .set_accessible_value("17.05.1990");
    till.pictures_in_portrait("register_questionnaire");
    till.tap("Далее");
    till.expect("Шаг 3 из 4: согласия клиента");
    till.tap("Далее");
    till.expect_starting("Без согласия на обработку персональных данных");
    till.element(
        "Согласие на обработку персональных данных (обязательно)",
        AccessibleRole::Checkbox,
    )
    .invoke_accessible_default_action();
    till.pictures_in_portrait("register_consents");
    till.tap("Далее");
    till.expect("Шаг 4 из 4: карта");
    // The card status: the registration one is picked; Серебряная may be picked instead
    // (seed 004), and back again.
    till.expect("Статус карты");
    assert!(
        till.element("Стандартная", AccessibleRole::Button)
            .accessible_checked()
            .unwrap_or_default()
    );
    till.tap("Серебряная");
    assert!(
        till.element("Серебряная", AccessibleRole::Button)
            .accessible_checked()
            .unwrap_or_default()
    );
    assert!(
        !till
            .element("Стандартная", AccessibleRole::Button)
            .accessible_checked()
            .unwrap_or_default()
    );
    till.pictures_in_portrait("register_card");
    till.tap("Стандартная");
    assert!(
        till.element("Стандартная", AccessibleRole::Button)
            .accessible_checked()
            .unwrap_or_default()
    );
    till.tap("Виртуальная карта");
    till.expect("Вера");
    // The server registered her at once: the virtual card's number, and the welcome
    // bonus both as the balance and as what can be spent.
    till.expect_starting("Новая карта № 2");
    assert_eq!(till.value_of("Баланс"), "100");
    assert_eq!(till.value_of("Можно списать"), "100");
    till.picture("registered_card");
    till.tap("Применить к чеку");
    assert!(matches!(till.outcome(), Outcome::Sale { .. }));

    // The return of one croissant from the first sale.
    till.handle.open_receipt(return_of("ui-ret", "ui-1", "1"));
    till.settle();
    till.expect("Возврат по чеку ui-1");
    till.expect("Круассан");
    till.picture("return");
    till.tap("Подтвердить возврат");
    let Outcome::Return { result, .. } = till.outcome() else {
        panic!("not a return")
    };
    assert!(result.refunded > Bonus::ZERO);

    // A return whose sale no till has under this number: the till asks for the fiscal QR
    // code of the sale receipt, and the scanned code finds another till's sale.
    rig.sell_at_another_till(
        "+79990000001",
        &serde_json::to_value(receipt("ui-elsewhere", "500.00")).unwrap(),
        FISCAL_QR,
    );
    till.handle.open_receipt(return_of("ui-ret-2", "4021", "1"));
    till.settle();
    till.expect_starting("Продажа не найдена по номеру чека");
    till.picture("return_needs_fiscal_qr");
    till.handle.scan(FISCAL_QR.as_bytes().to_vec());
    till.settle();
    till.expect("Продажа сделана на кассе «Касса 7»");
    till.expect("Круассан");
    till.picture("return_found_by_fiscal_qr");
    till.tap("Подтвердить возврат");
    assert!(matches!(till.outcome(), Outcome::Return { .. }));

    // A receipt cancelled from the find screen goes back without loyalty.
    till.handle.open_receipt(receipt("ui-3", "100.00"));
    till.settle();
    till.tap("Отмена");
    assert_eq!(
        till.outcome(),
        Outcome::Cancelled {
            receipt_id: "ui-3".into()
        }
    );

    // The manager: the menu, a balance changed by hand, the conflicts, and back.
    till.tap("Выйти");
    till.keys("9999");
    till.tap("Войти");
    till.tap("Режим менеджера");
    till.expect("Изменить баланс");
    till.field("Телефон клиента")
        .set_accessible_value("+79990000004");
    till.field("Бонусов: 250 начислить, -250 списать")
        .set_accessible_value("250");
    till.element("Изменить баланс", AccessibleRole::Button)
        .invoke_accessible_default_action();
    till.settle();
    till.expect("Укажите причину");
    till.field("Причина").set_accessible_value("компенсация");
    till.element("Изменить баланс", AccessibleRole::Button)
        .invoke_accessible_default_action();
    till.settle();
    till.expect("Баланс изменён");
    till.pictures_in_portrait("manager");
    till.tap("QR для саморегистрации");
    till.element(crate::common::SELF_REGISTRATION_URL, AccessibleRole::Image);
    till.picture("self_registration");
    till.tap("Назад");
    till.tap("Конфликты");
    till.expect("Конфликтов нет");
    till.picture("conflicts");
    till.tap("Назад");
    till.tap("Назад");
    till.expect("Ожидание чека от кассы");

    // The customer lost the receipt: the manager finds their purchases by phone and picks
    // the sale (audited).
    till.handle.open_receipt(return_of("ui-ret-3", "lost", "1"));
    till.settle();
    till.expect_starting("Продажа не найдена по номеру чека");
    till.field("Телефон клиента")
        .set_accessible_value("+79990000001");
    till.expect("Чек потерян: найдите покупки клиента по телефону или отсканируйте его карту");
    till.tap("Покупки клиента");
    till.settle();
    till.expect("Карина С. · +7 *** ***-**-01 · карта ****0018");
    till.expect("Чек потерян: менеджер выбирает покупку клиента");
    till.expect("Чек ui-elsewhere");
    till.expect("Касса 7");
    till.picture("return_customer_purchases");
    till.tap("Вернуть по чеку ui-elsewhere");
    till.settle();
    till.expect("Продажа сделана на кассе «Касса 7»");
    till.expect("Круассан");
    till.picture("return_picked_purchase");
    till.tap("Подтвердить возврат");
    assert!(matches!(till.outcome(), Outcome::Return { .. }));

    // A conflict: a spend confirmed offline at this till, while Илья spent his bonuses at
    // another; the server refuses it once it is back. The manager's list words the reason
    // itself and names the customer and the receipt; «Решено» takes it off the list.
    rig.stop_server();
    till.handle.open_receipt(receipt("ui-conflict", "3000.00"));
    till.settle();
    till.type_into("Телефон клиента", "9990000002");
    till.tap("Найти");
    till.expect("Офлайн");
    till.tap("Макс");
    till.tap("Применить к чеку");
    let Outcome::Sale { priced, .. } = till.outcome() else {
        panic!("not a sale")
    };
    assert!(priced.offline && priced.spend > Bonus::ZERO, "{priced:?}");
    rig.spend_elsewhere("+79990000002");
    rig.start_server();
    terminal.refresh();
    rt.block_on(wait_for(&terminal, "the conflict", |s| {
        s.queue.conflicts == 1
    }));
    let conflict = terminal.conflicts().unwrap().remove(0);
    till.tap("Режим менеджера");
    till.tap("Конфликты");
    till.expect("Бонусов не хватило: их раньше списали на другой кассе");
    till.expect("Клиент: Илья П. · чек: ui-conflict");
    assert!(!till.shows("Конфликтов нет"));
    assert!(
        !till.labels().iter().any(|l| l.contains("INSUFFICIENT")),
        "the server's code is worded, not shown: {:?}",
        till.labels()
    );
    till.pictures_in_both_languages("conflicts_refused_sale");
    till.element(
        &format!("Решено: {}", conflict.operation_id),
        AccessibleRole::Button,
    )
    .invoke_accessible_default_action();
    till.settle();
    till.expect("Конфликтов нет");
    assert!(terminal.conflicts().unwrap().is_empty());
    till.tap("Назад");
    till.tap("Назад");
    till.expect("Ожидание чека от кассы");

    unconfirmed(&till, &rig, &rt, &terminal);
    held_at_another_till(&till, &rig, &rt);
    customer_purchases(&till, &mut rig);
    customer_history(&till, &mut rig, &rt, &terminal);
    shift_report(&till, &rt, &terminal);
    crate::consents::consents(&till, &rig, &rt, &terminal);
}

/// The customer card's «История»: Денис's lines in plain words, newest first — the
/// first-purchase gift and the accrual of a sale at «Касса 7», the manager's change with its
/// reason — and above them the nearest burn: the gift, in 30 days. Offline the tab says
/// the history needs the server.
fn customer_history(
    till: &Till,
    rig: &mut Rig,
    rt: &tokio::runtime::Runtime,
    terminal: &bonuskassa::terminal::Terminal,
) {
    // The server is back after the last step, and the manager's change of the walk has
    // reached it.
    rt.block_on(wait_for(terminal, "the server and a drained queue", |st| {
        !st.silent && st.online == Some(true) && st.queue.pending == 0
    }));
    rig.sell_at_another_till(
        "+79990000004",
        &serde_json::to_value(receipt("ui-history", "1000.00")).unwrap(),
        "t=20261124T1000&s=1000.00&fn=9960440300112233&i=4100&fp=2837460001&n=1",
    );
    till.open_card(receipt("ui-history-card", "300.00"), "9990000004");
    till.tap("История");
    // The gift burns in 30 days: "02.01.2027" across a new year, "17.06" within one.
    let now = chrono::Utc::now();
    let day = (now + chrono::Duration::days(30))
        .with_timezone(&chrono::Local)
        .date_naive();
    let burns_on = if chrono::Datelike::year(&day)
        == chrono::Datelike::year(&now.with_timezone(&chrono::Local))
    {
        day.format("%d.%m").to_string()
    } else {
        day.format("%d.%m.%Y").to_string()
    };
    till.expect(&format!("Сгорит 100 бонусов {burns_on}"));
    for text in [
        "Подарок за первую покупку",
        "+100",
        "Начислено за покупку",
        "+26",
        "Ручное изменение: компенсация",
        "+250",
    ] {
        till.expect(text);
    }
    let labels = till.labels();
    let at = |text: &str| labels.iter().position(|l| l == text).unwrap();
    assert!(
        at("Подарок за первую покупку") < at("Ручное изменение: компенсация"),
        "newest first: {labels:?}"
    );
    assert!(!till.shows("Списать бонусов"), "in place of the keypad");
    till.tap("English");
    till.expect(&format!("100 bonuses burn on {burns_on}"));
    till.expect("First purchase gift");
    till.tap("Русский");
    till.pictures_in_both_languages("customer_history");

    rig.stop_server();
    till.tap("История");
    till.expect(
        "Историю бонусов хранит сервер, а он сейчас не отвечает. Откройте «История» снова, когда связь вернётся",
    );
    assert!(!till.shows("Подарок за первую покупку"));
    till.tap("Списание");
    till.tap("Отмена");
    assert!(matches!(till.outcome(), Outcome::Cancelled { .. }));
    rig.start_server();
}

/// «Отчёт за смену» from the manager's menu: nobody opened a shift during the walk, so the
/// report holds all it made, per cashier and in total, as the till recorded it; the manager
/// opens the shift, then closes it and sees its final figures, and the next one is empty.
fn shift_report(
    till: &Till,
    rt: &tokio::runtime::Runtime,
    terminal: &bonuskassa::terminal::Terminal,
) {
    // The server is back after the purchases' offline step: the picture shows the till online.
    terminal.refresh();
    rt.block_on(wait_for(terminal, "the server", |s| s.online == Some(true)));
    let report = terminal.shift_report().unwrap();
    assert!(
        report.total.receipts >= 3 && report.total.returns >= 1,
        "{report:?}"
    );
    till.tap("Режим менеджера");
    till.tap("Отчёт за смену");
    till.expect("Отчёт лояльности за смену № 1");
    till.expect_starting("Смена не открыта: в отчёте всё, что сделано с ");
    for c in &report.cashiers {
        till.expect(&format!("Кассир: {}", c.cashier));
    }
    till.expect("Итого за смену");
    let receipts = |n: u32| format!("Чеков с картой {n} на ");
    let rows: Vec<String> = till
        .labels()
        .into_iter()
        .filter(|l| l.starts_with("Чеков с картой "))
        .collect();
    assert_eq!(
        rows.len(),
        report.cashiers.len() + 1,
        "each cashier and the total: {rows:?}"
    );
    assert!(
        rows.last()
            .unwrap()
            .starts_with(&receipts(report.total.receipts)),
        "{rows:?}"
    );
    till.expect_starting(&format!(
        "Регистраций {} · возвратов {} на ",
        report.total.registrations, report.total.returns
    ));
    till.pictures_in_both_languages("shift_report");

    till.tap("Открыть смену");
    till.expect_starting("Смена открыта ");
    assert!(
        !till.shows("Открыть смену"),
        "an open shift is not opened again"
    );
    till.tap("Закрыть смену");
    till.expect_starting("Смена закрыта ");
    assert!(!till.shows("Закрыть смену"));
    till.picture("shift_report_closed");
    let next = terminal.shift_report().unwrap();
    assert_eq!((next.shift.number, next.total.receipts), (2, 0));
    till.tap("Назад");
    till.tap("Отчёт за смену");
    till.expect("Отчёт лояльности за смену № 2");
    till.expect("В этой смене операций с картой ещё не было");
    till.tap("Назад");
    till.tap("Назад");
    till.expect("Ожидание чека от кассы");
}

/// The customer card's «Покупки»: Карина's purchases at every till, newest first — the sale
/// at «Касса 7» among them — with what came back of each; «Списание» brings the keypad back
/// with the spend as typed. Offline, the tab says in a sentence that the list needs the
/// server, and the card goes on.
fn customer_purchases(till: &Till, rig: &mut Rig) {
    till.open_card(receipt("ui-purchases", "2000.00"), "9990000001");
    till.keys("120");
    let spend = || till.field("Списать бонусов").accessible_value();
    assert_eq!(spend().as_deref(), Some("120"));

    till.tap("Покупки");
    assert_eq!(till.handle.try_outcome(), None);
    for text in [
        "Чек ui-elsewhere",
        "Касса 7",
        "Чек ui-1",
        "Касса 1",
        "Возвращено частично",
    ] {
        till.expect(text);
    }
    assert!(
        !till.shows("Списать бонусов"),
        "the purchases are shown in place of the keypad"
    );
    let receipts: Vec<String> = till
        .labels()
        .into_iter()
        .filter(|l| l.starts_with("Чек ui-"))
        .collect();
    assert_eq!(
        receipts.first().map(String::as_str),
        Some("Чек ui-unconfirmed-1"),
        "newest first: {receipts:?}"
    );
    assert!(receipts.iter().any(|r| r == "Чек ui-elsewhere"));
    till.pictures_in_both_languages("customer_purchases");

    till.tap("Списание");
    assert_eq!(spend().as_deref(), Some("120"));

    rig.stop_server();
    till.tap("Покупки");
    till.expect(
        "Покупки клиента хранит сервер, а он сейчас не отвечает. Откройте «Покупки» снова, когда связь вернётся",
    );
    assert!(!till.shows("Чек ui-elsewhere"));
    till.picture("customer_purchases_offline");
    till.tap("Списание");
    assert_eq!(spend().as_deref(), Some("120"));
    till.tap("Отмена");
    assert!(matches!(till.outcome(), Outcome::Cancelled { .. }));
    rig.start_server();
}

/// Two tills, one customer: while another till's register prints a spend of Анна's
/// bonuses, the server holds them, and this till's card shows them reserved and not
/// spendable; once the other till cancels, the whole balance is back.
fn held_at_another_till(till: &Till, rig: &Rig, rt: &tokio::runtime::Runtime) {
    let mut other = rt.block_on(rig.other_till("Касса 2"));
    rt.block_on(async {
        other
            .act(Action::OpenReceipt(receipt("other-1", "5000.00")))
            .await;
        other.act(Action::FindByPhone("+79990000003".into())).await;
        other.act(Action::SetSpend("1000".into())).await;
        other.act(Action::Apply).await;
    });
    let Some(Outcome::Applied(applied)) = other.take_outcome() else {
        panic!("not applied at the other till: {:?}", other.problem())
    };
    assert!(applied.held, "an online spend is held");

    let at_the_card = |id: &str| till.open_card(receipt(id, "5000.00"), "9990000003");
    at_the_card("ui-held");
    till.expect("В резерве на другой кассе");
    till.expect("1\u{a0}000");
    till.expect("2\u{a0}500");
    till.pictures_in_both_languages("customer_held_at_another_till");
    till.tap("Отмена");
    assert!(matches!(till.outcome(), Outcome::Cancelled { .. }));

    rt.block_on(other.act(Action::Cancel));
    at_the_card("ui-held-2");
    assert!(!till.shows("В резерве на другой кассе"));
    till.expect("3\u{a0}500");
    till.tap("Отмена");
    assert!(matches!(till.outcome(), Outcome::Cancelled { .. }));
}

/// The register never closes a receipt it got the discount for; the bridge takes it back
/// at the close timeout, and it waits on the manager's list «Неподтверждённые чеки»: one
/// is booked (its sale queued once), the next dropped (no sale), each with an audit record.
fn unconfirmed(
    till: &Till,
    rig: &Rig,
    rt: &tokio::runtime::Runtime,
    terminal: &bonuskassa::terminal::Terminal,
) {
    let never_closed = |id: &str| -> String {
        till.handle.open_receipt(receipt(id, "1250.00"));
        till.settle();
        till.type_into("Телефон клиента", "9990000001");
        till.tap("Найти");
        till.tap("Применить к чеку");
        let Some(Outcome::Applied(applied)) = till.handle.try_outcome() else {
            panic!("{id} was not applied")
        };
        // What the bridge does when `close_timeout_s` passes without the register's close.
        till.handle.act(Action::Withdraw {
            receipt_id: id.into(),
            why: Withdrawal::NoAnswer,
        });
        till.settle();
        let _ = till.handle.try_outcome();
        till.expect(&format!(
            "Касса не подтвердила печать чека {id}: он ждёт менеджера в списке «Неподтверждённые чеки»"
        ));
        applied.operation_id.to_string()
    };
    let booked = never_closed("ui-unconfirmed-1");
    till.tap("Режим менеджера");
    till.tap("Неподтверждённые чеки");
    till.expect_starting("Чек ui-unconfirmed-1 · ");
    till.expect("Сумма 1\u{a0}550.00 ₽ · списано бонусов 0");
    till.expect("Клиент: Карина С.");
    assert!(!till.shows("Неподтверждённых чеков нет"));
    till.pictures_in_both_languages("unconfirmed_receipts");
    till.element("Провести: ui-unconfirmed-1", AccessibleRole::Button)
        .invoke_accessible_default_action();
    till.settle();
    till.expect("Неподтверждённых чеков нет");
    till.picture("unconfirmed_receipts_booked");
    till.tap("Назад");
    till.tap("Назад");

    let dropped = never_closed("ui-unconfirmed-2");
    till.tap("Режим менеджера");
    till.tap("Неподтверждённые чеки");
    till.expect_starting("Чек ui-unconfirmed-2 · ");
    till.element("Отменить: ui-unconfirmed-2", AccessibleRole::Button)
        .invoke_accessible_default_action();
    till.settle();
    till.expect("Неподтверждённых чеков нет");
    till.tap("Назад");
    till.tap("Назад");
    till.expect("Ожидание чека от кассы");

    // Booked: the sale and its audit record; dropped: the audit record alone.
    assert!(terminal.unconfirmed().unwrap().is_empty());
    terminal.refresh();
    rt.block_on(wait_for(terminal, "the queue to drain", |s| {
        s.queue.pending == 0
    }));
    assert_eq!(rig.applied(&booked), 1, "the booked sale");
    assert_eq!(rig.applied(&dropped), 0, "no sale for the dropped receipt");
    let events: Vec<String> = crate::common::server::audit_events(&rig.server_data)
        .into_iter()
        .map(|(event, _)| event)
        .filter(|e| e.starts_with("unconfirmed_"))
        .collect();
    assert_eq!(
        events,
        ["unconfirmed_receipt_booked", "unconfirmed_receipt_dropped"]
    );
}
