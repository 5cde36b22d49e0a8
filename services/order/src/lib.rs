//! The order service: the public API that starts the saga and tracks each order to its end.

pub mod api;
pub mod deadline;
pub mod domain;
pub mod error;
pub mod handlers;
pub mod orders;

use std::time::Duration;

use messaging::Outbox;
use participant::{Parts, Settings};
use sqlx::PgPool;
use sqlx::migrate::Migrator;

/// Configuration from environment variables (or the matching flags; `--help` lists both).
#[derive(Clone, Debug, clap::Parser)]
#[command(version, about)]
pub struct Config {
    #[command(flatten)]
    pub settings: Settings,
    /// Seconds an order may stay PENDING before it is cancelled with reason `timeout`.
    #[arg(long, env = "ORDER_SAGA_DEADLINE_SECS", default_value_t = 60)]
    pub saga_deadline_secs: u64,
}

impl AsRef<Settings> for Config {
    fn as_ref(&self) -> &Settings {
        &self.settings
    }
}

/// What the API and the deadline worker share.
#[derive(Clone, Debug)]
pub struct AppState {
    pub pool: PgPool,
    pub outbox: Outbox,
    pub saga_deadline: Duration,
}

/// The order participant, for `participant`'s skeleton.
#[derive(Debug)]
pub struct Order;

impl participant::Service for Order {
    const NAME: &'static str = "order";
    type Config = Config;
    type Handler = handlers::Handlers;

    fn migrations() -> Migrator {
        sqlx::migrate!("../../migrations/order")
    }

    async fn parts(config: &Config, pool: PgPool) -> anyhow::Result<Parts<Self::Handler>> {
        let state = AppState {
            pool,
            outbox: Outbox::new(Self::NAME, events::ORDER_EVENTS),
            saga_deadline: Duration::from_secs(config.saga_deadline_secs),
        };
        let handlers = handlers::Handlers {
            outbox: state.outbox.clone(),
        };
        let api = api::router(state.clone());
        Ok(Parts::new(handlers, api).worker(|shutdown| deadline::run(state, shutdown)))
    }
}
