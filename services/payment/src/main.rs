use clap::Parser;
use payment::{Application, Config};
use platform::Shutdown;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::telemetry::init("payment");
    let config = Config::parse();
    if let Some(command) = config.admin.clone() {
        return payment::startup::run_admin(&config, command).await;
    }
    let application = Application::build(config).await?;
    tracing::info!(port = application.port(), "payment listening");
    application.run_until_stopped(Shutdown::on_signals()).await
}
