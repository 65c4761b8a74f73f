use super::*;
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

fn defaults() -> Vec<CardFormat> {
    CardFormat::default_formats()
}

#[test]
fn ean_check_digits() {
    assert_eq!(ean_check_digit("400638133393"), Some(1));
    assert_eq!(ean_check_digit("9638507"), Some(4));
    assert_eq!(ean_check_digit(""), None);
    assert_eq!(ean_check_digit("12a"), None);
    for valid in [
        "4006381333931",
        "4600051000057",
        "2900000000018",
        "96385074",
        "73513537",
    ] {
        assert!(ean_valid(valid), "{valid}");
    }
    for invalid in [
        "4006381333934",
        "2900000000017",
        "96385075",
        "",
        "7",
        "4006381333x31",
    ] {
        assert!(!ean_valid(invalid), "{invalid}");
    }
}

#[test]
fn luhn() {
    for valid in [
        "4111111111111111",
        "5555555555554444",
        "378282246310005",
        "79927398713",
    ] {
        assert!(luhn_valid(valid), "{valid}");
    }
    for invalid in [
        "4111111111111112",
        "79927398710",
        "0",
        "",
        "41111x1111111111",
    ] {
        assert!(!luhn_valid(invalid), "{invalid}");
    }
    assert_eq!(luhn_check_digit("7992739871"), Some(3));
    assert_eq!(luhn_check_digit("411111111111111"), Some(1));
}

#[test]
fn accepts_valid_ean13_and_ean8() {
    for (input, digits) in [
        ("4006381333931", "4006381333931"),
        ("4600051000057", "4600051000057"),
        ("2900000000018", "2900000000018"),
        (" 2900 0000 0001 8 ", "2900000000018"),
        ("2900-0000-0001-8", "2900000000018"),
        ("2900\u{a0}0000\u{2013}00018", "2900000000018"),
        ("96385074", "96385074"),
        ("7351 3537", "73513537"),
    ] {
        let card = CardNumber::parse(input, &defaults()).unwrap();
        assert_eq!(card.as_str(), digits, "{input:?}");
    }
}

#[test]
fn refuses_malformed_numbers() {
    use CardError::*;
    let table: Vec<(&str, CardError)> = vec![
        ("", Empty),
        (" - ", Empty),
        ("4006381333934", WrongCheckDigit),
        ("96385075", WrongCheckDigit),
        ("123456789", WrongLength { found: 9 }),
        ("12345678901234567890", WrongLength { found: 20 }),
        (
            "2900 0000 O001 8",
            InvalidCharacter {
                class: CharClass::Letter,
                position: 11,
            },
        ),
        (
            "2900.0000.0001.8",
            InvalidCharacter {
                class: CharClass::Symbol,
                position: 5,
            },
        ),
        (
            "+2900000000018",
            InvalidCharacter {
                class: CharClass::Symbol,
                position: 1,
            },
        ),
    ];
    for (input, expected) in table {
        assert_eq!(
            CardNumber::parse(input, &defaults()),
            Err(expected),
            "{input:?}"
        );
    }
    assert_eq!(
        CardNumber::parse(&"1".repeat(65), &defaults()),
        Err(TooLong)
    );
    assert_eq!(CardNumber::parse("96385074", &[]), Err(NoFormats));
}

#[test]
fn refuses_bank_cards() {
    for pan in [
        "4111111111111111",
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "5555555555554444",
        "378282246310005",
        "4222222222222",
        "2200000000000004",
        "2221000000000009",
        "6011111111111117",
        "3530111333300000",
        "6759649826438453",
        "4000000000000000006",
    ] {
        assert!(luhn_valid(&pan.replace([' ', '-'], "")), "{pan}");
        assert_eq!(
            CardNumber::parse(pan, &defaults()),
            Err(CardError::BankCardLike),
            "{pan}"
        );
        let any_length = [CardFormat::Custom {
            prefix: String::new(),
            length: pan.replace([' ', '-'], "").len(),
            check_digit: CheckDigit::None,
        }];
        assert_eq!(
            CardNumber::parse(pan, &any_length),
            Err(CardError::BankCardLike)
        );
        assert_eq!(
            CardNumber::from_stored(&pan.replace([' ', '-'], "")),
            Err(CardError::BankCardLike)
        );
    }
}

#[test]
fn in_store_ean13_is_exempt_from_the_bank_card_rule() {
    // Luhn-valid by coincidence, 13 digits, starts with 2, valid EAN: a loyalty card.
    for n in ["2900000000025", "2900000000124", "2900000000223"] {
        assert!(luhn_valid(n) && ean_valid(n));
        assert!(!looks_like_bank_card(n));
        assert_eq!(CardNumber::parse(n, &defaults()).unwrap().as_str(), n);
    }
    // Same shape but a wrong EAN check digit: nothing excuses the Luhn match.
    assert!(luhn_valid("2900000000017"));
    assert_eq!(
        CardNumber::parse("2900000000017", &defaults()),
        Err(CardError::BankCardLike)
    );
    // Valid EAN-13 outside the in-store range that is Luhn-valid: refused (SPEC §7).
    for n in ["5901234123457", "4600000000060"] {
        assert!(luhn_valid(n) && ean_valid(n));
        assert_eq!(
            CardNumber::parse(n, &defaults()),
            Err(CardError::BankCardLike)
        );
    }
    // Neighbours of those that are not Luhn-valid are fine.
    assert!(CardNumber::parse("4600000000008", &defaults()).is_ok());
    // 12 digits is below bank-card length even when Luhn-valid.
    let twelve = format!("41111111111{}", luhn_check_digit("41111111111").unwrap());
    assert!(luhn_valid(&twelve));
    assert!(!looks_like_bank_card(&twelve));
}

#[test]
fn custom_formats() {
    let formats = [
        CardFormat::Custom {
            prefix: "77".into(),
            length: 10,
            check_digit: CheckDigit::None,
        },
        CardFormat::Custom {
            prefix: "5".into(),
            length: 9,
            check_digit: CheckDigit::Luhn,
        },
        CardFormat::Custom {
            prefix: String::new(),
            length: 6,
            check_digit: CheckDigit::Ean,
        },
        CardFormat::Ean13,
    ];
    for f in &formats {
        f.validate().unwrap();
    }
    let luhn9 = format!("51234567{}", luhn_check_digit("51234567").unwrap());
    let ean6 = format!("12345{}", ean_check_digit("12345").unwrap());
    for ok in [
        "7700012345",
        "77 000 123 45",
        luhn9.as_str(),
        ean6.as_str(),
        "4006381333931",
    ] {
        assert!(CardNumber::parse(ok, &formats).is_ok(), "{ok}");
    }
    assert_eq!(
        CardNumber::parse("7800012345", &formats),
        Err(CardError::WrongPrefix)
    );
    let wrong_check = (luhn_check_digit("51234567").unwrap() + 1) % 10;
    assert_eq!(
        CardNumber::parse(&format!("51234567{wrong_check}"), &formats),
        Err(CardError::WrongCheckDigit)
    );
    assert_eq!(
        CardNumber::parse("1234567", &formats),
        Err(CardError::WrongLength { found: 7 })
    );
    // EAN-8 is not configured here.
    assert_eq!(
        CardNumber::parse("96385074", &formats),
        Err(CardError::WrongLength { found: 8 })
    );
}

#[test]
fn format_validation() {
    let custom = |prefix: &str, length, check_digit| CardFormat::Custom {
        prefix: prefix.into(),
        length,
        check_digit,
    };
    assert_eq!(CardFormat::Ean13.validate(), Ok(()));
    assert_eq!(
        custom("", 3, CheckDigit::None).validate(),
        Err(CardFormatError::LengthOutOfRange { length: 3 })
    );
    assert_eq!(
        custom("", 33, CheckDigit::None).validate(),
        Err(CardFormatError::LengthOutOfRange { length: 33 })
    );
    assert_eq!(
        custom("7a", 10, CheckDigit::None).validate(),
        Err(CardFormatError::PrefixNotDigits)
    );
    assert_eq!(
        custom("1234", 4, CheckDigit::None).validate(),
        Err(CardFormatError::PrefixTooLong)
    );
    assert_eq!(
        custom("77", 16, CheckDigit::Luhn).validate(),
        Err(CardFormatError::AlwaysBankCardLike)
    );
    assert_eq!(custom("77", 20, CheckDigit::Luhn).validate(), Ok(()));
}

#[test]
fn formats_round_trip_through_serde() {
    let formats = vec![
        CardFormat::Ean13,
        CardFormat::Ean8,
        CardFormat::Custom {
            prefix: "77".into(),
            length: 10,
            check_digit: CheckDigit::None,
        },
    ];
    let json = serde_json::to_string(&formats).unwrap();
    assert_eq!(
        json,
        r#"[{"kind":"ean13"},{"kind":"ean8"},{"kind":"custom","prefix":"77","length":10,"check_digit":"none"}]"#
    );
    assert_eq!(
        serde_json::from_str::<Vec<CardFormat>>(&json).unwrap(),
        formats
    );
}

#[test]
fn masked_everywhere() {
    let card = CardNumber::parse("4006381333931", &defaults()).unwrap();
    assert_eq!(card.masked(), "****3931");
    assert_eq!(card.to_string(), "****3931");
    assert_eq!(format!("{card:?}"), "CardNumber(****3931)");
    let short = CardNumber::parse("96385074", &defaults()).unwrap();
    assert_eq!(format!("{short:?}"), "CardNumber(****5074)");
    for input in ["4111 1111 1111 1111", "4006381333934", "4006 38X3 3393 1"] {
        let message = CardNumber::parse(input, &defaults())
            .unwrap_err()
            .to_string();
        assert!(
            !message.contains("1111") && !message.contains("3393"),
            "{message}"
        );
    }
}

#[test]
fn serde_stores_digits_and_validates() {
    let card = CardNumber::parse("2900 0000 0001 8", &defaults()).unwrap();
    let json = serde_json::to_string(&card).unwrap();
    assert_eq!(json, "\"2900000000018\"");
    assert_eq!(serde_json::from_str::<CardNumber>(&json).unwrap(), card);
    // A custom-format number outlives a change of formats.
    assert_eq!(
        serde_json::from_str::<CardNumber>("\"7700012345\"")
            .unwrap()
            .as_str(),
        "7700012345"
    );
    for bad in [
        "\"4111111111111111\"",
        "\"2900 0000 0001 8\"",
        "\"\"",
        "2900000000018",
        "\"123456789012345678901234567890123\"",
    ] {
        let e = serde_json::from_str::<CardNumber>(bad)
            .unwrap_err()
            .to_string();
        assert!(!e.contains("1111") && !e.contains("2900"), "{e}");
    }
}

#[test]
fn virtual_prefix_validation() {
    assert_eq!(VirtualPrefix::default().as_str(), "29");
    assert!(VirtualPrefix::new("2").is_ok());
    assert!(VirtualPrefix::new("2900000001").is_ok());
    for bad in ["", "19", "2a", "29000000011", "٢9"] {
        assert_eq!(
            VirtualPrefix::new(bad),
            Err(CardFormatError::InvalidVirtualPrefix),
            "{bad}"
        );
    }
    assert_eq!(
        serde_json::from_str::<VirtualPrefix>("\"25\"")
            .unwrap()
            .as_str(),
        "25"
    );
    assert!(serde_json::from_str::<VirtualPrefix>("\"46\"").is_err());
}

#[test]
fn virtual_numbers_steer_around_luhn() {
    // The longest prefix leaves two random digits: every body must still yield a number.
    let prefix = VirtualPrefix::new("2999999999").unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    let mut seen = std::collections::HashSet::new();
    for _ in 0..2_000 {
        let card = generate_virtual(&prefix, &mut rng);
        assert!(card.as_str().starts_with("2999999999"));
        assert!(!luhn_valid(card.as_str()));
        seen.insert(card);
    }
    // At least 80 of the 100 bodies are not Luhn-valid.
    assert!(seen.len() >= 80, "{}", seen.len());
}

proptest! {
    #[test]
    fn generated_virtual_cards_always_parse(seed: u64, prefix in "2[0-9]{0,9}") {
        let prefix = VirtualPrefix::new(&prefix).unwrap();
        let card = generate_virtual(&prefix, &mut StdRng::seed_from_u64(seed));
        prop_assert_eq!(card.as_str().len(), 13);
        prop_assert!(card.as_str().starts_with(prefix.as_str()));
        prop_assert!(ean_valid(card.as_str()));
        prop_assert!(!luhn_valid(card.as_str()));
        let parsed = CardNumber::parse(card.as_str(), &defaults()).unwrap();
        prop_assert_eq!(&parsed, &card);
        prop_assert_eq!(CardNumber::from_stored(card.as_str()).unwrap(), card);
    }

    #[test]
    fn ean_check_digit_makes_ean_valid(body in "[0-9]{1,20}") {
        let check = ean_check_digit(&body).unwrap();
        let right = format!("{body}{check}");
        let wrong = format!("{body}{}", (check + 1) % 10);
        prop_assert!(ean_valid(&right));
        prop_assert!(!ean_valid(&wrong));
    }

    #[test]
    fn luhn_check_digit_makes_luhn_valid(body in "[0-9]{1,20}") {
        let check = luhn_check_digit(&body).unwrap();
        let right = format!("{body}{check}");
        let wrong = format!("{body}{}", (check + 1) % 10);
        prop_assert!(luhn_valid(&right));
        prop_assert!(!luhn_valid(&wrong));
    }
}
