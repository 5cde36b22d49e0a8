//! Kafka clients configured once for the whole system, and topic creation.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::FutureProducer;

/// Partitions of every topic: the unit of consumer parallelism (three replicas of a service can
/// each own one). Every fetch reads every partition it asks for, so each one more costs the broker
/// on every delivery: the saga's p50 at 50/s was 115 ms with six, 88 ms with two (`make bench`).
pub const PARTITIONS: i32 = 3;

/// `fetch.wait.max.ms` of every consumer: how long the broker may hold a fetch that has nothing
/// to return. It answers as soon as data arrives (nisshi with `shared/nisshi`'s patch, like
/// Apache Kafka), so this is no part of a hop's latency; it bounds what an idle consumer costs
/// the broker (one read of its partitions per wait).
pub const FETCH_WAIT_MAX_MS: &str = "500";

/// An idempotent producer (`acks=all`, no reordering or duplicates from its own retries).
/// Delivery gives up after `message.timeout.ms`, so the relay learns of an absent broker and
/// backs off instead of piling up messages.
pub fn producer(brokers: &str) -> rdkafka::error::KafkaResult<FutureProducer> {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        // The relay hands a whole batch to the producer at once: waiting longer than that takes
        // only adds to every hop of the saga.
        .set("linger.ms", "1")
        .set("message.timeout.ms", "10000")
        .set("queue.buffering.max.messages", "200000")
        // Reconnect within a second of the broker coming back (librdkafka's default is 10 s).
        .set("reconnect.backoff.max.ms", "1000")
        .create()
}

/// Creates `topics` (with `PARTITIONS` partitions) unless they exist; with `retention`, the
/// broker deletes their messages once that old (`cleanup.policy=delete`, `retention.ms`). An
/// existing topic keeps the settings it was created with.
pub async fn ensure_topics(
    brokers: &str,
    topics: &[&str],
    retention: Option<Duration>,
) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()?;
    let retention_ms = retention.map(|retention| retention.as_millis().to_string());
    let new_topics: Vec<_> = topics
        .iter()
        .map(|topic| {
            let topic = NewTopic::new(topic, PARTITIONS, TopicReplication::Fixed(1));
            match &retention_ms {
                Some(ms) => topic
                    .set("cleanup.policy", "delete")
                    .set("retention.ms", ms),
                None => topic,
            }
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics(&new_topics, &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => anyhow::bail!("cannot create topic {topic}: {code}"),
        }
    }
    Ok(())
}
