//! Builds the payment-gateway service from its config and runs it until shutdown.

use std::time::Duration;

use anyhow::Context;
use platform::Shutdown;
use platform::admin::AdminToken;
use tokio::net::TcpListener;

use crate::{Config, routes};

/// A built service: its listener is bound, so `port()` is known before it runs.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
}

impl Application {
    /// Connects to the ledger, applies its migrations and binds the listener.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let admin = AdminToken::new(&config.admin_auth).map_err(anyhow::Error::msg)?;
        let pool = platform::db::connect(&config.database_url, 20, Duration::ZERO)
            .await
            .context("cannot connect to the gateway database")?;
        sqlx::migrate!("../../migrations/gateway")
            .run(&pool)
            .await
            .context("cannot migrate the gateway database")?;
        let listener = TcpListener::bind(&config.http_addr)
            .await
            .with_context(|| format!("cannot bind the HTTP API to {}", config.http_addr))?;
        Ok(Self {
            listener,
            router: routes::router(pool, &admin),
        })
    }

    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map(|addr| addr.port())
            .unwrap_or(0)
    }

    /// Serves until `shutdown` triggers, then drains requests in flight.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> anyhow::Result<()> {
        platform::http::serve(self.listener, self.router, shutdown)
            .await
            .context("HTTP server failed")
    }
}
