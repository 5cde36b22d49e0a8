use std::time::{Duration, Instant};

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, charge};

#[tokio::test]
async fn down_mode_answers_503_until_the_faults_are_cleared() {
    let app = TestApp::spawn().await;
    assert_eq!(app.put_faults(&json!({"down": true})).await.status(), 200);
    let order_id = Uuid::now_v7();

    let while_down = app.post_charge("k", &charge(order_id, "tok_visa")).await;
    let health = app.get("/healthz").await;
    let cleared = app
        .admin(reqwest::Method::DELETE, "/admin/faults")
        .send()
        .await
        .unwrap();
    let after = app.post_charge("k", &charge(order_id, "tok_visa")).await;

    assert_eq!(while_down.status(), 503);
    assert_eq!(health.status(), 200, "faults never touch health or admin");
    assert_eq!(cleared.status(), 200);
    assert_eq!(after.status(), 201);
}

#[tokio::test]
async fn latency_is_added_to_every_call() {
    let app = TestApp::spawn().await;
    app.put_faults(&json!({"latency_ms": 300})).await;

    let started = Instant::now();
    let response = app
        .post_charge("k", &charge(Uuid::now_v7(), "tok_visa"))
        .await;

    assert_eq!(response.status(), 201);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let current: Value = app
        .admin(reqwest::Method::GET, "/admin/faults")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(current["latency_ms"], 300);
}

#[tokio::test]
async fn an_error_rate_fails_about_that_share_and_some_failures_still_charged() {
    let app = TestApp::spawn().await;
    app.put_faults(&json!({"error_rate": 0.5})).await;
    let mut failed = 0;
    let mut charged_anyway = 0;
    for _ in 0..200 {
        let order_id = Uuid::now_v7();
        let response = app
            .post_charge(&order_id.to_string(), &charge(order_id, "tok_visa"))
            .await;
        if response.status() == 503 {
            failed += 1;
            charged_anyway += app.charges_of(order_id).await.len();
        }
    }
    // 200 draws at p = 0.5: outside 60..140 has probability below 1e-8.
    assert!((60..140).contains(&failed), "{failed} of 200 failed");
    assert!(charged_anyway > 0, "some failures happen after processing");
    assert!(charged_anyway < failed);
}

#[tokio::test]
async fn invalid_fault_settings_are_422_naming_the_field() {
    let app = TestApp::spawn().await;

    let response = app.put_faults(&json!({"error_rate": 1.5})).await;

    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["field"], "error_rate");
    let unknown = app.put_faults(&json!({"slowness": 1})).await;
    assert_eq!(unknown.status(), 422);
}

#[tokio::test]
async fn the_fault_endpoints_answer_only_the_admin_token() {
    let app = TestApp::spawn().await;
    let url = format!("{}/admin/faults", app.address);
    let down = json!({"down": true});

    let anonymous = app.client.put(&url).json(&down).send().await.unwrap();
    let wrong = app
        .client
        .put(&url)
        .bearer_auth("not-the-admin-token-at-all")
        .json(&down)
        .send()
        .await
        .unwrap();
    let read = app.client.get(&url).send().await.unwrap();

    for response in [anonymous, wrong, read] {
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "unauthorized");
        assert_eq!(body["field"], "Authorization");
    }
    let charge_id = Uuid::now_v7();
    let charged = app.post_charge("k", &charge(charge_id, "tok_visa")).await;
    assert_eq!(
        charged.status(),
        201,
        "no fault was set, the PSP API is open"
    );
}

#[tokio::test]
async fn without_an_admin_token_the_fault_endpoints_are_off() {
    let app = TestApp::spawn_with_admin_token(None).await;

    let response = app
        .admin(reqwest::Method::PUT, "/admin/faults")
        .json(&json!({"down": true}))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "admin_disabled");
    assert_eq!(app.get("/healthz").await.status(), 200);
}
