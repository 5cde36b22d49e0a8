//! `GET /shipments/{order_id}`.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use platform::api::{ApiError, Path};
use serde::Serialize;
use uuid::Uuid;

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/shipments/{order_id}", get(show))
}

#[derive(Debug, Serialize, sqlx::FromRow)]
struct Shipment {
    order_id: Uuid,
    status: String,
    tracking_number: Option<String>,
}

async fn show(
    State(state): State<AppState>,
    Path(order_id): Path<String>,
) -> Result<Json<Shipment>, ApiError> {
    let order_id =
        Uuid::parse_str(&order_id).map_err(|_| ApiError::not_found("no such shipment"))?;
    sqlx::query_as("select order_id, status, tracking_number from shipments where order_id = $1")
        .bind(order_id)
        .fetch_optional(&state.pool)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("no such shipment"))
}
