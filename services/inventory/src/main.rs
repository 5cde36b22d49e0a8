use clap::Parser;
use inventory::{Application, Config};
use platform::Shutdown;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::telemetry::init("inventory");
    let config = Config::parse();
    let application = Application::build(config).await?;
    tracing::info!(port = application.port(), "inventory listening");
    application.run_until_stopped(Shutdown::on_signals()).await
}
