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
use crate::protocol::server::CustomerView;
use crate::sync::worker::SyncStatus;
use crate::terminal::{OfflineLimit, Priced};
use crate::ui::{
    LastReceipt, OutcomeKind, ProblemInfo, ProblemKind, PurchaseReturned, PurchaseRow, ReceiptInfo,
    ServerLink, TillStatus,
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
