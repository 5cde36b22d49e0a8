use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, charge};

#[tokio::test]
async fn a_visa_charge_is_captured_and_listed_for_its_order() {
    let app = TestApp::spawn().await;
    let order_id = Uuid::now_v7();

    let response = app
        .post_charge("key-1", &charge(order_id, "tok_visa"))
        .await;

    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "captured");
    assert_eq!(body["amount_cents"], 2500);
    let listed = app.charges_of(order_id).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], body["id"]);
}

#[tokio::test]
async fn a_declined_card_is_402_with_a_decline_code_and_the_same_on_retry() {
    let app = TestApp::spawn().await;
    let request = charge(Uuid::now_v7(), "tok_declined");

    let first = app.post_charge("key-d", &request).await;
    let second = app.post_charge("key-d", &request).await;

    assert_eq!(first.status(), 402);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["error"], "card_declined");
    assert_eq!(first["decline_code"], "insufficient_funds");
    assert_eq!(second.status(), 402);
    let second: Value = second.json().await.unwrap();
    assert_eq!(second["charge_id"], first["charge_id"]);
}

#[tokio::test]
async fn the_same_key_and_body_returns_the_stored_charge_and_never_charges_twice() {
    let app = TestApp::spawn().await;
    let order_id = Uuid::now_v7();
    let request = charge(order_id, "tok_visa");

    let responses = futures_join(&app, "key-same", &request, 10).await;

    let ids: Vec<&Value> = responses.iter().map(|body| &body["id"]).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(app.charges_of(order_id).await.len(), 1);
}

/// `n` concurrent identical requests, as retries racing each other would be.
async fn futures_join(app: &TestApp, key: &str, body: &Value, n: usize) -> Vec<Value> {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let client = app.client.clone();
        let url = format!("{}/v1/charges", app.address);
        let (key, body) = (key.to_owned(), body.clone());
        tasks.spawn(async move {
            let response = client
                .post(url)
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 201);
            response.json::<Value>().await.unwrap()
        });
    }
    tasks.join_all().await
}

#[tokio::test]
async fn a_key_reused_with_another_body_is_422() {
    let app = TestApp::spawn().await;
    app.post_charge("key-r", &charge(Uuid::now_v7(), "tok_visa"))
        .await;

    let response = app
        .post_charge("key-r", &charge(Uuid::now_v7(), "tok_visa"))
        .await;

    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "idempotency_key_reused");
    assert_eq!(body["field"], "Idempotency-Key");
}

#[tokio::test]
async fn bad_requests_are_4xx_naming_the_problem_and_charge_nothing() {
    let app = TestApp::spawn().await;
    let order_id = Uuid::now_v7();
    let cases = [
        (
            json!({"order_id": order_id, "amount_cents": 0, "currency": "EUR", "card_token": "tok_visa"}),
            422,
            "amount_cents",
        ),
        (
            json!({"order_id": order_id, "amount_cents": 100, "currency": "euro", "card_token": "tok_visa"}),
            422,
            "currency",
        ),
        (
            json!({"order_id": order_id, "amount_cents": 100, "currency": "EUR", "card_token": "tok_amex"}),
            422,
            "card_token",
        ),
        (
            json!({"order_id": "nope", "amount_cents": 100, "currency": "EUR", "card_token": "tok_visa"}),
            422,
            "order_id",
        ),
        (
            json!({"order_id": order_id, "currency": "EUR", "card_token": "tok_visa"}),
            422,
            "amount_cents",
        ),
    ];
    for (i, (body, status, field)) in cases.into_iter().enumerate() {
        let response = app.post_charge(&format!("bad-{i}"), &body).await;
        assert_eq!(response.status(), status, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["field"], field, "{body}");
    }

    let no_key = app
        .post("/v1/charges", None, &charge(order_id, "tok_visa"))
        .await;
    assert_eq!(no_key.status(), 400);
    let error: Value = no_key.json().await.unwrap();
    assert_eq!(error["field"], "Idempotency-Key");

    let not_json = app
        .client
        .post(format!("{}/v1/charges", app.address))
        .header("Idempotency-Key", "text")
        .body("order_id=1")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 415);
    let malformed = app
        .client
        .post(format!("{}/v1/charges", app.address))
        .header("Idempotency-Key", "malformed")
        .header("Content-Type", "application/json")
        .body("{\"order_id\":")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);

    assert!(app.charges_of(order_id).await.is_empty());
}
