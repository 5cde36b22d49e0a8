//! The shipping service: schedules a shipment for each paid order and cancels it when the saga
//! compensates. Addresses in a country it does not serve (`AQ`) fail the saga.

pub mod config;
pub mod handlers;
pub mod routes;
pub mod startup;

pub use config::Config;
pub use startup::Application;

/// The service's name: its schema, consumer group, relay and event source.
pub const SERVICE: &str = "shipping";

/// Countries no carrier serves.
pub const UNSERVED_COUNTRIES: [&str; 1] = ["AQ"];
