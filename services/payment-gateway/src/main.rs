use clap::Parser;
use payment_gateway::{Application, Config};
use platform::Shutdown;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    platform::telemetry::init("payment-gateway", env!("CARGO_PKG_VERSION"))
        .flush_after(async {
            let application = Application::build(config).await?;
            tracing::info!(port = application.port(), "payment-gateway listening");
            application.run_until_stopped(Shutdown::on_signals()).await
        })
        .await
}
