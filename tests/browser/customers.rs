//! The customers and import pages in chromium: a store manager finds a customer by phone,
//! changes their balance by hand, is refused another store's customer, and imports a
//! small customer base after a dry run that names its bad rows.

use bonuskassa::server::admin::{DEMO_STORE, DEMO_STORE_EAST};
use bonuskassa::server::backoffice::{Actor, accounts};
use bonuskassa::server::store::{self, AccountRole, NewCustomer};
use chrono::Utc;

use crate::cabinet::{demo_server, first_sign_in};
use crate::common::server as srv;
use crate::harness::{Browser, Size, available};

const MANAGER: &str = "manager@test.bonuskassa.ru";
const PASSWORD: &str = "Tverskaya-2026-kofe";

/// A manager of the demo store, and a customer of the east store, on the demo chain.
fn manager_and_east_customer(dir: &std::path::Path) -> (String, String) {
    let db = srv::open(dir);
    let now = Utc::now();
    let (_, otp) = accounts::add_account(
        &*db,
        &Actor::cli(),
        MANAGER,
        AccountRole::Manager,
        &[DEMO_STORE.to_string()],
        now,
    )
    .unwrap();
    let id = uuid::Uuid::now_v7().to_string();
    store::write(&*db, |tx| {
        tx.insert_customer(&NewCustomer {
            id: id.clone(),
            phone: "+79990007777".into(),
            card_status: "Стандартная".into(),
            phone_verified: true,
            last_name: Some("Уральская".into()),
            first_name: Some("Вера".into()),
            registered_at: now,
            store_id: Some(DEMO_STORE_EAST.into()),
            ..NewCustomer::default()
        })
    })
    .unwrap();
    (otp.expose().to_string(), id)
}

/// The session cookie chromium holds, for a plain HTTP client.
pub(crate) async fn session_cookie(b: &Browser) -> String {
    let c = b
        .client
        .get_named_cookie("bk_session")
        .await
        .expect("signed in: the session cookie is set");
    format!("bk_session={}", c.value())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_manager_finds_changes_and_imports_customers() {
    if !available() {
        return;
    }
    let (dir, server, _) = demo_server();
    let (otp, east) = manager_and_east_customer(dir.path());
    let b = Browser::start(&server.url(), Size::Desktop).await;
    first_sign_in(&b, MANAGER, &otp, PASSWORD).await;

    // The cabinet opens on the customers; the search is POSTed, so the phone never
    // reaches a URL.
    b.goto("/admin").await;
    assert_eq!(b.path().await, "/admin/customers");
    b.picture("customers").await;
    b.fill("input[name=q]", "8 (999) 000-00-01").await;
    b.click("form[action='/admin/customers'] button[type=submit]")
        .await;
    let url = b.client.current_url().await.unwrap();
    assert_eq!(url.path(), "/admin/customers");
    assert_eq!(url.query(), None, "the search travels in no URL");
    let found = b.text_of("table.customers tbody").await;
    assert!(found.contains("Карина"), "{found}");
    assert!(
        !found.contains("000-00-01"),
        "the list masks phones: {found}"
    );
    b.picture("customers-found").await;

    // The customer's page: the full phone, the balance, the batches and what burns when.
    b.click("table.customers tbody a").await;
    assert!(b.path().await.starts_with("/admin/customers/"));
    let text = b.text().await;
    assert!(text.contains("+7 999 000-00-01"), "{text}");
    assert!(text.contains("2900000000018"), "{text}");
    assert_eq!(b.text_of("dd.balance").await, "500.00");
    assert!(text.contains("Что сгорит и когда"), "{text}");
    assert!(text.contains("Согласия и их изменения"));
    b.picture("customer").await;

    // A manual change with a reason: the balance and the history show it.
    let form = "form[action$='/manual-change']";
    b.fill(&format!("{form} input[name=amount]"), "150").await;
    b.fill(
        &format!("{form} input[name=reason]"),
        "Компенсация за долгое ожидание",
    )
    .await;
    b.click(&format!("{form} button[type=submit]")).await;
    let text = b.text().await;
    assert!(text.contains("Баланс изменён"), "{text}");
    assert_eq!(b.text_of("dd.balance").await, "650.00");
    assert!(
        b.text_of("table.history")
            .await
            .contains("Компенсация за долгое ожидание")
    );

    // Taking more than there is is refused with the service's sentence; nothing changes.
    b.fill(&format!("{form} input[name=amount]"), "-10000")
        .await;
    b.fill(&format!("{form} input[name=reason]"), "Ошибка кассира")
        .await;
    b.click(&format!("{form} button[type=submit]")).await;
    let text = b.text().await;
    assert!(text.contains("has only 650.00 bonuses"), "{text}");
    assert_eq!(b.text_of("dd.balance").await, "650.00");

    // Another store's customer: the service's refusal as a 403 page.
    b.goto(&format!("/admin/customers/{east}")).await;
    let text = b.text().await;
    assert!(text.contains("Нет доступа"), "{text}");
    assert!(
        text.contains("not a customer of this account's stores"),
        "{text}"
    );
    assert!(!text.contains("Уральская"), "{text}");
    let answer = reqwest::Client::new()
        .get(format!("{}/admin/customers/{east}", server.url()))
        .header("cookie", session_cookie(&b).await)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 403);
    b.picture("customer-forbidden").await;

    // An import: the dry run names the two bad rows, nothing is written; the fixed file
    // is checked again and imported.
    let files = tempfile::tempdir().unwrap();
    let bad = files.path().join("base.csv");
    std::fs::write(
        &bad,
        "Телефон;Фамилия;Имя;Баланс бонусов\n\
         +7 999 555-00-01;Зайцева;Полина;120\n\
         12345;Громов;Лев;40\n\
         +7 999 555-00-03;Белова;Ника;сто\n\
         +7 999 555-00-04;Котов;Ян;0\n",
    )
    .unwrap();
    b.goto("/admin/import").await;
    b.picture("import").await;
    b.find("input[type=file][name=file]")
        .await
        .send_keys(bad.to_str().unwrap())
        .await
        .unwrap();
    b.click("form[action='/admin/import'] button[type=submit]")
        .await;
    let mut rows = Vec::new();
    for tr in b
        .client
        .find_all(fantoccini::Locator::Css("table.problems tbody tr"))
        .await
        .unwrap()
    {
        rows.push(tr.text().await.unwrap());
    }
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(
        rows[0].starts_with('3') && rows[0].contains("Телефон"),
        "{rows:?}"
    );
    assert!(
        rows[1].starts_with('4')
            && rows[1].contains("Баланс бонусов")
            && rows[1].contains("«сто» — не число"),
        "{rows:?}"
    );
    assert!(b.text().await.contains("ничего не записано"));
    assert!(!b.has("form[action='/admin/import/run']").await);
    b.picture("import-dry-run").await;

    let good = files.path().join("base-fixed.csv");
    std::fs::write(
        &good,
        "Телефон;Фамилия;Имя;Баланс бонусов\n\
         +7 999 555-00-01;Зайцева;Полина;120\n\
         +7 999 555-00-02;Громов;Лев;40\n\
         +7 999 555-00-03;Белова;Ника;100\n",
    )
    .unwrap();
    b.find("input[type=file][name=file]")
        .await
        .send_keys(good.to_str().unwrap())
        .await
        .unwrap();
    b.click("form[action='/admin/import'] button[type=submit]")
        .await;
    assert!(!b.has("table.problems").await);
    assert_eq!(b.text_of("dd.new").await, "3");
    b.click_confirmed("form[action='/admin/import/run'] button")
        .await;
    let text = b.text().await;
    assert!(text.contains("Клиенты импортированы"), "{text}");
    assert_eq!(b.text_of("dd.new").await, "3");
    b.picture("import-done").await;

    // A file larger than the server's 1 MiB default body limit is taken by this route.
    let csrf = b
        .find("form[action='/admin/import'] input[name=csrf]")
        .await
        .attr("value")
        .await
        .unwrap()
        .unwrap();
    let big = format!(
        "Телефон;Комментарий\r\n+7 999 555-00-09;{}\r\n",
        "ж".repeat(1024 * 1024)
    );
    assert!(big.len() > 2 * 1024 * 1024);
    let body = format!(
        "--BOUNDARY\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
         --BOUNDARY\r\nContent-Disposition: form-data; name=\"store\"\r\n\r\n{DEMO_STORE}\r\n\
         --BOUNDARY\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n\
         Content-Type: text/csv\r\n\r\n{big}\r\n--BOUNDARY--\r\n"
    );
    let answer = reqwest::Client::new()
        .post(format!("{}/admin/import", server.url()))
        .header("cookie", session_cookie(&b).await)
        .header("content-type", "multipart/form-data; boundary=BOUNDARY")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let page = answer.text().await.unwrap();
    assert!(
        page.contains("Проверка пройдена"),
        "{}",
        &page[..page.len().min(3000)]
    );
    assert!(page.contains("Комментарий"), "the ignored column is named");

    // The imported customer is found, with the imported balance.
    b.goto("/admin/customers").await;
    b.fill("input[name=q]", "+79995550002").await;
    b.click("form[action='/admin/customers'] button[type=submit]")
        .await;
    b.click("table.customers tbody a").await;
    assert_eq!(b.text_of("dd.balance").await, "40.00");
    b.close().await;
}

/// The customers and import pages fit a phone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_customers_pages_fit_a_phone() {
    if !available() {
        return;
    }
    let (dir, server, _) = demo_server();
    let (otp, _) = manager_and_east_customer(dir.path());
    let b = Browser::start(&server.url(), Size::Phone).await;
    first_sign_in(&b, MANAGER, &otp, PASSWORD).await;
    b.goto("/admin/customers").await;
    assert!(!b.scrolls_sideways().await, "the search scrolls sideways");
    b.picture("customers").await;
    b.fill("input[name=q]", "Соколова").await;
    b.click("form[action='/admin/customers'] button[type=submit]")
        .await;
    assert!(!b.scrolls_sideways().await, "the list scrolls sideways");
    b.picture("customers-found").await;
    b.click("table.customers tbody a").await;
    assert!(!b.scrolls_sideways().await, "the customer scrolls sideways");
    b.picture("customer").await;
    b.goto("/admin/import").await;
    assert!(!b.scrolls_sideways().await, "the import scrolls sideways");
    b.picture("import").await;
    b.close().await;
}

/// Opens a customer found by `query` and answers their page's path.
async fn open_customer(b: &Browser, query: &str) -> String {
    b.goto("/admin/customers").await;
    b.fill("input[name=q]", query).await;
    b.click("form[action='/admin/customers'] button[type=submit]")
        .await;
    b.click("table.customers tbody a").await;
    b.path().await
}

/// Every change of the customer's page, as the owner: the questionnaire, consents, the
/// status, a new virtual card, blocking it, a merge and erasure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_uses_every_action_of_the_customer_page() {
    if !available() {
        return;
    }
    let (_dir, server, otp) = demo_server();
    let b = Browser::start(&server.url(), Size::Desktop).await;
    first_sign_in(&b, "owner@test.bonuskassa.ru", &otp, "Korica-2026-sekret").await;

    let duplicate = open_customer(&b, "Орлов").await;
    let duplicate_id = duplicate.rsplit('/').next().unwrap().to_string();
    let ilya = open_customer(&b, "Петров").await;
    assert_ne!(ilya, duplicate);

    // The questionnaire.
    b.tick("details.questionnaire summary").await;
    b.fill(
        "form[action$='/questionnaire'] input[name=middle_name]",
        "Сергеевич",
    )
    .await;
    b.fill(
        "form[action$='/questionnaire'] input[name=email]",
        "ilya@example.ru",
    )
    .await;
    b.set_value(
        "form[action$='/questionnaire'] input[name=birth_date]",
        "1990-05-12",
    )
    .await;
    b.select("form[action$='/questionnaire'] select[name=gender]", "male")
        .await;
    b.click("form[action$='/questionnaire'] button[type=submit]")
        .await;
    let text = b.text().await;
    assert!(text.contains("Анкета сохранена"), "{text}");
    assert!(b.text_of("h1").await.contains("Петров Илья Сергеевич"));
    assert!(
        text.contains("12.05.1990") && text.contains("ilya@example.ru"),
        "{text}"
    );

    // A bad e-mail is named by the server (the browser's own check turned off), nothing
    // is saved.
    b.tick("details.questionnaire summary").await;
    b.client
        .execute(
            "document.querySelector(\"form[action$='/questionnaire']\").noValidate = true;",
            vec![],
        )
        .await
        .unwrap();
    b.set_value(
        "form[action$='/questionnaire'] input[name=email]",
        "not-an-address",
    )
    .await;
    b.click("form[action$='/questionnaire'] button[type=submit]")
        .await;
    let text = b.text().await;
    assert!(text.contains("email: give an e-mail address"), "{text}");
    assert!(text.contains("ilya@example.ru"), "{text}");

    // Consents: advertising withdrawn.
    b.tick("details.consents summary").await;
    b.select(
        "form[action$='/consents'] select[name=advertising]",
        "false",
    )
    .await;
    b.click("form[action$='/consents'] button[type=submit]")
        .await;
    assert!(b.text().await.contains("Согласия сохранены"));
    assert!(b.text_of("table.consents").await.contains("отозвано"));

    // The status, by hand, with a reason.
    b.tick("details.status summary").await;
    b.select("form[action$='/status'] select[name=status]", "Золотая")
        .await;
    b.fill(
        "form[action$='/status'] input[name=reason]",
        "Постоянный гость",
    )
    .await;
    b.click("form[action$='/status'] button[type=submit]").await;
    assert!(b.text().await.contains("Статус карты изменён"));
    assert_eq!(b.text_of("dd.status").await, "Золотая");
    assert!(
        b.text_of("table.statuses")
            .await
            .contains("Постоянный гость")
    );

    // A new virtual card, then blocked as lost.
    b.tick("details.replace summary").await;
    b.fill(
        "form[action$='/replace-card'] input[name=reason]",
        "Выдана карта",
    )
    .await;
    b.click("form[action$='/replace-card'] button[type=submit]")
        .await;
    assert!(b.text().await.contains("Карта заменена"));
    let card = b.text_of("dd.card-number").await;
    assert_eq!(card.len(), 13, "an EAN-13 virtual card: {card}");
    b.tick("details.block summary").await;
    b.fill("form[action$='/block-card'] input[name=reason]", "Утеряна")
        .await;
    b.click_confirmed("form[action$='/block-card'] button[type=submit]")
        .await;
    assert!(b.text().await.contains("Карта заблокирована"));
    assert_eq!(b.text_of("dd.card-number").await, "—");
    let blocked = b.text_of("table.blocked").await;
    assert!(
        blocked.contains(&card) && blocked.contains("Утеряна"),
        "{blocked}"
    );

    // A merge of the duplicate (the owner only).
    b.tick("details.merge summary").await;
    b.fill(
        "form[action$='/merge'] input[name=duplicate_id]",
        &duplicate_id,
    )
    .await;
    b.click_confirmed("form[action$='/merge'] button[type=submit]")
        .await;
    assert!(b.text().await.contains("Записи объединены"));
    b.goto(&duplicate).await;
    assert!(b.text().await.contains("Запись объединена с другой"));
    assert!(
        !b.has("div.actions").await,
        "a merged record takes no changes"
    );

    // Erasure on request, confirmed.
    let anna = open_customer(&b, "+7 999 000-00-03").await;
    b.tick("details.erase summary").await;
    b.tick("form[action$='/erase'] input[name=confirm]").await;
    b.click_confirmed("form[action$='/erase'] button[type=submit]")
        .await;
    assert_eq!(b.path().await, anna);
    let text = b.text().await;
    assert!(
        text.contains("Персональные данные клиента удалены"),
        "{text}"
    );
    assert!(!text.contains("Мельникова"), "{text}");
    assert!(!text.contains("000-00-03"), "{text}");
    assert!(!b.has("div.actions").await);
    b.close().await;
}
