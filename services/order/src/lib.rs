//! The order service: public API; starts the saga and tracks each order's status.

pub mod config;
pub mod routes;
pub mod startup;

pub use config::Config;
pub use startup::Application;
