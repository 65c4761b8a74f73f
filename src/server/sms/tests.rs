use super::gateway::{fill_template, percent_encode, provider_verdict, redact};
use super::*;
use crate::server::store::sqlite::SqliteStore;
use rand::SeedableRng;
use rand::rngs::StdRng;

const TERMINAL: &str = "term-1";

fn db() -> SqliteStore {
    SqliteStore::open_in_memory().unwrap()
}

fn phone(n: u8) -> Phone {
    Phone::parse(&format!("+7 999 000-00-{n:02}")).unwrap()
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T11:05:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// A different, reproducible generator per call, so tokens and codes do not repeat.
fn rng() -> StdRng {
    static SEED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(7);
    StdRng::seed_from_u64(SEED.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

fn issue(conn: &mut SqliteStore, p: &Phone, purpose: Purpose, at: DateTime<Utc>) -> IssuedCode {
    try_issue(
        conn,
        &SmsPolicy::default(),
        p,
        purpose,
        TERMINAL,
        at,
        &mut rng(),
    )
    .unwrap()
}

fn try_issue(
    conn: &mut SqliteStore,
    policy: &SmsPolicy,
    p: &Phone,
    purpose: Purpose,
    terminal: &str,
    at: DateTime<Utc>,
    rng: &mut StdRng,
) -> Result<IssuedCode, SmsLimit> {
    store::write(conn, |tx| {
        issue_code(tx, policy, p, purpose, terminal, at, rng)
    })
    .unwrap()
    .map(|i| i.code)
}

fn verify(
    conn: &mut SqliteStore,
    p: &Phone,
    purpose: Purpose,
    code: &str,
    at: DateTime<Utc>,
) -> Result<String, VerifyError> {
    super::verify(conn, &SmsPolicy::default(), p, purpose, code, at).unwrap()
}

fn consume(
    conn: &mut SqliteStore,
    token: &str,
    p: &Phone,
    purpose: Purpose,
    at: DateTime<Utc>,
) -> bool {
    store::write(conn, |tx| consume_verification(tx, token, p, purpose, at)).unwrap()
}

fn wrong(code: &str) -> String {
    let n: u32 = code.parse().unwrap();
    format!("{:06}", (n + 1) % 1_000_000)
}

fn secs(s: i64) -> Duration {
    Duration::seconds(s)
}

#[test]
fn the_right_code_verifies_once() {
    let mut conn = db();
    let p = phone(1);
    let issued = issue(&mut conn, &p, Purpose::Registration, t0());
    assert_eq!(issued.expires_in_s, 300);
    assert_eq!(issued.resend_after_s, 60);
    assert_eq!(issued.tries, 5);
    let token = verify(
        &mut conn,
        &p,
        Purpose::Registration,
        &issued.code,
        t0() + secs(10),
    )
    .unwrap();
    assert_eq!(token.len(), 64);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(
        verify(
            &mut conn,
            &p,
            Purpose::Registration,
            &issued.code,
            t0() + secs(11)
        ),
        Err(VerifyError::NoCode)
    );
}

#[test]
fn no_code_and_other_purpose() {
    let mut conn = db();
    let p = phone(2);
    assert_eq!(
        verify(&mut conn, &p, Purpose::Spend, "123456", t0()),
        Err(VerifyError::NoCode)
    );
    let issued = issue(&mut conn, &p, Purpose::Registration, t0());
    assert_eq!(
        verify(&mut conn, &p, Purpose::Spend, &issued.code, t0()),
        Err(VerifyError::NoCode)
    );
    assert_eq!(
        verify(
            &mut conn,
            &phone(3),
            Purpose::Registration,
            &issued.code,
            t0()
        ),
        Err(VerifyError::NoCode)
    );
}

#[test]
fn a_wrong_code_costs_a_try() {
    let mut conn = db();
    let p = phone(1);
    let issued = issue(&mut conn, &p, Purpose::Registration, t0());
    let bad = wrong(&issued.code);
    assert_eq!(
        verify(&mut conn, &p, Purpose::Registration, &bad, t0()),
        Err(VerifyError::Wrong { tries_left: 4 })
    );
    assert_eq!(
        verify(&mut conn, &p, Purpose::Registration, "not a code", t0()),
        Err(VerifyError::Wrong { tries_left: 3 })
    );
    assert!(verify(&mut conn, &p, Purpose::Registration, &issued.code, t0()).is_ok());
}

#[test]
fn five_wrong_tries_kill_the_code_even_for_the_right_one() {
    let mut conn = db();
    let p = phone(1);
    let issued = issue(&mut conn, &p, Purpose::Spend, t0());
    let bad = wrong(&issued.code);
    for left in (0..5).rev() {
        assert_eq!(
            verify(&mut conn, &p, Purpose::Spend, &bad, t0()),
            Err(VerifyError::Wrong { tries_left: left })
        );
    }
    assert_eq!(
        verify(&mut conn, &p, Purpose::Spend, &issued.code, t0()),
        Err(VerifyError::TooManyTries)
    );
    assert_eq!(
        verify(&mut conn, &p, Purpose::Spend, &bad, t0()),
        Err(VerifyError::TooManyTries)
    );
}

#[test]
fn a_code_expires_after_five_minutes() {
    let mut conn = db();
    let p = phone(1);
    let issued = issue(&mut conn, &p, Purpose::Registration, t0());
    assert_eq!(
        verify(
            &mut conn,
            &p,
            Purpose::Registration,
            &issued.code,
            t0() + Duration::minutes(5)
        ),
        Err(VerifyError::Expired)
    );
    let mut conn = db();
    let issued = issue(&mut conn, &p, Purpose::Registration, t0());
    let just_before = t0() + Duration::minutes(5) - Duration::microseconds(1);
    assert!(
        verify(
            &mut conn,
            &p,
            Purpose::Registration,
            &issued.code,
            just_before
        )
        .is_ok()
    );
}

#[test]
fn cooldown_is_sixty_seconds_per_phone() {
    let mut conn = db();
    let policy = SmsPolicy::default();
    let p = phone(1);
    issue(&mut conn, &p, Purpose::Registration, t0());
    let mut r = rng();
    // Any purpose, any terminal: the phone is what is protected.
    assert_eq!(
        try_issue(
            &mut conn,
            &policy,
            &p,
            Purpose::Spend,
            "term-2",
            t0() + secs(1),
            &mut r
        ),
        Err(SmsLimit::Cooldown { retry_after_s: 59 })
    );
    let almost = t0() + secs(60) - Duration::milliseconds(500);
    assert_eq!(
        try_issue(
            &mut conn,
            &policy,
            &p,
            Purpose::Registration,
            TERMINAL,
            almost,
            &mut r
        ),
        Err(SmsLimit::Cooldown { retry_after_s: 1 })
    );
    // Another phone is not held back.
    assert!(
        try_issue(
            &mut conn,
            &policy,
            &phone(2),
            Purpose::Registration,
            TERMINAL,
            t0(),
            &mut r
        )
        .is_ok()
    );
    assert!(
        try_issue(
            &mut conn,
            &policy,
            &p,
            Purpose::Registration,
            TERMINAL,
            t0() + secs(60),
            &mut r
        )
        .is_ok()
    );
}

#[test]
fn three_sends_per_ten_minutes_then_retry_after() {
    let mut conn = db();
    let p = phone(1);
    let first = issue(&mut conn, &p, Purpose::Registration, t0());
    assert_eq!(first.resend_after_s, 60);
    issue(&mut conn, &p, Purpose::Registration, t0() + secs(60));
    let third = issue(&mut conn, &p, Purpose::Registration, t0() + secs(120));
    // The third send used up the window: the next one is possible when the first leaves.
    assert_eq!(third.resend_after_s, 480);
    let policy = SmsPolicy::default();
    let mut r = rng();
    assert_eq!(
        try_issue(
            &mut conn,
            &policy,
            &p,
            Purpose::Registration,
            TERMINAL,
            t0() + secs(180),
            &mut r
        ),
        Err(SmsLimit::PhoneRateLimited { retry_after_s: 420 })
    );
    assert!(
        try_issue(
            &mut conn,
            &policy,
            &p,
            Purpose::Registration,
            TERMINAL,
            t0() + secs(600),
            &mut r
        )
        .is_ok()
    );
    // The second send (at 60 s) leaves the window at 660 s: room again exactly then.
    assert!(
        try_issue(
            &mut conn,
            &policy,
            &p,
            Purpose::Registration,
            TERMINAL,
            t0() + secs(659),
            &mut r
        )
        .is_err()
    );
    assert!(
        try_issue(
            &mut conn,
            &policy,
            &p,
            Purpose::Registration,
            TERMINAL,
            t0() + secs(660),
            &mut r
        )
        .is_ok()
    );
}

#[test]
fn the_terminal_has_an_hourly_cap() {
    let mut conn = db();
    let policy = SmsPolicy {
        per_terminal_hour_max: 4,
        ..SmsPolicy::default()
    };
    let mut r = rng();
    for i in 0..4 {
        let at = t0() + Duration::minutes(i64::from(i) * 5);
        assert!(
            try_issue(
                &mut conn,
                &policy,
                &phone(i),
                Purpose::Registration,
                TERMINAL,
                at,
                &mut r
            )
            .is_ok()
        );
    }
    let at = t0() + Duration::minutes(20);
    assert_eq!(
        try_issue(
            &mut conn,
            &policy,
            &phone(9),
            Purpose::Registration,
            TERMINAL,
            at,
            &mut r
        ),
        Err(SmsLimit::TerminalRateLimited {
            retry_after_s: 40 * 60
        })
    );
    // Another terminal is not held back; the same one is after the first code's hour.
    assert!(
        try_issue(
            &mut conn,
            &policy,
            &phone(9),
            Purpose::Registration,
            "term-2",
            at,
            &mut r
        )
        .is_ok()
    );
    assert!(
        try_issue(
            &mut conn,
            &policy,
            &phone(10),
            Purpose::Registration,
            TERMINAL,
            t0() + Duration::hours(1),
            &mut r
        )
        .is_ok()
    );
}

#[test]
fn a_newer_code_supersedes_the_older() {
    let mut conn = db();
    let p = phone(1);
    let mut r = StdRng::seed_from_u64(1);
    let policy = SmsPolicy::default();
    let old = try_issue(
        &mut conn,
        &policy,
        &p,
        Purpose::Registration,
        TERMINAL,
        t0(),
        &mut r,
    )
    .unwrap();
    let new = try_issue(
        &mut conn,
        &policy,
        &p,
        Purpose::Registration,
        TERMINAL,
        t0() + secs(60),
        &mut r,
    )
    .unwrap();
    assert_ne!(old.code, new.code, "pick another seed");
    assert_eq!(
        verify(
            &mut conn,
            &p,
            Purpose::Registration,
            &old.code,
            t0() + secs(61)
        ),
        Err(VerifyError::Wrong { tries_left: 4 })
    );
    assert!(
        verify(
            &mut conn,
            &p,
            Purpose::Registration,
            &new.code,
            t0() + secs(62)
        )
        .is_ok()
    );
    // The old one does not come back once the new one is used.
    assert_eq!(
        verify(
            &mut conn,
            &p,
            Purpose::Registration,
            &old.code,
            t0() + secs(63)
        ),
        Err(VerifyError::NoCode)
    );
}

#[test]
fn a_verification_is_one_time_and_bound_to_phone_and_purpose() {
    let mut conn = db();
    let p = phone(1);
    let issued = issue(&mut conn, &p, Purpose::Registration, t0());
    let token = verify(&mut conn, &p, Purpose::Registration, &issued.code, t0()).unwrap();
    let at = t0() + secs(30);
    assert!(!consume(
        &mut conn,
        &token,
        &phone(2),
        Purpose::Registration,
        at
    ));
    assert!(!consume(&mut conn, &token, &p, Purpose::Spend, at));
    assert!(!consume(&mut conn, "00", &p, Purpose::Registration, at));
    assert!(consume(&mut conn, &token, &p, Purpose::Registration, at));
    assert!(!consume(&mut conn, &token, &p, Purpose::Registration, at));

    // Expired after 15 minutes.
    let issued = issue(&mut conn, &p, Purpose::Spend, t0() + secs(60));
    let token = verify(&mut conn, &p, Purpose::Spend, &issued.code, t0() + secs(60)).unwrap();
    let late = t0() + secs(60) + Duration::minutes(15);
    assert!(!consume(&mut conn, &token, &p, Purpose::Spend, late));
    assert!(consume(
        &mut conn,
        &token,
        &p,
        Purpose::Spend,
        late - secs(1)
    ));
}

#[test]
fn codes_are_six_digits_and_never_stored_in_plain() {
    let mut conn = db();
    let policy = SmsPolicy {
        cooldown: Duration::zero(),
        per_phone_max: 1000,
        per_terminal_hour_max: 1000,
        ..SmsPolicy::default()
    };
    let mut r = rng();
    let mut codes = Vec::new();
    for i in 0..200 {
        let at = t0() + Duration::milliseconds(i);
        let c = try_issue(
            &mut conn,
            &policy,
            &phone(1),
            Purpose::Spend,
            TERMINAL,
            at,
            &mut r,
        )
        .unwrap();
        assert_eq!(c.code.len(), 6);
        assert!(c.code.bytes().all(|b| b.is_ascii_digit()), "{}", c.code);
        codes.push(c.code);
    }
    let distinct: std::collections::HashSet<_> = codes.iter().collect();
    assert!(distinct.len() > 190, "codes repeat too often");
    let c = codes.last().unwrap().clone();
    // That no table holds a code or a token in plain is checked on the database file
    // in tests/server/store.rs.
    assert!(verify(&mut conn, &phone(1), Purpose::Spend, &c, t0() + secs(1)).is_ok());
    let debug = format!(
        "{:?}",
        IssuedCode {
            code: c.clone(),
            expires_in_s: 1,
            resend_after_s: 1,
            tries: 1
        }
    );
    assert!(!debug.contains(&c), "{debug}");
}

#[test]
fn prune_keeps_what_limits_still_count() {
    let mut conn = db();
    let p = phone(1);
    let issued = issue(&mut conn, &p, Purpose::Registration, t0());
    verify(&mut conn, &p, Purpose::Registration, &issued.code, t0()).unwrap();
    let policy = SmsPolicy::default();
    assert_eq!(
        store::write(&conn, |tx| prune(tx, &policy, t0() + Duration::minutes(30))).unwrap(),
        1
    );
    assert_eq!(
        store::write(&conn, |tx| prune(tx, &policy, t0() + Duration::minutes(60))).unwrap(),
        1
    );
}

#[test]
fn the_message_text() {
    assert_eq!(
        message_text("012345"),
        "Код для кассира: 012345. Сообщая его, я даю согласие на получение SMS"
    );
}

#[test]
fn purposes_and_limits() {
    assert_eq!(Purpose::from(SmsPurpose::Spend).as_str(), "spend");
    assert_eq!(
        Purpose::from(SmsPurpose::Registration).as_str(),
        "registration"
    );
    assert_eq!(SmsPurpose::try_from(Purpose::Spend), Ok(SmsPurpose::Spend));
    assert_eq!(
        SmsPurpose::try_from(Purpose::CardSignIn),
        Err(Purpose::CardSignIn)
    );
    let limit = SmsLimit::PhoneRateLimited { retry_after_s: 420 };
    assert_eq!(limit.retry_after_s(), 420);
    assert_eq!(
        limit.to_string(),
        "too many codes were sent to this phone recently; retry in 420 s"
    );
}

#[test]
fn templates_are_filled_once_and_encoded() {
    assert_eq!(percent_encode("a b+&=/~"), "a%20b%2B%26%3D%2F~");
    assert_eq!(percent_encode("Код"), "%D0%9A%D0%BE%D0%B4");
    assert_eq!(
        fill_template(
            "https://x/s?k={key}&to={phone}&m={text}&{other}",
            "{text}",
            "79990000001",
            "a&b"
        ),
        "https://x/s?k=%7Btext%7D&to=79990000001&m=a%26b&{other}"
    );
}

#[test]
fn http_gateway_refuses_plain_http_to_other_hosts_and_hides_the_key() {
    let timeout = std::time::Duration::from_secs(1);
    let template = |s: &str| s.to_owned();
    assert!(matches!(
        HttpGateway::new(
            template("http://sms.example/s?to={phone}&m={text}"),
            "k".into(),
            timeout
        ),
        Err(GatewayError::Config(_))
    ));
    assert!(matches!(
        HttpGateway::new(
            template("https://sms.example/s?to={phone}"),
            "k".into(),
            timeout
        ),
        Err(GatewayError::Config(_))
    ));
    let g = HttpGateway::new(
        template("https://sms.example/s?api_id={key}&to={phone}&m={text}"),
        "SECRETKEY".into(),
        timeout,
    )
    .unwrap();
    let debug = format!("{g:?}");
    assert!(
        !debug.contains("SECRETKEY") && debug.contains("sms.example"),
        "{debug}"
    );
    let config = GatewayConfig::Http {
        url_template: "https://sms.example/{key}".into(),
        key: "SECRETKEY".into(),
    };
    assert!(!format!("{config:?}").contains("SECRETKEY"));
}

#[test]
fn provider_answers() {
    let secrets = ["79990000001"];
    assert!(provider_verdict(br#"{"status":"OK","status_code":100}"#, &secrets).is_ok());
    let e = provider_verdict(br#"{"status":"ERROR","status_code":200}"#, &secrets)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "the sms provider refused the message: status ERROR (code 200)"
    );
    let e = provider_verdict(
        br#"{"status":"OK","sms":{"79990000001":{"status":"ERROR","status_code":207,"status_text":"79990000001"}}}"#,
        &secrets,
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        "the sms provider refused the message: status ERROR (code 207)"
    );
    let e = provider_verdict(br#"{"status":"79990000001"}"#, &secrets)
        .unwrap_err()
        .to_string();
    assert!(!e.contains("79990000001"), "{e}");
    assert!(provider_verdict(b"<html>", &secrets).is_err());
    assert_eq!(
        redact("code 402913 to 8 999 0001122, os error 111", &secrets),
        "code *** to 8 999 ***, os error 111"
    );
}
