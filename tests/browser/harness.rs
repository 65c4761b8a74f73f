//! A chromium under chromedriver for one test, and the few things tests do with it.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The two sizes every page is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// A laptop: 1280×800.
    Desktop,
    /// A phone: 390 px wide.
    Phone,
}

impl Size {
    fn pixels(self) -> (u32, u32) {
        match self {
            Size::Desktop => (1280, 800),
            Size::Phone => (390, 844),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Size::Desktop => "desktop",
            Size::Phone => "phone",
        }
    }
}

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    base: String,
    size: Size,
}

/// Whether this machine can run the browser tests; a missing browser fails only when
/// `BONUSKASSA_REQUIRE_BROWSER` is set.
pub fn available() -> bool {
    let there = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if !there {
        assert!(
            std::env::var_os("BONUSKASSA_REQUIRE_BROWSER").is_none(),
            "BONUSKASSA_REQUIRE_BROWSER is set but {CHROMIUM} or {CHROMEDRIVER} is missing \
             (apt-get install chromium chromium-driver)"
        );
        eprintln!("skipped: no {CHROMIUM} and {CHROMEDRIVER} on this machine");
    }
    there
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    /// A fresh chromium (its own profile) looking at `base`, the server's address.
    pub async fn start(base: &str, size: Size) -> Browser {
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().unwrap();
        let (w, h) = size.pixels();
        let args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--no-first-run".into(),
            "--hide-scrollbars".into(),
            "--lang=ru-RU".into(),
            format!("--window-size={w},{h}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = serde_json::json!({
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": args,
                "mobileEmulation": if size == Size::Phone {
                    serde_json::json!({"deviceMetrics": {"width": w, "height": h, "pixelRatio": 1.0, "touch": true}})
                } else {
                    serde_json::Value::Null
                },
            }
        });
        let mut caps: serde_json::Map<String, serde_json::Value> =
            serde_json::from_value(caps).unwrap();
        if size == Size::Desktop {
            caps["goog:chromeOptions"]
                .as_object_mut()
                .unwrap()
                .remove("mobileEmulation");
        }
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("chromedriver on {url} gave no session: {e}"),
            }
        };
        Browser {
            client,
            driver,
            _profile: profile,
            base: base.trim_end_matches('/').to_string(),
            size,
        }
    }

    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
    }

    /// The path of the page shown now.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        url.path().to_string()
    }

    pub async fn find(&self, css: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(e) => e,
            Err(e) => panic!("no {css} on {}: {e}", self.path().await),
        }
    }

    pub async fn has(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    /// Types into a field (after clearing it).
    pub async fn fill(&self, css: &str, value: &str) {
        let e = self.find(css).await;
        e.clear().await.unwrap();
        e.send_keys(value).await.unwrap();
    }

    /// Sets a text area's or field's value at once (long texts type slowly).
    pub async fn set_value(&self, css: &str, value: &str) {
        let e = self.find(css).await;
        self.client
            .execute(
                "arguments[0].value = arguments[1];",
                vec![serde_json::to_value(&e).unwrap(), value.into()],
            )
            .await
            .unwrap();
    }

    pub async fn select(&self, css: &str, value: &str) {
        self.find(css)
            .await
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("select {value} in {css}: {e}"));
    }

    /// Clicks what leads to another page and waits until the next page is there.
    pub async fn click(&self, css: &str) {
        let old = self.find("html").await;
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
        self.wait_for_new_page(old, css).await;
    }

    /// Clicks something that stays on the page (a check box).
    pub async fn tick(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    async fn wait_for_new_page(&self, old: Element, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        // The old document's root goes stale when the next document replaces it.
        while old.tag_name().await.is_ok() {
            assert!(Instant::now() < deadline, "{what} led to no new page");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.find("body").await;
    }

    /// Clicks and answers the page's «are you sure?» with yes.
    pub async fn click_confirmed(&self, css: &str) {
        let old = self.find("html").await;
        self.tick(css).await;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match self.client.accept_alert().await {
                Ok(()) => break,
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Err(e) => panic!("no confirmation after clicking {css}: {e}"),
            }
        }
        self.wait_for_new_page(old, css).await;
    }

    /// The visible text of the page.
    pub async fn text(&self) -> String {
        self.find("body").await.text().await.unwrap()
    }

    pub async fn text_of(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    /// Whether the page is wider than the window (a phone page must never be).
    pub async fn scrolls_sideways(&self) -> bool {
        let v = self
            .client
            .execute(
                "return document.documentElement.scrollWidth > window.innerWidth + 1;",
                vec![],
            )
            .await
            .unwrap();
        v.as_bool().unwrap_or(true)
    }

    /// Saves a picture of the page as `DIR/NAME-SIZE.png` when `BONUSKASSA_SCREENSHOTS=DIR`.
    pub async fn picture(&self, name: &str) {
        let Some(dir) = std::env::var_os("BONUSKASSA_SCREENSHOTS") else {
            return;
        };
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        let png = self.full_page_png().await;
        std::fs::write(dir.join(format!("{name}-{}.png", self.size.name())), png).unwrap();
    }

    /// The whole page, not only the window: the window is stretched to the page's height.
    async fn full_page_png(&self) -> Vec<u8> {
        let (w, h) = self.size.pixels();
        let height = self
            .client
            .execute("return document.documentElement.scrollHeight;", vec![])
            .await
            .unwrap()
            .as_u64()
            .unwrap_or(h as u64)
            .clamp(h as u64, 4000) as u32;
        if self.size == Size::Desktop {
            self.client.set_window_size(w, height + 140).await.unwrap();
        }
        let png = self.client.screenshot().await.unwrap();
        if self.size == Size::Desktop {
            self.client.set_window_size(w, h).await.unwrap();
        }
        png
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}
