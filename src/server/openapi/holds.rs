//! The OpenAPI description of the holds: `POST /holds` and `DELETE /holds/{id}`.

use serde_json::json;
use utoipa::openapi::HttpMethod;
use utoipa::openapi::Required;
use utoipa::openapi::Response;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};

use super::{Op, error, internal, ok};
use crate::protocol::schema::{schema_ref, string};
use crate::protocol::server::ErrorCode as E;

pub(super) fn routes() -> Vec<(&'static str, HttpMethod, Operation)> {
    let customer_not_found = || error("No customer with this id", &[E::CustomerNotFound]);
    vec![
    (
        "/holds",
        HttpMethod::Post,
        Op::new(
            "place_hold",
            "Reserve a customer's bonuses for a sale about to close; idempotent by the id",
            true,
        )
        .body(
            "HoldRequest",
            json!({ "id": "0190f1c2-0000-7000-8000-0000000000ab",
                    "customer_id": "0190f1c2-0000-7000-8000-000000000001",
                    "amount": "150", "expires_in_s": 300 }),
        )
        .answer(
            200,
            ok(
                "The hold (the same one when placed again), and what the customer may still spend",
                schema_ref("HoldResponse"),
            ),
        )
        .answer(404, customer_not_found())
        .answer(
            409,
            error(
                "More than is spendable now less other tills' holds, or the id names another hold",
                &[E::InsufficientBalance, E::HoldConflict],
            ),
        )
        .answer(500, internal())
        .build(),
    ),
    (
        "/holds/{id}",
        HttpMethod::Delete,
        Op::new(
            "release_hold",
            "Release a hold (its sale was cancelled); idempotent",
            true,
        )
        .param(
            ParameterBuilder::new()
                .name("id")
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .description(Some("The hold's id: its sale operation's id"))
                .schema(Some(string().min_length(Some(1))))
                .build(),
        )
        .answer(
            200,
            ok(
                "The hold as it now is (released, or consumed by its sale before)",
                schema_ref("HoldResponse"),
            ),
        )
        .answer(
            204,
            Response::builder()
                .description("No such hold (never placed, or pruned after it ended): nothing counts")
                .build(),
        )
        .answer(
            404,
            error(
                "The hold is another till's (`NOT_FOUND` too for an empty id, which no route matches)",
                &[E::NotFound],
            ),
        )
        .answer(500, internal())
        .build(),
    ),
    ]
}
