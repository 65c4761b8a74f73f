//! The customer's own pages under `/r/{store}`: self-registration from the till's QR code
//! and «Моя карта» (the service is `server::selfreg`).
//!
//! `GET /r/{store}` asks for the phone; `POST …/phone` sends the code and opens a
//! registration; `…/code` takes the code; `…/consents` the two consents and the optional
//! questionnaire, and registers; `…/card` is «Моя карта». `…/signin` signs a registered
//! customer in with a code of its own; `…/advertising-off`, `…/erase` and `…/signout` are
//! the card page's buttons. Every POST carries the double-submit CSRF token; the phone,
//! the code and the names travel only in POSTed forms, never in a URL.
//!
//! Cookies: `bk_r` holds the session's random token (a registration or sign-in waiting for
//! its code, or a signed-in customer), `bk_v` the one-time proof of a verified code between
//! the code and the consents; both HttpOnly, SameSite=Strict, limited to `/r/`.

mod codes;
mod texts;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Path};
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use chrono::NaiveDate;
use maud::{Markup, html};
use serde::Deserialize;

use super::{
    Chrome, Form, Lang, Notice, csrf_field, csrf_ok, document, page, public_csrf, see_other,
    trusted_svg,
};
use crate::domain::money::Bonus;
use crate::server::State;
use crate::server::selfreg::{self, CardPage, Confirmed, Field, Flow, SelfRegError, WebLimit};
use crate::server::sms::{SmsLimit, VerifyError};

type AppState = axum::extract::State<Arc<State>>;

/// The session cookie and the verification cookie.
const SESSION_COOKIE: &str = "bk_r";
const VERIFIED_COOKIE: &str = "bk_v";

pub(crate) fn router() -> Router<Arc<State>> {
    Router::new()
        .route("/r/{store}", get(phone_page))
        .route("/r/{store}/phone", post(phone_sent))
        .route("/r/{store}/signin", get(sign_in_page).post(sign_in_sent))
        .route("/r/{store}/code", get(code_page).post(code_sent))
        .route(
            "/r/{store}/consents",
            get(consents_page).post(consents_sent),
        )
        .route("/r/{store}/card", get(card_page))
        .route("/r/{store}/advertising-off", post(advertising_off))
        .route("/r/{store}/erase", post(erase))
        .route("/r/{store}/signout", post(sign_out))
}

/// What every handler of the page reads from the request.
struct Visit {
    lang: Lang,
    csrf: String,
    set_csrf: Option<HeaderValue>,
    session: String,
    verification: String,
    client: IpAddr,
    https: bool,
}

impl Visit {
    fn of(headers: &HeaderMap, ext: &Extensions) -> Visit {
        let client = client_address(ext);
        let (csrf, set_csrf) = public_csrf(headers);
        Visit {
            lang: Lang::from_headers(headers),
            csrf,
            set_csrf,
            session: super::cookie(headers, SESSION_COOKIE)
                .unwrap_or_default()
                .to_string(),
            verification: super::cookie(headers, VERIFIED_COOKIE)
                .unwrap_or_default()
                .to_string(),
            client,
            https: headers
                .get("x-forwarded-proto")
                .is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(b"https")),
        }
    }

    fn t<'a>(&self, ru: &'a str, en: &'a str) -> &'a str {
        self.lang.t(ru, en)
    }

    /// A whole page, phone-first, with the CSRF cookie set on a first visit.
    fn page(
        &self,
        status: StatusCode,
        title: &str,
        path: &str,
        notice: Option<Notice>,
        body: Markup,
    ) -> Response {
        let chrome = Chrome {
            lang: self.lang,
            title,
            path,
            nav: None,
            narrow: true,
        };
        let mut resp = page(status, document(&chrome, notice.as_ref(), body));
        if let Some(set) = &self.set_csrf {
            resp.headers_mut().append(header::SET_COOKIE, set.clone());
        }
        resp
    }

    /// Whether a posted form carries this browser's CSRF token.
    fn csrf_ok(&self, given: &str) -> bool {
        self.set_csrf.is_none() && csrf_ok(&self.csrf, given)
    }

    /// The refusal of a form without the right CSRF token.
    fn csrf_refused(&self, store: &str) -> Response {
        self.page(
            StatusCode::FORBIDDEN,
            self.t("Страница устарела", "The page has expired"),
            &home(store),
            Some(Notice::Error(
                self.t(
                    "Форма пришла без отметки этой страницы. Откройте страницу заново и повторите.",
                    "The form came without this page's mark. Open the page again and repeat.",
                )
                .into(),
            )),
            html! { p { a href=(home(store)) { (self.t("Начать заново", "Start again")) } } },
        )
    }
}

/// The client's address: the connection's peer (`ConnectInfo`, which `Server::serve` gives
/// every request); unknown (all such clients count as one) when the router runs without it.
fn client_address(ext: &Extensions) -> IpAddr {
    let peer = ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    peer.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

fn home(store: &str) -> String {
    format!("/r/{}", super::urlencode(store))
}

fn at(store: &str, rest: &str) -> String {
    format!("{}/{rest}", home(store))
}

/// A cookie of the page: HttpOnly, SameSite=Strict, under `/r/`; `max_age_s = 0` deletes it.
fn cookie(name: &str, value: &str, max_age_s: i64) -> String {
    format!("{name}={value}; Path=/r/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}")
}

/// Sets the cookies on an answer; `Secure` too when the page was asked for over HTTPS (a
/// TLS-terminating proxy says so in `X-Forwarded-Proto`).
fn with_cookies(v: &Visit, mut resp: Response, cookies: &[String]) -> Response {
    for c in cookies {
        let c = if v.https {
            format!("{c}; Secure")
        } else {
            c.clone()
        };
        if let Ok(value) = HeaderValue::from_str(&c) {
            resp.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    resp
}

/// Seconds spelled for a reader: seconds below two minutes, minutes above.
fn wait_text(lang: Lang, s: u64) -> String {
    match (lang, s) {
        (Lang::Ru, 0..=119) => format!("{s} с"),
        (Lang::Ru, _) => format!("{} мин", s.div_ceil(60)),
        (Lang::En, 0..=119) => format!("{s} s"),
        (Lang::En, _) => format!("{} min", s.div_ceil(60)),
    }
}

/// What a refusal says to the customer, and its status.
fn refusal(lang: Lang, e: &SelfRegError) -> (StatusCode, String) {
    let t = |ru: &str, en: &str| lang.t(ru, en).to_string();
    let wait = |s: u64| wait_text(lang, s);
    match e {
        SelfRegError::UnknownStore => (
            StatusCode::NOT_FOUND,
            t(
                "Такого магазина нет. Отсканируйте QR-код на кассе ещё раз.",
                "There is no such store. Scan the QR code at the till again.",
            ),
        ),
        SelfRegError::Phone(_) => (
            StatusCode::BAD_REQUEST,
            t(
                "Проверьте номер: нужен мобильный номер России, например +7 999 123-45-67.",
                "Check the number: a Russian mobile number is needed, like +7 999 123-45-67.",
            ),
        ),
        SelfRegError::NotMobile => (
            StatusCode::BAD_REQUEST,
            t(
                "Коды приходят только на мобильные номера России (+7 9…).",
                "Codes go only to Russian mobile numbers (+7 9…).",
            ),
        ),
        SelfRegError::Limit(limit) => {
            let s = limit.retry_after_s();
            let text = match (limit, lang) {
                (WebLimit::Phone(SmsLimit::Cooldown { .. }), Lang::Ru) => format!(
                    "Код на этот номер только что отправлен. Новый можно запросить через {}.",
                    wait(s)
                ),
                (WebLimit::Phone(SmsLimit::Cooldown { .. }), Lang::En) => format!(
                    "A code was just sent to this number. A new one can be asked for in {}.",
                    wait(s)
                ),
                (WebLimit::Phone(_), Lang::Ru) => format!(
                    "На этот номер отправлено слишком много кодов. Попробуйте через {}.",
                    wait(s)
                ),
                (WebLimit::Phone(_), Lang::En) => format!(
                    "Too many codes were sent to this number. Try again in {}.",
                    wait(s)
                ),
                (WebLimit::Address { .. }, Lang::Ru) => format!(
                    "С этого устройства запрошено слишком много кодов. Попробуйте через {}.",
                    wait(s)
                ),
                (WebLimit::Address { .. }, Lang::En) => format!(
                    "Too many codes were asked for from this device. Try again in {}.",
                    wait(s)
                ),
                (WebLimit::Everyone { .. }, Lang::Ru) => format!(
                    "Сейчас запрошено слишком много кодов. Попробуйте через {}.",
                    wait(s)
                ),
                (WebLimit::Everyone { .. }, Lang::En) => format!(
                    "Too many codes are being asked for right now. Try again in {}.",
                    wait(s)
                ),
            };
            (StatusCode::TOO_MANY_REQUESTS, text)
        }
        SelfRegError::Gateway => (
            StatusCode::SERVICE_UNAVAILABLE,
            t(
                "Не удалось отправить SMS. Попробуйте через минуту.",
                "The SMS could not be sent. Try again in a minute.",
            ),
        ),
        SelfRegError::SessionExpired => (
            StatusCode::BAD_REQUEST,
            t(
                "Время вышло. Начните заново.",
                "The time is up. Start again.",
            ),
        ),
        SelfRegError::CodeFormat => (
            StatusCode::BAD_REQUEST,
            t(
                "Код — это шесть цифр из SMS.",
                "The code is the six digits from the SMS.",
            ),
        ),
        SelfRegError::Code(VerifyError::Wrong { tries_left }) if *tries_left > 0 => (
            StatusCode::BAD_REQUEST,
            match lang {
                Lang::Ru => format!("Неверный код. Осталось попыток: {tries_left}."),
                Lang::En => format!("Wrong code. Tries left: {tries_left}."),
            },
        ),
        SelfRegError::Code(_) => (
            StatusCode::BAD_REQUEST,
            t(
                "Этот код больше не действует. Запросите новый.",
                "This code no longer works. Ask for a new one.",
            ),
        ),
        SelfRegError::AlreadyRegistered => (
            StatusCode::CONFLICT,
            t(
                "Этот номер уже зарегистрирован. Ваша карта — в разделе «Моя карта».",
                "This number is already registered. Your card is on the «My card» page.",
            ),
        ),
        SelfRegError::NotRegistered => (
            StatusCode::NOT_FOUND,
            t(
                "Этот номер не зарегистрирован. Оформите карту — это минута.",
                "This number is not registered. Get a card: it takes a minute.",
            ),
        ),
        SelfRegError::ConsentRequired => (
            StatusCode::BAD_REQUEST,
            t(
                "Без согласия на обработку персональных данных карту оформить нельзя.",
                "A card cannot be issued without the consent to the processing of personal data.",
            ),
        ),
        SelfRegError::Field(Field::Name) => (
            StatusCode::BAD_REQUEST,
            t(
                "Имя и фамилия — не длиннее 100 знаков.",
                "The first and last name: at most 100 characters.",
            ),
        ),
        SelfRegError::Field(Field::Email) => (
            StatusCode::BAD_REQUEST,
            t(
                "Проверьте e-mail: например, anna@example.ru.",
                "Check the e-mail: like anna@example.ru.",
            ),
        ),
        SelfRegError::Field(Field::BirthDate) => (
            StatusCode::BAD_REQUEST,
            t(
                "Дата рождения — между 01.01.1900 и сегодняшним днём.",
                "The birth date: between 1900-01-01 and today.",
            ),
        ),
        SelfRegError::VerificationExpired => (
            StatusCode::BAD_REQUEST,
            t(
                "Подтверждение номера истекло. Начните заново.",
                "The confirmation of the number has expired. Start again.",
            ),
        ),
        SelfRegError::Refused(_) => (
            StatusCode::CONFLICT,
            t(
                "Карту сейчас оформить не удалось. Попросите помощи на кассе.",
                "The card could not be issued now. Ask at the till for help.",
            ),
        ),
        SelfRegError::Store(s) if s.is_retryable() => (
            StatusCode::SERVICE_UNAVAILABLE,
            t(
                "Сервер занят. Повторите через минуту.",
                "The server is busy. Try again in a minute.",
            ),
        ),
        SelfRegError::Store(s) => {
            tracing::error!(error = %s, "the customer's page failed on the store");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                t(
                    "Внутренняя ошибка сервера; ничего не изменено.",
                    "Internal server error; nothing was changed.",
                ),
            )
        }
    }
}

/// Runs a blocking call of the service on the write pool.
async fn service<T: Send + 'static>(
    state: &Arc<State>,
    f: impl FnOnce(&State) -> Result<T, SelfRegError> + Send + 'static,
) -> Result<T, SelfRegError> {
    let s = state.clone();
    state
        .workers
        .write(move || f(&s))
        .await
        .map_err(|e| SelfRegError::Store(crate::server::store::StoreError::Other(e.to_string())))?
}

/// The store's name, or the page for a store that does not exist.
async fn store_name(state: &Arc<State>, v: &Visit, store: &str) -> Result<String, Response> {
    let id = store.to_string();
    let s = state.clone();
    let found = state
        .workers
        .read(move || selfreg::store_name(&s, &id))
        .await
        .map_err(|e| SelfRegError::Store(crate::server::store::StoreError::Other(e.to_string())))
        .and_then(|r| r);
    found.map_err(|e| error_page(v, store, &e))
}

/// A refusal as a page with a way back to the start.
fn error_page(v: &Visit, store: &str, e: &SelfRegError) -> Response {
    let (status, text) = refusal(v.lang, e);
    v.page(
        status,
        v.t("Не получилось", "That did not work"),
        &home(store),
        Some(Notice::Error(text)),
        html! { p { a href=(home(store)) { (v.t("Начать заново", "Start again")) } } },
    )
}

// --- The phone --------------------------------------------------------------------------

#[derive(Deserialize)]
struct PhoneForm {
    phone: Option<String>,
    /// The honeypot: hidden from people, filled by form-filling robots.
    website: Option<String>,
}

fn phone_form(v: &Visit, action: &str, button: &str) -> Markup {
    html! {
        form.card method="post" action=(action) {
            (csrf_field(&v.csrf))
            label for="phone" { (v.t("Номер мобильного телефона", "Mobile phone number")) }
            input #phone type="tel" name="phone" autocomplete="tel" inputmode="tel"
                placeholder="+7 999 123-45-67" required;
            // People never see this field; robots that fill every input do.
            div.hp aria-hidden="true" {
                label for="website" { (v.t("Не заполняйте это поле", "Leave this field empty")) }
                input #website type="text" name="website" tabindex="-1" autocomplete="off";
            }
            button type="submit" { (button) }
        }
    }
}

async fn phone_page(
    axum::extract::State(state): AppState,
    Path(store): Path<String>,
    headers: HeaderMap,
    ext: Extensions,
) -> Response {
    let v = Visit::of(&headers, &ext);
    let name = match store_name(&state, &v, &store).await {
        Ok(n) => n,
        Err(resp) => return resp,
    };
    let body = html! {
        p.lead {
            (v.t("Бонусная карта магазина", "The bonus card of")) " «" (name) "». "
            (v.t("Введите номер — пришлём код в SMS.", "Enter your number and we will text you a code."))
        }
        (phone_form(&v, &at(&store, "phone"), v.t("Получить код", "Get the code")))
        p { (v.t("Уже есть карта?", "Have a card already?")) " "
            a href=(at(&store, "signin")) { (v.t("Моя карта", "My card")) } }
    };
    v.page(
        StatusCode::OK,
        v.t("Оформить карту", "Get a card"),
        &home(&store),
        None,
        body,
    )
}

async fn sign_in_page(
    axum::extract::State(state): AppState,
    Path(store): Path<String>,
    headers: HeaderMap,
    ext: Extensions,
) -> Response {
    let v = Visit::of(&headers, &ext);
    if let Err(resp) = store_name(&state, &v, &store).await {
        return resp;
    }
    let body = html! {
        p.lead { (v.t("Введите номер, на который оформлена карта, — пришлём код для входа.",
                      "Enter the number your card is registered to and we will text you a code to sign in.")) }
        (phone_form(&v, &at(&store, "signin"), v.t("Получить код", "Get the code")))
        p { (v.t("Ещё нет карты?", "No card yet?")) " "
            a href=(home(&store)) { (v.t("Оформить карту", "Get a card")) } }
    };
    v.page(
        StatusCode::OK,
        v.t("Моя карта", "My card"),
        &at(&store, "signin"),
        None,
        body,
    )
}

async fn phone_sent(
    axum::extract::State(state): AppState,
    Path(store): Path<String>,
    headers: HeaderMap,
    ext: Extensions,
    form: Result<Form<PhoneForm>, Response>,
) -> Response {
    send(state, store, headers, ext, form, Flow::Register).await
}

async fn sign_in_sent(
    axum::extract::State(state): AppState,
    Path(store): Path<String>,
    headers: HeaderMap,
    ext: Extensions,
    form: Result<Form<PhoneForm>, Response>,
) -> Response {
    send(state, store, headers, ext, form, Flow::SignIn).await
}

async fn send(
    state: Arc<State>,
    store: String,
    headers: HeaderMap,
    ext: Extensions,
    form: Result<Form<PhoneForm>, Response>,
    flow: Flow,
) -> Response {
    let v = Visit::of(&headers, &ext);
    let form = match form {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    if !v.csrf_ok(&form.csrf) {
        return v.csrf_refused(&store);
    }
    let honeypot = form.value.website.is_some();
    let phone = form.value.phone.unwrap_or_default();
    match selfreg::start(&state, &store, &phone, v.client, honeypot, flow).await {
        Ok(started) => with_cookies(
            &v,
            see_other(&at(&store, "code")),
            &[
                cookie(
                    SESSION_COOKIE,
                    &started.token,
                    state.config.selfreg.flow_ttl.num_seconds(),
                ),
                cookie(VERIFIED_COOKIE, "", 0),
            ],
        ),
        Err(e) => {
            let (status, text) = refusal(v.lang, &e);
            if matches!(e, SelfRegError::UnknownStore) {
                return error_page(&v, &store, &e);
            }
            let (title, action, path) = match flow {
                Flow::Register => (
                    v.t("Оформить карту", "Get a card"),
                    at(&store, "phone"),
                    home(&store),
                ),
                Flow::SignIn => (
                    v.t("Моя карта", "My card"),
                    at(&store, "signin"),
                    at(&store, "signin"),
                ),
            };
            v.page(
                status,
                title,
                &path,
                Some(Notice::Error(text)),
                phone_form(&v, &action, v.t("Получить код", "Get the code")),
            )
        }
    }
}

// --- The code ---------------------------------------------------------------------------

#[derive(Deserialize)]
struct CodeForm {
    code: Option<String>,
}

fn code_form(v: &Visit, store: &str) -> Markup {
    html! {
        form.card method="post" action=(at(store, "code")) {
            (csrf_field(&v.csrf))
            label for="code" { (v.t("Код из SMS", "The code from the SMS")) }
            input #code type="text" name="code" inputmode="numeric" autocomplete="one-time-code"
                pattern="[0-9]{6}" maxlength="6" required;
            button type="submit" { (v.t("Подтвердить", "Confirm")) }
        }
        p { a href=(home(store)) { (v.t("Другой номер или новый код", "Another number or a new code")) } }
    }
}

async fn code_page(
    axum::extract::State(state): AppState,
    Path(store): Path<String>,
    headers: HeaderMap,
    ext: Extensions,
) -> Response {
    let v = Visit::of(&headers, &ext);
    let minutes = state.config.sms_policy.ttl.num_minutes();
    let body = html! {
        p.lead { (match v.lang {
            Lang::Ru => format!("Мы отправили код в SMS. Он действует {minutes} мин."),
            Lang::En => format!("We have texted you a code. It works for {minutes} min."),
        }) }
        (code_form(&v, &store))
    };
    v.page(
        StatusCode::OK,
        v.t("Код из SMS", "The SMS code"),
        &at(&store, "code"),
        None,
        body,
    )
}

async fn code_sent(
    axum::extract::State(state): AppState,
    Path(store): Path<String>,
    headers: HeaderMap,
    ext: Extensions,
    form: Result<Form<CodeForm>, Response>,
) -> Response {
    let v = Visit::of(&headers, &ext);
    let form = match form {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    if !v.csrf_ok(&form.csrf) {
        return v.csrf_refused(&store);
    }
    let (token, code) = (v.session.clone(), form.value.code.unwrap_or_default());
    match service(&state, move |s| selfreg::confirm(s, &token, &code)).await {
        Ok(Confirmed::Registration { verification }) => with_cookies(
            &v,
            see_other(&at(&store, "consents")),
            &[cookie(
                VERIFIED_COOKIE,
                &verification,
                state.config.sms_policy.verification_ttl.num_seconds(),
            )],
        ),
        Ok(Confirmed::SignedIn { session }) => with_cookies(
            &v,
            see_other(&at(&store, "card")),
            &[cookie(
                SESSION_COOKIE,
                &session,
                state.config.selfreg.session_ttl.num_seconds(),
            )],
        ),
        Err(e @ SelfRegError::AlreadyRegistered) => {
            let (status, text) = refusal(v.lang, &e);
            v.page(
                status,
                v.t("Карта уже есть", "You have a card"),
                &at(&store, "code"),
                Some(Notice::Error(text)),
                html! { p { a.button href=(at(&store, "signin")) { (v.t("Моя карта", "My card")) } } },
            )
        }
        Err(e @ SelfRegError::NotRegistered) => {
            let (status, text) = refusal(v.lang, &e);
            v.page(
                status,
                v.t("Карты нет", "No card"),
                &at(&store, "code"),
                Some(Notice::Error(text)),
                html! { p { a.button href=(home(&store)) { (v.t("Оформить карту", "Get a card")) } } },
            )
        }
        Err(e @ (SelfRegError::CodeFormat | SelfRegError::Code(VerifyError::Wrong { .. }))) => {
            let (status, text) = refusal(v.lang, &e);
            v.page(
                status,
                v.t("Код из SMS", "The SMS code"),
                &at(&store, "code"),
                Some(Notice::Error(text)),
                code_form(&v, &store),
            )
        }
        Err(e) => error_page(&v, &store, &e),
    }
}

// --- The consents -----------------------------------------------------------------------

#[derive(Deserialize)]
struct ConsentsForm {
    consent_processing: Option<String>,
    consent_advertising: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    birth_date: Option<String>,
    email: Option<String>,
}

fn consents_form(
    v: &Visit,
    store: &str,
    store_name: &str,
    filled: Option<&ConsentsForm>,
) -> Markup {
    let value = |f: fn(&ConsentsForm) -> &Option<String>| {
        filled.and_then(|c| f(c).clone()).unwrap_or_default()
    };
    html! {
        form.card method="post" action=(at(store, "consents")) {
            (csrf_field(&v.csrf))
            fieldset {
                legend { (v.t("Согласие на обработку персональных данных (обязательно)",
                              "Consent to the processing of personal data (required)")) }
                div.consent-text { @for p in texts::processing(v.lang, store_name) { p { (p) } } }
                label.check {
                    input type="checkbox" name="consent_processing" value="yes" required;
                    " " (v.t("Даю согласие на обработку персональных данных",
                             "I consent to the processing of my personal data"))
                }
            }
            fieldset {
                legend { (v.t("Согласие на рекламные SMS (по желанию)",
                              "Consent to advertising SMS (optional)")) }
                div.consent-text { @for p in texts::advertising(v.lang, store_name) { p { (p) } } }
                label.check {
                    input type="checkbox" name="consent_advertising" value="yes";
                    " " (v.t("Хочу получать рекламные SMS", "I want advertising SMS"))
                }
            }
            fieldset {
                legend { (v.t("О вас (по желанию)", "About you (optional)")) }
                label for="first_name" { (v.t("Имя", "First name")) }
                input #first_name type="text" name="first_name" autocomplete="given-name" maxlength="100"
                    value=(value(|c| &c.first_name));
                label for="last_name" { (v.t("Фамилия", "Last name")) }
                input #last_name type="text" name="last_name" autocomplete="family-name" maxlength="100"
                    value=(value(|c| &c.last_name));
                label for="birth_date" { (v.t("Дата рождения — бонусы ко дню рождения", "Birth date: birthday bonuses")) }
                input #birth_date type="date" name="birth_date" autocomplete="bday"
                    value=(value(|c| &c.birth_date));
                label for="email" { "E-mail" }
                input #email type="email" name="email" autocomplete="email" maxlength="254"
                    value=(value(|c| &c.email));
            }
            button type="submit" { (v.t("Оформить карту", "Get the card")) }
        }
    }
}

async fn consents_page(
    axum::extract::State(state): AppState,
    Path(store): Path<String>,
    headers: HeaderMap,
    ext: Extensions,
) -> Response {
    let v = Visit::of(&headers, &ext);
    let name = match store_name(&state, &v, &store).await {
        Ok(n) => n,
        Err(resp) => return resp,
    };
    if v.verification.is_empty() {
        return error_page(&v, &store, &SelfRegError::VerificationExpired);
    }
    v.page(
        StatusCode::OK,
        v.t("Согласия", "Consents"),
        &at(&store, "consents"),
        None,
        consents_form(&v, &store, &name, None),
    )
}

async fn consents_sent(
    axum::extract::State(state): AppState,
    Path(store): Path<String>,
    headers: HeaderMap,
    ext: Extensions,
    form: Result<Form<ConsentsForm>, Response>,
) -> Response {
    let v = Visit::of(&headers, &ext);
    let form = match form {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    if !v.csrf_ok(&form.csrf) {
        return v.csrf_refused(&store);
    }
    let name = match store_name(&state, &v, &store).await {
        Ok(n) => n,
        Err(resp) => return resp,
    };
    let f = form.value;
    let birth_date = match f.birth_date.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(d) => match NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .or_else(|_| NaiveDate::parse_from_str(d, "%d.%m.%Y"))
        {
            Ok(d) => Some(d),
            Err(_) => {
                let (status, text) = refusal(v.lang, &SelfRegError::Field(Field::BirthDate));
                return v.page(
                    status,
                    v.t("Согласия", "Consents"),
                    &at(&store, "consents"),
                    Some(Notice::Error(text)),
                    consents_form(&v, &store, &name, Some(&f)),
                );
            }
        },
    };
    let input = selfreg::RegistrationForm {
        consent_processing: f.consent_processing.is_some(),
        consent_advertising: f.consent_advertising.is_some(),
        first_name: f.first_name.clone(),
        last_name: f.last_name.clone(),
        birth_date,
        email: f.email.clone(),
    };
    let (token, verification) = (v.session.clone(), v.verification.clone());
    match service(&state, move |s| {
        selfreg::register(s, &token, &verification, &input)
    })
    .await
    {
        Ok(session) => with_cookies(
            &v,
            see_other(&at(&store, "card")),
            &[
                cookie(
                    SESSION_COOKIE,
                    &session,
                    state.config.selfreg.session_ttl.num_seconds(),
                ),
                cookie(VERIFIED_COOKIE, "", 0),
            ],
        ),
        Err(e @ (SelfRegError::ConsentRequired | SelfRegError::Field(_))) => {
            let (status, text) = refusal(v.lang, &e);
            v.page(
                status,
                v.t("Согласия", "Consents"),
                &at(&store, "consents"),
                Some(Notice::Error(text)),
                consents_form(&v, &store, &name, Some(&f)),
            )
        }
        Err(e @ SelfRegError::AlreadyRegistered) => {
            let (status, text) = refusal(v.lang, &e);
            v.page(
                status,
                v.t("Карта уже есть", "You have a card"),
                &at(&store, "consents"),
                Some(Notice::Error(text)),
                html! { p { a.button href=(at(&store, "signin")) { (v.t("Моя карта", "My card")) } } },
            )
        }
        Err(e) => error_page(&v, &store, &e),
    }
}

// --- «Моя карта» ------------------------------------------------------------------------

/// A card number spaced as printed under an EAN-13: `2 901234 567893`.
fn spaced(number: &str) -> String {
    if number.len() == 13 && number.bytes().all(|b| b.is_ascii_digit()) {
        format!("{} {} {}", &number[..1], &number[1..7], &number[7..])
    } else {
        number.to_string()
    }
}

fn bonus(kopecks: i64) -> String {
    Bonus::from_kopecks(kopecks).to_string()
}

fn card_body(v: &Visit, store: &str, c: &CardPage) -> Markup {
    let h = &c.history;
    let when = |at| v.lang.datetime(at, c.time_zone);
    html! {
        @if !c.name.is_empty() { p.lead { (c.name) } }
        section.card.my-card {
            @if let Some(number) = &c.card_number {
                p.card-number { (spaced(number)) }
                @if let Some(svg) = codes::ean13_svg(number) { div.barcode { (trusted_svg(svg)) } }
                @if let Some(svg) = codes::qr_svg(number) { div.qr { (trusted_svg(svg)) } }
                p.muted { (v.t("Покажите штрихкод или QR-код на кассе.", "Show the barcode or the QR code at the till.")) }
            }
            p { (v.t("Статус карты", "Card status")) ": " strong { (c.card_status) } }
        }
        @if let Some(w) = c.welcome_kopecks {
            p.notice.done { (v.t("Приветственные бонусы", "Welcome bonus")) ": " strong { (bonus(w)) } }
        }
        section.balance {
            h2 { (v.t("Бонусы", "Bonuses")) }
            p { (v.t("Можно потратить", "Spendable")) ": " strong.balance { (h.balance.to_string()) } }
            @if !h.pending.is_zero() {
                p { (v.t("Ожидают начисления", "Pending")) ": " (h.pending.to_string()) }
            }
            @if !h.activating.is_empty() {
                h3 { (v.t("Станут доступны", "Become spendable")) }
                ul { @for d in &h.activating { li { (d.amount.to_string()) " — " (when(d.at)) } } }
            }
            @if !h.burning.is_empty() {
                h3 { (v.t("Сгорят", "Will burn")) }
                ul { @for d in &h.burning { li { (d.amount.to_string()) " — " (when(d.at)) } } }
            }
        }
        section.history {
            h2 { (v.t("История", "History")) }
            @if h.entries.is_empty() {
                p.muted { (v.t("Пока ничего.", "Nothing yet.")) }
            } @else {
                table.list {
                    thead { tr { th { (v.t("Когда", "When")) } th { (v.t("Что", "What")) } th.num { (v.t("Бонусы", "Bonuses")) } } }
                    tbody {
                        @for e in &h.entries {
                            tr {
                                td data-label=(v.t("Когда", "When")) { (when(e.at)) }
                                td data-label=(v.t("Что", "What")) { (e.description) }
                                td.num data-label=(v.t("Бонусы", "Bonuses")) { (e.amount.to_string()) }
                            }
                        }
                    }
                }
            }
        }
        section.settings {
            h2 { (v.t("Настройки", "Settings")) }
            @if c.consent_advertising {
                form.inline method="post" action=(at(store, "advertising-off")) {
                    (csrf_field(&v.csrf))
                    button type="submit" { (v.t("Отключить рекламные SMS", "Switch advertising SMS off")) }
                }
            } @else {
                p { (v.t("Рекламные SMS отключены.", "Advertising SMS are off.")) }
            }
            @if let Some(at_) = c.erase_requested_at {
                p { (v.t("Запрос на удаление данных отправлен", "The request to erase your data was sent")) " " (when(at_)) ". "
                    (v.t("Магазин выполнит его и удалит данные.", "The store will carry it out and erase the data.")) }
            } @else {
                p.muted { (v.t("Магазин удалит ваши номер, имя, дату рождения, e-mail и карту; бонусы пропадут.",
                               "The store will erase your number, name, birth date, e-mail and card; the bonuses will be lost.")) }
                form.inline method="post" action=(at(store, "erase"))
                    data-confirm=(v.t("Удалить ваши данные и карту?", "Erase your data and the card?")) {
                    (csrf_field(&v.csrf))
                    button.danger type="submit" { (v.t("Удалить мои данные", "Erase my data")) }
                }
            }
            form.inline method="post" action=(at(store, "signout")) {
                (csrf_field(&v.csrf))
                button.secondary type="submit" { (v.t("Выйти", "Sign out")) }
            }
        }
    }
}

async fn card_page(
    axum::extract::State(state): AppState,
    Path(store): Path<String>,
    headers: HeaderMap,
    ext: Extensions,
) -> Response {
    let v = Visit::of(&headers, &ext);
    let token = v.session.clone();
    match service(&state, move |s| selfreg::card(s, &token)).await {
        Ok(c) => {
            let title = if c.store_name.is_empty() {
                v.t("Моя карта", "My card").to_string()
            } else {
                format!("{} — {}", v.t("Моя карта", "My card"), c.store_name)
            };
            v.page(
                StatusCode::OK,
                &title,
                &at(&store, "card"),
                None,
                card_body(&v, &store, &c),
            )
        }
        Err(SelfRegError::SessionExpired) => see_other(&at(&store, "signin")),
        Err(e) => error_page(&v, &store, &e),
    }
}

#[derive(Deserialize)]
struct Empty {}

/// A button of the card page: checks the token, runs `f`, and goes back to the card.
async fn card_action(
    state: Arc<State>,
    store: String,
    headers: HeaderMap,
    ext: Extensions,
    form: Result<Form<Empty>, Response>,
    done: (&'static str, &'static str),
    f: fn(&State, &str) -> Result<(), SelfRegError>,
) -> Response {
    let v = Visit::of(&headers, &ext);
    let form = match form {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    if !v.csrf_ok(&form.csrf) {
        return v.csrf_refused(&store);
    }
    let token = v.session.clone();
    match service(&state, move |s| f(s, &token)).await {
        Ok(()) => {
            let t2 = v.session.clone();
            match service(&state, move |s| selfreg::card(s, &t2)).await {
                Ok(c) => v.page(
                    StatusCode::OK,
                    v.t("Моя карта", "My card"),
                    &at(&store, "card"),
                    Some(Notice::Done(v.t(done.0, done.1).into())),
                    card_body(&v, &store, &c),
                ),
                Err(_) => see_other(&at(&store, "card")),
            }
        }
        Err(SelfRegError::SessionExpired) => see_other(&at(&store, "signin")),
        Err(e) => error_page(&v, &store, &e),
    }
}

async fn advertising_off(
    axum::extract::State(state): AppState,
    Path(store): Path<String>,
    headers: HeaderMap,
    ext: Extensions,
    form: Result<Form<Empty>, Response>,
) -> Response {
    card_action(
        state,
        store,
        headers,
        ext,
        form,
        ("Рекламные SMS отключены.", "Advertising SMS are off."),
        selfreg::advertising_off,
    )
    .await
}

async fn erase(
    axum::extract::State(state): AppState,
    Path(store): Path<String>,
    headers: HeaderMap,
    ext: Extensions,
    form: Result<Form<Empty>, Response>,
) -> Response {
    card_action(
        state,
        store,
        headers,
        ext,
        form,
        (
            "Запрос на удаление данных отправлен магазину.",
            "The request to erase your data was sent to the store.",
        ),
        |s, t| selfreg::request_erase(s, t).map(|_| ()),
    )
    .await
}

async fn sign_out(
    axum::extract::State(state): AppState,
    Path(store): Path<String>,
    headers: HeaderMap,
    ext: Extensions,
    form: Result<Form<Empty>, Response>,
) -> Response {
    let v = Visit::of(&headers, &ext);
    let form = match form {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    if !v.csrf_ok(&form.csrf) {
        return v.csrf_refused(&store);
    }
    let token = v.session.clone();
    if let Err(e) = service(&state, move |s| selfreg::sign_out(s, &token)).await {
        return error_page(&v, &store, &e);
    }
    with_cookies(
        &v,
        see_other(&at(&store, "signin")),
        &[
            cookie(SESSION_COOKIE, "", 0),
            cookie(VERIFIED_COOKIE, "", 0),
        ],
    )
}
