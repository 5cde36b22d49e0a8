use std::time::Duration;

use rdkafka::Message;
use uuid::Uuid;

use crate::helpers::{Data, Harness, TOPIC, events};

const UNPUBLISHED: &str = "select count(*) from outbox where published_at is null";
const PUBLISHED: &str = "select count(*) from outbox where published_at is not null";

#[tokio::test]
async fn an_event_of_a_rolled_back_transaction_is_never_published() {
    let harness = Harness::start().await;
    let mut tx = harness.pool.begin().await.unwrap();
    harness
        .outbox
        .enqueue(
            &mut tx,
            "test.happened.v2",
            Uuid::now_v7(),
            &Data::default(),
        )
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    harness.enqueue(&events(1, 1)).await;

    let published = harness.relay().run_until_empty().await.unwrap();

    assert_eq!(published, 1);
    assert_eq!(harness.read_topic(TOPIC).await.len(), 1);
}

#[tokio::test]
async fn a_thousand_events_over_a_hundred_keys_are_consumed_in_insert_order_per_key() {
    let harness = Harness::start().await;
    // Ten transactions, each with one event per key: insert order is seq order within a key.
    let all = events(100, 10);
    for chunk in all.chunks(100) {
        harness.enqueue(chunk).await;
    }
    harness.spawn_relay();
    let (_consumer, _) = harness.spawn_consumer();

    harness
        .wait_for_count("select count(*) from applied", 1000)
        .await;

    let out_of_order: i64 = harness
        .count(
            "select count(*) from (
                 select seq, lag(seq) over (partition by subject order by id) as previous
                 from applied) as pairs
             where previous is not null and seq <> previous + 1",
        )
        .await;
    assert_eq!(
        out_of_order, 0,
        "some key's events were applied out of order"
    );
    assert_eq!(harness.count(UNPUBLISHED).await, 0);
}

#[tokio::test]
async fn a_broker_cut_holds_rows_unpublished_until_acknowledged_and_loses_nothing() {
    let harness = Harness::start().await;
    harness.spawn_relay();
    harness.enqueue(&events(10, 10)).await;
    harness.wait_for_count(UNPUBLISHED, 0).await;

    harness
        .env
        .toxiproxy()
        .set_enabled("kafka", false)
        .await
        .unwrap();
    harness.enqueue(&events(10, 10)).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    // Nothing can have been acknowledged, so nothing may be marked.
    assert_eq!(harness.count(PUBLISHED).await, 100);

    harness
        .env
        .toxiproxy()
        .set_enabled("kafka", true)
        .await
        .unwrap();
    harness.wait_for_count(UNPUBLISHED, 0).await;

    let messages = harness.read_topic(TOPIC).await;
    let mut ids: Vec<String> = messages
        .iter()
        .map(|m| {
            let headers = m.headers().unwrap();
            let id = rdkafka::message::Headers::iter(headers)
                .find(|h| h.key == "ce_id")
                .unwrap();
            String::from_utf8(id.value.unwrap().to_vec()).unwrap()
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 200, "every event arrived");
}

/// A cut longer than the producer's delivery timeout: librdkafka gives up on the messages and
/// bumps its idempotent producer's epoch itself, an epoch the broker never issued. The durable
/// engine must answer that with an epoch error the relay recovers from (a new producer), not an
/// unknown error for ever (`shared/nisshi/4-sqlite-unknown-epoch.patch`).
#[tokio::test]
async fn a_cut_longer_than_the_delivery_timeout_loses_nothing_on_the_durable_broker() {
    let harness = Harness::start_durable().await;
    harness.spawn_relay();
    harness.enqueue(&events(10, 10)).await;
    harness.wait_for_count(UNPUBLISHED, 0).await;

    let proxy = harness.env.toxiproxy();
    proxy.set_enabled("kafka", false).await.unwrap();
    harness.enqueue(&events(10, 10)).await;
    // `message.timeout.ms` is 10 s (messaging::kafka::producer).
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert_eq!(harness.count(PUBLISHED).await, 100);
    proxy.set_enabled("kafka", true).await.unwrap();
    harness.wait_for_count(UNPUBLISHED, 0).await;

    harness.enqueue(&events(10, 10)).await;
    harness.wait_for_count(UNPUBLISHED, 0).await;
    let messages = harness.read_topic(TOPIC).await;
    let ids: std::collections::BTreeSet<_> = messages
        .iter()
        .filter_map(|m| {
            rdkafka::message::Headers::iter(m.headers()?)
                .find(|h| h.key == "ce_id")
                .and_then(|h| h.value.map(<[u8]>::to_vec))
        })
        .collect();
    assert_eq!(ids.len(), 300, "every event arrived");
}

#[tokio::test]
async fn duplicates_from_a_relay_crash_between_ack_and_marking_are_applied_once() {
    let harness = Harness::start().await;
    harness.enqueue(&events(5, 10)).await;
    harness.relay().run_until_empty().await.unwrap();
    // The crash: the broker has the batch, but the rows were never marked.
    sqlx::query("update outbox set published_at = null")
        .execute(&harness.pool)
        .await
        .unwrap();
    harness.relay().run_until_empty().await.unwrap();
    assert_eq!(harness.read_topic(TOPIC).await.len(), 100);

    let (_consumer, _) = harness.spawn_consumer();

    harness
        .wait_for_count("select count(*) from inbox", 50)
        .await;
    wait_for_metric(&harness, "inbox_duplicates_total", 50.0).await;
    assert_eq!(harness.count("select count(*) from applied").await, 50);
    assert_eq!(
        harness
            .count("select count(*) from (select event_id from applied group by event_id having count(*) > 1) d")
            .await,
        0
    );
}

#[tokio::test]
async fn of_two_relays_one_publishes_and_the_standby_takes_over_when_the_leader_dies() {
    let harness = Harness::start().await;
    harness.spawn_relay();
    harness.spawn_relay();
    harness.enqueue(&events(10, 5)).await;
    harness.wait_for_count(UNPUBLISHED, 0).await;
    // pg_locks is the whole cluster's: other tests' relays hold locks in their databases.
    let leaders = "select count(*) from pg_locks where locktype = 'advisory' and granted
                   and database = (select oid from pg_database where datname = current_database())";
    assert_eq!(harness.count(leaders).await, 1);

    // Kill the leader's session, as a crashed process or a cut connection would.
    let admin = sqlx::PgPool::connect(&harness.env.admin_url())
        .await
        .unwrap();
    let killed: bool = sqlx::query_scalar(
        "select pg_terminate_backend(pid) from pg_locks where locktype = 'advisory' and granted
         and database = (select oid from pg_database where datname = current_database())",
    )
    .fetch_one(&admin)
    .await
    .unwrap();
    assert!(killed);
    let started = tokio::time::Instant::now();
    harness.enqueue(&events(10, 5)).await;
    harness.wait_for_count(UNPUBLISHED, 0).await;

    assert!(started.elapsed() < Duration::from_secs(10));
    // The dying leader may publish a batch before its once-a-second check finds the session
    // gone; the standby then takes the lock at its next poll.
    harness.wait_for_count(leaders, 1).await;
    // Exactly once each: the two relays never published the same rows.
    assert_eq!(harness.read_topic(TOPIC).await.len(), 100);
}

pub async fn wait_for_metric(harness: &Harness, name: &str, expected: f64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while harness.metric(name) < expected {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} is {}, expected {expected}",
            harness.metric(name)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The leading relay purges published outbox rows and inbox rows past their windows, and
/// nothing younger or unpublished.
#[tokio::test]
async fn rows_past_their_retention_windows_are_purged() {
    let harness = Harness::start().await;
    let old = "now() - interval '8 days'";
    sqlx::query(&format!(
        "insert into inbox (event_id, event_type, topic, kafka_partition, kafka_offset, processed_at)
         values (gen_random_uuid(), 't', 't', 0, 0, {old}), (gen_random_uuid(), 't', 't', 0, 1, now())"
    ))
    .execute(&harness.pool)
    .await
    .unwrap();
    let ids = harness.enqueue(&events(1, 3)).await;
    harness.relay().run_until_empty().await.unwrap();
    sqlx::query(&format!(
        "update outbox set created_at = {old} where event_id = any($1)"
    ))
    .bind(&ids[..2])
    .execute(&harness.pool)
    .await
    .unwrap();

    let _relay = harness.spawn_relay();

    harness
        .wait_for_count("select count(*) from inbox", 1)
        .await;
    harness
        .wait_for_count("select count(*) from outbox", 1)
        .await;
}

/// The broker deletes dead letters after the DLQ window: the DLQ topic is created with it.
#[tokio::test]
async fn the_dead_letter_topic_is_created_with_its_retention_window() {
    use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
    use rdkafka::client::DefaultClientContext;

    let harness = Harness::start().await;
    let retention = messaging::cli::Retention {
        dlq_retention_days: 2.5,
        ..Default::default()
    };
    messaging::Messaging::prepare(
        &harness.service,
        harness.pool.clone(),
        sqlx::migrate!("tests/migrations"),
        harness.env.kafka_brokers(),
        &[TOPIC],
        &[TOPIC],
        &retention,
    )
    .await
    .unwrap();

    let admin: AdminClient<DefaultClientContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", harness.env.kafka_brokers())
        .create()
        .unwrap();
    let dlq = messaging::inbox::dlq_topic(&harness.service);
    let described = admin
        .describe_configs([&ResourceSpecifier::Topic(&dlq)], &AdminOptions::new())
        .await
        .unwrap();
    let config = described.into_iter().next().unwrap().unwrap();
    let value = |name: &str| {
        config
            .get(name)
            .and_then(|entry| entry.value.clone())
            .unwrap_or_else(|| panic!("{dlq} has no {name}: {:?}", config.entries))
    };
    assert_eq!(value("retention.ms"), (2.5 * 86_400_000.0_f64).to_string());
    assert_eq!(value("cleanup.policy"), "delete");
}
