//! One builder for every participant: pool, migrations, messaging, HTTP API, readiness and
//! shutdown.

use std::time::Duration;

use anyhow::Context;
use messaging::{Event, Handler, HandlerError, Messaging};
use platform::Shutdown;
use sqlx::PgConnection;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::{Service, Settings, participant};

/// A built service: migrated, its listener bound (so `port()` is known), nothing running yet.
pub struct Application {
    name: &'static str,
    listener: TcpListener,
    router: axum::Router,
    start: Start,
}

/// Starts the relay, the consumer and the service's workers on a set of tasks.
type Start = Box<dyn FnOnce(&mut JoinSet<()>, &Shutdown) + Send>;

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("name", &self.name)
            .field("listener", &self.listener)
            .finish_non_exhaustive()
    }
}

impl Application {
    pub async fn build<S: Service>(config: S::Config) -> anyhow::Result<Self> {
        let participant = participant::<S>()?;
        let name = participant.name;
        let settings: &Settings = config.as_ref();
        let pool = platform::db::connect(&settings.database_url, 20, Duration::from_secs(60))
            .await
            .with_context(|| format!("cannot connect to the {name} database"))?;
        let mut messaging = Messaging::prepare(
            name,
            pool.clone(),
            S::migrations(),
            &settings.kafka_brokers,
            &participant.consumes(),
            &events::TOPICS,
            &settings.retention,
        )
        .await
        .context("cannot prepare messaging")?;
        messaging.consumer = messaging
            .consumer
            .static_member(settings.group_instance_id()?);
        let listener = TcpListener::bind(&settings.http_addr)
            .await
            .with_context(|| format!("cannot bind the HTTP API to {}", settings.http_addr))?;
        let parts = S::parts(&config, pool).await?;
        let router = platform::http::router(name, parts.api, messaging.readiness());
        let handler = Reacting {
            reacts_to: participant.reacts_to,
            handler: parts.handler,
        };
        let workers = parts.workers;
        let start = move |tasks: &mut JoinSet<()>, shutdown: &Shutdown| {
            messaging.spawn(handler, tasks, shutdown);
            for worker in workers {
                tasks.spawn(worker(shutdown.clone()));
            }
        };
        Ok(Self {
            name,
            listener,
            router,
            start: Box::new(start),
        })
    }

    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map(|addr| addr.port())
            .unwrap_or(0)
    }

    /// Serves the API and runs the relay, the consumer and the service's workers until
    /// `shutdown`; then drains all of them.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let mut tasks = JoinSet::new();
        tracing::info!(port = self.port(), "{} listening", self.name);
        (self.start)(&mut tasks, &shutdown);
        let served = platform::http::serve(self.listener, self.router, shutdown.clone()).await;
        shutdown.trigger();
        while tasks.join_next().await.is_some() {}
        served.context("HTTP server failed")
    }
}

/// A participant's whole `main`: logs, its config from the environment and command line, then
/// an admin subcommand (`replay`, `dlq`) or the service until SIGTERM or SIGINT. `version` is
/// the service's (its traces' `service.version`): `env!("CARGO_PKG_VERSION")` in its `main`.
pub async fn main<S: Service>(version: &'static str) -> anyhow::Result<()> {
    let participant = participant::<S>()?;
    let config: S::Config =
        crate::parse_from(participant, std::env::args_os()).unwrap_or_else(|error| error.exit());
    let settings: &Settings = config.as_ref();
    if let Some(command) = settings.admin.clone() {
        platform::telemetry::init_logs();
        let pool = platform::db::connect(&settings.database_url, 2, Duration::ZERO).await?;
        return messaging::cli::run(command, &pool, &settings.kafka_brokers, participant.name)
            .await;
    }
    platform::telemetry::init(participant.name, version)
        .flush_after(async {
            Application::build::<S>(config)
                .await?
                .run_until_stopped(Shutdown::on_signals())
                .await
        })
        .await
}

/// The service's handler behind the saga's evolution rule: the types it does not react to are
/// skipped before they reach it (`events::reactions::ignores`).
struct Reacting<H> {
    reacts_to: &'static [events::EventType],
    handler: H,
}

impl<H: Handler> Handler for Reacting<H> {
    async fn handle(&self, tx: &mut PgConnection, event: &Event) -> Result<(), HandlerError> {
        self.handler.handle(tx, event).await
    }

    fn ignores(&self, event_type: &str) -> bool {
        events::reactions::ignores(self.reacts_to, event_type)
    }
}
