//! The store's self-registration QR code: the manager shows it on the till's screen and a
//! customer scans it with their phone. The session hands the UI the modules; the UI only
//! draws them.

use qrcode::{Color, EcLevel, QrCode};

/// A QR code as rows of modules, dark or light, without the quiet zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrModules {
    pub width: usize,
    /// `width × width` modules, row by row; `true` is dark.
    pub dark: Vec<bool>,
}

impl QrModules {
    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        self.dark[y * self.width + x]
    }
}

/// Encodes `text` with medium error correction (a screen can be scratched or glare).
pub fn encode(text: &str) -> Result<QrModules, qrcode::types::QrError> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)?;
    Ok(QrModules {
        width: code.width(),
        dark: code
            .to_colors()
            .into_iter()
            .map(|c| c == Color::Dark)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_encodes_to_a_square_with_finder_patterns() {
        let qr = encode("https://loyalty.example/join?store=store-1").unwrap();
        assert_eq!(qr.dark.len(), qr.width * qr.width);
        assert!(qr.width >= 21 && (qr.width - 17).is_multiple_of(4));
        // The top-left finder pattern: a dark 7×7 ring around a light ring and a dark core.
        for i in 0..7 {
            assert!(qr.is_dark(i, 0) && qr.is_dark(0, i) && qr.is_dark(i, 6) && qr.is_dark(6, i));
        }
        assert!(!qr.is_dark(1, 1) && qr.is_dark(3, 3));
    }

    #[test]
    fn too_much_text_is_an_error_not_a_panic() {
        assert!(encode(&"x".repeat(5000)).is_err());
    }
}
