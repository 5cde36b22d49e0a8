//! `GET /payments/{order_id}`.

use axum::Json;
use axum::extract::State;
use platform::api::{ApiError, Path};
use sqlx::PgPool;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::payments::{self, PaymentView};

/// The API, on the service's pool.
pub fn router(pool: PgPool) -> OpenApiRouter {
    OpenApiRouter::new().routes(routes!(show)).with_state(pool)
}

/// The payment of an order.
#[utoipa::path(get, path = "/payments/{order_id}", tag = "payments",
    params(("order_id" = String, Path, format = Uuid, description = "The order's id")),
    responses(
        (status = 200, description = "The order's payment", body = PaymentView),
        (status = 404, description = "`not_found`: no payment for this order (yet)", body = ApiError)))]
async fn show(
    State(pool): State<PgPool>,
    Path(order_id): Path<String>,
) -> Result<Json<PaymentView>, ApiError> {
    let order_id =
        Uuid::parse_str(&order_id).map_err(|_| ApiError::not_found("no such payment"))?;
    let mut conn = pool.acquire().await?;
    payments::find(&mut conn, order_id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("no such payment"))
}
