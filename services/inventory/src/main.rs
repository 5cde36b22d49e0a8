#[tokio::main]
async fn main() -> anyhow::Result<()> {
    participant::main::<inventory::Inventory>().await
}
