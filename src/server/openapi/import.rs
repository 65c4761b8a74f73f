//! The OpenAPI description of the import of an existing customer base,
//! `POST /admin/imports`: the file itself as the body, the report as the answer.

use serde_json::json;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{KnownFormat, SchemaFormat};
use utoipa::openapi::{Content, HttpMethod, RefOr, Required, Schema};

use super::{Op, add, error, internal, ok, query};
use crate::protocol::schema::{schema_ref, string};
use crate::protocol::server::ErrorCode as E;
use crate::server::import::{ImportReport, MAX_FILE_BYTES};

pub(super) fn schemas(all: &mut Vec<(String, RefOr<Schema>)>) {
    add::<ImportReport>(all);
}

/// The body: the file as Excel saved it, CSV text or an XLSX workbook.
fn file_body() -> utoipa::openapi::request_body::RequestBody {
    let binary = || {
        Content::builder()
            .schema(Some(
                string().format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary))),
            ))
            .build()
    };
    RequestBodyBuilder::new()
        .description(Some(format!(
            "The customer base file, at most {MAX_FILE_BYTES} bytes: CSV (`;`, `,` or tab \
             separated; UTF-8 with or without a BOM, UTF-16 with a BOM, or Windows-1251) or \
             XLSX (its first sheet), told apart by its first bytes"
        )))
        .required(Some(Required::True))
        .content(
            "text/csv",
            Content::builder()
                .schema(Some(string()))
                .example(Some(json!(
                    "Телефон;Имя;Номер карты;Статус карты;Баланс бонусов;Сумма покупок\r\n\
                     +7 999 300-00-01;Алёна;2910000000017;Золотая;1 250,00;64 300,00\r\n"
                )))
                .build(),
        )
        .content(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            binary(),
        )
        .content("application/octet-stream", binary())
        .build()
}

pub(super) fn routes() -> Vec<(&'static str, HttpMethod, Operation)> {
    let mut op = Op::new(
        "admin_import_customers",
        "Check (dry_run) or import a customer base from CSV or XLSX into a store: all or \
         nothing, and the same file twice changes nothing",
        false,
    )
    .admin()
    .param(
        ParameterBuilder::new()
            .name("store")
            .parameter_in(ParameterIn::Query)
            .required(Required::True)
            .description(Some(
                "The store the customers join (a manager: one of theirs)",
            ))
            .schema(Some(string().min_length(Some(1))))
            .build(),
    )
    .param(query(
        "dry_run",
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Boolean),
        "Check every row and write nothing",
    ))
    .answer(
        200,
        ok(
            "The report: every bad row, and whether it wrote (`written`)",
            schema_ref("ImportReport"),
        ),
    )
    .answer(
        400,
        error(
            "The query is wrong, or the file cannot be read as a whole (no header row, no phone \
             column, a column twice, not CSV or XLSX); the message says which",
            &[E::BadRequest],
        ),
    )
    .answer(
        403,
        error("Not one of this manager's stores", &[E::Forbidden]),
    )
    .answer(404, error("No such store", &[E::NotFound]))
    .answer(
        413,
        error(
            &format!("The file is larger than {MAX_FILE_BYTES} bytes"),
            &[E::PayloadTooLarge],
        ),
    )
    .answer(500, internal())
    .build();
    op.request_body = Some(file_body());
    vec![("/admin/imports", HttpMethod::Post, op)]
}
