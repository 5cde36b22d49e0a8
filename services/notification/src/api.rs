//! `GET /notifications/{order_id}`.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use platform::api::{self, ApiError, Path};
use serde::Serialize;
use sqlx::PgPool;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::handlers::Kind;

/// The API, on the service's pool.
pub fn router(pool: PgPool) -> OpenApiRouter {
    OpenApiRouter::new().routes(routes!(show)).with_state(pool)
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
struct Notice {
    order_id: Uuid,
    kind: Kind,
    /// The order's `cancel_reason`; null when confirmed.
    reason: Option<String>,
    /// What the customer was told.
    #[schema(example = "Your order is on its way.")]
    message: String,
    created_at: DateTime<Utc>,
}

/// The notice sent for an order that has ended.
#[utoipa::path(get, path = "/notifications/{order_id}", tag = "notifications",
    params(("order_id" = String, Path, format = Uuid, description = "The order's id")),
    responses(
        (status = 200, description = "The order's notice", body = Notice),
        (status = 404, description = "`not_found`: no notice for this order", body = ApiError)))]
async fn show(
    State(pool): State<PgPool>,
    Path(order_id): Path<String>,
) -> Result<Json<Notice>, ApiError> {
    let query =
        "select order_id, kind, reason, message, created_at from notices where order_id = $1";
    api::one_by_id(&pool, query, &order_id, "notice").await
}
