//! Why a setup action did not go through ([`SetupProblem`]), and how the till's and the
//! server client's errors become one.
use super::SetupField;
use crate::protocol::server::ErrorCode;
use crate::sync::client::ClientError;
use crate::terminal::TerminalError;

/// Why a setup action did not go through: a closed set the UI words in Russian or
/// English; the English `Display` is for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupProblem {
    #[error("{field:?}: {message}")]
    Field { field: SetupField, message: String },
    #[error("the server does not answer at this address")]
    Unreachable,
    #[error("the server did not answer in time")]
    Timeout,
    #[error("the server's certificate is not trusted: {0}")]
    Certificate(String),
    #[error("the enrollment code is wrong, used or expired: get a new one from the server")]
    CodeInvalid,
    #[error("the server refused the till's token: enroll it again with a new code")]
    TokenRefused,
    /// A refusal the setup has no case of its own for; the code is shown for support.
    #[error("the server refused with {0:?}")]
    Server(ErrorCode),
    #[error("the secret store cannot be used: {0}")]
    Secrets(String),
    #[error("the scanner: {0}")]
    Scanner(String),
    #[error("no scan arrived within {seconds} s")]
    NoScan { seconds: u64 },
    #[error("the till could not save its settings: {0}")]
    Storage(String),
    #[error("connect the till to the server first")]
    NotEnrolled,
    #[error("{queued} operations are still waiting to be sent: enroll again once they are")]
    QueueNotEmpty { queued: u64 },
    /// The server, the till's name or the secret store changed on an enrolled till: they
    /// change only by enrolling again (the server gives a new token for them).
    #[error("a new server, name or secret store needs the till enrolled again with a new code")]
    NeedsEnrollAgain,
}

impl SetupProblem {
    pub(super) fn field(field: SetupField, message: impl Into<String>) -> SetupProblem {
        SetupProblem::Field {
            field,
            message: message.into(),
        }
    }
}

impl From<ClientError> for SetupProblem {
    fn from(e: ClientError) -> SetupProblem {
        match e {
            ClientError::InsecureUrl => SetupProblem::field(SetupField::ServerUrl, e.to_string()),
            ClientError::CaFile(_) | ClientError::CaPem => {
                SetupProblem::field(SetupField::PrivateCa, e.to_string())
            }
            ClientError::Timeout => SetupProblem::Timeout,
            ClientError::Unreachable
            | ClientError::Silent
            | ClientError::Status(_)
            | ClientError::Unreadable(_) => SetupProblem::Unreachable,
            ClientError::Certificate(why) => SetupProblem::Certificate(why),
            ClientError::Api(body) => match body.code {
                ErrorCode::EnrollmentCodeInvalid => SetupProblem::CodeInvalid,
                ErrorCode::Unauthorized | ErrorCode::TokenRevoked => SetupProblem::TokenRefused,
                code => SetupProblem::Server(code),
            },
            ClientError::Build(m) => SetupProblem::field(SetupField::ServerUrl, m),
        }
    }
}

impl From<TerminalError> for SetupProblem {
    fn from(e: TerminalError) -> SetupProblem {
        match e {
            TerminalError::Client(c) => c.into(),
            TerminalError::Secrets(s) => SetupProblem::Secrets(s.to_string()),
            TerminalError::NotEnrolled(_) => SetupProblem::NotEnrolled,
            e => SetupProblem::Storage(e.to_string()),
        }
    }
}
