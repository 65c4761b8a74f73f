//! End to end, as a store runs it: `bonuskassa pos-sim` (the register) → the bridge on
//! 127.0.0.1 → the cashier's window (headless testing backend, driven by taps) → the till's
//! queue → the loyalty server. A sale with a registration, a sale with a spend, a partial
//! return of it, and an offline sale synced once the server is back.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::common::ui::{Till, headless};
use crate::common::{Rig, last_sms_code, quick_sync, wait_for};
use bonuskassa::bridge::{BridgeConfig, BridgeHandle};
use bonuskassa::cli::pos_sim::{Finish, PosSimArgs, PosSimJob};
use bonuskassa::clock::{Clock, SystemClock};
use i_slint_backend_testing::AccessibleRole;

const KEY: &str = "e2e-bridge-key-0123456789";

/// Runs `pos-sim` on a thread of its own, as the register would run beside the till.
fn pos_sim(bridge: &BridgeHandle, job: PosSimJob) -> JoinHandle<Result<String, String>> {
    let args = PosSimArgs {
        url: Some(format!("http://{}", bridge.addr)),
        key: Some(KEY.into()),
        data: None,
        job,
    };
    std::thread::spawn(move || bonuskassa::cli::pos_sim::run(&args).map_err(|e| e.message))
}

fn finish(id: &str) -> Finish {
    Finish {
        id: Some(id.into()),
        wait: 60,
        no_close: false,
        cancel: false,
    }
}

fn sale(id: &str) -> PosSimJob {
    PosSimJob::Sale {
        items: vec![
            "234.00:Капучино:coffee".into(),
            "150.00x2:Круассан:bakery".into(),
        ],
        receipt: None,
        finish: finish(id),
    }
}

/// What pos-sim printed once the register closed the receipt. (It closes as soon as it
/// sees the receipt applied, so the panel's "at the register" page may never be drawn.)
fn printed(register: JoinHandle<Result<String, String>>) -> String {
    let out = register
        .join()
        .expect("pos-sim ran")
        .expect("pos-sim closed the receipt");
    assert!(out.contains("printed and closed"), "{out}");
    out
}

/// The operation id pos-sim was told at close.
fn operation_id(out: &str) -> String {
    let after = out.split("operation ").nth(1).expect("an operation id");
    after.split_whitespace().next().unwrap().to_string()
}

#[test]
fn pos_sim_sells_registers_spends_returns_and_sells_offline_through_the_bridge() {
    let mut rig = Rig::new();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let terminal = Arc::new(rt.block_on(rig.enroll(clock.clone())));
    terminal.start_sync(quick_sync()).unwrap();
    rt.block_on(wait_for(&terminal, "the cache", |s| {
        s.cached_customers == 4
    }));

    headless();
    let till = Till::session(terminal.clone(), clock, "e2e_");
    let bridge = bonuskassa::bridge::spawn(
        BridgeConfig {
            port: 0,
            key: KEY.into(),
            close_timeout: Duration::from_secs(60),
        },
        till.handle.panel(),
    )
    .unwrap();
    let listener = bridge.bridge.clone();
    till.handle
        .on_outcome(Box::new(move |o| listener.outcome(o)));
    till.keys("1111");
    till.tap("Войти");
    till.expect("Ожидание чека от кассы");

    // A sale with a registration: a new phone, the SMS code, the questionnaire, consent.
    let register = pos_sim(&bridge, sale("e2e-1"));
    till.wait_to_show("Сумма чека: 534.00 ₽");
    till.type_into("Телефон клиента", "9995551234");
    till.tap("Найти");
    till.expect("Клиент не найден");
    till.tap("Зарегистрировать");
    till.tap("Отправить код");
    till.expect_starting("Повтор через");
    let code = rt.block_on(last_sms_code(rig.addr));
    till.type_into("Код из SMS", &code);
    till.tap("Подтвердить");
    till.field("Имя").set_accessible_value("Ольга");
    till.tap("Далее");
    till.element(
        "Согласие на обработку персональных данных (обязательно)",
        AccessibleRole::Checkbox,
    )
    .invoke_accessible_default_action();
    till.tap("Далее");
    till.expect("Шаг 4 из 4: карта");
    till.tap("Без карты");
    till.expect("Ольга");
    till.tap("Применить к чеку");
    let out = printed(register);
    assert!(out.contains("Начислено бонусов"), "{out}");
    let registered_sale = operation_id(&out);
    till.wait_to_show("Чек e2e-1 напечатан и проведён");

    // A sale with the most bonuses Карина may spend; the register prints the split prices.
    let register = pos_sim(&bridge, sale("e2e-2"));
    till.wait_to_show("Сумма чека: 534.00 ₽");
    till.type_into("Телефон клиента", "89990000001");
    till.tap("Найти");
    till.expect("Баланс");
    till.tap("Макс");
    till.tap("Применить к чеку");
    let out = printed(register);
    assert!(out.contains("Списано бонусов: 160"), "{out}");
    assert!(out.contains("to pay 374.00"), "{out}");
    let spend_sale = operation_id(&out);

    // A partial return: one croissant of that sale.
    let register = pos_sim(
        &bridge,
        PosSimJob::Return {
            sale: "e2e-2".into(),
            items: vec!["2:1".into()],
            finish: finish("e2e-ret"),
        },
    );
    till.wait_to_show("Возврат по чеку e2e-2");
    till.tap("Подтвердить возврат");
    let out = printed(register);
    assert!(out.contains("Возвращено бонусов"), "{out}");
    let partial_return = operation_id(&out);

    rt.block_on(wait_for(&terminal, "the sales to sync", |s| {
        s.queue.pending == 0
    }));
    for id in [&registered_sale, &spend_sale, &partial_return] {
        assert_eq!(rig.applied(id), 1, "operation {id}");
    }

    // Offline: the server is cut; Карина comes from the cache and the sale is queued.
    rig.stop_server();
    let register = pos_sim(&bridge, sale("e2e-offline"));
    till.wait_to_show("Сумма чека: 534.00 ₽");
    till.type_into("Телефон клиента", "89990000001");
    till.tap("Найти");
    till.expect("Баланс");
    till.expect("Офлайн");
    till.tap("Применить к чеку");
    let out = printed(register);
    assert!(out.contains("при связи с сервером"), "{out}");
    let offline_sale = operation_id(&out);
    assert_eq!(terminal.status().queue.pending, 1);
    rig.start_server();
    rt.block_on(wait_for(&terminal, "the offline sale to sync", |s| {
        s.queue.pending == 0
    }));
    assert_eq!(rig.applied(&offline_sale), 1);
}
