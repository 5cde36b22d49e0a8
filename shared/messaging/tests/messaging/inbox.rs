use rdkafka::message::{Headers, Message};
use uuid::Uuid;

use crate::helpers::{Data, GROUP, Harness, IGNORED_TYPE, TOPIC, events};
use crate::relay::wait_for_metric;

#[tokio::test]
async fn the_same_event_delivered_twice_takes_effect_once() {
    let harness = Harness::start().await;
    harness.enqueue(&events(1, 1)).await;
    harness.relay().run_until_empty().await.unwrap();
    let message = harness.read_topic(TOPIC).await.remove(0);
    // Re-produce the very same message, as a producer retry or a replay would.
    harness
        .produce_raw(
            "again",
            message.payload().unwrap(),
            message.headers().cloned(),
        )
        .await;

    let (_consumer, _) = harness.spawn_consumer();

    wait_for_metric(&harness, "inbox_duplicates_total", 1.0).await;
    assert_eq!(harness.count("select count(*) from applied").await, 1);
}

#[tokio::test]
async fn redelivery_of_applied_events_is_a_no_op() {
    let harness = Harness::start().await;
    harness.enqueue(&events(10, 3)).await;
    harness.relay().run_until_empty().await.unwrap();
    let (stop, consumer) = harness.spawn_consumer();
    harness
        .wait_for_count("select count(*) from applied", 30)
        .await;
    stop.trigger();
    consumer.await.unwrap().unwrap();

    // A consumer that died after its inbox transactions but before committing offsets leaves
    // its successor to re-read everything; a fresh group with the same inbox does just that.
    let (_consumer, _) = harness.spawn_consumer_in("test-consumer-successor");

    wait_for_metric(&harness, "inbox_duplicates_total", 30.0).await;
    assert_eq!(harness.count("select count(*) from applied").await, 30);
}

#[tokio::test]
async fn ignored_types_are_acknowledged_without_a_transaction() {
    let harness = Harness::start().await;
    let key = Uuid::now_v7();
    let mut tx = harness.pool.begin().await.unwrap();
    for _ in 0..3 {
        harness
            .outbox
            .enqueue(&mut tx, IGNORED_TYPE, key, &Data::default())
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    // Same key, so the same partition: it is applied only after the ignored ones were passed.
    harness.enqueue(&[(key, Data::default())]).await;
    harness.relay().run_until_empty().await.unwrap();

    let (_consumer, _) = harness.spawn_consumer();
    harness
        .wait_for_count("select count(*) from applied", 1)
        .await;
    wait_for_metric(&harness, "inbox_ignored_total", 3.0).await;
    assert_eq!(
        harness
            .count(&format!(
                "select count(*) from inbox where event_type = '{IGNORED_TYPE}'"
            ))
            .await,
        0
    );
    assert_eq!(harness.count("select count(*) from inbox").await, 1);
}

#[tokio::test]
async fn poison_goes_to_the_dlq_with_its_reason_and_the_partition_keeps_flowing() {
    let harness = Harness::start().await;
    let key = Uuid::now_v7();
    // Same key, so the same partition: the good event after the poison must still be applied.
    harness
        .produce_raw(&key.to_string(), b"\x00not an event", None)
        .await;
    let mut tx = harness.pool.begin().await.unwrap();
    harness
        .outbox
        .enqueue(&mut tx, "test.unheard_of.v1", key, &Data::default())
        .await
        .unwrap();
    let poison = Data {
        poison: true,
        ..Data::default()
    };
    harness
        .outbox
        .enqueue(&mut tx, "test.happened.v2", key, &poison)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    harness.enqueue(&[(key, Data::default())]).await;
    harness.relay().run_until_empty().await.unwrap();

    let (_consumer, _) = harness.spawn_consumer();
    harness
        .wait_for_count("select count(*) from applied", 1)
        .await;
    wait_for_metric(&harness, "dlq_messages_total", 3.0).await;

    let mut letters = messaging::admin::dlq_list(harness.env.kafka_brokers(), GROUP)
        .await
        .unwrap();
    // A rebalance can re-deliver a poison message before its offset was committed; the
    // undecodable one has no id to remember it by, so it may be dead-lettered twice.
    letters.sort_by_key(|l| {
        l.original_offset
            .as_ref()
            .and_then(|o| o.parse::<i64>().ok())
    });
    letters.dedup_by_key(|l| l.original_offset.clone());
    assert_eq!(letters.len(), 3, "{letters:?}");
    let errors: Vec<&str> = letters.iter().filter_map(|l| l.error.as_deref()).collect();
    assert!(errors[0].contains("ce_specversion"), "{errors:?}");
    assert!(
        errors[1].contains("unknown event type `test.unheard_of.v1`"),
        "{errors:?}"
    );
    assert!(errors[2].contains("asks to be poison"), "{errors:?}");
    for letter in &letters {
        assert_eq!(letter.original_topic.as_deref(), Some(TOPIC));
        assert!(letter.original_offset.is_some() && letter.attempts.is_some());
    }
    assert_eq!(
        harness
            .count("select count(*) from inbox where dead_lettered")
            .await,
        2,
        "the two decodable dead letters are remembered"
    );

    // Re-drive sends one back to where it came from.
    let before = harness.read_topic(TOPIC).await.len();
    let target = messaging::admin::dlq_redrive(
        &harness.pool,
        harness.env.kafka_brokers(),
        GROUP,
        letters[1].partition,
        letters[1].offset,
        "tester",
    )
    .await
    .unwrap();
    assert_eq!(target, TOPIC);
    let after = harness.read_topic(TOPIC).await;
    assert_eq!(after.len(), before + 1);
    let redriven = after.iter().max_by_key(|m| m.offset()).unwrap();
    assert!(
        redriven
            .headers()
            .unwrap()
            .iter()
            .all(|h| !h.key.starts_with("dlq_"))
    );
}

#[tokio::test]
async fn transient_failures_are_retried_in_place_and_exhausted_retries_dead_letter() {
    let harness = Harness::start().await;
    let key = Uuid::now_v7();
    let recovers = Data {
        seq: 0,
        transient_failures: 2,
        ..Data::default()
    };
    let never_recovers = Data {
        seq: 1,
        transient_failures: u32::MAX,
        ..Data::default()
    };
    harness
        .enqueue(&[
            (key, recovers),
            (key, never_recovers),
            (
                key,
                Data {
                    seq: 2,
                    ..Data::default()
                },
            ),
        ])
        .await;
    harness.relay().run_until_empty().await.unwrap();

    let (_consumer, _) = harness.spawn_consumer();

    harness
        .wait_for_count("select count(*) from applied", 2)
        .await;
    let seqs: Vec<i32> = sqlx::query_scalar("select seq from applied order by id")
        .fetch_all(&harness.pool)
        .await
        .unwrap();
    assert_eq!(seqs, [0, 2]);
    let letters = messaging::admin::dlq_list(harness.env.kafka_brokers(), GROUP)
        .await
        .unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].attempts.as_deref(), Some("3"));
    assert!(
        letters[0]
            .error
            .as_deref()
            .unwrap()
            .contains("retries exhausted")
    );
}

#[tokio::test]
async fn an_old_event_version_is_upcast_before_the_handler_sees_it() {
    let harness = Harness::start().await;
    let mut tx = harness.pool.begin().await.unwrap();
    harness
        .outbox
        .enqueue(
            &mut tx,
            "test.happened.v1",
            Uuid::now_v7(),
            &serde_json::json!({"n": 7}),
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    harness.relay().run_until_empty().await.unwrap();

    let (stop, consumer) = harness.spawn_consumer();

    harness
        .wait_for_count("select count(*) from applied where seq = 7", 1)
        .await;
    stop.trigger();
    consumer.await.unwrap().unwrap();
}

/// A database outage outlasting every retry is not the message's fault: the partition waits
/// for the database, however long, and dead-letters nothing.
#[tokio::test]
async fn a_database_outage_longer_than_the_retries_dead_letters_nothing() {
    let harness = Harness::start().await;
    harness.enqueue(&events(2, 3)).await;
    harness.relay().run_until_empty().await.unwrap();
    harness
        .env
        .toxiproxy()
        .set_enabled("postgres", false)
        .await
        .unwrap();

    let (_consumer, _) = harness.spawn_consumer();
    // Three attempts of a 1 s connection wait each: well inside the outage.
    tokio::time::sleep(std::time::Duration::from_secs(12)).await;
    harness
        .env
        .toxiproxy()
        .set_enabled("postgres", true)
        .await
        .unwrap();

    harness
        .wait_for_count("select count(*) from applied", 6)
        .await;
    let letters = messaging::admin::dlq_list(harness.env.kafka_brokers(), GROUP)
        .await
        .unwrap();
    assert!(letters.is_empty(), "{letters:?}");
}

/// Data the schema refuses fails the same way every time: dead-lettered at the first attempt.
#[tokio::test]
async fn a_constraint_violation_is_poison_at_once() {
    let harness = Harness::start().await;
    let key = Uuid::now_v7();
    harness
        .enqueue(&[
            (
                key,
                Data {
                    seq: -1,
                    ..Data::default()
                },
            ),
            (
                key,
                Data {
                    seq: 1,
                    ..Data::default()
                },
            ),
        ])
        .await;
    harness.relay().run_until_empty().await.unwrap();

    let (_consumer, _) = harness.spawn_consumer();

    harness
        .wait_for_count("select count(*) from applied", 1)
        .await;
    let letters = messaging::admin::dlq_list(harness.env.kafka_brokers(), GROUP)
        .await
        .unwrap();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0].attempts.as_deref(), Some("1"));
    assert!(
        letters[0]
            .error
            .as_deref()
            .unwrap()
            .contains("applied_seq_not_negative"),
        "{letters:?}"
    );
}

/// A dead letter whose cause has gone (here: failures that outlasted the retries) is applied
/// when re-driven, exactly once, and the re-drive is on record.
#[tokio::test]
async fn a_redriven_dead_letter_is_applied_once_and_recorded() {
    let harness = Harness::start().await;
    let failing = Data {
        seq: 7,
        transient_failures: 3,
        ..Data::default()
    };
    harness.enqueue(&[(Uuid::now_v7(), failing)]).await;
    harness.relay().run_until_empty().await.unwrap();
    let (_consumer, _) = harness.spawn_consumer();
    wait_for_metric(&harness, "dlq_messages_total", 1.0).await;
    let letters = messaging::admin::dlq_list(harness.env.kafka_brokers(), GROUP)
        .await
        .unwrap();
    assert_eq!(harness.count("select count(*) from applied").await, 0);

    messaging::admin::dlq_redrive(
        &harness.pool,
        harness.env.kafka_brokers(),
        GROUP,
        letters[0].partition,
        letters[0].offset,
        "tester",
    )
    .await
    .unwrap();

    harness
        .wait_for_count("select count(*) from applied where seq = 7", 1)
        .await;
    let (by, event_id): (String, Option<Uuid>) =
        sqlx::query_as("select redriven_by, event_id from dlq_redrives")
            .fetch_one(&harness.pool)
            .await
            .unwrap();
    assert_eq!(by, "tester");
    assert_eq!(event_id.map(|id| id.to_string()), letters[0].event_id);
    // Once: a second delivery of the copy would be a duplicate now.
    wait_for_metric(&harness, "inbox_processed_total", 1.0).await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(harness.count("select count(*) from applied").await, 1);
}

/// A poison message at the size limit: with the `dlq_*` headers it would no longer fit, and
/// the partition would wait on the DLQ for ever. Its dead letter carries a digest instead, and
/// the next message on the partition is applied.
#[tokio::test]
async fn a_dead_letter_of_a_message_at_the_size_limit_is_truncated_and_the_partition_moves_on() {
    let harness = Harness::start().await;
    let key = Uuid::now_v7();
    let huge = vec![b'x'; 999_800];
    harness.produce_raw(&key.to_string(), &huge, None).await;
    harness.enqueue(&[(key, Data::default())]).await;
    harness.relay().run_until_empty().await.unwrap();

    let (_consumer, _) = harness.spawn_consumer();

    harness
        .wait_for_count("select count(*) from applied", 1)
        .await;
    let letters = harness
        .read_topic(&messaging::inbox::dlq_topic(GROUP))
        .await;
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    let truncated = letter
        .headers()
        .unwrap()
        .iter()
        .any(|h| h.key == "dlq_truncated" && h.value == Some(b"true".as_slice()));
    assert!(truncated);
    let digest: serde_json::Value = serde_json::from_slice(letter.payload().unwrap()).unwrap();
    assert_eq!(digest["size"], 999_800);
    assert_eq!(digest["sha256"].as_str().unwrap().len(), 64);
}
