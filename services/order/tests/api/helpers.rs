use clap::Parser;
use order::{Application, Config};
use platform::Shutdown;

/// A running order service on a free port, stopped when dropped.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    shutdown: Shutdown,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        let config = Config::parse_from(["order", "--http-addr", "127.0.0.1:0"]);
        let application = Application::build(config)
            .await
            .expect("the service builds");
        let address = format!("http://127.0.0.1:{}", application.port());
        let shutdown = Shutdown::new();
        let server = tokio::spawn(application.run_until_stopped(shutdown.clone()));
        Self {
            address,
            client: reqwest::Client::new(),
            shutdown,
            server: Some(server),
        }
    }

    pub async fn get_healthz(&self) -> reqwest::Response {
        self.client
            .get(format!("{}/healthz", self.address))
            .send()
            .await
            .expect("request sent")
    }

    /// Triggers shutdown and waits for the server to drain and return.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.trigger();
        self.server.take().expect("running").await?
    }
}
