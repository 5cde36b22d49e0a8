//! The inventory service: stock and reservations.

pub mod config;
pub mod routes;
pub mod startup;

pub use config::Config;
pub use startup::Application;
