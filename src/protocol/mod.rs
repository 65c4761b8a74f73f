//! Wire types: what travels between the terminal and the central server.
//!
//! Architecture Invariant: only `protocol` knows the wire format. The server's handlers and
//! the terminal's sync client both speak these types; the domain types inside them
//! (`Receipt`, `Calculation`, `Bonus`, …) serialize as decimal strings. Version 1 of the
//! API lives under `/api/v1`: add fields with defaults and new endpoints; a changed meaning
//! is a new version, never an edit.
pub mod admin;
pub mod sales;
pub mod schema;
pub mod server;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Parses a JSON body strictly. The error names the path of the bad field
/// (`positions[0].price: …`), or says the JSON itself is bad: both HTTP APIs (the server's
/// and the till's bridge) answer it as their `400`.
pub fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    // The plain parser first: a good body (nearly every one) skips the path tracking,
    // which costs as much as the parse itself; a bad one is parsed again to name the path.
    if let Ok(value) = serde_json::from_slice(bytes) {
        return Ok(value);
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        // "?": the syntax broke before a field was known.
        if path == "." || path == "?" {
            format!("bad JSON: {inner}")
        } else {
            format!("{path}: {inner}")
        }
    })
}

/// HMAC-SHA256 of `value` (an E.164 phone or a normalized card number) under the store's
/// lookup key, as lowercase hex: the keyed hash the server's customer feed carries and the
/// terminal's cache is searched by, so the cache never holds a phone or a card number.
pub fn lookup_hash(key: &[u8], value: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(value.as_bytes());
    crate::crypto::hex(&mac.finalize().into_bytes())
}

/// How a till shows a customer's name, and all it keeps of it: the first name and the
/// initial of the last name ("Карина С.").
pub fn short_name(first: Option<&str>, last: Option<&str>) -> String {
    let first = first.unwrap_or("").trim();
    match last.and_then(|l| l.trim().chars().next()) {
        Some(i) if !first.is_empty() => format!("{first} {i}."),
        _ => first.to_string(),
    }
}
