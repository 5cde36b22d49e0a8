//! A client of the running system, shared by the demo, the load generator (`load`, `report`)
//! and the chaos suite that builds on them: place an order, wait for its saga to end.

pub mod load;
pub mod report;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use uuid::Uuid;

/// Where the system answers; read from the environment `.stack/env` (or compose) sets.
#[derive(Clone, Debug)]
pub struct Endpoints {
    pub order: String,
    /// Every order replica (`ORDER_URLS`, else `order` alone): `POST /orders` goes to each in turn.
    pub orders: Vec<String>,
    pub inventory: String,
    /// The gateway's own address, for its admin endpoint.
    pub gateway: String,
    /// The bearer token of the operator endpoints (stock, gateway faults): `ADMIN_TOKEN`.
    pub admin_token: Option<String>,
}

impl Endpoints {
    pub fn from_env() -> Self {
        Self::from_vars(|key| std::env::var(key).ok())
    }

    /// From the variables of `.stack/env` as `lookup` finds them; SPEC's ports where unset.
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let var = |key: &str, default: &str| lookup(key).unwrap_or_else(|| default.to_owned());
        let order = var("ORDER_URL", "http://127.0.0.1:8081");
        let orders = match lookup("ORDER_URLS") {
            Some(urls) => urls.split(',').map(str::to_owned).collect(),
            None => vec![order.clone()],
        };
        Self {
            order,
            orders,
            inventory: var("INVENTORY_URL", "http://127.0.0.1:8082"),
            gateway: var("PAYMENT_GATEWAY_URL", "http://127.0.0.1:8090"),
            admin_token: lookup("ADMIN_TOKEN"),
        }
    }
}

/// An order request for `quantity` of `sku`, paid with `card`, shipped to `country`.
pub fn order_request(sku: &str, quantity: i64, card: &str, country: &str) -> Value {
    json!({
        "customer_id": Uuid::now_v7(),
        "lines": [{"sku": sku, "quantity": quantity}],
        "card_token": card,
        "shipping_address": {
            "name": "Grace Hopper", "line1": "1 Navy Yard", "city": "Arlington",
            "postal_code": "22202", "country": country,
        },
    })
}

#[derive(Clone, Debug)]
pub struct Client {
    pub endpoints: Endpoints,
    http: reqwest::Client,
    /// How many orders were placed: the next one goes to `orders[placed % len]`.
    placed: Arc<AtomicUsize>,
}

impl Client {
    pub fn new(endpoints: Endpoints) -> Self {
        Self {
            endpoints,
            http: reqwest::Client::new(),
            placed: Arc::default(),
        }
    }

    /// Places an order with the next order replica; returns its id.
    pub async fn place(&self, body: &Value) -> anyhow::Result<Uuid> {
        let replicas = &self.endpoints.orders;
        let replica = &replicas[self.placed.fetch_add(1, Ordering::Relaxed) % replicas.len()];
        let response = self
            .http
            .post(format!("{replica}/orders"))
            .json(body)
            .send()
            .await?;
        let status = response.status();
        let answer: Value = response.json().await?;
        anyhow::ensure!(status == 202, "POST /orders answered {status}: {answer}");
        Ok(answer["id"].as_str().unwrap_or_default().parse()?)
    }

    pub async fn order(&self, id: Uuid) -> anyhow::Result<Value> {
        Ok(self
            .http
            .get(format!("{}/orders/{id}", self.endpoints.order))
            .send()
            .await?
            .json()
            .await?)
    }

    /// Polls the order until CONFIRMED or CANCELLED; returns it and how long that took.
    pub async fn wait_finished(
        &self,
        id: Uuid,
        patience: Duration,
    ) -> anyhow::Result<(Value, Duration)> {
        let started = Instant::now();
        loop {
            let order = self.order(id).await?;
            if matches!(order["status"].as_str(), Some("CONFIRMED" | "CANCELLED")) {
                return Ok((order, started.elapsed()));
            }
            anyhow::ensure!(
                started.elapsed() < patience,
                "order {id} still {} after {patience:?}",
                order["status"]
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn products(&self) -> anyhow::Result<Vec<Value>> {
        Ok(self
            .http
            .get(format!("{}/products", self.endpoints.inventory))
            .send()
            .await?
            .json()
            .await?)
    }

    pub async fn set_stock(&self, sku: &str, available: i64) -> anyhow::Result<()> {
        let url = format!("{}/products/{sku}/stock", self.endpoints.inventory);
        self.operator(self.http.put(url).json(&json!({"available": available})))
            .await
    }

    /// Sends an operator request with the admin token; an error names what the service answered.
    async fn operator(&self, request: reqwest::RequestBuilder) -> anyhow::Result<()> {
        let request = match &self.endpoints.admin_token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let response = request.send().await?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            anyhow::bail!("an operator endpoint answered {status}: {body} (is ADMIN_TOKEN set?)");
        }
        Ok(())
    }

    /// Sets the gateway's injected faults; `None` clears them.
    pub async fn gateway_faults(&self, faults: Option<Value>) -> anyhow::Result<()> {
        let url = format!("{}/admin/faults", self.endpoints.gateway);
        let request = match faults {
            Some(faults) => self.http.put(url).json(&faults),
            None => self.http.delete(url),
        };
        self.operator(request).await
    }
}
