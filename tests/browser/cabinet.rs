//! The chain's cabinet in chromium: an owner's first day, and every page on a phone.

use std::sync::Arc;

use bonuskassa::clock::SystemClock;
use bonuskassa::server::RunningServer;
use bonuskassa::server::backoffice::{Actor, accounts};
use bonuskassa::server::store::AccountRole;
use chrono::Utc;

use crate::common::server as srv;
use crate::harness::{Browser, Size, available};

const OWNER: &str = "owner@test.bonuskassa.ru";
const PASSWORD: &str = "Korica-2026-sekret";

/// The demo chain on a fresh server, and a one-time password for a new owner.
pub(crate) fn demo_server() -> (tempfile::TempDir, RunningServer, String) {
    let dir = tempfile::tempdir().unwrap();
    let server = srv::demo(dir.path(), Arc::new(SystemClock), true);
    let store = srv::open(dir.path());
    let (_, otp) = accounts::add_account(
        &*store,
        &Actor::cli(),
        OWNER,
        AccountRole::Owner,
        &[],
        Utc::now(),
    )
    .unwrap();
    (dir, server, otp.expose().to_string())
}

/// Signs in with `password` on the sign-in page.
pub(crate) async fn sign_in(b: &Browser, email: &str, password: &str) {
    b.goto("/admin/sign-in").await;
    b.fill("input[name=email]", email).await;
    b.fill("input[name=password]", password).await;
    b.click("form.card button[type=submit]").await;
}

/// Signs in with the one-time password and chooses the new one.
pub(crate) async fn first_sign_in(b: &Browser, email: &str, otp: &str, new: &str) {
    sign_in(b, email, otp).await;
    assert_eq!(
        b.path().await,
        "/admin/password",
        "a one-time password must be changed first"
    );
    b.picture("password").await;
    b.fill("input[name=current]", otp).await;
    b.fill("input[name=new]", new).await;
    b.fill("input[name=again]", new).await;
    b.click("form.card button[type=submit]").await;
    assert_ne!(b.path().await, "/admin/password", "{}", b.text().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_sets_up_a_store_a_cashier_and_new_rules() {
    if !available() {
        return;
    }
    let (_dir, server, otp) = demo_server();
    let b = Browser::start(&server.url(), Size::Desktop).await;

    // Any cabinet page without a session leads to the sign-in page, Russian by default.
    b.goto("/admin/stores").await;
    assert_eq!(b.path().await, "/admin/sign-in");
    assert!(b.text().await.contains("Вход в кабинет"));
    b.picture("sign-in").await;

    // A wrong password is named as such, and nothing is opened.
    sign_in(&b, OWNER, "not-the-password").await;
    assert!(b.text().await.contains("Неверный e-mail или пароль"));
    first_sign_in(&b, OWNER, &otp, PASSWORD).await;

    // A store.
    b.goto("/admin/stores").await;
    b.fill("form.card[action='/admin/stores'] input[name=id]", "spb-1")
        .await;
    b.fill(
        "form.card[action='/admin/stores'] input[name=name]",
        "Кофе у Карины — Невский",
    )
    .await;
    b.fill(
        "form.card[action='/admin/stores'] input[name=address]",
        "Санкт-Петербург, Невский пр., 1",
    )
    .await;
    b.click("form.card[action='/admin/stores'] button[type=submit]")
        .await;
    let text = b.text().await;
    assert!(text.contains("Магазин добавлен"), "{text}");
    assert!(text.contains("Кофе у Карины — Невский"));
    b.picture("stores").await;

    // A cashier of that store, with a code; a taken code is refused with a sentence.
    b.goto("/admin/staff?store=spb-1").await;
    b.select(
        "form.card[action='/admin/staff'] select[name=store_id]",
        "spb-1",
    )
    .await;
    b.fill(
        "form.card[action='/admin/staff'] input[name=name]",
        "Ирина Соколова",
    )
    .await;
    b.fill("form.card[action='/admin/staff'] input[name=code]", "4321")
        .await;
    b.click("form.card[action='/admin/staff'] button[type=submit]")
        .await;
    let text = b.text().await;
    assert!(text.contains("Сотрудник добавлен"), "{text}");
    assert!(text.contains("Ирина Соколова"));
    b.select(
        "form.card[action='/admin/staff'] select[name=store_id]",
        "spb-1",
    )
    .await;
    b.fill(
        "form.card[action='/admin/staff'] input[name=name]",
        "Пётр Иванов",
    )
    .await;
    b.fill("form.card[action='/admin/staff'] input[name=code]", "4321")
        .await;
    b.click("form.card[action='/admin/staff'] button[type=submit]")
        .await;
    let text = b.text().await;
    assert!(text.contains("already has this code"), "{text}");
    assert!(!text.contains("Пётр Иванов"));
    b.picture("staff").await;

    // An enrollment code for a till of the new store, large.
    b.goto("/admin/terminals").await;
    b.select(
        "form[action='/admin/terminals/enrollment-code'] select",
        "spb-1",
    )
    .await;
    b.click("form[action='/admin/terminals/enrollment-code'] button")
        .await;
    let code = b.text_of(".big-code").await;
    assert!(code.trim().len() >= 6, "{code}");
    assert!(b.text().await.contains("Невский"));
    b.picture("terminals").await;

    // Rules with a mistake: the page names the line, beside the text.
    b.goto("/admin/rules").await;
    let active = b
        .find("textarea[name=text]")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    let needle = "accrual = { percent = \"2\" }";
    let line = active
        .lines()
        .position(|l| l.contains(needle))
        .expect("the demo rules accrue 2 %")
        + 1;
    let broken = active.replacen(needle, "accrual = { percent = \"два\" }", 1);
    b.set_value("textarea[name=text]", &broken).await;
    b.fill(
        "form[action='/admin/rules'] input[name=comment]",
        "3 % базовое начисление",
    )
    .await;
    b.click("form[action='/admin/rules'] button[type=submit]")
        .await;
    let marked = b.text_of("ol.source li.bad").await;
    assert!(marked.contains("два"), "{marked}");
    assert!(marked.contains("percent"), "the key is named: {marked}");
    let id = b
        .find("ol.source li.bad")
        .await
        .attr("id")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(id, format!("L{line}"));
    assert!(b.text().await.contains(&format!("Строка {line}")));
    b.picture("rules-error").await;

    // Fixed, stored and activated at once.
    let fixed = active.replacen(needle, "accrual = { percent = \"3\" }", 1);
    b.set_value("textarea[name=text]", &fixed).await;
    b.tick("form[action='/admin/rules'] input[name=activate]")
        .await;
    b.click("form[action='/admin/rules'] button[type=submit]")
        .await;
    let text = b.text().await;
    assert!(text.contains("Версия активна"), "{text}");
    assert!(text.contains("3 % базовое начисление"));
    let active_row = b.text_of("tr.current").await;
    assert!(active_row.contains("v2"), "{active_row}");
    b.picture("rules").await;

    // The difference between the two.
    b.goto("/admin/rules/diff?from=1&to=2").await;
    assert!(b.text_of("ol.diff li.add").await.contains("\"3\""));
    assert!(b.text_of("ol.diff li.del").await.contains("\"2\""));
    b.picture("rules-diff").await;

    // A receipt tried with the new version: 3 % of 680 ₽ is 20.4, accrued in whole
    // bonuses (the demo rules round down): 20.
    b.goto("/admin/rules/2").await;
    b.click("form[action='/admin/rules/2/try'] button").await;
    let result = b.text_of("section.result").await;
    assert!(result.contains("680"), "{result}");
    assert!(result.contains("Начислится\n20.00"), "{result}");
    b.picture("rules-try").await;

    // Roll back: version 1 is active again.
    b.goto("/admin/rules").await;
    b.click_confirmed("form[action='/admin/rules/rollback'] button")
        .await;
    assert!(b.text().await.contains("Возвращена предыдущая версия"));
    assert!(b.text_of("tr.current").await.contains("v1"));

    b.goto("/admin/accounts").await;
    assert!(b.text().await.contains(OWNER));
    b.picture("accounts").await;

    // The journal names who activated and rolled back the rules.
    b.goto("/admin/audit").await;
    let journal = b.text().await;
    assert!(
        journal.contains("rules.activate") || journal.contains("rules.upload"),
        "{journal}"
    );
    assert!(journal.contains(OWNER));
    b.picture("audit").await;

    // English on request, and back.
    b.click("footer a[hreflang=en]").await;
    assert!(b.text().await.contains("Change log"));
    b.click("footer a[hreflang=ru]").await;

    // Signing out ends the session: the cabinet asks to sign in again.
    b.click("header form[action='/admin/sign-out'] button")
        .await;
    assert_eq!(b.path().await, "/admin/sign-in");
    b.goto("/admin/stores").await;
    assert_eq!(b.path().await, "/admin/sign-in");
    b.close().await;
}

/// Every page of the cabinet fits a phone: nothing scrolls sideways at 390 px.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cabinet_page_fits_a_phone() {
    if !available() {
        return;
    }
    let (_dir, server, otp) = demo_server();
    let b = Browser::start(&server.url(), Size::Phone).await;
    b.goto("/admin/sign-in").await;
    assert!(!b.scrolls_sideways().await);
    b.picture("sign-in").await;
    first_sign_in(&b, OWNER, &otp, PASSWORD).await;
    for (path, name) in [
        ("/admin/stores", "stores"),
        ("/admin/staff", "staff"),
        ("/admin/terminals", "terminals"),
        ("/admin/rules", "rules"),
        ("/admin/rules/1", "rules-version"),
        ("/admin/accounts", "accounts"),
        ("/admin/audit", "audit"),
    ] {
        b.goto(path).await;
        assert_eq!(b.path().await, path);
        assert!(
            !b.scrolls_sideways().await,
            "{path} scrolls sideways on a phone"
        );
        b.picture(name).await;
    }
    b.close().await;
}
