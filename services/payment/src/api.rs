//! `GET /payments/{order_id}`.

use axum::Json;
use axum::extract::State;
use platform::api::{self, ApiError, Path};
use sqlx::PgPool;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::payments::PaymentView;

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
    let query = "select order_id, status, amount_cents, attempts, charge_id, failure_reason
                 from payments where order_id = $1";
    api::one_by_id(&pool, query, &order_id, "payment").await
}
