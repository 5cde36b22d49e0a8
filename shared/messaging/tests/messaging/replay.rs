use messaging::admin::{ReplaySelection, replay};

use crate::helpers::{Harness, TOPIC, events};
use crate::relay::wait_for_metric;

#[tokio::test]
async fn replaying_an_aggregate_re_publishes_its_events_and_consumers_change_nothing() {
    let harness = Harness::start().await;
    let all = events(4, 5);
    let aggregate = all[0].0;
    harness.enqueue(&all).await;
    harness.spawn_relay();
    let (_consumer, _) = harness.spawn_consumer();
    harness
        .wait_for_count("select count(*) from applied", 20)
        .await;

    let selection = ReplaySelection {
        aggregate: Some(aggregate.to_string()),
        ..ReplaySelection::default()
    };
    let replayed = replay(&harness.pool, &selection).await.unwrap();

    assert_eq!(replayed, 5);
    wait_for_metric(&harness, "inbox_duplicates_total", 5.0).await;
    assert_eq!(harness.read_topic(TOPIC).await.len(), 25);
    assert_eq!(harness.count("select count(*) from applied").await, 20);
}
