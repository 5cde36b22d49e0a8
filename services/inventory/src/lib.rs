//! The inventory service: stock and reservations. An order's lines are reserved all or none,
//! released when the saga fails and committed when it is confirmed.

pub mod config;
pub mod handlers;
pub mod routes;
pub mod startup;
pub mod stock;

pub use config::Config;
pub use startup::Application;

/// The service's name: its schema, consumer group, relay and event source.
pub const SERVICE: &str = "inventory";
