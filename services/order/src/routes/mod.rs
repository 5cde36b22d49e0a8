//! The order service's HTTP API, one module per resource.

mod orders;

use std::time::Duration;

use axum::Router;
use messaging::Outbox;
use sqlx::PgPool;

#[derive(Clone, Debug)]
pub struct AppState {
    pub pool: PgPool,
    pub outbox: Outbox,
    pub saga_deadline: Duration,
}

pub fn router<F, Fut>(state: AppState, readiness: F) -> Router
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    platform::http::router(
        crate::SERVICE,
        orders::router().with_state(state),
        readiness,
    )
}
