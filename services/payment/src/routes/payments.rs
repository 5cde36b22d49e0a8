//! `GET /payments/{order_id}`.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use platform::api::{ApiError, Path};
use uuid::Uuid;

use super::AppState;
use crate::payments::{self, PaymentView};

pub fn router() -> Router<AppState> {
    Router::new().route("/payments/{order_id}", get(show))
}

async fn show(
    State(state): State<AppState>,
    Path(order_id): Path<String>,
) -> Result<Json<PaymentView>, ApiError> {
    let order_id =
        Uuid::parse_str(&order_id).map_err(|_| ApiError::not_found("no such payment"))?;
    let mut conn = state.pool.acquire().await?;
    payments::find(&mut conn, order_id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("no such payment"))
}
