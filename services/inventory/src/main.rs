#[tokio::main]
async fn main() -> anyhow::Result<()> {
    participant::main::<inventory::Inventory>(env!("CARGO_PKG_VERSION")).await
}
