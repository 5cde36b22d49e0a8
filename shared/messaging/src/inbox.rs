//! The inbox consumer runtime: at-least-once delivery made exactly-once in effect.
//!
//! For each message, in ONE transaction: record its `ce_id` in the inbox (already there → a
//! duplicate, skipped), run the service's handler (which writes state and outbox rows), commit.
//! Only then is the offset stored; librdkafka commits stored offsets in the background, on
//! rebalance and at shutdown. A crash anywhere re-delivers the message, and the inbox makes the
//! second delivery a no-op.
//!
//! One task per assigned partition keeps one order's events in order while partitions run in
//! parallel. Transient failures are retried in place with backoff; poison (undecodable, a
//! version the handler cannot read, invalid data) and exhausted retries go to `<group>.dlq` with
//! the error in headers (`dlq`), and the partition moves on. `worker` is a partition's task,
//! `handler` holds what a service implements, `config` what a consumer reads and how it retries.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::{ClientConfig, ClientContext, Statistics};
use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use platform::Shutdown;

use crate::kafka;

mod config;
mod dlq;
mod handler;
mod worker;

pub use config::{ConsumerConfig, dlq_topic};
pub use dlq::DLQ_PAYLOAD_LIMIT;
pub use handler::{Handler, HandlerError, Upcaster};
use worker::Runtime;

/// Counts rebalances. A message read before the latest revocation is dropped by its worker:
/// the partition resumes from its committed offset wherever it is assigned now. Also turns
/// librdkafka's statistics into the lag gauges.
struct RebalanceContext {
    group: String,
    generation: Arc<AtomicU64>,
    joined: Arc<AtomicBool>,
}

/// How often librdkafka reports statistics, the consumer lag among them.
const STATISTICS_INTERVAL_MS: &str = "10000";

impl ClientContext for RebalanceContext {
    /// `consumer_lag{group,topic,partition}`: messages on the partition after the last one the
    /// inbox applied (its high watermark minus the stored offset). A partition this member does
    /// not own reads 0, so the sum over a group's members is the group's lag.
    fn stats(&self, statistics: Statistics) {
        for (topic, topic_stats) in statistics.topics {
            for (partition, stats) in topic_stats.partitions {
                if partition < 0 {
                    continue; // librdkafka's internal "unassigned" partition
                }
                let lag = if stats.desired {
                    stats.consumer_lag_stored.max(0)
                } else {
                    0
                };
                metrics::gauge!("consumer_lag", "group" => self.group.clone(),
                    "topic" => topic.clone(), "partition" => partition.to_string())
                .set(lag as f64);
            }
        }
    }
}

impl ConsumerContext for RebalanceContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(partitions) = rebalance {
            tracing::info!(partitions = partitions.count(), "partitions assigned");
            self.joined.store(true, Ordering::SeqCst);
        }
        if let Rebalance::Revoke(partitions) = rebalance {
            // With auto-commit on, librdkafka commits the stored offsets before it revokes.
            tracing::info!(partitions = partitions.count(), "partitions revoked");
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
    }
}

type Kafka = StreamConsumer<RebalanceContext>;

/// How long a consumer may go without partitions before it joins its group again.
const REJOIN_AFTER: Duration = Duration::from_secs(30);

/// A processed message whose offset may be stored: `(topic, partition, offset)`.
type Done = (String, i32, i64);

/// The consumer, owned by `run` alone. If `run` is dropped without draining (a test that
/// panicked, a runtime shutting down), closing would block on the broker: it is closed on a
/// thread of its own instead of the runtime's.
struct Owned(Option<Kafka>);

impl std::ops::Deref for Owned {
    type Target = Kafka;

    fn deref(&self) -> &Kafka {
        self.0.as_ref().expect("present until dropped")
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        if let Some(consumer) = self.0.take() {
            std::thread::spawn(move || drop(consumer));
        }
    }
}

/// Consumes `config.topics` with `handler` until `shutdown`, then drains and commits.
pub async fn run<H: Handler>(
    config: ConsumerConfig,
    pool: PgPool,
    handler: Arc<H>,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let generation = Arc::new(AtomicU64::new(0));
    let mut client = ClientConfig::new();
    if let Some(instance) = &config.instance_id {
        client.set("group.instance.id", instance);
    }
    let consumer = Owned(Some(
        client
            .set("bootstrap.servers", &config.brokers)
            .set("group.id", &config.group)
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "1000")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            // Kafka's smallest session timeout: nisshi lets a group form for half of it before
            // the first assignment, and a crashed dynamic member is expired after it.
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "1500")
            .set("reconnect.backoff.max.ms", "1000")
            .set("fetch.wait.max.ms", kafka::FETCH_WAIT_MAX_MS)
            .set("statistics.interval.ms", STATISTICS_INTERVAL_MS)
            .create_with_context(RebalanceContext {
                group: config.group.clone(),
                generation: generation.clone(),
                joined: config.joined.clone(),
            })?,
    ));
    let topics = config.topics.clone();
    let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics)?;
    // Present from the start, so a rule on its growth sees the first dead letter.
    for topic in &topics {
        metrics::counter!("dlq_messages_total", "service" => config.service.clone(),
            "topic" => topic.to_string())
        .increment(0);
    }
    let (done_sender, mut done) = mpsc::unbounded_channel::<Done>();
    let runtime = Arc::new(Runtime {
        producer: kafka::producer(&config.brokers)?,
        config,
        pool,
        handler,
        done: done_sender,
        generation: generation.clone(),
        shutdown: shutdown.clone(),
    });

    let mut partitions: HashMap<(String, i32), mpsc::Sender<(u64, OwnedMessage)>> = HashMap::new();
    let mut workers = JoinSet::new();
    let mut watchdog = tokio::time::interval(Duration::from_secs(5));
    let mut unassigned_since: Option<std::time::Instant> = None;
    loop {
        let message = tokio::select! {
            _ = shutdown.wait() => break,
            _ = watchdog.tick() => {
                // A safety net: a group can be left with nobody owning its partitions (Tansu 0.6
                // never completed some rebalances after a broker outage). Joining again unsticks
                // it, for one `assignment()` call every 5 s.
                let assigned = consumer.assignment().map_or(0, |list| list.count());
                if assigned > 0 {
                    unassigned_since = None;
                } else if unassigned_since
                    .get_or_insert_with(std::time::Instant::now)
                    .elapsed()
                    >= REJOIN_AFTER
                {
                    tracing::warn!(group = %runtime.config.group, "no partitions assigned for {REJOIN_AFTER:?}: joining the group again");
                    consumer.unsubscribe();
                    consumer.subscribe(&topics)?;
                    unassigned_since = None;
                }
                continue;
            }
            Some((topic, partition, offset)) = done.recv() => {
                store_offset(&consumer, &topic, partition, offset);
                continue;
            }
            // Workers end only at shutdown: one that ended before (a handler panicked) would
            // leave its partition unread, so the consumer stops and its supervisor starts it
            // again from the committed offsets.
            Some(ended) = workers.join_next() => {
                if shutdown.is_triggered() {
                    break;
                }
                let reason = ended.err().map_or_else(|| "it returned".to_owned(), |e| e.to_string());
                anyhow::bail!("a partition worker ended: {reason}");
            }
            message = consumer.recv() => message,
        };
        let message = match message {
            Ok(message) => message.detach(),
            Err(error) => {
                // The client reconnects by itself (e.g. while the broker is away).
                tracing::debug!(%error, "consumer error");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let partition = (message.topic().to_owned(), message.partition());
        let sender = partitions.entry(partition).or_insert_with(|| {
            let (sender, receiver) = mpsc::channel(1024);
            workers.spawn(runtime.clone().partition_worker(receiver));
            sender
        });
        let tagged = (generation.load(Ordering::SeqCst), message);
        tokio::select! {
            _ = shutdown.wait() => break,
            sent = sender.send(tagged) => if sent.is_err() {
                anyhow::bail!("a partition worker ended");
            }
        }
    }

    drop(partitions);
    while workers.join_next().await.is_some() {}
    let group = runtime.config.group.clone();
    drop(runtime);
    while let Some((topic, partition, offset)) = done.recv().await {
        store_offset(&consumer, &topic, partition, offset);
    }
    // Commit what was stored and leave the group; both wait for the broker, so not on a
    // runtime thread.
    let mut consumer = consumer;
    let consumer = consumer.0.take().expect("present until dropped");
    tokio::task::spawn_blocking(move || {
        if let Err(error) = consumer.commit_consumer_state(CommitMode::Sync) {
            tracing::debug!(%error, "no offsets committed at shutdown");
        }
        drop(consumer);
    })
    .await?;
    tracing::info!(%group, "consumer drained");
    Ok(())
}

fn store_offset(consumer: &Kafka, topic: &str, partition: i32, offset: i64) {
    if let Err(error) = consumer.store_offset(topic, partition, offset) {
        // The partition was revoked meanwhile; its next owner re-reads from the committed
        // offset and the inbox skips what this one applied.
        tracing::debug!(%error, "offset not stored");
    }
}
