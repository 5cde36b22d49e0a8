//! Everything the inventory service reads from its environment, in one typed struct.

use clap::Parser;
use messaging::cli::{AdminCommand, Retention};
use platform::admin::AdminAuth;

/// Configuration from environment variables (or the matching flags; `--help` lists both).
#[derive(Clone, Debug, Parser)]
#[command(name = "inventory", version, about)]
pub struct Config {
    /// Address the HTTP API binds to; port 0 picks a free port (tests).
    #[arg(long, env = "HTTP_ADDR", default_value = "0.0.0.0:8082")]
    pub http_addr: String,
    /// The service's database (role and schema `inventory`), through the `postgres` proxy.
    #[arg(long, env = "INVENTORY_DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// Kafka bootstrap servers (the `kafka` proxy).
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub kafka_brokers: String,
    /// This replica's static consumer-group membership (`group.instance.id`), unique among the
    /// service's replicas: a restart after a crash then takes its partitions back at once.
    #[arg(long, env = "KAFKA_GROUP_INSTANCE_ID")]
    pub kafka_group_instance_id: Option<String>,
    #[command(flatten)]
    pub retention: Retention,
    /// Guards `PUT /products/{sku}/stock`.
    #[command(flatten)]
    pub admin_auth: AdminAuth,
    /// An admin task instead of serving (replay, DLQ).
    #[command(subcommand)]
    pub admin: Option<AdminCommand>,
}
