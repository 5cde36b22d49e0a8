#[tokio::main]
async fn main() -> anyhow::Result<()> {
    participant::main::<order::Order>(env!("CARGO_PKG_VERSION")).await
}
