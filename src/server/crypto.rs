//! Small cryptographic helpers of the server: random secrets, salted hashes, keyed lookup
//! hashes, and constant-time comparison.
//!
//! Secrets (terminal tokens, enrollment codes, cashier codes) are stored only as salted
//! SHA-256 hashes; the plain value exists once, in the answer that hands it out.

use rand::Rng;
use sha2::{Digest, Sha256};

pub use crate::crypto::{ct_eq, hex};

/// `n` random bytes from the thread's CSPRNG, as lowercase hex.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rng().fill(&mut bytes[..]);
    hex(&bytes)
}

/// `n` random bytes from the thread's CSPRNG.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    rand::rng().fill(&mut bytes[..]);
    bytes
}

/// SHA-256 over the concatenation of `parts`.
pub fn sha256(parts: &[&[u8]]) -> Vec<u8> {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().to_vec()
}

pub use crate::protocol::lookup_hash;

/// A one-time enrollment code an installer types on a till: 12 characters from an
/// alphabet without look-alikes (no 0/O, 1/I/L), in groups of four.
pub fn enrollment_code() -> String {
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
    let mut rng = rand::rng();
    let chars: Vec<char> = (0..12)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// Normalises a typed enrollment code: case and separators do not matter.
pub fn normalize_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enrollment_codes_are_grouped_and_normalize() {
        let c = enrollment_code();
        assert_eq!(c.len(), 14);
        assert_eq!(normalize_code(&c.to_lowercase()), c.replace('-', ""));
    }

    #[test]
    fn constant_time_equality_is_equality() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }

    #[test]
    fn lookup_hashes_depend_on_the_key() {
        assert_ne!(
            lookup_hash(b"k1", "+79990000001"),
            lookup_hash(b"k2", "+79990000001")
        );
        assert_eq!(lookup_hash(b"k1", "x").len(), 64);
    }
}
