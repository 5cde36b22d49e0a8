//! The notification service: tells the customer how each order ended, once.

pub mod api;
pub mod handlers;

use participant::{Parts, Settings};
use sqlx::PgPool;
use sqlx::migrate::Migrator;

/// The notification participant, for `participant`'s skeleton.
#[derive(Debug)]
pub struct Notification;

impl participant::Service for Notification {
    const NAME: &'static str = "notification";
    type Config = Settings;
    type Handler = handlers::Handlers;

    fn migrations() -> Migrator {
        sqlx::migrate!("../../migrations/notification")
    }

    async fn parts(_: &Settings, pool: PgPool) -> anyhow::Result<Parts<Self::Handler>> {
        Ok(Parts::new(handlers::Handlers, api::router(pool)))
    }
}
