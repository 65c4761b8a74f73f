//! The customer's own pages under `/r/{store}`: self-registration from the till's QR code
//! and «Моя карта».

use std::sync::Arc;

use axum::Router;

use crate::server::State;

pub(crate) fn router() -> Router<Arc<State>> {
    Router::new()
}
