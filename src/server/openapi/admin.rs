//! The OpenAPI description of the back office, `/admin/...`, and of the tills' status
//! report, `POST /terminal/status`.

use serde_json::json;
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::ArrayBuilder;
use utoipa::openapi::{HttpMethod, RefOr, Required, Response, Schema};

use super::{Op, add, bad_query, error, error_retry, integer, internal, ok, query};
use crate::protocol::admin::*;
use crate::protocol::schema::{schema_ref, string};
use crate::protocol::server::ErrorCode as E;

pub(super) fn schemas(all: &mut Vec<(String, RefOr<Schema>)>) {
    add::<SignInRequest>(all);
    add::<SignInResponse>(all);
    add::<AccountView>(all);
    add::<ChangePasswordRequest>(all);
    add::<NewAccountRequest>(all);
    add::<AccountUpdate>(all);
    add::<AccountCreated>(all);
    add::<StoreView>(all);
    add::<NewStoreRequest>(all);
    add::<StoreUpdate>(all);
    add::<StaffView>(all);
    add::<NewStaffRequest>(all);
    add::<StaffUpdate>(all);
    add::<TerminalView>(all);
    add::<EnrollmentCodeRequest>(all);
    add::<EnrollmentCodeResponse>(all);
    add::<TerminalStatusRequest>(all);
    add::<RulesVersionView>(all);
    add::<RulesUploadRequest>(all);
    add::<RulesVersionText>(all);
    add::<RulesDiff>(all);
    add::<RulesTryRequest>(all);
    add::<RulesTryResponse>(all);
    add::<AuditEvent>(all);
    add::<CustomerListItem>(all);
    add::<CustomerPage>(all);
    add::<CustomerQuestionnaire>(all);
    add::<CardBlockRequest>(all);
    add::<CardReplaceRequest>(all);
    add::<ManualChangeRequest>(all);
    add::<ConsentsUpdate>(all);
    add::<MergeRequest>(all);
}

fn customer_param() -> Parameter {
    path_param("id", "The customer's id", false)
}

/// A change of one customer: its body, the page after it, and the refusals every such
/// change has.
fn customer_change(
    id: &'static str,
    summary: &'static str,
    body: Option<(&str, serde_json::Value)>,
) -> Op {
    let mut op = Op::new(id, summary, false).admin().param(customer_param());
    match body {
        // The body's own 400 covers an erased or merged record too (`BAD_REQUEST`).
        Some((schema, example)) => op = op.body(schema, example),
        None => {
            op = op.answer(
                400,
                error(
                    "The record was erased or merged into another",
                    &[E::BadRequest],
                ),
            )
        }
    }
    op.answer(
        200,
        ok(
            "The customer's page after the change",
            schema_ref("CustomerPage"),
        ),
    )
    .answer(
        403,
        forbidden("Not a customer of this manager's stores, or only the owner may"),
    )
    .answer(404, not_found("No customer with this id"))
}

fn list_of(name: &str) -> RefOr<Schema> {
    Schema::Array(ArrayBuilder::new().items(schema_ref(name)).build()).into()
}

fn path_param(name: &str, description: &str, numeric: bool) -> Parameter {
    let schema = if numeric {
        integer().format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::Int64,
        )))
    } else {
        string().min_length(Some(1))
    };
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

fn store_query() -> Parameter {
    query(
        "store",
        string(),
        "Only this store's (a manager: one of theirs)",
    )
}

fn forbidden(what: &str) -> Response {
    error(what, &[E::Forbidden])
}

fn not_found(what: &str) -> Response {
    error(what, &[E::NotFound])
}

fn taken(what: &str) -> Response {
    error(what, &[E::AlreadyExists])
}

fn no_content(description: &str) -> Response {
    Response::builder().description(description).build()
}

/// A route's common ending: the database failed.
fn done(op: Op) -> Operation {
    op.answer(500, internal()).build()
}

pub(super) fn routes() -> Vec<(&'static str, HttpMethod, Operation)> {
    vec![
        (
            "/terminal/status",
            HttpMethod::Post,
            done(
                Op::new(
                    "terminal_status",
                    "A till reports its version and queue, for the back office's list of terminals",
                    true,
                )
                .body(
                    "TerminalStatusRequest",
                    json!({ "app_version": "0.1.0", "queue_length": 2,
                            "oldest_queued_at": "2026-12-03T09:15:00Z" }),
                )
                .answer(204, no_content("Recorded")),
            ),
        ),
        (
            "/admin/session",
            HttpMethod::Post,
            done(
                Op::new(
                    "admin_sign_in",
                    "Sign in to the back office: a session token, and the same as an HttpOnly cookie",
                    false,
                )
                .body(
                    "SignInRequest",
                    json!({ "email": "owner@example.ru", "password": "a long password" }),
                )
                .answer(200, ok("Signed in", schema_ref("SignInResponse")))
                .answer(
                    401,
                    error("A wrong e-mail or password", &[E::SignInFailed]),
                )
                .answer(
                    429,
                    error_retry(
                        "Locked after five wrong passwords; `retry_after_s` says how long",
                        &[E::AccountLocked],
                    ),
                ),
            ),
        ),
        (
            "/admin/session",
            HttpMethod::Delete,
            done(
                Op::new("admin_sign_out", "Sign out: the session ends", false)
                    .signed_in()
                    .answer(204, no_content("Signed out; the cookie is cleared")),
            ),
        ),
        (
            "/admin/me",
            HttpMethod::Get,
            done(
                Op::new("admin_me", "The signed-in account", false)
                    .signed_in()
                    .answer(200, ok("The account", schema_ref("AccountView"))),
            ),
        ),
        (
            "/admin/password",
            HttpMethod::Post,
            done(
                Op::new(
                    "admin_change_password",
                    "Change the account's password; every other session ends and a new one starts",
                    false,
                )
                .signed_in()
                .body(
                    "ChangePasswordRequest",
                    json!({ "current": "5Mz5dWb7CMtG", "new": "a long new password" }),
                )
                .answer(200, ok("Changed; a new session", schema_ref("SignInResponse"))),
            ),
        ),
        (
            "/admin/accounts",
            HttpMethod::Get,
            done(
                Op::new("admin_accounts", "Every back-office account (owner only)", false)
                    .admin()
                    .answer(200, ok("The accounts", list_of("AccountView")))
                    .answer(403, forbidden("Not the owner")),
            ),
        ),
        (
            "/admin/accounts",
            HttpMethod::Post,
            done(
                Op::new(
                    "admin_add_account",
                    "Create an owner or store-manager account with a one-time password (owner only)",
                    false,
                )
                .admin()
                .body(
                    "NewAccountRequest",
                    json!({ "email": "manager@example.ru", "role": "manager", "stores": ["store-1"] }),
                )
                .answer(
                    201,
                    ok("Created; the one-time password is shown once", schema_ref("AccountCreated")),
                )
                .answer(403, forbidden("Not the owner"))
                .answer(409, taken("There already is an account with this e-mail")),
            ),
        ),
        (
            "/admin/accounts/{id}",
            HttpMethod::Patch,
            done(
                Op::new(
                    "admin_update_account",
                    "Change an account's stores, deactivate or reactivate it, or reset its password (owner only)",
                    false,
                )
                .admin()
                .param(path_param("id", "The account's id", true))
                .body("AccountUpdate", json!({ "active": false }))
                .answer(
                    200,
                    ok("The account (and a new one-time password when reset)", schema_ref("AccountCreated")),
                )
                .answer(403, forbidden("Not the owner"))
                .answer(404, not_found("No account with this id")),
            ),
        ),
        (
            "/admin/stores",
            HttpMethod::Get,
            done(
                Op::new("admin_stores", "The stores the account may see", false)
                    .admin()
                    .answer(200, ok("The stores", list_of("StoreView"))),
            ),
        ),
        (
            "/admin/stores",
            HttpMethod::Post,
            done(
                Op::new("admin_add_store", "Create a store (owner only)", false)
                    .admin()
                    .body(
                        "NewStoreRequest",
                        json!({ "id": "ekb-1", "name": "Кофе у Карины", "address": "Екатеринбург, ул. Ленина, 5",
                                "time_zone": "Asia/Yekaterinburg" }),
                    )
                    .answer(201, ok("Created", schema_ref("StoreView")))
                    .answer(403, forbidden("Not the owner"))
                    .answer(409, taken("There already is a store with this id")),
            ),
        ),
        (
            "/admin/stores/{id}",
            HttpMethod::Patch,
            done(
                Op::new(
                    "admin_update_store",
                    "Change a store's name, address or time zone",
                    false,
                )
                .admin()
                .param(path_param("id", "The store's id", false))
                .body("StoreUpdate", json!({ "time_zone": "Asia/Yekaterinburg" }))
                .answer(200, ok("The store", schema_ref("StoreView")))
                .answer(403, forbidden("Not one of this manager's stores"))
                .answer(404, not_found("No store with this id")),
            ),
        ),
        (
            "/admin/staff",
            HttpMethod::Get,
            done(
                Op::new("admin_staff", "Cashiers and till managers", false)
                    .admin()
                    .param(store_query())
                    .answer(200, ok("The staff", list_of("StaffView")))
                    .answer(400, bad_query())
                    .answer(403, forbidden("Not one of this manager's stores")),
            ),
        ),
        (
            "/admin/staff",
            HttpMethod::Post,
            done(
                Op::new("admin_add_staff", "Add a cashier or till manager to a store", false)
                    .admin()
                    .body(
                        "NewStaffRequest",
                        json!({ "store_id": "store-1", "name": "Кассир Пётр", "role": "cashier", "code": "4321" }),
                    )
                    .answer(201, ok("Added", schema_ref("StaffView")))
                    .answer(403, forbidden("Not one of this manager's stores"))
                    .answer(409, taken("Another cashier of the store has this code")),
            ),
        ),
        (
            "/admin/staff/{id}",
            HttpMethod::Patch,
            done(
                Op::new(
                    "admin_update_staff",
                    "Rename, change the role or code of, deactivate or reactivate a staff member",
                    false,
                )
                .admin()
                .param(path_param("id", "The staff member's id", true))
                .body("StaffUpdate", json!({ "code": "5678" }))
                .answer(200, ok("The staff member", schema_ref("StaffView")))
                .answer(403, forbidden("Not one of this manager's stores"))
                .answer(404, not_found("No staff member with this id"))
                .answer(409, taken("Another cashier of the store has this code")),
            ),
        ),
        (
            "/admin/terminals",
            HttpMethod::Get,
            done(
                Op::new(
                    "admin_terminals",
                    "The tills, with what each reported at its last sync",
                    false,
                )
                .admin()
                .param(store_query())
                .answer(200, ok("The tills", list_of("TerminalView")))
                .answer(400, bad_query())
                .answer(403, forbidden("Not one of this manager's stores")),
            ),
        ),
        (
            "/admin/terminals/enrollment-codes",
            HttpMethod::Post,
            done(
                Op::new(
                    "admin_enrollment_code",
                    "A one-time code to enroll a new till of a store",
                    false,
                )
                .admin()
                .body("EnrollmentCodeRequest", json!({ "store_id": "store-1" }))
                .answer(201, ok("The code, shown once", schema_ref("EnrollmentCodeResponse")))
                .answer(403, forbidden("Not one of this manager's stores")),
            ),
        ),
        (
            "/admin/terminals/{id}/revoke",
            HttpMethod::Post,
            done(
                Op::new("admin_revoke_terminal", "Revoke a till's token", false)
                    .admin()
                    .param(path_param("id", "The terminal's id", false))
                    .answer(200, ok("The till, revoked", schema_ref("TerminalView")))
                    .answer(403, forbidden("Not one of this manager's stores"))
                    .answer(404, not_found("No terminal with this id")),
            ),
        ),
        (
            "/admin/terminals/{id}/unlock",
            HttpMethod::Post,
            done(
                Op::new(
                    "admin_unlock_terminal",
                    "Lift the lock that wrong cashier codes put on a till's logins",
                    false,
                )
                .admin()
                .param(path_param("id", "The terminal's id", false))
                .answer(200, ok("The till", schema_ref("TerminalView")))
                .answer(403, forbidden("Not one of this manager's stores"))
                .answer(404, not_found("No terminal with this id")),
            ),
        ),
        (
            "/admin/rules",
            HttpMethod::Get,
            done(
                Op::new("admin_rules", "The rules versions, newest first", false)
                    .admin()
                    .answer(200, ok("The versions", list_of("RulesVersionView"))),
            ),
        ),
        (
            "/admin/rules",
            HttpMethod::Post,
            done(
                Op::new(
                    "admin_upload_rules",
                    "Store a rules file as a new version, and activate it when asked (owner only)",
                    false,
                )
                .admin()
                .body(
                    "RulesUploadRequest",
                    json!({ "text": "version = 1\n", "comment": "Осенняя акция", "activate": false }),
                )
                .answer(201, ok("Stored", schema_ref("RulesVersionView")))
                .answer(403, forbidden("Not the owner"))
                .answer(
                    422,
                    error(
                        "The file does not parse; `line` and `key` say where",
                        &[E::RulesInvalid],
                    ),
                ),
            ),
        ),
        (
            "/admin/rules/diff",
            HttpMethod::Get,
            done(
                Op::new("admin_rules_diff", "The difference between two versions", false)
                    .admin()
                    .param(query("from", integer(), "The older version"))
                    .param(query("to", integer(), "The newer version"))
                    .answer(200, ok("The difference", schema_ref("RulesDiff")))
                    .answer(400, bad_query())
                    .answer(404, not_found("No such version")),
            ),
        ),
        (
            "/admin/rules/rollback",
            HttpMethod::Post,
            done(
                Op::new(
                    "admin_rules_rollback",
                    "Activate again the version active before the current one (owner only)",
                    false,
                )
                .admin()
                .answer(200, ok("The version now active", schema_ref("RulesVersionView")))
                .answer(403, forbidden("Not the owner"))
                .answer(404, not_found("No earlier activated version")),
            ),
        ),
        (
            "/admin/rules/{version}",
            HttpMethod::Get,
            done(
                Op::new("admin_rules_version", "One version with its text", false)
                    .admin()
                    .param(path_param("version", "The version", true))
                    .answer(200, ok("The version", schema_ref("RulesVersionText")))
                    .answer(400, bad_query())
                    .answer(404, not_found("No such version")),
            ),
        ),
        (
            "/admin/rules/{version}/activate",
            HttpMethod::Post,
            done(
                Op::new(
                    "admin_activate_rules",
                    "Make a version the active one; tills take it within a minute (owner only)",
                    false,
                )
                .admin()
                .param(path_param("version", "The version", true))
                .answer(200, ok("The version now active", schema_ref("RulesVersionView")))
                .answer(400, bad_query())
                .answer(403, forbidden("Not the owner"))
                .answer(404, not_found("No such version"))
                .answer(
                    422,
                    error("This program no longer reads the version", &[E::RulesInvalid]),
                ),
            ),
        ),
        (
            "/admin/rules/{version}/try",
            HttpMethod::Post,
            done(
                Op::new(
                    "admin_try_rules",
                    "Price a receipt with a version, active or not",
                    false,
                )
                .admin()
                .param(path_param("version", "The version", true))
                .body(
                    "RulesTryRequest",
                    json!({ "receipt": { "id": "1", "kind": "sale", "at": "2026-12-03T12:00:00+03:00",
                                         "positions": [{ "id": "1", "name": "Капучино", "price": "250",
                                                         "quantity": "1" }] },
                            "card": "Стандартная", "balance": "100", "spend": "50" }),
                )
                .answer(200, ok("The calculation", schema_ref("RulesTryResponse")))
                .answer(404, not_found("No such version or customer"))
                .answer(
                    422,
                    error("This program no longer reads the version", &[E::RulesInvalid]),
                ),
            ),
        ),
        (
            "/admin/customers",
            HttpMethod::Get,
            done(
                Op::new(
                    "admin_search_customers",
                    "Find customers by phone, card number or a part of a name (masked as on the till)",
                    false,
                )
                .admin()
                .param(query("q", string(), "A phone in any Russian spelling, a card number, or 2+ letters of a name"))
                .answer(200, ok("At most 50 customers", list_of("CustomerListItem")))
                .answer(400, bad_query()),
            ),
        ),
        (
            "/admin/customers/{id}",
            HttpMethod::Get,
            done(
                Op::new(
                    "admin_customer",
                    "The customer's page: balance, batches, history, purchases, consents",
                    false,
                )
                .admin()
                .param(customer_param())
                .answer(200, ok("The page", schema_ref("CustomerPage")))
                .answer(403, forbidden("Not a customer of this manager's stores"))
                .answer(404, not_found("No customer with this id")),
            ),
        ),
        (
            "/admin/customers/{id}/questionnaire",
            HttpMethod::Put,
            done(customer_change(
                "admin_customer_questionnaire",
                "Replace the customer's questionnaire",
                Some((
                    "CustomerQuestionnaire",
                    json!({ "last_name": "Соколова", "first_name": "Карина", "birth_date": "1990-05-17" }),
                )),
            )),
        ),
        (
            "/admin/customers/{id}/block-card",
            HttpMethod::Post,
            done(customer_change(
                "admin_customer_block_card",
                "Block the customer's card: the number opens nothing and is never issued again",
                Some(("CardBlockRequest", json!({ "reason": "Потеряна" }))),
            )),
        ),
        (
            "/admin/customers/{id}/replace-card",
            HttpMethod::Post,
            done(
                customer_change(
                    "admin_customer_replace_card",
                    "Replace a lost card, keeping the balance: the old number is blocked",
                    Some(("CardReplaceRequest", json!({ "number": "2900000000049", "reason": "Потеряна" }))),
                )
                .answer(409, taken("The number belongs to another customer or was blocked")),
            ),
        ),
        (
            "/admin/customers/{id}/manual-change",
            HttpMethod::Post,
            done(customer_change(
                "admin_customer_manual_change",
                "Add or take bonuses with a reason",
                Some(("ManualChangeRequest", json!({ "amount": "-50", "reason": "Компенсация ошибки кассира" }))),
            )),
        ),
        (
            "/admin/customers/{id}/consents",
            HttpMethod::Post,
            done(customer_change(
                "admin_customer_consents",
                "Give or withdraw the customer's consents, as they asked",
                Some(("ConsentsUpdate", json!({ "advertising": false }))),
            )),
        ),
        (
            "/admin/customers/{id}/merge",
            HttpMethod::Post,
            done(customer_change(
                "admin_customer_merge",
                "Merge a duplicate record of the same person into this one (owner only)",
                Some(("MergeRequest", json!({ "duplicate_id": "0190f7a4-8c1e-7d3a-9b2e-000000000002" }))),
            )),
        ),
        (
            "/admin/customers/{id}/erase",
            HttpMethod::Post,
            done(customer_change(
                "admin_customer_erase",
                "Erase the customer's personal data on their request (152-ФЗ); the ledger stays, anonymous",
                None,
            )),
        ),
        (
            "/admin/audit",
            HttpMethod::Get,
            done(
                Op::new(
                    "admin_audit",
                    "The last changes made in the back office (a manager: in their stores)",
                    false,
                )
                .admin()
                .param(query(
                    "limit",
                    integer().minimum(Some(0)).maximum(Some(u32::MAX)),
                    "At most this many, newest first (100 when left out, 1000 at most)",
                ))
                .answer(200, ok("The events", list_of("AuditEvent")))
                .answer(400, bad_query()),
            ),
        ),
    ]
}
