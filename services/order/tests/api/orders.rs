//! `POST /orders` input handling and idempotency, against the order service alone (and a twin:
//! a second replica on the same database and broker).

use events::EventType;
use serde_json::{Value, json};
use uuid::Uuid;

use order::Order;
use participant::testing::TestApp;

/// An order request for `quantity` of `sku`, paid with `card`, shipped to `country`.
fn order(sku: &str, quantity: i64, card: &str, country: &str) -> Value {
    json!({
        "customer_id": Uuid::now_v7(),
        "lines": [{"sku": sku, "quantity": quantity}],
        "card_token": card,
        "shipping_address": {"name": "Ada Lovelace", "line1": "12 St James's Square", "city": "London", "postal_code": "SW1Y 4JH", "country": country},
    })
}

async fn post_order(app: &TestApp, body: &Value, key: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{}/orders", app.address))
        .json(body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    request.send().await.expect("request sent")
}

/// Orders and outbox rows stored.
async fn written(app: &TestApp) -> (i64, i64) {
    let pool = sqlx::PgPool::connect(&app.env.admin_url()).await.unwrap();
    sqlx::query_as(
        "select (select count(*) from \"order\".orders), (select count(*) from \"order\".outbox)",
    )
    .fetch_one(&pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn an_order_is_accepted_with_its_location_and_catalogue_prices() {
    let app = TestApp::spawn::<Order>().await;

    let response = post_order(&app, &order("SKU-BOLT", 3, "tok_visa", "DE"), None).await;

    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        location,
        format!("/orders/{}", body["id"].as_str().unwrap())
    );
    assert_eq!(body["status"], "PENDING");
    assert_eq!(body["total_cents"], 3 * 1450);
    let fetched: Value = app.get(&location).await.json().await.unwrap();
    assert_eq!(fetched["timeline"][0]["event"], "OrderPlaced");
    let listed: Vec<Value> = app
        .get("/orders?status=PENDING&limit=10")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(written(&app).await, (1, 1));
}

#[tokio::test]
async fn bad_input_is_a_4xx_naming_the_problem_and_writes_nothing() {
    let app = TestApp::spawn::<Order>().await;
    let mut missing = order("SKU-BOLT", 1, "tok_visa", "DE");
    missing.as_object_mut().unwrap().remove("card_token");
    let cases = [
        (missing, 422, Some("card_token")),
        (
            order("SKU-BOLT", 0, "tok_visa", "DE"),
            422,
            Some("lines[0].quantity"),
        ),
        (
            order("SKU-BOLT", -2, "tok_visa", "DE"),
            422,
            Some("lines[0].quantity"),
        ),
        (
            order("SKU-UNKNOWN", 1, "tok_visa", "DE"),
            422,
            Some("lines[0].sku"),
        ),
        (
            order("SKU-BOLT", 1, "tok_visa", "DEU"),
            422,
            Some("shipping_address.country"),
        ),
        (json!({"customer_id": "x"}), 422, Some("customer_id")),
        (
            order("SKU-BOLT", 1, "tok_visa\u{0}", "DE"),
            422,
            Some("card_token"),
        ),
        (
            {
                let mut body = order("SKU-BOLT", 1, "tok_visa", "DE");
                body["shipping_address"]["line1"] = json!("1 Main St\u{0}");
                body
            },
            422,
            Some("shipping_address.line1"),
        ),
    ];
    for (body, status, field) in cases {
        let response = post_order(&app, &body, None).await;
        assert_eq!(response.status(), status, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["field"].as_str(), field, "{body}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    }

    let url = format!("{}/orders", app.address);
    let huge = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body(format!("{{\"pad\": \"{}\"}}", "x".repeat(1 << 20)))
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413);
    let text = app.client.post(&url).body("lines=1").send().await.unwrap();
    assert_eq!(text.status(), 415);
    let malformed = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body("{\"lines\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    let error: Value = malformed.json().await.unwrap();
    assert_eq!(error["error"], "malformed_json");

    assert_eq!(written(&app).await, (0, 0));
    assert_eq!(
        app.get(&format!("/orders/{}", Uuid::now_v7()))
            .await
            .status(),
        404
    );
    assert_eq!(app.get("/orders?status=LOST").await.status(), 422);
}

#[tokio::test]
async fn an_idempotency_key_replays_the_same_order_and_rejects_another_body() {
    let app = TestApp::spawn::<Order>().await;
    let body = order("SKU-ROPE", 1, "tok_visa", "FR");

    let first: Value = post_order(&app, &body, Some("k-1"))
        .await
        .json()
        .await
        .unwrap();
    let again = post_order(&app, &body, Some("k-1")).await;
    let other = post_order(&app, &order("SKU-ROPE", 2, "tok_visa", "FR"), Some("k-1")).await;

    assert_eq!(again.status(), 202);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);
    assert_eq!(other.status(), 422);
    let error: Value = other.json().await.unwrap();
    assert_eq!(error["error"], "idempotency_key_reused");
    assert_eq!(written(&app).await, (1, 1));
    // The fingerprint that recognises a retry is a digest: the card token is not kept.
    let pool = sqlx::PgPool::connect(&app.env.admin_url()).await.unwrap();
    let (fingerprint,): (String,) =
        sqlx::query_as("select request_fingerprint from \"order\".orders")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(fingerprint.len(), 64, "{fingerprint}");
    assert!(!fingerprint.contains("tok_visa"), "{fingerprint}");
}

/// Two replicas take the same keyed request at once (a client retrying through a load balancer):
/// one order, and every answer is it.
#[tokio::test]
async fn one_idempotency_key_at_two_replicas_at_once_places_one_order() {
    let first = TestApp::spawn::<Order>().await;
    let second = first.twin::<Order>(&[]).await;
    let body = order("SKU-ROPE", 1, "tok_visa", "FR");

    let mut requests = tokio::task::JoinSet::new();
    for i in 0..16 {
        let replica = if i % 2 == 0 { &first } else { &second };
        let request = replica
            .client
            .post(format!("{}/orders", replica.address))
            .header("Idempotency-Key", "k-twins")
            .json(&body);
        requests.spawn(async move {
            let response = request.send().await.unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        });
    }
    let mut ids = std::collections::BTreeSet::new();
    while let Some(answer) = requests.join_next().await {
        let (status, placed) = answer.unwrap();
        assert_eq!(status, 202, "{placed}");
        ids.insert(placed["id"].as_str().unwrap().to_owned());
    }

    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(written(&first).await, (1, 1));
}

/// Every replica runs the saga-deadline watchdog: each overdue order is still cancelled once,
/// with one `OrderCancelled`.
#[tokio::test]
async fn two_replicas_cancel_each_overdue_order_once() {
    let args = ["--saga-deadline-secs", "1"];
    let first = TestApp::spawn_with::<Order>(&args).await;
    let second = first.twin::<Order>(&args).await;
    let mut ids = Vec::new();
    for i in 0..20 {
        let replica = if i % 2 == 0 { &first } else { &second };
        let placed: Value = post_order(replica, &order("SKU-BOLT", 1, "tok_visa", "DE"), None)
            .await
            .json()
            .await
            .unwrap();
        ids.push(placed["id"].as_str().unwrap().to_owned());
    }

    for id in &ids {
        wait_for_timeline(&first, id, "OrderCancelled").await;
    }
    // Both watchdogs have looked again (they check every second).
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let pool = sqlx::PgPool::connect(&first.env.admin_url()).await.unwrap();
    let cancellations: Vec<(String, i64)> = sqlx::query_as(
        "select key, count(*) from \"order\".outbox where event_type = 'order.cancelled.v1'
         group by key",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(cancellations.len(), ids.len(), "{cancellations:?}");
    assert!(
        cancellations.iter().all(|(_, count)| *count == 1),
        "{cancellations:?}"
    );
    let _ = second;
}

/// Publishes `event_type` with `data` for `order_id` to its topic, as another service would.
async fn publish(app: &TestApp, event_type: EventType, order_id: Uuid, data: Value) {
    let event = participant::testing::event(event_type, order_id, data);
    app.publish(event_type.topic(), &event).await;
}

async fn wait_for_timeline(app: &TestApp, id: &str, event: &str) -> Value {
    for _ in 0..300 {
        let order: Value = app
            .get(&format!("/orders/{id}"))
            .await
            .json()
            .await
            .unwrap();
        if order["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"] == event)
        {
            return order;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{event} never reached order {id}");
}

#[tokio::test]
async fn a_compensation_that_arrives_before_its_failure_is_not_awaited() {
    let app = TestApp::spawn::<Order>().await;
    let placed: Value = post_order(&app, &order("SKU-DRILL", 1, "tok_visa", "DE"), None)
        .await
        .json()
        .await
        .unwrap();
    let id = placed["id"].as_str().unwrap().to_owned();
    let order_id: Uuid = id.parse().unwrap();

    // Inventory reacts to PaymentFailed faster than the order reads it: the release comes first.
    publish(
        &app,
        EventType::InventoryReleased,
        order_id,
        json!({"order_id": order_id}),
    )
    .await;
    wait_for_timeline(&app, &id, "InventoryReleased").await;
    let failure = json!({"order_id": order_id, "reason": "payment_declined"});
    publish(&app, EventType::PaymentFailed, order_id, failure).await;

    let order = wait_for_timeline(&app, &id, "OrderCancelled").await;
    assert_eq!(order["status"], "CANCELLED");
    assert_eq!(order["cancel_reason"], "payment_declined");
}

/// SPEC 2, case 6: past the deadline with stock reserved, the order announces the cancellation
/// (so inventory releases), waits in CANCELLING, and ends CANCELLED `timeout` on the release,
/// with one `OrderCancelled` in all.
#[tokio::test]
async fn a_deadline_after_a_reservation_waits_in_cancelling_for_the_release() {
    // Long enough for the consumer to join its group and see the reservation first.
    let app = TestApp::spawn_with::<Order>(&["--saga-deadline-secs", "10"]).await;
    let placed: Value = post_order(&app, &order("SKU-DRILL", 1, "tok_visa", "DE"), None)
        .await
        .json()
        .await
        .unwrap();
    let id = placed["id"].as_str().unwrap().to_owned();
    let order_id: Uuid = id.parse().unwrap();
    let reference = json!({"order_id": order_id});
    publish(
        &app,
        EventType::InventoryReserved,
        order_id,
        reference.clone(),
    )
    .await;
    let reserved = wait_for_timeline(&app, &id, "InventoryReserved").await;
    assert_eq!(reserved["status"], "PENDING", "{reserved}");

    let cancelling = wait_for_timeline(&app, &id, "OrderCancelled").await;
    assert_eq!(cancelling["status"], "CANCELLING", "{cancelling}");
    assert_eq!(cancelling["cancel_reason"], "timeout");
    let listed: Vec<Value> = app
        .get("/orders?status=CANCELLING")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);

    publish(&app, EventType::InventoryReleased, order_id, reference).await;
    wait_for_timeline(&app, &id, "InventoryReleased").await;
    let order: Value = app
        .get(&format!("/orders/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(order["status"], "CANCELLED", "{order}");
    assert_eq!(order["cancel_reason"], "timeout");
    let pool = sqlx::PgPool::connect(&app.env.admin_url()).await.unwrap();
    let cancellations: i64 = sqlx::query_scalar(
        "select count(*) from \"order\".outbox where event_type = 'order.cancelled.v1'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(cancellations, 1);
}
