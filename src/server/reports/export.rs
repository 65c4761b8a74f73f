//! A report as a file for the accountant, or as a table for the terminal: CSV the way
//! Russian Excel opens it (UTF-8 with a BOM, `;` between fields, a decimal comma), XLSX
//! (`rust_xlsxwriter`), and aligned text. Column headers are Russian.

use rust_xlsxwriter::{Format, Workbook};

use super::{GroupBy, Report, ReportError, ReportLine};
use crate::server::store::Figures;

/// What a figure counts, for how it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A number of things.
    Count,
    /// Kopecks of rubles or of bonuses, written as rubles or bonuses with two decimals.
    Kopecks,
}

/// The figures' Russian headers and units, in [`Figures::to_array`]'s order.
pub const FIGURE_COLUMNS: [(&str, Unit); 15] = [
    ("Чеков с картой", Unit::Count),
    ("Выручка, ₽", Unit::Kopecks),
    ("Скидка, ₽", Unit::Kopecks),
    ("Начислено бонусов", Unit::Kopecks),
    ("Списано бонусов", Unit::Kopecks),
    ("Сгорело бонусов", Unit::Kopecks),
    ("Возвратов", Unit::Count),
    ("Возвращено покупателям, ₽", Unit::Kopecks),
    ("Возвращено бонусов по возвратам", Unit::Kopecks),
    ("Отменено начислений по возвратам", Unit::Kopecks),
    ("Новых клиентов", Unit::Count),
    ("Согласий на обработку дано", Unit::Count),
    ("Согласий на обработку отозвано", Unit::Count),
    ("Согласий на рассылку дано", Unit::Count),
    ("Согласий на рассылку отозвано", Unit::Count),
];

/// The line's own columns' headers, for a report cut this way.
pub fn key_headers(by: GroupBy) -> &'static [&'static str] {
    match by {
        GroupBy::Day => &["День"],
        GroupBy::Store => &["Магазин"],
        GroupBy::Cashier => &["Магазин", "Кассир"],
    }
}

/// Every header of a report's table.
pub fn headers(by: GroupBy) -> Vec<&'static str> {
    key_headers(by)
        .iter()
        .copied()
        .chain(FIGURE_COLUMNS.iter().map(|(h, _)| *h))
        .collect()
}

/// The word the total line carries in its first column.
pub const TOTAL: &str = "Итого";

/// The name of a cashier a line is of; nobody at a till is named so.
pub const NO_CASHIER: &str = "(без кассира)";

/// The text of a line's own columns.
fn key_cells(by: GroupBy, line: &ReportLine) -> Vec<String> {
    let store = || {
        line.store
            .as_ref()
            .map(|s| s.name.clone())
            .unwrap_or_default()
    };
    match by {
        GroupBy::Day => vec![
            line.day
                .map(|d| d.format("%d.%m.%Y").to_string())
                .unwrap_or_default(),
        ],
        GroupBy::Store => vec![store()],
        GroupBy::Cashier => vec![
            store(),
            match line.cashier.as_deref() {
                None | Some("") => NO_CASHIER.to_string(),
                Some(c) => c.to_string(),
            },
        ],
    }
}

/// The line's own cells, then the total's: every row of the table below the headers.
fn rows(report: &Report) -> Vec<(Vec<String>, Figures)> {
    let width = key_headers(report.by).len();
    let mut rows: Vec<(Vec<String>, Figures)> = report
        .lines
        .iter()
        .map(|l| (key_cells(report.by, l), l.figures))
        .collect();
    let mut total = vec![String::new(); width];
    total[0] = TOTAL.to_string();
    rows.push((total, report.total));
    rows
}

/// Kopecks as rubles with two decimals and the given decimal separator.
fn kopecks(k: i64, decimal: char) -> String {
    let sign = if k < 0 { "-" } else { "" };
    let k = k.unsigned_abs();
    format!("{sign}{}{decimal}{:02}", k / 100, k % 100)
}

fn figure_cells(f: &Figures, decimal: char) -> impl Iterator<Item = String> {
    f.to_array()
        .into_iter()
        .zip(FIGURE_COLUMNS)
        .map(move |(v, (_, unit))| match unit {
            Unit::Count => v.to_string(),
            Unit::Kopecks => kopecks(v, decimal),
        })
}

/// A CSV field, quoted when it holds the separator, a quote or a line break.
fn csv_field(s: &str) -> String {
    if s.contains([';', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The report as CSV for Russian Excel: a UTF-8 BOM, `;` between fields, CRLF line ends,
/// rubles and bonuses with a decimal comma.
pub fn to_csv(report: &Report) -> Vec<u8> {
    let mut out = String::from("\u{feff}");
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .map(|c| csv_field(c))
            .collect::<Vec<_>>()
            .join(";")
            + "\r\n"
    };
    out += &line(headers(report.by).into_iter().map(String::from).collect());
    for (key, figures) in rows(report) {
        out += &line(key.into_iter().chain(figure_cells(&figures, ',')).collect());
    }
    out.into_bytes()
}

/// The report as an XLSX workbook of one sheet: numbers as numbers (rubles and bonuses
/// with two decimals), the header row bold and frozen.
pub fn to_xlsx(report: &Report) -> Result<Vec<u8>, ReportError> {
    let fail = |e: rust_xlsxwriter::XlsxError| ReportError::Export(e.to_string());
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("Отчёт").map_err(fail)?;
    let bold = Format::new().set_bold();
    let money = Format::new().set_num_format("#,##0.00");
    let headers = headers(report.by);
    for (col, h) in headers.iter().enumerate() {
        let col = u16::try_from(col).map_err(|e| ReportError::Export(e.to_string()))?;
        sheet
            .write_string_with_format(0, col, *h, &bold)
            .map_err(fail)?;
        sheet
            .set_column_width(col, if col == 0 { 28 } else { 16 })
            .map_err(fail)?;
    }
    sheet.set_freeze_panes(1, 0).map_err(fail)?;
    let key_width = key_headers(report.by).len();
    for (i, (key, figures)) in rows(report).into_iter().enumerate() {
        let row = u32::try_from(i + 1).map_err(|e| ReportError::Export(e.to_string()))?;
        for (col, text) in key.iter().enumerate() {
            sheet.write_string(row, col as u16, text).map_err(fail)?;
        }
        for (j, (v, (_, unit))) in figures
            .to_array()
            .into_iter()
            .zip(FIGURE_COLUMNS)
            .enumerate()
        {
            let col = (key_width + j) as u16;
            match unit {
                // Counts and kopecks are far below 2^53: exact as a spreadsheet's number.
                Unit::Count => sheet.write_number(row, col, v as f64),
                Unit::Kopecks => sheet.write_number_with_format(row, col, v as f64 / 100.0, &money),
            }
            .map_err(fail)?;
        }
    }
    book.save_to_buffer().map_err(fail)
}

/// The report as an aligned text table for a terminal: the period, the headers, the lines
/// and the total.
pub fn to_table(report: &Report) -> String {
    let mut table: Vec<Vec<String>> =
        vec![headers(report.by).into_iter().map(String::from).collect()];
    for (key, figures) in rows(report) {
        table.push(key.into_iter().chain(figure_cells(&figures, ',')).collect());
    }
    let columns = table[0].len();
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            table
                .iter()
                .map(|r| r[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let key_width = key_headers(report.by).len();
    let mut out = format!(
        "Отчёт за {} – {}\n",
        report.period.first.format("%d.%m.%Y"),
        report.period.last.format("%d.%m.%Y")
    );
    for row in &table {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, text)| {
                let pad = " ".repeat(widths[c] - text.chars().count());
                if c < key_width {
                    format!("{text}{pad}")
                } else {
                    format!("{pad}{text}")
                }
            })
            .collect();
        out += cells.join("  ").trim_end();
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kopecks_are_written_with_two_decimals_and_their_sign() {
        assert_eq!(kopecks(123_456, ','), "1234,56");
        assert_eq!(kopecks(5, ','), "0,05");
        assert_eq!(kopecks(-250, '.'), "-2.50");
        assert_eq!(kopecks(0, ','), "0,00");
    }

    #[test]
    fn csv_fields_with_a_separator_or_a_quote_are_quoted() {
        assert_eq!(csv_field("Кофе у Карины"), "Кофе у Карины");
        assert_eq!(csv_field("Кофе; Тверская"), "\"Кофе; Тверская\"");
        assert_eq!(csv_field("«Ромашка» \"1\""), "\"«Ромашка» \"\"1\"\"\"");
    }
}
