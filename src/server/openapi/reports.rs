//! The OpenAPI description of the back office's reports: `/admin/reports`, its export, and
//! `/admin/liability`.

use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{KnownFormat, SchemaFormat};
use utoipa::openapi::{Content, HttpMethod, RefOr, Required, Response, Schema};

use super::{Op, add, error, internal, ok, query};
use crate::protocol::reports::*;
use crate::protocol::schema::{schema_ref, string};
use crate::protocol::server::ErrorCode as E;
use crate::server::reports::XLSX_TYPE;

pub(super) fn schemas(all: &mut Vec<(String, RefOr<Schema>)>) {
    add::<ReportBy>(all);
    add::<ReportFigures>(all);
    add::<ReportLine>(all);
    add::<ReportView>(all);
    add::<LiabilityView>(all);
}

fn date(name: &str, description: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(string().min_length(Some(1))))
        .build()
}

/// The query of a report and of its export.
fn report_params(op: Op) -> Op {
    op.param(date(
        "from",
        "The first local day: 2026-11-01 or 01.11.2026",
    ))
    .param(date("to", "The last local day, included"))
    .param(query(
        "by",
        string().enum_values(Some(["day", "store", "cashier"])),
        "One line per day (the default), store or cashier",
    ))
    .param(query(
        "store",
        string(),
        "Only this store (a manager: one of theirs; without it, all of theirs)",
    ))
}

/// The refusals every report route shares, and the database failing.
fn refusals(op: Op) -> Operation {
    op.answer(
        400,
        error(
            "A malformed query: a date that is not one, a period that ends before it begins or is longer than three years, an unknown grouping or format",
            &[E::BadRequest],
        ),
    )
    .answer(403, error("Not one of this manager's stores", &[E::Forbidden]))
    .answer(404, error("No such store", &[E::NotFound]))
    .answer(500, internal())
    .build()
}

fn file(description: &str) -> Response {
    let text = string();
    let binary = string().format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)));
    Response::builder()
        .description(description)
        .content("text/csv; charset=utf-8", Content::new(Some(text)))
        .content(XLSX_TYPE, Content::new(Some(binary)))
        .build()
}

pub(super) fn routes() -> Vec<(&'static str, HttpMethod, Operation)> {
    vec![
        (
            "/admin/reports",
            HttpMethod::Get,
            refusals(
                report_params(
                    Op::new(
                        "admin_report",
                        "The chain's figures for a period per local day, store or cashier: loyalty receipts, revenue, discount, bonuses accrued, spent and burnt, returns, new customers, consents",
                        false,
                    )
                    .admin(),
                )
                .answer(200, ok("The report", schema_ref("ReportView"))),
            ),
        ),
        (
            "/admin/reports/export",
            HttpMethod::Get,
            refusals(
                report_params(
                    Op::new(
                        "admin_report_export",
                        "The same report as a file with Russian headers: CSV for Russian Excel (UTF-8 with a BOM, `;`, a decimal comma) or XLSX",
                        false,
                    )
                    .admin(),
                )
                .param(query(
                    "format",
                    string().enum_values(Some(["csv", "xlsx"])),
                    "csv (the default) or xlsx",
                ))
                .answer(200, file("The report, as an attachment")),
            ),
        ),
        (
            "/admin/liability",
            HttpMethod::Get,
            refusals(
                Op::new(
                    "admin_liability",
                    "The bonuses customers held at the end of a day (Moscow time), or now: active and pending, for accounting",
                    false,
                )
                .admin()
                .param(query(
                    "at",
                    string(),
                    "The day: 2026-12-31 or 31.12.2026; now when left out",
                ))
                .param(query(
                    "store",
                    string(),
                    "Only the customers of this store (a manager: one of theirs; without it, all of theirs)",
                ))
                .answer(200, ok("The liability", schema_ref("LiabilityView"))),
            ),
        ),
    ]
}
