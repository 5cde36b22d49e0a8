//! The relay: publishes a service's outbox to Kafka, in insert order, at least once.
//!
//! One relay per service is active: the one holding a session-level Postgres advisory lock. The
//! others wait as standbys and take over when the leader's session ends (process killed,
//! connection cut). The leader wakes on the outbox's NOTIFY, or on a fallback poll, reads a batch,
//! hands every message to the idempotent producer at once, waits for all acknowledgements and
//! only then marks the batch published. A crash between acknowledgement and marking re-publishes
//! the batch; consumers drop the duplicates in their inbox.

use std::collections::VecDeque;
use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use sqlx::postgres::PgListener;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::time::Instant;
use tracing::Instrument;

use platform::Shutdown;

use crate::envelope::binary_headers;
use crate::kafka;

mod config;
mod housekeeping;
mod lock;

pub use config::{RelayConfig, RelayError};
use lock::{LOCK_CHECK_INTERVAL, lock_alive, lock_key};

/// One service's relay. Cheap to clone; `run` elects, publishes and stops on shutdown.
#[derive(Clone)]
pub struct Relay {
    service: String,
    pool: PgPool,
    brokers: String,
    pub(crate) producer: FutureProducer,
    pub(crate) config: RelayConfig,
    /// When the lock session was last seen alive.
    lock_checked: Option<Instant>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("service", &self.service)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A batch with the broker: its row ids and their acknowledgements to come.
/// A batch with the broker: its rows' ids and creation times, and its deliveries.
type InFlight = (
    Vec<(i64, chrono::DateTime<chrono::Utc>)>,
    Vec<DeliveryFuture>,
);

#[derive(sqlx::FromRow)]
struct OutboxRow {
    id: i64,
    topic: String,
    key: String,
    payload: String,
    event_id: uuid::Uuid,
    event_type: String,
    source: String,
    traceparent: String,
    created_at: chrono::DateTime<chrono::Utc>,
}

impl OutboxRow {
    fn headers(&self) -> OwnedHeaders {
        let time = self
            .created_at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        binary_headers(
            &self.event_id.to_string(),
            &self.event_type,
            &self.source,
            &time,
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
            lock_checked: None,
        })
    }

    /// Publishes until nothing is left; for tests and tools. Returns how many rows it published.
    pub async fn run_until_empty(&mut self) -> Result<u64, RelayError> {
        self.publish_available(None).await
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
            // A standby sees the same outbox: its gauges tell the same story as the leader's.
            if let Err(error) = self.record_backlog().await {
                tracing::debug!(service = %self.service, %error, "backlog gauges not recorded");
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
        let mut next_gauges = Instant::now();
        let mut next_purge = Instant::now();
        while !shutdown.is_triggered() {
            if Instant::now() >= next_gauges {
                self.record_backlog().await?;
                next_gauges = Instant::now() + Duration::from_secs(1);
            }
            if Instant::now() >= next_purge {
                self.purge().await?;
                next_purge = Instant::now() + Duration::from_secs(60);
            }
            match self.publish_available(Some(&mut lock)).await {
                Ok(_) => failures = 0,
                Err(error) => {
                    failures += 1;
                    tracing::warn!(service = %self.service, %error, failures, "publishing failed, backing off");
                    metrics::counter!("outbox_relay_errors_total", "service" => self.service.clone())
                        .increment(1);
                    // Without its lock session this relay may no longer lead: start over with a
                    // new connection (a cut Postgres connection never comes back by itself).
                    if !lock_alive(&mut lock).await {
                        tracing::warn!(service = %self.service, "relay lost its lock connection");
                        return Ok(());
                    }
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

    /// Publishes every unpublished row in insert order, a batch at a time; returns how many.
    ///
    /// Up to `in_flight_batches` batches are with the broker at once (the idempotent producer
    /// keeps their order per partition); the oldest is marked published once every message of it
    /// was acknowledged. After a batch fails, no later batch is marked: they are published again
    /// from the first unmarked row, in order, and consumers drop the duplicates. When leading,
    /// the lock connection is checked before a batch, at most every `LOCK_CHECK_INTERVAL`: if it
    /// died, another relay may lead now, so this one stops publishing.
    async fn publish_available(
        &mut self,
        mut lock: Option<&mut PgConnection>,
    ) -> Result<u64, RelayError> {
        // Rows read but not yet marked are still unpublished: read past them by id.
        let mut cursor = 0;
        let mut in_flight = VecDeque::new();
        let mut total = 0;
        let outcome: Result<(), RelayError> = loop {
            if let Some(lock) = lock.as_deref_mut()
                && self.lock_check_due()
                && !lock_alive(lock).await
            {
                break Err(RelayError::LockLost);
            }
            if in_flight.len() >= self.config.in_flight_batches {
                match self.settle(in_flight.pop_front()).await {
                    Ok(marked) => total += marked,
                    Err(error) => break Err(error),
                }
            }
            let rows = match self.read_batch(cursor).await {
                Ok(rows) if rows.is_empty() => break Ok(()),
                Ok(rows) => rows,
                Err(error) => break Err(error.into()),
            };
            cursor = rows.last().map_or(cursor, |row| row.id);
            let full = rows.len() as i64 == self.config.batch_size;
            match self.produce(&rows).await {
                Ok(deliveries) => {
                    let rows = rows.iter().map(|row| (row.id, row.created_at)).collect();
                    in_flight.push_back((rows, deliveries));
                }
                Err(error) => break Err(error.into()),
            }
            if !full {
                break Ok(());
            }
        };
        let outcome = match outcome {
            Ok(()) => loop {
                match self.settle(in_flight.pop_front()).await {
                    Ok(0) if in_flight.is_empty() => break Ok(()),
                    Ok(marked) => total += marked,
                    Err(error) => break Err(error),
                }
            },
            Err(error) => Err(error),
        };
        if let Err(error) = &outcome {
            self.recreate_producer_if_fenced(error);
        }
        outcome.map(|()| total)
    }

    /// Whether the lock session is due a check; counts it as checked.
    fn lock_check_due(&mut self) -> bool {
        let due = self
            .lock_checked
            .is_none_or(|at| at.elapsed() >= LOCK_CHECK_INTERVAL);
        if due {
            self.lock_checked = Some(Instant::now());
        }
        due
    }

    /// Waits for every acknowledgement of the oldest batch in flight, then marks it.
    async fn settle(&self, batch: Option<InFlight>) -> Result<u64, RelayError> {
        let Some((rows, deliveries)) = batch else {
            return Ok(0);
        };
        // Not `info`: a batch belongs to no saga, and a trace of its own per batch is noise.
        let span = tracing::debug_span!("relay.batch", service = %self.service, size = rows.len());
        async {
            for delivery in deliveries {
                match delivery.await {
                    Ok(Ok(_)) => {}
                    Ok(Err((error, _))) => return Err(error.into()),
                    Err(_cancelled) => return Err(KafkaError::Canceled.into()),
                }
            }
            let ids: Vec<i64> = rows.iter().map(|(id, _)| *id).collect();
            let marked = self.mark(&ids).await?;
            // From the state change that wrote the event to the broker's acknowledgement.
            let latency = metrics::histogram!("outbox_publish_latency_seconds", "service" => self.service.clone());
            let now = chrono::Utc::now();
            for (_, created_at) in rows {
                latency.record((now - created_at).as_seconds_f64().max(0.0));
            }
            Ok(marked)
        }
        .instrument(span)
        .await
    }

    /// Up to a batch of unpublished rows after `cursor`, in insert order. The payload comes as
    /// the text it was written as: no JSON is parsed and re-encoded here.
    async fn read_batch(&self, cursor: i64) -> sqlx::Result<Vec<OutboxRow>> {
        sqlx::query_as(
            "select id, topic, key, payload::text as payload, event_id, event_type, source,
                    traceparent, created_at
             from outbox where published_at is null and id > $1 order by id limit $2",
        )
        .bind(cursor)
        .bind(self.config.batch_size)
        .fetch_all(&self.pool)
        .await
    }

    /// Marks acknowledged rows published.
    async fn mark(&self, ids: &[i64]) -> sqlx::Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        sqlx::query("update outbox set published_at = now() where id = any($1)")
            .bind(ids)
            .execute(&self.pool)
            .await?;
        let published = ids.len() as u64;
        metrics::counter!("outbox_published_total", "service" => self.service.clone())
            .increment(published);
        metrics::histogram!("outbox_batch_size", "service" => self.service.clone())
            .record(published as f64);
        Ok(published)
    }

    /// Hands every message of a batch to the producer; returns their delivery futures.
    async fn produce(&self, rows: &[OutboxRow]) -> Result<Vec<DeliveryFuture>, KafkaError> {
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
        Ok(deliveries)
    }

    /// An idempotent producer that hit a fatal error (e.g. a sequence gap after messages timed
    /// out), or whose producer epoch the broker no longer accepts (a broker may answer every
    /// produce with PRODUCER_FENCED after an outage, as Tansu 0.6 did, and librdkafka does not
    /// treat that as fatal for a non-transactional producer), refuses to produce again: start a
    /// fresh one.
    fn recreate_producer_if_fenced(&mut self, error: &RelayError) {
        use rdkafka::types::RDKafkaErrorCode as Code;
        let fenced = matches!(
            error,
            RelayError::Broker(KafkaError::MessageProduction(
                Code::ProducerFenced
                    | Code::InvalidProducerEpoch
                    | Code::OutOfOrderSequenceNumber
                    | Code::UnknownProducerId
            ))
        );
        let fatal = self.producer.client().fatal_error();
        if fenced || fatal.is_some() {
            let (code, reason) = fatal.unwrap_or_else(|| (Code::ProducerFenced, error.to_string()));
            tracing::warn!(%code, %reason, "producer failed fatally, creating a new one");
            match kafka::producer(&self.brokers) {
                Ok(producer) => self.producer = producer,
                Err(error) => tracing::error!(%error, "cannot create a producer"),
            }
        }
    }

    /// Sleeps for `duration` unless shutdown comes first; returns whether it did.
    async fn pause(&self, duration: Duration, shutdown: &Shutdown) -> bool {
        tokio::select! {
            _ = shutdown.wait() => true,
            _ = tokio::time::sleep(duration) => false,
        }
    }
}
