//! Operator tools: replay outbox events, read the DLQ, re-drive a dead letter.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::FutureRecord;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde::Serialize;
use sqlx::PgPool;

use crate::kafka;

/// Which outbox events to replay; every given filter must match.
#[derive(Clone, Debug, Default)]
pub struct ReplaySelection {
    pub aggregate: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// Marks the selected events unpublished, so the relay publishes them again, in their original
/// order, with their original `ce_id`: consumers recognise them in their inbox and change nothing.
/// Returns how many events will be re-published.
pub async fn replay(pool: &PgPool, selection: &ReplaySelection) -> sqlx::Result<u64> {
    let result = sqlx::query(
        "update outbox set published_at = null
         where published_at is not null
           and ($1::text is null or key = $1)
           and ($2::timestamptz is null or created_at >= $2)
           and ($3::timestamptz is null or created_at < $3)",
    )
    .bind(&selection.aggregate)
    .bind(selection.since)
    .bind(selection.until)
    .execute(pool)
    .await?;
    Ok(result.rows_affected())
}

/// One message in a DLQ, as `dlq list` prints it.
#[derive(Clone, Debug, Serialize)]
pub struct DeadLetter {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    pub event_id: Option<String>,
    pub event_type: Option<String>,
    pub error: Option<String>,
    pub original_topic: Option<String>,
    pub original_partition: Option<String>,
    pub original_offset: Option<String>,
    pub attempts: Option<String>,
}

impl DeadLetter {
    fn from_message(message: &OwnedMessage) -> Self {
        let header = |name: &str| header_value(message, name);
        Self {
            partition: message.partition(),
            offset: message.offset(),
            key: message
                .key()
                .map(|k| String::from_utf8_lossy(k).into_owned()),
            event_id: header("ce_id"),
            event_type: header("ce_type"),
            error: header("dlq_error"),
            original_topic: header("dlq_original_topic"),
            original_partition: header("dlq_original_partition"),
            original_offset: header("dlq_original_offset"),
            attempts: header("dlq_attempts"),
        }
    }
}

fn header_value(message: &OwnedMessage, name: &str) -> Option<String> {
    let headers = message.headers()?;
    let header = headers.iter().find(|h| h.key == name)?;
    header
        .value
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// Every message in `topic` (a DLQ), read from the beginning without joining a group.
pub async fn read_topic(brokers: &str, topic: &str) -> anyhow::Result<Vec<OwnedMessage>> {
    let brokers = brokers.to_owned();
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || read_topic_blocking(&brokers, &topic)).await?
}

fn read_topic_blocking(brokers: &str, topic: &str) -> anyhow::Result<Vec<OwnedMessage>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "sagaworks-admin")
        .set("enable.auto.commit", "false")
        .create()?;
    let timeout = Duration::from_secs(10);
    let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
    let mut assignment = TopicPartitionList::new();
    let mut empty = true;
    for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
        let (low, high) = consumer.fetch_watermarks(topic, partition.id(), timeout)?;
        empty &= high <= low;
        assignment.add_partition_offset(topic, partition.id(), Offset::Offset(low))?;
    }
    let mut messages = Vec::new();
    if empty {
        return Ok(messages);
    }
    // Read until the topic goes quiet. Not up to the high watermarks: Tansu reports the last
    // batch's base offset + 1 there, short of the end when a batch holds several messages.
    consumer.assign(&assignment)?;
    let started = std::time::Instant::now();
    let mut last = started;
    loop {
        match consumer.poll(Duration::from_millis(100)) {
            Some(message) => {
                messages.push(message?.detach());
                last = std::time::Instant::now();
            }
            None if messages.is_empty() && started.elapsed() > timeout => {
                anyhow::bail!("nothing could be read from {topic}")
            }
            None if !messages.is_empty() && last.elapsed() > Duration::from_secs(1) => break,
            None => {}
        }
    }
    messages.sort_by_key(|m| (m.partition(), m.offset()));
    Ok(messages)
}

/// The DLQ of consumer group `group`.
pub async fn dlq_list(brokers: &str, group: &str) -> anyhow::Result<Vec<DeadLetter>> {
    let messages = read_topic(brokers, &crate::inbox::dlq_topic(group)).await?;
    Ok(messages.iter().map(DeadLetter::from_message).collect())
}

/// Publishes the dead letter at `partition`/`offset` of `group`'s DLQ back to the topic it came
/// from, with its original key, payload and headers, for the consumer to apply this time.
/// Returns that topic.
///
/// The consumer remembered the event as dead-lettered in its inbox, and would skip the copy as a
/// duplicate; so, in one transaction on the group's database `pool`, that inbox row is removed
/// and the re-drive recorded in `dlq_redrives` (`by`, when, which event), then the copy is
/// published and the transaction commits. Other groups of the topic applied the event already
/// and skip the copy.
pub async fn dlq_redrive(
    pool: &PgPool,
    brokers: &str,
    group: &str,
    partition: i32,
    offset: i64,
    by: &str,
) -> anyhow::Result<String> {
    let messages = read_topic(brokers, &crate::inbox::dlq_topic(group)).await?;
    let message = messages
        .iter()
        .find(|m| m.partition() == partition && m.offset() == offset)
        .ok_or_else(|| {
            anyhow::anyhow!("no dead letter at partition {partition} offset {offset}")
        })?;
    let topic = header_value(message, "dlq_original_topic")
        .ok_or_else(|| anyhow::anyhow!("the dead letter does not name its original topic"))?;
    let mut headers = OwnedHeaders::new();
    for header in message.headers().into_iter().flat_map(|h| h.iter()) {
        if !header.key.starts_with("dlq_") {
            headers = headers.insert(Header {
                key: header.key,
                value: header.value,
            });
        }
    }
    let event_id = header_value(message, "ce_id").and_then(|id| id.parse::<uuid::Uuid>().ok());
    let mut tx = pool.begin().await?;
    // Only a dead-lettered row: an event applied since (re-driven before) stays applied.
    sqlx::query("delete from inbox where event_id = $1 and dead_lettered")
        .bind(event_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "insert into dlq_redrives (event_id, dlq_partition, dlq_offset, original_topic, redriven_by)
         values ($1, $2, $3, $4, $5)",
    )
    .bind(event_id)
    .bind(partition)
    .bind(offset)
    .bind(&topic)
    .bind(by)
    .execute(&mut *tx)
    .await?;
    let mut record = FutureRecord::to(&topic).headers(headers);
    if let Some(key) = message.key() {
        record = record.key(key);
    }
    if let Some(payload) = message.payload() {
        record = record.payload(payload);
    }
    // Published inside the transaction: a consumer reading the copy before the commit waits on
    // the deleted row's lock, then applies it.
    kafka::producer(brokers)?
        .send(record, Duration::from_secs(10))
        .await
        .map_err(|(error, _)| error)?;
    tx.commit().await?;
    Ok(topic)
}
