//! Serving a service's router: the health routes every service has, request tracing and a
//! graceful stop on the shared `Shutdown`.

use axum::{Json, Router, routing::get};
use serde::Serialize;
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
