//! The order service: the public API that starts the saga and tracks each order to its end.

pub mod config;
pub mod deadline;
pub mod domain;
pub mod handlers;
pub mod orders;
pub mod routes;
pub mod startup;

pub use config::Config;
pub use startup::Application;

/// The service's name: its schema, consumer group, relay and event source.
pub const SERVICE: &str = "order";
