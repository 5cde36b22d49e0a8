use std::time::Duration;

use events::{EventType, ORDER_EVENTS};
use notification::Notification;
use participant::testing::{TestApp, event};
use serde_json::{Value, json};
use uuid::Uuid;

/// The notice of `order_id` once the service has one (10 s at most), or its 404 body.
async fn notice(app: &TestApp, order_id: Uuid) -> (u16, Value) {
    for _ in 0..100 {
        let response = app.get(&format!("/notifications/{order_id}")).await;
        if response.status() == 200 {
            return (200, response.json().await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let response = app.get(&format!("/notifications/{order_id}")).await;
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn each_ended_order_gets_one_notice_whatever_is_redelivered_or_replayed() {
    let app = TestApp::spawn::<Notification>().await;
    let (confirmed, cancelled, pending) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());

    let first = event(
        EventType::OrderConfirmed,
        confirmed,
        json!({"order_id": confirmed}),
    );
    // The same event twice (a redelivery), the same fact again under a new id (a replay of the
    // order's outbox), then a cancellation that cannot follow a confirmation.
    let replayed = event(
        EventType::OrderConfirmed,
        confirmed,
        json!({"order_id": confirmed}),
    );
    let contradiction = event(
        EventType::OrderCancelled,
        confirmed,
        json!({"order_id": confirmed, "reason": "timeout"}),
    );
    for sent in [&first, &first, &replayed, &contradiction] {
        app.publish(ORDER_EVENTS, sent).await;
    }
    let data = json!({"order_id": cancelled, "reason": "out_of_stock"});
    app.publish(
        ORDER_EVENTS,
        &event(EventType::OrderCancelled, cancelled, data),
    )
    .await;
    let placed = event(
        EventType::OrderPlaced,
        pending,
        json!({"order_id": pending}),
    );
    app.publish(ORDER_EVENTS, &placed).await;

    let (status, notice_of_confirmed) = notice(&app, confirmed).await;
    assert_eq!(status, 200, "{notice_of_confirmed}");
    app.wait_applied("notification", &[first.id, replayed.id, contradiction.id])
        .await;
    let (_, after_all) = notice(&app, confirmed).await;
    assert_eq!(after_all, notice_of_confirmed);
    assert_eq!(after_all["kind"], "confirmed");
    assert_eq!(after_all["reason"], Value::Null);
    assert_eq!(after_all["message"], "Your order is on its way.");
    assert_eq!(after_all["order_id"], confirmed.to_string());

    let (status, notice_of_cancelled) = notice(&app, cancelled).await;
    assert_eq!(status, 200);
    assert_eq!(notice_of_cancelled["kind"], "cancelled");
    assert_eq!(notice_of_cancelled["reason"], "out_of_stock");
    assert_eq!(
        notice_of_cancelled["message"],
        "Your order was cancelled: an item is out of stock."
    );

    let notices: i64 = sqlx::query_scalar("select count(*) from notification.notices")
        .fetch_one(&app.admin().await)
        .await
        .unwrap();
    assert_eq!(notices, 2, "one per ended order, none for the pending one");
}

#[tokio::test]
async fn an_order_without_a_notice_or_a_malformed_id_is_a_json_404() {
    let app = TestApp::spawn::<Notification>().await;

    for path in [
        format!("/notifications/{}", Uuid::now_v7()),
        "/notifications/nope".into(),
    ] {
        let response = app.get(&path).await;
        assert_eq!(response.status(), 404, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "not_found", "{path}");
    }
}
