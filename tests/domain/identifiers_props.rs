//! Property tests for the customer identifiers (SPEC §7: bad input everywhere gets a clear
//! error, never a panic; identifiers never appear unmasked).
//!
//! Only pure parsing is exercised here: no IO, no clock; randomness comes from proptest's
//! seeded runner so a failure replays.

use bonuskassa::domain::card::{
    CardFormat, CardNumber, CheckDigit, VirtualPrefix, ean_check_digit, generate_virtual,
    looks_like_bank_card, luhn_check_digit,
};
use bonuskassa::domain::phone::{Phone, PhoneInput, format_partial};
use bonuskassa::domain::scan::{MAX_PAYLOAD_BYTES, ScanError, ScanPayload};
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

/// Ten national digits of a Russian mobile number.
fn mobile() -> impl Strategy<Value = String> {
    "9[0-9]{9}"
}

/// A separator as people, spreadsheets and web pages put between digit groups.
fn separator() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "", " ", "-", ".", "\t", "\u{a0}", "\u{202f}", "\u{2011}", "\u{2013}", " - ",
    ])
}

/// Spells `national` in one of the Russian ways: with +7, 7, 8 or nothing in front, with or
/// without brackets around the code, with a separator between the groups.
fn spell(national: &str, lead: usize, brackets: bool, sep: &str, pad: &str) -> String {
    let prefix = ["+7", "8", "7", "", "+7 ", "8 "][lead];
    let (code, a, b, c) = (
        &national[..3],
        &national[3..6],
        &national[6..8],
        &national[8..],
    );
    let code = if brackets {
        format!("({code})")
    } else {
        code.to_owned()
    };
    format!("{pad}{prefix}{sep}{code}{sep}{a}{sep}{b}{sep}{c}{pad}")
}

fn any_format() -> impl Strategy<Value = CardFormat> {
    prop_oneof![
        Just(CardFormat::Ean13),
        Just(CardFormat::Ean8),
        (
            "[0-9]{0,3}",
            4usize..=32,
            prop::sample::select(vec![CheckDigit::Ean, CheckDigit::Luhn, CheckDigit::None]),
        )
            .prop_map(|(prefix, length, check_digit)| CardFormat::Custom {
                prefix,
                length,
                check_digit,
            }),
    ]
}

/// Text that stays near the grammar of phones and cards, so that the parsers' deeper
/// branches are reached far more often than with uniformly random strings.
fn digitish() -> impl Strategy<Value = String> {
    "[+0-9 ()\\-.\u{a0}\tx%;=?/:a-z]{0,40}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn phone_parse_never_panics(s in any::<String>()) {
        let _ = Phone::parse(&s);
    }

    #[test]
    fn phone_parse_never_panics_on_digitish(s in digitish()) {
        if let Ok(phone) = Phone::parse(&s) {
            prop_assert_eq!(phone.as_e164().len(), 12);
            prop_assert!(phone.as_e164().starts_with("+7"));
            let reparsed = Phone::parse(phone.as_e164());
            prop_assert_eq!(reparsed.as_ref(), Ok(&phone));
        }
    }

    #[test]
    fn every_spelling_normalizes_to_the_same_e164(
        national in mobile(),
        lead in 0usize..6,
        brackets: bool,
        sep in separator(),
        pad in prop::sample::select(vec!["", " ", "\t", "\u{a0}", "\r\n"]),
    ) {
        let spelled = spell(&national, lead, brackets, sep, pad);
        let phone = Phone::parse(&spelled);
        prop_assert!(phone.is_ok(), "{:?} refused: {:?}", spelled, phone);
        let phone = phone.unwrap();
        prop_assert_eq!(phone.as_e164(), format!("+7{national}"));
        prop_assert_eq!(phone.national(), national.as_str());
        // The scanner and the keypad agree with the parser.
        let scanned = ScanPayload::parse(spelled.as_bytes(), &CardFormat::default_formats());
        prop_assert_eq!(scanned, Ok(ScanPayload::Phone(phone.clone())));
        prop_assert_eq!(PhoneInput::from_typed(&spelled).to_phone(), Ok(phone));
    }

    #[test]
    fn phone_output_is_masked(national in "[349][0-9]{9}|8[0-7][0-9]{8}") {
        let phone = Phone::parse(&national).unwrap();
        for shown in [format!("{phone:?}"), phone.to_string(), phone.masked()] {
            prop_assert!(!shown.contains(&national), "{}", shown);
            prop_assert!(!shown.contains(&national[..6]), "{}", shown);
            prop_assert!(!shown.contains(phone.as_e164()), "{}", shown);
        }
        let typed = PhoneInput::from_typed(&national);
        let typed = format!("{typed:?}");
        prop_assert!(!typed.contains(&national[..3]), "{}", typed);
    }

    #[test]
    fn keypad_mask_never_panics_and_keeps_its_shape(keys in any::<String>()) {
        let shown = format_partial(&keys);
        prop_assert_eq!(shown.chars().count(), 18);
        prop_assert!(shown.starts_with("+7 ("));
    }

    #[test]
    fn card_parse_never_panics(
        s in any::<String>(),
        formats in prop::collection::vec(any_format(), 0..4),
    ) {
        let _ = CardNumber::parse(&s, &formats);
        let _ = CardNumber::from_stored(&s);
    }

    #[test]
    fn accepted_cards_are_never_bank_card_like(
        s in "[0-9 \\-]{0,40}",
        formats in prop::collection::vec(any_format(), 0..4),
    ) {
        if let Ok(card) = CardNumber::parse(&s, &formats) {
            prop_assert!(!looks_like_bank_card(card.as_str()));
            prop_assert!(card.as_str().bytes().all(|b| b.is_ascii_digit()));
            prop_assert_eq!(CardNumber::from_stored(card.as_str()), Ok(card));
        }
    }

    #[test]
    fn bank_card_numbers_are_refused(
        iin in "[3-6][0-9]{5}",
        len in 13usize..=19,
        rest in "[0-9]{18}",
        formats in prop::collection::vec(any_format(), 0..4),
    ) {
        let body = format!("{iin}{rest}")[..len - 1].to_owned();
        let pan = format!("{body}{}", luhn_check_digit(&body).unwrap());
        prop_assert!(looks_like_bank_card(&pan));
        prop_assert!(CardNumber::parse(&pan, &formats).is_err());
        prop_assert!(CardNumber::from_stored(&pan).is_err());
        let scanned = ScanPayload::parse(pan.as_bytes(), &formats);
        prop_assert!(scanned.is_err());
    }

    #[test]
    fn card_output_is_masked(body in "[0-9]{12}") {
        let number = format!("{body}{}", ean_check_digit(&body).unwrap());
        if let Ok(card) = CardNumber::parse(&number, &CardFormat::default_formats()) {
            for shown in [format!("{card:?}"), card.to_string(), card.masked()] {
                prop_assert!(!shown.contains(&number), "{}", shown);
                prop_assert!(!shown.contains(&number[..8]), "{}", shown);
            }
            let payload = ScanPayload::Card(card);
            for shown in [format!("{payload:?}"), payload.to_string()] {
                prop_assert!(!shown.contains(&number), "{}", shown);
            }
        }
    }

    #[test]
    fn errors_never_echo_the_input(s in "[0-9]{6,20}[a-z%]?[0-9]{0,5}") {
        let formats = CardFormat::default_formats();
        let digits: String = s.chars().filter(char::is_ascii_digit).collect();
        if let Err(e) = CardNumber::parse(&s, &formats) {
            prop_assert!(!e.to_string().contains(&digits[..6]), "{}", e);
        }
        if let Err(e) = Phone::parse(&s) {
            prop_assert!(!e.to_string().contains(&digits[..6]), "{}", e);
        }
        if let Err(e) = ScanPayload::parse(s.as_bytes(), &formats) {
            prop_assert!(!e.to_string().contains(&digits[..6]), "{}", e);
        }
    }

    #[test]
    fn scan_never_panics(
        bytes in prop::collection::vec(any::<u8>(), 0..=1024),
        formats in prop::collection::vec(any_format(), 0..4),
    ) {
        let result = ScanPayload::parse(&bytes, &formats);
        if bytes.len() > MAX_PAYLOAD_BYTES {
            prop_assert_eq!(result, Err(ScanError::TooLong { len: bytes.len() }));
        } else {
            let too_long = matches!(result, Err(ScanError::TooLong { .. }));
            prop_assert!(!too_long);
        }
    }

    #[test]
    fn scan_never_panics_on_text_near_the_grammar(
        head in prop::sample::select(vec![
            "", "tel:", "TEL:", "http://", "https://", "https://bonus.example/c/",
            "https://bonus.example/?card=", "https://x/?code=", ";", "%B", "\u{feff}",
        ]),
        tail in digitish(),
        formats in prop::collection::vec(any_format(), 0..4),
    ) {
        let payload = format!("{head}{tail}");
        if let Ok(ScanPayload::Card(card)) = ScanPayload::parse(payload.as_bytes(), &formats) {
            prop_assert!(!looks_like_bank_card(card.as_str()));
        }
    }

    #[test]
    fn generated_virtual_cards_always_parse(seed: u64, prefix in "2[0-9]{0,9}") {
        let prefix = VirtualPrefix::new(&prefix).unwrap();
        let card = generate_virtual(&prefix, &mut StdRng::seed_from_u64(seed));
        let parsed = CardNumber::parse(card.as_str(), &CardFormat::default_formats());
        prop_assert_eq!(parsed, Ok(card.clone()));
        let scanned = ScanPayload::parse(card.as_str().as_bytes(), &CardFormat::default_formats());
        prop_assert_eq!(scanned, Ok(ScanPayload::Card(card)));
    }
}

#[test]
fn default_virtual_prefix_generates_in_store_ean13() {
    let mut rng = StdRng::seed_from_u64(2024);
    for _ in 0..1_000 {
        let card = generate_virtual(&VirtualPrefix::default(), &mut rng);
        assert!(card.as_str().starts_with("29"));
        assert_eq!(card.as_str().len(), 13);
    }
}
