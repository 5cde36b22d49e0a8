use clap::Parser;
use inventory::{Application, Config};
use platform::Shutdown;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::telemetry::init("inventory");
    let config = Config::parse();
    if let Some(command) = config.admin.clone() {
        return inventory::startup::run_admin(&config, command).await;
    }
    let application = Application::build(config).await?;
    tracing::info!(port = application.port(), "inventory listening");
    application.run_until_stopped(Shutdown::on_signals()).await
}
