//! Service plumbing that is the same in every sagaworks service: one telemetry set-up, one
//! shutdown signal, one way to serve HTTP. A service only adds its own routes and handlers.

pub mod admin;
pub mod api;
pub mod db;
pub mod http;
pub mod metrics;
pub mod openapi;
pub mod shutdown;
pub mod telemetry;

pub use shutdown::Shutdown;
