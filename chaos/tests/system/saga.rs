//! Every saga path of SPEC section 3, end to end, and what each service holds afterwards.

use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::system::{Deadlines, Facts, System, order};

fn facts(
    reservation: &str,
    payment: Option<&str>,
    shipment: Option<&str>,
    captures: i64,
    net: i64,
) -> Facts {
    Facts {
        reservation: Some(reservation.to_owned()),
        payment: payment.map(str::to_owned),
        shipment: shipment.map(str::to_owned),
        captures,
        captured_minus_refunded: net,
    }
}

fn timeline(order: &Value) -> Vec<&str> {
    order["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["event"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_path_ends_as_specified_every_service_agrees_and_a_full_replay_changes_nothing() {
    let system = System::start(Deadlines::default()).await;
    system.set_stock("SKU-ROPE", 5).await;

    let happy = system.place(&order("SKU-BOLT", 2, "tok_visa", "DE")).await;
    let out_of_stock = system.place(&order("SKU-ROPE", 6, "tok_visa", "DE")).await;
    let declined = system
        .place(&order("SKU-DRILL", 1, "tok_declined", "DE"))
        .await;
    let unshippable = system
        .place(&order("SKU-HAMMER", 3, "tok_visa", "AQ"))
        .await;

    let happy_order = system.finished(happy).await;
    assert_eq!(happy_order["status"], "CONFIRMED");
    assert_eq!(happy_order["cancel_reason"], Value::Null);
    // The timeline is in arrival order, and topics are read in parallel: PaymentCompleted may
    // arrive after ShipmentScheduled. Every step is there, OrderPlaced first.
    let mut seen = timeline(&happy_order);
    assert_eq!(seen[0], "OrderPlaced");
    seen.sort_unstable();
    assert_eq!(
        seen,
        [
            "InventoryReserved",
            "OrderConfirmed",
            "OrderPlaced",
            "PaymentCompleted",
            "ShipmentScheduled"
        ]
    );
    for (id, reason) in [
        (out_of_stock, "out_of_stock"),
        (declined, "payment_declined"),
        (unshippable, "shipping_unavailable"),
    ] {
        let order = system.finished(id).await;
        assert_eq!(order["status"], "CANCELLED", "{order}");
        assert_eq!(order["cancel_reason"], reason, "{order}");
    }

    // Participants settle after the terminal event: give them a moment, then compare.
    let happy_total = 2 * 1450;
    let expected = [
        (
            happy,
            facts(
                "COMMITTED",
                Some("CAPTURED"),
                Some("SCHEDULED"),
                1,
                happy_total,
            ),
        ),
        (
            out_of_stock,
            facts("REJECTED", Some("CANCELLED"), Some("CANCELLED"), 0, 0),
        ),
        (
            declined,
            facts("RELEASED", Some("FAILED"), Some("CANCELLED"), 0, 0),
        ),
        (
            unshippable,
            facts("RELEASED", Some("REFUNDED"), Some("FAILED"), 1, 0),
        ),
    ];
    for (id, expected) in &expected {
        settle(&system, *id, expected).await;
    }
    for (sku, total) in [
        ("SKU-BOLT", 10_000),
        ("SKU-ROPE", 5),
        ("SKU-DRILL", 10_000),
        ("SKU-HAMMER", 10_000),
    ] {
        assert_eq!(system.stock_total(sku).await, total, "{sku}");
    }
    let payment: Value = system
        .get(format!("{}/payments/{happy}", system.payment))
        .await;
    assert_eq!(payment["status"], "CAPTURED");
    assert_eq!(payment["amount_cents"], happy_total);
    let shipment: Value = system
        .get(format!("{}/shipments/{happy}", system.shipping))
        .await;
    assert_eq!(shipment["status"], "SCHEDULED");
    for (id, kind, reason) in [
        (happy, "confirmed", Value::Null),
        (out_of_stock, "cancelled", json!("out_of_stock")),
        (declined, "cancelled", json!("payment_declined")),
        (unshippable, "cancelled", json!("shipping_unavailable")),
    ] {
        let notice = system.notice(id).await;
        assert_eq!(
            (&notice["kind"], &notice["reason"]),
            (&json!(kind), &reason),
            "{notice}"
        );
    }

    // Replay every event every service ever published: nothing may change, and no service
    // may emit anything new.
    let snapshot = state(&system).await;
    for service in ["order", "inventory", "payment", "shipping"] {
        let pool = sqlx::PgPool::connect(&system.env.database_url(service))
            .await
            .unwrap();
        let replayed = messaging::admin::replay(&pool, &Default::default())
            .await
            .unwrap();
        assert!(replayed > 0, "{service} replayed nothing");
    }
    wait_until_published(&system).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(state(&system).await, snapshot);

    exports_what_the_alert_rules_and_the_dashboard_read(&system).await;
    system.stop().await;
}

/// Every metric an alert rule or a dashboard panel reads is in the services' `/metrics` (one
/// recorder in this process: the order service renders them all). The consumers' lag arrives
/// with librdkafka's statistics, every 10 s.
async fn exports_what_the_alert_rules_and_the_dashboard_read(system: &System) {
    use stack::prometheus::{DASHBOARD, RULES, metrics_in_dashboard, metrics_in_rules};
    let mut names = metrics_in_rules(RULES);
    names.extend(metrics_in_dashboard(DASHBOARD).unwrap());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let text = system
            .http
            .get(format!("{}/metrics", system.order))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let missing: Vec<&String> = names
            .iter()
            .filter(|name| {
                !text
                    .lines()
                    .any(|line| line.starts_with(&format!("{name}{{")))
            })
            .collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not exported: {missing:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Waits until every service's view of `id` is `expected` (30 s at most).
async fn settle(system: &System, id: Uuid, expected: &Facts) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let facts = system.facts(id).await;
        if facts == *expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{id}: {facts:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every row that matters, as text, and how many events each service wrote.
async fn state(system: &System) -> Vec<String> {
    let queries = [
        "select id || status || coalesce(cancel_reason, '') from \"order\".orders order by id",
        "select count(*)::text from \"order\".order_timeline",
        "select order_id || status from inventory.reservations order by order_id",
        "select sku || available || '/' || reserved || '/' || committed from inventory.products order by sku",
        "select order_id || status || attempts from payment.payments order by order_id",
        "select order_id || status from shipping.shipments order by order_id",
        "select order_id || kind from notification.notices order by order_id",
        "select id || status || refunded_cents from gateway.charges order by id",
        "select count(*)::text from gateway.refunds",
        "select count(*)::text from \"order\".outbox",
        "select count(*)::text from inventory.outbox",
        "select count(*)::text from payment.outbox",
        "select count(*)::text from shipping.outbox",
    ];
    let mut rows = Vec::new();
    for sql in queries {
        let values: Vec<String> = sqlx::query_scalar(sql)
            .fetch_all(&system.admin)
            .await
            .unwrap();
        rows.push(format!("{sql}: {values:?}"));
    }
    rows
}

async fn wait_until_published(system: &System) {
    let sql = "select (select count(*) from \"order\".outbox where published_at is null)
                    + (select count(*) from inventory.outbox where published_at is null)
                    + (select count(*) from payment.outbox where published_at is null)
                    + (select count(*) from shipping.outbox where published_at is null)";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let unpublished: i64 = sqlx::query_scalar(sql)
            .fetch_one(&system.admin)
            .await
            .unwrap();
        if unpublished == 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{unpublished} events unpublished"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_down_past_the_payment_deadline_cancels_with_payment_unavailable() {
    let system = System::start(Deadlines {
        saga_secs: 60,
        payment_secs: 3,
    })
    .await;
    system.gateway_faults(json!({"down": true})).await;

    let id = system
        .place(&order("SKU-GLOVES", 4, "tok_visa", "DE"))
        .await;

    let order = system.finished(id).await;
    assert_eq!(order["status"], "CANCELLED");
    assert_eq!(order["cancel_reason"], "payment_unavailable");
    settle(
        &system,
        id,
        &facts("RELEASED", Some("FAILED"), Some("CANCELLED"), 0, 0),
    )
    .await;
    assert_eq!(system.stock_total("SKU-GLOVES").await, 10_000);
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_silent_past_the_saga_deadline_cancels_with_timeout_and_every_compensation_runs() {
    let system = System::start(Deadlines {
        saga_secs: 2,
        payment_secs: 45,
    })
    .await;
    // Each gateway call takes 4 s, under payment's 5 s timeout: the 2 s saga deadline (checked
    // once a second) passes while payment waits for the capture.
    system.gateway_faults(json!({"latency_ms": 4000})).await;

    let id = system
        .place(&order("SKU-LADDER", 1, "tok_visa", "DE"))
        .await;

    let order = system.finished(id).await;
    assert_eq!(order["status"], "CANCELLED");
    assert_eq!(order["cancel_reason"], "timeout");
    // The charge went through after the deadline: it is refunded, and nothing else is held.
    settle(
        &system,
        id,
        &facts("RELEASED", Some("REFUNDED"), Some("CANCELLED"), 1, 0),
    )
    .await;
    assert_eq!(system.stock_total("SKU-LADDER").await, 10_000);
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_orders_for_twenty_in_stock_confirm_exactly_twenty() {
    let system = System::start(Deadlines::default()).await;
    system.set_stock("SKU-ANVIL", 20).await;

    let mut placing = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let (http, url) = (system.http.clone(), format!("{}/orders", system.order));
        placing.spawn(async move {
            let response = http
                .post(url)
                .json(&order("SKU-ANVIL", 1, "tok_visa", "DE"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 202);
            let body: Value = response.json().await.unwrap();
            body["id"].as_str().unwrap().parse::<Uuid>().unwrap()
        });
    }
    let ids = placing.join_all().await;
    let mut confirmed = 0;
    let mut out_of_stock = 0;
    for id in ids {
        let order = system.finished(id).await;
        match (order["status"].as_str(), order["cancel_reason"].as_str()) {
            (Some("CONFIRMED"), _) => confirmed += 1,
            (Some("CANCELLED"), Some("out_of_stock")) => out_of_stock += 1,
            other => panic!("unexpected end {other:?}"),
        }
    }

    assert_eq!((confirmed, out_of_stock), (20, 30));
    // Committed stock moves when OrderConfirmed is consumed; wait for the last of it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (available, committed): (i32, i32) = sqlx::query_as(
            "select available, committed from inventory.products where sku = 'SKU-ANVIL'",
        )
        .fetch_one(&system.admin)
        .await
        .unwrap();
        if committed == 20 {
            assert_eq!(available, 0);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "committed {committed}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(system.stock_total("SKU-ANVIL").await, 20);
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sagas_in_flight_complete_after_a_service_restarts() {
    let mut system = System::start(Deadlines::default()).await;
    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(
            system
                .place(&order("SKU-HAMMER", 1, "tok_visa", "IT"))
                .await,
        );
    }

    system.restart_payment(Duration::from_secs(2)).await;

    for id in ids {
        let order = system.finished(id).await;
        assert_eq!(order["status"], "CONFIRMED", "{order}");
        settle(
            &system,
            id,
            &facts("COMMITTED", Some("CAPTURED"), Some("SCHEDULED"), 1, 2450),
        )
        .await;
    }
    system.stop().await;
}
