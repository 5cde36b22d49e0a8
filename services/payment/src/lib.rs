//! The payment service: charges orders through the external payment gateway (behind a circuit
//! breaker and retries), and refunds them when the saga compensates.

pub mod api;
pub mod gateway;
pub mod handlers;
pub mod payments;
pub mod worker;

use std::time::Duration;

use anyhow::Context;
use participant::{Parts, Settings};
use sqlx::PgPool;
use sqlx::migrate::Migrator;

use crate::gateway::{GatewayClient, GatewayConfig};

/// Configuration from environment variables (or the matching flags; `--help` lists both).
#[derive(Clone, Debug, clap::Parser)]
#[command(version, about)]
pub struct Config {
    #[command(flatten)]
    pub settings: Settings,
    /// The payment gateway as this service reaches it: through the `payment_gateway` proxy.
    #[arg(long, env = "GATEWAY_URL", default_value = "http://127.0.0.1:18090")]
    pub gateway_url: String,
    /// Seconds a payment keeps trying an unavailable gateway before it fails with
    /// `payment_unavailable`. Longer than the breaker's 30 s open state, shorter than the
    /// order's saga deadline.
    #[arg(long, env = "PAYMENT_DEADLINE_SECS", default_value_t = 45)]
    pub deadline_secs: u64,
}

impl AsRef<Settings> for Config {
    fn as_ref(&self) -> &Settings {
        &self.settings
    }
}

/// The payment participant, for `participant`'s skeleton.
#[derive(Debug)]
pub struct Payment;

impl participant::Service for Payment {
    const NAME: &'static str = "payment";
    type Config = Config;
    type Handler = handlers::Handlers;

    fn migrations() -> Migrator {
        sqlx::migrate!("../../migrations/payment")
    }

    async fn parts(config: &Config, pool: PgPool) -> anyhow::Result<Parts<Self::Handler>> {
        let gateway = GatewayClient::new(GatewayConfig::new(&config.gateway_url))
            .context("cannot build the gateway client")?;
        let worker = worker::Worker {
            pool: pool.clone(),
            outbox: messaging::Outbox::new(Self::NAME, events::PAYMENT_EVENTS),
            gateway,
        };
        let handlers = handlers::Handlers {
            deadline: Duration::from_secs(config.deadline_secs),
        };
        Ok(Parts::new(handlers, api::router(pool)).worker(|shutdown| worker.run(4, shutdown)))
    }
}
