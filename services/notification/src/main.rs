#[tokio::main]
async fn main() -> anyhow::Result<()> {
    participant::main::<notification::Notification>(env!("CARGO_PKG_VERSION")).await
}
