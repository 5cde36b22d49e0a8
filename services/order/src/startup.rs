//! Builds the order service from its config and runs it until shutdown.

use std::time::Duration;

use anyhow::Context;
use messaging::Messaging;
use messaging::cli::AdminCommand;
use platform::Shutdown;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::handlers::Handlers;
use crate::routes::AppState;
use crate::{Config, SERVICE, routes};

/// A built service: migrated, its listener bound (so `port()` is known), nothing running yet.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    messaging: Messaging,
    state: AppState,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let pool = platform::db::connect(&config.database_url, 20, Duration::from_secs(60))
            .await
            .context("cannot connect to the order database")?;
        let mut messaging = Messaging::prepare(
            SERVICE,
            pool.clone(),
            sqlx::migrate!("../../migrations/order"),
            &config.kafka_brokers,
            &[
                events::INVENTORY_EVENTS,
                events::PAYMENT_EVENTS,
                events::SHIPPING_EVENTS,
            ],
            &events::TOPICS,
            &config.retention,
        )
        .await
        .context("cannot prepare messaging")?;
        messaging.consumer = messaging
            .consumer
            .static_member(config.kafka_group_instance_id.clone());
        let state = AppState {
            pool,
            outbox: messaging::Outbox::new(SERVICE, events::ORDER_EVENTS),
            saga_deadline: Duration::from_secs(config.saga_deadline_secs),
        };
        let listener = TcpListener::bind(&config.http_addr)
            .await
            .with_context(|| format!("cannot bind the HTTP API to {}", config.http_addr))?;
        let router = routes::router(state.clone(), messaging.readiness());
        Ok(Self {
            listener,
            router,
            messaging,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map(|addr| addr.port())
            .unwrap_or(0)
    }

    /// Serves the API and runs the relay, the consumer and the deadline worker until
    /// `shutdown`; then drains all of them.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let mut workers = JoinSet::new();
        let handlers = Handlers::new(self.state.outbox.clone());
        self.messaging.spawn(handlers, &mut workers, &shutdown);
        workers.spawn(crate::deadline::run(self.state.clone(), shutdown.clone()));
        let served = platform::http::serve(self.listener, self.router, shutdown.clone()).await;
        shutdown.trigger();
        while workers.join_next().await.is_some() {}
        served.context("HTTP server failed")
    }
}

/// `order replay ...`, `order dlq ...`.
pub async fn run_admin(config: &Config, command: AdminCommand) -> anyhow::Result<()> {
    let pool = platform::db::connect(&config.database_url, 2, Duration::ZERO).await?;
    messaging::cli::run(command, &pool, &config.kafka_brokers, SERVICE).await
}
