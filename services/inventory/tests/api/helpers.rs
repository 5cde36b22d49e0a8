use clap::Parser;
use inventory::{Application, Config};
use platform::Shutdown;
use testkit::TestEnv;

/// A running inventory service on a free port with its own database and broker, stopped when
/// dropped.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub env: TestEnv,
    shutdown: Shutdown,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    /// With its operator endpoints behind `testkit::ADMIN_TOKEN`.
    pub async fn spawn() -> Self {
        Self::spawn_with_admin_token(Some(testkit::ADMIN_TOKEN)).await
    }

    pub async fn spawn_with_admin_token(token: Option<&str>) -> Self {
        let env = TestEnv::start().await;
        let database_url = env.database_url("inventory");
        let mut args = vec![
            "inventory",
            "--http-addr",
            "127.0.0.1:0",
            "--database-url",
            &database_url,
            "--kafka-brokers",
            env.kafka_brokers(),
        ];
        args.extend(
            token
                .map(|token| ["--admin-token", token])
                .into_iter()
                .flatten(),
        );
        let config = Config::parse_from(args);
        let application = Application::build(config)
            .await
            .expect("the service builds");
        let address = format!("http://127.0.0.1:{}", application.port());
        let shutdown = Shutdown::new();
        let server = tokio::spawn(application.run_until_stopped(shutdown.clone()));
        Self {
            address,
            client: reqwest::Client::new(),
            env,
            shutdown,
            server: Some(server),
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request sent")
    }

    /// Triggers shutdown and waits for the service to drain and return.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.trigger();
        self.server.take().expect("running").await?
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}
