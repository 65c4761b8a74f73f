//! The import of an existing customer base on every engine: the dry run names every kind of
//! bad row and writes nothing; one bad row stops the whole file; a good file makes the
//! customers with their bonuses («Перенос из старой программы»), purchases, consent and feed
//! position; the same file again (even re-saved in another encoding) changes nothing; and the
//! store methods underneath, as a contract.

use super::*;
use bonuskassa::domain::card::ean_check_digit;
use bonuskassa::server::backoffice::Actor;
use bonuskassa::server::import::{self, Column, ImportReport, Problem, RowProblem};
use bonuskassa::server::store::{ImportMark, Source};

fn now() -> DateTime<Utc> {
    t0() + Span::days(1)
}

/// An EAN-13 in-store card number ending in `n`.
fn card(n: u32) -> String {
    let body = format!("29100{n:07}");
    format!("{body}{}", ean_check_digit(&body).unwrap())
}

const HEADER: &str = "Телефон;Фамилия;Имя;Отчество;Дата рождения;Пол;E-mail;Номер карты;Статус карты;Баланс бонусов;Сумма покупок";

/// A `;` separated file as Russian Excel saves it, from data lines.
fn csv(lines: &[String]) -> Vec<u8> {
    let mut text = HEADER.to_string();
    for l in lines {
        text.push_str("\r\n");
        text.push_str(l);
    }
    text.push_str("\r\n");
    text.into_bytes()
}

/// Three good customers in the ways people write them.
fn good_lines() -> Vec<String> {
    vec![
        format!(
            "8 (999) 200-00-01;Ёлкина;Дарья;Игоревна;05.03.1990;Ж;darya@example.ru;{};Серебряная;1 234,50;25 000",
            card(1)
        ),
        "+7 999 200 00 02;Зуев;Пётр;;1985-11-30;м;;;;300;".to_string(),
        "9992000003;;Вера;;;;;;золотая;0;60000,00".to_string(),
    ]
}

fn run(store: &dyn Store, file: &[u8], dry_run: bool) -> ImportReport {
    import::import(
        store,
        &Actor::cli(),
        &rules(),
        file,
        admin::DEMO_STORE,
        dry_run,
        now(),
    )
    .unwrap()
}

fn problem(row: u32, column: Column, problem: Problem) -> RowProblem {
    RowProblem {
        row,
        column: Some(column),
        problem,
    }
}

#[test]
fn a_dry_run_names_every_bad_row_and_writes_nothing() {
    for engine in engines() {
        let (_db, store) = demo(engine);
        let before = store::read(&*store, |r| r.census()).unwrap();
        let lines = [
            ";Без;Телефона;;;;;;;;".to_string(),                         // 2
            "12345;Короткий;Номер;;;;;;;;".to_string(),                  // 3
            format!("+7 999 200 00 10;;;;;;;{};;;", card(10)),           // 4: good
            "+7 999 200 00 10;;;;;;;;;;".to_string(),                    // 5: the phone of row 4
            format!("+7 999 200 00 11;;;;;;;{};;;", card(10)),           // 6: the card of row 4
            "+7 999 200 00 12;;;;;;;4111 1111 1111 1111;;;".to_string(), // 7
            "+7 999 200 00 13;;;;;;;12345;;;".to_string(),               // 8
            "+7 999 000 00 01;;;;;;;;;;".to_string(), // 9: a demo customer's phone
            "+7 999 200 00 14;;;;;;;2900000000018;;;".to_string(), // 10: a demo customer's card
            "+7 999 200 00 15;;;;;;;;Платиновая;;".to_string(), // 11
            "+7 999 200 00 16;;;;;;;;;-100;".to_string(), // 12
            "+7 999 200 00 17;;;;;;;;;сто;1,2,3".to_string(), // 13
            "+7 999 200 00 18;;;;31.02.1990;;;;;;".to_string(), // 14
            "+7 999 200 00 19;;;;01.01.2090;?;почта;;;10,555;".to_string(), // 15
        ];
        let report = run(&*store, &csv(&lines), true);
        let known: Vec<String> = ["Стандартная", "Серебряная", "Золотая"]
            .map(String::from)
            .to_vec();
        let bad_phone = |row| match &report
            .problems
            .iter()
            .find(|p| p.row == row)
            .unwrap()
            .problem
        {
            Problem::BadPhone { reason } => reason.clone(),
            other => panic!("{other:?}"),
        };
        assert!(bad_phone(3).contains("digits"), "{}", bad_phone(3));
        let bad_card = match &report.problems.iter().find(|p| p.row == 8).unwrap().problem {
            Problem::BadCard { reason } => reason.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            report.problems,
            [
                problem(2, Column::Phone, Problem::MissingPhone),
                problem(
                    3,
                    Column::Phone,
                    Problem::BadPhone {
                        reason: bad_phone(3)
                    }
                ),
                problem(5, Column::Phone, Problem::DuplicatePhone { first_row: 4 }),
                problem(6, Column::Card, Problem::DuplicateCard { first_row: 4 }),
                problem(7, Column::Card, Problem::BankCard),
                problem(8, Column::Card, Problem::BadCard { reason: bad_card }),
                problem(9, Column::Phone, Problem::PhoneTaken),
                problem(10, Column::Card, Problem::CardTaken),
                problem(
                    11,
                    Column::CardStatus,
                    Problem::UnknownStatus {
                        value: "Платиновая".into(),
                        known
                    }
                ),
                problem(12, Column::Balance, Problem::Negative),
                problem(
                    13,
                    Column::Balance,
                    Problem::NotANumber {
                        value: "сто".into()
                    }
                ),
                problem(
                    13,
                    Column::PurchasesSum,
                    Problem::NotANumber {
                        value: "1,2,3".into()
                    }
                ),
                problem(
                    14,
                    Column::BirthDate,
                    Problem::BadDate {
                        value: "31.02.1990".into()
                    }
                ),
                problem(
                    15,
                    Column::BirthDate,
                    Problem::DateOutOfRange {
                        value: "01.01.2090".into()
                    }
                ),
                problem(15, Column::Gender, Problem::BadGender { value: "?".into() }),
                problem(15, Column::Email, Problem::BadEmail),
                problem(
                    15,
                    Column::Balance,
                    Problem::TooPrecise {
                        value: "10,555".into()
                    }
                ),
            ],
            "{engine}"
        );
        assert_eq!(
            (report.rows, report.new_customers, report.written),
            (14, 1, false),
            "{engine}"
        );
        assert_eq!(report.bad_rows(), 13, "{engine}");
        // The printed report names rows and columns and never a phone or a card.
        let printed = report.to_string();
        assert!(
            printed.contains("row 7, «Номер карты»: this looks like a bank card"),
            "{printed}"
        );
        assert!(
            printed.contains("row 5, «Телефон»: the same phone is already in row 4"),
            "{printed}"
        );
        assert!(
            !printed.contains("4111") && !printed.contains("999"),
            "{printed}"
        );
        assert!(
            printed.ends_with("dry run: fix the rows above; nothing written"),
            "{printed}"
        );
        assert_eq!(
            store::read(&*store, |r| r.census()).unwrap(),
            before,
            "{engine}"
        );

        // A good file's dry run says what it would do, and still writes nothing.
        let report = run(&*store, &csv(&good_lines()), true);
        assert!(report.ok(), "{engine}: {report}");
        assert_eq!(
            (report.new_customers, report.written),
            (3, false),
            "{engine}"
        );
        assert_eq!(report.bonuses.to_string(), "1534.50", "{engine}");
        assert_eq!(report.purchases_sum.to_string(), "85000.00", "{engine}");
        assert_eq!(
            store::read(&*store, |r| r.census()).unwrap(),
            before,
            "{engine}"
        );
    }
}

#[test]
fn one_bad_row_stops_the_whole_file() {
    for engine in engines() {
        let (_db, store) = demo(engine);
        let before = store::read(&*store, |r| r.census()).unwrap();
        let mut lines = good_lines();
        lines.push("+7 999 200 00 09;;;;;;;;;-1;".into());
        let report = run(&*store, &csv(&lines), false);
        assert_eq!(
            report.problems,
            [problem(5, Column::Balance, Problem::Negative)],
            "{engine}"
        );
        assert!(!report.written, "{engine}");
        assert!(
            report
                .to_string()
                .ends_with("nothing imported: fix the rows above and import again")
        );
        assert_eq!(
            store::read(&*store, |r| r.census()).unwrap(),
            before,
            "{engine}"
        );
    }
}

#[test]
fn an_import_makes_customers_with_bonuses_purchases_consent_and_a_feed_position() {
    for engine in engines() {
        let (_db, store) = demo(engine);
        let s = &*store;
        let (_, before_feed) = store::read(s, |r| r.feed(0, 0, now())).unwrap();
        let last_seq = store::read(s, |r| r.feed(0, 100, now()))
            .unwrap()
            .0
            .last()
            .map_or(0, |f| f.seq);
        let report = run(s, &csv(&good_lines()), false);
        assert!(report.written && report.ok(), "{engine}: {report}");
        assert_eq!(report.new_customers, 3, "{engine}");
        assert!(report.to_string().ends_with("imported"));

        let darya = store::read(s, |r| r.customer(CustomerKey::Phone("+79992000001")))
            .unwrap()
            .unwrap();
        assert_eq!(
            darya.card_number.as_deref(),
            Some(card(1).as_str()),
            "{engine}"
        );
        assert_eq!(darya.card_status, "Серебряная", "{engine}");
        assert_eq!(
            (darya.last_name.as_deref(), darya.first_name.as_deref()),
            (Some("Ёлкина"), Some("Дарья")),
            "{engine}"
        );
        assert_eq!(
            darya.birth_date,
            chrono::NaiveDate::from_ymd_opt(1990, 3, 5),
            "{engine}"
        );
        assert!(darya.phone_verified && darya.consent_processing, "{engine}");
        assert!(!darya.consent_advertising, "{engine}");
        let consents = store::read(s, |r| r.consents(&darya.id)).unwrap();
        assert_eq!(consents.len(), 1, "{engine}");
        assert_eq!(
            (
                consents[0].kind.as_str(),
                consents[0].granted,
                consents[0].cashier.as_deref()
            ),
            ("processing", true, Some(import::IMPORT_DESCRIPTION)),
            "{engine}"
        );
        // The balance: one batch «Перенос из старой программы», spendable now, burning
        // after the status's 365 days.
        assert_eq!(balance(s, &darya.id, now()), 123_450, "{engine}");
        let history = store::read(s, |r| r.history(&darya.id, 10)).unwrap();
        assert_eq!(history.len(), 1, "{engine}");
        assert_eq!(
            (
                history[0].amount,
                history[0].kind,
                history[0].description.as_str()
            ),
            (123_450, Source::Import, "Перенос из старой программы"),
            "{engine}"
        );
        let batches = store::read(s, |r| r.batches(&darya.id)).unwrap();
        assert_eq!(batches.len(), 1, "{engine}");
        assert_eq!(batches[0].source, Source::Import, "{engine}");
        assert_eq!(batches[0].active_from, now(), "{engine}");
        assert_eq!(
            batches[0].burns_at,
            Some(now() + Span::days(365)),
            "{engine}"
        );
        // The purchases sum counts for all-time thresholds, not for the last N days.
        let all = store::read(s, |r| r.purchase_totals(&darya.id, None, now())).unwrap();
        assert_eq!(all.sum, 2_500_000, "{engine}");
        let recent = store::read(s, |r| {
            r.purchase_totals(&darya.id, Some(now() - Span::days(365)), now())
        })
        .unwrap();
        assert_eq!(recent.sum, 0, "{engine}");

        // A status in another case is the rules' own; an empty one is the registration
        // card; no balance, no batch.
        let vera = store::read(s, |r| r.customer(CustomerKey::Phone("+79992000003")))
            .unwrap()
            .unwrap();
        assert_eq!(vera.card_status, "Золотая", "{engine}");
        assert_eq!(
            store::read(s, |r| r.batches(&vera.id)).unwrap(),
            [],
            "{engine}"
        );
        let petr = store::read(s, |r| r.customer(CustomerKey::Phone("+79992000002")))
            .unwrap()
            .unwrap();
        assert_eq!(petr.card_status, "Стандартная", "{engine}");

        // The tills learn them: all three after everything they had.
        let (feed, after) = store::read(s, |r| r.feed(last_seq, 100, now())).unwrap();
        assert_eq!(after, 3, "{engine}");
        assert_eq!(
            feed.iter()
                .map(|f| f.customer.phone.as_str())
                .collect::<std::collections::BTreeSet<_>>(),
            ["+79992000001", "+79992000002", "+79992000003"].into(),
            "{engine}"
        );
        let (_, total) = store::read(s, |r| r.feed(0, 0, now())).unwrap();
        assert_eq!(total, before_feed + 3, "{engine}");
        let census = store::read(s, |r| r.census()).unwrap();
        assert_eq!(census.unbalanced, 0, "{engine}");
    }
}

#[test]
fn importing_the_same_file_twice_changes_nothing() {
    for engine in engines() {
        let (_db, store) = demo(engine);
        let s = &*store;
        let file = csv(&good_lines());
        assert!(run(s, &file, false).written, "{engine}");
        let after_first = store::read(s, |r| r.census()).unwrap();

        let again = run(s, &file, false);
        assert_eq!(
            (again.new_customers, again.already_imported, again.written),
            (0, 3, false),
            "{engine}: {again}"
        );
        assert!(again.ok(), "{engine}");
        assert!(again.to_string().ends_with("nothing new to import"));
        // The same rows re-saved in Windows-1251 with the phones spelt otherwise are the
        // same rows.
        let respelt: Vec<String> = good_lines()
            .iter()
            .map(|l| l.replace("8 (999) 200-00-01", "+79992000001"))
            .collect();
        let text = String::from_utf8(csv(&respelt)).unwrap();
        let (cp1251, _, _) = encoding_rs::WINDOWS_1251.encode(&text);
        let again = run(s, &cp1251, false);
        assert_eq!(
            (again.already_imported, again.written),
            (3, false),
            "{engine}"
        );
        assert_eq!(
            store::read(s, |r| r.census()).unwrap(),
            after_first,
            "{engine}"
        );

        // A new row with the old ones imports only the new one; an edited old row is a
        // conflict, never an overwrite.
        let mut lines = good_lines();
        lines.push("+7 999 200 00 04;;Олег;;;;;;;50;".into());
        let more = run(s, &csv(&lines), false);
        assert_eq!(
            (more.new_customers, more.already_imported),
            (1, 3),
            "{engine}"
        );
        assert!(more.written, "{engine}");
        lines[1] = "+7 999 200 00 02;Зуев;Пётр;;1985-11-30;м;;;;999;".into();
        let edited = run(s, &csv(&lines), true);
        assert_eq!(
            edited.problems,
            [problem(3, Column::Phone, Problem::PhoneTaken)],
            "{engine}"
        );
    }
}

#[test]
fn the_import_store_methods_hold_their_contract() {
    for engine in engines() {
        let (_db, store) = demo(engine);
        let s = &*store;
        let karina = customer_id(s, "+79990000001");
        let anna = customer_id(s, "+79990000003");
        // Each customer once, found by phone or by card, with no mark yet.
        let mut found = store::read(s, |r| {
            r.import_matches(
                &["+79990000001", "+79990000009"],
                &["2900000000018", "2900000000025", "2900000000099"],
            )
        })
        .unwrap();
        found.sort_by(|a, b| a.phone.cmp(&b.phone));
        assert_eq!(found.len(), 2, "{engine}: {found:?}");
        assert_eq!(
            (
                found[0].customer_id.as_str(),
                found[0].card_number.as_deref(),
                found[0].digest.as_deref()
            ),
            (karina.as_str(), Some("2900000000018"), None),
            "{engine}"
        );
        assert_eq!(found[1].customer_id, anna, "{engine}");
        assert_eq!(
            store::read(s, |r| r.import_matches(&[], &[])).unwrap(),
            [],
            "{engine}"
        );

        // A mark is kept with the customer; a second mark of the same customer keeps the
        // first.
        let mark = |digest| ImportMark {
            customer_id: &karina,
            digest,
            store_id: Some(admin::DEMO_STORE),
            at: now(),
        };
        store::write(s, |tx| tx.insert_import_marks(&[mark("aa")])).unwrap();
        store::write(s, |tx| tx.insert_import_marks(&[mark("bb")])).unwrap();
        store::write(s, |tx| tx.insert_import_marks(&[])).unwrap();
        let found = store::read(s, |r| r.import_matches(&[], &["2900000000018"])).unwrap();
        assert_eq!(found.len(), 1, "{engine}");
        assert_eq!(found[0].digest.as_deref(), Some("aa"), "{engine}");
        // A mark rolled back with its transaction is gone.
        let mut tx = s.begin().unwrap();
        tx.insert_import_marks(&[ImportMark {
            customer_id: &anna,
            digest: "cc",
            store_id: None,
            at: now(),
        }])
        .unwrap();
        drop(tx);
        let found = store::read(s, |r| r.import_matches(&["+79990000003"], &[])).unwrap();
        assert_eq!(found[0].digest, None, "{engine}");
    }
}

#[test]
fn a_file_that_cannot_be_read_or_has_no_phone_column_is_an_error() {
    let (_db, store) = demo(Engine::Sqlite);
    let s = &*store;
    let err = |file: &[u8], store_id: &str| {
        import::import(s, &Actor::cli(), &rules(), file, store_id, true, now())
            .unwrap_err()
            .to_string()
    };
    assert_eq!(err(b"", admin::DEMO_STORE), "the file is empty");
    assert!(
        err("Имя;Фамилия\nАнна;Б\n".as_bytes(), admin::DEMO_STORE)
            .starts_with("the header row has no phone column: name it «Телефон»")
    );
    assert_eq!(
        err("Телефон;Phone\n1;2\n".as_bytes(), admin::DEMO_STORE),
        "the columns «Телефон» and «Phone» both name the column «Телефон»"
    );
    assert_eq!(err(&csv(&good_lines()), "store-404"), "no store store-404");
    // Columns it does not know are named and left alone.
    let report = import::import(
        s,
        &Actor::cli(),
        &rules(),
        "Телефон;Комментарий\n+7 999 200 00 05;постоянный\n".as_bytes(),
        admin::DEMO_STORE,
        true,
        now(),
    )
    .unwrap();
    assert_eq!(report.ignored_columns, ["Комментарий"]);
    assert_eq!(report.columns, [Column::Phone]);
    assert!(
        report
            .to_string()
            .contains("ignored columns: «Комментарий»")
    );
}
