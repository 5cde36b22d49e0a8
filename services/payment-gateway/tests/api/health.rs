use crate::helpers::TestApp;

#[tokio::test]
async fn healthz_answers_ok_and_the_service_stops_cleanly() {
    let app = TestApp::spawn().await;

    let response = app.get("/healthz").await;

    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["service"], "payment-gateway");
    tokio::time::timeout(std::time::Duration::from_secs(5), app.stop())
        .await
        .expect("the service stops within 5 s of shutdown")
        .expect("the service stops without error");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_binary_serves_health_and_exits_zero_on_sigterm() {
    let database = testkit::TestDatabase::create().await.unwrap();
    let url = database.direct_url("gateway");
    testkit::assert_serves_health_and_stops_on_sigterm(
        env!("CARGO_BIN_EXE_payment-gateway"),
        "payment-gateway",
        &[("GATEWAY_DATABASE_URL".to_owned(), url)],
    )
    .await;
}

#[tokio::test]
async fn readyz_is_ready_while_the_ledger_answers() {
    let app = TestApp::spawn().await;

    let response = app.get("/readyz").await;

    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_the_json_error_shape() {
    let app = TestApp::spawn().await;

    let missing = app.get("/no/such/route").await;
    let wrong_method = app
        .client
        .delete(format!("{}/v1/charges", app.address))
        .send()
        .await
        .unwrap();

    assert_eq!(missing.status(), 404);
    let body: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
    assert_eq!(wrong_method.status(), 405);
    let body: serde_json::Value = wrong_method.json().await.unwrap();
    assert_eq!(body["error"], "method_not_allowed");
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_in_the_json_error_shape() {
    let app = TestApp::spawn().await;
    let huge = serde_json::json!({"order_id": "x".repeat(platform::http::BODY_LIMIT + 1)});

    let response = app.post("/v1/charges", Some("big"), &huge).await;

    assert_eq!(response.status(), 413);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_body");
}

/// Each distinct label set is a series kept for the life of the process; a client choosing
/// methods must not be able to add them.
#[tokio::test]
async fn requests_with_random_methods_add_no_metric_series() {
    let app = TestApp::spawn().await;
    let series = |text: &str| {
        text.lines()
            .filter(|line| {
                line.starts_with("http_request_duration_seconds_count")
                    && line.contains(r#"path="/healthz""#)
            })
            .count()
    };
    for method in ["GET", "FOO0"] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        app.client
            .request(method, format!("{}/healthz", app.address))
            .send()
            .await
            .unwrap();
    }
    let before = series(&app.get("/metrics").await.text().await.unwrap());

    for i in 0..10_000 {
        let method = reqwest::Method::from_bytes(format!("FOO{i}").as_bytes()).unwrap();
        app.client
            .request(method, format!("{}/healthz", app.address))
            .send()
            .await
            .unwrap();
    }

    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(before > 0, "{text}");
    assert_eq!(series(&text), before, "{text}");
}
