//! The gateway client against the real simulator, over HTTP, through a Toxiproxy proxy.

use std::time::Duration;

use clap::Parser;
use payment::gateway::{ChargeOutcome, GatewayClient, GatewayConfig, GatewayError};
use platform::Shutdown;
use resilience::{BreakerConfig, RetryPolicy, State};
use serde_json::{Value, json};
use testkit::TestEnv;
use uuid::Uuid;

/// The simulator behind a `payment_gateway` proxy.
struct Gateway {
    env: TestEnv,
    /// The simulator itself, for its admin and audit endpoints.
    direct: String,
    /// The proxy the client goes through.
    proxied: String,
    http: reqwest::Client,
    shutdown: Shutdown,
}

impl Gateway {
    async fn start() -> Self {
        let env = TestEnv::start().await;
        let database_url = env.database.direct_url("gateway");
        let config = payment_gateway::Config::parse_from([
            "payment-gateway",
            "--http-addr",
            "127.0.0.1:0",
            "--database-url",
            &database_url,
            "--admin-token",
            testkit::ADMIN_TOKEN,
        ]);
        let app = payment_gateway::Application::build(config).await.unwrap();
        let direct = format!("127.0.0.1:{}", app.port());
        let shutdown = Shutdown::new();
        tokio::spawn(app.run_until_stopped(shutdown.clone()));
        let proxied = env.add_proxy("payment_gateway", &direct).await.unwrap();
        Self {
            env,
            direct: format!("http://{direct}"),
            proxied: format!("http://{proxied}"),
            http: reqwest::Client::new(),
            shutdown,
        }
    }

    /// A client with fast retries and `breaker`.
    fn client(&self, breaker: BreakerConfig) -> GatewayClient {
        GatewayClient::new(GatewayConfig {
            request_timeout: Duration::from_secs(2),
            breaker,
            retry: RetryPolicy {
                initial_interval: Duration::from_millis(10),
                max_interval: Duration::from_millis(50),
                ..RetryPolicy::default()
            },
            ..GatewayConfig::new(&self.proxied)
        })
        .unwrap()
    }

    async fn faults(&self, faults: Value) {
        let response = self
            .http
            .put(format!("{}/admin/faults", self.direct))
            .json(&faults)
            .bearer_auth(testkit::ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }

    async fn charges_of(&self, order_id: Uuid) -> Vec<Value> {
        self.http
            .get(format!("{}/v1/charges?order_id={order_id}", self.direct))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

/// Fast to open and to recover, with the contract's thresholds.
fn quick_breaker() -> BreakerConfig {
    BreakerConfig {
        slow_call_duration_threshold: Duration::from_millis(200),
        wait_duration_in_open: Duration::from_millis(500),
        ..BreakerConfig::default()
    }
}

async fn charge(client: &GatewayClient, token: &str) -> Result<(ChargeOutcome, u32), GatewayError> {
    client
        .charge(Uuid::now_v7(), Uuid::now_v7(), 1000, token)
        .await
}

#[tokio::test]
async fn injected_503s_open_the_breaker_and_it_then_fails_fast() {
    let gateway = Gateway::start().await;
    let client = gateway.client(quick_breaker());
    gateway.faults(json!({"error_rate": 1.0})).await;

    let first = charge(&client, "tok_visa").await;
    let second = charge(&client, "tok_visa").await;
    let third = charge(&client, "tok_visa").await;

    assert!(
        matches!(first, Err(GatewayError::Unavailable { attempts: 3, .. })),
        "{first:?}"
    );
    // The fifth failed attempt filled the window's minimum: open, mid-retry.
    assert!(
        matches!(second, Err(GatewayError::Open { .. })),
        "{second:?}"
    );
    let Err(GatewayError::Open { retry_after, .. }) = third else {
        panic!("expected a fast failure, got {third:?}");
    };
    assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_millis(500));
    assert_eq!(client.breaker().state(), State::Open);
}

#[tokio::test]
async fn a_latency_toxic_above_the_slow_threshold_opens_it_and_probes_close_it_after_recovery() {
    let gateway = Gateway::start().await;
    let client = gateway.client(quick_breaker());
    let toxic = gateway
        .env
        .toxiproxy()
        .add_toxic(
            "payment_gateway",
            json!({"name": "slow", "type": "latency", "stream": "downstream", "attributes": {"latency": 300}}),
        )
        .await
        .unwrap();

    for _ in 0..5 {
        let (outcome, _) = charge(&client, "tok_visa").await.unwrap();
        assert!(matches!(outcome, ChargeOutcome::Captured { .. }));
    }
    assert_eq!(
        client.breaker().state(),
        State::Open,
        "five slow successes open it"
    );
    assert!(matches!(
        charge(&client, "tok_visa").await,
        Err(GatewayError::Open { .. })
    ));

    gateway
        .env
        .toxiproxy()
        .remove_toxic("payment_gateway", &toxic.name)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    for _ in 0..3 {
        charge(&client, "tok_visa").await.unwrap();
    }

    assert_eq!(client.breaker().state(), State::Closed);
}

#[tokio::test]
async fn a_decline_is_an_answer_not_a_failure_and_is_not_retried() {
    let gateway = Gateway::start().await;
    let client = gateway.client(quick_breaker());

    for _ in 0..10 {
        let order_id = Uuid::now_v7();
        let (outcome, attempts) = client
            .charge(Uuid::now_v7(), order_id, 1000, "tok_declined")
            .await
            .unwrap();
        assert!(
            matches!(outcome, ChargeOutcome::Declined { .. }),
            "{outcome:?}"
        );
        assert_eq!(attempts, 1);
        assert_eq!(gateway.charges_of(order_id).await.len(), 1);
    }

    assert_eq!(client.breaker().state(), State::Closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_charges_at_30_percent_failures_capture_exactly_once_each() {
    let gateway = Gateway::start().await;
    let client = gateway.client(BreakerConfig {
        wait_duration_in_open: Duration::from_millis(100),
        ..BreakerConfig::default()
    });
    gateway.faults(json!({"error_rate": 0.3})).await;

    let mut payments = tokio::task::JoinSet::new();
    for _ in 0..200 {
        let client = client.clone();
        payments.spawn(async move {
            let (payment_id, order_id) = (Uuid::now_v7(), Uuid::now_v7());
            // What the payment worker does: retry the same payment (same key) until it has an
            // answer, waiting while the breaker is open.
            loop {
                match client.charge(payment_id, order_id, 1000, "tok_visa").await {
                    Ok((ChargeOutcome::Captured { charge_id }, _)) => return (order_id, charge_id),
                    Ok((outcome, _)) => panic!("unexpected {outcome:?}"),
                    Err(GatewayError::Open { retry_after, .. }) => {
                        tokio::time::sleep(retry_after.max(Duration::from_millis(10))).await;
                    }
                    Err(GatewayError::Unavailable { .. }) => {}
                    Err(error) => panic!("{error}"),
                }
            }
        });
    }
    let captured = payments.join_all().await;

    for (order_id, charge_id) in captured {
        let charges = gateway.charges_of(order_id).await;
        assert_eq!(charges.len(), 1, "order {order_id}: {charges:?}");
        assert_eq!(charges[0]["id"], charge_id.to_string());
        assert_eq!(charges[0]["status"], "captured");
    }
}
