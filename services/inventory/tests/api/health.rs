#[tokio::test(flavor = "multi_thread")]
async fn serves_health_and_readiness_and_stops_cleanly() {
    participant::testing::check_health::<inventory::Inventory>(
        env!("CARGO_BIN_EXE_inventory"),
        &["--admin-token", testkit::ADMIN_TOKEN],
    )
    .await;
}
