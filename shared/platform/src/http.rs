//! Serving a service's router: the routes every service has (health, readiness, metrics, its
//! OpenAPI document), request tracing and a graceful stop on the shared `Shutdown`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;
use tokio::net::TcpListener;
use tracing::{Instrument, Span};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::Shutdown;
use crate::api::ApiError;

/// `GET /healthz`'s answer.
#[derive(Serialize, ToSchema)]
struct Health {
    #[schema(value_type = String, example = "ok")]
    status: &'static str,
    #[schema(value_type = String, example = "order")]
    service: &'static str,
}

/// `GET /readyz`'s answer; `reason` names the dependency that is down.
#[derive(Serialize, ToSchema)]
struct Readiness {
    #[schema(value_type = String, example = "ready")]
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "database: unavailable")]
    reason: Option<String>,
}

type Check = Arc<dyn Fn() -> BoxFuture<Result<(), String>> + Send + Sync>;
type BoxFuture<T> = std::pin::Pin<Box<dyn Future<Output = T> + Send>>;

/// What the routes every service has answer from.
#[derive(Clone)]
struct Probes {
    service: &'static str,
    metrics: PrometheusHandle,
    readiness: Check,
}

/// The process is up and serving. Says nothing about its dependencies (that is `/readyz`), so
/// an orchestrator does not restart a healthy process because Postgres is away.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is up", body = Health)))]
async fn healthz(State(probes): State<Probes>) -> Json<Health> {
    Json(Health {
        status: "ok",
        service: probes.service,
    })
}

/// 200 when the service's dependencies answer (its database and broker, its consumer and relay
/// tasks alive), else 503 naming the one that does not, so an orchestrator sends no traffic to
/// an instance that cannot serve it.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, description = "Ready to serve", body = Readiness),
    (status = 503, description = "A dependency is down", body = Readiness)))]
async fn readyz(State(probes): State<Probes>) -> (StatusCode, Json<Readiness>) {
    match (probes.readiness)().await {
        Ok(()) => (
            StatusCode::OK,
            Json(Readiness {
                status: "ready",
                reason: None,
            }),
        ),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Readiness {
                status: "unavailable",
                reason: Some(reason),
            }),
        ),
    }
}

/// Every metric recorded in this process, in Prometheus's text format.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses(
    (status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain")))]
async fn metrics(State(probes): State<Probes>) -> String {
    probes.metrics.render()
}

/// A service's whole HTTP surface: its `api`, whose handlers document themselves with
/// `#[utoipa::path]`; `/healthz`, `/readyz` (answered by `readiness`) and `/metrics`; and the
/// OpenAPI document of all of it at `/openapi.json`, with a Swagger UI at `/docs`.
pub fn router<F, Fut>(service: &'static str, api: OpenApiRouter, readiness: F) -> Router
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let probes = Probes {
        service,
        metrics: crate::metrics::handle(),
        readiness: Arc::new(move || Box::pin(readiness())),
    };
    let (router, document) = OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .with_state(probes)
        .merge(api)
        .split_for_parts();
    let document = crate::openapi::finish(service, document);
    router.merge(SwaggerUi::new("/docs").url("/openapi.json", document))
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

/// Every request's span and its `http_request_duration_seconds{method, path, status}`.
///
/// The span continues the caller's trace (its `traceparent` header), so what the request does
/// (the events it writes) joins that trace. The operations routes (probes, scrapes) get none.
///
/// Every metric label comes from a fixed set: the path is the route's pattern (`/orders/{id}`)
/// or `unmatched`, the method a standard one or `other`, so no client can add series (`FOO1
/// /healthz`, `FOO2 /healthz`, ...).
async fn observe(request: Request, next: Next) -> Response {
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
    let span = if matches!(path.as_str(), "/healthz" | "/readyz" | "/metrics") {
        Span::none()
    } else {
        let span = tracing::info_span!(
            "request",
            otel.name = format!("{method} {path}"),
            otel.kind = "server",
            http.request.method = method,
            http.route = path,
            http.response.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            trace_id = tracing::field::Empty,
        );
        let traceparent = request.headers().get("traceparent");
        crate::telemetry::continue_trace(&span, traceparent.and_then(|v| v.to_str().ok()));
        span
    };
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    metrics::histogram!("http_request_duration_seconds", "method" => method, "path" => path, "status" => status.as_u16().to_string())
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
/// body limit, a request timeout, request metrics and a span per request.
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
        .layer(axum::middleware::from_fn(observe));
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.wait().await })
        .await
}
