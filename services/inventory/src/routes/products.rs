//! `GET /products` and the admin `PUT /products/{sku}/stock`.

use axum::extract::State;
use axum::routing::{get, put};
use axum::{Json, Router};
use platform::api::{ApiError, JsonBody, Path};
use serde::Deserialize;

use super::AppState;
use crate::stock::{self, Product};

pub fn router() -> Router<AppState> {
    Router::new().route("/products", get(list))
}

/// The operator's routes, served behind the admin token.
pub fn admin_router() -> Router<AppState> {
    Router::new().route("/products/{sku}/stock", put(set_stock))
}

async fn list(State(state): State<AppState>) -> Result<Json<Vec<Product>>, ApiError> {
    let mut conn = state.pool.acquire().await?;
    Ok(Json(stock::products(&mut conn).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StockRequest {
    available: i64,
}

/// Sets the stock free to reserve; held and committed stock are not touched.
async fn set_stock(
    State(state): State<AppState>,
    Path(sku): Path<String>,
    JsonBody(request): JsonBody<StockRequest>,
) -> Result<Json<Product>, ApiError> {
    let available = i32::try_from(request.available)
        .ok()
        .filter(|available| *available >= 0)
        .ok_or_else(|| ApiError::invalid("available", "a number from 0 to 2147483647"))?;
    let mut conn = state.pool.acquire().await?;
    let product = stock::set_available(&mut conn, &sku, available)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no product {sku}")))?;
    tracing::info!(sku, available, "stock set");
    Ok(Json(product))
}
