//! Serving a service's router: the health routes every service has, request tracing and a
//! graceful stop on the shared `Shutdown`.

use std::time::Duration;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, routing::get};
use serde::Serialize;
use serde_json::json;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

use crate::Shutdown;
use crate::api::ApiError;

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

/// Readiness of a service whose only dependency is `pool`'s database. The reason says which
/// dependency failed, not how: the error itself (addresses, roles) goes to the log.
pub async fn check_database(pool: &sqlx::PgPool) -> Result<(), String> {
    let ping = sqlx::query("select 1").execute(pool);
    match tokio::time::timeout(Duration::from_secs(2), ping).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness: database unavailable");
            Err("database: unavailable".into())
        }
        Err(_) => Err("database: no answer within 2 s".into()),
    }
}

/// The largest request body any route takes; a route may set a smaller one.
pub const BODY_LIMIT: usize = 256 * 1024;

/// How long a request may take before it is answered 503 `timeout`.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// `http_request_duration_seconds{method, path, status}`. Every label comes from a fixed set:
/// the path is the route's pattern (`/orders/{id}`) or `unmatched`, the method a standard one or
/// `other`, so no client can add series (`FOO1 /healthz`, `FOO2 /healthz`, ...).
async fn record_duration(request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = match *request.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
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

/// Answers 503 `timeout` for a request still running after `REQUEST_TIMEOUT`; dropping it
/// rolls back whatever transaction it held.
async fn time_limit(request: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!(
                "no answer within {} s; retry later",
                REQUEST_TIMEOUT.as_secs()
            ),
        )
        .into_response(),
    }
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}

/// Serves `router` on `listener` until `shutdown` triggers, then lets requests in flight finish.
/// Every service gets the same edges: the JSON error shape for unknown routes and methods, a
/// body limit, a request timeout, request metrics and tracing.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    let router = router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn(time_limit))
        .layer(axum::middleware::from_fn(record_duration))
        .layer(TraceLayer::new_for_http());
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.wait().await })
        .await
}
