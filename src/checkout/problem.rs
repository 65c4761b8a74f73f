//! Why an action did not go through, as the cashier must be told: a closed set of cases
//! with their figures, which the UI words in Russian (or English) through `@tr`, each with
//! what to do next. The English `Display` is for logs and tests.

use crate::protocol::server::ErrorCode;
use crate::store::StoreError;
use crate::sync::client::ClientError;
use crate::terminal::{OfflineLimit, TerminalError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("log in first")]
    NotLoggedIn,
    #[error("the cashier was logged out: the till stood idle for {minutes} min")]
    LoggedOutIdle { minutes: u64 },
    #[error("the cashier code is wrong")]
    WrongCashierCode { tries_left: Option<u32> },
    #[error("too many wrong codes: wait {seconds} s")]
    CashierLocked { seconds: u64 },
    #[error(
        "the till is busy with a receipt, a registration or the manager's menu: finish or cancel it first"
    )]
    Busy,
    #[error("finish or cancel the open receipt first")]
    ReceiptOpen,
    #[error("nothing here to do that with")]
    NothingOpen,
    #[error("the installer's setup is open at the till")]
    SetupOpen,
    #[error("this receipt is not open at the till")]
    NoSuchReceipt,
    #[error("the cashier has not applied this receipt yet")]
    NotApplied,
    #[error("the printed receipt is not the one the loyalty was applied to: {0}")]
    ReceiptChanged(String),
    #[error("the receipt from the register is not valid: {0}")]
    BadReceipt(String),
    #[error("not a Russian mobile number")]
    BadPhone,
    #[error("not a loyalty card number: {0}")]
    BadCard(String),
    #[error("the scan is not a card or a customer's QR code: {0}")]
    BadScan(String),
    #[error("nobody with this phone or card")]
    NotFound,
    #[error("the spend must be a number of bonuses")]
    BadSpend,
    #[error("the spend is more than the {max} allowed on this receipt")]
    SpendAboveMax { max: String },
    #[error(
        "the customer's bonuses were just spent at another till: the spend was recalculated to {spend}"
    )]
    BonusesTaken { spend: String },
    #[error("bonuses are spent in multiples of {step}")]
    SpendStep { step: String },
    #[error("offline: {0}")]
    Offline(OfflineLimit),
    #[error("this needs the server, and it does not answer: try again in a moment")]
    NeedsServer,
    #[error("a spend this large needs the SMS code from the customer's phone")]
    SpendNeedsCode,
    #[error("the spend code goes to the customer's phone: find them by phone")]
    SpendCodeNeedsPhone,
    #[error("the SMS code is wrong")]
    CodeWrong { tries_left: Option<u32> },
    #[error("the SMS code has expired: send a new one")]
    CodeExpired,
    #[error("too many wrong SMS codes: send a new one")]
    TooManyTries,
    #[error("a new code can be sent in {seconds} s")]
    Cooldown { seconds: u64 },
    #[error("too many SMS for this phone or till: try later")]
    RateLimited,
    #[error("the SMS could not be sent: try again")]
    SmsFailed,
    #[error("the rules require the SMS code to register")]
    CodeRequired,
    #[error("registration needs the consent to the processing of personal data")]
    ConsentRequired,
    #[error(
        "the customer withdrew the consent to the processing of personal data: no bonuses are spent or accrued"
    )]
    ProcessingConsentWithdrawn,
    #[error("the e-mail address is not valid")]
    BadEmail,
    #[error("the birth date is in the future")]
    BadBirthDate,
    #[error("this phone is already registered")]
    AlreadyRegistered,
    #[error("this return's sale was not made at this till: a manager handles it")]
    SaleNotKept,
    #[error(
        "the sale was made at another till and the server does not answer: check the network, or return without bonuses"
    )]
    SaleElsewhereOffline,
    #[error(
        "the server has no sale with this fiscal code: check the receipt, or return without bonuses"
    )]
    FiscalSaleNotFound,
    #[error("the return is not possible: {0}")]
    BadReturn(String),
    #[error("only a manager may do this")]
    ManagerOnly,
    #[error("the amount must be a number of bonuses other than 0")]
    BadAmount,
    #[error("give a reason")]
    ReasonRequired,
    #[error(
        "no self-registration page is set for this till: the installer sets self_registration_url"
    )]
    SelfRegistrationNotConfigured,
    #[error("the till has no rules yet: connect it to the server once")]
    NoRules,
    #[error("the till's disk is full: nothing was saved; call support")]
    DiskFull,
    #[error("the till could not save: {0}; call support")]
    Storage(String),
    #[error("the till is not enrolled or its token was revoked: call the installer")]
    NotEnrolled,
    #[error("the server: {0}")]
    Server(ServerTrouble),
}

/// What went wrong with the server, in cases the till words itself: a server's own text
/// (English, and meant for logs) never reaches the cashier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServerTrouble {
    /// A refusal the till has no case of its own for; the code is shown for support.
    #[error("refused with {0:?}")]
    Refused(ErrorCode),
    /// An HTTP status without the server's error body (a proxy, a crash).
    #[error("answered HTTP {0}")]
    Status(u16),
    /// An answer that does not parse: another version, or not a bonuskassa server.
    #[error("its answer does not parse")]
    Unreadable,
    /// The till's own HTTP client or its settings (the server's address, the CA file).
    #[error("the till's connection settings do not work")]
    Settings,
}

impl ServerTrouble {
    /// The code support asks for: the server's error code, or the HTTP status.
    pub fn code(&self) -> String {
        match self {
            ServerTrouble::Refused(code) => serde_json::to_value(code)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            ServerTrouble::Status(status) => format!("HTTP {status}"),
            ServerTrouble::Unreadable | ServerTrouble::Settings => String::new(),
        }
    }
}

impl From<TerminalError> for Problem {
    fn from(e: TerminalError) -> Problem {
        use crate::domain::calc::CalcError;
        match e {
            TerminalError::Store(StoreError::DiskFull) => Problem::DiskFull,
            TerminalError::Store(e) => Problem::Storage(e.to_string()),
            TerminalError::Secrets(_) | TerminalError::NotEnrolled(_) => Problem::NotEnrolled,
            TerminalError::Config(e) => Problem::Storage(e.to_string()),
            TerminalError::Client(c) => c.into(),
            TerminalError::NeedsServer(_) => Problem::NeedsServer,
            TerminalError::NoRules | TerminalError::BadRules(_) => Problem::NoRules,
            TerminalError::Calc(CalcError::SpendAboveMax { max, .. }) => Problem::SpendAboveMax {
                max: max.to_string(),
            },
            TerminalError::Calc(CalcError::SpendNotMultiple { step, .. }) => Problem::SpendStep {
                step: step.to_string(),
            },
            TerminalError::Calc(CalcError::NegativeSpend) => Problem::BadSpend,
            TerminalError::Calc(e) => Problem::BadReceipt(e.to_string()),
            TerminalError::Offline(limit) => Problem::Offline(limit),
            TerminalError::NotPermitted(_) => Problem::ManagerOnly,
            TerminalError::SaleNotKept(_) | TerminalError::SaleAmbiguous(_) => Problem::SaleNotKept,
            TerminalError::SaleElsewhereOffline => Problem::SaleElsewhereOffline,
            TerminalError::FiscalSaleNotFound => Problem::FiscalSaleNotFound,
            TerminalError::Return(e) => Problem::BadReturn(e.to_string()),
            TerminalError::CodeRequired => Problem::CodeRequired,
            TerminalError::ConsentRequired => Problem::ConsentRequired,
            TerminalError::AlreadyRegistered => Problem::AlreadyRegistered,
            TerminalError::UnknownCustomer(_) => Problem::NotFound,
            TerminalError::NoKept(_) | TerminalError::KeptSettled { .. } => Problem::NoSuchReceipt,
            TerminalError::KeptChanged(d) => Problem::ReceiptChanged(d),
            TerminalError::WrongCashierCode => Problem::WrongCashierCode { tries_left: None },
            TerminalError::CashierLocked(seconds) => Problem::CashierLocked { seconds },
            // The session recalculates the spend and says to what; this is the fallback.
            TerminalError::BonusesTaken => Problem::BonusesTaken { spend: "0".into() },
        }
    }
}

impl From<ClientError> for Problem {
    fn from(e: ClientError) -> Problem {
        match e {
            ClientError::Api(body) => match body.code {
                // The wrong code that locked the logins says so: the lock is what matters.
                ErrorCode::CashierCodeWrong => match body.retry_after_s {
                    Some(seconds) => Problem::CashierLocked { seconds },
                    None => Problem::WrongCashierCode {
                        tries_left: body.tries_left,
                    },
                },
                ErrorCode::CashierLocked => Problem::CashierLocked {
                    seconds: body.retry_after_s.unwrap_or(60),
                },
                ErrorCode::CodeWrong => Problem::CodeWrong {
                    tries_left: body.tries_left,
                },
                ErrorCode::CodeExpired => Problem::CodeExpired,
                ErrorCode::TooManyTries => Problem::TooManyTries,
                ErrorCode::Cooldown => Problem::Cooldown {
                    seconds: body.retry_after_s.unwrap_or(60),
                },
                ErrorCode::RateLimited => Problem::RateLimited,
                ErrorCode::SmsFailed => Problem::SmsFailed,
                ErrorCode::AlreadyRegistered => Problem::AlreadyRegistered,
                ErrorCode::CustomerNotFound => Problem::NotFound,
                ErrorCode::Unauthorized | ErrorCode::TokenRevoked => Problem::NotEnrolled,
                ErrorCode::VerificationRequired => Problem::SpendNeedsCode,
                code => Problem::Server(ServerTrouble::Refused(code)),
            },
            e if e.is_offline() => Problem::NeedsServer,
            ClientError::Status(status) => Problem::Server(ServerTrouble::Status(status)),
            ClientError::Unreadable(_) => Problem::Server(ServerTrouble::Unreadable),
            // The address, the CA file or the client itself (what is offline went above).
            _ => Problem::Server(ServerTrouble::Settings),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::server::ErrorBody;

    fn refusal(code: ErrorCode) -> ClientError {
        ClientError::Api(ErrorBody {
            code,
            message: "customer store mismatch (internal detail)".into(),
            retry_after_s: None,
            tries_left: None,
            line: None,
            key: None,
        })
    }

    #[test]
    fn a_refusal_without_a_case_of_its_own_keeps_its_code_and_drops_the_servers_words() {
        let problem = Problem::from(refusal(ErrorCode::BadRequest));
        assert_eq!(
            problem,
            Problem::Server(ServerTrouble::Refused(ErrorCode::BadRequest))
        );
        assert_eq!(
            ServerTrouble::Refused(ErrorCode::BadRequest).code(),
            "BAD_REQUEST"
        );
        assert!(!format!("{problem:?}").contains("mismatch"));
    }

    #[test]
    fn transport_failures_are_closed_cases() {
        assert_eq!(
            Problem::from(ClientError::Status(404)),
            Problem::Server(ServerTrouble::Status(404))
        );
        assert_eq!(ServerTrouble::Status(404).code(), "HTTP 404");
        assert_eq!(
            Problem::from(ClientError::Unreadable("expected value at line 1".into())),
            Problem::Server(ServerTrouble::Unreadable)
        );
        assert_eq!(
            Problem::from(ClientError::InsecureUrl),
            Problem::Server(ServerTrouble::Settings)
        );
        assert_eq!(Problem::from(ClientError::Timeout), Problem::NeedsServer);
        assert_eq!(
            Problem::from(refusal(ErrorCode::CustomerNotFound)),
            Problem::NotFound
        );
    }

    #[test]
    fn an_offline_limit_reaches_the_cashier_as_that_limit() {
        let limit = OfflineLimit::TerminalBudget {
            left: crate::domain::money::Bonus::ZERO,
        };
        assert_eq!(
            Problem::from(TerminalError::Offline(limit)),
            Problem::Offline(limit)
        );
    }
}
