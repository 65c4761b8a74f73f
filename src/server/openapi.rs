//! The OpenAPI 3.1 document of the HTTP API, served at `/api/v1/openapi.json`.
//!
//! Built by hand from `utoipa`'s builders rather than from `#[utoipa::path]` attributes, so
//! the handlers in `api` stay free of documentation macros. The wire types of
//! `protocol::server` derive their schemas; the domain types inside them (`Receipt`,
//! `Calculation`, the amounts, `Phone`) get theirs here, written out by hand, because
//! `domain` knows nothing of HTTP.
//!
//! The document must stay true: `tests/server/openapi.rs` compares its paths with the
//! router's and validates real answers against it, and `scripts/schemathesis.sh` fuzzes
//! the running server with it. Two rules keep it so:
//! - a request schema admits everything the server accepts (it may admit more: the server
//!   then answers `400 BAD_REQUEST`), which is why input amounts are a separate schema
//!   (`MoneyInput`, `BonusInput`, `QuantityInput`, in `protocol::schema`: a decimal string or
//!   an integer);
//! - a response schema describes exactly what the server sends: amounts as strings with two
//!   decimals, no `null` for a field the server leaves out, no unknown fields, and for each
//!   error status only the error codes a handler answers with.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use serde_json::json;
use utoipa::ToSchema;
use utoipa::openapi::path::{
    Operation, OperationBuilder, Parameter, ParameterBuilder, ParameterIn,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{
    AdditionalProperties, AllOfBuilder, ArrayBuilder, KnownFormat, ObjectBuilder, SchemaFormat,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, Content, Header, HttpMethod, InfoBuilder, OpenApi, OpenApiBuilder, PathItem,
    Paths, RefOr, Required, Response, Schema, SecurityRequirement, Server, Type,
};

use crate::protocol::schema::{closed_object, integer, schema_ref, string};
use crate::protocol::server::*;

mod admin;
mod holds;
mod import;
mod reports;

/// The name of the bearer security scheme in the document.
const BEARER: &str = "terminalToken";
/// The back office's session, as a bearer token or as the browser's cookie.
const ADMIN_BEARER: &str = "adminSession";
const ADMIN_COOKIE: &str = "adminCookie";

/// Which back-office session a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Session {
    /// Any signed-in session.
    Any,
    /// A session whose one-time password is changed.
    Changed,
}

/// The document, built once: it never changes while the server runs.
pub fn document() -> OpenApi {
    static DOC: OnceLock<OpenApi> = OnceLock::new();
    DOC.get_or_init(build).clone()
}

/// `GET /api/v1/openapi.json`: the document, without authentication, so tools can read it.
pub async fn openapi() -> impl IntoResponse {
    static JSON: OnceLock<String> = OnceLock::new();
    let body = JSON.get_or_init(|| {
        document()
            .to_json()
            .expect("an OpenAPI document always serializes")
    });
    ([(header::CONTENT_TYPE, "application/json")], body.as_str())
}

// --- Answers without a wire type of their own -----------------------------------------

fn health_schema() -> Schema {
    closed_object()
        .property("status", string().enum_values(Some(["ok"])))
        .required("status")
        .into()
}

fn demo_sms_schema() -> Schema {
    let message = closed_object()
        .property(
            "at",
            string().format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
        )
        .required("at")
        .property("phone", string().pattern(Some(r"^\+7\d{10}$")))
        .required("phone")
        .property("text", string())
        .required("text");
    closed_object()
        .description(Some(
            "The latest messages of the log SMS gateway, oldest first.",
        ))
        .property("messages", ArrayBuilder::new().items(message))
        .required("messages")
        .into()
}

fn openapi_schema() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some("This document."))
        .property("openapi", string())
        .required("openapi")
        .property("info", ObjectBuilder::new().schema_type(Type::Object))
        .required("info")
        .property("paths", ObjectBuilder::new().schema_type(Type::Object))
        .required("paths")
        .into()
}

// --- Operations -----------------------------------------------------------------------

const JSON: &str = "application/json";

fn ok(description: &str, schema: RefOr<Schema>) -> Response {
    Response::builder()
        .description(description)
        .content(JSON, Content::new(Some(schema)))
        .build()
}

/// An error answer whose `code` is one of `codes`.
fn error(description: &str, codes: &[ErrorCode]) -> Response {
    let names: Vec<serde_json::Value> = codes
        .iter()
        .map(|c| serde_json::to_value(c).expect("an error code serializes"))
        .collect();
    let listed: Vec<String> = names
        .iter()
        .map(|n| format!("`{}`", n.as_str().unwrap_or_default()))
        .collect();
    let schema = AllOfBuilder::new()
        .item(schema_ref("ErrorBody"))
        .item(ObjectBuilder::new().property("code", string().enum_values(Some(names))))
        .build();
    let schema = Schema::AllOf(schema);
    Response::builder()
        .description(format!("{description} (code {})", listed.join(", ")))
        .content(JSON, Content::new(Some(schema)))
        .build()
}

/// The same, with a `Retry-After` header in seconds.
fn error_retry(description: &str, codes: &[ErrorCode]) -> Response {
    let mut r = error(description, codes);
    r.headers.insert(
        "Retry-After".into(),
        Header::builder()
            .schema(integer().minimum(Some(0)))
            .description(Some("Seconds to wait, the same as `retry_after_s`."))
            .build(),
    );
    r
}

/// A `400` for a route that reads a query string: a bad query is refused by axum's own
/// extractor, which answers in plain text, not with an `ErrorBody`.
fn bad_query() -> Response {
    error(
        "A malformed query string or path parameter",
        &[ErrorCode::BadRequest],
    )
}

/// How an operation is described: the parts every route has, and the answers of its own.
struct Op {
    id: &'static str,
    summary: &'static str,
    /// Needs a terminal's bearer token.
    auth: bool,
    /// Needs a back-office session (and, with `changed`, its one-time password changed).
    session: Option<Session>,
    body: Option<(RefOr<Schema>, serde_json::Value)>,
    params: Vec<Parameter>,
    responses: Vec<(u16, Response)>,
}

impl Op {
    fn new(id: &'static str, summary: &'static str, auth: bool) -> Op {
        Op {
            id,
            summary,
            auth,
            session: None,
            body: None,
            params: Vec::new(),
            responses: Vec::new(),
        }
    }

    /// A JSON body, parsed strictly: a bad or unknown field is `400`, more than
    /// `MAX_BODY_BYTES` is `413`.
    fn body(mut self, schema: &str, example: serde_json::Value) -> Op {
        self.body = Some((schema_ref(schema), example));
        self.responses.push((
            400,
            error(
                "The body is not JSON, has an unknown field or a bad value; the message names the field",
                &[ErrorCode::BadRequest],
            ),
        ));
        self.responses.push((
            413,
            error(
                &format!("The body is larger than {MAX_BODY_BYTES} bytes"),
                &[ErrorCode::PayloadTooLarge],
            ),
        ));
        self
    }

    fn param(mut self, p: Parameter) -> Op {
        self.params.push(p);
        self
    }

    fn answer(mut self, status: u16, r: Response) -> Op {
        self.responses.push((status, r));
        self
    }

    /// Needs a signed-in back-office session, its one-time password changed.
    fn admin(mut self) -> Op {
        self.session = Some(Session::Changed);
        self
    }

    /// Needs a signed-in back-office session, even one that must change its password.
    fn signed_in(mut self) -> Op {
        self.session = Some(Session::Any);
        self
    }

    /// Merges the codes of the route's own answer with `status` into `codes`.
    fn merge(&mut self, status: u16, description: &str, mut codes: Vec<ErrorCode>) {
        if let Some(i) = self.responses.iter().position(|(s, _)| *s == status) {
            let (_, own) = self.responses.remove(i);
            codes.extend(codes_of(&own));
        }
        self.responses.push((status, error(description, &codes)));
    }

    fn build(mut self) -> Operation {
        if let Some(session) = self.session {
            self.merge(
                401,
                "No session, an unknown or expired one, or the route's own refusal",
                vec![ErrorCode::Unauthorized],
            );
            if session == Session::Changed {
                self.merge(
                    403,
                    "The one-time password is not changed yet, or the account may not do this",
                    vec![ErrorCode::PasswordChangeRequired],
                );
            }
        }
        if self.auth {
            let status = self.responses.iter().position(|(s, _)| *s == 401);
            let auth_codes = [ErrorCode::Unauthorized, ErrorCode::TokenRevoked];
            match status {
                // The route refuses for reasons of its own too: list all codes in one answer.
                Some(i) => {
                    let (_, own) = self.responses.remove(i);
                    let mut codes = auth_codes.to_vec();
                    codes.extend(codes_of(&own));
                    self.responses.push((
                        401,
                        error(
                            "No token, an unknown or revoked token, or the route's own refusal",
                            &codes,
                        ),
                    ));
                }
                None => self.responses.push((
                    401,
                    error("No token, or an unknown or revoked one", &auth_codes),
                )),
            }
        }
        let mut op = OperationBuilder::new()
            .operation_id(Some(self.id))
            .summary(Some(self.summary));
        if self.auth {
            op = op.security(SecurityRequirement::new(BEARER, Vec::<String>::new()));
        }
        if self.session.is_some() {
            op = op
                .security(SecurityRequirement::new(ADMIN_BEARER, Vec::<String>::new()))
                .security(SecurityRequirement::new(ADMIN_COOKIE, Vec::<String>::new()));
        }
        if let Some((schema, example)) = self.body {
            op = op.request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::True))
                    .content(
                        JSON,
                        Content::builder()
                            .schema(Some(schema))
                            .example(Some(example))
                            .build(),
                    )
                    .build(),
            ));
        }
        for p in self.params {
            op = op.parameter(p);
        }
        self.responses.sort_by_key(|(s, _)| *s);
        for (status, r) in self.responses {
            op = op.response(status.to_string(), r);
        }
        op.build()
    }
}

/// The error codes an `error` answer admits, read back from its schema.
fn codes_of(r: &Response) -> Vec<ErrorCode> {
    let Some(content) = r.content.get(JSON) else {
        return Vec::new();
    };
    let schema = serde_json::to_value(&content.schema).unwrap_or_default();
    schema["allOf"][1]["properties"]["code"]["enum"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| serde_json::from_value(v.clone()).ok())
        .collect()
}

fn internal() -> Response {
    error(
        "The database failed; logged on the server, nothing was applied",
        &[ErrorCode::Internal],
    )
}

/// The customer's `{id}` in a path.
fn customer_id() -> Parameter {
    ParameterBuilder::new()
        .name("id")
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some("The customer's id"))
        .schema(Some(string().min_length(Some(1))))
        .build()
}

/// The `limit` query parameter of a list.
fn limit(description: &str) -> Parameter {
    query(
        "limit",
        integer()
            .format(Some(SchemaFormat::Custom("uint64".into())))
            .maximum(Some(usize::MAX))
            .minimum(Some(0)),
        description,
    )
}

/// A path's customer id that names nobody.
fn no_customer_with_this_id() -> Response {
    error(
        "No customer with this id (`NOT_FOUND` for an empty id, which no route matches)",
        &[ErrorCode::CustomerNotFound, ErrorCode::NotFound],
    )
}

fn query(name: &str, schema: ObjectBuilder, description: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

fn routes() -> Vec<(&'static str, HttpMethod, Operation)> {
    let mut all = core_routes();
    all.extend(holds::routes());
    all.extend(admin::routes());
    all.extend(reports::routes());
    all.extend(import::routes());
    all
}

fn core_routes() -> Vec<(&'static str, HttpMethod, Operation)> {
    use ErrorCode as E;
    let customer_not_found = || error("No customer with this id", &[E::CustomerNotFound]);
    vec![
        (
            "/health",
            HttpMethod::Get,
            Op::new("health", "Liveness: answers while the server runs", false)
                .answer(200, ok("The server runs", schema_ref("Health")))
                .build(),
        ),
        (
            "/openapi.json",
            HttpMethod::Get,
            Op::new("openapi", "This OpenAPI document", false)
                .answer(200, ok("The document", schema_ref("OpenApiDocument")))
                .build(),
        ),
        (
            "/enroll",
            HttpMethod::Post,
            Op::new(
                "enroll",
                "Enroll a terminal with a one-time code; answers its bearer token",
                false,
            )
            .body("EnrollRequest", json!({ "code": "ABCD-EFGH", "name": "Касса 2" }))
            .answer(200, ok("Enrolled; the token is shown once", schema_ref("EnrollResponse")))
            .answer(
                401,
                error("The code is wrong, used or expired", &[E::EnrollmentCodeInvalid]),
            )
            .answer(500, internal())
            .build(),
        ),
        (
            "/cashiers/login",
            HttpMethod::Post,
            Op::new("login", "Log a cashier in at this terminal by their code", true)
                .body("LoginRequest", json!({ "code": "1111" }))
                .answer(200, ok("The cashier", schema_ref("LoginResponse")))
                .answer(
                    401,
                    error("A wrong cashier code; `tries_left` counts down", &[E::CashierCodeWrong]),
                )
                .answer(
                    423,
                    error_retry(
                        "Locked after too many wrong codes; `retry_after_s` says how long",
                        &[E::CashierLocked],
                    ),
                )
                .answer(500, internal())
                .build(),
        ),
        (
            "/cashiers/unlock",
            HttpMethod::Post,
            Op::new(
                "unlock",
                "A manager lifts the lock of this terminal's logins with their own code, locked or not",
                true,
            )
            .body("LoginRequest", json!({ "code": "9999" }))
            .answer(200, ok("The manager who unlocked; the wrong-code count starts again", schema_ref("LoginResponse")))
            .answer(
                401,
                error(
                    "Not a manager's code: it counts as one more wrong code; `tries_left` counts down",
                    &[E::CashierCodeWrong],
                ),
            )
            .answer(
                423,
                error_retry(
                    "That wrong code locked the logins; `retry_after_s` says how long",
                    &[E::CashierLocked],
                ),
            )
            .answer(500, internal())
            .build(),
        ),
        (
            "/customers/lookup",
            HttpMethod::Post,
            Op::new(
                "lookup",
                "Find a customer by exactly one of phone, card number or scanned payload",
                true,
            )
            .body("LookupRequest", json!({ "phone": "+79990000001" }))
            .answer(200, ok("The customer, masked", schema_ref("CustomerView")))
            .answer(
                404,
                error("No customer with this phone or card", &[E::CustomerNotFound]),
            )
            .answer(500, internal())
            .build(),
        ),
        (
            "/customers/{id}/history",
            HttpMethod::Get,
            Op::new("history", "A customer's balance and bonus history, newest first", true)
                .param(customer_id())
                .param(limit("At most this many entries (default 100, capped at 1000)"))
                .answer(200, ok("The history", schema_ref("HistoryResponse")))
                .answer(400, bad_query())
                .answer(404, no_customer_with_this_id())
                .answer(500, internal())
                .build(),
        ),
        (
            "/customers/{id}/sales",
            HttpMethod::Get,
            Op::new(
                "customer_sales",
                "A customer's recent purchases at any till of the chain, newest first, for a return without the receipt",
                true,
            )
            .param(customer_id())
            .param(limit("At most this many sales (default 20, capped at 100)"))
            .answer(200, ok("The purchases", schema_ref("SalesResponse")))
            .answer(400, bad_query())
            .answer(404, no_customer_with_this_id())
            .answer(500, internal())
            .build(),
        ),
        (
            "/sales/find",
            HttpMethod::Post,
            Op::new(
                "find_sale",
                "Find a sale for a return at any till of the chain: by its receipt number (at the named till, or at any till), or by the fiscal document of its receipt. None, one, or several tills' sales",
                true,
            )
            .body(
                "FindSaleRequest",
                json!({ "fiscal": { "fn": "9960440300112233", "fd": 4021, "fp": "2837461902",
                                    "at": "2026-12-03T10:15", "sum": "2300.00", "kind": "sale" } }),
            )
            .answer(200, ok("The sales found", schema_ref("SalesResponse")))
            .answer(500, internal())
            .build(),
        ),
        (
            "/sms/send",
            HttpMethod::Post,
            Op::new("sms_send", "Send an SMS code to a phone", true)
                .body(
                    "SmsSendRequest",
                    json!({ "phone": "+79990001234", "purpose": "registration" }),
                )
                .answer(200, ok("The code was sent", schema_ref("SmsSendResponse")))
                .answer(
                    429,
                    error_retry(
                        "Too soon after the last code, or too many codes for this phone or terminal",
                        &[E::Cooldown, E::RateLimited],
                    ),
                )
                .answer(500, internal())
                .answer(
                    502,
                    error("The SMS gateway refused the message", &[E::SmsFailed]),
                )
                .build(),
        ),
        (
            "/sms/verify",
            HttpMethod::Post,
            Op::new(
                "sms_verify",
                "Check an SMS code; answers a one-time proof of the phone",
                true,
            )
            .body(
                "SmsVerifyRequest",
                json!({ "phone": "+79990001234", "purpose": "registration", "code": "123456" }),
            )
            .answer(200, ok("The code is right", schema_ref("SmsVerifyResponse")))
            .answer(
                401,
                error("A wrong code; `tries_left` counts down", &[E::CodeWrong]),
            )
            .answer(
                404,
                error("No code was sent to this phone", &[E::CodeExpired]),
            )
            .answer(410, error("The code expired", &[E::CodeExpired]))
            .answer(
                429,
                error("Too many wrong codes; send a new one", &[E::TooManyTries]),
            )
            .answer(500, internal())
            .build(),
        ),
        (
            "/calc",
            HttpMethod::Post,
            Op::new(
                "calc",
                "Calculate a sale receipt for a customer with the server's rules",
                true,
            )
            .body(
                "CalcRequest",
                json!({ "customer_id": "0190f1c2-0000-7000-8000-000000000001",
                        "receipt": { "id": "r-1", "kind": "sale", "at": "2026-11-23T12:00:00+03:00",
                                     "positions": [ { "id": "1", "category": "coffee",
                                                      "price": "1000.00", "quantity": "1" } ] },
                        "spend": "100" }),
            )
            .answer(200, ok("The calculation", schema_ref("CalcResponse")))
            .answer(404, customer_not_found())
            .answer(500, internal())
            .build(),
        ),
        (
            "/operations",
            HttpMethod::Post,
            Op::new(
                "operations",
                "Apply a batch of till operations, each at most once; answers each one",
                true,
            )
            .body(
                "OperationsRequest",
                json!({ "operations": [ {
                    "id": "0190f1c2-0000-7000-8000-0000000000aa", "seq": 1,
                    "at": "2026-11-23T09:00:00Z", "cashier": "Кассир Мария", "cashier_id": 1,
                    "body": { "kind": "consent", "customer_id": "0190f1c2-0000-7000-8000-000000000001",
                              "advertising": false } } ] }),
            )
            .answer(
                200,
                ok(
                    "One result per operation, in `seq` order",
                    schema_ref("OperationsResponse"),
                ),
            )
            .answer(500, internal())
            .build(),
        ),
        (
            "/rules",
            HttpMethod::Get,
            Op::new("rules", "The loyalty rules file the server calculates with", true)
                .answer(200, ok("The rules", schema_ref("RulesResponse")))
                .answer(500, internal())
                .build(),
        ),
        (
            "/feed/customers",
            HttpMethod::Get,
            Op::new(
                "feed",
                "Customers changed after a cursor, with only what a terminal may keep",
                true,
            )
            .param(query(
                "since",
                integer().format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64))),
                "The `cursor` of the previous page (default 0: from the start)",
            ))
            .param(query(
                "limit",
                integer().format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64))),
                "Page size (default 1000, clamped to 1..=5000)",
            ))
            .answer(200, ok("A page of the feed", schema_ref("CustomerFeed")))
            .answer(400, bad_query())
            .answer(500, internal())
            .build(),
        ),
        (
            "/demo/sms",
            HttpMethod::Get,
            Op::new(
                "demo_sms",
                "Demo only (`serve --demo-endpoints`): the log gateway's latest SMS",
                false,
            )
            .answer(200, ok("The inbox", schema_ref("DemoSmsInbox")))
            .answer(
                404,
                error("The server sends SMS through a real gateway", &[E::NotFound]),
            )
            .build(),
        ),
    ]
}

/// The named schemas of every wire type the routes refer to.
/// Adds a wire type's schema and those it refers to.
fn add<T: ToSchema>(all: &mut Vec<(String, RefOr<Schema>)>) {
    all.push((T::name().into_owned(), T::schema()));
    T::schemas(all);
}

fn schemas() -> BTreeMap<String, RefOr<Schema>> {
    let mut all: Vec<(String, RefOr<Schema>)> = Vec::new();
    add::<ErrorBody>(&mut all);
    add::<EnrollRequest>(&mut all);
    add::<EnrollResponse>(&mut all);
    add::<LoginRequest>(&mut all);
    add::<LoginResponse>(&mut all);
    add::<LookupRequest>(&mut all);
    add::<CustomerView>(&mut all);
    add::<SmsSendRequest>(&mut all);
    add::<SmsSendResponse>(&mut all);
    add::<SmsVerifyRequest>(&mut all);
    add::<SmsVerifyResponse>(&mut all);
    add::<CalcRequest>(&mut all);
    add::<CalcResponse>(&mut all);
    add::<OperationsRequest>(&mut all);
    add::<OperationsResponse>(&mut all);
    add::<HoldRequest>(&mut all);
    add::<HoldResponse>(&mut all);
    add::<RulesResponse>(&mut all);
    add::<CustomerFeed>(&mut all);
    add::<HistoryResponse>(&mut all);
    add::<crate::protocol::sales::FindSaleRequest>(&mut all);
    add::<crate::protocol::sales::SalesResponse>(&mut all);
    admin::schemas(&mut all);
    reports::schemas(&mut all);
    import::schemas(&mut all);
    for (name, schema) in &mut all {
        if name == "OperationBody" || name == "CardIssue" {
            close_variants(schema);
        }
    }
    all.push(("Health".into(), health_schema().into()));
    all.push(("DemoSmsInbox".into(), demo_sms_schema().into()));
    all.push(("OpenApiDocument".into(), openapi_schema().into()));
    all.into_iter().collect()
}

/// Marks the variants of an internally tagged enum that refuse unknown fields: serde's
/// `deny_unknown_fields` on the enum applies to every variant with fields, but the derive
/// leaves them all open. A unit variant (`{"kind": "virtual"}`) stays open: serde ignores
/// whatever else its object carries.
fn close_variants(schema: &mut RefOr<Schema>) {
    if let RefOr::T(Schema::OneOf(one_of)) = schema {
        for variant in &mut one_of.items {
            if let RefOr::T(Schema::Object(o)) = variant
                && o.properties.len() > 1
            {
                o.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
            }
        }
    }
}

fn build() -> OpenApi {
    let mut paths = Paths::new();
    for (path, method, op) in routes() {
        match paths.paths.get_mut(path) {
            Some(item) => item.merge_operations(PathItem::new(method, op)),
            None => {
                paths
                    .paths
                    .insert(path.to_string(), PathItem::new(method, op));
            }
        }
    }
    let mut components = ComponentsBuilder::new()
        .security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The terminal token from `POST /enroll`, as `Authorization: Bearer <token>`.",
                    ))
                    .build(),
            ),
        )
        .security_scheme(
            ADMIN_BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A back-office session token from `POST /admin/session`, as \
                         `Authorization: Bearer <token>`.",
                    ))
                    .build(),
            ),
        )
        .security_scheme(
            ADMIN_COOKIE,
            SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Cookie(
                utoipa::openapi::security::ApiKeyValue::with_description(
                    crate::protocol::admin::SESSION_COOKIE,
                    "The same session as the HttpOnly, SameSite=Strict cookie sign-in sets.",
                ),
            )),
        );
    for (name, schema) in schemas() {
        components = components.schema(name, schema);
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("bonuskassa loyalty server")
                .version("1")
                .description(Some(
                    "The central loyalty server's HTTP API, version 1. Every request body is \
                     JSON, at most 1 MiB, and refuses unknown fields; every error is an \
                     `ErrorBody` `{code, message}` whose `code` is stable. Amounts are decimal \
                     strings (`\"234.00\"`).",
                ))
                .build(),
        )
        .servers(Some([Server::new(API_PREFIX)]))
        .paths(paths)
        .components(Some(components.build()))
        .build()
}
