#[tokio::test(flavor = "multi_thread")]
async fn serves_health_and_readiness_and_stops_cleanly() {
    participant::testing::check_health::<notification::Notification>(
        env!("CARGO_BIN_EXE_notification"),
        &[],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn keeps_its_openapi_document_for_any_generated_request() {
    participant::testing::check_openapi::<notification::Notification>(&[]).await;
}
