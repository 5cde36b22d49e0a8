//! The relay: publishes a service's outbox to Kafka, in insert order, at least once.
//!
//! One relay per service is active: the one holding a session-level Postgres advisory lock. The
//! others wait as standbys and take over when the leader's session ends (process killed,
//! connection cut). The leader wakes on the outbox's NOTIFY, or on a fallback poll, reads a batch,
//! hands every message to the idempotent producer at once, waits for all acknowledgements and
//! only then marks the batch published. A crash between acknowledgement and marking re-publishes
//! the batch; consumers drop the duplicates in their inbox.

use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use resilience::RetryPolicy;
use sqlx::postgres::PgListener;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::time::Instant;

use platform::Shutdown;

use crate::envelope::binary_headers;
use crate::kafka;

#[derive(Clone, Debug)]
pub struct RelayConfig {
    /// Most rows read and produced per round.
    pub batch_size: i64,
    /// How often to look for rows when no notification came (a lost NOTIFY, a reconnect).
    pub poll_interval: Duration,
    /// How often a standby tries to become leader.
    pub standby_interval: Duration,
    /// Published rows older than this are purged.
    pub retention: Duration,
    /// Waits between failed rounds (the broker or the database away).
    pub backoff: RetryPolicy,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            batch_size: 1000,
            poll_interval: Duration::from_secs(1),
            standby_interval: Duration::from_secs(1),
            retention: Duration::from_secs(7 * 24 * 3600),
            backoff: RetryPolicy {
                max_attempts: u32::MAX,
                initial_interval: Duration::from_millis(100),
                max_interval: Duration::from_secs(5),
                multiplier: 2.0,
                jitter: true,
            },
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("broker: {0}")]
    Broker(#[from] KafkaError),
}

/// One service's relay. Cheap to clone; `run` elects, publishes and stops on shutdown.
#[derive(Clone)]
pub struct Relay {
    service: String,
    pool: PgPool,
    brokers: String,
    pub(crate) producer: FutureProducer,
    config: RelayConfig,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("service", &self.service)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[derive(sqlx::FromRow)]
struct OutboxRow {
    id: i64,
    topic: String,
    key: String,
    payload: String,
    event_id: String,
    event_type: String,
    source: String,
    traceparent: String,
    /// `created_at` in RFC 3339.
    time: String,
}

impl OutboxRow {
    fn headers(&self) -> OwnedHeaders {
        binary_headers(
            &self.event_id,
            &self.event_type,
            &self.source,
            &self.time,
            &self.key,
            &self.traceparent,
        )
    }
}

impl Relay {
    pub fn new(
        service: &str,
        pool: PgPool,
        brokers: &str,
        config: RelayConfig,
    ) -> Result<Self, KafkaError> {
        Ok(Self {
            service: service.to_owned(),
            producer: kafka::producer(brokers)?,
            brokers: brokers.to_owned(),
            pool,
            config,
        })
    }

    /// Publishes until nothing is left; for tests and tools. Returns how many rows it published.
    pub async fn run_until_empty(&mut self) -> Result<u64, RelayError> {
        let mut total = 0;
        loop {
            let published = self.publish_batch().await?;
            total += published;
            if published < self.config.batch_size as u64 {
                return Ok(total);
            }
        }
    }

    /// Runs as leader or standby until `shutdown`.
    pub async fn run(mut self, shutdown: Shutdown) {
        let mut failures = 0;
        while !shutdown.is_triggered() {
            match self.lead(&shutdown).await {
                Ok(()) => failures = 0,
                Err(error) => {
                    failures += 1;
                    tracing::warn!(service = %self.service, %error, "relay interrupted, retrying");
                    metrics::counter!("outbox_relay_errors_total", "service" => self.service.clone())
                        .increment(1);
                    self.pause(self.config.backoff.delay(failures), &shutdown)
                        .await;
                }
            }
        }
    }

    /// Waits to become leader, then publishes until shutdown or until leadership is lost.
    async fn lead(&mut self, shutdown: &Shutdown) -> Result<(), RelayError> {
        // A connection of its own, not the pool's: the lock lives exactly as long as it does.
        let mut lock = PgConnection::connect_with(&self.pool.connect_options()).await?;
        let key = lock_key(&self.service);
        loop {
            let acquired: bool = sqlx::query_scalar("select pg_try_advisory_lock($1)")
                .bind(key)
                .fetch_one(&mut lock)
                .await?;
            if acquired {
                break;
            }
            if self.pause(self.config.standby_interval, shutdown).await {
                return Ok(());
            }
        }
        tracing::info!(service = %self.service, "relay is the leader");

        // The outbox trigger notifies `<schema>.outbox`.
        let schema: String = sqlx::query_scalar("select current_schema()")
            .fetch_one(&mut lock)
            .await?;
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(&format!("{schema}.outbox")).await?;
        let mut failures = 0;
        let mut next_housekeeping = Instant::now();
        while !shutdown.is_triggered() {
            // A dead lock connection means another relay may lead now: step down before
            // publishing anything more.
            sqlx::query("select 1").execute(&mut lock).await?;
            if Instant::now() >= next_housekeeping {
                self.housekeeping().await?;
                next_housekeeping = Instant::now() + Duration::from_secs(1);
            }
            match self.publish_batch().await {
                Ok(published) if published == self.config.batch_size as u64 => {
                    failures = 0;
                    continue;
                }
                Ok(_) => failures = 0,
                Err(error) => {
                    failures += 1;
                    tracing::warn!(service = %self.service, %error, failures, "publishing failed, backing off");
                    metrics::counter!("outbox_relay_errors_total", "service" => self.service.clone())
                        .increment(1);
                    self.pause(self.config.backoff.delay(failures), shutdown)
                        .await;
                    continue;
                }
            }
            tokio::select! {
                _ = shutdown.wait() => {}
                _ = tokio::time::sleep(self.config.poll_interval) => {}
                notification = listener.recv() => {
                    // PgListener reconnects by itself; the poll covers what was missed meanwhile.
                    if let Err(error) = notification {
                        tracing::debug!(%error, "outbox listener interrupted");
                    }
                }
            }
        }
        Ok(())
    }

    /// Reads one batch in insert order, produces it, and marks it published once every message
    /// was acknowledged. Returns how many rows it published.
    #[tracing::instrument(name = "relay.batch", skip(self), fields(service = %self.service, size))]
    async fn publish_batch(&mut self) -> Result<u64, RelayError> {
        // Everything as text, ready for the wire: no JSON is parsed and re-encoded here.
        let rows: Vec<OutboxRow> = sqlx::query_as(
            "select id, topic, key, payload::text as payload, event_id::text as event_id,
                    event_type, source, traceparent,
                    to_char(created_at at time zone 'utc', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') as time
             from outbox where published_at is null order by id limit $1",
        )
        .bind(self.config.batch_size)
        .fetch_all(&self.pool)
        .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        tracing::Span::current().record("size", rows.len());

        if let Err(error) = self.produce_all(&rows).await {
            self.recreate_producer_if_fatal();
            return Err(error.into());
        }

        let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
        sqlx::query("update outbox set published_at = now() where id = any($1)")
            .bind(&ids)
            .execute(&self.pool)
            .await?;
        let published = ids.len() as u64;
        metrics::counter!("outbox_published_total", "service" => self.service.clone())
            .increment(published);
        metrics::histogram!("outbox_batch_size", "service" => self.service.clone())
            .record(published as f64);
        Ok(published)
    }

    /// Enqueues every message, then awaits every acknowledgement: the batch is in flight at once.
    async fn produce_all(&self, rows: &[OutboxRow]) -> Result<(), KafkaError> {
        let mut deliveries = Vec::with_capacity(rows.len());
        for row in rows {
            let mut record = FutureRecord::to(&row.topic)
                .key(&row.key)
                .payload(&row.payload)
                .headers(row.headers());
            loop {
                match self.producer.send_result(record) {
                    Ok(delivery) => {
                        deliveries.push(delivery);
                        break;
                    }
                    Err((
                        KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull),
                        returned,
                    )) => {
                        record = returned;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((error, _)) => return Err(error),
                }
            }
        }
        let mut first_error = None;
        for delivery in deliveries {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((error, _))) => {
                    first_error.get_or_insert(error);
                }
                Err(_cancelled) => {
                    first_error.get_or_insert(KafkaError::Canceled);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// An idempotent producer that hit a fatal error (e.g. a sequence gap after messages timed
    /// out) refuses to produce again: start a fresh one.
    fn recreate_producer_if_fatal(&mut self) {
        if let Some((code, reason)) = self.producer.client().fatal_error() {
            tracing::warn!(%code, %reason, "producer failed fatally, creating a new one");
            match kafka::producer(&self.brokers) {
                Ok(producer) => self.producer = producer,
                Err(error) => tracing::error!(%error, "cannot create a producer"),
            }
        }
    }

    /// Gauges of the backlog, and the retention purge.
    async fn housekeeping(&self) -> Result<(), sqlx::Error> {
        let (unpublished, oldest): (i64, Option<f64>) = sqlx::query_as(
            "select count(*), extract(epoch from now() - min(created_at))::float8
             from outbox where published_at is null",
        )
        .fetch_one(&self.pool)
        .await?;
        metrics::gauge!("outbox_unpublished", "service" => self.service.clone())
            .set(unpublished as f64);
        metrics::gauge!("outbox_oldest_unpublished_seconds", "service" => self.service.clone())
            .set(oldest.unwrap_or(0.0));
        let purged = sqlx::query(
            "delete from outbox where published_at < now() - make_interval(secs => $1)",
        )
        .bind(self.config.retention.as_secs_f64())
        .execute(&self.pool)
        .await?
        .rows_affected();
        if purged > 0 {
            tracing::info!(service = %self.service, purged, "purged published outbox rows past retention");
        }
        Ok(())
    }

    /// Sleeps for `duration` unless shutdown comes first; returns whether it did.
    async fn pause(&self, duration: Duration, shutdown: &Shutdown) -> bool {
        tokio::select! {
            _ = shutdown.wait() => true,
            _ = tokio::time::sleep(duration) => false,
        }
    }
}

/// The advisory lock key of `service`'s relay: a stable hash of its name (FNV-1a).
fn lock_key(service: &str) -> i64 {
    let hash = service.bytes().fold(0xcbf29ce484222325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x100000001b3)
    });
    hash as i64
}
