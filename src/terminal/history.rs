//! A customer's «История бонусов» for the card: asked of the server, which alone keeps
//! the ledger; the till's cache has balances only.
use super::{Terminal, TerminalError};
use crate::protocol::server::{ErrorCode, HistoryResponse};
use crate::sync::client::ClientError;

/// How many history lines the card lists.
pub const HISTORY_SHOWN: u32 = 20;

impl Terminal {
    /// The customer's last history lines, and their bonuses still to activate or to burn.
    /// Without the server: [`TerminalError::NeedsServer`]. A customer registered here whom
    /// the server has not received yet has no history there yet: an empty one.
    pub async fn customer_history(
        &self,
        customer_id: &str,
    ) -> Result<HistoryResponse, TerminalError> {
        let answer = match self.api.customer_history(customer_id, HISTORY_SHOWN).await {
            Err(ClientError::Api(body)) if body.code == ErrorCode::CustomerNotFound => {
                Ok(HistoryResponse {
                    customer_id: customer_id.to_string(),
                    balance: Default::default(),
                    pending: Default::default(),
                    entries: Vec::new(),
                    activating: Vec::new(),
                    burning: Vec::new(),
                })
            }
            answer => answer,
        };
        self.online_only(answer, "the customer's history")
    }
}
