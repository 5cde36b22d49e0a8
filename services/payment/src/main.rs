#[tokio::main]
async fn main() -> anyhow::Result<()> {
    participant::main::<payment::Payment>(env!("CARGO_PKG_VERSION")).await
}
