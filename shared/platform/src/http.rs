//! Serving a service's router: the health routes every service has, request tracing and a
//! graceful stop on the shared `Shutdown`.

use axum::extract::{MatchedPath, Request};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
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

/// `http_request_duration_seconds{method, path, status}`, the path being the route's pattern
/// (`/orders/{id}`), so ids do not explode the label set.
async fn record_duration(request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = request.method().to_string();
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!("http_request_duration_seconds", "method" => method, "path" => path, "status" => status)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Serves `router` on `listener` until `shutdown` triggers, then lets requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    let router = router
        .layer(axum::middleware::from_fn(record_duration))
        .layer(TraceLayer::new_for_http());
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.wait().await })
        .await
}
