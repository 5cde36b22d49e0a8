//! The shipping service: schedules a shipment for each paid order and cancels it when the saga
//! compensates. Addresses in a country it does not serve (`AQ`) fail the saga.

pub mod api;
pub mod handlers;

use participant::{Parts, Settings};
use sqlx::PgPool;
use sqlx::migrate::Migrator;

platform::text_enum! {
    /// Where a shipment is. CANCELLED is also the tombstone an `OrderCancelled` leaves for an
    /// order not yet paid, so a late `PaymentCompleted` ships nothing.
    pub enum ShipmentStatus {
        Scheduled = "SCHEDULED",
        Cancelled = "CANCELLED",
        Failed = "FAILED",
    }
}

/// Countries no carrier serves.
pub const UNSERVED_COUNTRIES: [&str; 1] = ["AQ"];

/// The shipping participant, for `participant`'s skeleton.
#[derive(Debug)]
pub struct Shipping;

impl participant::Service for Shipping {
    const NAME: &'static str = "shipping";
    type Config = Settings;
    type Handler = handlers::Handlers;

    fn migrations() -> Migrator {
        sqlx::migrate!("../../migrations/shipping")
    }

    async fn parts(_: &Settings, pool: PgPool) -> anyhow::Result<Parts<Self::Handler>> {
        let outbox = messaging::Outbox::new(Self::NAME, events::SHIPPING_EVENTS);
        Ok(Parts::new(handlers::Handlers { outbox }, api::router(pool)))
    }
}
