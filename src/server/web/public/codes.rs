//! The card's two codes as inline SVG, drawn on the server: the EAN-13 barcode of its
//! number and a QR code whose payload is the number itself, which the till's scanner parser
//! (`domain::scan::ScanPayload::parse`) reads as this card.

use std::fmt::Write;

use qrcode::{Color, EcLevel, QrCode};

/// The seven modules of each digit in the left half, odd parity (set A); `1` is a bar.
const L: [&str; 10] = [
    "0001101", "0011001", "0010011", "0111101", "0100011", "0110001", "0101111", "0111011",
    "0110111", "0001011",
];

/// The first digit is not drawn: it picks which of the left six digits use even parity
/// (set B: the right-hand pattern read backwards); `true` is even.
fn parity(first: u8) -> [bool; 6] {
    const TABLE: [&str; 10] = [
        "LLLLLL", "LLGLGG", "LLGGLG", "LLGGGL", "LGLLGG", "LGGLLG", "LGGGLL", "LGLGLG", "LGLGGL",
        "LGGLGL",
    ];
    let mut out = [false; 6];
    for (o, c) in out.iter_mut().zip(TABLE[usize::from(first)].bytes()) {
        *o = c == b'G';
    }
    out
}

/// The right-hand pattern (set C): the left odd pattern with bars and spaces swapped.
fn right(d: u8) -> String {
    L[usize::from(d)]
        .bytes()
        .map(|b| if b == b'1' { '0' } else { '1' })
        .collect()
}

/// The left even pattern (set B): the right-hand pattern backwards.
fn left_even(d: u8) -> String {
    right(d).chars().rev().collect()
}

/// The 95 modules of an EAN-13 (guards, six left digits, centre guard, six right digits,
/// guard) as `0`/`1`; `None` unless `number` is 13 digits with a correct check digit.
pub fn ean13_modules(number: &str) -> Option<String> {
    if !crate::domain::card::ean_valid(number) || number.len() != 13 {
        return None;
    }
    let d: Vec<u8> = number.bytes().map(|b| b - b'0').collect();
    let even = parity(d[0]);
    let mut m = String::with_capacity(95);
    m.push_str("101");
    for (i, &digit) in d[1..7].iter().enumerate() {
        if even[i] {
            m.push_str(&left_even(digit));
        } else {
            m.push_str(L[usize::from(digit)]);
        }
    }
    m.push_str("01010");
    for &digit in &d[7..13] {
        m.push_str(&right(digit));
    }
    m.push_str("101");
    Some(m)
}

/// The barcode as an SVG with the digits under it; `None` for a number that is no EAN-13.
pub fn ean13_svg(number: &str) -> Option<String> {
    let modules = ean13_modules(number)?;
    // Eleven modules of quiet zone on the left (the first digit stands there), seven on
    // the right; guards run longer than the digits' bars.
    let (quiet, width, bars, guards) = (11, 11 + 95 + 7, 60, 66);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} 76\" \
         class=\"ean13\" role=\"img\" aria-label=\"EAN-13\" shape-rendering=\"crispEdges\">\
         <rect width=\"{width}\" height=\"76\" fill=\"#fff\"/>"
    );
    for (i, m) in modules.bytes().enumerate() {
        if m != b'1' {
            continue;
        }
        let guard = i < 3 || (45..50).contains(&i) || i >= 92;
        let h = if guard { guards } else { bars };
        let _ = write!(
            svg,
            "<rect x=\"{}\" y=\"2\" width=\"1\" height=\"{h}\" fill=\"#000\"/>",
            quiet + i
        );
    }
    let text = |x: usize, s: &str| {
        format!(
            "<text x=\"{x}\" y=\"73\" font-family=\"monospace\" font-size=\"9\" \
             text-anchor=\"middle\">{s}</text>"
        )
    };
    svg.push_str(&text(5, &number[..1]));
    svg.push_str(&text(quiet + 3 + 21, &number[1..7]));
    svg.push_str(&text(quiet + 50 + 21, &number[7..]));
    svg.push_str("</svg>");
    Some(svg)
}

/// A QR code of `payload` as an SVG, four modules of quiet zone around it; its modules carry
/// nothing but `x`/`y`, so a test can read the grid back. `None` if it does not fit.
pub fn qr_svg(payload: &str) -> Option<String> {
    let code = QrCode::with_error_correction_level(payload.as_bytes(), EcLevel::M).ok()?;
    let width = code.width();
    let size = width + 8;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" \
         class=\"qr\" role=\"img\" aria-label=\"QR\" data-modules=\"{width}\" \
         shape-rendering=\"crispEdges\"><rect width=\"{size}\" height=\"{size}\" fill=\"#fff\"/>"
    );
    for (i, c) in code.to_colors().iter().enumerate() {
        if *c == Color::Dark {
            let _ = write!(
                svg,
                "<rect x=\"{}\" y=\"{}\" width=\"1\" height=\"1\"/>",
                i % width + 4,
                i / width + 4
            );
        }
    }
    svg.push_str("</svg>");
    Some(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads the digits back from the modules with the same tables, the way a scanner
    /// does: the left half's parities name the first digit.
    fn decode(m: &str) -> Option<String> {
        if m.len() != 95 || &m[..3] != "101" || &m[45..50] != "01010" || &m[92..] != "101" {
            return None;
        }
        let mut digits = String::new();
        let mut pattern = String::new();
        for i in 0..6 {
            let chunk = &m[3 + 7 * i..10 + 7 * i];
            let (d, p) = (0..10u8).find_map(|d| {
                if L[usize::from(d)] == chunk {
                    Some((d, 'L'))
                } else if left_even(d) == chunk {
                    Some((d, 'G'))
                } else {
                    None
                }
            })?;
            digits.push(char::from(b'0' + d));
            pattern.push(p);
        }
        let first = (0..10u8).find(|&f| {
            parity(f)
                .iter()
                .map(|&g| if g { 'G' } else { 'L' })
                .collect::<String>()
                == pattern
        })?;
        for i in 0..6 {
            let chunk = &m[50 + 7 * i..57 + 7 * i];
            let d = (0..10u8).find(|&d| right(d) == chunk)?;
            digits.push(char::from(b'0' + d));
        }
        Some(format!("{}{digits}", char::from(b'0' + first)))
    }

    #[test]
    fn a_known_barcode() {
        // 4006381333931, a textbook example: first digit 4 is LGLLGG.
        let m = ean13_modules("4006381333931").unwrap();
        assert_eq!(m.len(), 95);
        assert_eq!(&m[..3], "101");
        // The left digits 0 (L), 0 (G), 6 (L), 3 (L), 8 (G), 1 (G).
        assert_eq!(&m[3..10], "0001101");
        assert_eq!(&m[10..17], "0100111");
        assert_eq!(&m[17..24], "0101111");
        assert_eq!(&m[24..31], "0111101");
        assert_eq!(&m[31..38], "0001001");
        assert_eq!(&m[38..45], "0110011");
        assert_eq!(&m[45..50], "01010");
        // The right digits 3 3 3 9 3 1.
        assert_eq!(&m[50..57], "1000010");
        assert_eq!(&m[85..92], "1100110");
        assert_eq!(decode(&m).as_deref(), Some("4006381333931"));
    }

    #[test]
    fn every_first_digit_reads_back() {
        for first in 0..10u8 {
            let body = format!("{first}90012345678");
            let check = crate::domain::card::ean_check_digit(&body).unwrap();
            let number = format!("{body}{check}");
            let m = ean13_modules(&number).unwrap();
            assert_eq!(decode(&m).as_deref(), Some(number.as_str()));
        }
    }

    #[test]
    fn only_valid_numbers_are_drawn() {
        assert!(ean13_modules("4006381333932").is_none());
        assert!(ean13_modules("400638133393").is_none());
        assert!(ean13_svg("abc").is_none());
        let svg = ean13_svg("4006381333931").unwrap();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(
            svg.matches("fill=\"#000\"").count(),
            ean13_modules("4006381333931").unwrap().matches('1').count()
        );
    }

    #[test]
    fn the_qr_code_holds_its_modules() {
        let svg = qr_svg("2901234567893").unwrap();
        let code = QrCode::with_error_correction_level(b"2901234567893", EcLevel::M).unwrap();
        let dark = code
            .to_colors()
            .iter()
            .filter(|c| **c == Color::Dark)
            .count();
        assert_eq!(svg.matches("width=\"1\" height=\"1\"").count(), dark);
        assert!(svg.contains(&format!("data-modules=\"{}\"", code.width())));
    }
}
