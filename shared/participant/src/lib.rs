//! The skeleton of a saga participant, so a service's own files hold only what is its own.
//!
//! A service implements [`Service`]: its name (an entry of `events::PARTICIPANTS`), its config,
//! its migrations, and [`Service::parts`]: its event handler, its HTTP API and any workers of
//! its own. The skeleton does the rest, the same way in every service:
//!
//! - [`Settings`]: what every participant reads from its environment (flattened into its config);
//! - [`Application`]: connects the pool, migrates, creates the topics, starts the relay and the
//!   consumer of the topics its reactions are published on (skipping the types it does not react
//!   to), serves the API with `/healthz`, `/readyz`, `/metrics`, `/openapi.json` and `/docs/`, and
//!   drains all of it on shutdown;
//! - [`main`]: a service's whole `main`, admin subcommands (`replay`, `dlq`) included;
//! - `testing` (feature): the service on free ports against a `testkit::TestEnv`.

mod application;
mod config;
#[cfg(feature = "testing")]
pub mod testing;

use std::pin::Pin;

use events::Participant;
use platform::Shutdown;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use utoipa_axum::router::OpenApiRouter;

pub use application::{Application, main};
pub use config::{Settings, command, parse_from};

/// A saga participant: what the skeleton needs to know of it.
pub trait Service: 'static {
    /// Its name in `events::PARTICIPANTS`; the skeleton refuses to start a service not listed.
    const NAME: &'static str;
    /// Its configuration: [`Settings`] itself, or a `clap::Parser` that flattens it.
    type Config: clap::Parser + AsRef<Settings> + Send + 'static;
    /// What it does with each event it reacts to.
    type Handler: messaging::Handler;

    /// Its migrations: `sqlx::migrate!("../../migrations/<name>")`.
    fn migrations() -> Migrator;

    /// Its own parts, built once its database is migrated and the topics exist.
    fn parts(
        config: &Self::Config,
        pool: PgPool,
    ) -> impl Future<Output = anyhow::Result<Parts<Self::Handler>>> + Send;
}

/// What a service adds to the skeleton.
pub struct Parts<H> {
    pub handler: H,
    /// Its HTTP API, state applied; the skeleton adds the probes, metrics and documentation.
    pub api: OpenApiRouter,
    workers: Vec<Worker>,
}

type Worker = Box<dyn FnOnce(Shutdown) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

impl<H> Parts<H> {
    pub fn new(handler: H, api: OpenApiRouter) -> Self {
        Self {
            handler,
            api,
            workers: Vec::new(),
        }
    }

    /// Adds a worker of the service's own, started with the consumer; it must return once
    /// `shutdown` triggers, and the service waits for it before it exits.
    pub fn worker<F, Fut>(mut self, run: F) -> Self
    where
        F: FnOnce(Shutdown) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.workers
            .push(Box::new(|shutdown| Box::pin(run(shutdown))));
        self
    }
}

impl<H> std::fmt::Debug for Parts<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parts")
            .field("workers", &self.workers.len())
            .finish_non_exhaustive()
    }
}

/// `S`'s entry in `events::PARTICIPANTS`, or the error that says to add it.
pub fn participant<S: Service>() -> anyhow::Result<&'static Participant> {
    events::participants::find(S::NAME).ok_or_else(|| {
        anyhow::anyhow!(
            "`{}` is not in events::PARTICIPANTS: add it there (docs/adding-a-service.md, step 1)",
            S::NAME
        )
    })
}
