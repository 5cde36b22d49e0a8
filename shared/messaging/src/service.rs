//! Wiring a service's messaging in its `startup.rs`: migrations, topics, the relay, the consumer
//! and the readiness check, the same way in every service.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::producer::Producer;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use tokio::task::JoinSet;

use platform::Shutdown;

use crate::inbox::{self, ConsumerConfig, Handler};
use crate::{Relay, RelayConfig, kafka};

/// A service's messaging: its relay and (when it consumes) its consumer.
#[derive(Debug)]
pub struct Messaging {
    pub pool: PgPool,
    pub relay: Relay,
    pub consumer: ConsumerConfig,
}

impl Messaging {
    /// Applies the messaging and the service's migrations and creates every saga topic and the
    /// service's DLQ. `service` is the consumer group and the relay's name.
    pub async fn prepare(
        service: &str,
        pool: PgPool,
        migrations: Migrator,
        brokers: &str,
        consumes: &[&str],
        all_topics: &[&str],
    ) -> anyhow::Result<Self> {
        crate::migrate(&pool, migrations).await?;
        let consumer = ConsumerConfig::new(service, service, consumes, brokers);
        let mut topics = all_topics.to_vec();
        let dlq = consumer.dlq_topic();
        topics.push(&dlq);
        kafka::ensure_topics(brokers, &topics).await?;
        let relay = Relay::new(service, pool.clone(), brokers, RelayConfig::default())?;
        Ok(Self {
            pool,
            relay,
            consumer,
        })
    }

    /// Starts the relay and the consumer on `workers`; both stop on `shutdown`.
    pub fn spawn<H: Handler>(self, handler: H, workers: &mut JoinSet<()>, shutdown: &Shutdown) {
        workers.spawn(self.relay.run(shutdown.clone()));
        let shutdown = shutdown.clone();
        workers.spawn(async move {
            if let Err(error) =
                inbox::run(self.consumer, self.pool, Arc::new(handler), shutdown).await
            {
                tracing::error!(error = format!("{error:#}"), "consumer failed");
            }
        });
    }

    /// `/readyz`: the database answers, the broker's metadata can be fetched and the consumer
    /// has joined its group.
    pub fn readiness(
        &self,
    ) -> impl Fn() -> std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>>
    + Clone
    + Send
    + Sync
    + 'static {
        let pool = self.pool.clone();
        let relay = self.relay.clone();
        let joined = self.consumer.joined.clone();
        move || {
            let (pool, relay, joined) = (pool.clone(), relay.clone(), joined.clone());
            Box::pin(async move {
                platform::http::check_database(&pool).await?;
                relay.check_broker().await?;
                if !joined.load(std::sync::atomic::Ordering::SeqCst) {
                    return Err("consumer: waiting for the group to assign partitions".into());
                }
                Ok(())
            })
        }
    }
}

impl Relay {
    /// Whether the broker answers a metadata request within 2 s.
    pub async fn check_broker(&self) -> Result<(), String> {
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || {
            producer
                .client()
                .fetch_metadata(None, Duration::from_secs(2))
                .map(|_| ())
                .map_err(|error| format!("broker: {error}"))
        })
        .await
        .map_err(|error| error.to_string())?
    }
}
