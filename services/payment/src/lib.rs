//! The payment service: charges orders through the external payment gateway (behind a circuit
//! breaker and retries), and refunds them when the saga compensates.

pub mod config;
pub mod gateway;
pub mod handlers;
pub mod payments;
pub mod routes;
pub mod startup;
pub mod worker;

pub use config::Config;
pub use startup::Application;

/// The service's name: its schema, consumer group, relay and event source.
pub const SERVICE: &str = "payment";
