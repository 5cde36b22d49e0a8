//! The inventory service: stock and reservations. An order's lines are reserved all or none,
//! released when the saga fails and committed when it is confirmed.

pub mod api;
pub mod handlers;
pub mod stock;

use anyhow::Context;
use participant::{Parts, Settings};
use platform::admin::{AdminAuth, AdminToken};
use sqlx::PgPool;
use sqlx::migrate::Migrator;

/// Configuration from environment variables (or the matching flags; `--help` lists both).
#[derive(Clone, Debug, clap::Parser)]
#[command(version, about)]
pub struct Config {
    #[command(flatten)]
    pub settings: Settings,
    #[command(flatten)]
    pub admin_auth: AdminAuth,
}

impl AsRef<Settings> for Config {
    fn as_ref(&self) -> &Settings {
        &self.settings
    }
}

/// The inventory participant, for `participant`'s skeleton.
#[derive(Debug)]
pub struct Inventory;

impl participant::Service for Inventory {
    const NAME: &'static str = "inventory";
    type Config = Config;
    type Handler = handlers::Handlers;

    fn migrations() -> Migrator {
        sqlx::migrate!("../../migrations/inventory")
    }

    async fn parts(config: &Config, pool: PgPool) -> anyhow::Result<Parts<Self::Handler>> {
        let admin = AdminToken::new(&config.admin_auth).map_err(anyhow::Error::msg)?;
        stock::seed(&pool)
            .await
            .context("cannot seed the catalogue")?;
        let outbox = messaging::Outbox::new(Self::NAME, events::INVENTORY_EVENTS);
        Ok(Parts::new(
            handlers::Handlers { outbox },
            api::router(pool, &admin),
        ))
    }
}
