//! The customer card's «Согласия» through the real window: the consents in one line, the
//! panel in place of the tabs, the advertising switch, the withdrawal of the processing
//! consent after a confirmation (the card then says why nothing is accrued or spent, and
//! the keypad refuses), and the consent given again. Walked as part of the session walk
//! (`session.rs`): the testing backend keeps one event loop per process.

use crate::common::receipt;
use crate::common::server as srv;
use crate::common::ui::Till;
use crate::common::{Rig, wait_for};
use bonuskassa::checkout::Outcome;
use i_slint_backend_testing::AccessibleRole;

const WITHDRAWN: &str =
    "Клиент отозвал согласие на обработку данных: бонусы не начисляются и не списываются";

/// Анна, with a gold card's discount: her consents changed at the card, each queued at once.
pub(crate) fn consents(
    till: &Till,
    rig: &Rig,
    rt: &tokio::runtime::Runtime,
    terminal: &bonuskassa::terminal::Terminal,
) {
    till.open_card(receipt("ui-consents", "2000.00"), "9990000003");
    till.expect("Согласия: обработка ✓ · реклама ✓");
    assert!(!till.shows(WITHDRAWN));
    let discount = till.value_of("Скидка, ₽");
    assert_ne!(discount, "0.00", "a gold card's discount");
    assert_ne!(till.value_of("Начислено бонусов"), "0");

    till.tap("Согласия");
    till.expect("Согласия клиента");
    assert!(
        !till.shows("Списание") && !till.shows("Покупки") && !till.shows("Списать бонусов"),
        "the panel is in place of the tabs: {:?}",
        till.labels()
    );
    till.pictures_in_both_languages("customer_consents");

    till.element("Рекламные SMS", AccessibleRole::Checkbox)
        .invoke_accessible_default_action();
    till.settle();
    till.expect("Согласия: обработка ✓ · реклама ✗");

    till.tap("Отозвать согласие на обработку");
    till.expect_starting("Клиент отзывает согласие на обработку персональных данных.");
    assert!(
        !till.shows(WITHDRAWN),
        "nothing withdrawn before the confirmation"
    );
    till.picture("customer_consents_confirm");
    till.tap("Отозвать");
    till.expect(WITHDRAWN);
    assert!(
        !till.shows_starting("Согласия: обработка"),
        "the reason in its place"
    );
    till.expect("Клиент снова даёт согласие");
    assert_eq!(till.value_of("Скидка, ₽"), "0.00");
    assert_eq!(till.value_of("Начислено бонусов"), "0");
    assert_eq!(till.value_of("Можно списать"), "0");
    till.picture("customer_consent_withdrawn");

    // Back at the keypad, a spend is refused with the reason.
    till.tap("Готово");
    till.expect("Списать бонусов");
    till.keys("100");
    let reasons = till.labels().iter().filter(|l| *l == WITHDRAWN).count();
    assert_eq!(reasons, 2, "the card and the refusal: {:?}", till.labels());
    assert_eq!(till.value_of("Списано бонусов"), "0");

    // The customer agrees again.
    till.tap("Согласия");
    till.tap("Клиент снова даёт согласие");
    assert!(!till.shows(WITHDRAWN), "{:?}", till.labels());
    till.expect("Согласия: обработка ✓ · реклама ✗");
    assert_eq!(till.value_of("Скидка, ₽"), discount);
    assert_ne!(till.value_of("Начислено бонусов"), "0");
    till.tap("Готово");
    till.tap("Отмена");
    assert!(matches!(till.outcome(), Outcome::Cancelled { .. }));

    rt.block_on(wait_for(terminal, "the consents to sync", |s| {
        s.queue.pending == 0
    }));
    let rows = srv::consents(&rig.server_data, "+79990000003");
    assert_eq!(
        srv::consent_changes(&rows),
        [
            ("advertising", false),
            ("processing", false),
            ("processing", true)
        ]
    );
    assert!(
        rows[2..]
            .iter()
            .all(|r| r.cashier.is_some() && r.terminal_id.is_some())
    );
}
