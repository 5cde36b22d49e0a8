#[tokio::test(flavor = "multi_thread")]
async fn serves_health_and_readiness_and_stops_cleanly() {
    participant::testing::check_health::<shipping::Shipping>(env!("CARGO_BIN_EXE_shipping"), &[])
        .await;
}
