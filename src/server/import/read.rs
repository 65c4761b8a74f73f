//! Reading a customer base file into rows of cells, as the person who made it sees them in
//! Excel: a CSV (`;`, `,` or tab separated; UTF-8 with or without a BOM, UTF-16 with a BOM,
//! or Windows-1251, as Russian Excel saves «CSV (разделители — точки с запятой)») or an XLSX
//! workbook (its first sheet). Every row keeps the number Excel shows beside it.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx, open_workbook_from_rs};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// The most data rows one file may have: a chain's base is tens of thousands of customers.
pub const MAX_ROWS: usize = 200_000;

/// One cell as read.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Empty,
    /// Text as typed, or a number written out in full (`79991234567`, `1234.5`).
    Text(String),
    /// An XLSX cell Excel keeps as a date.
    Date(NaiveDate),
}

impl Cell {
    /// The cell's text with the spaces around it trimmed; a date as `ДД.ММ.ГГГГ`.
    pub fn text(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            // A NUL means nothing in a spreadsheet's cell, and PostgreSQL cannot store one.
            Cell::Text(t) => t.replace('\0', "").trim().to_string(),
            Cell::Date(d) => d.format("%d.%m.%Y").to_string(),
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(t) => t.trim().is_empty(),
            Cell::Date(_) => false,
        }
    }
}

/// A row of the file: the number Excel shows beside it, and its cells.
#[derive(Debug, Clone, PartialEq)]
pub struct SheetRow {
    pub number: u32,
    pub cells: Vec<Cell>,
}

/// A file read: the header row's cells and the data rows after it (blank rows left out).
#[derive(Debug, Clone, PartialEq)]
pub struct Sheet {
    pub headers: Vec<String>,
    /// The number of the header row.
    pub header_row: u32,
    pub rows: Vec<SheetRow>,
    pub format: FileFormat,
}

/// How the file was read, for the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FileFormat {
    Csv {
        /// `utf-8`, `utf-8 with BOM`, `utf-16le`, `windows-1251`, …
        encoding: String,
        /// The separator found in the header row.
        separator: String,
    },
    Xlsx {
        /// The sheet read: the workbook's first.
        sheet: String,
    },
}

impl std::fmt::Display for FileFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileFormat::Csv {
                encoding,
                separator,
            } => {
                let sep = match separator.as_str() {
                    "\t" => "tab",
                    other => other,
                };
                write!(f, "CSV, {encoding}, separated by {sep}")
            }
            FileFormat::Xlsx { sheet } => write!(f, "XLSX, sheet «{sheet}»"),
        }
    }
}

/// Why a file cannot be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("the file is empty")]
    Empty,
    #[error("the file has no header row: the first row must name the columns")]
    NoHeader,
    #[error("the file has more than {MAX_ROWS} rows; split it into several files")]
    TooManyRows,
    #[error("the XLSX workbook cannot be read: {0}")]
    Xlsx(String),
    #[error("the XLSX workbook has no sheet")]
    NoSheet,
    #[error("the CSV file cannot be read at row {row}: {reason}")]
    Csv { row: u32, reason: String },
}

/// Reads a CSV or an XLSX file (told apart by their first bytes, not by a name).
pub fn read(bytes: &[u8]) -> Result<Sheet, FileError> {
    if bytes.is_empty() {
        return Err(FileError::Empty);
    }
    // An XLSX workbook is a ZIP archive.
    if bytes.starts_with(b"PK\x03\x04") {
        read_xlsx(bytes)
    } else {
        read_csv(bytes)
    }
}

/// The text of a CSV file and the name of its encoding.
fn decode(bytes: &[u8]) -> (String, String) {
    if let Some((encoding, bom)) = encoding_rs::Encoding::for_bom(bytes) {
        let (text, _) = encoding.decode_without_bom_handling(&bytes[bom..]);
        let name = encoding.name().to_ascii_lowercase();
        return (text.into_owned(), format!("{name} with BOM"));
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => (text.to_string(), "utf-8".into()),
        // Russian Excel saves CSV in the ANSI code page, Windows-1251, where every byte
        // is a character: the decoding cannot fail.
        Err(_) => {
            let (text, _) = encoding_rs::WINDOWS_1251.decode_without_bom_handling(bytes);
            (text.into_owned(), "windows-1251".into())
        }
    }
}

/// The separator of the header line: the most frequent of `;`, tab and `,` outside quotes
/// (`;` on a tie: what Russian Excel writes, since `,` is its decimal point).
fn separator(text: &str) -> u8 {
    let header = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    let mut counts = [(b';', 0usize), (b'\t', 0), (b',', 0)];
    let mut quoted = false;
    for b in header.bytes() {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted && let Some(c) = counts.iter_mut().find(|(s, _)| *s == b) {
            c.1 += 1;
        }
    }
    counts
        .iter()
        .max_by_key(|(s, n)| (*n, *s == b';'))
        .filter(|(_, n)| *n > 0)
        .map_or(b';', |(s, _)| *s)
}

fn read_csv(bytes: &[u8]) -> Result<Sheet, FileError> {
    let (text, encoding) = decode(bytes);
    let sep = separator(&text);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(sep)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut sheet = Rows::new();
    // Excel shows a cell's line breaks inside its one row: the row number is the line the
    // record starts on less the line breaks inside the cells before it.
    // Lines are counted here from the records' byte offsets.
    let mut breaks_before: u64 = 0;
    let mut lines = LineCounter::new(text.as_bytes());
    for record in reader.records() {
        let record = record.map_err(|e| FileError::Csv {
            row: e.position().map_or(0, |p| {
                excel_row(lines.line_at(p.byte() as usize), breaks_before)
            }),
            reason: csv_reason(&e),
        })?;
        let line = record
            .position()
            .map_or(1, |p| lines.line_at(p.byte() as usize));
        let number = excel_row(line, breaks_before);
        breaks_before += record
            .iter()
            .map(|f| f.matches('\n').count() as u64)
            .sum::<u64>();
        let cells: Vec<Cell> = record
            .iter()
            .map(|f| {
                if f.trim().is_empty() {
                    Cell::Empty
                } else {
                    Cell::Text(f.to_string())
                }
            })
            .collect();
        sheet.push(SheetRow { number, cells })?;
    }
    sheet.finish(FileFormat::Csv {
        encoding,
        separator: char::from(sep).to_string(),
    })
}

/// A sheet as its rows are read: the first non-blank row is the header.
struct Rows {
    header: Option<(u32, Vec<String>)>,
    rows: Vec<SheetRow>,
}

impl Rows {
    fn new() -> Rows {
        Rows {
            header: None,
            rows: Vec::new(),
        }
    }

    /// Takes a row: blank ones are left out, the first other one is the header.
    fn push(&mut self, row: SheetRow) -> Result<(), FileError> {
        if row.cells.iter().all(Cell::is_empty) {
            return Ok(());
        }
        if self.header.is_none() {
            self.header = Some((row.number, row.cells.iter().map(Cell::text).collect()));
            return Ok(());
        }
        if self.rows.len() == MAX_ROWS {
            return Err(FileError::TooManyRows);
        }
        self.rows.push(row);
        Ok(())
    }

    fn finish(self, format: FileFormat) -> Result<Sheet, FileError> {
        let (header_row, headers) = self.header.ok_or(FileError::NoHeader)?;
        Ok(Sheet {
            headers,
            header_row,
            rows: self.rows,
            format,
        })
    }
}

/// The 1-based line of byte offsets asked in increasing order.
struct LineCounter<'a> {
    text: &'a [u8],
    at: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a [u8]) -> LineCounter<'a> {
        LineCounter {
            text,
            at: 0,
            line: 1,
        }
    }

    /// The line of the first character at or after `offset` that is no line break: the csv
    /// crate may place a record at the line break that ended the one before it.
    fn line_at(&mut self, offset: usize) -> u64 {
        let mut end = offset.min(self.text.len());
        while end < self.text.len() && matches!(self.text[end], b'\r' | b'\n') {
            end += 1;
        }
        if end > self.at {
            self.line += self.text[self.at..end]
                .iter()
                .filter(|&&b| b == b'\n')
                .count() as u64;
            self.at = end;
        }
        self.line
    }
}

fn excel_row(line: u64, breaks_before: u64) -> u32 {
    u32::try_from(line.saturating_sub(breaks_before).max(1)).unwrap_or(u32::MAX)
}

/// What went wrong in a CSV record, without quoting the record (it holds personal data).
fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "the text is not in one encoding".into(),
        csv::ErrorKind::Io(io) => io.to_string(),
        _ => "the row is not valid CSV (look for an unclosed quote)".into(),
    }
}

fn read_xlsx(bytes: &[u8]) -> Result<Sheet, FileError> {
    let mut book: Xlsx<_> = open_workbook_from_rs(Cursor::new(bytes))
        .map_err(|e: calamine::XlsxError| FileError::Xlsx(e.to_string()))?;
    let sheet = book
        .sheet_names()
        .first()
        .cloned()
        .ok_or(FileError::NoSheet)?;
    let range = book
        .worksheet_range_at(0)
        .ok_or(FileError::NoSheet)?
        .map_err(|e| FileError::Xlsx(e.to_string()))?;
    let first_row = range.start().map_or(0, |(row, _)| row);
    let mut rows = Rows::new();
    for (i, row) in range.rows().enumerate() {
        let number = first_row.saturating_add(u32::try_from(i).unwrap_or(u32::MAX)) + 1;
        let cells: Vec<Cell> = row.iter().map(xlsx_cell).collect();
        rows.push(SheetRow { number, cells })?;
    }
    rows.finish(FileFormat::Xlsx { sheet })
}

/// The largest whole number an `f64` cell holds exactly.
const EXACT_INTEGER: f64 = 9_007_199_254_740_992.0;

fn xlsx_cell(d: &Data) -> Cell {
    match d {
        Data::Empty => Cell::Empty,
        Data::String(s) => Cell::Text(s.clone()),
        Data::Int(i) => Cell::Text(i.to_string()),
        // A phone or a card typed as a number arrives as a float: written out whole, never
        // as `7.9991234567e10`.
        Data::Float(f) if f.fract() == 0.0 && f.abs() < EXACT_INTEGER => {
            Cell::Text(format!("{f:.0}"))
        }
        Data::Float(f) => Cell::Text(f.to_string()),
        Data::Bool(b) => Cell::Text(b.to_string()),
        Data::DateTime(dt) => match dt.as_datetime() {
            Some(at) if dt.is_datetime() => Cell::Date(at.date()),
            _ => Cell::Text(dt.as_f64().to_string()),
        },
        Data::DateTimeIso(s) | Data::DurationIso(s) => Cell::Text(s.clone()),
        Data::Error(e) => Cell::Text(format!("#{e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_separator_is_the_header_lines_most_frequent() {
        assert_eq!(separator("Телефон;Имя;Баланс\n"), b';');
        assert_eq!(separator("phone,name\n"), b',');
        assert_eq!(separator("a\tb\tc\n"), b'\t');
        // A comma inside quotes is not a separator.
        assert_eq!(separator("\"Фамилия, имя\";Телефон\n"), b';');
        assert_eq!(separator("Телефон\n"), b';');
    }

    #[test]
    fn a_cells_line_breaks_do_not_shift_the_row_numbers() {
        let sheet = read("Телефон;Имя\n1;\"два\nстроки\"\n3;x\n\n5;y\n".as_bytes()).unwrap();
        let numbers: Vec<u32> = sheet.rows.iter().map(|r| r.number).collect();
        // Excel: header 1, the two-line cell in row 2, row 3, an empty row 4, row 5.
        assert_eq!(numbers, [2, 3, 5]);
    }

    #[test]
    fn a_file_with_no_header_is_refused() {
        assert_eq!(read(b""), Err(FileError::Empty));
        assert_eq!(read(b"\n\n;;\n"), Err(FileError::NoHeader));
        assert!(matches!(read(b"PK\x03\x04broken"), Err(FileError::Xlsx(_))));
    }

    fn texts(sheet: &Sheet) -> Vec<Vec<String>> {
        sheet
            .rows
            .iter()
            .map(|r| r.cells.iter().map(Cell::text).collect())
            .collect()
    }

    #[test]
    fn a_windows_1251_csv_with_semicolons_reads_as_russian_excel_saved_it() {
        let text =
            "Телефон;Фамилия;Имя;Баланс бонусов\r\n8 (999) 100-00-01;Ёлкина;Дарья;1 234,50\r\n";
        let (bytes, _, lossy) = encoding_rs::WINDOWS_1251.encode(text);
        assert!(!lossy);
        assert!(std::str::from_utf8(&bytes).is_err(), "really not UTF-8");
        let sheet = read(&bytes).unwrap();
        assert_eq!(
            sheet.headers,
            ["Телефон", "Фамилия", "Имя", "Баланс бонусов"]
        );
        assert_eq!(
            texts(&sheet),
            [["8 (999) 100-00-01", "Ёлкина", "Дарья", "1 234,50"]]
        );
        assert_eq!(sheet.rows[0].number, 2);
        assert_eq!(
            sheet.format,
            FileFormat::Csv {
                encoding: "windows-1251".into(),
                separator: ";".into()
            }
        );
    }

    #[test]
    fn a_utf8_csv_with_a_bom_and_commas_reads_without_the_bom() {
        let mut bytes = b"\xef\xbb\xbf".to_vec();
        bytes.extend_from_slice(
            "Телефон,Имя,Сумма покупок\n+7 999 100 00 02,Илья,\"12 500,00\"\n".as_bytes(),
        );
        let sheet = read(&bytes).unwrap();
        assert_eq!(
            sheet.headers[0], "Телефон",
            "no BOM glued to the first header"
        );
        assert_eq!(texts(&sheet), [["+7 999 100 00 02", "Илья", "12 500,00"]]);
        assert_eq!(
            sheet.format,
            FileFormat::Csv {
                encoding: "utf-8 with BOM".into(),
                separator: ",".into()
            }
        );
    }

    #[test]
    fn a_utf16_text_file_with_tabs_reads_too() {
        let text = "Телефон\tИмя\n9991000003\tАнна\n";
        let mut bytes = vec![0xff, 0xfe];
        for u in text.encode_utf16() {
            bytes.extend_from_slice(&u.to_le_bytes());
        }
        let sheet = read(&bytes).unwrap();
        assert_eq!(texts(&sheet), [["9991000003", "Анна"]]);
        assert_eq!(
            sheet.format,
            FileFormat::Csv {
                encoding: "utf-16le with BOM".into(),
                separator: "\t".into()
            }
        );
    }

    #[test]
    fn an_xlsx_workbook_reads_numbers_whole_and_dates_as_dates() {
        use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
        let mut book = Workbook::new();
        let sheet = book.add_worksheet();
        sheet.set_name("Клиенты").unwrap();
        for (col, h) in [
            "Телефон",
            "Имя",
            "Дата рождения",
            "Баланс бонусов",
            "Номер карты",
        ]
        .iter()
        .enumerate()
        {
            sheet.write_string(0, col as u16, *h).unwrap();
        }
        // Row 2 is left blank; the customer is in Excel's row 3.
        sheet.write_number(2, 0, 79991000004.0).unwrap();
        sheet.write_string(2, 1, "Пётр").unwrap();
        let date = ExcelDateTime::from_ymd(1990, 3, 5).unwrap();
        sheet
            .write_datetime_with_format(2, 2, &date, &Format::new().set_num_format("dd.mm.yyyy"))
            .unwrap();
        sheet.write_number(2, 3, 1234.5).unwrap();
        sheet.write_number(2, 4, 2900000000018.0).unwrap();
        let bytes = book.save_to_buffer().unwrap();

        let read = read(&bytes).unwrap();
        assert_eq!(
            read.format,
            FileFormat::Xlsx {
                sheet: "Клиенты".into()
            }
        );
        assert_eq!(read.rows.len(), 1);
        assert_eq!(read.rows[0].number, 3);
        assert_eq!(
            read.rows[0].cells,
            [
                Cell::Text("79991000004".into()),
                Cell::Text("Пётр".into()),
                Cell::Date(NaiveDate::from_ymd_opt(1990, 3, 5).unwrap()),
                Cell::Text("1234.5".into()),
                Cell::Text("2900000000018".into()),
            ]
        );
    }
}
