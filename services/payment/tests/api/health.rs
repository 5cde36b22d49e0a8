#[tokio::test(flavor = "multi_thread")]
async fn serves_health_and_readiness_and_stops_cleanly() {
    participant::testing::check_health::<payment::Payment>(
        env!("CARGO_BIN_EXE_payment"),
        &["--gateway-url", "http://127.0.0.1:9"],
    )
    .await;
}
