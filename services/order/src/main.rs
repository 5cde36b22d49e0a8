#[tokio::main]
async fn main() -> anyhow::Result<()> {
    participant::main::<order::Order>().await
}
