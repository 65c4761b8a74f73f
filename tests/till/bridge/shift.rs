//! The till's loyalty shift through the real bridge: the register opens it with its own
//! shift, a sale and a return are counted for the cashier who made them, the shift and its
//! figures survive a restart of the till, the close answers the final report with the
//! lines to print, and a repeated close is a safe retry.

use super::*;
use bonuskassa::bridge::wire::{PRINT_WIDTH, ShiftBy, ShiftReport, ShiftState};

impl Register<'_> {
    async fn shift(&self, method: &str, path: &str) -> ShiftReport {
        let answer = self.call(method, path, None).await;
        assert_eq!(answer.status, 200, "{}: {}", answer.what, answer.body);
        let report: ShiftReport = serde_json::from_value(answer.body.clone()).unwrap_or_else(|e| {
            panic!("{}: not a shift report ({e}): {}", answer.what, answer.body)
        });
        for line in &report.lines {
            let rule = line.chars().all(|c| c == '-' || c == '=');
            assert!(
                line.chars().count() <= PRINT_WIDTH && (russian(line) || rule),
                "{}: a printed line {line:?}",
                answer.what
            );
        }
        report
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_register_opens_the_shift_its_figures_survive_a_restart_and_the_close_prints_them() {
    let rig = Rig::new();
    let mut till = Headless::start(&rig, Some(CASHIER), LONG).await;
    let (sold, opened) = {
        let reg = Register::new(&till);
        let opened = reg.shift("POST", "/v1/shift/open").await;
        assert_eq!(
            (
                opened.number,
                opened.state,
                opened.opened_by,
                opened.already
            ),
            (1, ShiftState::Open, ShiftBy::Register, false)
        );
        assert!(opened.cashiers.is_empty());
        assert_eq!(opened.lines[0], "Отчёт лояльности за смену № 1");
        let again = reg.shift("POST", "/v1/shift/open").await;
        assert!(again.already, "a repeated open keeps the shift");
        assert_eq!(again.opened_at, opened.opened_at);

        // A sale with bonuses spent, and a return of part of it.
        let sale = receipt("sh-1", "2000.00");
        let sold = applied_sale(&till, &reg, &sale, true).await.result.unwrap();
        reg.close(&sale).await.ok(200);
        let ret = return_of("sh-ret-1", "sh-1", "1");
        reg.open(&ret).await.ok(201);
        tap(&till, Action::Apply).await;
        reg.get("sh-ret-1", 5).await.ok(200);
        reg.close(&ret).await.ok(200);
        (sold, opened)
    };

    till.restart(&rig, LONG).await;
    let reg = Register::new(&till);
    let report = reg.shift("GET", "/v1/shift/report").await;
    assert_eq!((report.number, report.state), (1, ShiftState::Open));
    assert_eq!(
        report.opened_at, opened.opened_at,
        "the shift survived the restart"
    );
    let t = &report.total;
    assert_eq!((t.receipts, t.returns, t.registrations), (1, 1, 0));
    assert_eq!(t.sum, sold.total);
    assert_eq!(t.spent, sold.spent);
    assert_eq!(
        t.sum - t.discount - bonuskassa::domain::money::Money::from_bonus(t.spent),
        sold.to_pay
    );
    assert!(
        t.accrued.amount() > Decimal::ZERO,
        "the sale accrued bonuses"
    );
    assert!(
        t.refunded.amount() > Decimal::ZERO,
        "the return gave back spent bonuses"
    );
    assert!(t.returned.amount() > Decimal::ZERO);
    assert_eq!(report.cashiers.len(), 1, "one cashier worked");
    assert_eq!(&report.cashiers[0].figures, t);
    let cashier_line = format!("Кассир: {}", report.cashiers[0].cashier);
    assert!(report.lines.contains(&cashier_line), "{:#?}", report.lines);
    assert_eq!(report.lines[2], "Смена не закрыта");

    let closed = reg.shift("POST", "/v1/shift/close").await;
    assert_eq!(
        (
            closed.number,
            closed.state,
            closed.closed_by,
            closed.already
        ),
        (1, ShiftState::Closed, Some(ShiftBy::Register), false)
    );
    assert_eq!(
        (&closed.total, &closed.cashiers),
        (&report.total, &report.cashiers)
    );
    assert!(
        closed.lines[2].starts_with("Закрыта "),
        "{:#?}",
        closed.lines
    );
    let again = reg.shift("POST", "/v1/shift/close").await;
    assert!(again.already, "a repeated close answers the same report");
    assert_eq!((again.number, &again.total), (1, &closed.total));

    // The next shift starts empty, from the close.
    let next = reg.shift("GET", "/v1/shift/report").await;
    assert_eq!(
        (next.number, next.state, next.opened_by),
        (2, ShiftState::Open, ShiftBy::Implicit)
    );
    assert_eq!(next.total.receipts, 0);
    // The register's client (pos-sim, the demo's register) reads the same answers.
    let opened = till.client.open_shift().await.unwrap();
    assert_eq!((opened.number, opened.opened_by), (2, ShiftBy::Register));
    assert_eq!(
        till.client.shift_report().await.unwrap().lines,
        opened.lines
    );
    let closed = till.client.close_shift().await.unwrap();
    assert_eq!((closed.number, closed.state), (2, ShiftState::Closed));
    // Only the key's holder sees it.
    reg.send("GET", "/v1/shift/report", None, None)
        .await
        .refused(401, "unauthorized");
}
