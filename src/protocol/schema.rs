//! The OpenAPI schemas of the wire's leaf types: the amounts (as the server sends them, and
//! the looser `MoneyInput`, `BonusInput`, `QuantityInput` it reads), the phone, the receipt
//! and the calculation. `domain` knows nothing of HTTP, so these are written out by hand
//! here, beside the wire types that name them; `server::openapi` assembles the document.
//!
//! A request schema admits everything the server accepts (it may admit more: the server
//! then answers `400 BAD_REQUEST`); a response schema describes exactly what it sends.

use std::borrow::Cow;

use serde_json::json;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat,
    SchemaType,
};
use utoipa::openapi::{Ref, RefOr, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::domain::calc::{Calculation, Impact, PositionResult};
use crate::domain::fiscal::{FiscalData, FiscalKind};
use crate::domain::money::{Bonus, Money, Quantity};
use crate::domain::phone::Phone;
use crate::domain::receipt::{MAX_POSITIONS, Measure, Position, Receipt, ReceiptKind};
/// What every amount the server sends looks like: `"234.00"`, `"-15.50"`.
const AMOUNT_OUT: &str = r"^-?\d+\.\d{2}$";
/// What the server's parser reads as an amount (`domain::money`): blanks around (ECMA's
/// `\s`, plus U+0085, a blank to Rust's `trim` and not to ECMA), an optional minus, digits
/// with at most one decimal point and at most two decimals that are not trailing zeros.
/// With 20 decimals or more, `rust_decimal` may round away what does not fit its 96 bits
/// before the precision is checked, so such strings are admitted whatever their digits.
/// The sign and the bounds of a price or a spend are checked later, with a `400` or a
/// rejected operation naming the field.
const AMOUNT_IN: &str =
    r"^[\s\u0085]*-?(\d+(\.\d{0,2}0*)?|\d*\.\d{0,2}0*|\d*\.\d{20,})[\s\u0085]*$";
/// What the parser reads as a quantity: greater than zero, at most three decimals that are
/// not trailing zeros (or 20 decimals and more, as above).
const QUANTITY_IN: &str =
    r"^[\s\u0085]*(0*[1-9]\d*(\.\d{0,3}0*)?|0*\.\d{0,2}[1-9]0*|\d*\.\d{20,})[\s\u0085]*$";
/// The largest amount the server accepts anywhere (`domain::money`).
const MAX_AMOUNT: i64 = 1_000_000_000;
/// The largest quantity of one position.
const MAX_QUANTITY: i64 = 1_000_000;

// --- Amounts and other leaf types -----------------------------------------------------

pub(crate) fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

pub(crate) fn integer() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::Integer)
}

pub(crate) fn schema_ref(name: &str) -> RefOr<Schema> {
    Ref::from_schema_name(name).into()
}

/// An object that refuses properties it does not list.
pub(crate) fn closed_object() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)))
}

/// A decimal as the server reads it: a string matching `pattern`, or a JSON integer within
/// `min..=max`. Never a JSON float: the parser refuses it, to keep amounts exact.
fn decimal_input(
    description: &str,
    pattern: &str,
    min: i64,
    max: i64,
    example: &str,
) -> RefOr<Schema> {
    OneOfBuilder::new()
        .item(string().pattern(Some(pattern)))
        .item(integer().minimum(Some(min)).maximum(Some(max)))
        .description(Some(description))
        .examples([json!(example)])
        .into()
}

/// Implements `PartialSchema` and `ToSchema` for a type whose schema is written out here,
/// listing the named schemas it refers to so they land in the document's components.
macro_rules! schema {
    ($ty:ty, $name:literal, [], $schema:expr) => {
        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                $schema
            }
        }
        impl ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
        }
    };
    ($ty:ty, $name:literal, [$($dep:ty),+], $schema:expr) => {
        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                $schema
            }
        }
        impl ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
            fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
                $(
                    schemas.push((<$dep as ToSchema>::name().into(), <$dep as PartialSchema>::schema()));
                    <$dep as ToSchema>::schemas(schemas);
                )+
            }
        }
    };
}

/// An amount of rubles in a request: `"234.00"`, `"234"`, `234`; at most two decimals.
pub struct MoneyInput;
/// An amount of bonuses in a request: `"100"`, `"100.50"`, `100`; at most two decimals.
pub struct BonusInput;
/// A quantity in a request: `"1"`, `"0.350"`, `2`; positive, at most three decimals.
pub struct QuantityInput;

schema!(MoneyInput, "MoneyInput", [], {
    decimal_input(
        "Rubles: a decimal string with at most two decimals, or an integer. Never a float.",
        AMOUNT_IN,
        -MAX_AMOUNT,
        MAX_AMOUNT,
        "234.00",
    )
});

schema!(BonusInput, "BonusInput", [], {
    decimal_input(
        "Bonuses: a decimal string with at most two decimals, or an integer. Never a float.",
        AMOUNT_IN,
        -MAX_AMOUNT,
        MAX_AMOUNT,
        "100",
    )
});

schema!(QuantityInput, "QuantityInput", [], {
    decimal_input(
        "A quantity: a decimal string with at most three decimals, or an integer; greater \
         than zero and at most 1000000. Piece goods need a whole number.",
        QUANTITY_IN,
        1,
        MAX_QUANTITY,
        "1",
    )
});

schema!(Money, "Money", [], {
    string()
        .pattern(Some(AMOUNT_OUT))
        .description(Some("Rubles with exactly two decimals."))
        .examples([json!("234.00")])
        .into()
});

schema!(Bonus, "Bonus", [], {
    string()
        .pattern(Some(AMOUNT_OUT))
        .description(Some(
            "Bonuses with exactly two decimals; a balance is negative after a claw-back \
             larger than it.",
        ))
        .examples([json!("500.00")])
        .into()
});

schema!(Quantity, "Quantity", [], {
    string()
        .pattern(Some(r"^\d+(\.\d+)?$"))
        .description(Some(
            "A quantity, with the decimals the cash register sent it with (\"0.350\").",
        ))
        .examples([json!("1")])
        .into()
});

/// The characters a phone number may carry (`domain::phone`): digits, one `+` before them,
/// and separators anywhere: blanks (`\s`, and U+0085, which Rust counts as one and ECMA
/// regexes do not), dashes, dots, brackets, soft hyphens and invisible joiners.
const PHONE_IN: &str = concat!(
    r"^[\s\u0085\-.()\u2010-\u2015\u2212\u00AD\u200B-\u200D\u2060\uFEFF]*\+?",
    r"[0-9\s\u0085\-.()\u2010-\u2015\u2212\u00AD\u200B-\u200D\u2060\uFEFF]*$"
);

schema!(Phone, "Phone", [], {
    // Only the shape: the number of digits and the Russian ranges are checked by the
    // server, which refuses the rest with 400.
    string()
        .pattern(Some(PHONE_IN))
        .min_length(Some(1))
        .max_length(Some(crate::domain::phone::MAX_INPUT_CHARS))
        .description(Some(
            "A Russian phone number in any common spelling: +7 999 000-00-01, \
             8 (999) 000-00-01, 9990000001.",
        ))
        .examples([json!("+79990000001")])
        .into()
});

schema!(ReceiptKind, "ReceiptKind", [], {
    string().enum_values(Some(["sale", "return"])).into()
});

schema!(Measure, "Measure", [], {
    string()
        .enum_values(Some(["piece", "weight"]))
        .description(Some("Whole pieces, or a measured weight or volume."))
        .into()
});

// --- The fiscal document a register printed -------------------------------------------

schema!(FiscalKind, "FiscalKind", [], {
    string()
        .enum_values(Some(["sale", "sale_return", "expense", "expense_return"]))
        .description(Some(
            "The settlement kind, the fiscal QR code's `n` (1 to 4).",
        ))
        .into()
});

schema!(FiscalData, "FiscalData", [FiscalKind, MoneyInput], {
    closed_object()
        .description(Some(
            "The fiscal document the register printed: what the receipt's fiscal QR code holds.",
        ))
        .property(
            "fn",
            string()
                .pattern(Some(r"^\d{16}$"))
                .description(Some("The fiscal drive's number (ФН).")),
        )
        .required("fn")
        .property(
            "fd",
            integer()
                .minimum(Some(1))
                .maximum(Some(4_294_967_295_i64))
                .description(Some("The document's number in the drive (ФД).")),
        )
        .required("fd")
        .property(
            "fp",
            string()
                .pattern(Some(r"^\d{1,10}$"))
                .description(Some("The fiscal sign (ФП), as printed.")),
        )
        .required("fp")
        .property(
            "at",
            string()
                .pattern(Some(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$"))
                .description(Some("When it was printed, the register's local time.")),
        )
        .required("at")
        .property("sum", schema_ref("MoneyInput"))
        .required("sum")
        .property("kind", schema_ref("FiscalKind"))
        .required("kind")
        .into()
});

// --- The receipt (request) and the calculation (response) -----------------------------

schema!(
    Position,
    "Position",
    [MoneyInput, QuantityInput, Measure],
    {
        closed_object()
            .description(Some("One line of a receipt."))
            .property(
                "id",
                string().description(Some("The register's own line id.")),
            )
            .required("id")
            .property("sku", string())
            .property("name", string())
            .property("category", string())
            .property("price", schema_ref("MoneyInput"))
            .required("price")
            .property("quantity", schema_ref("QuantityInput"))
            .required("quantity")
            .property("measure", schema_ref("Measure"))
            .property(
                "excise",
                ObjectBuilder::new()
                    .schema_type(Type::Boolean)
                    .description(Some(
                        "Excise goods take no discount, no spend and accrue nothing.",
                    )),
            )
            .into()
    }
);

schema!(Receipt, "Receipt", [Position, ReceiptKind], {
    closed_object()
        .description(Some(
            "A receipt as the cash register forms it (SPEC.md §5).",
        ))
        .property("id", string())
        .required("id")
        .property("kind", schema_ref("ReceiptKind"))
        .required("kind")
        .property(
            "at",
            string()
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
                .description(Some("When it was formed, with the store's UTC offset.")),
        )
        .required("at")
        .property("store", string())
        .property("cashier", string())
        .property(
            "original_receipt",
            ObjectBuilder::new()
                .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
                .description(Some("For a return: the id of the sale receipt it refunds.")),
        )
        .property(
            "positions",
            // No `minItems`/`maxItems`: the count is checked after parsing, and in an
            // operations batch a bad count rejects the operation, not the request.
            ArrayBuilder::new()
                .items(schema_ref("Position"))
                .description(Some(&format!(
                    "1 to {MAX_POSITIONS} positions with unique ids."
                ))),
        )
        .required("positions")
        .into()
});

schema!(Impact, "Impact", [Money, Quantity], {
    closed_object()
        .description(Some(
            "A unit price the cash register prints, and for how many units.",
        ))
        .property("price", schema_ref("Money"))
        .required("price")
        .property("quantity", schema_ref("Quantity"))
        .required("quantity")
        .into()
});

schema!(PositionResult, "PositionResult", [Money, Bonus, Impact], {
    let mut o = closed_object().property("id", string()).required("id");
    for (field, ty) in [
        ("sum", "Money"),
        ("discount", "Money"),
        ("spent", "Bonus"),
        ("paid", "Money"),
        ("accrued", "Bonus"),
    ] {
        o = o.property(field, schema_ref(ty)).required(field);
    }
    o.property("impacts", ArrayBuilder::new().items(schema_ref("Impact")))
        .required("impacts")
        .into()
});

schema!(
    Calculation,
    "Calculation",
    [Money, Bonus, PositionResult],
    {
        let mut o = closed_object()
            .description(Some(
                "The result of a receipt (SPEC.md §5), field for field.",
            ))
            .property(
                "card",
                string().description(Some("The card status it was calculated with.")),
            )
            .required("card");
        for (field, ty) in [
            ("total", "Money"),
            ("discount", "Money"),
            ("max_spend", "Bonus"),
            ("spent", "Bonus"),
            ("to_pay", "Money"),
            ("accrued", "Bonus"),
        ] {
            o = o.property(field, schema_ref(ty)).required(field);
        }
        o.property(
            "positions",
            ArrayBuilder::new().items(schema_ref("PositionResult")),
        )
        .required("positions")
        .into()
    }
);
