//! Tests of the PostgreSQL engine against a real server, and of its pure parts (URLs,
//! password files, migration files) without one.
//!
//! The database tests run when `BONUSKASSA_TEST_PG_URL` names a server the tests may create
//! databases on (`postgres://bk@127.0.0.1:55432/postgres`); each makes a fresh database
//! `bk_<random>` and drops it afterwards. Without the variable they say on stderr that they
//! were skipped and pass: they never touch a database they did not make.

use std::ffi::OsString;
use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Barrier, Mutex};

use chrono::{Duration, NaiveDate, TimeZone};
use tokio_postgres::NoTls;

use super::*;
use crate::protocol::server::Role;
use crate::server::store::sqlite::SqliteStore;
use crate::server::store::{self as st, *};

const URL_VAR: &str = "BONUSKASSA_TEST_PG_URL";

/// The server URL the tests may use, or `None` after saying the test was skipped (straight
/// to stderr, so it shows despite the test harness capturing output).
fn admin_url(test: &str) -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            let _ = writeln!(
                std::io::stderr(),
                "skipped {test}: set {URL_VAR} to a PostgreSQL server URL to run it"
            );
            None
        }
    }
}

/// The process environment, for connections the tests make themselves.
fn process_env(name: &str) -> Option<OsString> {
    std::env::var_os(name)
}

/// Runs `f` with a connection to `url` on a thread of its own with its own runtime, so it
/// works from anywhere (inside a `#[tokio::test]` too).
fn with_raw<T: Send + 'static>(
    url: &str,
    f: impl for<'c> FnOnce(
        &'c tokio_postgres::Client,
    ) -> std::pin::Pin<
        Box<dyn Future<Output = Result<T, tokio_postgres::Error>> + Send + 'c>,
    > + Send
    + 'static,
) -> Result<T, String> {
    let url = url.to_string();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let mut config: tokio_postgres::Config = url.parse().unwrap();
            if let Some(p) = password::find(&config, &process_env) {
                config.password(p);
            }
            let (client, conn) = config.connect(NoTls).await.map_err(|e| e.to_string())?;
            let task = tokio::spawn(conn);
            let out = f(&client).await.map_err(|e| format!("{e:?}"));
            drop(client);
            let _ = task.await;
            out
        })
    })
    .join()
    .unwrap()
}

fn raw_exec(url: &str, sql: &str) {
    let owned = sql.to_string();
    with_raw(url, move |c| {
        Box::pin(async move { c.batch_execute(&owned).await })
    })
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

fn raw_i64(url: &str, sql: &str) -> i64 {
    let owned = sql.to_string();
    with_raw(url, move |c| {
        Box::pin(async move { c.query_one(&owned, &[]).await?.try_get::<_, i64>(0) })
    })
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// A fresh database on the test server, dropped with the value.
struct TestDb {
    admin: String,
    name: String,
    url: String,
}

impl TestDb {
    fn create(test: &str) -> Option<TestDb> {
        let admin = admin_url(test)?;
        let name = format!("bk_{}", uuid::Uuid::new_v4().simple());
        raw_exec(&admin, &format!("CREATE DATABASE {name}"));
        let mut config: tokio_postgres::Config = admin.parse().unwrap();
        config.dbname(&name);
        let url = describe_url(&config);
        Some(TestDb { admin, name, url })
    }

    fn open(&self) -> PgStore {
        PgStore::open(&self.url).unwrap()
    }

    fn exec(&self, sql: &str) {
        raw_exec(&self.url, sql);
    }

    fn i64(&self, sql: &str) -> i64 {
        raw_i64(&self.url, sql)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = with_raw(&self.admin, {
            let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            move |c| Box::pin(async move { c.batch_execute(&sql).await })
        });
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap()
}

fn day(n: i64) -> DateTime<Utc> {
    t0() + Duration::days(n)
}

fn new_customer(id: &str, phone: &str, card: Option<&str>) -> NewCustomer {
    NewCustomer {
        id: id.into(),
        phone: phone.into(),
        card_number: card.map(Into::into),
        card_status: "active".into(),
        registered_at: t0(),
        ..NewCustomer::default()
    }
}

fn batch<'a>(
    customer: &'a str,
    amount: i64,
    active_from: DateTime<Utc>,
    burns_at: Option<DateTime<Utc>>,
) -> NewBatch<'a> {
    NewBatch {
        customer_id: customer,
        amount,
        remaining: amount,
        source: Source::Purchase,
        active_from,
        burns_at,
        created_at: t0(),
        operation_id: None,
    }
}

fn variant(e: &StoreError) -> &'static str {
    match e {
        StoreError::Conflict(_) => "Conflict",
        StoreError::Unavailable(_) => "Unavailable",
        StoreError::Corrupt(_) => "Corrupt",
        StoreError::TooNew { .. } => "TooNew",
        StoreError::Setup(_) => "Setup",
        StoreError::Other(_) => "Other",
    }
}

// --- Without a database ----------------------------------------------------------------------

#[test]
fn a_migration_splits_at_its_data_marker() {
    let (ddl, data) =
        split_migration("CREATE TABLE a (x int);\n-- @data\nINSERT INTO a VALUES (1);\n");
    assert_eq!(ddl, "CREATE TABLE a (x int);\n");
    assert_eq!(data, "INSERT INTO a VALUES (1);\n");
    let (ddl, data) = split_migration("CREATE TABLE a (x int);\n");
    assert_eq!((ddl, data), ("CREATE TABLE a (x int);\n", ""));
    // The shipped file: the marker splits it once, the mention in its header does not.
    let (ddl, data) = split_migration(MIGRATIONS[0].sql);
    assert!(ddl.contains("CREATE TABLE IF NOT EXISTS customers"));
    assert!(!ddl.contains("INSERT INTO"));
    assert!(data.contains("INSERT INTO sms_locks"));
    assert!(!data.contains("CREATE"));
}

#[test]
fn redacted_urls_keep_no_password() {
    assert_eq!(
        redacted("postgres://bk:s3cret@db.example:6432/loyalty"),
        "postgres://bk@db.example:6432/loyalty"
    );
    assert_eq!(
        redacted("postgres://bk@127.0.0.1/loyalty?password=s3cret&application_name=x"),
        "postgres://bk@127.0.0.1:5432/loyalty"
    );
    let kv = redacted("host=10.0.0.1 user=bk password='s3 cret' dbname=loyalty");
    assert_eq!(kv, "postgres://bk@10.0.0.1:5432/loyalty");
    let broken = redacted("postgres://bk:s3cret@host:notaport/db");
    assert!(!broken.contains("s3cret"), "{broken}");
    let sockets = redacted("postgres://bk@%2Fvar%2Frun%2Fpostgresql/loyalty");
    assert_eq!(
        sockets,
        "postgres://bk@%2Fvar%2Frun%2Fpostgresql:5432/loyalty"
    );
    let location = Location::Postgres("postgres://bk:s3cret@h/db".into());
    assert!(!format!("{location:?}").contains("s3cret"));
}

#[test]
fn a_url_with_a_password_or_without_user_or_host_is_refused() {
    for url in [
        "postgres://bk:s3cret@127.0.0.1:5432/db",
        "postgres://bk@127.0.0.1:5432/db?password=s3cret",
    ] {
        let Err(e) = PgStore::open(url) else {
            panic!("{url} was accepted")
        };
        let text = e.to_string();
        assert!(matches!(e, StoreError::Setup(_)), "{e:?}");
        assert!(
            text.contains("PGPASSWORD") && text.contains("pgpass"),
            "{text}"
        );
        assert!(!text.contains("s3cret"), "{text}");
    }
    let Err(e) = PgStore::open("postgres://127.0.0.1:5432/db") else {
        panic!("a URL without a user was accepted")
    };
    assert!(e.to_string().contains("no user"), "{e}");
    let Err(e) = PgStore::open("not a url at all ===") else {
        panic!("garbage was accepted")
    };
    assert!(matches!(e, StoreError::Setup(_)), "{e:?}");
}

#[test]
fn password_file_lines_match_like_libpq() {
    let key = password::Key {
        host: "db.local".into(),
        port: "5432".into(),
        database: "loyalty".into(),
        user: "bk".into(),
    };
    let file = b"# comment\n\
        other:5432:loyalty:bk:wrong-host\n\
        db.local:5432:loyalty:bk:pa\\:ss\\\\word:tail\r\n\
        *:*:*:*:fallback\n";
    assert_eq!(
        password::lookup(file, &key).as_deref(),
        Some(&b"pa:ss\\word:tail"[..])
    );
    let other = password::Key {
        host: "elsewhere".into(),
        ..key.clone()
    };
    assert_eq!(
        password::lookup(file, &other).as_deref(),
        Some(&b"fallback"[..])
    );
    assert_eq!(password::lookup(b"db.local:5432:loyalty:bk\n", &key), None);
    assert_eq!(
        password::lookup(b"db\\.local:*:loyalty:*:esc\n", &key).as_deref(),
        Some(&b"esc"[..])
    );
    assert_eq!(password::lookup(b"", &key), None);
}

#[test]
fn passwords_come_from_pgpassword_then_the_private_password_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pgpass");
    std::fs::write(&file, "127.0.0.1:5433:loyalty:bk:from-file\n").unwrap();
    let config: tokio_postgres::Config = "postgres://bk@127.0.0.1:5433/loyalty".parse().unwrap();
    let path = file.clone().into_os_string();
    let env = |with_password: bool| {
        let path = path.clone();
        move |name: &str| match name {
            "PGPASSWORD" if with_password => Some(OsString::from("from-env")),
            "PGPASSFILE" => Some(path.clone()),
            _ => None,
        }
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(
            password::find(&config, &env(false)),
            None,
            "a readable file is ignored"
        );
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    assert_eq!(
        password::find(&config, &env(false)).as_deref(),
        Some(&b"from-file"[..])
    );
    assert_eq!(
        password::find(&config, &env(true)).as_deref(),
        Some(&b"from-env"[..])
    );
    // ~/.pgpass when PGPASSFILE is not set.
    std::fs::rename(&file, dir.path().join(".pgpass")).unwrap();
    let home = dir.path().as_os_str().to_owned();
    let via_home = move |name: &str| (name == "HOME").then(|| home.clone());
    assert_eq!(
        password::find(&config, &via_home).as_deref(),
        Some(&b"from-file"[..])
    );
}

#[test]
fn sms_slots_are_stable_and_in_range() {
    // Servers of different versions share a database: the slot of a phone never changes.
    assert_eq!(
        queries::sms_slot("+79990001122"),
        queries::sms_slot("+79990001122")
    );
    assert_eq!(
        queries::sms_slot(""),
        (0xcbf2_9ce4_8422_2325u64 % 1024) as i32
    );
    for n in 0..2000 {
        let slot = queries::sms_slot(&format!("+7999{n:07}"));
        assert!((0..1024).contains(&slot));
    }
}

// --- Against a server --------------------------------------------------------------------------

#[test]
fn migrations_apply_once_and_a_newer_database_is_refused() {
    let Some(db) = TestDb::create("migrations_apply_once_and_a_newer_database_is_refused") else {
        return;
    };
    drop(db.open());
    assert_eq!(
        db.i64("SELECT MAX(version)::bigint FROM schema_migrations"),
        SCHEMA_VERSION
    );
    assert_eq!(
        db.i64("SELECT COUNT(*) FROM schema_migrations"),
        MIGRATIONS.len() as i64
    );
    assert_eq!(db.i64("SELECT COUNT(*) FROM sms_locks"), 1024);
    assert_eq!(db.i64("SELECT last FROM feed_counter WHERE id = 1"), 0);
    // Again: nothing to do, nothing doubled.
    drop(db.open());
    assert_eq!(
        db.i64("SELECT COUNT(*) FROM schema_migrations"),
        MIGRATIONS.len() as i64
    );
    // Every statement of the file is idempotent on its own, too (a crash between the DDL
    // and the data transaction leaves the DDL applied and no version row).
    db.exec("DELETE FROM schema_migrations");
    drop(db.open());
    assert_eq!(db.i64("SELECT COUNT(*) FROM sms_locks"), 1024);
    db.exec(&format!(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES ({}, 'future', now())",
        SCHEMA_VERSION + 1
    ));
    match PgStore::open(&db.url) {
        Err(StoreError::TooNew { found, known }) => {
            assert_eq!((found, known), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        other => panic!("a newer database was not refused: {other:?}"),
    }
}

#[test]
fn servers_starting_together_on_an_empty_database_all_run() {
    let Some(db) = TestDb::create("servers_starting_together_on_an_empty_database_all_run") else {
        return;
    };
    let n = 4;
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let url = db.url.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                PgStore::open(&url).map(|store| {
                    let mut r = store.begin_read().unwrap();
                    r.census().unwrap()
                })
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap().unwrap(), Census::default());
    }
    assert_eq!(
        db.i64("SELECT COUNT(*) FROM schema_migrations"),
        MIGRATIONS.len() as i64
    );
    assert_eq!(db.i64("SELECT COUNT(*) FROM sms_locks"), 1024);
    assert_eq!(db.i64("SELECT COUNT(*) FROM feed_counter"), 1);
}

#[test]
fn the_password_file_logs_a_role_in_and_a_wrong_password_is_not_shown() {
    let Some(db) =
        TestDb::create("the_password_file_logs_a_role_in_and_a_wrong_password_is_not_shown")
    else {
        return;
    };
    let role = format!("bk_role_{}", uuid::Uuid::new_v4().simple());
    let right = format!("right-{}", uuid::Uuid::new_v4().simple());
    raw_exec(
        &db.admin,
        &format!(
            "CREATE ROLE {role} LOGIN PASSWORD '{right}'; ALTER DATABASE {} OWNER TO {role}",
            db.name
        ),
    );
    let mut config: tokio_postgres::Config = db.url.parse().unwrap();
    config.user(&role);
    let url = describe_url(&config);
    let host_port = hosts_and_ports(&config)[0].clone();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pgpass");
    let write_file = |password: &str| {
        std::fs::write(
            &file,
            format!(
                "# the test's\n{}:{}:{}:{role}:{password}\n",
                host_port.0, host_port.1, db.name
            ),
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    };
    let path = file.clone().into_os_string();
    let env = move |name: &str| (name == "PGPASSFILE").then(|| path.clone());

    write_file(&right);
    {
        let store = PgStore::open_with(&url, &env).unwrap();
        let mut r = store.begin_read().unwrap();
        assert_eq!(r.census().unwrap(), Census::default());
    }

    // Whether the server checks passwords for this role at all (a trust-only cluster does
    // not): then a wrong password must fail, naming the target and not the password.
    let wrong = format!("wrong-{}", uuid::Uuid::new_v4().simple());
    let enforced = {
        let mut c = config.clone();
        c.password(wrong.as_bytes());
        let checked = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async move { c.connect(NoTls).await.is_err() })
        });
        checked.join().unwrap()
    };
    write_file(&wrong);
    match PgStore::open_with(&url, &env) {
        Err(e) if enforced => {
            let text = e.to_string();
            assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
            assert!(
                text.contains(&db.name) && text.contains(&host_port.1.to_string()),
                "{text}"
            );
            assert!(
                !text.contains(&wrong) && !format!("{e:?}").contains(&wrong),
                "{text}"
            );
        }
        Err(e) => panic!("a trusting server refused: {e:?}"),
        Ok(_) if enforced => panic!("a wrong password from the password file was accepted"),
        Ok(_) => {
            let _ = writeln!(
                std::io::stderr(),
                "note: the test server does not check passwords for {role}; only the lookup was tested"
            );
        }
    }
    drop(db);
    let admin = admin_url("cleanup").unwrap();
    raw_exec(&admin, &format!("DROP ROLE IF EXISTS {role}"));
}

#[test]
fn an_unreachable_server_is_unavailable_naming_host_port_and_database() {
    if admin_url("an_unreachable_server_is_unavailable_naming_host_port_and_database").is_none() {
        return;
    }
    // Port 1 on the loopback: nothing listens there.
    let Err(e) = PgStore::open_with("postgres://bk@127.0.0.1:1/nowhere", &|_| {
        Some(OsString::from("never-shown"))
    }) else {
        panic!("a closed port was reachable")
    };
    let text = e.to_string();
    assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
    assert!(text.contains("127.0.0.1:1/nowhere"), "{text}");
    assert!(!text.contains("never-shown"), "{text}");
}

/// Runs every call of the interface the same way on a store and writes down what came
/// back, with batch keys as their place in the customer's granting order (the engines
/// number batches differently; only the order is the contract).
fn scenario(store: &dyn Store) -> Vec<String> {
    let mut out = Vec::new();
    let mut log = |label: &str, value: String| out.push(format!("{label}: {value}"));
    let now = day(10);
    let fmt_customer = |c: &Customer| {
        format!(
            "{:?}",
            (
                &c.id,
                &c.phone,
                &c.card_number,
                &c.card_status,
                c.phone_verified,
                &c.first_name,
                &c.last_name,
                c.birth_date,
                c.registered_at,
                &c.referrer_id
            )
        )
    };
    let keys: Arc<Mutex<Vec<BatchKey>>> = Arc::default();
    let fmt_batches = |batches: &[Batch]| {
        let keys = keys.lock().unwrap();
        batches
            .iter()
            .map(|b| {
                let place = keys.iter().position(|k| *k == b.key);
                format!(
                    "#{place:?} {} {} {:?} {} {:?}",
                    b.amount, b.remaining, b.source, b.active_from, b.burns_at
                )
            })
            .collect::<Vec<_>>()
            .join(" | ")
    };

    // Rules, stores, cashiers, enrollment, terminals, logins.
    st::write(store, |tx| {
        tx.insert_rules(1, "rules one", t0())?;
        tx.insert_rules(2, "rules two", day(1))?;
        tx.insert_store(
            &StoreRow {
                id: "s1".into(),
                name: "Магазин 1".into(),
                utc_offset_minutes: 180,
                address: "Москва".into(),
                time_zone: "Europe/Moscow".into(),
            },
            b"lookup-key",
            t0(),
        )?;
        tx.insert_cashier("s1", "Анна", Role::Cashier, b"salt1", b"hash1")?;
        tx.insert_cashier("s1", "Борис", Role::Manager, b"salt2", b"hash2")?;
        tx.insert_enrollment_code(b"code1", "s1", t0(), day(1))?;
        tx.insert_enrollment_code(b"code2", "s1", t0(), t0())?;
        Ok(())
    })
    .unwrap();
    st::write(store, |tx| {
        log("rules", format!("{:?}", tx.newest_rules()?));
        log(
            "store",
            format!("{:?} {:?}", tx.store("s1")?, tx.store("none")?),
        );
        log(
            "lookup key",
            format!("{:?} {:?}", tx.lookup_key("s1")?, tx.lookup_key("x")?),
        );
        let cashiers = tx.cashiers("s1")?;
        log(
            "cashiers",
            format!(
                "{:?}",
                cashiers
                    .iter()
                    .map(|c| (c.id, &c.name, c.role, &c.code_salt, &c.code_hash))
                    .collect::<Vec<_>>()
            ),
        );
        log(
            "cashier roles",
            format!(
                "{:?} {:?} {:?}",
                tx.cashier_role("s1", cashiers[1].id)?,
                tx.cashier_role("s2", cashiers[1].id)?,
                tx.cashier_role("s1", 999)?
            ),
        );
        log(
            "claims",
            format!(
                "{:?} {:?} {:?}",
                tx.claim_enrollment_code(b"code1", "term1", t0() + Duration::minutes(1))?,
                tx.claim_enrollment_code(b"code1", "term1", t0() + Duration::minutes(2))?,
                tx.claim_enrollment_code(b"code2", "term1", t0() + Duration::minutes(1))?
            ),
        );
        for (id, token) in [("term1", b"token1"), ("term2", b"token2")] {
            tx.insert_terminal(&NewTerminal {
                id,
                store_id: "s1",
                name: id,
                token_hash: token,
                enrolled_at: t0(),
            })?;
        }
        log(
            "revoke",
            format!(
                "{:?} {:?} {:?}",
                tx.revoke_terminal("term1", day(1))?,
                tx.revoke_terminal("term1", day(2))?,
                tx.revoke_terminal("none", day(2))?
            ),
        );
        log(
            "tokens",
            format!(
                "{:?} {:?} {:?}",
                tx.terminal_by_token(b"token1")?,
                tx.terminal_by_token(b"token2")?,
                tx.terminal_by_token(b"nope")?
            ),
        );
        log("login before", format!("{:?}", tx.login_state("term2")?));
        tx.set_login_state(
            "term2",
            LoginState {
                failures: 3,
                locked_until: Some(t0() + Duration::minutes(5)),
            },
        )?;
        log(
            "login after",
            format!(
                "{:?} {:?}",
                tx.login_state("term2")?,
                tx.login_state("none")?
            ),
        );
        Ok(())
    })
    .unwrap();

    // Customers.
    st::write(store, |tx| {
        let mut c1 = new_customer("c1", "+79990000001", Some("2000000000001"));
        c1.birth_date = NaiveDate::from_ymd_opt(1990, 3, 15);
        c1.first_name = Some("Мария".into());
        c1.gender = Some("female");
        let mut c2 = new_customer("c2", "+79990000002", None);
        c2.birth_date = NaiveDate::from_ymd_opt(1985, 3, 15);
        c2.referrer_id = Some("c1".into());
        let mut c3 = new_customer("c3", "+79990000003", Some("2000000000003"));
        c3.birth_date = NaiveDate::from_ymd_opt(2000, 12, 31);
        log(
            "inserts",
            format!(
                "{} {} {}",
                tx.insert_customer(&c1)?,
                tx.insert_customer(&c2)?,
                tx.insert_customer(&c3)?
            ),
        );
        let taken = [
            new_customer("c1", "+79990000009", None),
            new_customer("c9", "+79990000001", None),
            new_customer("c9", "+79990000009", Some("2000000000003")),
        ];
        for c in &taken {
            log("taken", format!("{}", tx.insert_customer(c)?));
        }
        tx.set_card_status("c3", "blocked")?;
        tx.set_phone_verified("c1")?;
        tx.insert_consent(&NewConsent {
            customer_id: "c1",
            kind: "processing",
            granted: true,
            at: t0(),
            terminal_id: Some("term2"),
            cashier: Some("Анна"),
        })?;
        for key in [
            CustomerKey::Id("c1"),
            CustomerKey::Phone("+79990000002"),
            CustomerKey::Card("2000000000003"),
            CustomerKey::Id("none"),
            CustomerKey::Card("none"),
        ] {
            log(
                "customer",
                format!("{:?}", tx.customer(key)?.as_ref().map(fmt_customer)),
            );
        }
        Ok(())
    })
    .unwrap();

    // Batches: ties in burning time, never-burning ones, pending, past burning, a debt.
    st::write(store, |tx| {
        let mut debt = batch("c1", -30, t0(), None);
        debt.source = Source::ReturnClawback;
        let news = [
            batch("c1", 100, t0(), Some(day(30))),
            batch("c1", 200, t0(), None),
            batch("c1", 300, t0(), Some(day(20))),
            batch("c1", 50, t0(), Some(day(20))),
            batch("c1", 70, day(15), Some(day(60))),
            batch("c1", 80, t0(), Some(day(5))),
            batch("c1", 60, day(12), None),
            batch("c1", 40, t0(), None),
            debt,
        ];
        let mut k = Vec::new();
        for b in &news {
            k.push(tx.insert_batch(b)?);
        }
        let mut partial = batch("c2", 500, t0(), None);
        partial.remaining = 200;
        partial.source = Source::Welcome;
        tx.insert_batch(&partial)?;
        *keys.lock().unwrap() = k;
        Ok(())
    })
    .unwrap();
    let key = |i: usize| keys.lock().unwrap()[i];
    st::write(store, |tx| {
        log("batches", fmt_batches(&tx.batches("c1")?));
        log("balance", format!("{:?}", tx.balance("c1", now)?));
        log("balance c2", format!("{:?}", tx.balance("c2", now)?));
        log("balance none", format!("{:?}", tx.balance("none", now)?));
        for when in [t0(), day(6), day(13), day(16), day(25), day(40), day(70)] {
            log(
                "balance at",
                format!("{when} {:?}", tx.balance("c1", when)?),
            );
        }
        for need in [0, 1, 300, 350, 351, 400, 10_000] {
            log(
                "spendable",
                format!("{need}: {}", fmt_batches(&tx.spendable("c1", now, need)?)),
            );
        }
        for need in [0, 1, 60, 61, 1_000] {
            log(
                "pending",
                format!("{need}: {}", fmt_batches(&tx.pending("c1", now, need)?)),
            );
        }
        log("due", fmt_batches(&tx.due_to_burn("c1", now)?));
        log("debts", fmt_batches(&tx.debts("c1")?));
        tx.lock_customers(&["c2", "c1", "c1", "none"])?;
        tx.adjust_batch("c1", key(2), -300)?;
        tx.adjust_batch("c1", key(8), 30)?;
        log("after adjust", fmt_batches(&tx.batches("c1")?));
        log("balance after", format!("{:?}", tx.balance("c1", now)?));
        log("debts after", fmt_batches(&tx.debts("c1")?));
        log(
            "with balance",
            format!(
                "{:?}",
                tx.customer_with_balance(CustomerKey::Card("2000000000001"), now)?
                    .map(|(c, b)| (fmt_customer(&c), b))
            ),
        );
        log(
            "with balance none",
            format!(
                "{:?}",
                tx.customer_with_balance(CustomerKey::Phone("+79990009999"), now)?
                    .is_some()
            ),
        );
        Ok(())
    })
    .unwrap();
    // Refusals, each in a transaction of its own that is rolled back.
    type Attempt = Box<dyn Fn(&mut dyn Tx) -> Result<(), StoreError>>;
    let refusals: [(&str, Attempt); 3] = [
        (
            "adjust a missing batch",
            Box::new(|tx: &mut dyn Tx| tx.adjust_batch("c1", 9_999, 1)),
        ),
        (
            "batch of no customer",
            Box::new(|tx: &mut dyn Tx| tx.insert_batch(&batch("ghost", 1, t0(), None)).map(drop)),
        ),
        (
            "audit twice",
            Box::new(|tx: &mut dyn Tx| {
                let a = NewAudit {
                    operation_id: "audit-1",
                    terminal_id: "term2",
                    cashier_id: 1,
                    cashier: "Анна",
                    event: "offline_spend",
                    customer_id: Some("c1"),
                    reason: "no network",
                    at: t0(),
                };
                tx.insert_audit(&a)?;
                tx.insert_audit(&a)
            }),
        ),
    ];
    for (label, attempt) in refusals {
        let mut tx = store.begin().unwrap();
        let result = attempt(&mut *tx);
        log(label, format!("{:?}", result.as_ref().map_err(variant)));
    }

    // History, purchases, time-driven changes, birthdays.
    st::write(store, |tx| {
        for (at, amount, text) in [
            (t0(), 100, "first"),
            (t0(), 50, "second, same time"),
            (day(1), -20, "a spend"),
            (day(1), 5, "last at that time"),
            (day(2), -1, "newest"),
        ] {
            tx.insert_entry(&NewEntry {
                customer_id: "c1",
                at,
                amount,
                kind: Source::Manual,
                description: text,
                operation_id: Some("op-h"),
                actor: None,
            })?;
        }
        log("history", format!("{:?}", tx.history("c1", 10)?));
        log("history 2", format!("{:?}", tx.history("c1", 2)?));
        log("history none", format!("{:?}", tx.history("none", 2)?));
        log("history sum", format!("{:?}", tx.history_sum("c1")?));
        tx.insert_purchase("c1", day(1), 1000)?;
        tx.insert_purchase("c1", day(2), 500)?;
        tx.insert_purchase("c1", day(3), -200)?;
        log(
            "purchases",
            format!(
                "{} {} {:?} {:?} {:?}",
                tx.has_purchases("c1")?,
                tx.has_purchases("c2")?,
                tx.purchase_totals("c1", None, now)?,
                tx.purchase_totals("c1", Some(day(1)), day(3))?,
                tx.purchase_totals("c2", None, now)?
            ),
        );
        let mut burn = tx.customers_to_burn(now, 10)?;
        burn.sort();
        log("to burn", format!("{burn:?}"));
        let mut burn = tx.customers_to_burn(now, -1)?;
        burn.sort();
        log(
            "to burn unlimited",
            format!("{burn:?} {:?}", tx.customers_to_burn(now, 0)?),
        );
        log("history zero", format!("{:?}", tx.history("c1", 0)?));
        let mut changed = tx.customers_changed_by_time(day(11), day(13))?;
        changed.sort();
        log("changed", format!("{changed:?}"));
        let mut none = tx.customers_changed_by_time(day(16), day(16))?;
        none.sort();
        log("changed none", format!("{none:?}"));
        log(
            "birthdays",
            format!(
                "{:?} {:?} {:?}",
                tx.birthday_customers(3, 15, 2025, &["s1".into()], false)?,
                tx.birthday_customers(3, 15, 2025, &[], true)?,
                tx.birthday_customers(3, 15, 2025, &["s9".into()], false)?
            ),
        );
        log(
            "claim birthday",
            format!(
                "{} {}",
                tx.claim_birthday("c1", 2025)?,
                tx.claim_birthday("c1", 2025)?
            ),
        );
        log(
            "birthdays after",
            format!(
                "{:?} {:?} {:?}",
                tx.birthday_customers(3, 15, 2025, &["s1".into()], true)?,
                tx.birthday_customers(3, 15, 2026, &["s1".into()], true)?,
                tx.birthday_customers(13, 40, 2025, &["s1".into()], true)?
            ),
        );
        Ok(())
    })
    .unwrap();

    // Operations, sales, the feed.
    st::write(store, |tx| {
        let op = |id: &'static str, seq: i64, rejected: bool| NewOperation {
            id,
            terminal_id: "term2",
            seq,
            kind: "purchase",
            received_at: t0(),
            rejected,
            answer: "{\"ok\":true}",
        };
        log(
            "record",
            format!(
                "{} {} {} {}",
                tx.record_operation(&op("op1", 5, false))?,
                tx.record_operation(&op("op1", 6, false))?,
                tx.record_operation(&op("op2", 3, true))?,
                tx.record_operation(&op("op3", 7, false))?
            ),
        );
        log(
            "answers",
            format!(
                "{:?} {:?}",
                tx.operation_answer("op1")?,
                tx.operation_answer("no")?
            ),
        );
        log(
            "sequences",
            format!(
                "{} {} {}",
                tx.sequence_used("term2", 5)?,
                tx.sequence_used("term2", 6)?,
                tx.sequence_used("term1", 5)?
            ),
        );
        log(
            "count operations",
            format!(
                "{} {}",
                tx.count_operations(&["op1", "op2", "op1", "none"])?,
                tx.count_operations(&[])?
            ),
        );
        let sale = |receipt: &'static str, op: &'static str| NewSale {
            fiscal: None,
            terminal_id: "term2",
            receipt_id: receipt,
            operation_id: op,
            customer_id: "c1",
            at: day(1),
            sale: "{\"lines\":[]}",
        };
        log(
            "sales",
            format!(
                "{} {} {}",
                tx.insert_sale(&sale("r1", "op1"))?,
                tx.insert_sale(&sale("r1", "op3"))?,
                tx.insert_sale(&sale("r2", "op1"))?
            ),
        );
        tx.set_sale_returned("term2", "r1", "{\"1\":1}")?;
        log(
            "sale",
            format!(
                "{:?} {:?}",
                tx.sale("term2", "r1")?,
                tx.sale("term1", "r1")?
            ),
        );
        tx.bump_feed(&["c2", "c1", "c2"])?;
        tx.bump_feed(&[])?;
        Ok(())
    })
    .unwrap();
    st::write(store, |tx| tx.bump_feed(&["c3", "c1"])).unwrap();
    st::read(store, |r| {
        let feed = |(rows, left): (Vec<FeedRow>, i64)| {
            format!(
                "{:?} left {left}",
                rows.iter()
                    .map(|f| (fmt_customer(&f.customer), f.balance, f.seq))
                    .collect::<Vec<_>>()
            )
        };
        log("feed", feed(r.feed(0, 10, now)?));
        log("feed page", feed(r.feed(1, 1, now)?));
        log("feed end", feed(r.feed(4, 10, now)?));
        log("feed unlimited", feed(r.feed(2, -1, now)?));
        log("feed none", feed(r.feed(0, 0, now)?));
        Ok(())
    })
    .unwrap();

    // SMS codes and verifications.
    st::write(store, |tx| {
        let since = t0();
        log(
            "usage before",
            format!("{:?}", tx.sms_usage("+79990000001", since, "term2", since)?),
        );
        let code = |phone: &'static str,
                    purpose: &'static str,
                    minute: i64,
                    terminal: &'static str| NewSmsCode {
            phone,
            purpose,
            salt: b"salt",
            code_hash: b"hash",
            created_at: t0() + Duration::minutes(minute),
            expires_at: t0() + Duration::minutes(minute + 5),
            tries: 3,
            terminal_id: terminal,
        };
        let ids = [
            tx.insert_sms_code(&code("+79990000001", "register", 1, "term2"))?,
            tx.insert_sms_code(&code("+79990000001", "register", 2, "term2"))?,
            tx.insert_sms_code(&code("+79990000001", "login", 3, "term1"))?,
            tx.insert_sms_code(&code("+79990000002", "register", 4, "term2"))?,
        ];
        log("sms ids", format!("{ids:?}"));
        log(
            "usage",
            format!(
                "{:?}",
                tx.sms_usage("+79990000001", t0() + Duration::minutes(1), "term2", t0())?
            ),
        );
        let fmt_code = |c: Option<SmsCodeRow>| {
            format!(
                "{:?}",
                c.map(|c| (
                    c.id,
                    c.salt,
                    c.code_hash,
                    c.expires_at,
                    c.tries_left,
                    c.verified
                ))
            )
        };
        log(
            "latest",
            fmt_code(tx.latest_sms_code("+79990000001", "register")?),
        );
        tx.set_sms_tries(ids[1], 1)?;
        tx.mark_sms_verified(ids[1], t0() + Duration::minutes(3))?;
        log(
            "latest changed",
            fmt_code(tx.latest_sms_code("+79990000001", "register")?),
        );
        tx.delete_sms_code(ids[1])?;
        log(
            "latest after delete",
            fmt_code(tx.latest_sms_code("+79990000001", "register")?),
        );
        log(
            "latest none",
            fmt_code(tx.latest_sms_code("+79990009999", "register")?),
        );
        tx.insert_verification(b"v1", "+79990000001", "register", day(1))?;
        tx.insert_verification(b"v2", "+79990000001", "register", t0())?;
        log(
            "consume",
            format!(
                "{} {} {} {}",
                tx.consume_verification(b"v1", "+79990000002", "register", t0())?,
                tx.consume_verification(b"v1", "+79990000001", "register", t0())?,
                tx.consume_verification(b"v1", "+79990000001", "register", t0())?,
                tx.consume_verification(b"v2", "+79990000001", "register", t0())?
            ),
        );
        log(
            "prune",
            format!(
                "{}",
                tx.prune_sms(t0() + Duration::minutes(3), t0() + Duration::minutes(1))?
            ),
        );
        log(
            "latest after prune",
            fmt_code(tx.latest_sms_code("+79990000001", "register")?),
        );
        Ok(())
    })
    .unwrap();

    // Savepoints.
    st::write(store, |tx| {
        tx.savepoint()?;
        tx.insert_purchase("c2", day(1), 700)?;
        tx.rollback_savepoint()?;
        tx.savepoint()?;
        tx.insert_purchase("c3", day(1), 800)?;
        tx.release_savepoint()?;
        log(
            "savepoints",
            format!("{} {}", tx.has_purchases("c2")?, tx.has_purchases("c3")?),
        );
        Ok(())
    })
    .unwrap();
    // A transaction dropped without commit leaves nothing.
    {
        let mut tx = store.begin().unwrap();
        tx.insert_purchase("c2", day(1), 900).unwrap();
    }
    st::read(store, |r| {
        log("dropped", format!("{}", r.has_purchases("c2")?));
        log("census", format!("{:?}", r.census()?));
        Ok(())
    })
    .unwrap();
    backoffice_scenario(store, &mut log);
    out
}

/// The back office's calls on customers: search, the record, the questionnaire, cards
/// blocked and given, erasure and a merge (balances, history and the running total).
fn customers_scenario(
    tx: &mut dyn Tx,
    log: &mut dyn FnMut(&str, String),
) -> Result<(), StoreError> {
    let fmt = |cs: Vec<Customer>| format!("{:?}", cs.iter().map(|c| &c.id).collect::<Vec<_>>());
    tx.set_questionnaire(
        "c2",
        &QuestionnaireRow {
            last_name: Some("Петрова".into()),
            first_name: Some("Ирина".into()),
            middle_name: Some("Олеговна".into()),
            gender: Some("female"),
            birth_date: NaiveDate::from_ymd_opt(1985, 2, 3),
            email: Some("irina@example.ru".into()),
        },
    )?;
    let spellings: Vec<String> = vec!["Ирина".into(), "ирина".into()];
    log(
        "search",
        format!(
            "{} {} {} {}",
            fmt(tx.search_customers(CustomerSearch::Phone("+79990000002"), 10)?),
            fmt(tx.search_customers(CustomerSearch::Card("2000000000001"), 10)?),
            fmt(tx.search_customers(CustomerSearch::Name(&spellings), 10)?),
            fmt(tx.search_customers(CustomerSearch::Name(&["Олег".into()]), 0)?)
        ),
    );
    log(
        "profile",
        format!(
            "{:?}",
            tx.customer_profile("c2")?.map(|p| (
                p.customer.last_name,
                p.middle_name,
                p.gender,
                p.email,
                p.customer.birth_date,
                p.store_id,
                p.erased_at,
                p.merged_into
            ))
        ),
    );
    tx.block_card("c1", "2000000000001", day(3), "lost")?;
    log(
        "blocked",
        format!(
            "{:?} {} {} {:?}",
            tx.blocked_cards("c1")?,
            tx.card_blocked("2000000000001")?,
            tx.card_blocked("2000000000009")?,
            tx.customer(CustomerKey::Id("c1"))?.map(|c| c.card_number)
        ),
    );
    log(
        "card given",
        format!(
            "{} {}",
            tx.set_card_number("c1", "2000000000003")?,
            tx.set_card_number("c1", "2000000000011")?
        ),
    );
    let before = (tx.balance("c1", day(10))?, tx.balance("c3", day(10))?);
    tx.merge_customers("c3", "c1")?;
    log(
        "merged",
        format!(
            "{before:?} {:?} {:?} {:?} {}",
            tx.balance("c1", day(10))?,
            tx.balance("c3", day(10))?,
            tx.customer_profile("c3")?
                .map(|p| (p.merged_into, p.customer.gone, p.customer.phone)),
            tx.history("c1", 100)?.len()
        ),
    );
    tx.erase_customer("c2", day(4))?;
    log(
        "erased",
        format!(
            "{:?} {}",
            tx.customer_profile("c2")?.map(|p| (
                p.customer.phone,
                p.customer.first_name,
                p.email,
                p.erased_at,
                p.customer.gone
            )),
            fmt(tx.search_customers(CustomerSearch::Phone("+79990000002"), 10)?)
        ),
    );
    log("census after", format!("{:?}", tx.census()?));
    Ok(())
}

/// The back office's calls: accounts, sessions, the audit log, stores, staff, terminals'
/// reports, rules versions and activations.
fn backoffice_scenario(store: &dyn Store, log: &mut dyn FnMut(&str, String)) {
    st::write(store, |tx| {
        let account = |email, role, must_change| NewAccount {
            email,
            role,
            password: "$argon2id$hash",
            must_change,
            at: t0(),
        };
        let owner = tx.insert_account(&account("owner@x.ru", AccountRole::Owner, true))?;
        let manager = tx.insert_account(&account("m@x.ru", AccountRole::Manager, false))?;
        let taken = tx.insert_account(&account("owner@x.ru", AccountRole::Manager, false))?;
        log(
            "accounts",
            format!("{} {} {taken:?}", owner.is_some(), manager.is_some()),
        );
        let (owner, manager) = (owner.unwrap(), manager.unwrap());
        tx.set_account_stores(manager, &["s1".into()])?;
        tx.set_account_stores(manager, &["s1".into()])?;
        tx.set_account_password(owner, "$argon2id$other", false)?;
        tx.set_account_lock(
            owner,
            AccountLock {
                failed_tries: 2,
                locks: 1,
                locked_until: Some(day(2)),
            },
        )?;
        let fmt = |a: Option<AccountRow>| {
            format!(
                "{:?}",
                a.map(|a| (
                    a.email,
                    a.role,
                    a.password,
                    a.must_change,
                    a.failed_tries,
                    a.locks,
                    a.locked_until,
                    a.active,
                    a.stores
                ))
            )
        };
        log("owner", fmt(tx.account(owner)?));
        log("manager by email", fmt(tx.account_by_email("m@x.ru")?));
        log("nobody", fmt(tx.account_by_email("x@x.ru")?));
        log(
            "all accounts",
            format!(
                "{:?}",
                tx.accounts()?.iter().map(|a| &a.email).collect::<Vec<_>>()
            ),
        );
        tx.insert_session(b"s-owner", owner, t0(), day(1))?;
        tx.insert_session(b"s-old", owner, t0(), t0())?;
        tx.insert_session(b"s-manager", manager, t0(), day(1))?;
        log(
            "sessions",
            format!(
                "{} {} {} {}",
                fmt(tx.session_account(b"s-owner", t0())?),
                fmt(tx.session_account(b"s-old", t0())?),
                fmt(tx.session_account(b"s-owner", day(1))?),
                fmt(tx.session_account(b"nope", t0())?)
            ),
        );
        log("pruned", format!("{}", tx.prune_sessions(t0())?));
        tx.delete_session(b"s-owner")?;
        tx.set_account_active(manager, false)?;
        log(
            "after end",
            format!(
                "{} {}",
                fmt(tx.session_account(b"s-owner", t0())?),
                fmt(tx.session_account(b"s-manager", t0())?)
            ),
        );
        tx.delete_sessions_of(manager)?;
        for (i, store_id) in [Some("s1"), None, Some("s2")].into_iter().enumerate() {
            tx.insert_admin_audit(&NewAdminAudit {
                at: t0() + Duration::minutes(i as i64),
                account_id: Some(owner).filter(|_| i != 1),
                actor: "owner@x.ru",
                action: "store.update",
                target: "store s1",
                store_id,
                before: Some("{\"name\":\"a\"}"),
                after: None,
            })?;
        }
        log("audit all", format!("{:?}", tx.admin_audit(None, 10)?));
        log(
            "audit s1",
            format!("{:?}", tx.admin_audit(Some(&["s1".into()]), 10)?),
        );
        log("audit limit", format!("{:?}", tx.admin_audit(None, 1)?));
        let mut s1 = tx.store("s1")?.unwrap();
        s1.name = "Магазин 1 на Ленина".into();
        s1.time_zone = "Asia/Yekaterinburg".into();
        s1.utc_offset_minutes = 300;
        log(
            "update store",
            format!("{} {}", tx.update_store(&s1)?, {
                let mut none = s1.clone();
                none.id = "none".into();
                tx.update_store(&none)?
            }),
        );
        log("stores", format!("{:?}", tx.stores()?));
        let first = tx.staff(Some("s1"))?[0].id;
        tx.set_staff_name_role(first, "Анна К.", Role::Manager)?;
        tx.set_staff_code(first, b"salt9", b"hash9")?;
        tx.set_staff_active(first, false)?;
        log("staff", format!("{:?}", tx.staff(None)?));
        log("staff s1", format!("{:?}", tx.staff(Some("s1"))?));
        log("staff member", format!("{:?}", tx.staff_member(first)?));
        log("active cashiers", format!("{:?}", tx.cashiers("s1")?));
        log(
            "report",
            format!(
                "{} {}",
                tx.report_terminal(
                    "term1",
                    &TerminalReport {
                        app_version: "0.2.0",
                        queue_length: 3,
                        oldest_queued_at: Some(t0()),
                        at: day(1),
                    }
                )?,
                tx.report_terminal(
                    "none",
                    &TerminalReport {
                        app_version: "0.2.0",
                        queue_length: 0,
                        oldest_queued_at: None,
                        at: day(1),
                    }
                )?
            ),
        );
        log("terminals", format!("{:?}", tx.terminals(None)?));
        log("terminals s9", format!("{:?}", tx.terminals(Some("s9"))?));
        tx.insert_rules_version(&NewRulesVersion {
            version: 3,
            text: "rules three",
            at: day(2),
            uploaded_by: "owner@x.ru",
            comment: "осень",
        })?;
        log(
            "rules before activation",
            format!("{:?}", tx.newest_rules()?),
        );
        tx.activate_rules(2, day(3), "owner@x.ru")?;
        log("rules activated", format!("{:?}", tx.newest_rules()?));
        tx.activate_rules(3, day(4), "owner@x.ru")?;
        tx.activate_rules(2, day(5), "")?;
        log("rules rolled back", format!("{:?}", tx.newest_rules()?));
        customers_scenario(tx, log)?;
        log("versions", format!("{:?}", tx.rules_versions()?));
        log(
            "rules text",
            format!("{:?} {:?}", tx.rules_text(3)?, tx.rules_text(9)?),
        );
        Ok(())
    })
    .unwrap();
}

#[test]
fn every_call_answers_as_the_sqlite_engine_does() {
    let Some(db) = TestDb::create("every_call_answers_as_the_sqlite_engine_does") else {
        return;
    };
    let sqlite = SqliteStore::open_in_memory().unwrap();
    let expected = scenario(&sqlite);
    let pg = db.open();
    let got = scenario(&pg);
    for (i, (e, g)) in expected.iter().zip(&got).enumerate() {
        assert_eq!(e, g, "line {i} differs");
    }
    assert_eq!(expected.len(), got.len());
    // The running balances add up, and the seqs of c1's batches, lines, purchases and
    // consents are 1..n without gaps or doubles.
    assert_eq!(
        db.i64(
            "SELECT COUNT(*) FROM customers c WHERE c.bonus_total <>
               (SELECT COALESCE(SUM(remaining), 0) FROM bonus_batches WHERE customer_id = c.id)"
        ),
        0
    );
    assert_eq!(
        db.i64(
            "SELECT COUNT(*) FROM (SELECT seq FROM bonus_batches WHERE customer_id = 'c1'
              UNION ALL SELECT seq FROM ledger_entries WHERE customer_id = 'c1'
              UNION ALL SELECT seq FROM purchases WHERE customer_id = 'c1'
              UNION ALL SELECT seq FROM consents WHERE customer_id = 'c1') s"
        ),
        db.i64("SELECT ledger_seq FROM customers WHERE id = 'c1'")
    );
}

#[test]
fn a_spend_reads_only_the_pages_it_needs_and_all_when_short() {
    let Some(db) = TestDb::create("a_spend_reads_only_the_pages_it_needs_and_all_when_short")
    else {
        return;
    };
    let store = db.open();
    st::write(&store, |tx| {
        assert!(tx.insert_customer(&new_customer("c", "+79990000100", None))?);
        // 100 burning batches (all at the same time: ties by grant order) and 50 lasting.
        for _ in 0..100 {
            tx.insert_batch(&batch("c", 10, t0(), Some(day(30))))?;
        }
        for _ in 0..50 {
            tx.insert_batch(&batch("c", 10, t0(), None))?;
        }
        Ok(())
    })
    .unwrap();
    st::write(&store, |tx| {
        let all = tx.batches("c")?;
        let some = tx.spendable("c", day(1), 305)?;
        assert_eq!(some.len(), 31);
        assert_eq!(some[..], all[..31]);
        let over = tx.spendable("c", day(1), 1_005)?;
        assert_eq!(over.len(), 101);
        assert_eq!(over[100].burns_at, None);
        let every = tx.spendable("c", day(1), 1_000_000)?;
        assert_eq!(every, all);
        Ok(())
    })
    .unwrap();
}

#[test]
fn an_operation_is_recorded_once_across_concurrent_transactions() {
    let Some(db) = TestDb::create("an_operation_is_recorded_once_across_concurrent_transactions")
    else {
        return;
    };
    let store = Arc::new(db.open());
    let op = NewOperation {
        id: "op-1",
        terminal_id: "t",
        seq: 1,
        kind: "purchase",
        received_at: t0(),
        rejected: false,
        answer: "{}",
    };
    // The first transaction records the id and holds it uncommitted while the second
    // tries: the second must wait and then find it taken.
    let (tx_ready, rx_ready) = std::sync::mpsc::channel();
    let first = {
        let store = store.clone();
        let op = op.clone();
        let op = NewOperation {
            id: "op-1",
            answer: "{\"first\":true}",
            ..op
        };
        std::thread::spawn(move || {
            let mut tx = store.begin().unwrap();
            assert!(tx.record_operation(&op).unwrap());
            tx_ready.send(()).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(300));
            tx.commit().unwrap();
        })
    };
    rx_ready.recv().unwrap();
    let second = st::write(&*store, |tx| tx.record_operation(&op)).unwrap();
    first.join().unwrap();
    assert!(!second);
    let mut r = store.begin_read().unwrap();
    assert_eq!(
        r.operation_answer("op-1").unwrap().as_deref(),
        Some("{\"first\":true}")
    );
    assert_eq!(r.count_operations(&["op-1"]).unwrap(), 1);
}

#[test]
fn claims_succeed_for_exactly_one_of_many_threads() {
    let Some(db) = TestDb::create("claims_succeed_for_exactly_one_of_many_threads") else {
        return;
    };
    let store = Arc::new(db.open());
    st::write(&*store, |tx| {
        tx.insert_store(
            &StoreRow {
                id: "s".into(),
                name: "s".into(),
                utc_offset_minutes: 0,
                address: String::new(),
                time_zone: "UTC".into(),
            },
            b"k",
            t0(),
        )?;
        tx.insert_enrollment_code(b"code", "s", t0(), day(1))?;
        tx.insert_customer(&new_customer("c", "+79990000200", None))?;
        tx.insert_verification(b"token", "+79990000200", "register", day(1))?;
        Ok(())
    })
    .unwrap();
    let n = 6;
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let store = store.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                st::write(&*store, |tx| {
                    Ok((
                        tx.claim_enrollment_code(b"code", &format!("t{i}"), t0())?
                            .is_some(),
                        tx.claim_birthday("c", 2025)?,
                        tx.consume_verification(b"token", "+79990000200", "register", t0())?,
                        tx.insert_customer(&new_customer(&format!("n{i}"), "+79990000201", None))?,
                    ))
                })
                .unwrap()
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(results.iter().filter(|r| r.0).count(), 1, "{results:?}");
    assert_eq!(results.iter().filter(|r| r.1).count(), 1, "{results:?}");
    assert_eq!(results.iter().filter(|r| r.2).count(), 1, "{results:?}");
    assert_eq!(results.iter().filter(|r| r.3).count(), 1, "{results:?}");
}

#[test]
fn feed_positions_follow_commit_order() {
    let Some(db) = TestDb::create("feed_positions_follow_commit_order") else {
        return;
    };
    let store = Arc::new(db.open());
    st::write(&*store, |tx| {
        for i in 0..4 {
            tx.insert_customer(&new_customer(
                &format!("c{i}"),
                &format!("+7999000030{i}"),
                None,
            ))?;
        }
        Ok(())
    })
    .unwrap();
    // The first bumps and waits before committing; the second bumps meanwhile. The second
    // must not get a position below the first's and be seen before it commits.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let first = {
        let store = store.clone();
        std::thread::spawn(move || {
            let mut tx = store.begin().unwrap();
            tx.bump_feed(&["c0", "c1"]).unwrap();
            ready_tx.send(()).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(300));
            tx.commit().unwrap();
            std::time::Instant::now()
        })
    };
    ready_rx.recv().unwrap();
    st::write(&*store, |tx| tx.bump_feed(&["c3", "c2"])).unwrap();
    let second_done = std::time::Instant::now();
    let first_done = first.join().unwrap();
    assert!(
        first_done <= second_done,
        "the second bump did not wait for the first commit"
    );
    let mut r = store.begin_read().unwrap();
    let (rows, left) = r.feed(0, 10, t0()).unwrap();
    assert_eq!(left, 4);
    let order: Vec<_> = rows
        .iter()
        .map(|f| (f.customer.id.as_str(), f.seq))
        .collect();
    assert_eq!(order, [("c0", 1), ("c1", 2), ("c2", 3), ("c3", 4)]);
}

#[test]
fn a_serialization_failure_is_a_conflict_and_write_runs_it_again() {
    let Some(db) = TestDb::create("a_serialization_failure_is_a_conflict_and_write_runs_it_again")
    else {
        return;
    };
    // This database's transactions are serializable whatever the cluster's default is.
    raw_exec(
        &db.admin,
        &format!(
            "ALTER DATABASE {} SET default_transaction_isolation = 'serializable'",
            db.name
        ),
    );
    let store = db.open();
    st::write(&store, |tx| {
        tx.insert_customer(&new_customer("a", "+79990000401", None))?;
        tx.insert_customer(&new_customer("b", "+79990000402", None))?;
        Ok(())
    })
    .unwrap();

    // Write skew by hand: each reads one row and writes the other.
    let mut t1 = store.begin().unwrap();
    let mut t2 = store.begin().unwrap();
    t1.customer(CustomerKey::Id("a")).unwrap();
    t2.customer(CustomerKey::Id("b")).unwrap();
    t1.set_card_status("b", "one").unwrap();
    let w2 = t2.set_card_status("a", "two");
    let r1 = t1.commit();
    let r2 = w2.and_then(|()| t2.commit());
    let failed: Vec<_> = [r1, r2].into_iter().filter_map(Result::err).collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        matches!(&failed[0], StoreError::Conflict(m) if m.contains("40001")),
        "{failed:?}"
    );
    assert!(failed[0].is_retryable());

    // The same through `write`: the first run collides with a transaction that commits in
    // between, the second run goes through.
    let runs = AtomicU32::new(0);
    let result = st::write(&store, |tx| {
        let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
        tx.customer(CustomerKey::Id("b"))?;
        if run == 1 {
            let mut other = store.begin()?;
            other.customer(CustomerKey::Id("a"))?;
            other.set_card_status("b", "other")?;
            other.commit()?;
        }
        tx.set_card_status("a", "mine")?;
        Ok(run)
    });
    assert_eq!(result, Ok(2));
    let mut r = store.begin_read().unwrap();
    let status = |r: &mut Box<dyn ReadTx + '_>, id| {
        r.customer(CustomerKey::Id(id))
            .unwrap()
            .unwrap()
            .card_status
    };
    assert_eq!(status(&mut r, "a"), "mine");
    assert_eq!(status(&mut r, "b"), "other");
}

#[test]
fn a_deadlock_is_a_conflict_and_write_runs_it_again() {
    let Some(db) = TestDb::create("a_deadlock_is_a_conflict_and_write_runs_it_again") else {
        return;
    };
    let store = Arc::new(db.open());
    st::write(&*store, |tx| {
        tx.insert_customer(&new_customer("a", "+79990000501", None))?;
        tx.insert_customer(&new_customer("b", "+79990000502", None))?;
        Ok(())
    })
    .unwrap();
    // Two transactions lock a and b in opposite orders (one call each, so the sorted
    // order inside a call does not save them): PostgreSQL detects the deadlock.
    let barrier = Arc::new(Barrier::new(2));
    let errors: Arc<Mutex<Vec<StoreError>>> = Arc::default();
    let runs = Arc::new(AtomicU32::new(0));
    let handles: Vec<_> = [("a", "b"), ("b", "a")]
        .into_iter()
        .map(|(first, second)| {
            let (store, barrier, errors, runs) =
                (store.clone(), barrier.clone(), errors.clone(), runs.clone());
            std::thread::spawn(move || {
                let mut run = 0;
                st::write(&*store, |tx| {
                    run += 1;
                    runs.fetch_add(1, Ordering::SeqCst);
                    tx.lock_customers(&[first])?;
                    if run == 1 {
                        barrier.wait();
                    }
                    if let Err(e) = tx.lock_customers(&[second]) {
                        errors.lock().unwrap().push(e.clone());
                        return Err(e);
                    }
                    tx.set_card_status(first, &format!("by {first}"))
                })
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), Ok(()));
    }
    let errors = errors.lock().unwrap();
    assert!(!errors.is_empty());
    assert!(
        errors
            .iter()
            .any(|e| matches!(e, StoreError::Conflict(m) if m.contains("40P01"))),
        "{errors:?}"
    );
    assert!(errors.iter().all(StoreError::is_retryable), "{errors:?}");
    assert!(runs.load(Ordering::SeqCst) >= 3);
}

#[test]
fn errors_never_carry_a_detail_or_a_value() {
    let Some(db) = TestDb::create("errors_never_carry_a_detail_or_a_value") else {
        return;
    };
    let store = db.open();
    let phone = "+79995551234";
    st::write(&store, |tx| {
        tx.insert_customer(&new_customer("a", phone, None))
            .map(drop)
    })
    .unwrap();

    // A unique violation on the phone, straight through a pooled connection: the server's
    // DETAIL names the phone; the store error must not.
    let client = store.connection().unwrap();
    let raw = store
        .run(client.execute(
            "INSERT INTO customers (id, phone, card_status, phone_verified, registered_at, change_seq)
             VALUES ('b', $1, 'active', false, now(), 0)",
            &[&phone],
        ))
        .unwrap_err();
    assert!(
        raw.as_db_error()
            .and_then(|d| d.detail())
            .is_some_and(|d| d.contains(phone)),
        "the server's detail was expected to name the phone: {raw:?}"
    );
    drop(client);
    let mapped = statement_error(&raw);
    assert!(
        matches!(&mapped, StoreError::Other(m) if m.contains("23505")),
        "{mapped:?}"
    );
    assert!(!mapped.to_string().contains(phone) && !format!("{mapped:?}").contains(phone));

    // Through the interface: a check violation's DETAIL holds the whole row, phone
    // included; a foreign key's holds the key.
    let mut bad = new_customer("c", "+79995550000", None);
    bad.gender = Some("unknown");
    let mut tx = store.begin().unwrap();
    let e = tx.insert_customer(&bad).unwrap_err();
    assert!(
        matches!(&e, StoreError::Other(m) if m.contains("23514")),
        "{e:?}"
    );
    assert!(!format!("{e} {e:?}").contains("+79995550000"), "{e:?}");
    // The failed statement spoils the transaction: commit says so rather than rolling
    // back in silence.
    assert_eq!(tx.commit(), Err(e));

    let mut orphan = new_customer("d", "+79995550001", None);
    orphan.referrer_id = Some("ghost-referrer".into());
    let e = st::write(&store, |tx| tx.insert_customer(&orphan)).unwrap_err();
    assert!(
        matches!(&e, StoreError::Other(m) if m.contains("23503")),
        "{e:?}"
    );
    assert!(!format!("{e} {e:?}").contains("ghost-referrer"), "{e:?}");

    // A savepoint rolled back undoes the failure, and the transaction commits.
    st::write(&store, |tx| {
        tx.savepoint()?;
        assert!(tx.insert_customer(&bad).is_err());
        tx.rollback_savepoint()?;
        tx.insert_customer(&new_customer("e", "+79995550002", None))
    })
    .unwrap();
    let mut r = store.begin_read().unwrap();
    assert!(r.customer(CustomerKey::Id("e")).unwrap().is_some());
}

#[test]
fn a_lost_connection_is_unavailable_and_the_pool_recovers() {
    let Some(db) = TestDb::create("a_lost_connection_is_unavailable_and_the_pool_recovers") else {
        return;
    };
    let store = db.open();
    let mut tx = store.begin().unwrap();
    tx.census().unwrap();
    raw_exec(
        &db.admin,
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = '{}' AND application_name = 'bonuskassa-server'",
            db.name
        ),
    );
    let e = tx.census().unwrap_err();
    assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
    drop(tx);
    // The dead connection was not given back: the next transactions get fresh ones.
    std::thread::sleep(std::time::Duration::from_millis(200));
    for _ in 0..3 {
        st::write(&store, |tx| tx.census().map(drop)).unwrap();
    }
}

#[tokio::test]
async fn the_store_works_inside_a_current_thread_runtime() {
    let Some(db) = TestDb::create("the_store_works_inside_a_current_thread_runtime") else {
        return;
    };
    let store = db.open();
    st::write(&store, |tx| {
        tx.insert_customer(&new_customer("a", "+79990000601", None))
    })
    .unwrap();
    let mut r = store.begin_read().unwrap();
    assert!(
        r.customer(CustomerKey::Phone("+79990000601"))
            .unwrap()
            .is_some()
    );
    drop(r);
    drop(store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_works_from_spawn_blocking_and_inside_a_multi_thread_runtime() {
    let Some(db) =
        TestDb::create("the_store_works_from_spawn_blocking_and_inside_a_multi_thread_runtime")
    else {
        return;
    };
    let store = Arc::new(db.open());
    let s = store.clone();
    let inserted = tokio::task::spawn_blocking(move || {
        st::write(&*s, |tx| {
            tx.insert_customer(&new_customer("a", "+79990000701", None))
        })
    })
    .await
    .unwrap()
    .unwrap();
    assert!(inserted);
    let mut r = store.begin_read().unwrap();
    assert_eq!(r.census().unwrap().customers, 1);
}
