//! The `poison` scenario's messages, and invariant 7: the dead letters added are exactly the
//! poison injected.

use std::collections::BTreeSet;
use std::time::Duration;

use events::participants::consumers_of;
use events::reactions::ignores;
use messaging::Event;
use rdkafka::producer::FutureRecord;
use serde_json::json;
use uuid::Uuid;

use super::act;
use crate::audit::Violation;

/// A message the `poison` scenario produced, and the consumer groups that must dead-letter it.
#[derive(Debug)]
pub(super) struct Poison {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub groups: Vec<&'static str>,
}

/// Three messages to each saga topic: bytes that are no event (poison to every consumer group);
/// a version no consumer reads yet of a type on it (poison to the groups that react to that
/// type); and a type added after the consumers were built, which every group must skip (the
/// evolution rule of `events::reactions::ignores`). Returns where each landed and who must
/// dead-letter it.
pub(super) async fn poison(brokers: &str) -> anyhow::Result<Vec<Poison>> {
    let producer = messaging::kafka::producer(brokers)?;
    let mut landed = Vec::new();
    for topic in events::TOPICS {
        let key = Uuid::now_v7().to_string();
        let known = events::EventType::ALL
            .iter()
            .find(|t| t.topic() == topic)
            .expect("every topic carries a type")
            .as_str();
        let newer = format!(
            "{}.v99",
            known.rsplit_once(".v").map_or(known, |(name, _)| name)
        );
        let event = |event_type: &str| Event {
            id: Uuid::now_v7(),
            event_type: event_type.to_owned(),
            source: "/chaos".into(),
            time: chrono::Utc::now(),
            subject: key.clone(),
            data: json!({"poison": true}),
            traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
        };
        let messages = [
            (None, None),
            (Some(event(&newer)), Some(newer.as_str())),
            (
                Some(event("chaos.added_later.v1")),
                Some("chaos.added_later.v1"),
            ),
        ];
        for (event, event_type) in messages {
            let payload = event
                .as_ref()
                .map_or_else(|| "\u{1}not an event".to_owned(), |e| e.data.to_string());
            let mut record = FutureRecord::to(topic).key(&key).payload(payload.as_str());
            if let Some(event) = &event {
                record = record.headers(event.headers());
            }
            let delivery = producer
                .send(record, Duration::from_secs(10))
                .await
                .map_err(|(error, _)| error)?;
            let groups = consumers_of(topic)
                .filter(|group| event_type.is_none_or(|t| !ignores(group.reacts_to, t)))
                .map(|group| group.name)
                .collect();
            landed.push(Poison {
                topic: topic.to_owned(),
                partition: delivery.partition,
                offset: delivery.offset,
                groups,
            });
        }
    }
    Ok(landed)
}

/// A dead letter: (group, original topic, original partition, original offset). An undecodable
/// message has no id for the inbox to remember, so a rebalance can dead-letter it twice: it is
/// the same dead letter, counted once.
pub(super) type DeadLetter = (String, String, i32, i64);

pub(super) async fn dead_letters(brokers: &str) -> anyhow::Result<BTreeSet<DeadLetter>> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match read_dead_letters(brokers).await {
            Err(error) if attempt < 5 => {
                act(&format!("cannot read the DLQs yet ({error:#}); retrying"));
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
            result => return result,
        }
    }
}

async fn read_dead_letters(brokers: &str) -> anyhow::Result<BTreeSet<DeadLetter>> {
    let mut all = BTreeSet::new();
    for group in events::PARTICIPANTS.iter().map(|p| p.name) {
        for letter in messaging::admin::dlq_list(brokers, group).await? {
            let original = (
                letter.original_topic.unwrap_or_default(),
                letter
                    .original_partition
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(-1),
                letter
                    .original_offset
                    .and_then(|o| o.parse().ok())
                    .unwrap_or(-1),
            );
            all.insert((group.to_owned(), original.0, original.1, original.2));
        }
    }
    Ok(all)
}

/// Invariant 7: the dead letters added are exactly the poison injected, once per consumer group
/// it is poison to.
pub(super) fn check_dead_letters(
    added: &BTreeSet<DeadLetter>,
    poison: &[Poison],
) -> Vec<Violation> {
    let expected: BTreeSet<DeadLetter> = poison
        .iter()
        .flat_map(|p| {
            p.groups
                .iter()
                .map(|group| ((*group).to_owned(), p.topic.clone(), p.partition, p.offset))
        })
        .collect();
    let missing = expected
        .difference(added)
        .map(|(group, topic, partition, offset)| Violation {
            invariant: 7,
            subject: format!("{group}.dlq"),
            facts: format!("poison at {topic}/{partition}@{offset} is not in it"),
        });
    let unexpected = added
        .difference(&expected)
        .map(|(group, topic, partition, offset)| Violation {
            invariant: 7,
            subject: format!("{group}.dlq"),
            facts: format!("holds {topic}/{partition}@{offset}, which is no injected poison"),
        });
    missing.chain(unexpected).collect()
}
