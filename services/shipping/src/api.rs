//! `GET /shipments/{order_id}`.

use axum::Json;
use axum::extract::State;
use platform::api::{self, ApiError, Path};
use serde::Serialize;
use sqlx::PgPool;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::ShipmentStatus;

/// The API, on the service's pool.
pub fn router(pool: PgPool) -> OpenApiRouter {
    OpenApiRouter::new().routes(routes!(show)).with_state(pool)
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
struct Shipment {
    order_id: Uuid,
    status: ShipmentStatus,
    tracking_number: Option<String>,
}

/// The shipment of an order.
#[utoipa::path(get, path = "/shipments/{order_id}", tag = "shipments",
    params(("order_id" = String, Path, format = Uuid, description = "The order's id")),
    responses(
        (status = 200, description = "The order's shipment", body = Shipment),
        (status = 404, description = "`not_found`: no shipment for this order", body = ApiError)))]
async fn show(
    State(pool): State<PgPool>,
    Path(order_id): Path<String>,
) -> Result<Json<Shipment>, ApiError> {
    let query = "select order_id, status, tracking_number from shipments where order_id = $1";
    api::one_by_id(&pool, query, &order_id, "shipment").await
}
