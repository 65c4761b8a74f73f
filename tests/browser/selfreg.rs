//! The customer's page in chromium on a phone-sized window: a customer registers from the
//! till's QR code, reads the SMS code from the log gateway's inbox, gets the card, and the
//! QR code the browser drew — read back from the browser's own picture of it, as a camera
//! would — parses with the till's scanner parser as this customer's card.

use std::sync::Arc;

use bonuskassa::clock::SystemClock;
use bonuskassa::domain::card::CardFormat;
use bonuskassa::domain::scan::ScanPayload;
use bonuskassa::server::store::{self, CustomerKey};

use crate::common::server as srv;
use crate::harness::{Browser, Size, available};

/// The latest code the log gateway texted to `phone` (E.164).
async fn texted_code(server: &str, phone: &str) -> String {
    let inbox: serde_json::Value = reqwest::get(format!("{server}/api/v1/demo/sms"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = inbox["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["phone"] == phone)
        .and_then(|m| m["text"].as_str())
        .expect("a code was texted")
        .to_string();
    let code: String = text.chars().filter(char::is_ascii_digit).collect();
    assert_eq!(code.len(), 6, "{text}");
    code
}

/// Reads the QR code in a PNG picture, as a camera would: grey pixels, then the decoder.
fn read_qr(png_bytes: &[u8]) -> String {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let (w, h) = (info.width as usize, info.height as usize);
    let channels = info.line_size / w;
    let grey = |x: usize, y: usize| -> u8 {
        let p = &buf[y * info.line_size + x * channels..];
        match channels {
            1 | 2 => p[0],
            _ => ((u16::from(p[0]) + u16::from(p[1]) + u16::from(p[2])) / 3) as u8,
        }
    };
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, grey);
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the picture");
    let (_, content) = grids[0].decode().expect("the QR code decodes");
    content
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_registers_on_a_phone_and_the_till_reads_the_card() {
    if !available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = srv::demo(dir.path(), Arc::new(SystemClock), true);
    let b = Browser::start(&server.url(), Size::Phone).await;
    let phone = "+79995550201";

    // What the manager's QR code on the till opens.
    b.goto("/r/store-1").await;
    assert!(b.text().await.contains("Оформить карту"));
    assert!(
        !b.scrolls_sideways().await,
        "the phone page fits the window"
    );
    b.picture("r-phone").await;
    b.fill("input[name=phone]", "8 999 555-02-01").await;
    b.click("form.card button[type=submit]").await;
    assert_eq!(b.path().await, "/r/store-1/code", "{}", b.text().await);
    b.picture("r-code").await;

    let code = texted_code(&server.url(), phone).await;
    b.fill("input[name=code]", &code).await;
    b.click("form.card button[type=submit]").await;
    assert_eq!(b.path().await, "/r/store-1/consents", "{}", b.text().await);
    let consents = b.text().await;
    assert!(consents.contains("Согласие на обработку персональных данных (обязательно)"));
    assert!(consents.contains("Согласие на рекламные SMS (по желанию)"));
    assert!(!b.scrolls_sideways().await);
    b.picture("r-consents").await;

    b.tick("input[name=consent_processing]").await;
    b.fill("input[name=first_name]", "Алиса").await;
    b.click("form.card button[type=submit]").await;
    assert_eq!(b.path().await, "/r/store-1/card", "{}", b.text().await);
    let card = b.text().await;
    assert!(card.contains("Приветственные бонусы"), "{card}");
    assert!(!b.scrolls_sideways().await);
    b.picture("r-card").await;

    // The till scans the QR code the page shows: this customer's card.
    let qr = b.find(".qr svg").await.screenshot().await.unwrap();
    let payload = read_qr(&qr);
    let scanned = ScanPayload::parse(payload.as_bytes(), &CardFormat::default_formats())
        .expect("the till's scanner parser reads it");
    let number = scanned.as_card().expect("a card").as_str().to_string();
    let st = srv::open(dir.path());
    let customer = store::read(&*st, |r| r.customer(CustomerKey::Card(&number)))
        .unwrap()
        .expect("the card is a customer's");
    assert_eq!(customer.phone, phone);
    assert_eq!(customer.first_name.as_deref(), Some("Алиса"));
    let shown = format!("{} {} {}", &number[..1], &number[1..7], &number[7..]);
    assert!(card.contains(&shown), "the number under the codes: {card}");

    // «Моя карта» later: signed out, then in again with a code of its own.
    b.click("form[action='/r/store-1/signout'] button").await;
    assert_eq!(b.path().await, "/r/store-1/signin");
    b.picture("r-signin").await;
    b.fill("input[name=phone]", phone).await;
    b.click("form.card button[type=submit]").await;
    let shown = b.text().await;
    // The per-phone cooldown of a minute holds a second code back.
    assert!(shown.contains("только что отправлен"), "{shown}");
    b.close().await;
}
