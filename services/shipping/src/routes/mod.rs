//! The shipping service's HTTP API, one module per resource.

mod shipments;

use axum::Router;
use sqlx::PgPool;

#[derive(Clone, Debug)]
pub struct AppState {
    pub pool: PgPool,
}

pub fn router<F, Fut>(state: AppState, readiness: F) -> Router
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    platform::http::router(
        crate::SERVICE,
        shipments::router().with_state(state),
        readiness,
    )
}
