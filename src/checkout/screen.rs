//! What the screen shows ([`Screen`]), and what the register gets back for the receipt it
//! handed over ([`Outcome`]).
use chrono::{DateTime, Utc};

use super::{Registration, qr};
use crate::domain::phone::Phone;
use crate::domain::receipt::Receipt;
use crate::domain::returns::ReturnResult;
use crate::protocol::sales::KeptSale;
use crate::protocol::server::{CustomerView, HistoryResponse};
use crate::protocol::server::{Operation, Secret};
use crate::store::{Conflict, KeptReceipt, ShiftReport};
use crate::terminal::{Cashier, Found, Priced, ReturnSale};

/// A receipt the cashier applied: the register has its prices and is taking the payment
/// and printing. Nothing is queued until it closes the receipt with the printed one.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub receipt: Receipt,
    /// The id the operation will be queued under, told to the register now.
    pub operation_id: uuid::Uuid,
    /// Who applied it: the operation is theirs.
    pub cashier: Cashier,
    pub at: DateTime<Utc>,
    pub what: AppliedWhat,
    /// The server holds the sale's spend under `operation_id`: the sale names the hold
    /// when it is queued, and a withdrawal releases it.
    pub held: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AppliedWhat {
    Sale {
        priced: Box<Priced>,
        /// The SMS proof of a spend above `code_to_spend_over`.
        verification: Option<Secret>,
    },
    Return {
        result: ReturnResult,
        sale: ReturnSale,
    },
}

/// A spend above the rules' `code_to_spend_over` waits for a fresh SMS code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendCode {
    pub resend_at: Option<DateTime<Utc>>,
    pub tries_left: Option<u32>,
}

/// A tab of the customer card: what it shows beside the figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerTab {
    /// «Списание»: the spend keypad.
    Spend,
    /// «Покупки»: the customer's recent purchases at any till.
    Purchases,
    /// «История»: the last lines of the customer's bonus history, what becomes spendable
    /// when and what burns next.
    History,
}

/// What the customer card shows beside the figures, by its [`CustomerTab`].
#[derive(Debug, Clone, PartialEq)]
pub enum CustomerPanel {
    Spend,
    /// The customer's recent purchases at any till, newest first, as the server listed
    /// them when the cashier opened the tab.
    Purchases(Vec<KeptSale>),
    /// The tab was opened while the server did not answer: the list needs it.
    PurchasesNeedServer,
    /// The customer's bonus history as the server told it when the cashier opened the tab.
    History(Box<HistoryResponse>),
    /// The history tab was opened while the server did not answer: only it keeps the
    /// ledger.
    HistoryNeedsServer,
    /// «Согласия»: the customer's consents, in place of the tabs (not a tab of their
    /// own). `confirming`: the cashier asked to withdraw the consent to the processing of
    /// personal data, and the panel says what follows before it is done.
    Consents {
        confirming: bool,
    },
}

impl CustomerPanel {
    pub fn tab(&self) -> CustomerTab {
        match self {
            // The consents panel hides the tab row; «Готово» goes back to the spend.
            CustomerPanel::Spend | CustomerPanel::Consents { .. } => CustomerTab::Spend,
            CustomerPanel::Purchases(_) | CustomerPanel::PurchasesNeedServer => {
                CustomerTab::Purchases
            }
            CustomerPanel::History(_) | CustomerPanel::HistoryNeedsServer => CustomerTab::History,
        }
    }
}

/// A customer found on the return screen of a receipt whose sale is not found, and their
/// recent purchases at any till, newest first, for a manager to pick the sale from.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerPurchases {
    pub customer: CustomerView,
    /// The phone the cashier found them by, if that is how.
    pub phone: Option<Phone>,
    pub sales: Vec<KeptSale>,
}

/// What the screen shows.
// One screen exists at a time, so the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Screen {
    Login,
    /// Logged in; no receipt from the register.
    Waiting,
    /// A sale receipt is open: find the customer.
    Find {
        receipt: Receipt,
    },
    /// Nobody with this phone or card: offer to register.
    NotFound {
        receipt: Option<Receipt>,
        phone: Option<Phone>,
    },
    /// The customer card with the live preview.
    Customer {
        receipt: Receipt,
        found: Found,
        priced: Priced,
        /// The spend as typed (kept even when it is refused).
        spend_text: String,
        /// The phone the cashier found them by: a spend code goes to it.
        phone: Option<Phone>,
        /// The spend needs an SMS code before it can be applied.
        code: Option<SpendCode>,
        /// Beside the figures: the spend keypad or the customer's purchases. The spend
        /// typed stays whichever is shown.
        panel: CustomerPanel,
    },
    Register {
        receipt: Option<Receipt>,
        registration: Box<Registration>,
    },
    /// A return receipt: what is refunded and clawed back from its sale. `sale` and
    /// `preview` are `None` while the sale is not found (the server has no sale with the
    /// receipt's number, or several tills printed one): the cashier scans the fiscal QR
    /// code of the sale receipt.
    Return {
        receipt: Receipt,
        sale: Option<ReturnSale>,
        preview: Option<ReturnResult>,
        /// The customer and their recent purchases, when the cashier looked them up for a
        /// return without the receipt; a manager picks one.
        purchases: Option<Box<CustomerPurchases>>,
    },
    /// Applied and handed to the register, which is taking the payment and printing.
    AtRegister(Box<Applied>),
    Manager,
    Conflicts(Vec<Conflict>),
    /// «Неподтверждённые чеки»: applied, never closed by the register.
    Unconfirmed(Vec<KeptReceipt>),
    /// «Отчёт лояльности за смену»: the till's shift, per cashier and in total.
    ShiftReport(Box<ShiftReport>),
    /// The store's self-registration QR code, large, for a customer's phone to scan.
    SelfRegistration {
        url: String,
        qr: qr::QrModules,
    },
}

/// What the register gets back for the receipt it handed over.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The cashier applied the receipt: the prices for the register to print. Nothing is
    /// queued yet.
    Applied(Box<Applied>),
    /// The register closed an applied sale: it is queued.
    Sale {
        operation: Operation,
        priced: Box<Priced>,
    },
    /// The register closed an applied return: it is queued.
    Return {
        operation: Operation,
        result: ReturnResult,
    },
    /// The cashier cancelled: the receipt goes on without loyalty.
    Cancelled { receipt_id: String },
}
