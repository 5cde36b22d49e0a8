#[tokio::main]
async fn main() -> anyhow::Result<()> {
    participant::main::<notification::Notification>().await
}
