//! The web cabinet's pages over real HTTP, on every engine: the headers every page goes out
//! with, a form that does not carry the session's CSRF token changing nothing, the sign-in
//! page's own token and lock, and a store manager kept to their stores.

use super::*;
use bonuskassa::server::store::AccountRole;

/// A client that does not follow redirects: the tests look at them.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The value of `name="csrf"` in a page.
fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .unwrap_or_else(|| panic!("no csrf field in {html}"));
    let rest = &html[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

/// A cookie's `name=value` from an answer's `Set-Cookie` headers.
fn set_cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap().to_string())
}

impl Fixture {
    fn page_url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }

    /// GETs a page with a cookie header; its status and text.
    async fn web_page(
        &self,
        http: &reqwest::Client,
        path: &str,
        cookie: &str,
    ) -> (StatusCode, String) {
        let resp = http
            .get(self.page_url(path))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        (resp.status(), resp.text().await.unwrap())
    }

    /// POSTs a form with a cookie header; the answer.
    async fn form(
        &self,
        http: &reqwest::Client,
        path: &str,
        cookie: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        http.post(self.page_url(path))
            .header("cookie", cookie)
            .form(fields)
            .send()
            .await
            .unwrap()
    }

    /// A signed-in account's session cookie (its password already changed).
    async fn cabinet_cookie(&self, email: &str, role: AccountRole, stores: &[&str]) -> String {
        let token = srv::admin_session(
            &self.http,
            &self.server,
            &self.db.location,
            email,
            role,
            stores,
        )
        .await;
        format!("bk_session={token}")
    }
}

#[tokio::test]
async fn every_page_goes_out_with_a_strict_policy_and_asks_for_a_session() {
    for engine in engines() {
        let f = Fixture::new(engine).await;
        let http = browser();

        let resp = http.get(f.page_url("/admin/stores")).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            resp.headers()["location"],
            "/admin/sign-in?next=/admin/stores"
        );

        let resp = http.get(f.page_url("/admin/sign-in")).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let h = resp.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        for part in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(part), "{csp}");
        }
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["cache-control"], "no-store");
        assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
        let csrf_cookie = set_cookie(&resp, "bk_csrf").expect("the sign-in page sets its token");
        let html = resp.text().await.unwrap();
        assert!(html.contains("Вход в кабинет"), "Russian by default");
        assert_eq!(csrf_cookie, format!("bk_csrf={}", csrf_of(&html)));
        // Nothing is loaded from anywhere else.
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "{html}"
        );

        // The style sheet and the script are the server's own.
        let css = http
            .get(f.page_url("/static/bonuskassa.css"))
            .send()
            .await
            .unwrap();
        assert_eq!(css.status(), StatusCode::OK);
        assert!(
            css.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/css")
        );

        // English on request, kept in a cookie.
        let resp = http
            .get(f.page_url("/lang/en?back=/admin/sign-in"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()["location"], "/admin/sign-in");
        let lang = set_cookie(&resp, "bk_lang").unwrap();
        let (_, html) = f.web_page(&http, "/admin/sign-in", &lang).await;
        assert!(html.contains("Sign in to the cabinet"));
        // The way back never leads off this server.
        let resp = http
            .get(f.page_url("/lang/ru?back=//evil.example/x"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()["location"], "/admin");
    }
}

#[tokio::test]
async fn a_form_without_the_sessions_token_changes_nothing() {
    for engine in engines() {
        let f = Fixture::new(engine).await;
        let http = browser();
        let cookie = f
            .cabinet_cookie("owner@example.ru", AccountRole::Owner, &[])
            .await;
        let (status, html) = f.web_page(&http, "/admin/stores", &cookie).await;
        assert_eq!(status, StatusCode::OK);
        let csrf = csrf_of(&html);
        let store = [
            ("id", "kzn-1"),
            ("name", "Кофе у Карины, Казань"),
            ("time_zone", "Europe/Moscow"),
        ];

        // No token, and another session's token: refused, nothing made.
        for token in ["", "0123456789abcdef0123456789abcdef"] {
            let mut fields = store.to_vec();
            fields.push(("csrf", token));
            let resp = f.form(&http, "/admin/stores", &cookie, &fields).await;
            assert_eq!(resp.status(), StatusCode::FORBIDDEN);
            assert!(resp.text().await.unwrap().contains("Форма устарела"));
        }
        let (_, html) = f.web_page(&http, "/admin/stores", &cookie).await;
        assert!(!html.contains("kzn-1"));

        // The page's own token: made, and the browser is sent back to the list.
        let mut fields = store.to_vec();
        fields.push(("csrf", &csrf));
        let resp = f.form(&http, "/admin/stores", &cookie, &fields).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        assert_eq!(resp.headers()["location"], "/admin/stores?ok=added");
        let (_, html) = f.web_page(&http, "/admin/stores?ok=added", &cookie).await;
        assert!(html.contains("kzn-1") && html.contains("Магазин добавлен"));

        // A bad field is named on the page, with the form's values kept out of the URL.
        let resp = f
            .form(
                &http,
                "/admin/stores",
                &cookie,
                &[("id", "kzn 2"), ("name", "Казань-2"), ("csrf", &csrf)],
            )
            .await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        let html = resp.text().await.unwrap();
        assert!(html.contains("Проверьте введённое: id"), "{html}");

        // An unknown field is refused by name, not ignored.
        let resp = f
            .form(
                &http,
                "/admin/stores",
                &cookie,
                &[
                    ("id", "kzn-3"),
                    ("name", "К"),
                    ("owner", "x"),
                    ("csrf", &csrf),
                ],
            )
            .await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert!(resp.text().await.unwrap().contains("owner"));

        // Signed out: the same token opens nothing any more.
        let resp = f
            .form(&http, "/admin/sign-out", &cookie, &[("csrf", &csrf)])
            .await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        let (status, _) = f.web_page(&http, "/admin/stores", &cookie).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
    }
}

#[tokio::test]
async fn the_sign_in_page_wants_its_own_token_and_locks_after_five_wrong_passwords() {
    for engine in engines() {
        let f = Fixture::new(engine).await;
        let http = browser();
        // A known account whose password is not what the page is given.
        f.cabinet_cookie("vera@example.ru", AccountRole::Owner, &[])
            .await;
        let resp = http.get(f.page_url("/admin/sign-in")).send().await.unwrap();
        let cookie = set_cookie(&resp, "bk_csrf").unwrap();
        let csrf = csrf_of(&resp.text().await.unwrap());

        // A sign-in posted from elsewhere (no token cookie) is refused before any password.
        let resp = f
            .form(
                &http,
                "/admin/sign-in",
                "",
                &[
                    ("email", "vera@example.ru"),
                    ("password", "x"),
                    ("csrf", &csrf),
                ],
            )
            .await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);

        // Four wrong passwords are named as wrong; the fifth locks the account.
        for _ in 0..4 {
            let resp = f
                .form(
                    &http,
                    "/admin/sign-in",
                    &cookie,
                    &[
                        ("email", "vera@example.ru"),
                        ("password", "wrong-one"),
                        ("csrf", &csrf),
                    ],
                )
                .await;
            assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
            let html = resp.text().await.unwrap();
            assert!(html.contains("Неверный e-mail или пароль"));
            // The e-mail stays in the form, never in the address.
            assert!(html.contains("value=\"vera@example.ru\""));
        }
        let resp = f
            .form(
                &http,
                "/admin/sign-in",
                &cookie,
                &[
                    ("email", "vera@example.ru"),
                    ("password", "wrong-one"),
                    ("csrf", &csrf),
                ],
            )
            .await;
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(
            resp.text()
                .await
                .unwrap()
                .contains("Слишком много неверных паролей")
        );
    }
}

#[tokio::test]
async fn a_one_time_password_leads_to_the_password_page_first() {
    for engine in engines() {
        let f = Fixture::new(engine).await;
        let http = browser();
        let store = srv::open(&f.db.location);
        let (_, otp) = bonuskassa::server::backoffice::accounts::add_account(
            &*store,
            &bonuskassa::server::backoffice::Actor::cli(),
            "new@example.ru",
            AccountRole::Manager,
            &["store-1".to_string()],
            bonuskassa::clock::Clock::now(&*f.clock),
        )
        .unwrap();
        let resp = http.get(f.page_url("/admin/sign-in")).send().await.unwrap();
        let csrf_cookie = set_cookie(&resp, "bk_csrf").unwrap();
        let csrf = csrf_of(&resp.text().await.unwrap());
        let resp = f
            .form(
                &http,
                "/admin/sign-in",
                &csrf_cookie,
                &[
                    ("email", "new@example.ru"),
                    ("password", otp.expose()),
                    ("csrf", &csrf),
                    ("next", "/admin/staff"),
                ],
            )
            .await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        assert_eq!(resp.headers()["location"], "/admin/password");
        let session = set_cookie(&resp, "bk_session").unwrap();

        // Every other page sends it back to the password page.
        let resp = http
            .get(f.page_url("/admin/staff"))
            .header("cookie", &session)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()["location"], "/admin/password");

        let (_, html) = f.web_page(&http, "/admin/password", &session).await;
        let csrf = csrf_of(&html);
        let new = "Sirenevyj-tuman-7";
        // Two different new passwords are caught before anything is changed.
        let resp = f
            .form(
                &http,
                "/admin/password",
                &session,
                &[
                    ("current", otp.expose()),
                    ("new", new),
                    ("again", "other-one-12"),
                    ("csrf", &csrf),
                ],
            )
            .await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert!(
            resp.text()
                .await
                .unwrap()
                .contains("Новые пароли не совпадают")
        );
        let resp = f
            .form(
                &http,
                "/admin/password",
                &session,
                &[
                    ("current", otp.expose()),
                    ("new", new),
                    ("again", new),
                    ("csrf", &csrf),
                ],
            )
            .await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        let session = set_cookie(&resp, "bk_session").unwrap();
        let (status, html) = f.web_page(&http, "/admin/staff", &session).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("Кассиры и менеджеры"));
    }
}

#[tokio::test]
async fn a_store_manager_sees_and_changes_only_their_stores() {
    for engine in engines() {
        let f = Fixture::new(engine).await;
        let http = browser();
        let cookie = f
            .cabinet_cookie("manager@example.ru", AccountRole::Manager, &["store-1"])
            .await;
        let (status, html) = f.web_page(&http, "/admin/staff", &cookie).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!html.contains("Екатеринбург"), "another store's name shows");
        // The owner's pages are not the manager's.
        assert!(!html.contains("/admin/accounts"));
        let (status, html) = f.web_page(&http, "/admin/accounts", &cookie).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(html.contains("Нет доступа"));

        let (status, html) = f.web_page(&http, "/admin/staff?store=ekb-1", &cookie).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(html.contains("ekb-1 is not one of this account"), "{html}");
        let (_, html) = f.web_page(&http, "/admin/staff", &cookie).await;
        let csrf = csrf_of(&html);
        let resp = f
            .form(
                &http,
                "/admin/staff",
                &cookie,
                &[
                    ("store_id", "ekb-1"),
                    ("name", "Чужой"),
                    ("role", "cashier"),
                    ("code", "5555"),
                    ("csrf", &csrf),
                ],
            )
            .await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        let (_, html) = f.web_page(&http, "/admin/terminals", &cookie).await;
        assert!(!html.contains("ekb-1"));
        // Rules are the owner's: the manager reads them but has no upload form.
        let (status, html) = f.web_page(&http, "/admin/rules", &cookie).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!html.contains("enctype=\"multipart/form-data\""));
    }
}

#[tokio::test]
async fn the_terminals_page_marks_a_till_silent_for_a_day() {
    for engine in engines() {
        let f = Fixture::new(engine).await;
        let http = browser();
        let store = srv::open(&f.db.location);
        bonuskassa::server::backoffice::chain::report_terminal(
            &*store,
            &f.terminal_id,
            &bonuskassa::protocol::admin::TerminalStatusRequest {
                app_version: "0.1.0".into(),
                queue_length: 3,
                oldest_queued_at: Some(
                    bonuskassa::clock::Clock::now(&*f.clock) - Duration::hours(30),
                ),
            },
            bonuskassa::clock::Clock::now(&*f.clock),
        )
        .unwrap();
        let cookie = f
            .cabinet_cookie("owner@example.ru", AccountRole::Owner, &[])
            .await;
        let (_, html) = f.web_page(&http, "/admin/terminals", &cookie).await;
        assert!(
            !html.contains("class=\"stale"),
            "a till that just synced is not red"
        );
        assert!(html.contains("старейшая 1 дн. назад"), "{html}");

        // A day later (a new session: the first one has expired).
        f.clock.advance(Duration::hours(25));
        let cookie = f
            .cabinet_cookie("owner-2@example.ru", AccountRole::Owner, &[])
            .await;
        let (_, html) = f.web_page(&http, "/admin/terminals", &cookie).await;
        assert!(html.contains("class=\"stale"), "{html}");
        assert!(html.contains("нет связи больше суток"));
    }
}
