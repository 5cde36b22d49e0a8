use clap::Parser;
use platform::Shutdown;
use shipping::{Application, Config};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::telemetry::init("shipping");
    let config = Config::parse();
    if let Some(command) = config.admin.clone() {
        return shipping::startup::run_admin(&config, command).await;
    }
    let application = Application::build(config).await?;
    tracing::info!(port = application.port(), "shipping listening");
    application.run_until_stopped(Shutdown::on_signals()).await
}
