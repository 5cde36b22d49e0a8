//! A service's relay and consumer run supervised: one that dies is reported by `/readyz` and
//! started again, and nothing it was given is lost.

use std::time::Duration;

use messaging::Messaging;
use platform::Shutdown;
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::helpers::{Data, Harness, TOPIC, TestHandler};
use crate::relay::wait_for_metric;

#[tokio::test]
async fn a_consumer_whose_worker_dies_is_unready_then_restarted_and_loses_nothing() {
    let harness = Harness::start().await;
    let messaging = Messaging::prepare(
        &harness.service,
        harness.pool.clone(),
        sqlx::migrate!("tests/migrations"),
        harness.env.kafka_brokers(),
        &[TOPIC],
        &[TOPIC],
        &Default::default(),
    )
    .await
    .unwrap();
    let ready = messaging.readiness();
    let shutdown = Shutdown::new();
    let mut workers = JoinSet::new();
    messaging.spawn(TestHandler::default(), &mut workers, &shutdown);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while let Err(reason) = ready().await {
        assert!(tokio::time::Instant::now() < deadline, "{reason}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The first event kills its partition's worker; two more follow it on the same partition.
    let key = Uuid::now_v7();
    let data = |seq, panics_once| Data {
        seq,
        panics_once,
        ..Data::default()
    };
    harness
        .enqueue(&[
            (key, data(0, true)),
            (key, data(1, false)),
            (key, data(2, false)),
        ])
        .await;

    let mut unready = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while unready.is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "/readyz never noticed the dead consumer"
        );
        unready = ready().await.err();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    harness
        .wait_for_count("select count(*) from applied", 3)
        .await;
    wait_for_metric(&harness, "messaging_task_restarts_total", 1.0).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while let Err(reason) = ready().await {
        assert!(tokio::time::Instant::now() < deadline, "{reason}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seqs: Vec<i32> = sqlx::query_scalar("select seq from applied order by id")
        .fetch_all(&harness.pool)
        .await
        .unwrap();
    assert_eq!(seqs, [0, 1, 2], "first unready because: {unready:?}");
    shutdown.trigger();
    while workers.join_next().await.is_some() {}
}
