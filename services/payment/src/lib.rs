//! The payment service: charges orders through the external payment gateway, and refunds them.

pub mod config;
pub mod routes;
pub mod startup;

pub use config::Config;
pub use startup::Application;
