use clap::Parser;
use payment_gateway::{Application, Config};
use platform::Shutdown;
use serde_json::{Value, json};
use testkit::TestDatabase;
use uuid::Uuid;

/// A running payment-gateway on a free port with a fresh ledger, stopped when dropped.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    /// Held so the database lives as long as the app.
    _database: TestDatabase,
    shutdown: Shutdown,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    /// With its operator endpoints behind `testkit::ADMIN_TOKEN`.
    pub async fn spawn() -> Self {
        Self::spawn_with_admin_token(Some(testkit::ADMIN_TOKEN)).await
    }

    pub async fn spawn_with_admin_token(token: Option<&str>) -> Self {
        let database = TestDatabase::create().await.expect("a test database");
        let database_url = database.direct_url("gateway");
        let mut args = vec![
            "payment-gateway",
            "--http-addr",
            "127.0.0.1:0",
            "--database-url",
            &database_url,
        ];
        args.extend(
            token
                .map(|token| ["--admin-token", token])
                .into_iter()
                .flatten(),
        );
        let config = Config::parse_from(args);
        let application = Application::build(config)
            .await
            .expect("the service builds");
        let address = format!("http://127.0.0.1:{}", application.port());
        let shutdown = Shutdown::new();
        let server = tokio::spawn(application.run_until_stopped(shutdown.clone()));
        Self {
            address,
            client: reqwest::Client::new(),
            _database: database,
            shutdown,
            server: Some(server),
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request sent")
    }

    pub async fn post_charge(&self, key: &str, body: &Value) -> reqwest::Response {
        self.post("/v1/charges", Some(key), body).await
    }

    pub async fn post_refund(&self, key: &str, body: &Value) -> reqwest::Response {
        self.post("/v1/refunds", Some(key), body).await
    }

    pub async fn post(&self, path: &str, key: Option<&str>, body: &Value) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}{path}", self.address))
            .json(body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        request.send().await.expect("request sent")
    }

    /// A request to an operator endpoint, with the admin token.
    pub fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.address))
            .bearer_auth(testkit::ADMIN_TOKEN)
    }

    pub async fn put_faults(&self, body: &Value) -> reqwest::Response {
        self.admin(reqwest::Method::PUT, "/admin/faults")
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn charges_of(&self, order_id: Uuid) -> Vec<Value> {
        self.get(&format!("/v1/charges?order_id={order_id}"))
            .await
            .json()
            .await
            .unwrap()
    }

    /// Triggers shutdown and waits for the server to drain and return.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.trigger();
        self.server.take().expect("running").await?
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

pub fn charge(order_id: Uuid, card_token: &str) -> Value {
    json!({"order_id": order_id, "amount_cents": 2500, "currency": "EUR", "card_token": card_token})
}
