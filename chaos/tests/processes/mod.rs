//! The system as `make up` runs it, for the tests that need real processes: the five service
//! binaries against a test's Postgres, broker and Toxiproxy-API server, each on a fixed port so
//! it comes back where clients expect it after a kill.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use chaos::control::Processes;
use chaos::scenario::{Outcome, Settings};
use chaos::target::Target;
use loadtest::Endpoints;
use nix::sys::signal::Signal;
use stack::process::TiedChild;
use testkit::{ADMIN_TOKEN, TestEnv};

/// Saga and payment deadlines short enough for a test.
pub const SAGA_DEADLINE_SECS: u64 = 30;
pub const PAYMENT_DEADLINE_SECS: u64 = 8;

/// Holds that outlast the test's deadlines: the chaos suite's, in its reduced form.
#[allow(dead_code)] // by the tests that run scenarios, not `trace.rs`
pub fn settings() -> Settings {
    Settings {
        rate: 10.0,
        orders: 60,
        broker_outage: Duration::from_secs(12),
        postgres_cut: Duration::from_secs(3),
        postgres_outage_long: Duration::from_secs(20),
        gateway_latency: Duration::from_secs(10),
        gateway_down: Duration::from_secs(2 * PAYMENT_DEADLINE_SECS),
        kill_down: Duration::from_secs(1),
        partition: Duration::from_secs(10),
        // Past the consumer group's 6 s session timeout, as in `make chaos`.
        replica_down: Duration::from_secs(8),
        patience: Duration::from_secs(SAGA_DEADLINE_SECS + 60),
        settle: Duration::from_secs(3),
    }
}

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
    /// By part name: `payment-gateway`, then each participant's replicas (`stack::Replica`).
    services: HashMap<String, Service>,
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

    async fn terminate(&mut self, part: &str) -> anyhow::Result<()> {
        let service = self.services.get_mut(part).expect("a service");
        let child = service.child.take().expect("running");
        // Dropping it sends SIGTERM and waits for the exit.
        tokio::task::spawn_blocking(move || drop(child)).await?;
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

/// Panics unless the scenario of `outcome` ran, placed orders and broke no invariant.
#[allow(dead_code)] // by the tests that run scenarios, not `trace.rs`
pub fn assert_clean(outcome: &Outcome) {
    assert!(
        outcome.skipped.is_none(),
        "{} did not run",
        outcome.scenario
    );
    assert!(
        outcome.violations.is_empty(),
        "{}: {:#?}",
        outcome.scenario,
        outcome.violations
    );
    assert!(outcome.orders > 0, "{} placed no order", outcome.scenario);
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

/// Starts the gateway and `replicas` of each participant, each with `extra` added to what it
/// needs; returns them and the target that chaos scenarios and clients use.
pub async fn start_system(
    env: TestEnv,
    extra: &[(&str, &str)],
    replicas: usize,
) -> (TestSystem, Target) {
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

    let gateway_url = format!("http://127.0.0.1:{}", gateway.port);
    let mut services = HashMap::from([("payment-gateway".to_owned(), gateway)]);
    let mut urls: HashMap<&str, Vec<String>> = HashMap::new();
    // The order service last, so the others are up when it takes orders.
    for replica in events::PARTICIPANTS
        .iter()
        .rev()
        .flat_map(|participant| stack::Replica::of(participant, replicas))
    {
        let name = replica.participant.name;
        let mut service_env = env.service_env(name);
        service_env.push((
            "KAFKA_GROUP_INSTANCE_ID".into(),
            format!("{}-test", replica.name()),
        ));
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
        let url = format!("http://127.0.0.1:{}", service.port);
        urls.entry(name).or_default().push(url);
        services.insert(replica.name(), service);
    }
    let target = Target {
        endpoints: Endpoints {
            order: urls["order"][0].clone(),
            orders: urls["order"].clone(),
            inventory: urls["inventory"][0].clone(),
            gateway: gateway_url,
            admin_token: Some(ADMIN_TOKEN.to_owned()),
        },
        payments: urls["payment"].clone(),
        replicas,
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
