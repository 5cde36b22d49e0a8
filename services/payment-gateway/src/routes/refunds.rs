//! `POST /v1/refunds` and `GET /v1/refunds?order_id=`. Refunds of one charge never add up to
//! more than it captured.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use platform::api::{ApiError, JsonBody, Query};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::charges::{ByOrder, order_id};
use super::{AppState, idempotency_key, key_reused};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create, list))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RefundRequest {
    charge_id: Uuid,
    #[schema(minimum = 1)]
    amount_cents: i64,
}

#[derive(Debug, Serialize, sqlx::FromRow, ToSchema)]
struct Refund {
    id: Uuid,
    charge_id: Uuid,
    amount_cents: i64,
    created_at: DateTime<Utc>,
}

/// Refunds part or all of a captured charge, once per Idempotency-Key; refunds of a charge
/// never add up to more than it captured (422 `refund_exceeds_capture`).
#[utoipa::path(post, path = "/v1/refunds", tag = "refunds",
    params(("Idempotency-Key" = String, Header, description = "1 to 255 characters; the same key and body get the same answer")),
    request_body = RefundRequest,
    responses((status = 201, description = "Refunded", body = Refund)))]
#[tracing::instrument(skip_all, fields(key))]
async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(request): JsonBody<RefundRequest>,
) -> Result<(StatusCode, Json<Refund>), ApiError> {
    let key = idempotency_key(&headers)?;
    tracing::Span::current().record("key", key.as_str());
    if request.amount_cents <= 0 {
        return Err(ApiError::invalid(
            "amount_cents",
            "must be a positive number of cents",
        ));
    }
    let mut tx = state.pool.begin().await?;
    // The charge's row lock serialises refunds of one charge, so the sum check holds.
    let charge: Option<(String, i64, i64)> = sqlx::query_as(
        "select status, amount_cents, refunded_cents from charges where id = $1 for update",
    )
    .bind(request.charge_id)
    .fetch_optional(&mut *tx)
    .await?;
    let existing: Option<Refund> = sqlx::query_as(
        "select id, charge_id, amount_cents, created_at from refunds where idempotency_key = $1",
    )
    .bind(&key)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(refund) = existing {
        if refund.charge_id != request.charge_id || refund.amount_cents != request.amount_cents {
            return Err(key_reused());
        }
        return Ok((StatusCode::CREATED, Json(refund)));
    }
    let Some((status, captured, refunded)) = charge else {
        return Err(ApiError::invalid("charge_id", "no such charge"));
    };
    if status != "captured" {
        return Err(ApiError::invalid(
            "charge_id",
            "the charge was not captured",
        ));
    }
    // Checked: an amount near i64::MAX must be refused, not wrap round to a small total.
    let total = refunded.checked_add(request.amount_cents);
    if total.is_none_or(|total| total > captured) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "refund_exceeds_capture",
            format!(
                "refunds would exceed the {captured} cent charge ({refunded} cents refunded so far)"
            ),
        )
        .with_field("amount_cents"));
    }
    let refund: Refund = sqlx::query_as(
        "insert into refunds (id, idempotency_key, charge_id, amount_cents) values ($1, $2, $3, $4)
         returning id, charge_id, amount_cents, created_at",
    )
    .bind(Uuid::now_v7())
    .bind(&key)
    .bind(request.charge_id)
    .bind(request.amount_cents)
    .fetch_one(&mut *tx)
    .await
    .map_err(|error| match &error {
        // The key was just used, concurrently, for another charge.
        sqlx::Error::Database(db) if db.is_unique_violation() => key_reused(),
        _ => error.into(),
    })?;
    sqlx::query("update charges set refunded_cents = refunded_cents + $2 where id = $1")
        .bind(request.charge_id)
        .bind(request.amount_cents)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!(refund_id = %refund.id, "refund created");
    Ok((StatusCode::CREATED, Json(refund)))
}

/// The refunds made for an order, oldest first: the PSP's audit.
#[utoipa::path(get, path = "/v1/refunds", tag = "refunds", params(ByOrder),
    responses((status = 200, description = "The order's refunds", body = Vec<Refund>)))]
async fn list(
    State(state): State<AppState>,
    Query(query): Query<ByOrder>,
) -> Result<Json<Vec<Refund>>, ApiError> {
    let refunds = sqlx::query_as(
        "select r.id, r.charge_id, r.amount_cents, r.created_at
         from refunds r join charges c on c.id = r.charge_id
         where c.order_id = $1 order by r.created_at",
    )
    .bind(order_id(&query)?)
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(refunds))
}
