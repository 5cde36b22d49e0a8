use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use messaging::inbox::{self, ConsumerConfig, Handler, HandlerError};
use messaging::{Event, Outbox, Relay, RelayConfig};
use platform::Shutdown;
use rdkafka::message::OwnedMessage;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgConnection, PgPool};
use testkit::TestEnv;
use uuid::Uuid;

pub const TOPIC: &str = "test.events";
pub const GROUP: &str = "test-consumer";

/// The data of a test event: its position in its key's sequence, and what the handler should do.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Data {
    pub seq: i32,
    /// Fail transiently this many times before applying.
    #[serde(default)]
    pub transient_failures: u32,
    #[serde(default)]
    pub poison: bool,
    /// Panic at the first attempt, as a bug in a handler would.
    #[serde(default)]
    pub panics_once: bool,
}

/// Records each event it applies in `applied`; fails as the event's data asks.
#[derive(Default)]
pub struct TestHandler {
    attempts: Mutex<HashMap<Uuid, u32>>,
}

/// A type the test handler has no use for.
pub const IGNORED_TYPE: &str = "test.noticed.v1";

impl Handler for TestHandler {
    fn ignores(&self, event_type: &str) -> bool {
        event_type == IGNORED_TYPE
    }

    async fn handle(&self, tx: &mut PgConnection, event: &Event) -> Result<(), HandlerError> {
        if event.event_type != "test.happened.v2" {
            return Err(HandlerError::unknown_type(event));
        }
        let data: Data = event.data_as()?;
        if data.poison {
            return Err(HandlerError::poison("the event asks to be poison"));
        }
        let attempt = {
            let mut attempts = self.attempts.lock().unwrap();
            let attempt = attempts.entry(event.id).or_default();
            *attempt += 1;
            *attempt
        };
        assert!(
            !(data.panics_once && attempt == 1),
            "the event asks the handler to panic"
        );
        if attempt <= data.transient_failures {
            return Err(HandlerError::Transient(anyhow::anyhow!(
                "induced failure {attempt}"
            )));
        }
        sqlx::query("insert into applied (event_id, subject, seq) values ($1, $2, $3)")
            .bind(event.id)
            .bind(&event.subject)
            .bind(data.seq)
            .execute(tx)
            .await?;
        Ok(())
    }
}

/// One test's world: a database with the messaging tables, a broker with the topics, an outbox.
pub struct Harness {
    pub env: TestEnv,
    pub pool: PgPool,
    pub outbox: Outbox,
    /// Unique per test, so metrics in the shared recorder are this test's alone.
    pub service: String,
    shutdown: Shutdown,
}

impl Harness {
    pub async fn start() -> Self {
        Self::start_in(TestEnv::start().await).await
    }

    /// With the broker on `make up`'s durable `sqlite://` engine.
    pub async fn start_durable() -> Self {
        Self::start_in(TestEnv::start_durable().await).await
    }

    async fn start_in(env: TestEnv) -> Self {
        platform::metrics::handle();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        // Through the `postgres` proxy, failing fast while it is cut, as services' pools do.
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(1))
            .connect(&env.database_url("order"))
            .await
            .unwrap();
        messaging::migrate(&pool, sqlx::migrate!("tests/migrations"))
            .await
            .unwrap();
        messaging::kafka::ensure_topics(
            env.kafka_brokers(),
            &[TOPIC, &inbox::dlq_topic(GROUP)],
            None,
        )
        .await
        .unwrap();
        let service = format!("test-{}", Uuid::new_v4().simple());
        Self {
            outbox: Outbox::new(&service, TOPIC),
            env,
            pool,
            service,
            shutdown: Shutdown::new(),
        }
    }

    /// Writes events in one committed transaction.
    pub async fn enqueue(&self, events: &[(Uuid, Data)]) -> Vec<Uuid> {
        let mut tx = self.pool.begin().await.unwrap();
        let mut ids = Vec::new();
        for (subject, data) in events {
            ids.push(
                self.outbox
                    .enqueue(&mut tx, "test.happened.v2", *subject, data)
                    .await
                    .unwrap(),
            );
        }
        tx.commit().await.unwrap();
        ids
    }

    pub fn relay(&self) -> Relay {
        Relay::new(
            &self.service,
            self.pool.clone(),
            self.env.kafka_brokers(),
            RelayConfig {
                poll_interval: Duration::from_millis(200),
                ..RelayConfig::default()
            },
        )
        .unwrap()
    }

    /// Starts a relay that runs until the harness drops.
    pub fn spawn_relay(&self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(self.relay().run(self.shutdown.clone()))
    }

    pub fn consumer_config(&self, group: &str) -> ConsumerConfig {
        let mut config =
            ConsumerConfig::new(&self.service, group, &[TOPIC], self.env.kafka_brokers())
                // v1 had the sequence under another name.
                .upcast("test.happened.v1", |event| {
                    let seq = event.data["n"].take();
                    event.data = serde_json::json!({ "seq": seq });
                    event.event_type = "test.happened.v2".into();
                    Ok(())
                });
        config.retry.initial_interval = Duration::from_millis(10);
        config.retry.max_attempts = 3;
        config
    }

    /// Starts a consumer in `GROUP` with `TestHandler`; stop it with the returned `Shutdown`.
    pub fn spawn_consumer(&self) -> (Shutdown, tokio::task::JoinHandle<anyhow::Result<()>>) {
        self.spawn_consumer_in(GROUP)
    }

    pub fn spawn_consumer_in(
        &self,
        group: &str,
    ) -> (Shutdown, tokio::task::JoinHandle<anyhow::Result<()>>) {
        let shutdown = Shutdown::new();
        let handle = tokio::spawn(inbox::run(
            self.consumer_config(group),
            self.pool.clone(),
            Arc::new(TestHandler::default()),
            shutdown.clone(),
        ));
        (shutdown, handle)
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.pool).await.unwrap()
    }

    /// Waits until `sql` returns `expected` (60 s at most: tests share two cores).
    pub async fn wait_for_count(&self, sql: &str, expected: i64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let count = self.count(sql).await;
            if count == expected {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "`{sql}` is {count}, expected {expected}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// This test's value of a counter in the process's Prometheus recorder.
    pub fn metric(&self, name: &str) -> f64 {
        let text = platform::metrics::handle().render();
        let service = format!("service=\"{}\"", self.service);
        text.lines()
            .filter(|line| line.starts_with(name) && line.contains(&service))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    pub fn producer(&self) -> FutureProducer {
        messaging::kafka::producer(self.env.kafka_brokers()).unwrap()
    }

    /// Produces raw bytes with headers to the test topic, as a foreign producer would.
    pub async fn produce_raw(
        &self,
        key: &str,
        payload: &[u8],
        headers: Option<rdkafka::message::OwnedHeaders>,
    ) {
        let mut record = FutureRecord::to(TOPIC).key(key).payload(payload);
        if let Some(headers) = headers {
            record = record.headers(headers);
        }
        self.producer()
            .send(record, Duration::from_secs(10))
            .await
            .unwrap();
    }

    pub async fn read_topic(&self, topic: &str) -> Vec<OwnedMessage> {
        messaging::admin::read_topic(self.env.kafka_brokers(), topic)
            .await
            .unwrap()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

pub fn events(keys: usize, per_key: i32) -> Vec<(Uuid, Data)> {
    let keys: Vec<Uuid> = (0..keys).map(|_| Uuid::now_v7()).collect();
    (0..per_key)
        .flat_map(|seq| {
            keys.iter().map(move |key| {
                (
                    *key,
                    Data {
                        seq,
                        ..Data::default()
                    },
                )
            })
        })
        .collect()
}
