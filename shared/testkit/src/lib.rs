//! The test harness. `TestEnv::start()` gives a test:
//!
//! - a fresh database in a Postgres cluster shared by the test binary, with every service's role
//!   and schema (`migrations/init.sql`);
//! - its own Kafka-protocol broker (nisshi, in memory) that advertises the `kafka` proxy, so every
//!   client connection goes through the proxy;
//! - its own Toxiproxy-API server with the proxies `postgres` and `kafka`.
//!
//! All of it listens on free loopback ports, so tests run in parallel. What a test starts stops
//! when its `TestEnv` drops; the shared cluster and every child process are also killed when the
//! test process ends, however it ends (see `stack::process::TiedChild`).
//!
//! `TESTKIT_DATABASE_URL` (a superuser URL) uses an existing server instead of starting a cluster;
//! `TESTKIT_BACKEND=containers` (feature `containers`) starts Postgres and Kafka in Docker.

#[cfg(feature = "containers")]
mod containers;
mod otlp;
mod postgres;
mod service;

use std::time::Duration;

use anyhow::Context;
use nix::sys::signal::Signal;
use platform::Shutdown;
use stack::process::TiedChild;

pub use otlp::{OtlpReceiver, ReceivedSpan};
pub use postgres::TestDatabase;

/// The operator endpoints' token (`ADMIN_TOKEN`) of services a test starts.
pub const ADMIN_TOKEN: &str = "test-admin-token-of-sagaworks";
pub use service::{ServiceProcess, assert_serves_health_and_stops_on_sigterm};

/// One test's infrastructure. Dropping it stops the broker and the proxies.
#[derive(Debug)]
pub struct TestEnv {
    pub database: TestDatabase,
    toxiproxy: toxiproxy::Client,
    postgres_proxy: String,
    kafka_proxy: String,
    broker: Broker,
    shutdown: Shutdown,
}

#[derive(Debug)]
enum Broker {
    Process {
        child: TiedChild,
        port: u16,
        advertised: String,
        storage: Storage,
    },
    #[cfg(feature = "containers")]
    /// Held for its drop, which removes the container.
    Container { _kafka: Box<containers::Kafka> },
}

impl TestEnv {
    pub async fn start() -> Self {
        Self::try_start()
            .await
            .expect("cannot start the test environment")
    }

    /// Like `start`, with the broker on the durable `sqlite://` engine `make up` runs (in a
    /// directory of its own that lives as long as the environment), so it survives
    /// `kill_broker`.
    pub async fn start_durable() -> Self {
        let storage = Storage::durable().expect("cannot create the broker's directory");
        Self::try_start_with(storage)
            .await
            .expect("cannot start the test environment")
    }

    pub async fn try_start() -> anyhow::Result<Self> {
        Self::try_start_with(Storage::Memory).await
    }

    async fn try_start_with(storage: Storage) -> anyhow::Result<Self> {
        let database = TestDatabase::create().await?;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let toxiproxy_url = format!("http://{}", listener.local_addr()?);
        let shutdown = Shutdown::new();
        tokio::spawn(toxiproxy::serve(
            listener,
            toxiproxy::Registry::new(),
            shutdown.clone(),
        ));
        let toxiproxy = toxiproxy::Client::new(toxiproxy_url);

        let postgres_proxy = toxiproxy
            .create_proxy("postgres", "127.0.0.1:0", &database.server_address())
            .await?
            .listen;
        // The broker must advertise the proxy's address, so the proxy comes first and points at
        // the port the broker is about to listen on.
        let broker_port = stack::free_port()?;
        let kafka_proxy = toxiproxy
            .create_proxy("kafka", "127.0.0.1:0", &format!("127.0.0.1:{broker_port}"))
            .await?
            .listen;
        let broker = Broker::start(broker_port, &kafka_proxy, storage).await?;
        Ok(Self {
            database,
            toxiproxy,
            postgres_proxy,
            kafka_proxy,
            broker,
            shutdown,
        })
    }

    /// `role`'s URL for this test's database, through the `postgres` proxy.
    pub fn database_url(&self, role: &str) -> String {
        format!(
            "postgres://{role}:{role}@{}/{}",
            self.postgres_proxy,
            self.database.name()
        )
    }

    /// The superuser's URL for this test's database, straight to the server.
    pub fn admin_url(&self) -> String {
        self.database.admin_url()
    }

    /// Bootstrap servers for Kafka clients: the `kafka` proxy.
    pub fn kafka_brokers(&self) -> &str {
        &self.kafka_proxy
    }

    /// A client for this test's Toxiproxy server (proxies `postgres` and `kafka`).
    pub fn toxiproxy(&self) -> &toxiproxy::Client {
        &self.toxiproxy
    }

    /// Adds a proxy named `name` in front of `upstream` and returns the address it listens on.
    pub async fn add_proxy(&self, name: &str, upstream: &str) -> anyhow::Result<String> {
        Ok(self
            .toxiproxy
            .create_proxy(name, "127.0.0.1:0", upstream)
            .await?
            .listen)
    }

    /// The processes this environment runs (broker, and the cluster when it is ours), for tests
    /// of the harness itself.
    #[allow(irrefutable_let_patterns)]
    pub fn process_ids(&self) -> Vec<u32> {
        let mut pids = self.database.cluster_pid().into_iter().collect::<Vec<_>>();
        if let Broker::Process { child, .. } = &self.broker {
            pids.push(child.id());
        }
        pids
    }

    /// Kills the broker with SIGKILL, as a crash would. Memory storage loses its data; the
    /// broker of `start_durable` keeps it.
    // Without the `containers` feature the broker is always a process.
    #[allow(irrefutable_let_patterns)]
    pub fn kill_broker(&mut self) {
        if let Broker::Process { child, .. } = &mut self.broker {
            child.kill_hard();
        }
    }

    /// Starts the broker again on the same port after `kill_broker`.
    #[allow(irrefutable_let_patterns)]
    pub async fn restart_broker(&mut self) -> anyhow::Result<()> {
        if let Broker::Process {
            port,
            advertised,
            storage,
            ..
        } = &mut self.broker
        {
            let storage = std::mem::replace(storage, Storage::Memory);
            self.broker = Broker::start(*port, &advertised.clone(), storage).await?;
        }
        Ok(())
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

/// Where a test's broker keeps its data.
#[derive(Debug)]
enum Storage {
    Memory,
    /// `sqlite://` in this directory, removed when the environment drops.
    Durable(tempfile::TempDir),
}

impl Storage {
    fn durable() -> std::io::Result<Self> {
        Ok(Self::Durable(tempfile::tempdir()?))
    }

    /// The broker's command, storing here.
    fn command(&self, port: u16, advertised: &str) -> anyhow::Result<std::process::Command> {
        Ok(match self {
            Self::Memory => {
                stack::broker::command(port, advertised, stack::broker::MEMORY_STORAGE)?
            }
            Self::Durable(dir) => {
                // As `make up` runs it: a file relative to the broker's working directory.
                let mut command =
                    stack::broker::command(port, advertised, stack::broker::DURABLE_STORAGE)?;
                command.current_dir(dir.path());
                command
            }
        })
    }
}

impl Broker {
    async fn start(port: u16, advertised: &str, storage: Storage) -> anyhow::Result<Self> {
        #[cfg(feature = "containers")]
        if containers::enabled() {
            let kafka = containers::Kafka::start(port, advertised).await?;
            return Ok(Self::Container {
                _kafka: Box::new(kafka),
            });
        }
        let mut command = storage.command(port, advertised)?;
        // `TEST_BROKER_LOG=nisshi_broker::coordinator=debug` shows the broker's log (it writes
        // to stdout) among the test's output.
        match std::env::var("TEST_BROKER_LOG") {
            Ok(filter) => command.env("RUST_LOG", filter),
            Err(_) => command
                .stdout(std::process::Stdio::null())
                .env("RUST_LOG", "warn"),
        };
        let child = TiedChild::spawn(command, Signal::SIGTERM)?;
        stack::wait_for_port(&format!("127.0.0.1:{port}"), Duration::from_secs(20))
            .await
            .context("the broker did not start")?;
        Ok(Self::Process {
            child,
            port,
            advertised: advertised.to_owned(),
            storage,
        })
    }
}
