//! The whole system in one test process: the five services on free ports, each with its own
//! role and schema in one fresh database, Kafka and Postgres through the test's proxies, the
//! gateway through a `payment_gateway` proxy.

use std::time::Duration;

use clap::Parser;
use platform::Shutdown;
use serde_json::{Value, json};
use sqlx::PgPool;
use testkit::TestEnv;
use tokio::task::JoinHandle;
use uuid::Uuid;

pub struct System {
    pub env: TestEnv,
    pub order: String,
    pub inventory: String,
    pub payment: String,
    pub shipping: String,
    pub notification: String,
    /// The gateway itself (admin and audit), not the proxy.
    pub gateway: String,
    pub http: reqwest::Client,
    /// Superuser access to every schema, for checking each service's state.
    pub admin: PgPool,
    /// Each service's own stop signal and task, by name.
    services: Services,
    /// The payment service's arguments, to start it again.
    payment_args: Vec<String>,
}

/// Deadlines short enough for a test.
pub struct Deadlines {
    pub saga_secs: u64,
    pub payment_secs: u64,
}

impl Default for Deadlines {
    fn default() -> Self {
        Self {
            saga_secs: 60,
            payment_secs: 45,
        }
    }
}

/// Builds participant `S` with `args` and runs it on a free port; returns its address.
async fn start<S: participant::Service>(services: &mut Services, args: &[&str]) -> String {
    let participant = participant::participant::<S>().unwrap();
    let mut all = vec![participant.name, "--http-addr", "127.0.0.1:0"];
    all.extend(args);
    let config = participant::parse_from::<S::Config, _, _>(participant, all).unwrap();
    let app = participant::Application::build::<S>(config)
        .await
        .expect("the service builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let shutdown = Shutdown::new();
    let task = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    services.push((participant.name, shutdown, task));
    address
}

type Services = Vec<(&'static str, Shutdown, JoinHandle<anyhow::Result<()>>)>;

impl System {
    pub async fn start(deadlines: Deadlines) -> Self {
        // `RUST_LOG=info cargo test -p chaos --test system` shows what the services log.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let env = TestEnv::start().await;
        let mut services = Services::new();
        let brokers = env.kafka_brokers().to_owned();
        let gateway_db = env.database.direct_url("gateway");
        let gateway = {
            let config = payment_gateway::Config::parse_from([
                "payment-gateway",
                "--http-addr",
                "127.0.0.1:0",
                "--database-url",
                &gateway_db,
                "--admin-token",
                testkit::ADMIN_TOKEN,
            ]);
            let app = payment_gateway::Application::build(config).await.unwrap();
            let shutdown = Shutdown::new();
            let address = format!("http://127.0.0.1:{}", app.port());
            let task = tokio::spawn(app.run_until_stopped(shutdown.clone()));
            services.push(("payment-gateway", shutdown, task));
            address
        };
        let gateway_proxy = env
            .add_proxy("payment_gateway", gateway.trim_start_matches("http://"))
            .await
            .unwrap();
        let (saga, payment_deadline) = (
            deadlines.saga_secs.to_string(),
            deadlines.payment_secs.to_string(),
        );
        let db = |role: &str| env.database_url(role);
        let (order_db, inventory_db, payment_db, shipping_db, notification_db) = (
            db("order"),
            db("inventory"),
            db("payment"),
            db("shipping"),
            db("notification"),
        );
        let gateway_url = format!("http://{gateway_proxy}");
        let inventory = start::<inventory::Inventory>(
            &mut services,
            &[
                "--database-url",
                &inventory_db,
                "--kafka-brokers",
                &brokers,
                "--admin-token",
                testkit::ADMIN_TOKEN,
            ],
        )
        .await;
        let payment = start::<payment::Payment>(
            &mut services,
            &[
                "--database-url",
                &payment_db,
                "--kafka-brokers",
                &brokers,
                "--gateway-url",
                &gateway_url,
                "--deadline-secs",
                &payment_deadline,
            ],
        )
        .await;
        let shipping = start::<shipping::Shipping>(
            &mut services,
            &["--database-url", &shipping_db, "--kafka-brokers", &brokers],
        )
        .await;
        let notification = start::<notification::Notification>(
            &mut services,
            &[
                "--database-url",
                &notification_db,
                "--kafka-brokers",
                &brokers,
            ],
        )
        .await;
        let order = start::<order::Order>(
            &mut services,
            &[
                "--database-url",
                &order_db,
                "--kafka-brokers",
                &brokers,
                "--saga-deadline-secs",
                &saga,
            ],
        )
        .await;
        let payment_args = [
            "--database-url",
            &payment_db,
            "--kafka-brokers",
            &brokers,
            "--gateway-url",
            &gateway_url,
            "--deadline-secs",
            &payment_deadline,
        ]
        .map(str::to_owned)
        .to_vec();
        let admin = PgPool::connect(&env.admin_url()).await.unwrap();
        let system = Self {
            env,
            order,
            inventory,
            payment,
            shipping,
            notification,
            gateway,
            http: reqwest::Client::new(),
            admin,
            services,
            payment_args,
        };
        system.wait_ready().await;
        system
    }

    /// Waits until every consuming service is ready (its consumer has joined its group), so a
    /// test's first order does not race the joins: tests with short deadlines depend on it.
    async fn wait_ready(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        for service in [
            &self.order,
            &self.inventory,
            &self.payment,
            &self.shipping,
            &self.notification,
        ] {
            loop {
                let response = self.http.get(format!("{service}/readyz")).send().await;
                if response.is_ok_and(|r| r.status().is_success()) {
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{service} not ready in 60 s"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    /// Stops the payment service (draining, as on SIGTERM) and starts it again after `down`.
    pub async fn restart_payment(&mut self, down: Duration) {
        let index = self
            .services
            .iter()
            .position(|(name, _, _)| *name == "payment")
            .unwrap();
        let (_, shutdown, task) = self.services.remove(index);
        shutdown.trigger();
        task.await.unwrap().unwrap();
        tokio::time::sleep(down).await;
        let args: Vec<&str> = self.payment_args.iter().map(String::as_str).collect();
        self.payment = start::<payment::Payment>(&mut self.services, &args).await;
    }

    /// Stops every service and waits for each to drain.
    pub async fn stop(self) {
        for (_, shutdown, _) in &self.services {
            shutdown.trigger();
        }
        for (_, _, task) in self.services {
            task.await.unwrap().unwrap();
        }
    }

    pub async fn place(&self, body: &Value) -> Uuid {
        let response = self
            .http
            .post(format!("{}/orders", self.order))
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202, "{body}");
        let order: Value = response.json().await.unwrap();
        order["id"].as_str().unwrap().parse().unwrap()
    }

    pub async fn get(&self, url: String) -> Value {
        self.http
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Waits until the order is CONFIRMED or CANCELLED (90 s at most) and returns it.
    pub async fn finished(&self, id: Uuid) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
        loop {
            let order = self.get(format!("{}/orders/{id}", self.order)).await;
            if order["status"] == "CONFIRMED" || order["status"] == "CANCELLED" {
                return order;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "order {id} stuck: {order}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The customer's notice of order `id` (10 s at most: it follows the order's end).
    pub async fn notice(&self, id: Uuid) -> Value {
        let url = format!("{}/notifications/{id}", self.notification);
        for _ in 0..50 {
            let response = self.http.get(&url).send().await.unwrap();
            if response.status() == 200 {
                return response.json().await.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("no notice of order {id}");
    }

    pub async fn set_stock(&self, sku: &str, available: i64) {
        let response = self
            .http
            .put(format!("{}/products/{sku}/stock", self.inventory))
            .json(&json!({"available": available}))
            .bearer_auth(testkit::ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }

    pub async fn gateway_faults(&self, faults: Value) {
        let response = self
            .http
            .put(format!("{}/admin/faults", self.gateway))
            .json(&faults)
            .bearer_auth(testkit::ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }

    /// What every service holds for `order_id`, for checking they agree.
    pub async fn facts(&self, order_id: Uuid) -> Facts {
        let scalar = |sql: &'static str| {
            let admin = self.admin.clone();
            async move {
                sqlx::query_scalar::<_, String>(sql)
                    .bind(order_id)
                    .fetch_optional(&admin)
                    .await
                    .unwrap()
            }
        };
        let captured: i64 = sqlx::query_scalar(
            "select coalesce(sum(amount_cents), 0)::bigint from gateway.charges where order_id = $1 and status = 'captured'",
        )
        .bind(order_id)
        .fetch_one(&self.admin)
        .await
        .unwrap();
        let refunded: i64 = sqlx::query_scalar(
            "select coalesce(sum(r.amount_cents), 0)::bigint from gateway.refunds r
             join gateway.charges c on c.id = r.charge_id where c.order_id = $1",
        )
        .bind(order_id)
        .fetch_one(&self.admin)
        .await
        .unwrap();
        let captures: i64 = sqlx::query_scalar(
            "select count(*) from gateway.charges where order_id = $1 and status = 'captured'",
        )
        .bind(order_id)
        .fetch_one(&self.admin)
        .await
        .unwrap();
        Facts {
            reservation: scalar("select status from inventory.reservations where order_id = $1")
                .await,
            payment: scalar("select status from payment.payments where order_id = $1").await,
            shipment: scalar("select status from shipping.shipments where order_id = $1").await,
            captures,
            captured_minus_refunded: captured - refunded,
        }
    }

    /// Stock conservation for `sku`: reserved and committed match the reservations that hold
    /// them, and nothing went negative (the table's constraints). Returns available + reserved +
    /// committed.
    pub async fn stock_total(&self, sku: &str) -> i64 {
        let (available, reserved, committed): (i32, i32, i32) = sqlx::query_as(
            "select available, reserved, committed from inventory.products where sku = $1",
        )
        .bind(sku)
        .fetch_one(&self.admin)
        .await
        .unwrap();
        let held: i64 = sqlx::query_scalar(
            "select coalesce(sum((line->>'quantity')::int), 0)::bigint
             from inventory.reservations, jsonb_array_elements(lines) line
             where status = $2 and line->>'sku' = $1",
        )
        .bind(sku)
        .bind("HELD")
        .fetch_one(&self.admin)
        .await
        .unwrap();
        assert_eq!(
            i64::from(reserved),
            held,
            "{sku}: reserved vs held reservations"
        );
        i64::from(available) + i64::from(reserved) + i64::from(committed)
    }
}

#[derive(Debug, PartialEq)]
pub struct Facts {
    pub reservation: Option<String>,
    pub payment: Option<String>,
    pub shipment: Option<String>,
    pub captures: i64,
    pub captured_minus_refunded: i64,
}

pub use loadtest::order_request as order;
