//! Everything the order service reads from its environment, in one typed struct.

use clap::Parser;
use messaging::cli::{AdminCommand, Retention};

/// Configuration from environment variables (or the matching flags; `--help` lists both).
#[derive(Clone, Debug, Parser)]
#[command(name = "order", version, about)]
pub struct Config {
    /// Address the HTTP API binds to; port 0 picks a free port (tests).
    #[arg(long, env = "HTTP_ADDR", default_value = "0.0.0.0:8081")]
    pub http_addr: String,
    /// The service's database (role and schema `order`), through the `postgres` proxy.
    #[arg(long, env = "ORDER_DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// Kafka bootstrap servers (the `kafka` proxy).
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub kafka_brokers: String,
    /// This replica's static consumer-group membership (`group.instance.id`), unique among the
    /// service's replicas: a restart after a crash then takes its partitions back at once.
    #[arg(long, env = "KAFKA_GROUP_INSTANCE_ID")]
    pub kafka_group_instance_id: Option<String>,
    /// Seconds an order may stay PENDING before it is cancelled with reason `timeout`.
    #[arg(long, env = "ORDER_SAGA_DEADLINE_SECS", default_value_t = 60)]
    pub saga_deadline_secs: u64,
    #[command(flatten)]
    pub retention: Retention,
    /// An admin task instead of serving (replay, DLQ).
    #[command(subcommand)]
    pub admin: Option<AdminCommand>,
}
