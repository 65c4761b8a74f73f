//! The columns of the customer base template (seed 004's «Формат файла для импорта
//! клиентов») and the reading of one cell of each: headers matched leniently (case, spaces,
//! ё/е, a unit in brackets, a few English names), dates as `ДД.ММ.ГГГГ`, ISO or an Excel
//! date cell, amounts with `,` or `.` decimals and spaces between thousands.

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::read::Cell;

/// A column of the template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Column {
    Phone,
    LastName,
    FirstName,
    MiddleName,
    BirthDate,
    Gender,
    Email,
    Card,
    CardStatus,
    Balance,
    PurchasesSum,
}

impl Column {
    pub const ALL: [Column; 11] = [
        Column::Phone,
        Column::LastName,
        Column::FirstName,
        Column::MiddleName,
        Column::BirthDate,
        Column::Gender,
        Column::Email,
        Column::Card,
        Column::CardStatus,
        Column::Balance,
        Column::PurchasesSum,
    ];

    /// The header the template gives the column.
    pub fn header(self) -> &'static str {
        match self {
            Column::Phone => "Телефон",
            Column::LastName => "Фамилия",
            Column::FirstName => "Имя",
            Column::MiddleName => "Отчество",
            Column::BirthDate => "Дата рождения",
            Column::Gender => "Пол",
            Column::Email => "E-mail",
            Column::Card => "Номер карты",
            Column::CardStatus => "Статус карты",
            Column::Balance => "Баланс бонусов",
            Column::PurchasesSum => "Сумма покупок",
        }
    }

    /// The headers that name the column, in [`normalize`]d form.
    fn names(self) -> &'static [&'static str] {
        match self {
            Column::Phone => &[
                "телефон",
                "номертелефона",
                "мобильныйтелефон",
                "телефонклиента",
                "сотовыйтелефон",
                "phone",
                "phonenumber",
                "mobile",
            ],
            Column::LastName => &["фамилия", "lastname", "surname", "familyname"],
            Column::FirstName => &["имя", "firstname", "name", "givenname"],
            Column::MiddleName => &["отчество", "middlename", "patronymic"],
            Column::BirthDate => &[
                "датарождения",
                "деньрождения",
                "birthdate",
                "birthday",
                "dateofbirth",
            ],
            Column::Gender => &["пол", "gender", "sex"],
            Column::Email => &[
                "email",
                "электроннаяпочта",
                "почта",
                "адресэлектроннойпочты",
                "mail",
            ],
            Column::Card => &[
                "номеркарты",
                "карта",
                "штрихкодкарты",
                "штрихкод",
                "card",
                "cardnumber",
            ],
            Column::CardStatus => &[
                "статускарты",
                "статус",
                "типкарты",
                "уровень",
                "cardstatus",
                "status",
                "level",
            ],
            Column::Balance => &[
                "балансбонусов",
                "баланс",
                "бонусы",
                "бонусныйбаланс",
                "количествобонусов",
                "остатокбонусов",
                "balance",
                "bonuses",
                "bonusbalance",
            ],
            Column::PurchasesSum => &[
                "суммапокупок",
                "общаясуммапокупок",
                "суммапокупокруб",
                "purchasessum",
                "purchases",
                "totalpurchases",
            ],
        }
    }

    /// The column a header names, if any.
    pub fn of_header(header: &str) -> Option<Column> {
        let h = normalize(header);
        Column::ALL
            .into_iter()
            .find(|c| c.names().contains(&h.as_str()))
    }
}

impl std::fmt::Display for Column {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.header())
    }
}

/// A header as compared: lower case, `ё` as `е`, a bracketed note (`Баланс (бонусы)`,
/// `Сумма покупок, руб.`) and everything but letters and digits dropped.
pub fn normalize(header: &str) -> String {
    let mut out = String::with_capacity(header.len());
    let mut depth = 0usize;
    let head = header.split(',').next().unwrap_or_default();
    for c in head.chars() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            _ if depth > 0 => {}
            c if c.is_alphanumeric() => {
                for l in c.to_lowercase() {
                    out.push(if l == 'ё' { 'е' } else { l });
                }
            }
            _ => {}
        }
    }
    out
}

/// Why a date cell does not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateError {
    NotADate,
    /// Before 1900 or after the import's day.
    OutOfRange,
}

/// A date: an Excel date cell, `ДД.ММ.ГГГГ` (or with `/`, or one-digit day and month),
/// `ГГГГ-ММ-ДД`; a time after it (`01.02.1990 0:00`, `1990-02-01T00:00:00`) is ignored.
/// A birth date must lie between 1900 and `today`.
pub fn date(cell: &Cell, today: NaiveDate) -> Result<Option<NaiveDate>, DateError> {
    let d = match cell {
        Cell::Empty => return Ok(None),
        Cell::Date(d) => *d,
        Cell::Text(t) => {
            let t = t.trim();
            if t.is_empty() {
                return Ok(None);
            }
            let day = t.split([' ', 'T']).next().unwrap_or_default();
            ["%d.%m.%Y", "%d/%m/%Y", "%Y-%m-%d"]
                .iter()
                .find_map(|f| NaiveDate::parse_from_str(day, f).ok())
                // Two-digit years are ambiguous (1925 or 2025?): refused, not guessed.
                .filter(|_| day.rsplit(['.', '/']).next().is_none_or(|y| y.len() != 2))
                .ok_or(DateError::NotADate)?
        }
    };
    if d.year() < 1900 || d > today {
        return Err(DateError::OutOfRange);
    }
    Ok(Some(d))
}

/// Why an amount does not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmountError {
    NotANumber,
    Negative,
    /// More than two digits after the decimal point: kopecks are the smallest unit.
    TooPrecise,
    TooLarge,
}

/// The largest amount accepted: ten billion (rubles or bonuses) per customer is no real
/// base, and far inside `i64` kopecks.
const MAX_AMOUNT: i64 = 10_000_000_000;

/// An amount in kopecks: `1 234,50`, `1234.5`, `1 234 ₽`, `500 руб.`; empty is 0.
pub fn amount(cell: &Cell) -> Result<i64, AmountError> {
    let text = cell.text();
    let mut s: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '\u{202f}' && *c != '\'')
        .collect();
    for unit in ["₽", "руб.", "руб", "р.", "rub"] {
        if let Some(rest) = s.to_lowercase().strip_suffix(unit) {
            s = rest.to_string();
            break;
        }
    }
    if s.is_empty() {
        return Ok(0);
    }
    let s = s.replace(',', ".");
    let negative = s.starts_with('-') || s.starts_with('\u{2212}');
    let digits = s.trim_start_matches(['-', '\u{2212}', '+']);
    if digits.is_empty()
        || digits.matches('.').count() > 1
        || !digits.chars().all(|c| c.is_ascii_digit() || c == '.')
    {
        return Err(AmountError::NotANumber);
    }
    let value: Decimal = digits.parse().map_err(|_| AmountError::NotANumber)?;
    if negative && !value.is_zero() {
        return Err(AmountError::Negative);
    }
    if value.normalize().scale() > 2 {
        return Err(AmountError::TooPrecise);
    }
    if value > Decimal::from(MAX_AMOUNT) {
        return Err(AmountError::TooLarge);
    }
    i64::try_from(value * Decimal::ONE_HUNDRED).map_err(|_| AmountError::TooLarge)
}

/// A gender: `м`, `муж`, `мужской`, `male`, `m` and the like; empty is not given; `Err`
/// for anything else.
pub fn gender(cell: &Cell) -> Result<Option<&'static str>, ()> {
    let text = cell.text();
    if text.is_empty() {
        return Ok(None);
    }
    match normalize(&text).as_str() {
        "м" | "муж" | "мужской" | "мужчина" | "m" | "male" | "man" => {
            Ok(Some("male"))
        }
        "ж" | "жен" | "женский" | "женщина" | "f" | "female" | "woman" => {
            Ok(Some("female"))
        }
        _ => Err(()),
    }
}

/// The longest e-mail address (RFC 5321's path limit).
const MAX_EMAIL: usize = 254;

/// Whether a text looks like an e-mail address: one `@` with something before it, a dot in
/// the domain, no spaces.
pub fn email_ok(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    s.chars().count() <= MAX_EMAIL
        && !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Cell {
        Cell::Text(s.into())
    }

    #[test]
    fn headers_match_whatever_their_case_spaces_and_notes() {
        assert_eq!(Column::of_header("Телефон"), Some(Column::Phone));
        assert_eq!(Column::of_header("  НОМЕР  ТЕЛЕФОНА "), Some(Column::Phone));
        assert_eq!(Column::of_header("Дата рождения"), Some(Column::BirthDate));
        assert_eq!(
            Column::of_header("Е-mail"),
            None,
            "a Cyrillic Е is no e-mail"
        );
        assert_eq!(Column::of_header("E-mail"), Some(Column::Email));
        assert_eq!(Column::of_header("Баланс (бонусы)"), Some(Column::Balance));
        assert_eq!(
            Column::of_header("Сумма покупок, руб."),
            Some(Column::PurchasesSum)
        );
        assert_eq!(Column::of_header("Статус карты"), Some(Column::CardStatus));
        assert_eq!(Column::of_header("статус_карты"), Some(Column::CardStatus));
        assert_eq!(Column::of_header("Отчёство"), Some(Column::MiddleName));
        assert_eq!(Column::of_header("Last name"), Some(Column::LastName));
        assert_eq!(Column::of_header("Комментарий"), None);
        for c in Column::ALL {
            assert_eq!(Column::of_header(c.header()), Some(c), "{c:?}");
        }
    }

    #[test]
    fn dates_read_in_russian_iso_and_excel_forms() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        let d = |y, m, dd| Ok(Some(NaiveDate::from_ymd_opt(y, m, dd).unwrap()));
        assert_eq!(date(&text("05.03.1990"), today), d(1990, 3, 5));
        assert_eq!(date(&text("5.3.1990"), today), d(1990, 3, 5));
        assert_eq!(date(&text("05/03/1990"), today), d(1990, 3, 5));
        assert_eq!(date(&text("1990-03-05"), today), d(1990, 3, 5));
        assert_eq!(date(&text("05.03.1990 0:00:00"), today), d(1990, 3, 5));
        assert_eq!(date(&text("1990-03-05T00:00:00"), today), d(1990, 3, 5));
        let excel = Cell::Date(NaiveDate::from_ymd_opt(1990, 3, 5).unwrap());
        assert_eq!(date(&excel, today), d(1990, 3, 5));
        assert_eq!(date(&Cell::Empty, today), Ok(None));
        assert_eq!(date(&text("05.03.90"), today), Err(DateError::NotADate));
        assert_eq!(date(&text("31.02.1990"), today), Err(DateError::NotADate));
        assert_eq!(date(&text("весной"), today), Err(DateError::NotADate));
        assert_eq!(date(&text("01.01.1880"), today), Err(DateError::OutOfRange));
        assert_eq!(date(&text("01.01.2030"), today), Err(DateError::OutOfRange));
    }

    #[test]
    fn amounts_read_with_either_decimal_mark_and_thousand_spaces() {
        assert_eq!(amount(&text("1 234,50")), Ok(123_450));
        assert_eq!(amount(&text("1\u{a0}234,5")), Ok(123_450));
        assert_eq!(amount(&text("1234.5")), Ok(123_450));
        assert_eq!(amount(&text("500 руб.")), Ok(50_000));
        assert_eq!(amount(&text("500₽")), Ok(50_000));
        assert_eq!(amount(&text("0")), Ok(0));
        assert_eq!(amount(&Cell::Empty), Ok(0));
        assert_eq!(amount(&text("-10")), Err(AmountError::Negative));
        assert_eq!(amount(&text("−10,5")), Err(AmountError::Negative));
        assert_eq!(amount(&text("1,234.5")), Err(AmountError::NotANumber));
        assert_eq!(amount(&text("сто")), Err(AmountError::NotANumber));
        assert_eq!(amount(&text("10,555")), Err(AmountError::TooPrecise));
        assert_eq!(amount(&text("10,500")), Ok(1_050));
        assert_eq!(amount(&text("99999999999")), Err(AmountError::TooLarge));
    }

    #[test]
    fn genders_and_emails() {
        assert_eq!(gender(&text("Ж")), Ok(Some("female")));
        assert_eq!(gender(&text("муж.")), Ok(Some("male")));
        assert_eq!(gender(&text("Female")), Ok(Some("female")));
        assert_eq!(gender(&Cell::Empty), Ok(None));
        assert_eq!(gender(&text("?")), Err(()));
        assert!(email_ok("anna@example.ru"));
        assert!(!email_ok("anna@example"));
        assert!(!email_ok("anna example.ru"));
        assert!(!email_ok("@example.ru"));
        assert!(!email_ok("a@b@example.ru"));
    }
}
