//! The customer's own page (`/r/{store}`) over real HTTP, as a browser without JavaScript
//! uses it (cookies kept by hand, redirects looked at), on every engine: the whole
//! registration with the welcome bonus and a card the till's scanner reads, each limit of
//! the sends (per phone, per client address, for everyone) and the honeypot, a wrong code,
//! a phone already registered, «Моя карта» (a sign-in a spend code cannot open, the
//! advertising opt-out as a consent change, the erase request), and a server log without a
//! phone number in it.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex, OnceLock};

use super::*;
use bonuskassa::clock::Clock;
use bonuskassa::domain::card::CardFormat;
use bonuskassa::domain::scan::ScanPayload;
use bonuskassa::server::ServerConfig;
use bonuskassa::server::selfreg::SelfRegPolicy;
use bonuskassa::server::store::{self, CustomerKey};
use reqwest::header::{COOKIE, HeaderMap, LOCATION, SET_COOKIE};

/// Every line the test binary logs, from any thread (the servers run on their own).
fn log() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || LogWriter(sink.clone()))
            .finish();
        // Another test of this binary may have set one first; then this one sees nothing
        // and the log check below says so.
        let _ = tracing::subscriber::set_global_default(subscriber);
        buf
    })
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Page {
    server: RunningServer,
    clock: Arc<ManualClock>,
    db: TestDb,
}

impl Page {
    async fn new(engine: Engine, policy: SelfRegPolicy) -> Page {
        log();
        let db = TestDb::new(engine);
        let clock = ManualClock::at(t0());
        srv::demo_data(&db.location, t0());
        let server = srv::spawn(
            ServerConfig {
                selfreg: policy,
                ..srv::config(db.location.clone(), true)
            },
            clock.clone(),
        );
        Page { server, clock, db }
    }

    /// A browser on `127.0.0.N`: each its own client address.
    fn browser(&self, n: u8) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)))
                .build()
                .unwrap(),
            base: self.server.url(),
            cookies: BTreeMap::new(),
        }
    }

    /// The latest code texted to `phone` (E.164), and how many texts it got.
    async fn code(&self, phone: &str) -> (String, usize) {
        let inbox: Value = reqwest::get(format!("{}/api/v1/demo/sms", self.server.url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let to: Vec<&Value> = inbox["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["phone"] == phone)
            .collect();
        let code = to
            .last()
            .map(|m| {
                m["text"]
                    .as_str()
                    .unwrap()
                    .chars()
                    .filter(char::is_ascii_digit)
                    .collect()
            })
            .unwrap_or_default();
        (code, to.len())
    }

    /// Operation ids the server recorded, applied or rejected.
    fn operations(&self) -> i64 {
        let c = srv::census(self.db.location.clone());
        c.applied + c.rejected
    }

    fn store(&self) -> Arc<dyn bonuskassa::server::store::Store> {
        srv::open(self.db.location.clone())
    }

    fn customer(&self, phone: &str) -> Option<bonuskassa::server::store::Customer> {
        store::read(&*self.store(), |r| r.customer(CustomerKey::Phone(phone))).unwrap()
    }
}

/// A browser: its cookies, and pages fetched without following redirects.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookies: BTreeMap<String, String>,
}

struct Answer {
    status: StatusCode,
    location: Option<String>,
    body: String,
}

impl Browser {
    fn keep_cookies(&mut self, headers: &HeaderMap) {
        for v in headers.get_all(SET_COOKIE) {
            let v = v.to_str().unwrap();
            let (pair, attrs) = v.split_once(';').unwrap_or((v, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") || value.is_empty() {
                self.cookies.remove(name.trim());
            } else {
                self.cookies
                    .insert(name.trim().to_string(), value.trim().to_string());
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn answer(&mut self, resp: reqwest::Response) -> Answer {
        self.keep_cookies(resp.headers());
        Answer {
            status: resp.status(),
            location: resp
                .headers()
                .get(LOCATION)
                .map(|l| l.to_str().unwrap().to_string()),
            body: resp.text().await.unwrap(),
        }
    }

    async fn get(&mut self, path: &str) -> Answer {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.answer(resp).await
    }

    /// Posts a form with this browser's CSRF token, as the page's forms do.
    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let csrf = self.cookies.get("bk_csrf").cloned().unwrap_or_default();
        let mut all: Vec<(&str, &str)> = vec![("csrf", &csrf)];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    async fn post_raw(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        self.answer(resp).await
    }

    /// Opens the page and sends a code for a registration (or a sign-in) to `phone`.
    async fn send(&mut self, phone: &str, sign_in: bool) -> Answer {
        let (page, action) = if sign_in {
            ("/r/store-1/signin", "/r/store-1/signin")
        } else {
            ("/r/store-1", "/r/store-1/phone")
        };
        let a = self.get(page).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        self.post(action, &[("phone", phone)]).await
    }
}

fn redirected(a: &Answer, to: &str) {
    assert_eq!(
        (a.status, a.location.as_deref()),
        (StatusCode::SEE_OTHER, Some(to)),
        "{}",
        a.body
    );
}

#[tokio::test]
async fn a_customer_registers_on_the_page_and_gets_a_card_the_till_reads() {
    for engine in engines() {
        let page = Page::new(engine, SelfRegPolicy::default()).await;
        let ops = page.operations();
        let mut b = page.browser(1);
        let e164 = "+79995550101";

        let first = b.get("/r/store-1").await;
        assert!(
            first.body.contains("name=\"website\""),
            "the honeypot is there"
        );
        assert!(b.cookies.contains_key("bk_csrf"));
        redirected(&b.send("8 (999) 555-01-01", false).await, "/r/store-1/code");
        assert!(b.cookies.contains_key("bk_r"), "the registration's session");
        let (code, texts) = page.code(e164).await;
        assert_eq!((code.len(), texts), (6, 1));

        let a = b.post("/r/store-1/code", &[("code", &code)]).await;
        redirected(&a, "/r/store-1/consents");
        let consents = b.get("/r/store-1/consents").await;
        for text in [
            "Согласие на обработку персональных данных (обязательно)",
            "Согласие на рекламные SMS (по желанию)",
            "Цель обработки — участие в программе лояльности",
            "name=\"consent_processing\"",
            "name=\"consent_advertising\"",
        ] {
            assert!(consents.body.contains(text), "{text}: {}", consents.body);
        }
        // The processing consent is required; the form comes back with what was typed.
        let a = b
            .post(
                "/r/store-1/consents",
                &[("consent_advertising", "yes"), ("first_name", "Алиса")],
            )
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        assert!(a.body.contains("Без согласия на обработку"), "{}", a.body);
        assert!(a.body.contains("value=\"Алиса\""), "{}", a.body);
        let a = b
            .post(
                "/r/store-1/consents",
                &[("consent_processing", "yes"), ("email", "not an address")],
            )
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        assert!(a.body.contains("Проверьте e-mail"), "{}", a.body);

        let a = b
            .post(
                "/r/store-1/consents",
                &[
                    ("consent_processing", "yes"),
                    ("first_name", "Алиса"),
                    ("last_name", "Тестова"),
                    ("birth_date", "1990-05-17"),
                    ("email", "Alisa@Example.ru"),
                ],
            )
            .await;
        redirected(&a, "/r/store-1/card");
        assert!(!b.cookies.contains_key("bk_v"), "the proof is used up");
        let card = b.get("/r/store-1/card").await;
        assert_eq!(card.status, StatusCode::OK, "{}", card.body);

        // The customer, registered through the operations batch as the store's web till.
        let c = page.customer(e164).expect("registered");
        let number = c.card_number.clone().expect("a virtual card");
        assert_eq!(number.len(), 13);
        assert_eq!(
            (c.first_name.as_deref(), c.phone_verified),
            (Some("Алиса"), true)
        );
        assert!(c.consent_processing && !c.consent_advertising);
        let st = page.store();
        let consents = store::read(&*st, |r| r.consents(&c.id)).unwrap();
        assert_eq!(consents.len(), 2, "{consents:?}");
        assert!(
            consents
                .iter()
                .all(|r| r.terminal_id.as_deref() == Some("web:store-1"))
        );
        assert_eq!(page.operations(), ops + 1, "one registration operation");

        // The card page: the number, the barcode, the QR code, the welcome bonus.
        let spaced = format!("{} {} {}", &number[..1], &number[1..7], &number[7..]);
        assert!(card.body.contains(&spaced), "{}", card.body);
        assert!(card.body.contains("class=\"ean13\""));
        assert!(card.body.contains("class=\"qr\""));
        assert!(card.body.contains("Приветственные бонусы"));
        assert!(card.body.contains("100.00"));
        assert!(!card.body.contains("555-01-01") && !card.body.contains("5550101"));
        // What the till's scanner makes of the number the codes carry: this customer's card.
        let scanned =
            ScanPayload::parse(number.as_bytes(), &CardFormat::default_formats()).unwrap();
        assert_eq!(scanned.as_card().map(|n| n.as_str()), Some(number.as_str()));
        let found = store::read(&*st, |r| r.customer(CustomerKey::Card(&number))).unwrap();
        assert_eq!(found.map(|f| f.id), Some(c.id.clone()));

        // A reload of the consents after the card: the proof is gone, nothing twice.
        let again = b.get("/r/store-1/consents").await;
        assert_eq!(again.status, StatusCode::BAD_REQUEST);
        assert_eq!(page.operations(), ops + 1);

        // No phone number in the server's log, in any spelling.
        let text = String::from_utf8_lossy(&log().lock().unwrap()).to_string();
        if text.contains("self-registration: a code was sent") {
            for secret in ["9995550101", "999 555", "555-01-01", &code] {
                assert!(!text.contains(secret), "{secret} is in the log");
            }
            assert!(!text.contains("Алиса") && !text.contains("alisa@"));
        } else {
            eprintln!("the log check saw no lines: another subscriber was set first");
        }
    }
}

#[tokio::test]
async fn a_wrong_code_costs_a_try_and_a_landline_gets_no_code() {
    for engine in engines() {
        let page = Page::new(engine, SelfRegPolicy::default()).await;
        let mut b = page.browser(1);
        let a = b.send("+7 495 555-01-02", false).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        assert!(a.body.contains("только на мобильные"), "{}", a.body);
        let a = b.post("/r/store-1/phone", &[("phone", "12345")]).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        assert_eq!(page.code("+74955550102").await.1, 0);

        redirected(&b.send("+7 999 555-01-02", false).await, "/r/store-1/code");
        let (code, _) = page.code("+79995550102").await;
        let wrong = if code == "000000" { "111111" } else { "000000" };
        let a = b.post("/r/store-1/code", &[("code", wrong)]).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        assert!(
            a.body.contains("Неверный код. Осталось попыток: 4."),
            "{}",
            a.body
        );
        let a = b.post("/r/store-1/code", &[("code", "12ab")]).await;
        assert!(a.body.contains("шесть цифр"), "{}", a.body);
        let a = b.post("/r/store-1/code", &[("code", &code)]).await;
        redirected(&a, "/r/store-1/consents");

        // A form without the page's token is refused.
        let mut other = page.browser(1);
        let a = other
            .post_raw("/r/store-1/phone", &[("phone", "+79995550103")])
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
        // An unknown store is a clear 404.
        assert_eq!(b.get("/r/nowhere").await.status, StatusCode::NOT_FOUND);

        // Behind a TLS-terminating proxy the session cookie is Secure too.
        let mut s = page.browser(3);
        s.get("/r/store-1").await;
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("csrf", s.cookies["bk_csrf"].as_str()),
                ("phone", "+79995550106"),
            ])
            .finish();
        let resp = s
            .http
            .post(format!("{}/r/store-1/phone", s.base))
            .header(COOKIE, s.cookie_header())
            .header("x-forwarded-proto", "https")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        let session = resp
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .find(|v| v.starts_with("bk_r="))
            .expect("a session cookie");
        for attr in ["HttpOnly", "SameSite=Strict", "Path=/r/", "Secure"] {
            assert!(session.contains(attr), "{attr}: {session}");
        }
    }
}

#[tokio::test]
async fn a_registered_phone_is_told_so_and_offered_my_card() {
    for engine in engines() {
        let page = Page::new(engine, SelfRegPolicy::default()).await;
        let ops = page.operations();
        let mut b = page.browser(1);
        redirected(&b.send("+79990000001", false).await, "/r/store-1/code");
        let (code, _) = page.code("+79990000001").await;
        let a = b.post("/r/store-1/code", &[("code", &code)]).await;
        assert_eq!(a.status, StatusCode::CONFLICT);
        assert!(
            a.body.contains("Этот номер уже зарегистрирован"),
            "{}",
            a.body
        );
        assert!(a.body.contains("href=\"/r/store-1/signin\""), "{}", a.body);
        assert_eq!(page.operations(), ops, "nothing was applied");
    }
}

#[tokio::test]
async fn my_card_signs_in_with_its_own_code_switches_advertising_off_and_asks_for_erasure() {
    for engine in engines() {
        let page = Page::new(engine, SelfRegPolicy::default()).await;
        let http = reqwest::Client::new();
        let till = srv::enroll(&http, &page.server, page.db.location.clone(), t0()).await;
        let phone = "+79990000001"; // 500 bonuses, advertising SMS allowed
        let mut b = page.browser(1);

        // Without a session the card page sends to the sign-in.
        redirected(&b.get("/r/store-1/card").await, "/r/store-1/signin");

        // A spend code a till asked for does not open the page.
        let (s, v) = {
            let resp = http
                .post(format!("{}/api/v1/sms/send", page.server.url()))
                .bearer_auth(&till.token)
                .json(&json!({ "phone": phone, "purpose": "spend" }))
                .send()
                .await
                .unwrap();
            (resp.status(), resp.text().await.unwrap())
        };
        assert_eq!(s, StatusCode::OK, "{v}");
        let (spend_code, _) = page.code(phone).await;
        // The per-phone cooldown holds the page's send back, as it holds a till's.
        let a = b.send(phone, true).await;
        assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "{}", a.body);
        assert!(a.body.contains("только что отправлен"), "{}", a.body);
        page.clock.advance(Duration::seconds(61));
        redirected(&b.send(phone, true).await, "/r/store-1/code");
        let (code, _) = page.code(phone).await;
        if spend_code != code {
            let a = b.post("/r/store-1/code", &[("code", &spend_code)]).await;
            assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
        }
        let a = b.post("/r/store-1/code", &[("code", &code)]).await;
        redirected(&a, "/r/store-1/card");
        let card = b.get("/r/store-1/card").await;
        assert_eq!(card.status, StatusCode::OK, "{}", card.body);
        assert!(card.body.contains("500.00"), "{}", card.body);
        assert!(card.body.contains("Отключить рекламные SMS"));

        let c = page.customer(phone).unwrap();
        let a = b.post("/r/store-1/advertising-off", &[]).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert!(a.body.contains("Рекламные SMS отключены."), "{}", a.body);
        let after = page.customer(phone).unwrap();
        assert!(after.consent_processing && !after.consent_advertising);
        let rows = store::read(&*page.store(), |r| r.consents(&c.id)).unwrap();
        let last = rows.last().unwrap();
        assert_eq!(
            (
                last.kind.as_str(),
                last.granted,
                last.terminal_id.as_deref()
            ),
            ("advertising", false, Some("web:store-1")),
            "{rows:?}"
        );

        let a = b.post("/r/store-1/erase", &[]).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert!(
            a.body.contains("Запрос на удаление данных отправлен"),
            "{}",
            a.body
        );
        let asked = store::read(&*page.store(), |r| r.erase_request(&c.id)).unwrap();
        assert_eq!(asked, Some(page.clock.now()));
        // Asked again: one request, the first one's time.
        page.clock.advance(Duration::seconds(5));
        b.post("/r/store-1/erase", &[]).await;
        let again = store::read(&*page.store(), |r| r.erase_request(&c.id)).unwrap();
        assert_eq!(again, asked);

        // The owner's cabinet lists the request on its customers page until it is carried out.
        let open = store::read(&*page.store(), |r| r.open_erase_requests()).unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(
            (open[0].customer_id.as_str(), open[0].store_id.as_deref()),
            (c.id.as_str(), Some("store-1"))
        );
        let http = reqwest::Client::new();
        let owner = srv::admin_session(
            &http,
            &page.server,
            &page.db.location,
            "owner@example.ru",
            store::AccountRole::Owner,
            &[],
        )
        .await;
        let listed = http
            .get(format!("{}/admin/customers", page.server.url()))
            .header("cookie", format!("bk_session={owner}"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(listed.contains("Просьбы стереть данные"), "{listed}");
        assert!(listed.contains(&format!("/admin/customers/{}", c.id)));

        let a = b.post("/r/store-1/signout", &[]).await;
        redirected(&a, "/r/store-1/signin");
        redirected(&b.get("/r/store-1/card").await, "/r/store-1/signin");

        // An unregistered phone hears so after its code, and is offered a card.
        let mut n = page.browser(2);
        redirected(&n.send("+79995550104", true).await, "/r/store-1/code");
        let (code, _) = page.code("+79995550104").await;
        let a = n.post("/r/store-1/code", &[("code", &code)]).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
        assert!(a.body.contains("не зарегистрирован"), "{}", a.body);
    }
}

#[tokio::test]
async fn the_per_phone_window_holds_the_page_back() {
    for engine in engines() {
        let page = Page::new(engine, SelfRegPolicy::default()).await;
        let e164 = "+79995550105";
        // Three codes in ten minutes to one phone (one a minute), then a wait.
        for i in 0..3 {
            let mut b = page.browser(1 + i);
            redirected(&b.send(e164, false).await, "/r/store-1/code");
            page.clock.advance(Duration::seconds(61));
        }
        let mut b = page.browser(9);
        let a = b.send(e164, false).await;
        assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(
            a.body
                .contains("На этот номер отправлено слишком много кодов"),
            "{}",
            a.body
        );
        assert_eq!(page.code(e164).await.1, 3);
    }
}

#[tokio::test]
async fn one_client_address_gets_a_few_codes_an_hour() {
    for engine in engines() {
        let policy = SelfRegPolicy {
            per_address_hour_max: 2,
            ..SelfRegPolicy::default()
        };
        let page = Page::new(engine, policy).await;
        let mut b = page.browser(1);
        redirected(&b.send("+79995550111", false).await, "/r/store-1/code");
        redirected(&b.send("+79995550112", false).await, "/r/store-1/code");
        let a = b.send("+79995550113", false).await;
        assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(a.body.contains("С этого устройства"), "{}", a.body);
        assert_eq!(page.code("+79995550113").await.1, 0);
        // Another address is not held back; this one is again an hour after its first.
        let mut other = page.browser(2);
        redirected(&other.send("+79995550113", false).await, "/r/store-1/code");
        page.clock.advance(Duration::minutes(61));
        redirected(&b.send("+79995550114", false).await, "/r/store-1/code");
    }
}

#[tokio::test]
async fn the_whole_page_gets_a_few_codes_an_hour() {
    for engine in engines() {
        let policy = SelfRegPolicy {
            hour_max: 3,
            ..SelfRegPolicy::default()
        };
        let page = Page::new(engine, policy).await;
        for (i, phone) in ["+79995550121", "+79995550122", "+79995550123"]
            .into_iter()
            .enumerate()
        {
            let mut b = page.browser(1 + i as u8);
            redirected(&b.send(phone, false).await, "/r/store-1/code");
        }
        let mut b = page.browser(7);
        let a = b.send("+79995550124", false).await;
        assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(
            a.body.contains("Сейчас запрошено слишком много кодов"),
            "{}",
            a.body
        );
        assert_eq!(page.code("+79995550124").await.1, 0);
        page.clock.advance(Duration::minutes(61));
        redirected(&b.send("+79995550124", false).await, "/r/store-1/code");
    }
}

#[tokio::test]
async fn a_filled_honeypot_gets_the_same_answer_and_nothing_is_sent() {
    for engine in engines() {
        let policy = SelfRegPolicy {
            per_address_hour_max: 1,
            ..SelfRegPolicy::default()
        };
        let page = Page::new(engine, policy).await;
        let mut robot = page.browser(1);
        robot.get("/r/store-1").await;
        for _ in 0..3 {
            let a = robot
                .post(
                    "/r/store-1/phone",
                    &[
                        ("phone", "+79995550131"),
                        ("website", "https://spam.example"),
                    ],
                )
                .await;
            redirected(&a, "/r/store-1/code");
            assert!(robot.cookies.contains_key("bk_r"));
        }
        assert_eq!(page.code("+79995550131").await.1, 0, "nothing was sent");
        let a = robot.post("/r/store-1/code", &[("code", "123456")]).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        assert!(a.body.contains("Время вышло"), "{}", a.body);
        // The robot's sends counted against nothing: the address still has its one code.
        redirected(&robot.send("+79995550131", false).await, "/r/store-1/code");
        assert_eq!(page.code("+79995550131").await.1, 1);
    }
}
