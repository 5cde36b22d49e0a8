//! A server for the [Toxiproxy](https://github.com/Shopify/toxiproxy) HTTP API on top of the
//! `noxious` crate, which ports Toxiproxy's proxy and toxics to Rust but does not publish its HTTP
//! server. Unmodified Toxiproxy clients (the Go, Ruby and Rust ones, curl) drive it, so the chaos
//! suite runs the same against this server natively and against Shopify's image in docker compose.
//!
//! `registry` owns the proxies and talks to noxious; `api` maps the HTTP API onto it.

mod api;
mod model;
mod registry;

pub use api::router;
pub use model::{ProxySpec, ToxicSpec};
pub use registry::{Error, Registry};

use platform::Shutdown;
use tokio::net::TcpListener;

/// Serves the Toxiproxy API on `listener` until `shutdown`, then stops every proxy.
pub async fn serve(
    listener: TcpListener,
    registry: Registry,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    let result = platform::http::serve(listener, router(registry.clone()), shutdown).await;
    registry.stop_all().await;
    result
}

mod client;
pub use client::Client;
