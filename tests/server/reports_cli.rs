//! `bonuskassa-server report`, `liability`, `backup` and `restore` as an accountant and an
//! installer run them: the report of the chain worked out by hand in `store::reports`,
//! printed and exported (the CSV parsed back as Russian Excel would, the XLSX read with
//! calamine), the liability, a backup taken while writes go on and restored, and every
//! refusal with its sentence and exit code 2.

use std::io::Cursor;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use calamine::{Data, Reader, Xlsx};
use chrono::Utc;
use serde_json::json;

use crate::common::db::TestDb;
use crate::common::receipts::{ReceiptJson, coffee};
use crate::store::reports::chain;
use bonuskassa::domain::rules::Rules;
use bonuskassa::protocol::server::{Operation, OperationStatus};
use bonuskassa::server::auth::Terminal;
use bonuskassa::server::store::{self, CustomerKey, Engine, Location};
use bonuskassa::server::{admin, ops};

fn bin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bonuskassa-server"))
        .args(args)
        .output()
        .unwrap()
}

fn restore(from: &str, data: &str) -> Output {
    bin(&["restore", "--from", from, "--data", data])
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// The hand-worked chain in a data dir of its own, with the expiry job run.
fn chain_dir() -> (TestDb, String) {
    let (db, s) = chain(Engine::Sqlite);
    store::write(&*s, |tx| {
        bonuskassa::server::ledger::expire(tx, "clara", Utc::now())
    })
    .unwrap();
    drop(s);
    let Location::Sqlite(dir) = &db.location else {
        unreachable!("an embedded store")
    };
    let dir = dir.to_str().unwrap().to_string();
    (db, dir)
}

fn assert_refused(out: &Output, says: &str) {
    assert_eq!(out.status.code(), Some(2), "{}", stderr(out));
    assert!(
        stderr(out).contains(says),
        "{:?} does not say {says:?}",
        stderr(out)
    );
}

#[test]
fn the_report_is_printed_and_exported_for_russian_excel_and_read_back() {
    let (_db, data) = chain_dir();
    let dir = tempfile::tempdir().unwrap();
    let csv_path = dir.path().join("отчёт.csv");
    let out = bin(&[
        "report",
        "--data",
        &data,
        "--from",
        "01.11.2026",
        "--to",
        "2026-11-30",
        "--by",
        "store",
        "--format",
        "csv",
        "--out",
        csv_path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let bytes = std::fs::read(&csv_path).unwrap();
    assert_eq!(&bytes[..3], b"\xEF\xBB\xBF", "a UTF-8 BOM first");
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_reader(&bytes[3..]);
    let headers: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        headers[..4],
        ["Магазин", "Чеков с картой", "Выручка, ₽", "Скидка, ₽"]
    );
    assert_eq!(headers.len(), 16);
    let rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    let names: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        names,
        [
            "Без магазина",
            "Кофе у Карины, Тверская 1",
            "Кофе у Карины, Красный проспект 5",
            "Итого"
        ]
    );
    // Moscow: 950 + 140 ₽ in two receipts; Novosibirsk: 380 ₽ and the 950 ₽ return.
    assert_eq!(rows[1][1..4], ["2", "1090,00", "60,00"]);
    assert_eq!(rows[2][1..4], ["1", "380,00", "20,00"]);
    let total = &rows[3];
    assert_eq!(
        total[1..7],
        ["3", "1470,00", "80,00", "177,00", "50,00", "30,00"]
    );
    assert_eq!(total[7..11], ["1", "950,00", "0,00", "95,00"]);
    assert_eq!(total[11..], ["3", "2", "0", "1", "1"]);

    let xlsx_path = dir.path().join("report.xlsx");
    let out = bin(&[
        "report",
        "--data",
        &data,
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-30",
        "--by",
        "cashier",
        "--format",
        "xlsx",
        "--out",
        xlsx_path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut book: Xlsx<_> =
        calamine::open_workbook_from_rs(Cursor::new(std::fs::read(&xlsx_path).unwrap())).unwrap();
    let sheet = book.worksheet_range("Отчёт").unwrap();
    let cell = |r: u32, c: u32| sheet.get_value((r, c)).cloned().unwrap_or(Data::Empty);
    assert_eq!(cell(0, 0), Data::String("Магазин".into()));
    assert_eq!(cell(0, 1), Data::String("Кассир".into()));
    let last = sheet.height() as u32 - 1;
    assert_eq!(cell(last, 0), Data::String("Итого".into()));
    assert_eq!(cell(last, 2), Data::Float(3.0));
    assert_eq!(cell(last, 3), Data::Float(1470.0));
    // The cashiers, store by store; burns and imports are nobody's.
    let cashiers: Vec<String> = (1..last).map(|r| cell(r, 1).to_string()).collect();
    assert_eq!(
        cashiers,
        ["(без кассира)", "Бухгалтер", "Анна", "Вера", "Борис"]
    );

    let out = bin(&[
        "report",
        "--data",
        &data,
        "--from",
        "2026-11-23",
        "--to",
        "2026-11-24",
        "--store",
        "nsk",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    assert!(
        table.starts_with("Отчёт за 23.11.2026 – 24.11.2026\n"),
        "{table}"
    );
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[1].starts_with("День"), "{table}");
    assert!(lines[2].starts_with("23.11.2026  "), "{table}");
    assert!(lines[3].starts_with("24.11.2026  "), "{table}");
    assert!(
        lines[4].starts_with("Итого") && lines[4].contains("380,00"),
        "{table}"
    );
    assert!(!table.contains("1090,00"), "Moscow is left out: {table}");
}

#[test]
fn a_report_asked_for_wrongly_is_refused_with_a_sentence() {
    let (_db, data) = chain_dir();
    let report = |extra: &[&str]| {
        let mut args = vec!["report", "--data", &data];
        args.extend_from_slice(extra);
        bin(&args)
    };
    assert_refused(
        &report(&["--from", "2026-12-01", "--to", "2026-11-01"]),
        "the period ends (2026-11-01) before it begins (2026-12-01)",
    );
    assert_refused(
        &report(&["--from", "1 ноября", "--to", "2026-11-01"]),
        "\"1 ноября\" is not a date: write it as 2026-03-31 or 31.03.2026",
    );
    assert_refused(
        &report(&["--from", "2026-11-01", "--to", "2026-11-30", "--by", "week"]),
        "a report is by day, store or cashier, not \"week\"",
    );
    assert_refused(
        &report(&[
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-30",
            "--store",
            "spb",
        ]),
        "there is no store \"spb\"",
    );
    assert_refused(
        &report(&[
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-30",
            "--format",
            "xlsx",
        ]),
        "--format xlsx needs --out FILE",
    );
    assert_refused(
        &report(&[
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-30",
            "--format",
            "pdf",
        ]),
        "--format is table, csv or xlsx, not \"pdf\"",
    );
    assert_refused(
        &bin(&["liability", "--data", &data, "--at", "2026-13-01"]),
        "\"2026-13-01\" is not a date",
    );
}

#[test]
fn the_liability_is_printed_as_of_the_end_of_a_day() {
    let (_db, data) = chain_dir();
    // The end of the 24th, Moscow time: Anna owes 36 bonuses, Boris has 38, Clara's burnt.
    let out = bin(&["liability", "--data", &data, "--at", "24.11.2026"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "bonus liability as of 2026-11-24T20:59:59Z\nactive  2.00\npending 0.00\ntotal   2.00\n"
    );
    let out = bin(&[
        "liability",
        "--data",
        &data,
        "--at",
        "2026-11-20",
        "--store",
        "msk",
    ]);
    assert!(stdout(&out).ends_with("total   0.00\n"), "{}", stdout(&out));
    let out = bin(&["liability", "--data", &data, "--at", "2026-11-20"]);
    assert!(stdout(&out).contains("pending 30.00\n"), "{}", stdout(&out));
}

/// Sales of the demo customers at one till, one per call, until told to stop; how many
/// were applied.
fn keep_selling(data: &Path, stop: &AtomicBool, sold: &AtomicU64) {
    let s = store::open(&data.into()).unwrap();
    let rules = Rules::from_toml_str(admin::DEMO_RULES).unwrap();
    let karina = store::read(&*s, |r| r.customer(CustomerKey::Phone("+79990000001")))
        .unwrap()
        .unwrap()
        .id;
    let till = Terminal {
        id: "till-1".into(),
        store_id: admin::DEMO_STORE.into(),
    };
    let mut seq = 0u64;
    while !stop.load(Ordering::Relaxed) {
        seq += 1;
        let op: Operation = serde_json::from_value(json!({
            "id": uuid::Uuid::now_v7().to_string(), "seq": seq, "at": Utc::now(),
            "cashier": "Кассир Мария", "cashier_id": 1,
            "body": { "kind": "sale", "customer_id": karina, "spend": "0",
                "receipt": ReceiptJson::sale(&format!("r-{seq}")).line(coffee("300.00")).json() } }))
        .unwrap();
        let r = ops::apply_batch(&*s, &rules, &till, vec![op], Utc::now).unwrap();
        assert_eq!(r[0].status, OperationStatus::Applied);
        sold.store(seq, Ordering::SeqCst);
    }
}

#[test]
fn a_backup_taken_while_sales_go_on_restores_whole_into_an_empty_dir() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    admin::demo_data(&data, Utc::now()).unwrap();
    let (stop, sold) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let writer = {
        let (data, stop, sold) = (data.clone(), stop.clone(), sold.clone());
        std::thread::spawn(move || keep_selling(&data, &stop, &sold))
    };
    while sold.load(Ordering::SeqCst) < 20 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let copy = dir.path().join("backup.sqlite3");
    let before = sold.load(Ordering::SeqCst);
    let out = bin(&[
        "backup",
        "--data",
        data.to_str().unwrap(),
        "--to",
        copy.to_str().unwrap(),
    ]);
    let after = sold.load(Ordering::SeqCst);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("backup written to "),
        "{}",
        stdout(&out)
    );
    // The sales went on during the backup.
    while sold.load(Ordering::SeqCst) < after + 20 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();

    // A backup never overwrites.
    let again = bin(&[
        "backup",
        "--data",
        data.to_str().unwrap(),
        "--to",
        copy.to_str().unwrap(),
    ]);
    assert_refused(&again, "already exists: a backup never overwrites a file");

    let restored = dir.path().join("restored");
    let out = restore(copy.to_str().unwrap(), restored.to_str().unwrap());
    assert!(out.status.success(), "{}", stderr(&out));
    let s = store::open(&restored.as_path().into()).unwrap();
    let census = store::read(&*s, |r| r.census()).unwrap();
    assert_eq!(census.unbalanced, 0, "{census:?}");
    assert_eq!(census.doubled_entries, 0, "{census:?}");
    // (A sale committed just before the backup ended may not be counted in `after` yet.)
    assert!(
        census.sales as u64 >= before && census.sales as u64 <= after + 1,
        "the copy is one moment between {before} and {after} sales: {census:?}"
    );
    // The copy's sales are in its report too: one moment, whole.
    let report = bonuskassa::server::reports::report(
        &*s,
        &bonuskassa::server::reports::ReportRequest {
            period: bonuskassa::server::reports::Period::new(
                Utc::now().date_naive() - chrono::Duration::days(1),
                Utc::now().date_naive() + chrono::Duration::days(1),
            )
            .unwrap(),
            by: bonuskassa::server::reports::GroupBy::Store,
            stores: None,
        },
    )
    .unwrap();
    assert_eq!(report.total.receipts, census.sales);
    drop(s);

    // Into a dir that is not empty: refused, and nothing there is touched.
    let out = restore(copy.to_str().unwrap(), restored.to_str().unwrap());
    assert_refused(
        &out,
        "is not empty: a restore goes into an empty (or new) data dir only",
    );
}

#[test]
fn a_restore_refuses_what_is_not_a_bonuskassa_database_and_postgres_is_left_to_its_tools() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("new");
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "Отчёт за ноябрь").unwrap();
    assert_refused(
        &restore(text.to_str().unwrap(), target.to_str().unwrap()),
        "is not an SQLite database: it does not begin as one",
    );
    let other = dir.path().join("other.sqlite3");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE customers (id TEXT); CREATE TABLE outbox (id TEXT);")
        .unwrap();
    assert_refused(
        &restore(other.to_str().unwrap(), target.to_str().unwrap()),
        "is an SQLite database but not a bonuskassa server's: it has no bonus_batches table",
    );
    assert_refused(
        &restore("/nonexistent/b.sqlite3", target.to_str().unwrap()),
        "there is no backup file /nonexistent/b.sqlite3",
    );
    assert!(!target.exists(), "nothing was made for a refused restore");
    assert_refused(
        &bin(&[
            "backup",
            "--data",
            target.to_str().unwrap(),
            "--to",
            "/tmp/x.sqlite3",
        ]),
        "has no bonuskassa-server database",
    );
    let url = "postgres://bk@127.0.0.1:5432/bonuskassa";
    assert_refused(
        &bin(&["backup", "--database", url, "--to", "/tmp/x.sqlite3"]),
        "a PostgreSQL database is backed up and restored with PostgreSQL's own tools: use pg_dump",
    );
    assert_refused(
        &bin(&["restore", "--from", "/tmp/x.sqlite3", "--database", url]),
        "use pg_restore",
    );
}
