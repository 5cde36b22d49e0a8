#[tokio::main]
async fn main() -> anyhow::Result<()> {
    participant::main::<shipping::Shipping>().await
}
