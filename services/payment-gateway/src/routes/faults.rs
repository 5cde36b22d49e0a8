//! Injected faults, so tests and the chaos suite can make the PSP slow, flaky or down:
//! `PUT /admin/faults {"latency_ms", "error_rate", "down"}`, `GET` and `DELETE /admin/faults`.
//! They apply to charge and refund calls only.
//!
//! An injected error is a 503. Half of them happen before the request is processed (nothing
//! done) and half after (done, but the answer is lost), as on a real network: the second kind is
//! what Idempotency-Key exists for.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use platform::api::{ApiError, JsonBody};
use rand::Rng;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct FaultSettings {
    /// Added to every API call before it is processed.
    #[schema(maximum = 600000)]
    pub latency_ms: u64,
    /// Share of API calls (0 to 1) answered 503.
    #[schema(minimum = 0, maximum = 1)]
    pub error_rate: f64,
    /// Every API call answered 503.
    pub down: bool,
}

/// The current settings, shared by the admin routes and the middleware.
#[derive(Clone, Debug, Default)]
pub struct Faults(Arc<RwLock<FaultSettings>>);

impl Faults {
    fn get(&self) -> FaultSettings {
        *self
            .0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn set(&self, settings: FaultSettings) {
        *self
            .0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = settings;
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(set, get, clear))
}

/// Sets the faults of charge and refund calls. An operator endpoint.
#[utoipa::path(put, path = "/admin/faults", tag = "faults", request_body = FaultSettings,
    security(("admin_token" = [])),
    responses((status = 200, description = "The faults now in force", body = FaultSettings)))]
async fn set(
    State(state): State<AppState>,
    JsonBody(settings): JsonBody<FaultSettings>,
) -> Result<Json<FaultSettings>, ApiError> {
    if !(0.0..=1.0).contains(&settings.error_rate) {
        return Err(ApiError::invalid("error_rate", "must be between 0 and 1"));
    }
    if settings.latency_ms > 600_000 {
        return Err(ApiError::invalid(
            "latency_ms",
            "must be at most 600000 (10 minutes)",
        ));
    }
    state.faults.set(settings);
    tracing::warn!(?settings, "faults injected");
    Ok(Json(settings))
}

/// The faults in force. An operator endpoint.
#[utoipa::path(get, path = "/admin/faults", tag = "faults", security(("admin_token" = [])),
    responses((status = 200, description = "The faults in force", body = FaultSettings)))]
async fn get(State(state): State<AppState>) -> Json<FaultSettings> {
    Json(state.faults.get())
}

/// Clears every fault. An operator endpoint.
#[utoipa::path(delete, path = "/admin/faults", tag = "faults", security(("admin_token" = [])),
    responses((status = 200, description = "No fault in force", body = FaultSettings)))]
async fn clear(State(state): State<AppState>) -> Json<FaultSettings> {
    state.faults.set(FaultSettings::default());
    tracing::info!("faults cleared");
    Json(FaultSettings::default())
}

/// Middleware on the PSP API: applies the current faults around the real handler.
/// Reads (the audit lists) are spared, so a test can inspect the ledger while the PSP fails.
pub async fn inject(State(faults): State<Faults>, request: Request, next: Next) -> Response {
    if request.method() != axum::http::Method::POST {
        return next.run(request).await;
    }
    let settings = faults.get();
    if settings.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(settings.latency_ms)).await;
    }
    if settings.down {
        return unavailable("the gateway is down");
    }
    let (fail, after_processing) = {
        let mut rng = rand::rng();
        (rng.random_bool(settings.error_rate), rng.random_bool(0.5))
    };
    if !fail {
        return next.run(request).await;
    }
    if after_processing {
        // Processed, but the client never learns how.
        let _ = next.run(request).await;
    }
    unavailable("injected failure")
}

fn unavailable(message: &str) -> Response {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message).into_response()
}
