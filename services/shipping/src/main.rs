#[tokio::main]
async fn main() -> anyhow::Result<()> {
    participant::main::<shipping::Shipping>(env!("CARGO_PKG_VERSION")).await
}
