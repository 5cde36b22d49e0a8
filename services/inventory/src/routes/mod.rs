//! The inventory service's HTTP API, one module per resource.

mod products;

use axum::Router;
use platform::admin::AdminToken;
use sqlx::PgPool;

#[derive(Clone, Debug)]
pub struct AppState {
    pub pool: PgPool,
}

pub fn router<F, Fut>(state: AppState, admin: &AdminToken, readiness: F) -> Router
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let api = products::router()
        .merge(admin.protect(products::admin_router()))
        .with_state(state);
    platform::http::router(crate::SERVICE, api, readiness)
}
