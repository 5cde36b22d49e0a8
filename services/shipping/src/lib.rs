//! The shipping service: books shipments for paid orders.

pub mod config;
pub mod routes;
pub mod startup;

pub use config::Config;
pub use startup::Application;
