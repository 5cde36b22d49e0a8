//! The payment-gateway's HTTP API, one module per resource.

mod charges;
mod faults;
mod refunds;

use axum::Router;
use axum::http::HeaderMap;
use platform::admin::AdminToken;
use platform::api::ApiError;
use sqlx::PgPool;
use utoipa_axum::router::OpenApiRouter;

pub use faults::Faults;

#[derive(Clone, Debug)]
pub struct AppState {
    pub pool: PgPool,
    pub faults: Faults,
}

/// The PSP's API, its health routes and, behind `admin`'s token, the fault settings.
pub fn router(pool: PgPool, admin: &AdminToken) -> Router {
    let state = AppState {
        pool: pool.clone(),
        faults: Faults::default(),
    };
    let api = OpenApiRouter::new()
        .merge(charges::router())
        .merge(refunds::router())
        // Faults apply to the PSP's API, never to its admin or health endpoints.
        .layer(axum::middleware::from_fn_with_state(
            state.faults.clone(),
            faults::inject,
        ))
        .merge(admin.protect(faults::router()))
        .with_state(state);
    platform::http::router("payment-gateway", api, move || {
        let pool = pool.clone();
        async move { platform::http::check_database(&pool).await }
    })
}

/// The `Idempotency-Key` header every mutating call requires.
fn idempotency_key(headers: &HeaderMap) -> Result<String, ApiError> {
    let key = headers
        .get("idempotency-key")
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .unwrap_or_default();
    if key.is_empty() || key.len() > 255 {
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "missing_idempotency_key",
            "the Idempotency-Key header is required (1 to 255 characters)",
        )
        .with_field("Idempotency-Key"));
    }
    Ok(key.to_owned())
}

/// 422 for a key already used with another request.
fn key_reused() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
        "this Idempotency-Key was used with a different request",
    )
    .with_field("Idempotency-Key")
}
