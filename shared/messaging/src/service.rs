//! Wiring a service's messaging in its `startup.rs`: migrations, topics, the relay, the consumer
//! and the readiness check, the same way in every service.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::producer::Producer;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use tokio::task::JoinSet;

use platform::Shutdown;

use crate::cli::Retention;
use crate::inbox::{self, ConsumerConfig, Handler};
use crate::{Relay, RelayConfig, kafka};

/// What `/readyz` says of a supervised task while it is not running.
type Down = Arc<Mutex<Option<String>>>;

/// A service's messaging: its relay and (when it consumes) its consumer.
#[derive(Debug)]
pub struct Messaging {
    pub pool: PgPool,
    pub relay: Relay,
    pub consumer: ConsumerConfig,
    relay_down: Down,
    consumer_down: Down,
}

impl Messaging {
    /// Applies the messaging and the service's migrations and creates every saga topic and the
    /// service's DLQ (deleting dead letters after `retention`'s window). `service` is the
    /// consumer group and the relay's name; the relay purges by `retention`'s other windows.
    pub async fn prepare(
        service: &str,
        pool: PgPool,
        migrations: Migrator,
        brokers: &str,
        consumes: &[&str],
        all_topics: &[&str],
        retention: &Retention,
    ) -> anyhow::Result<Self> {
        let [outbox_retention, inbox_retention, dlq_retention] = retention.windows()?;
        crate::migrate(&pool, migrations).await?;
        let consumer = ConsumerConfig::new(service, service, consumes, brokers);
        kafka::ensure_topics(brokers, all_topics, None).await?;
        kafka::ensure_topics(brokers, &[&consumer.dlq_topic()], Some(dlq_retention)).await?;
        let config = RelayConfig {
            retention: outbox_retention,
            inbox_retention,
            ..RelayConfig::default()
        };
        let relay = Relay::new(service, pool.clone(), brokers, config)?;
        Ok(Self {
            pool,
            relay,
            consumer,
            relay_down: Down::default(),
            consumer_down: Down::default(),
        })
    }

    /// Starts the relay and the consumer on `workers`; both stop on `shutdown`. Each is
    /// supervised: one that ends before `shutdown` (an error, a panic) is started again, and
    /// `/readyz` answers 503 until it is back.
    pub fn spawn<H: Handler>(self, handler: H, workers: &mut JoinSet<()>, shutdown: &Shutdown) {
        let relay = self.relay;
        let service = self.consumer.service.clone();
        workers.spawn(supervise(
            "relay",
            service.clone(),
            self.relay_down,
            shutdown.clone(),
            {
                let shutdown = shutdown.clone();
                move || {
                    let (relay, shutdown) = (relay.clone(), shutdown.clone());
                    async move {
                        relay.run(shutdown).await;
                        Ok(())
                    }
                }
            },
        ));
        let (consumer, pool, handler) = (self.consumer, self.pool, Arc::new(handler));
        workers.spawn(supervise(
            "consumer",
            service,
            self.consumer_down,
            shutdown.clone(),
            {
                let shutdown = shutdown.clone();
                move || {
                    // A new consumer joins the group again before it is ready.
                    consumer.joined.store(false, Ordering::SeqCst);
                    inbox::run(
                        consumer.clone(),
                        pool.clone(),
                        handler.clone(),
                        shutdown.clone(),
                    )
                }
            },
        ));
    }

    /// `/readyz`: the database answers, the broker's metadata can be fetched, the relay and the
    /// consumer are running and the consumer has joined its group.
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
        let down = [self.relay_down.clone(), self.consumer_down.clone()];
        move || {
            let (pool, relay, joined, down) =
                (pool.clone(), relay.clone(), joined.clone(), down.clone());
            Box::pin(async move {
                for task in &down {
                    if let Some(reason) = task.lock().expect("not poisoned").clone() {
                        return Err(reason);
                    }
                }
                platform::http::check_database(&pool).await?;
                relay.check_broker().await?;
                if !joined.load(Ordering::SeqCst) {
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
                .map_err(|error| {
                    tracing::warn!(%error, "readiness: broker unavailable");
                    "broker: unavailable".to_owned()
                })
        })
        .await
        .map_err(|error| error.to_string())?
    }
}

/// The longest wait before a task that keeps failing is started again.
const RESTART_BACKOFF_MAX: Duration = Duration::from_secs(10);

/// Runs the task `start` makes until `shutdown`. If it ends before (an error, a panic), the
/// reason is logged, `down` says the task is restarting (for `/readyz`),
/// `messaging_task_restarts_total` counts it, and after a backoff (doubling from 100 ms to 10 s
/// while it keeps failing) it is started again.
async fn supervise<F, Fut>(
    task: &'static str,
    service: String,
    down: Down,
    shutdown: Shutdown,
    mut start: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let mut failures: u32 = 0;
    loop {
        let started = tokio::time::Instant::now();
        let ended = tokio::spawn(start()).await;
        if shutdown.is_triggered() {
            return;
        }
        let reason = match ended {
            Ok(Ok(())) => "it returned".to_owned(),
            Ok(Err(error)) => format!("{error:#}"),
            Err(error) => error.to_string(),
        };
        tracing::error!(task, reason, "messaging task stopped; starting it again");
        metrics::counter!("messaging_task_restarts_total", "service" => service.clone(), "task" => task)
            .increment(1);
        *down.lock().expect("not poisoned") = Some(format!("{task}: stopped; restarting"));
        // A task that ran a while before failing starts again quickly.
        failures = if started.elapsed() > RESTART_BACKOFF_MAX {
            1
        } else {
            failures + 1
        };
        let backoff = (Duration::from_millis(100) * 2u32.saturating_pow(failures - 1))
            .min(RESTART_BACKOFF_MAX);
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        *down.lock().expect("not poisoned") = None;
    }
}
