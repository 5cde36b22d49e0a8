//! `GET /products` and the admin `PUT /products/{sku}/stock`.

use axum::Json;
use axum::extract::State;
use platform::admin::AdminToken;
use platform::api::{ApiError, JsonBody, Path};
use serde::Deserialize;
use sqlx::PgPool;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::stock::{self, Product};

/// The API on the service's pool; the operator's routes only with `admin`'s token.
pub fn router(pool: PgPool, admin: &AdminToken) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(list))
        .merge(admin.protect(OpenApiRouter::new().routes(routes!(set_stock))))
        .with_state(pool)
}

/// The catalogue with its stock.
#[utoipa::path(get, path = "/products", tag = "products",
    responses((status = 200, description = "Every product", body = Vec<Product>)))]
async fn list(State(pool): State<PgPool>) -> Result<Json<Vec<Product>>, ApiError> {
    let mut conn = pool.acquire().await?;
    Ok(Json(stock::products(&mut conn).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct StockRequest {
    /// The stock free to reserve.
    #[schema(minimum = 0, maximum = 2147483647)]
    available: i64,
}

/// Sets the stock free to reserve; held and committed stock are not touched. An operator
/// endpoint.
#[utoipa::path(put, path = "/products/{sku}/stock", tag = "products",
    params(("sku" = String, Path, description = "The product's SKU")),
    request_body = StockRequest,
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The product with its new stock", body = Product),
        (status = 404, description = "`not_found`: no such SKU", body = ApiError)))]
async fn set_stock(
    State(pool): State<PgPool>,
    Path(sku): Path<String>,
    JsonBody(request): JsonBody<StockRequest>,
) -> Result<Json<Product>, ApiError> {
    let available = i32::try_from(request.available)
        .ok()
        .filter(|available| *available >= 0)
        .ok_or_else(|| ApiError::invalid("available", "a number from 0 to 2147483647"))?;
    let mut conn = pool.acquire().await?;
    let product = stock::set_available(&mut conn, &sku, available)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no product {sku}")))?;
    tracing::info!(sku, available, "stock set");
    Ok(Json(product))
}
