#[tokio::main]
async fn main() -> anyhow::Result<()> {
    participant::main::<payment::Payment>().await
}
