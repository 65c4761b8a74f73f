//! The rig the till's integration tests share: a demo server on 127.0.0.1 (with the demo
//! SMS inbox), and a till enrolled against it with its secrets in keyring-core's mock store.
#![allow(dead_code)]

pub mod db;
pub mod panel;
pub mod receipts;
pub mod server;
pub mod ui;

#[allow(unused_imports)]
pub use receipts::{receipt, return_of};

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bonuskassa::clock::SystemClock;
use bonuskassa::secrets::{KeyringStore, SecretStore};
use bonuskassa::server::{RunningServer, ServerConfig};
use bonuskassa::sync::plan::Backoff;
use bonuskassa::sync::worker::{SyncOptions, SyncStatus};
use bonuskassa::terminal::{Terminal, TerminalConfig};
use chrono::Utc;

/// The self-registration page the rig's till shows as a QR code.
pub const SELF_REGISTRATION_URL: &str = "https://loyalty.example/join?store=store-1";

pub struct Rig {
    pub _dir: tempfile::TempDir,
    pub server_data: std::path::PathBuf,
    pub till_data: std::path::PathBuf,
    pub server: Option<RunningServer>,
    pub addr: std::net::SocketAddr,
    pub keyring: Arc<keyring_core::mock::Store>,
    pub server_clock: Arc<dyn bonuskassa::clock::Clock>,
}

pub fn server_config(data: &Path) -> ServerConfig {
    server::config(data, true)
}

impl Rig {
    pub fn new() -> Rig {
        Rig::with_server_clock(Arc::new(SystemClock))
    }

    /// A rig whose server reads `clock` (SMS expiry, bonus activation).
    pub fn with_server_clock(clock: Arc<dyn bonuskassa::clock::Clock>) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let server_data = dir.path().join("server");
        let server = server::demo(&server_data, clock.clone(), true);
        Rig {
            till_data: dir.path().join("till"),
            addr: server.addr,
            server: Some(server),
            server_data,
            keyring: keyring_core::mock::Store::new().unwrap(),
            server_clock: clock,
            _dir: dir,
        }
    }

    /// Another till of the chain against the same server: its own data dir and secret
    /// store. The server stays with `self`.
    pub fn another_till(&self) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        Rig {
            till_data: dir.path().join("till"),
            addr: self.addr,
            server: None,
            server_data: self.server_data.clone(),
            keyring: keyring_core::mock::Store::new().unwrap(),
            server_clock: self.server_clock.clone(),
            _dir: dir,
        }
    }

    pub fn secrets(&self) -> Arc<dyn SecretStore> {
        Arc::new(KeyringStore::with_store(self.keyring.clone()))
    }

    /// Opens secret stores as the real till does, but `keyring` is the rig's mock store.
    pub fn opener(&self) -> bonuskassa::setup::SecretsOpener {
        let keyring = self.keyring.clone();
        Arc::new(move |backend| match backend {
            bonuskassa::secrets::SecretBackend::Keyring => {
                Ok(Arc::new(KeyringStore::with_store(keyring.clone())) as Arc<dyn SecretStore>)
            }
            other => bonuskassa::secrets::open(other.clone()).map(Arc::from),
        })
    }

    pub fn config(&self) -> TerminalConfig {
        let mut c = TerminalConfig::new(
            &format!("http://{}", self.addr),
            "Касса 1",
            "keyring".parse().unwrap(),
        );
        c.timeout_ms = 400;
        c.self_registration_url = Some(SELF_REGISTRATION_URL.into());
        c.sync_timeout_s = 2;
        c
    }

    pub async fn enroll(&self, clock: Arc<dyn bonuskassa::clock::Clock>) -> Terminal {
        let code = server::enroll_code(&self.server_data, Utc::now());
        Terminal::enroll(&self.till_data, self.config(), self.secrets(), &code, clock)
            .await
            .unwrap()
    }

    /// Another till (its own data dir, secrets and `name`) enrolled at the rig's server,
    /// its cache loaded, a cashier logged in: a checkout session without a window.
    pub async fn other_till(&self, name: &str) -> bonuskassa::checkout::Session {
        use bonuskassa::checkout::{Action, Session};
        let clock: Arc<dyn bonuskassa::clock::Clock> = Arc::new(SystemClock);
        let code = server::enroll_code(&self.server_data, Utc::now());
        let secrets = Arc::new(KeyringStore::with_store(
            keyring_core::mock::Store::new().unwrap(),
        ));
        let mut config = self.config();
        config.name = name.into();
        let dir = self._dir.path().join(name);
        let terminal = Terminal::enroll(&dir, config, secrets, &code, clock.clone())
            .await
            .unwrap();
        let terminal = Arc::new(terminal);
        terminal.start_sync(quick_sync()).unwrap();
        // The demo's four customers, and any a test registered before.
        wait_for(&terminal, "the cache", |s| {
            s.cached_customers >= 4 && !s.cache.loading
        })
        .await;
        let mut s = Session::new(terminal, clock);
        s.act(Action::Login {
            code: "1111".into(),
        })
        .await;
        assert_eq!(s.problem(), None);
        s
    }

    /// Restarts the server on the demo rules with Серебряная also issuable by a cashier
    /// (seed 004): two statuses to pick from at registration.
    pub fn two_cashier_statuses(&mut self) {
        let demo = bonuskassa::server::admin::DEMO_RULES;
        let silver = "issue = { purchases_sum = \"20000\" }\n";
        assert!(demo.contains(silver));
        let text = demo.replace(silver, &format!("{silver}cashier_can_issue = true\n"));
        self.stop_server();
        let store = server::open(&self.server_data);
        bonuskassa::server::store::write(&*store, |tx| {
            bonuskassa::server::store_rules(tx, &text, Utc::now())
        })
        .unwrap();
        drop(store);
        self.start_server();
    }

    pub fn stop_server(&mut self) {
        self.server.take().unwrap().stop().unwrap();
    }

    pub fn start_server(&mut self) {
        self.server = Some(server::spawn_at(
            server_config(&self.server_data),
            self.server_clock.clone(),
            &self.addr.to_string(),
        ));
    }

    /// Spends every active bonus of the customer with this phone, as another till would
    /// have (through the server's ledger, with the server stopped or running).
    pub fn spend_elsewhere(&self, phone: &str) {
        use bonuskassa::server::ledger::{self, Source, Spend};
        use bonuskassa::server::store::{self, CustomerKey};
        let store = server::open(&self.server_data);
        let now = self.server_clock.now();
        store::write(&*store, |tx| {
            let c = tx.customer(CustomerKey::Phone(phone))?.unwrap();
            let amount = tx.balance(&c.id, now)?.active;
            let spend = Spend {
                customer_id: &c.id,
                amount,
                source: Source::Purchase,
                description: "Списание при оплате покупки",
                operation_id: None,
                actor: None,
            };
            Ok(ledger::spend(tx, &spend, now))
        })
        .unwrap()
        .unwrap();
    }

    /// A sale of `receipt` to the customer with this phone at another till of the chain
    /// ("Касса 7"), with the fiscal document of the receipt's fiscal QR code `qr`, applied
    /// at the server as that till's sync would.
    pub fn sell_at_another_till(&self, phone: &str, receipt: &serde_json::Value, qr: &str) {
        use bonuskassa::server::auth::Terminal as ServerTill;
        use bonuskassa::server::store::{self, CustomerKey};
        use bonuskassa::server::{admin, ops};
        let store = server::open(&self.server_data);
        let customer = store::read(&*store, |r| r.customer(CustomerKey::Phone(phone)))
            .unwrap()
            .unwrap();
        let fiscal = bonuskassa::domain::fiscal::FiscalData::from_qr(qr).unwrap();
        let op: bonuskassa::protocol::server::Operation =
            serde_json::from_value(serde_json::json!({
            // That till's sequence grows with each sale it makes here.
            "id": uuid::Uuid::now_v7().to_string(), "seq": Utc::now().timestamp_micros(), "at": Utc::now(),
            "cashier": "Кассир Анна", "body": { "kind": "sale", "customer_id": customer.id,
            "spend": "0", "receipt": receipt, "fiscal": fiscal } }))
            .unwrap();
        // That till is enrolled at the server, so the tills show its name.
        let token: &[u8] = b"till-elsewhere's token hash";
        store::write(&*store, |tx| {
            if tx.terminal_by_token(token)?.is_none() {
                tx.insert_terminal(&store::NewTerminal {
                    id: "till-elsewhere",
                    store_id: admin::DEMO_STORE,
                    name: "Касса 7",
                    token_hash: token,
                    enrolled_at: Utc::now(),
                })?;
            }
            Ok(())
        })
        .unwrap();
        let rules = bonuskassa::domain::rules::Rules::from_toml_str(admin::DEMO_RULES).unwrap();
        let till = ServerTill {
            id: "till-elsewhere".into(),
            store_id: admin::DEMO_STORE.into(),
        };
        let now = self.server_clock.now();
        let result = ops::apply_batch(&*store, &rules, &till, vec![op], || now)
            .unwrap()
            .remove(0);
        assert_eq!(
            result.status,
            bonuskassa::protocol::server::OperationStatus::Applied,
            "{result:?}"
        );
    }

    /// How many times the server applied an operation id (0 or 1, never more).
    pub fn applied(&self, id: &str) -> i64 {
        server::applied(&self.server_data, id)
    }
}

/// A JSON Schema validator (draft 2020-12, formats checked) for `schema`, whose `$ref`s
/// point into `components` of an OpenAPI document: the server's or the bridge's contract.
pub fn schema_validator(
    components: &serde_json::Value,
    schema: &serde_json::Value,
) -> Result<jsonschema::Validator, String> {
    let root = serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": components,
        "allOf": [schema],
    });
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&root)
        .map_err(|e| format!("the schema does not compile: {e}"))
}

/// Checks `instance` against `schema` (see [`schema_validator`]): every error, with where
/// it is in the instance.
pub fn check_schema(
    components: &serde_json::Value,
    schema: &serde_json::Value,
    instance: &serde_json::Value,
) -> Result<(), String> {
    let errors: Vec<String> = schema_validator(components, schema)?
        .iter_errors(instance)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The text of every file under `dir` (recursively), to check that a secret is in none.
pub fn text_of_files(dir: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            text.push_str(&text_of_files(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    text
}

pub fn quick_sync() -> SyncOptions {
    SyncOptions {
        backoff: Backoff {
            base: Duration::from_millis(20),
            max: Duration::from_millis(200),
        },
        probe_every: Duration::from_millis(200),
        ..SyncOptions::default()
    }
}

pub async fn wait_for(terminal: &Terminal, what: &str, ok: impl Fn(&SyncStatus) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status = terminal.status();
        if ok(&status) {
            return;
        }
        assert!(Instant::now() < deadline, "waiting for {what}: {status:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The last SMS code the demo inbox shows.
pub async fn last_sms_code(addr: std::net::SocketAddr) -> String {
    let inbox: serde_json::Value = reqwest::get(format!("http://{addr}/api/v1/demo/sms"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let messages = inbox["messages"].as_array().unwrap();
    let text = messages.last().unwrap()["text"].as_str().unwrap();
    let code: String = text.chars().filter(|c| c.is_ascii_digit()).collect();
    assert_eq!(code.len(), 6, "{text}");
    code
}

pub fn b(s: &str) -> bonuskassa::domain::money::Bonus {
    s.parse().unwrap()
}
