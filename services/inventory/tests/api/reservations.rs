//! What inventory does with each event it reacts to, through the broker: reservations all or
//! none, their release and sale, and the tombstone a cancellation leaves.

use events::{EventType, ORDER_EVENTS, PAYMENT_EVENTS};
use inventory::Inventory;
use participant::testing::{TestApp, event};
use serde_json::{Value, json};
use uuid::Uuid;

async fn spawn() -> TestApp {
    TestApp::spawn_with::<Inventory>(&["--admin-token", testkit::ADMIN_TOKEN]).await
}

fn placed(order_id: Uuid, lines: &Value) -> Value {
    json!({
        "order_id": order_id, "customer_id": Uuid::now_v7(), "lines": lines, "total_cents": 2900,
        "card_token": "tok_visa",
        "shipping_address": {"name": "Ada", "line1": "1 Main St", "city": "Berlin",
                             "postal_code": "10115", "country": "DE"},
    })
}

fn bolts(quantity: i64) -> Value {
    json!([{"sku": "SKU-BOLT", "quantity": quantity, "unit_price_cents": 1450}])
}

/// SKU-BOLT's (available, reserved, committed).
async fn bolt_stock(app: &TestApp) -> (i64, i64, i64) {
    let products: Vec<Value> = app.get("/products").await.json().await.unwrap();
    let bolt = products.iter().find(|p| p["sku"] == "SKU-BOLT").unwrap();
    let count = |field: &str| bolt[field].as_i64().unwrap();
    (count("available"), count("reserved"), count("committed"))
}

const RESERVATION: &str = "select status from inventory.reservations where order_id = $1";

#[tokio::test]
async fn an_order_is_reserved_all_or_none_then_sold_or_released() {
    let app = spawn().await;
    let (available, _, _) = bolt_stock(&app).await;
    let (sold, short, failed) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());

    let send = |order_id, lines| event(EventType::OrderPlaced, order_id, placed(order_id, &lines));
    app.publish(ORDER_EVENTS, &send(sold, bolts(2))).await;
    let too_many = json!([{"sku": "SKU-BOLT", "quantity": 1, "unit_price_cents": 1450},
                          {"sku": "SKU-ANVIL", "quantity": 999_999, "unit_price_cents": 12900}]);
    app.publish(ORDER_EVENTS, &send(short, too_many)).await;
    app.publish(ORDER_EVENTS, &send(failed, bolts(3))).await;

    assert_eq!(
        app.eventually(RESERVATION, sold, "HELD").await.as_deref(),
        Some("HELD")
    );
    assert_eq!(
        app.eventually(RESERVATION, short, "REJECTED")
            .await
            .as_deref(),
        Some("REJECTED")
    );
    assert_eq!(
        app.eventually(RESERVATION, failed, "HELD").await.as_deref(),
        Some("HELD")
    );
    assert_eq!(
        bolt_stock(&app).await,
        (available - 5, 5, 0),
        "the short order took nothing"
    );

    let confirmed = event(EventType::OrderConfirmed, sold, json!({"order_id": sold}));
    app.publish(ORDER_EVENTS, &confirmed).await;
    let declined = json!({"order_id": failed, "reason": "payment_declined"});
    app.publish(
        PAYMENT_EVENTS,
        &event(EventType::PaymentFailed, failed, declined),
    )
    .await;

    assert_eq!(
        app.eventually(RESERVATION, sold, "COMMITTED")
            .await
            .as_deref(),
        Some("COMMITTED")
    );
    assert_eq!(
        app.eventually(RESERVATION, failed, "RELEASED")
            .await
            .as_deref(),
        Some("RELEASED")
    );
    assert_eq!(bolt_stock(&app).await, (available - 2, 0, 2));
    assert_eq!(
        app.outbox("inventory", sold).await,
        [EventType::InventoryReserved]
    );
    assert_eq!(
        app.outbox("inventory", short).await,
        [EventType::InventoryRejected]
    );
    assert_eq!(
        app.outbox("inventory", failed).await,
        [EventType::InventoryReserved, EventType::InventoryReleased]
    );
}

#[tokio::test]
async fn a_cancellation_before_its_order_leaves_a_tombstone_so_the_late_order_reserves_nothing() {
    let app = spawn().await;
    let before = bolt_stock(&app).await;
    let order_id = Uuid::now_v7();

    let cancelled = json!({"order_id": order_id, "reason": "timeout"});
    app.publish(
        ORDER_EVENTS,
        &event(EventType::OrderCancelled, order_id, cancelled),
    )
    .await;
    let late = event(
        EventType::OrderPlaced,
        order_id,
        placed(order_id, &bolts(4)),
    );
    app.publish(ORDER_EVENTS, &late).await;

    app.wait_applied("inventory", &[late.id]).await;
    assert_eq!(
        app.eventually(RESERVATION, order_id, "CANCELLED")
            .await
            .as_deref(),
        Some("CANCELLED")
    );
    assert_eq!(bolt_stock(&app).await, before);
    assert!(app.outbox("inventory", order_id).await.is_empty());
}
