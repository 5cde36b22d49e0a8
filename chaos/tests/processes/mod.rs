//! The system as `make up` runs it, for the tests that need real processes: the five service
//! binaries against a test's Postgres, broker and Toxiproxy-API server, each on a fixed port so
//! it comes back where clients expect it after a kill.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use chaos::control::Processes;
use chaos::target::Target;
use loadtest::Endpoints;
use nix::sys::signal::Signal;
use stack::process::TiedChild;
use testkit::{ADMIN_TOKEN, TestEnv};

/// Saga and payment deadlines short enough for a test.
pub const SAGA_DEADLINE_SECS: u64 = 30;
pub const PAYMENT_DEADLINE_SECS: u64 = 8;

/// A service binary run on a fixed port, so it comes back where clients expect it.
pub struct Service {
    binary: PathBuf,
    env: Vec<(String, String)>,
    port: u16,
    child: Option<TiedChild>,
}

impl Service {
    async fn start(&mut self) -> anyhow::Result<()> {
        let mut command = Command::new(&self.binary);
        command
            .envs(self.env.iter().map(|(key, value)| (key, value)))
            .env("HTTP_ADDR", format!("127.0.0.1:{}", self.port))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null());
        self.child = Some(TiedChild::spawn(command, Signal::SIGTERM)?);
        let url = format!("http://127.0.0.1:{}/readyz", self.port);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(response) = reqwest::get(&url).await
                && response.status().is_success()
            {
                return Ok(());
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "{} is not ready after 60 s",
                self.binary.display()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

pub struct TestSystem {
    env: TestEnv,
    services: HashMap<&'static str, Service>,
}

impl Processes for TestSystem {
    async fn kill(&mut self, part: &str) -> anyhow::Result<()> {
        if part == "broker" {
            self.env.kill_broker();
            return Ok(());
        }
        let service = self.services.get_mut(part).expect("a service");
        service.child.take().expect("running").kill_hard();
        Ok(())
    }

    async fn restart(&mut self, part: &str) -> anyhow::Result<()> {
        if part == "broker" {
            return self.env.restart_broker().await;
        }
        self.services
            .get_mut(part)
            .expect("a service")
            .start()
            .await
    }

    fn durable_broker(&self) -> bool {
        true
    }
}

/// A binary built next to this test (`cargo test --workspace` builds every binary first).
fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().parent().unwrap().join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --bins` or `make test`",
        path.display()
    );
    path
}

/// Starts the gateway and the services, each with `env` added to what it needs; returns them and
/// the target that chaos scenarios and clients use.
pub async fn start_system(env: TestEnv, extra: &[(&str, &str)]) -> (TestSystem, Target) {
    let extra = || {
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    };
    let port = || stack::free_port().unwrap();
    let mut gateway = Service {
        binary: binary("payment-gateway"),
        env: vec![
            (
                "GATEWAY_DATABASE_URL".into(),
                env.database.direct_url("gateway"),
            ),
            ("ADMIN_TOKEN".into(), ADMIN_TOKEN.into()),
        ]
        .into_iter()
        .chain(extra())
        .collect(),
        port: port(),
        child: None,
    };
    gateway.start().await.unwrap();
    let gateway_proxy = env
        .add_proxy("payment_gateway", &format!("127.0.0.1:{}", gateway.port))
        .await
        .unwrap();

    let mut services = HashMap::from([("payment-gateway", gateway)]);
    let mut urls = HashMap::new();
    // The order service last, so the others are up when it takes orders.
    for name in events::PARTICIPANTS.iter().rev().map(|p| p.name) {
        let mut service_env = env.service_env(name);
        service_env.push(("KAFKA_GROUP_INSTANCE_ID".into(), format!("{name}-test")));
        service_env.push(("GATEWAY_URL".into(), format!("http://{gateway_proxy}")));
        service_env.push(("ADMIN_TOKEN".into(), ADMIN_TOKEN.into()));
        service_env.push((
            "PAYMENT_DEADLINE_SECS".into(),
            PAYMENT_DEADLINE_SECS.to_string(),
        ));
        service_env.push((
            "ORDER_SAGA_DEADLINE_SECS".into(),
            SAGA_DEADLINE_SECS.to_string(),
        ));
        service_env.extend(extra());
        let mut service = Service {
            binary: binary(name),
            env: service_env,
            port: port(),
            child: None,
        };
        service.start().await.unwrap();
        urls.insert(name, format!("http://127.0.0.1:{}", service.port));
        services.insert(name, service);
    }
    let target = Target {
        endpoints: Endpoints {
            order: urls["order"].clone(),
            inventory: urls["inventory"].clone(),
            gateway: format!("http://127.0.0.1:{}", services["payment-gateway"].port),
            admin_token: Some(ADMIN_TOKEN.to_owned()),
        },
        payment: urls["payment"].clone(),
        toxiproxy: env.toxiproxy().base_url().to_owned(),
        admin_database: env.admin_url(),
        databases: events::PARTICIPANTS
            .iter()
            .map(|p| (p.name.to_owned(), env.database_url(p.name)))
            .collect(),
        brokers: env.kafka_brokers().to_owned(),
    };
    (TestSystem { env, services }, target)
}
