//! Serving a service's router: the health routes every service has, request tracing and a
//! graceful stop on the shared `Shutdown`.

use axum::http::StatusCode;
use axum::{Json, Router, routing::get};
use serde::Serialize;
use serde_json::json;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

use crate::Shutdown;

#[derive(Serialize)]
struct Health {
    status: &'static str,
    service: &'static str,
}

/// `GET /healthz`: the process is up and serving. Says nothing about its dependencies (that is
/// `/readyz`), so an orchestrator does not restart a healthy process because Postgres is away.
/// `GET /metrics`: every metric recorded in this process, in Prometheus's text format.
pub fn health_router(service: &'static str) -> Router {
    let metrics = crate::metrics::handle();
    Router::new()
        .route(
            "/healthz",
            get(move || async move {
                Json(Health {
                    status: "ok",
                    service,
                })
            }),
        )
        .route("/metrics", get(move || async move { metrics.render() }))
}

/// `GET /readyz`: 200 when `check` passes (the service's database and broker answer), else 503
/// with the reason, so an orchestrator sends no traffic to an instance that cannot serve it.
pub fn readiness_router<F, Fut>(check: F) -> Router
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    Router::new().route(
        "/readyz",
        get(move || async move {
            match check().await {
                Ok(()) => (StatusCode::OK, Json(json!({"status": "ready"}))),
                Err(reason) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Json(json!({"status": "unavailable", "reason": reason})),
                ),
            }
        }),
    )
}

/// Readiness of a service whose only dependency is `pool`'s database.
pub async fn check_database(pool: &sqlx::PgPool) -> Result<(), String> {
    let ping = sqlx::query("select 1").execute(pool);
    match tokio::time::timeout(std::time::Duration::from_secs(2), ping).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => Err(format!("database: {error}")),
        Err(_) => Err("database: no answer within 2 s".into()),
    }
}

/// Serves `router` on `listener` until `shutdown` triggers, then lets requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    let router = router.layer(TraceLayer::new_for_http());
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.wait().await })
        .await
}
