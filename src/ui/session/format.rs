//! How the session's values read on screen: amounts grouped by thousands, bonuses without
//! kopecks when whole, local times, countdowns, the last receipt's line, the status bar,
//! the QR code's pixels, and the case of each problem (its words are in the `.slint` side).

use chrono::{DateTime, Local, Utc};
use slint::{Rgb8Pixel, SharedPixelBuffer, SharedString};

use crate::checkout::qr::QrModules;
use crate::checkout::{Applied, AppliedWhat, Outcome, Problem, ServerTrouble};
use crate::domain::money::Bonus;
use crate::domain::phone::Phone;
use crate::domain::receipt::Receipt;
use crate::domain::returns::ReturnedPart;
use crate::protocol::sales::KeptSale;
use crate::protocol::server::{
    CustomerView, DatedBonus, HistoryEntry, HistoryKind as ProtocolHistoryKind, HistoryResponse,
};
use crate::sync::worker::SyncStatus;
use crate::terminal::{OfflineLimit, Priced};
use crate::ui::{
    BonusesOnDay, HistoryKind, HistoryLine, LastReceipt, OutcomeKind, ProblemInfo, ProblemKind,
    PurchaseReturned, PurchaseRow, ReceiptInfo, ServerLink, TillStatus,
};

/// Pixels a QR module is wide, and the light border around the code (in modules) that
/// phone cameras need to find it.
const QR_MODULE_PX: usize = 8;
const QR_QUIET_MODULES: usize = 4;

/// Draws the QR code's modules black on white; the page scales the picture without
/// smoothing.
pub(super) fn qr_pixels(qr: &QrModules) -> SharedPixelBuffer<Rgb8Pixel> {
    let side = (qr.width + 2 * QR_QUIET_MODULES) * QR_MODULE_PX;
    let side_u32 = u32::try_from(side).unwrap_or(u32::MAX);
    let mut buffer = SharedPixelBuffer::<Rgb8Pixel>::new(side_u32, side_u32);
    for (i, pixel) in buffer.make_mut_slice().iter_mut().enumerate() {
        let (x, y) = (i % side / QR_MODULE_PX, i / side / QR_MODULE_PX);
        let dark = x >= QR_QUIET_MODULES
            && y >= QR_QUIET_MODULES
            && x < qr.width + QR_QUIET_MODULES
            && y < qr.width + QR_QUIET_MODULES
            && qr.is_dark(x - QR_QUIET_MODULES, y - QR_QUIET_MODULES);
        let v = if dark { 0 } else { 255 };
        *pixel = Rgb8Pixel { r: v, g: v, b: v };
    }
    buffer
}

/// The spend field after the session chose the spend: whole bonuses without ".00", and
/// empty (the field's "0" placeholder) for none.
pub(super) fn spend_field(spend_text: &str) -> String {
    let text = spend_text.trim();
    let text = text.strip_suffix(".00").unwrap_or(text);
    if text == "0" {
        String::new()
    } else {
        text.to_string()
    }
}

pub(super) fn receipt_info(receipt: &Receipt) -> ReceiptInfo {
    ReceiptInfo {
        id: receipt.id.clone().into(),
        total: money(&receipt.total().to_string()).into(),
    }
}

/// The customer's phone as their card shows it: the one the cashier found them by, or the
/// server's, masked either way.
pub(super) fn customer_phone(customer: &CustomerView, found_by: Option<&Phone>) -> String {
    found_by
        .map(Phone::masked)
        .unwrap_or_else(|| customer.phone_masked.clone())
}

/// The customer's purchases as listed: the till's local date and time, the till, the
/// receipt, the sum paid, and how much has come back.
pub(super) fn purchase_rows(sales: &[KeptSale]) -> Vec<PurchaseRow> {
    sales
        .iter()
        .map(|p| PurchaseRow {
            receipt: p.sale_ref.receipt_id.clone().into(),
            till: p.terminal_name.clone().into(),
            at: p
                .at
                .with_timezone(&Local)
                .format("%d.%m.%Y %H:%M")
                .to_string()
                .into(),
            paid: money(&p.paid().to_string()).into(),
            returned: match p.sale.returned_part(&p.returned) {
                ReturnedPart::Nothing => PurchaseReturned::Nothing,
                ReturnedPart::Part => PurchaseReturned::Part,
                ReturnedPart::All => PurchaseReturned::All,
            },
        })
        .collect()
}

/// The customer card's «История» as the page shows it.
#[derive(Debug, Default)]
pub(super) struct HistoryView {
    pub(super) lines: Vec<HistoryLine>,
    pub(super) activating: Vec<BonusesOnDay>,
    /// The nearest day bonuses burn; an empty date when none do.
    pub(super) burning: BonusesOnDay,
    pub(super) needs_server: bool,
}

/// How many days of bonuses still to activate the tab lists.
const ACTIVATING_DAYS_SHOWN: usize = 3;

/// The history lines in plain words with the till's local dates, the bonuses that become
/// spendable summed per local day (the first few days), and what burns on the nearest
/// local day. What is already due by `now` is left out: the server's job burns it.
pub(super) fn history_view(history: &HistoryResponse, now: DateTime<Utc>) -> HistoryView {
    let lines = history
        .entries
        .iter()
        .map(|e| HistoryLine {
            at: e
                .at
                .with_timezone(&Local)
                .format("%d.%m.%Y")
                .to_string()
                .into(),
            kind: history_kind(e.kind),
            amount: signed_bonus(e.amount).into(),
            spend: e.amount.is_negative(),
            note: history_note(e).into(),
        })
        .collect();
    let by_day = |dated: &[DatedBonus]| {
        let mut days: Vec<(chrono::NaiveDate, Bonus)> = Vec::new();
        for d in dated.iter().filter(|d| d.at > now) {
            let day = d.at.with_timezone(&Local).date_naive();
            match days.last_mut() {
                Some((last, sum)) if *last == day => {
                    *sum = Bonus::new(sum.amount() + d.amount.amount())
                }
                _ => days.push((day, d.amount)),
            }
        }
        days
    };
    let on_day = |(day, amount): (chrono::NaiveDate, Bonus)| BonusesOnDay {
        amount: bonus(amount).into(),
        count: plural_count(amount),
        date: day_of(day, now).into(),
    };
    HistoryView {
        lines,
        activating: by_day(&history.activating)
            .into_iter()
            .take(ACTIVATING_DAYS_SHOWN)
            .map(on_day)
            .collect(),
        burning: by_day(&history.burning)
            .into_iter()
            .next()
            .map(on_day)
            .unwrap_or_default(),
        needs_server: false,
    }
}

/// A day to come as the card names it: "15.01" in this year, "15.01.2027" in another (a
/// year-long batch burns on today's date next year, which must not read as today).
pub(super) fn day_of(day: chrono::NaiveDate, now: DateTime<Utc>) -> String {
    use chrono::Datelike;
    if day.year() == now.with_timezone(&Local).year() {
        day.format("%d.%m").to_string()
    } else {
        day.format("%d.%m.%Y").to_string()
    }
}

fn history_kind(kind: ProtocolHistoryKind) -> HistoryKind {
    use ProtocolHistoryKind as K;
    match kind {
        K::Purchase => HistoryKind::Purchase,
        K::Welcome => HistoryKind::Welcome,
        K::FirstPurchase => HistoryKind::FirstPurchase,
        K::Birthday => HistoryKind::Birthday,
        K::Referral => HistoryKind::Referral,
        K::Promotion => HistoryKind::Promotion,
        K::Manual => HistoryKind::Manual,
        K::ReturnRefund => HistoryKind::ReturnRefund,
        K::ReturnClawback => HistoryKind::ReturnClawback,
        K::Expiry => HistoryKind::Expiry,
        K::Import => HistoryKind::Import,
    }
}

/// What a line names beside its kind: a manual change's reason, a promotion's name — the
/// words a person wrote, shown as they are in either language.
fn history_note(e: &HistoryEntry) -> String {
    match e.kind {
        ProtocolHistoryKind::Manual => e
            .description
            .strip_prefix("Ручное изменение:")
            .unwrap_or(&e.description)
            .trim()
            .to_string(),
        ProtocolHistoryKind::Promotion => e.description.clone(),
        _ => String::new(),
    }
}

/// A history amount with its sign: "+45", "−12.50".
fn signed_bonus(b: Bonus) -> String {
    if b.is_negative() {
        format!("\u{2212}{}", bonus(Bonus::new(-b.amount())))
    } else {
        format!("+{}", bonus(b))
    }
}

/// The number that picks the plural form of «бонус» for an amount: the amount itself when
/// whole (its last two digits decide), 2 for a fraction, which Russian words with the
/// genitive singular («12.50 бонуса») and English with the plural.
fn plural_count(b: Bonus) -> i32 {
    let whole = b.amount().trunc();
    if whole != b.amount() {
        return 2;
    }
    // The last two digits pick the form in Russian; 100 more keeps a large amount plural
    // in English.
    let whole = b.kopecks() / 100;
    i32::try_from(if whole < 100 {
        whole
    } else {
        100 + whole % 100
    })
    .unwrap_or(2)
}

pub(super) fn sale_summary(priced: &Priced) -> LastReceipt {
    LastReceipt {
        kind: OutcomeKind::Sale,
        receipt: priced.receipt.id.clone().into(),
        spent: bonus(priced.calculation.spent).into(),
        accrued: bonus(priced.calculation.accrued).into(),
        to_pay: money(&priced.calculation.to_pay.to_string()).into(),
        ..LastReceipt::default()
    }
}

/// What an applied receipt gives the customer, while the register prints it.
pub(super) fn applied_summary(applied: &Applied) -> LastReceipt {
    match &applied.what {
        AppliedWhat::Sale { priced, .. } => sale_summary(priced),
        AppliedWhat::Return { result, .. } => LastReceipt {
            kind: OutcomeKind::Refund,
            receipt: applied.receipt.id.clone().into(),
            refunded: bonus(result.refunded).into(),
            clawed_back: bonus(result.clawed_back).into(),
            ..LastReceipt::default()
        },
    }
}

pub(super) fn last_receipt(outcome: &Outcome) -> LastReceipt {
    match outcome {
        Outcome::Applied(applied) => applied_summary(applied),
        Outcome::Sale { priced, .. } => sale_summary(priced),
        // The waiting page names the sale the return belongs to.
        Outcome::Return { result, .. } => LastReceipt {
            kind: OutcomeKind::Refund,
            receipt: result.original_receipt.clone().into(),
            refunded: bonus(result.refunded).into(),
            clawed_back: bonus(result.clawed_back).into(),
            ..LastReceipt::default()
        },
        Outcome::Cancelled { receipt_id } => LastReceipt {
            kind: OutcomeKind::Cancelled,
            receipt: receipt_id.clone().into(),
            ..LastReceipt::default()
        },
    }
}

/// Seconds from `now` until `at`, 0 when it has passed or is not set.
pub(super) fn seconds_until(at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> i32 {
    at.map_or(0, |at| {
        let ms = (at - now).num_milliseconds();
        // Rounded up, so the countdown shows 1 until the very end.
        i32::try_from((ms.max(0) + 999) / 1000).unwrap_or(i32::MAX)
    })
}

/// A moment in the till's local time: "14:05" today, "23.11 14:05" another day.
pub(super) fn local_time(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let (at, now) = (at.with_timezone(&Local), now.with_timezone(&Local));
    if at.date_naive() == now.date_naive() {
        at.format("%H:%M").to_string()
    } else {
        at.format("%d.%m %H:%M").to_string()
    }
}

pub(super) fn till_status(status: &SyncStatus, now: DateTime<Utc>) -> TillStatus {
    TillStatus {
        link: if status.silent {
            ServerLink::Silent
        } else if status.online == Some(true) {
            ServerLink::Online
        } else {
            ServerLink::Offline
        },
        paused: status.paused.is_some(),
        queue: i32::try_from(status.queue.pending).unwrap_or(i32::MAX),
        oldest_minutes: status.queue.oldest_pending_at.map_or(0, |at| {
            i32::try_from((now - at).num_minutes().max(0)).unwrap_or(i32::MAX)
        }),
        last_sync: status
            .last_sync
            .map(|at| local_time(at, now))
            .unwrap_or_default()
            .into(),
        loading: status.cache.loading,
        loaded: i32::try_from(status.cache.loaded).unwrap_or(i32::MAX),
        total: i32::try_from(status.cache.total).unwrap_or(i32::MAX),
    }
}

/// Groups the whole part of a decimal string by thousands with no-break spaces:
/// "12345.60" → "12 345.60".
pub(super) fn group_thousands(text: &str) -> String {
    let (sign, rest) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text),
    };
    let (whole, fraction) = match rest.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (rest, None),
    };
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push('\u{a0}');
        }
        grouped.push(c);
    }
    match fraction {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// Rubles as shown: "2 300.00".
pub(super) fn money(text: &str) -> String {
    group_thousands(text)
}

/// Bonuses as shown: whole bonuses without kopecks ("500"), others with them ("12.50").
pub(super) fn bonus(b: Bonus) -> String {
    let text = b.to_string();
    let text = text.strip_suffix(".00").unwrap_or(&text);
    group_thousands(text)
}

pub(super) fn info(
    kind: ProblemKind,
    figure: impl Into<SharedString>,
    detail: &str,
) -> ProblemInfo {
    ProblemInfo {
        kind,
        figure: figure.into(),
        detail: detail.into(),
    }
}

/// The case of a problem and its figure; the words are in problem_banner.slint.
pub(super) fn problem_info(problem: &Problem) -> ProblemInfo {
    use ProblemKind as K;
    let plain = |kind| info(kind, "", "");
    let tries = |t: &Option<u32>| t.map(|n| n.to_string()).unwrap_or_default();
    let amount = |s: &str| s.parse::<Bonus>().map(bonus).unwrap_or_else(|_| s.into());
    match problem {
        Problem::NotLoggedIn => plain(K::NotLoggedIn),
        Problem::LoggedOutIdle { minutes } => info(K::LoggedOutIdle, minutes.to_string(), ""),
        Problem::WrongCashierCode { tries_left } => {
            info(K::WrongCashierCode, tries(tries_left), "")
        }
        Problem::CashierLocked { seconds } => info(K::CashierLocked, seconds.to_string(), ""),
        Problem::Busy => plain(K::Busy),
        Problem::ReceiptOpen => plain(K::ReceiptOpen),
        Problem::NothingOpen => plain(K::NothingOpen),
        Problem::NoSuchReceipt => plain(K::NoSuchReceipt),
        Problem::SetupOpen => plain(K::NothingOpen),
        Problem::NotApplied => plain(K::NotApplied),
        Problem::ReceiptChanged(d) => info(K::ReceiptChanged, "", d),
        Problem::BadReceipt(d) => info(K::BadReceipt, "", d),
        Problem::BadPhone => plain(K::BadPhone),
        Problem::BadCard(d) => info(K::BadCard, "", d),
        Problem::BadScan(d) => info(K::BadScan, "", d),
        Problem::NotFound => plain(K::NotFound),
        Problem::BadSpend => plain(K::BadSpend),
        Problem::SpendAboveMax { max } => info(K::SpendAboveMax, amount(max), ""),
        Problem::BonusesTaken { spend } => info(K::BonusesTaken, amount(spend), ""),
        Problem::SpendStep { step } => info(K::SpendStep, amount(step), ""),
        Problem::Offline(limit) => match limit {
            OfflineLimit::NotAllowed => plain(K::OfflineNotAllowed),
            OfflineLimit::HorizonPassed { hours } => info(K::OfflineHorizon, hours.to_string(), ""),
            OfflineLimit::NeverSynced => plain(K::OfflineNeverSynced),
            OfflineLimit::NotVerified => plain(K::OfflineNotVerified),
            OfflineLimit::PerOperation { max } => info(K::OfflinePerOperation, bonus(*max), ""),
            OfflineLimit::TerminalBudget { left } => {
                info(K::OfflineTerminalBudget, bonus(*left), "")
            }
            OfflineLimit::NeedsCode { over } => info(K::OfflineNeedsCode, bonus(*over), ""),
        },
        Problem::NeedsServer => plain(K::NeedsServer),
        Problem::SpendNeedsCode => plain(K::SpendNeedsCode),
        Problem::SpendCodeNeedsPhone => plain(K::SpendCodeNeedsPhone),
        Problem::CodeWrong { tries_left } => info(K::CodeWrong, tries(tries_left), ""),
        Problem::CodeExpired => plain(K::CodeExpired),
        Problem::TooManyTries => plain(K::TooManyTries),
        Problem::Cooldown { seconds } => info(K::Cooldown, seconds.to_string(), ""),
        Problem::RateLimited => plain(K::RateLimited),
        Problem::SmsFailed => plain(K::SmsFailed),
        Problem::CodeRequired => plain(K::CodeRequired),
        Problem::ConsentRequired => plain(K::ConsentRequired),
        Problem::ProcessingConsentWithdrawn => plain(K::ProcessingConsentWithdrawn),
        Problem::BadEmail => plain(K::BadEmail),
        Problem::BadBirthDate => plain(K::BadBirthDate),
        Problem::AlreadyRegistered => plain(K::AlreadyRegistered),
        Problem::StatusNotIssuable(s) => info(K::StatusNotIssuable, s.as_str(), ""),
        Problem::SaleNotKept => plain(K::SaleNotKept),
        Problem::SaleElsewhereOffline => plain(K::SaleElsewhereOffline),
        Problem::FiscalSaleNotFound => plain(K::FiscalSaleNotFound),
        Problem::BadReturn(d) => info(K::BadReturn, "", d),
        Problem::ManagerOnly => plain(K::ManagerOnly),
        Problem::BadAmount => plain(K::BadAmount),
        Problem::ReasonRequired => plain(K::ReasonRequired),
        Problem::SelfRegistrationNotConfigured => plain(K::SelfRegistrationNotConfigured),
        Problem::NoRules => plain(K::NoRules),
        Problem::DiskFull => plain(K::DiskFull),
        Problem::Storage(d) => info(K::Storage, "", d),
        Problem::NotEnrolled => plain(K::NotEnrolled),
        Problem::Server(ServerTrouble::Unreadable) => plain(K::ServerUnreadable),
        Problem::Server(ServerTrouble::Settings) => plain(K::ServerSettings),
        Problem::Server(trouble) => info(K::Server, trouble.code(), ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dated(amount: &str, at: DateTime<Utc>) -> DatedBonus {
        DatedBonus {
            amount: Bonus::parse_non_negative(amount).unwrap(),
            at,
        }
    }

    #[test]
    fn the_history_sums_bonuses_per_local_day_and_shows_the_nearest_burn() {
        use chrono::TimeZone;
        let now = Local
            .with_ymd_and_hms(2026, 12, 3, 12, 0, 0)
            .unwrap()
            .to_utc();
        let on = |d: u32, h: u32| {
            Local
                .with_ymd_and_hms(2026, 12, d, h, 0, 0)
                .unwrap()
                .to_utc()
        };
        let history = HistoryResponse {
            customer_id: "c".into(),
            balance: Bonus::ZERO,
            pending: Bonus::ZERO,
            entries: vec![
                HistoryEntry {
                    at: on(2, 10),
                    amount: Bonus::new(rust_decimal::Decimal::new(-1250, 2)),
                    kind: ProtocolHistoryKind::Purchase,
                    description: "Списание при оплате покупки (чек 7)".into(),
                },
                HistoryEntry {
                    at: on(1, 10),
                    amount: Bonus::parse_non_negative("250").unwrap(),
                    kind: ProtocolHistoryKind::Manual,
                    description: "Ручное изменение: компенсация".into(),
                },
            ],
            activating: vec![
                dated("10", on(4, 9)),
                dated("11", on(4, 18)),
                dated("5", on(6, 9)),
                dated("1", on(7, 9)),
                dated("1", on(8, 9)),
            ],
            // Already due by now: the server's job burns it, the card does not promise it.
            burning: vec![
                dated("7", on(3, 11)),
                dated("100", on(20, 9)),
                dated("21", on(20, 23)),
                dated("500", on(25, 9)),
            ],
        };
        let v = history_view(&history, now);
        let lines: Vec<(String, HistoryKind, String, bool, String)> = v
            .lines
            .iter()
            .map(|l| {
                (
                    l.at.to_string(),
                    l.kind,
                    l.amount.to_string(),
                    l.spend,
                    l.note.to_string(),
                )
            })
            .collect();
        assert_eq!(
            lines,
            [
                (
                    "02.12.2026".into(),
                    HistoryKind::Purchase,
                    "\u{2212}12.50".into(),
                    true,
                    String::new()
                ),
                (
                    "01.12.2026".into(),
                    HistoryKind::Manual,
                    "+250".into(),
                    false,
                    "компенсация".into()
                ),
            ]
        );
        let days: Vec<(String, i32, String)> = v
            .activating
            .iter()
            .map(|d| (d.amount.to_string(), d.count, d.date.to_string()))
            .collect();
        assert_eq!(
            days,
            [
                ("21".into(), 21, "04.12".into()),
                ("5".into(), 5, "06.12".into()),
                ("1".into(), 1, "07.12".into()),
            ]
        );
        assert_eq!(
            (
                v.burning.amount.as_str(),
                v.burning.count,
                v.burning.date.as_str()
            ),
            ("121", 121, "20.12")
        );
        assert!(!v.needs_server);

        let next_year = Local
            .with_ymd_and_hms(2027, 12, 3, 12, 0, 0)
            .unwrap()
            .to_utc();
        let far = history_view(
            &HistoryResponse {
                activating: Vec::new(),
                burning: vec![dated("500", next_year)],
                ..history.clone()
            },
            now,
        );
        assert_eq!(far.burning.date, "03.12.2027", "not to be read as today");

        let nothing = history_view(
            &HistoryResponse {
                activating: Vec::new(),
                burning: Vec::new(),
                ..history
            },
            now,
        );
        assert!(nothing.activating.is_empty());
        assert_eq!(nothing.burning.date, "");
    }

    #[test]
    fn the_plural_count_keeps_the_last_two_digits_and_words_fractions_as_few() {
        let n = |s: &str| plural_count(Bonus::parse_non_negative(s).unwrap());
        assert_eq!(n("1"), 1);
        assert_eq!(n("21"), 21);
        assert_eq!(n("111"), 111);
        assert_eq!(n("1001"), 101);
        assert_eq!(n("1012"), 112);
        assert_eq!(n("12.50"), 2);
        assert_eq!(n("0"), 0);
    }

    #[test]
    fn amounts_are_grouped_and_whole_bonuses_lose_their_kopecks() {
        assert_eq!(money("2300.00"), "2\u{a0}300.00");
        assert_eq!(money("-1234567.5"), "-1\u{a0}234\u{a0}567.5");
        assert_eq!(money("12.00"), "12.00");
        assert_eq!(bonus("500".parse().unwrap()), "500");
        assert_eq!(bonus("12.5".parse().unwrap()), "12.50");
        assert_eq!(spend_field("0.00"), "");
        assert_eq!(spend_field("230.00"), "230");
    }

    #[test]
    fn a_silent_server_shows_as_silent_whatever_the_last_answer_said() {
        let now = Utc::now();
        let link = |online, silent| {
            till_status(
                &SyncStatus {
                    online,
                    silent,
                    ..SyncStatus::default()
                },
                now,
            )
            .link
        };
        assert_eq!(link(None, false), ServerLink::Offline);
        assert_eq!(link(Some(false), false), ServerLink::Offline);
        assert_eq!(link(Some(true), false), ServerLink::Online);
        assert_eq!(link(Some(false), true), ServerLink::Silent);
        // What the till acts on wins: while silent, it asks the server nothing.
        assert_eq!(link(Some(true), true), ServerLink::Silent);
    }

    #[test]
    fn a_countdown_rounds_up_and_stops_at_zero() {
        let now = Utc::now();
        assert_eq!(seconds_until(None, now), 0);
        assert_eq!(
            seconds_until(Some(now + chrono::Duration::milliseconds(1500)), now),
            2
        );
        assert_eq!(
            seconds_until(Some(now - chrono::Duration::seconds(5)), now),
            0
        );
    }
}
