use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, charge};

async fn captured(app: &TestApp, order_id: Uuid) -> Value {
    let response = app
        .post_charge(&format!("charge-{order_id}"), &charge(order_id, "tok_visa"))
        .await;
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

#[tokio::test]
async fn refunds_up_to_the_captured_amount_succeed_and_beyond_it_are_422() {
    let app = TestApp::spawn().await;
    let order_id = Uuid::now_v7();
    let charge = captured(&app, order_id).await;

    let first = app
        .post_refund(
            "r1",
            &json!({"charge_id": charge["id"], "amount_cents": 2000}),
        )
        .await;
    let too_much = app
        .post_refund(
            "r2",
            &json!({"charge_id": charge["id"], "amount_cents": 501}),
        )
        .await;
    let rest = app
        .post_refund(
            "r3",
            &json!({"charge_id": charge["id"], "amount_cents": 500}),
        )
        .await;

    assert_eq!(first.status(), 201);
    assert_eq!(too_much.status(), 422);
    let error: Value = too_much.json().await.unwrap();
    assert_eq!(error["error"], "refund_exceeds_capture");
    assert_eq!(error["field"], "amount_cents");
    assert_eq!(rest.status(), 201);
    let refunds: Vec<Value> = app
        .get(&format!("/v1/refunds?order_id={order_id}"))
        .await
        .json()
        .await
        .unwrap();
    let total: i64 = refunds
        .iter()
        .map(|r| r["amount_cents"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 2500);
}

#[tokio::test]
async fn a_refund_retried_with_its_key_is_returned_not_repeated() {
    let app = TestApp::spawn().await;
    let order_id = Uuid::now_v7();
    let charge = captured(&app, order_id).await;
    let body = json!({"charge_id": charge["id"], "amount_cents": 2500});

    let first: Value = app.post_refund("full", &body).await.json().await.unwrap();
    let again = app.post_refund("full", &body).await;
    let other_body = app
        .post_refund(
            "full",
            &json!({"charge_id": charge["id"], "amount_cents": 1}),
        )
        .await;

    assert_eq!(
        again.status(),
        201,
        "a full refund retried is not 'above captured'"
    );
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);
    assert_eq!(other_body.status(), 422);
}

#[tokio::test]
async fn a_refund_of_an_unknown_or_declined_charge_is_422() {
    let app = TestApp::spawn().await;
    let declined: Value = app
        .post_charge("d", &charge(Uuid::now_v7(), "tok_declined"))
        .await
        .json()
        .await
        .unwrap();

    let unknown = app
        .post_refund(
            "u",
            &json!({"charge_id": Uuid::now_v7(), "amount_cents": 1}),
        )
        .await;
    let of_declined = app
        .post_refund(
            "x",
            &json!({"charge_id": declined["charge_id"], "amount_cents": 1}),
        )
        .await;

    assert_eq!(unknown.status(), 422);
    assert_eq!(of_declined.status(), 422);
}

#[tokio::test]
async fn a_refund_that_would_overflow_the_total_is_422_not_a_wrapped_sum() {
    let app = TestApp::spawn().await;
    let charge = captured(&app, Uuid::now_v7()).await;
    let first = app
        .post_refund(
            "o1",
            &json!({"charge_id": charge["id"], "amount_cents": 100}),
        )
        .await;
    assert_eq!(first.status(), 201);

    let overflowing = app
        .post_refund(
            "o2",
            &json!({"charge_id": charge["id"], "amount_cents": i64::MAX}),
        )
        .await;

    assert_eq!(overflowing.status(), 422);
    let error: Value = overflowing.json().await.unwrap();
    assert_eq!(error["error"], "refund_exceeds_capture");
}
