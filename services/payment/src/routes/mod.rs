//! The payment service's HTTP API, one module per resource.

pub fn router() -> axum::Router {
    platform::http::health_router("payment")
}
