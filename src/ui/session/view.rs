//! The session's pages as Slint values: [`View`], built on the runner's worker thread
//! from the session (it holds no model, so it is `Send`) and posted to the UI thread.

use chrono::{DateTime, Utc};
use slint::{Rgb8Pixel, SharedPixelBuffer};

use super::format::{
    HistoryView, applied_summary, bonus, customer_phone, history_view, last_receipt, local_time,
    money, problem_info, purchase_rows, qr_pixels, receipt_info, seconds_until, spend_field,
    till_status,
};
use crate::checkout::{CustomerPanel, CustomerTab as Tab, RegistrationStep, Screen};
use crate::domain::money::Bonus;
use crate::protocol::server::{CustomerView, RejectReason};
use crate::runner::{Notice as RunnerNotice, Shown};
use crate::store::{Shift, ShiftBy, ShiftFigures};
use crate::terminal::ReturnSale;
use crate::ui::{
    ConflictKind, ConflictLine, ConflictReason, CustomerCard, CustomerConsents, CustomerTab,
    LastReceipt, Notice, Page, ProblemInfo, PurchaseRow, PurchasesOwner, ReceiptInfo, RegStep,
    RegistrationInfo, ReturnInfo, ReturnLine, ShiftInfo, ShiftRow, ShiftStatus, ShiftWho,
    SpendCode, TillStatus, UnconfirmedLine,
};

/// The kind of a refused operation, from the kind it was queued as.
fn conflict_kind(kind: &str) -> ConflictKind {
    match kind {
        "sale" => ConflictKind::Sale,
        "return" => ConflictKind::Return,
        "registration" => ConflictKind::Registration,
        "consent" => ConflictKind::Consent,
        "verify_phone" => ConflictKind::VerifyPhone,
        "manual_change" => ConflictKind::ManualChange,
        "audit" => ConflictKind::Audit,
        _ => ConflictKind::Other,
    }
}

/// Why the server refused it, as the page words it.
fn conflict_reason(reason: Option<RejectReason>) -> ConflictReason {
    use ConflictReason as C;
    match reason {
        None => C::Unknown,
        Some(RejectReason::Invalid) => C::Invalid,
        Some(RejectReason::CustomerNotFound) => C::CustomerNotFound,
        Some(RejectReason::InsufficientBalance) => C::InsufficientBalance,
        Some(RejectReason::SpendNotAllowed) => C::SpendNotAllowed,
        Some(RejectReason::VerificationRequired) => C::VerificationRequired,
        Some(RejectReason::AlreadyRegistered) => C::AlreadyRegistered,
        Some(RejectReason::CardTaken) => C::CardTaken,
        Some(RejectReason::SaleNotFound) => C::SaleNotFound,
        Some(RejectReason::ReturnExceedsSale) => C::ReturnExceedsSale,
        Some(RejectReason::NotPermitted) => C::NotPermitted,
        Some(RejectReason::SequenceReused) => C::SequenceReused,
        Some(RejectReason::StatusNotIssuable) => C::StatusNotIssuable,
    }
}

fn notice(n: RunnerNotice) -> Notice {
    match n {
        RunnerNotice::None => Notice::None,
        RunnerNotice::BalanceChanged => Notice::BalanceChanged,
        RunnerNotice::WalkInRegistered => Notice::WalkInRegistered,
        RunnerNotice::RegisterCancelled => Notice::RegisterCancelled,
        RunnerNotice::RegisterSilent => Notice::RegisterSilent,
    }
}

/// Everything a page shows, built on the worker thread from the session and posted to
/// the UI thread (it holds no model, so it is `Send`).
pub(super) struct View {
    pub(super) page: Page,
    pub(super) busy: bool,
    pub(super) problem: ProblemInfo,
    pub(super) notice: Notice,
    pub(super) cashier: String,
    pub(super) manager: bool,
    pub(super) receipt: ReceiptInfo,
    pub(super) not_found_phone: String,
    pub(super) customer: CustomerCard,
    /// Set when the session chose the spend («0», «Макс»): the spend field shows it.
    pub(super) spend_from_session: Option<String>,
    pub(super) spend_code: SpendCode,
    /// The customer card's tab, and its purchases when that tab is open.
    pub(super) customer_tab: CustomerTab,
    pub(super) customer_purchases: Vec<PurchaseRow>,
    pub(super) purchases_need_server: bool,
    /// The customer card's «История», when that tab is open.
    pub(super) customer_history: HistoryView,
    /// The customer's consents, and the «Согласия» panel when it is open.
    pub(super) consents: CustomerConsents,
    pub(super) registration: RegistrationInfo,
    pub(super) refund: ReturnInfo,
    pub(super) refund_lines: Vec<ReturnLine>,
    /// A customer's purchases on a return without its receipt, and whose they are.
    pub(super) purchases: Vec<PurchaseRow>,
    pub(super) purchases_shown: bool,
    pub(super) purchases_owner: PurchasesOwner,
    pub(super) conflicts: Vec<ConflictLine>,
    /// The card statuses the cashier may pick from at registration.
    pub(super) statuses: Vec<slint::SharedString>,
    pub(super) unconfirmed: Vec<UnconfirmedLine>,
    pub(super) shift: ShiftInfo,
    pub(super) shift_cashiers: Vec<ShiftRow>,
    pub(super) shift_total: ShiftRow,
    pub(super) last: LastReceipt,
    pub(super) status: TillStatus,
    pub(super) qr: Option<SharedPixelBuffer<Rgb8Pixel>>,
    pub(super) qr_url: String,
}

/// Builds everything a page shows from the session as the runner shows it.
pub(super) fn view(shown: &Shown<'_>) -> View {
    let (session, busy, now) = (shown.session, shown.busy, shown.now);
    let spend_from_session = shown.spend_chosen.as_deref().map(spend_field);
    let cashier = session.cashier();
    let mut view = View {
        page: Page::Login,
        busy,
        problem: session.problem().map(problem_info).unwrap_or_default(),
        notice: notice(shown.notice),
        cashier: cashier.map(|c| c.name.clone()).unwrap_or_default(),
        manager: cashier.is_some_and(|c| c.is_manager()),
        receipt: ReceiptInfo::default(),
        not_found_phone: String::new(),
        customer: CustomerCard::default(),
        spend_from_session,
        spend_code: SpendCode {
            tries_left: -1,
            ..SpendCode::default()
        },
        customer_tab: CustomerTab::Spend,
        customer_purchases: Vec::new(),
        purchases_need_server: false,
        customer_history: HistoryView::default(),
        consents: CustomerConsents::default(),
        registration: RegistrationInfo {
            tries_left: -1,
            ..RegistrationInfo::default()
        },
        refund: ReturnInfo::default(),
        refund_lines: Vec::new(),
        purchases: Vec::new(),
        purchases_shown: false,
        purchases_owner: PurchasesOwner::default(),
        conflicts: Vec::new(),
        statuses: Vec::new(),
        unconfirmed: Vec::new(),
        shift: ShiftInfo::default(),
        shift_cashiers: Vec::new(),
        shift_total: ShiftRow::default(),
        last: shown.last.map(last_receipt).unwrap_or_default(),
        status: till_status(&session.terminal().status(), now),
        qr: None,
        qr_url: String::new(),
    };
    match session.screen() {
        Screen::Login => view.page = Page::Login,
        Screen::Waiting => view.page = Page::Waiting,
        Screen::Find { receipt } => {
            view.page = Page::Find;
            view.receipt = receipt_info(receipt);
        }
        Screen::NotFound { receipt, phone } => {
            view.page = Page::NotFound;
            if let Some(r) = receipt {
                view.receipt = receipt_info(r);
            }
            view.not_found_phone = phone.as_ref().map(|p| p.formatted()).unwrap_or_default();
        }
        Screen::Customer {
            receipt,
            found,
            priced,
            phone,
            code,
            panel,
            ..
        } => {
            view.page = Page::Customer;
            view.receipt = receipt_info(receipt);
            let c = &found.customer;
            let calc = &priced.calculation;
            view.customer = CustomerCard {
                name: c.name.clone().into(),
                phone: customer_phone(c, phone.as_ref()).into(),
                card: c.card_masked.clone().unwrap_or_default().into(),
                issued_card: priced.issued_card.clone().unwrap_or_default().into(),
                card_status: c.card_status.clone().into(),
                balance: bonus(c.balance).into(),
                pending: bonus(c.pending).into(),
                held: if c.held > Bonus::ZERO {
                    bonus(c.held).into()
                } else {
                    Default::default()
                },
                // Without the processing consent no card discount applies.
                discount_percent: if c.consent_processing {
                    c.discount_percent.clone().into()
                } else {
                    "0".into()
                },
                max_spend: bonus(calc.max_spend).into(),
                offline: found.offline || priced.offline,
                unverified: !c.phone_verified,
                total: money(&calc.total.to_string()).into(),
                discount: money(&calc.discount.to_string()).into(),
                spent: bonus(calc.spent).into(),
                to_pay: money(&calc.to_pay.to_string()).into(),
                accrued: bonus(calc.accrued).into(),
            };
            view.customer_tab = match panel.tab() {
                Tab::Spend => CustomerTab::Spend,
                Tab::Purchases => CustomerTab::Purchases,
                Tab::History => CustomerTab::History,
            };
            match panel {
                CustomerPanel::Spend => {}
                CustomerPanel::Purchases(sales) => view.customer_purchases = purchase_rows(sales),
                CustomerPanel::PurchasesNeedServer => view.purchases_need_server = true,
                CustomerPanel::History(history) => {
                    view.customer_history = history_view(history, now);
                }
                CustomerPanel::HistoryNeedsServer => view.customer_history.needs_server = true,
                CustomerPanel::Consents { .. } => {}
            }
            view.consents = consents(c, panel);
            if let Some(code) = code {
                view.spend_code = SpendCode {
                    open: true,
                    sent: code.resend_at.is_some(),
                    resend_seconds: seconds_until(code.resend_at, now),
                    tries_left: code.tries_left.map_or(-1, |n| n as i32),
                };
            }
        }
        Screen::Register {
            receipt,
            registration: r,
        } => {
            view.page = Page::Register;
            if let Some(receipt) = receipt {
                view.receipt = receipt_info(receipt);
            }
            view.registration = RegistrationInfo {
                phone: r.phone.formatted().into(),
                step: match r.step {
                    RegistrationStep::Code => RegStep::Code,
                    RegistrationStep::Questionnaire => RegStep::Questionnaire,
                    RegistrationStep::Consents => RegStep::Consents,
                    RegistrationStep::Card => RegStep::Card,
                },
                sent: r.code_sent_at.is_some(),
                resend_seconds: seconds_until(r.resend_at, now),
                tries_left: r.tries_left.map_or(-1, |n| n as i32),
                without_code_allowed: r.without_code_allowed,
                existing: r.existing.is_some(),
                status: r.status.as_str().into(),
            };
            view.statuses = r.statuses.iter().map(|s| s.as_str().into()).collect();
        }
        Screen::Return {
            receipt,
            sale,
            preview,
            purchases,
        } => {
            view.page = Page::ReturnReceipt;
            view.receipt = receipt_info(receipt);
            let own_till = session.terminal().enrollment().map(|e| e.terminal_id);
            let sale_till = match sale {
                Some(ReturnSale::Server { sale, .. })
                    if Some(&sale.sale_ref.terminal_id) != own_till.as_ref() =>
                {
                    sale.terminal_name.clone()
                }
                _ => String::new(),
            };
            let Some(preview) = preview else {
                view.refund = ReturnInfo {
                    found: false,
                    original: receipt.original_receipt.clone().unwrap_or_default().into(),
                    ..ReturnInfo::default()
                };
                if let Some(p) = purchases {
                    view.purchases = purchase_rows(&p.sales);
                    view.purchases_shown = true;
                    view.purchases_owner = PurchasesOwner {
                        name: p.customer.name.clone().into(),
                        phone: customer_phone(&p.customer, p.phone.as_ref()).into(),
                        card: p.customer.card_masked.clone().unwrap_or_default().into(),
                    };
                }
                return view;
            };
            view.refund = ReturnInfo {
                found: true,
                sale_till: sale_till.into(),
                original: preview.original_receipt.clone().into(),
                paid: money(&preview.paid.to_string()).into(),
                refunded: bonus(preview.refunded).into(),
                clawed_back: bonus(preview.clawed_back).into(),
            };
            view.refund_lines = preview
                .positions
                .iter()
                .map(|p| {
                    let name = receipt
                        .positions
                        .iter()
                        .find(|q| q.id == p.id)
                        .map(|q| q.name.as_str())
                        .filter(|n| !n.is_empty())
                        .unwrap_or(p.id.as_str());
                    ReturnLine {
                        id: name.into(),
                        quantity: p.quantity.to_string().into(),
                        paid: money(&p.paid.to_string()).into(),
                        refunded: bonus(p.refunded).into(),
                        clawed_back: bonus(p.clawed_back).into(),
                    }
                })
                .collect();
        }
        Screen::AtRegister(applied) => {
            view.page = Page::AtRegister;
            view.receipt = receipt_info(&applied.receipt);
            view.last = applied_summary(applied);
        }
        Screen::Manager => view.page = Page::Manager,
        Screen::SelfRegistration { url, qr } => {
            view.page = Page::SelfRegistration;
            view.qr = Some(qr_pixels(qr));
            view.qr_url = url.clone();
        }
        Screen::Conflicts(conflicts) => {
            view.page = Page::Conflicts;
            view.conflicts = conflicts
                .iter()
                .map(|c| ConflictLine {
                    id: c.operation_id.clone().into(),
                    kind: conflict_kind(&c.kind),
                    reason: conflict_reason(c.reject_reason()),
                    customer: c.customer.clone().unwrap_or_default().into(),
                    receipt: c.receipt.clone().unwrap_or_default().into(),
                    at: local_time(c.at, now).into(),
                    spend: bonus(Bonus::from_kopecks(c.spend)).into(),
                })
                .collect();
        }
        Screen::ShiftReport(report) => {
            view.page = Page::ShiftReport;
            view.shift = shift_info(&report.shift, now);
            view.shift_cashiers = report
                .cashiers
                .iter()
                .map(|c| shift_row(&c.cashier, &c.figures))
                .collect();
            view.shift_total = shift_row("", &report.total);
        }
        Screen::Unconfirmed(kept) => {
            view.page = Page::Unconfirmed;
            view.unconfirmed = kept
                .iter()
                .map(|k| UnconfirmedLine {
                    id: k.operation_id.clone().into(),
                    receipt: k.receipt.id.clone().into(),
                    at: local_time(k.applied_at, now).into(),
                    customer: k.customer.clone().unwrap_or_default().into(),
                    sum: money(&k.total().to_string()).into(),
                    spend: bonus(k.spend()).into(),
                })
                .collect();
        }
    }
    view
}

/// Who opened or closed a shift, as the report words it.
fn shift_who(by: ShiftBy) -> ShiftWho {
    match by {
        ShiftBy::Register => ShiftWho::Register,
        ShiftBy::Manager => ShiftWho::Manager,
        ShiftBy::Implicit => ShiftWho::FirstOperation,
    }
}

fn shift_info(shift: &Shift, now: DateTime<Utc>) -> ShiftInfo {
    let status = match (shift.is_open(), shift.opened_by) {
        (false, _) => ShiftStatus::Closed,
        (true, ShiftBy::Implicit) => ShiftStatus::NotOpened,
        (true, _) => ShiftStatus::Open,
    };
    ShiftInfo {
        number: shift.number.to_string().into(),
        status,
        opened_at: local_time(shift.opened_at, now).into(),
        opened_by: shift_who(shift.opened_by),
        opener: shift.opener.clone().unwrap_or_default().into(),
        closed_at: shift
            .closed_at
            .map(|at| local_time(at, now))
            .unwrap_or_default()
            .into(),
        closed_by: shift_who(shift.closed_by.unwrap_or(ShiftBy::Implicit)),
        closer: shift.closer.clone().unwrap_or_default().into(),
    }
}

fn shift_row(cashier: &str, f: &ShiftFigures) -> ShiftRow {
    ShiftRow {
        cashier: cashier.into(),
        receipts: f.receipts.to_string().into(),
        sum: money(&f.sum.to_string()).into(),
        discount: money(&f.discount.to_string()).into(),
        spent: bonus(f.spent).into(),
        accrued: bonus(f.accrued).into(),
        registrations: f.registrations.to_string().into(),
        returns: f.returns.to_string().into(),
        returned: money(&f.returned.to_string()).into(),
        refunded: bonus(f.refunded).into(),
        clawed_back: bonus(f.clawed_back).into(),
    }
}

/// The customer's consents on the card, and the «Согласия» panel when it is open.
fn consents(c: &CustomerView, panel: &CustomerPanel) -> CustomerConsents {
    let (open, confirming) = match panel {
        CustomerPanel::Consents { confirming } => (true, *confirming),
        _ => (false, false),
    };
    CustomerConsents {
        processing: c.consent_processing,
        advertising: c.consent_advertising,
        open,
        confirming,
    }
}
