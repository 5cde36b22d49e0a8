//! What shipping does with each event it reacts to, through the broker: a shipment per paid
//! order (none where no carrier serves), its cancellation, and the tombstone a cancellation
//! leaves.

use events::{EventType, ORDER_EVENTS, PAYMENT_EVENTS};
use participant::testing::{TestApp, event};
use serde_json::{Value, json};
use shipping::Shipping;
use uuid::Uuid;

fn paid(order_id: Uuid, country: &str) -> messaging::Event {
    let data = json!({
        "order_id": order_id, "charge_id": Uuid::now_v7(), "amount_cents": 2900,
        "shipping_address": {"name": "Ada", "line1": "1 Main St", "city": "Berlin",
                             "postal_code": "10115", "country": country},
    });
    event(EventType::PaymentCompleted, order_id, data)
}

fn cancelled(order_id: Uuid) -> messaging::Event {
    let data = json!({"order_id": order_id, "reason": "timeout"});
    event(EventType::OrderCancelled, order_id, data)
}

const SHIPMENT: &str = "select status from shipping.shipments where order_id = $1";

#[tokio::test]
async fn a_paid_order_is_shipped_where_a_carrier_serves_and_cancelled_on_compensation() {
    let app = TestApp::spawn::<Shipping>().await;
    let (shipped, unserved, compensated) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());

    app.publish(PAYMENT_EVENTS, &paid(shipped, "DE")).await;
    app.publish(PAYMENT_EVENTS, &paid(unserved, "AQ")).await;
    app.publish(PAYMENT_EVENTS, &paid(compensated, "FR")).await;
    assert_eq!(
        app.eventually(SHIPMENT, compensated, "SCHEDULED")
            .await
            .as_deref(),
        Some("SCHEDULED")
    );
    app.publish(ORDER_EVENTS, &cancelled(compensated)).await;

    assert_eq!(
        app.eventually(SHIPMENT, shipped, "SCHEDULED")
            .await
            .as_deref(),
        Some("SCHEDULED")
    );
    assert_eq!(
        app.eventually(SHIPMENT, unserved, "FAILED")
            .await
            .as_deref(),
        Some("FAILED")
    );
    assert_eq!(
        app.eventually(SHIPMENT, compensated, "CANCELLED")
            .await
            .as_deref(),
        Some("CANCELLED")
    );
    let shipment: Value = app
        .get(&format!("/shipments/{shipped}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shipment["status"], "SCHEDULED");
    assert!(
        shipment["tracking_number"]
            .as_str()
            .unwrap()
            .starts_with("TRK-"),
        "{shipment}"
    );
    assert_eq!(
        app.outbox("shipping", shipped).await,
        [EventType::ShipmentScheduled]
    );
    assert_eq!(
        app.outbox("shipping", unserved).await,
        [EventType::ShipmentFailed]
    );
    assert_eq!(
        app.outbox("shipping", compensated).await,
        [EventType::ShipmentScheduled]
    );
}

#[tokio::test]
async fn a_cancellation_before_the_payment_leaves_a_tombstone_so_nothing_ships() {
    let app = TestApp::spawn::<Shipping>().await;
    let order_id = Uuid::now_v7();

    // The topics are read in parallel: the cancellation is applied before the payment is sent.
    let cancellation = cancelled(order_id);
    app.publish(ORDER_EVENTS, &cancellation).await;
    app.wait_applied("shipping", &[cancellation.id]).await;
    let late = paid(order_id, "DE");
    app.publish(PAYMENT_EVENTS, &late).await;

    app.wait_applied("shipping", &[late.id]).await;
    assert_eq!(
        app.eventually(SHIPMENT, order_id, "CANCELLED")
            .await
            .as_deref(),
        Some("CANCELLED")
    );
    assert!(app.outbox("shipping", order_id).await.is_empty());
}
