//! The till's loyalty shift through the bridge: the register opens and closes it with its
//! own shift and fetches the report to print («Отчёт лояльности за смену»).
use axum::extract::State as AxumState;
use chrono::{DateTime, Local, Utc};

use super::Bridge;
use super::http::Refusal;
use super::wire::{ErrorCode, PRINT_WIDTH, ShiftReport, ShiftState};
use crate::domain::money::{Bonus, Money};
use crate::store::{self, ShiftBy, ShiftFigures};
use crate::terminal::{Terminal, TerminalError};

/// The till's store, or why the bridge has none.
fn terminal(bridge: &Bridge) -> Result<std::sync::Arc<Terminal>, Refusal> {
    bridge.inner.panel.kept().ok_or_else(|| {
        Refusal::new(
            ErrorCode::Storage,
            "this till keeps no shifts: its panel has no store",
        )
    })
}

fn storage(e: TerminalError) -> Refusal {
    Refusal::new(
        ErrorCode::Storage,
        format!("the till's shift cannot be read or saved: {e}"),
    )
}

pub(super) async fn open_shift(
    AxumState(bridge): AxumState<Bridge>,
) -> Result<axum::Json<ShiftReport>, Refusal> {
    let till = terminal(&bridge)?;
    let opened = till.open_shift(ShiftBy::Register, None).map_err(storage)?;
    if !opened.already {
        tracing::info!(shift = opened.shift.number, "the register opened the shift");
    }
    let report = till.shift_report().map_err(storage)?;
    Ok(axum::Json(wire_report(&report, opened.already)))
}

pub(super) async fn close_shift(
    AxumState(bridge): AxumState<Bridge>,
) -> Result<axum::Json<ShiftReport>, Refusal> {
    let till = terminal(&bridge)?;
    let closed = till.close_shift(ShiftBy::Register, None).map_err(storage)?;
    if !closed.already {
        tracing::info!(
            shift = closed.report.shift.number,
            "the register closed the shift"
        );
    }
    Ok(axum::Json(wire_report(&closed.report, closed.already)))
}

pub(super) async fn shift_report(
    AxumState(bridge): AxumState<Bridge>,
) -> Result<axum::Json<ShiftReport>, Refusal> {
    let report = terminal(&bridge)?.shift_report().map_err(storage)?;
    Ok(axum::Json(wire_report(&report, false)))
}

/// A shift's report as the register gets it.
pub fn wire_report(report: &store::ShiftReport, already: bool) -> ShiftReport {
    let shift = &report.shift;
    ShiftReport {
        number: shift.number,
        state: if shift.is_open() {
            ShiftState::Open
        } else {
            ShiftState::Closed
        },
        opened_by: shift.opened_by,
        opened_at: shift.opened_at,
        closed_by: shift.closed_by,
        closed_at: shift.closed_at,
        already,
        total: report.total.clone(),
        cashiers: report.cashiers.clone(),
        lines: report_lines(report),
    }
}

/// The report to print, in Russian, each line at most [`PRINT_WIDTH`] characters: the
/// shift, then each cashier's figures, then the shift's.
pub fn report_lines(report: &store::ShiftReport) -> Vec<String> {
    let shift = &report.shift;
    let rule = "-".repeat(PRINT_WIDTH);
    let mut lines = vec![
        fit(format!("Отчёт лояльности за смену № {}", shift.number)),
        fit(format!(
            "Открыта {} ({})",
            local(shift.opened_at),
            by(shift.opened_by, shift.opener.as_deref())
        )),
    ];
    match (shift.closed_at, shift.closed_by) {
        (Some(at), Some(closer)) => lines.push(fit(format!(
            "Закрыта {} ({})",
            local(at),
            by(closer, shift.closer.as_deref())
        ))),
        _ => lines.push("Смена не закрыта".into()),
    }
    for c in &report.cashiers {
        lines.push(rule.clone());
        lines.push(fit(format!("Кассир: {}", c.cashier)));
        figure_lines(&c.figures, &mut lines);
    }
    lines.push(rule.replace('-', "="));
    lines.push("Итого за смену".into());
    figure_lines(&report.total, &mut lines);
    lines
}

fn figure_lines(f: &ShiftFigures, lines: &mut Vec<String>) {
    lines.push(row("Чеков с картой", &f.receipts.to_string()));
    lines.push(row("Сумма чеков", &rubles(f.sum)));
    lines.push(row("Скидки по картам", &rubles(f.discount)));
    lines.push(row("Списано бонусов", &bonuses(f.spent)));
    lines.push(row("Начислено бонусов", &bonuses(f.accrued)));
    lines.push(row("Регистраций", &f.registrations.to_string()));
    lines.push(row("Возвратов", &f.returns.to_string()));
    lines.push(row("Сумма возвратов", &rubles(f.returned)));
    lines.push(row("Возвращено бонусов", &bonuses(f.refunded)));
    lines.push(row("Списано начисленных", &bonuses(f.clawed_back)));
}

/// Who opened or closed the shift, in words.
fn by(who: ShiftBy, name: Option<&str>) -> String {
    match (who, name) {
        (ShiftBy::Register, _) => "касса".into(),
        (ShiftBy::Manager, Some(name)) => format!("менеджер {name}"),
        (ShiftBy::Manager, None) => "менеджер".into(),
        (ShiftBy::Implicit, _) => "первая операция".into(),
    }
}

fn local(at: DateTime<Utc>) -> String {
    at.with_timezone(&Local)
        .format("%d.%m.%Y %H:%M")
        .to_string()
}

fn rubles(m: Money) -> String {
    format!("{m} ₽")
}

/// Whole bonuses print without kopecks.
fn bonuses(b: Bonus) -> String {
    let s = b.to_string();
    s.strip_suffix(".00").map(str::to_string).unwrap_or(s)
}

/// A label on the left and its value on the right of a printed line.
fn row(label: &str, value: &str) -> String {
    let used = label.chars().count() + value.chars().count();
    let gap = PRINT_WIDTH.saturating_sub(used).max(1);
    fit(format!("{label}{}{value}", " ".repeat(gap)))
}

/// A line cut to the printed width.
fn fit(line: String) -> String {
    if line.chars().count() <= PRINT_WIDTH {
        line
    } else {
        line.chars().take(PRINT_WIDTH).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{CashierFigures, Shift};
    use chrono::TimeZone;

    #[test]
    fn the_printed_report_fits_the_width_and_names_each_cashier_and_the_total() {
        let at = Utc.with_ymd_and_hms(2026, 12, 3, 9, 0, 0).unwrap();
        let figures = ShiftFigures {
            receipts: 12,
            sum: "123456789.00".parse().unwrap(),
            spent: "150.00".parse().unwrap(),
            ..ShiftFigures::default()
        };
        let report = store::ShiftReport {
            shift: Shift {
                number: 7,
                after_seq: 0,
                until_seq: None,
                opened_at: at,
                opened_by: ShiftBy::Manager,
                opener: Some("Ольга Константиновна Длиннофамильная-Оченьдлинная".into()),
                closed_at: None,
                closed_by: None,
                closer: None,
            },
            cashiers: vec![CashierFigures {
                cashier: "Мария".into(),
                figures: figures.clone(),
            }],
            total: figures,
        };
        let lines = report_lines(&report);
        for l in &lines {
            assert!(l.chars().count() <= PRINT_WIDTH, "{l:?} is too wide");
        }
        assert_eq!(lines[0], "Отчёт лояльности за смену № 7");
        assert!(lines[1].starts_with("Открыта ") && lines[1].contains("менеджер Ольга"));
        assert_eq!(lines[2], "Смена не закрыта");
        assert!(lines.contains(&"Кассир: Мария".to_string()));
        let spent = lines.iter().filter(|l| l.starts_with("Списано бонусов"));
        assert!(
            spent
                .clone()
                .all(|l| l.ends_with(" 150") && l.chars().count() == 42)
        );
        assert_eq!(spent.count(), 2, "the cashier's and the total");
        assert!(lines.contains(&"Итого за смену".to_string()));
    }
}
