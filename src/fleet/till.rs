//! One simulated till, and the fleet of them driven at once: enroll, log in, pull the feed,
//! then sales, returns and registrations sent in batches and some of them sent again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::{Figures, FleetConfig, FleetError, TillResult, customer_phone};
use crate::protocol::server::{
    CalcRequest, EnrollRequest, LoginRequest, LookupRequest, OperationResult, OperationStatus,
    Secret,
};
use crate::server::admin;
use crate::store::Pending;
use crate::sync::client::{ClientError, ServerClient};
use crate::sync::plan::{self, Backoff, Decision};

pub(super) async fn drive(
    config: &FleetConfig,
    servers: &[String],
    codes: Vec<String>,
    figures: Arc<Figures>,
) -> Result<Vec<TillResult>, FleetError> {
    let permits = Arc::new(tokio::sync::Semaphore::new(config.concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, code) in codes.into_iter().enumerate() {
        let till = Till {
            n: i,
            server: servers[i % servers.len()].clone(),
            code,
            config: config.clone(),
            figures: figures.clone(),
            rng: StdRng::seed_from_u64(config.seed.wrapping_mul(1_000_003) + i as u64),
        };
        let permits = permits.clone();
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            till.run().await
        });
    }
    let mut out = Vec::with_capacity(config.tills);
    while let Some(joined) = tasks.join_next().await {
        out.push(joined.map_err(|e| FleetError::Till {
            till: usize::MAX,
            what: format!("the task failed: {e}"),
        })??);
    }
    Ok(out)
}

/// One simulated till.
struct Till {
    n: usize,
    server: String,
    code: String,
    config: FleetConfig,
    figures: Arc<Figures>,
    rng: StdRng,
}

/// A sale this till made, for a later return.
struct Sold {
    receipt: String,
    quantity: u32,
}

/// Goods of the simulated shop: name, category, price.
const GOODS: [(&str, &str, &str); 6] = [
    ("Капучино", "coffee", "250.00"),
    ("Латте", "coffee", "270.00"),
    ("Круассан", "bakery", "180.00"),
    ("Сырники", "food", "320.00"),
    ("Лимонад", "bar", "210.00"),
    ("Сэндвич", "food", "360.00"),
];

impl Till {
    fn fail(&self, what: impl std::fmt::Display) -> FleetError {
        FleetError::Till {
            till: self.n,
            what: what.to_string(),
        }
    }

    /// Times one call and keeps its latency.
    async fn timed<T>(
        &self,
        endpoint: &'static str,
        call: impl std::future::Future<Output = Result<T, ClientError>>,
    ) -> Result<T, ClientError> {
        let started = Instant::now();
        let out = call.await;
        self.figures.add(endpoint, started.elapsed());
        out
    }

    /// A call retried as the till's worker retries: transient failures again, with a short
    /// backoff; a refusal the server explained is returned.
    async fn call<T, F, Fut>(&self, endpoint: &'static str, f: F) -> Result<T, FleetError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, ClientError>>,
    {
        for attempt in 0..20u32 {
            match self.timed(endpoint, f()).await {
                Ok(v) => return Ok(v),
                Err(e) if e.is_offline() => {
                    tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt + 1))).await;
                }
                Err(e) => return Err(self.fail(format!("{endpoint}: {e}"))),
            }
        }
        Err(self.fail(format!("{endpoint}: no answer after 20 tries")))
    }

    async fn run(mut self) -> Result<TillResult, FleetError> {
        let timeout = Duration::from_secs(60);
        let anonymous =
            ServerClient::new(&self.server, "", None, timeout).map_err(|e| self.fail(e))?;
        let enroll = EnrollRequest {
            code: Secret(self.code.clone()),
            name: format!("Касса {}", self.n + 1),
        };
        let enrolled = self.call("enroll", || anonymous.enroll(&enroll)).await?;
        let client = anonymous.with_token(enrolled.token.expose());
        let login = LoginRequest {
            code: Secret(admin::DEMO_CASHIER_CODE.into()),
        };
        let cashier = self.call("cashiers/login", || client.login(&login)).await?;

        // The customer feed, page by page, as a till fills its cache.
        let mut since = 0;
        loop {
            let page = self
                .call("feed/customers", || client.customer_feed(since, 1000))
                .await?;
            since = page.cursor;
            if !page.more {
                break;
            }
        }

        let mut result = TillResult::default();
        let mut queue: Vec<Pending> = Vec::new();
        let mut sold: Vec<Sold> = Vec::new();
        let mut receipt_no = 0u32;
        for seq in 1..=self.config.ops_per_till as u64 {
            let id = uuid::Uuid::now_v7().to_string();
            let roll: f64 = self.rng.random();
            let body = if roll < 0.15 && !sold.is_empty() {
                self.return_body(&mut sold, &mut receipt_no)
            } else if roll < 0.30 {
                self.registration_body(&client, seq).await?
            } else {
                self.sale_body(&client, &mut sold, &mut receipt_no).await?
            };
            let op = json!({ "id": id, "seq": seq, "at": Utc::now(), "cashier": cashier.name,
                             "cashier_id": cashier.cashier_id, "body": body });
            queue.push(Pending {
                seq,
                id: id.clone(),
                payload: op.to_string(),
            });
            result.ids.push(id);
            if queue.len() >= self.config.batch {
                self.send(&client, &mut queue, &mut result).await?;
            }
        }
        while !queue.is_empty() {
            self.send(&client, &mut queue, &mut result).await?;
        }
        Ok(result)
    }

    /// A sale to a random customer: looked up, calculated with a spend of up to the
    /// maximum, as the cashier applies it.
    async fn sale_body(
        &mut self,
        client: &ServerClient,
        sold: &mut Vec<Sold>,
        receipt_no: &mut u32,
    ) -> Result<serde_json::Value, FleetError> {
        let phone = customer_phone(self.rng.random_range(0..self.config.customers.max(1)));
        let lookup = LookupRequest {
            phone: Some(Secret(phone)),
            ..LookupRequest::default()
        };
        let customer = self
            .call("customers/lookup", || client.lookup(&lookup))
            .await?;
        *receipt_no += 1;
        let receipt_id = receipt_no.to_string();
        let (name, category, price) = GOODS[self.rng.random_range(0..GOODS.len())];
        let quantity = self.rng.random_range(1..=3u32);
        let receipt: crate::domain::receipt::Receipt = serde_json::from_value(json!({
            "id": receipt_id, "kind": "sale", "at": now_in_moscow(),
            "positions": [ { "id": "1", "name": name, "category": category, "price": price,
                             "quantity": quantity.to_string(), "measure": "piece" } ] }))
        .map_err(|e| self.fail(e))?;
        let first = CalcRequest {
            customer_id: customer.id.clone(),
            receipt: receipt.clone(),
            spend: Default::default(),
            hold: None,
        };
        let quote = self.call("calc", || client.calc(&first)).await?;
        let max = quote.calculation.max_spend.amount();
        let spend = if max.is_zero() || self.rng.random_bool(0.4) {
            rust_decimal::Decimal::ZERO
        } else {
            (max * rust_decimal::Decimal::from(self.rng.random_range(1..=100u32))
                / rust_decimal::Decimal::from(100))
            .floor()
        };
        let spend: crate::domain::money::Bonus =
            spend.to_string().parse().map_err(|e| self.fail(e))?;
        let applied = CalcRequest { spend, ..first };
        self.call("calc", || client.calc(&applied)).await?;
        sold.push(Sold {
            receipt: receipt_id,
            quantity,
        });
        Ok(
            json!({ "kind": "sale", "customer_id": customer.id, "receipt": receipt, "spend": spend }),
        )
    }

    /// A return of one unit of an earlier sale of this till.
    fn return_body(&mut self, sold: &mut [Sold], receipt_no: &mut u32) -> serde_json::Value {
        let i = self.rng.random_range(0..sold.len());
        let original = &mut sold[i];
        *receipt_no += 1;
        let quantity = if original.quantity > 0 { 1 } else { 2 };
        original.quantity = original.quantity.saturating_sub(1);
        json!({ "kind": "return", "receipt": {
            "id": receipt_no.to_string(), "kind": "return", "at": now_in_moscow(),
            "original_receipt": original.receipt,
            "positions": [ { "id": "1", "price": "1.00", "quantity": quantity.to_string() } ] } })
    }

    /// A walk-in registered «Без кода»: the lookup finds nobody first.
    async fn registration_body(
        &mut self,
        client: &ServerClient,
        seq: u64,
    ) -> Result<serde_json::Value, FleetError> {
        let phone = format!("+7999{:07}", 8_000_000 + self.n * 100 + seq as usize);
        let lookup = LookupRequest {
            phone: Some(Secret(phone.clone())),
            ..LookupRequest::default()
        };
        let started = Instant::now();
        let found = client.lookup(&lookup).await;
        self.figures.add("customers/lookup", started.elapsed());
        if found.is_ok() {
            return Err(self.fail("a new phone was found before it was registered"));
        }
        Ok(
            json!({ "kind": "registration", "customer_id": uuid::Uuid::now_v7().to_string(),
                   "phone": phone, "consent_processing": true, "consent_advertising": false,
                   "questionnaire": { "first_name": "Гость" } }),
        )
    }

    /// Sends the queue's head as the till's worker does, until every operation in it is
    /// answered; sometimes sends an answered batch again, as after a lost answer.
    async fn send(
        &mut self,
        client: &ServerClient,
        queue: &mut Vec<Pending>,
        result: &mut TillResult,
    ) -> Result<(), FleetError> {
        let backoff = Backoff {
            base: Duration::from_millis(50),
            max: Duration::from_secs(2),
        };
        let mut attempt = 0;
        let mut size = queue.len().min(self.config.batch.max(1));
        loop {
            let batch: Vec<Pending> = queue[..size].to_vec();
            let sent: Vec<String> = batch.iter().map(|p| p.id.clone()).collect();
            let started = Instant::now();
            let outcome = client.send_batch(&batch).await;
            self.figures.add("operations", started.elapsed());
            let jitter: f64 = self.rng.random();
            match plan::decide(&sent, size, outcome, attempt, jitter, backoff) {
                Decision::Record { answers, .. } => {
                    let mut done = Vec::new();
                    for a in &answers {
                        match a.status {
                            OperationStatus::Applied => result.applied += 1,
                            OperationStatus::Rejected => result.rejected += 1,
                            OperationStatus::Duplicate => {
                                // A resend after a timeout: the original answer counts.
                                match original_status(a) {
                                    Some(OperationStatus::Applied) => result.applied += 1,
                                    Some(OperationStatus::Rejected) => result.rejected += 1,
                                    _ => result.resend_mismatches += 1,
                                }
                            }
                        }
                        done.push(a.id.clone());
                    }
                    if self
                        .rng
                        .random_bool(self.config.lost_answers.clamp(0.0, 1.0))
                    {
                        self.resend(client, &batch, &answers, result).await;
                    }
                    queue.retain(|p| !done.contains(&p.id));
                    return Ok(());
                }
                Decision::Retry { after, batch } => {
                    attempt += 1;
                    size = batch.clamp(1, queue.len());
                    if attempt > 30 {
                        return Err(self.fail("operations: no answer after 30 tries"));
                    }
                    tokio::time::sleep(after).await;
                }
                Decision::Pause(reason) => {
                    return Err(self.fail(format!("the queue paused: {reason:?}")));
                }
            }
        }
    }

    /// The batch again, as if its answer had been lost: every operation must come back
    /// `duplicate`, carrying the first answer.
    async fn resend(
        &self,
        client: &ServerClient,
        batch: &[Pending],
        first: &[OperationResult],
        result: &mut TillResult,
    ) {
        result.resent_batches += 1;
        let started = Instant::now();
        let outcome = client.send_batch(batch).await;
        self.figures.add("operations (resent)", started.elapsed());
        let plan::Outcome::Answered(again) = outcome else {
            // Not answered this time: a real till would simply send it once more later.
            return;
        };
        for f in first {
            let same = again
                .results
                .iter()
                .find(|a| a.id == f.id)
                .is_some_and(|a| {
                    a.status == OperationStatus::Duplicate
                        && (original(a).as_ref() == Some(f)
                            || (f.status == OperationStatus::Duplicate && a.answer == f.answer))
                });
            if !same {
                result.resend_mismatches += 1;
            }
        }
    }
}

/// The original answer a `duplicate` carries.
fn original(a: &OperationResult) -> Option<OperationResult> {
    a.answer
        .as_ref()
        .and_then(|v| serde_json::from_value(v.clone()).ok())
}

fn original_status(a: &OperationResult) -> Option<OperationStatus> {
    original(a).map(|o| o.status)
}

/// Now, as a Moscow register writes it.
fn now_in_moscow() -> String {
    let offset = chrono::FixedOffset::east_opt(3 * 3600).expect("a valid offset");
    let now: DateTime<Utc> = Utc::now();
    now.with_timezone(&offset).to_rfc3339()
}
