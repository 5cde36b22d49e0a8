//! The payment-gateway service: a simulated external payment service provider (PSP).

pub mod config;
pub mod routes;
pub mod startup;

pub use config::Config;
pub use startup::Application;
