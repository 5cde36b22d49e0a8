#[tokio::test(flavor = "multi_thread")]
async fn serves_health_and_readiness_and_stops_cleanly() {
    participant::testing::check_health::<order::Order>(env!("CARGO_BIN_EXE_order"), &[]).await;
}
