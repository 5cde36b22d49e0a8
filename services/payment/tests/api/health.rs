use crate::helpers::TestApp;

#[tokio::test]
async fn healthz_answers_ok_and_the_service_stops_cleanly() {
    let app = TestApp::spawn().await;

    let response = app.get("/healthz").await;

    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["service"], "payment");
    tokio::time::timeout(std::time::Duration::from_secs(5), app.stop())
        .await
        .expect("the service stops within 5 s of shutdown")
        .expect("the service stops without error");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_binary_serves_health_and_exits_zero_on_sigterm() {
    let env = testkit::TestEnv::start().await;
    testkit::assert_serves_health_and_stops_on_sigterm(
        env!("CARGO_BIN_EXE_payment"),
        "payment",
        &env.service_env("payment"),
    )
    .await;
}

#[tokio::test]
async fn readyz_is_ready_with_the_database_and_broker_and_503_without_the_database() {
    let app = TestApp::spawn().await;

    app.env
        .assert_readyz_follows_the_database(app.address.trim_start_matches("http://"))
        .await;
}
