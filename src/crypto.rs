//! Byte helpers both sides of the product share: lowercase hex, and a comparison of
//! secrets (tokens, keys, code hashes) whose time does not depend on where they differ.
//!
//! Thin names over the `hex` and `subtle` crates, so every caller spells them one way.

use subtle::ConstantTimeEq;

/// `bytes` as lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// Hex text (either case) back to bytes; `None` for an odd length or a non-hex digit.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    hex::decode(text).ok()
}

/// Compares two byte strings in time independent of where they differ (the length is not
/// secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_goes_there_and_back() {
        assert_eq!(hex(&[0x00, 0xab, 0x7f]), "00ab7f");
        assert_eq!(unhex("00AB7f"), Some(vec![0x00, 0xab, 0x7f]));
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
    }

    #[test]
    fn equal_only_when_every_byte_and_the_length_agree() {
        assert!(ct_eq(b"key", b"key"));
        assert!(!ct_eq(b"key", b"kez"));
        assert!(!ct_eq(b"key", b"keys"));
        assert!(ct_eq(b"", b""));
    }
}
