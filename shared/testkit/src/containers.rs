//! The Docker backend (`TESTKIT_BACKEND=containers`, feature `containers`): Postgres and Apache
//! Kafka in containers instead of a local cluster and nisshi. The Toxiproxy server stays in the
//! test process either way; Kafka advertises the `kafka` proxy's address exactly as nisshi does.

use std::time::Duration;

use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};
use testcontainers_modules::postgres::Postgres;
use tokio::sync::OnceCell;

pub(crate) fn enabled() -> bool {
    std::env::var("TESTKIT_BACKEND").is_ok_and(|backend| backend == "containers")
}

/// The Postgres container every test of this process shares; returns `(base_url, address)`.
pub(crate) async fn postgres() -> anyhow::Result<(String, String)> {
    static CONTAINER: OnceCell<ContainerAsync<Postgres>> = OnceCell::const_new();
    let container = CONTAINER
        .get_or_try_init(|| async { Postgres::default().with_tag("17-alpine").start().await })
        .await?;
    let port = container.get_host_port_ipv4(5432).await?;
    // The module's superuser is postgres/postgres, like our own clusters.
    Ok((
        format!("postgres://postgres:postgres@127.0.0.1:{port}"),
        format!("127.0.0.1:{port}"),
    ))
}

/// One test's Kafka (KRaft, single node), removed when dropped.
#[derive(Debug)]
pub(crate) struct Kafka {
    _container: ContainerAsync<GenericImage>,
}

impl Kafka {
    /// Kafka listening on host port `port` and advertising `advertised` (the proxy).
    pub(crate) async fn start(port: u16, advertised: &str) -> anyhow::Result<Self> {
        let container = GenericImage::new("apache/kafka", "3.9.1")
            .with_wait_for(WaitFor::message_on_stdout("Kafka Server started"))
            .with_mapped_port(port, 9092.tcp())
            .with_env_var("KAFKA_NODE_ID", "1")
            .with_env_var("KAFKA_PROCESS_ROLES", "broker,controller")
            .with_env_var("KAFKA_LISTENERS", "PLAINTEXT://:9092,CONTROLLER://:9093")
            .with_env_var(
                "KAFKA_ADVERTISED_LISTENERS",
                format!("PLAINTEXT://{advertised}"),
            )
            .with_env_var("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER")
            .with_env_var(
                "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP",
                "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            )
            .with_env_var("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@localhost:9093")
            .with_env_var("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1")
            .with_env_var("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
            .with_env_var("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
            .with_env_var("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0")
            .with_startup_timeout(Duration::from_secs(120))
            .start()
            .await?;
        Ok(Self {
            _container: container,
        })
    }
}
