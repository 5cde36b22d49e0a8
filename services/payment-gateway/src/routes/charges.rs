//! `POST /v1/charges` and `GET /v1/charges?order_id=`.
//!
//! Card tokens decide the outcome: `tok_visa` is captured, `tok_declined` is declined (402,
//! `card_declined`). Any other token is 422: the simulator knows no other cards.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use platform::api::{ApiError, JsonBody, Query};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{AppState, idempotency_key, key_reused};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create, list))
}

#[derive(Debug, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
struct ChargeRequest {
    order_id: Uuid,
    #[schema(minimum = 1)]
    amount_cents: i64,
    /// ISO 4217, upper case.
    #[schema(example = "EUR", pattern = "^[A-Z]{3}$")]
    currency: String,
    /// `tok_visa` (captured) or `tok_declined` (402); the simulator knows no other cards.
    #[schema(example = "tok_visa", pattern = "^tok_(visa|declined)$")]
    card_token: String,
}

#[derive(Debug, Serialize, sqlx::FromRow, ToSchema)]
pub struct Charge {
    id: Uuid,
    order_id: Uuid,
    amount_cents: i64,
    currency: String,
    card_token: String,
    status: String,
    decline_code: Option<String>,
    refunded_cents: i64,
    created_at: DateTime<Utc>,
}

impl ChargeRequest {
    fn validate(&self) -> Result<Option<&'static str>, ApiError> {
        if self.amount_cents <= 0 {
            return Err(ApiError::invalid(
                "amount_cents",
                "must be a positive number of cents",
            ));
        }
        if self.currency.len() != 3 || !self.currency.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(ApiError::invalid(
                "currency",
                "must be an ISO 4217 code such as EUR",
            ));
        }
        match self.card_token.as_str() {
            "tok_visa" => Ok(None),
            "tok_declined" => Ok(Some("insufficient_funds")),
            _ => Err(ApiError::invalid(
                "card_token",
                "unknown card token (the simulator knows tok_visa and tok_declined)",
            )),
        }
    }

    fn same_as(&self, charge: &Charge) -> bool {
        self.order_id == charge.order_id
            && self.amount_cents == charge.amount_cents
            && self.currency == charge.currency
            && self.card_token == charge.card_token
    }
}

/// The answer for a declined card (402).
#[derive(Debug, Serialize, ToSchema)]
struct Declined {
    #[schema(value_type = String, example = "card_declined")]
    error: &'static str,
    #[schema(value_type = String)]
    message: &'static str,
    #[schema(example = "insufficient_funds")]
    decline_code: Option<String>,
    charge_id: Uuid,
}

impl IntoResponse for Charge {
    fn into_response(self) -> Response {
        if self.status == "declined" {
            let body = Declined {
                error: "card_declined",
                message: "the card was declined",
                decline_code: self.decline_code,
                charge_id: self.id,
            };
            return (StatusCode::PAYMENT_REQUIRED, Json(body)).into_response();
        }
        (StatusCode::CREATED, Json(self)).into_response()
    }
}

/// Charges once per Idempotency-Key: the first request decides, a repeat with the same body gets
/// the stored outcome again (201 or 402), a repeat with another body gets 422.
#[utoipa::path(post, path = "/v1/charges", tag = "charges",
    params(("Idempotency-Key" = String, Header, description = "1 to 255 characters; the same key and body get the same answer")),
    request_body = ChargeRequest,
    responses(
        (status = 201, description = "Captured", body = Charge),
        (status = 402, description = "`card_declined`", body = Declined)))]
#[tracing::instrument(skip_all, fields(key))]
async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(request): JsonBody<ChargeRequest>,
) -> Result<Charge, ApiError> {
    let key = idempotency_key(&headers)?;
    tracing::Span::current().record("key", key.as_str());
    let decline_code = request.validate()?;
    let status = if decline_code.is_some() {
        "declined"
    } else {
        "captured"
    };
    // Concurrent requests with one key meet at the unique index: one inserts, the others read.
    let inserted: Option<Charge> = sqlx::query_as(
        "insert into charges (id, idempotency_key, order_id, amount_cents, currency, card_token, status, decline_code)
         values ($1, $2, $3, $4, $5, $6, $7, $8)
         on conflict (idempotency_key) do nothing
         returning id, order_id, amount_cents, currency, card_token, status, decline_code, refunded_cents, created_at",
    )
    .bind(Uuid::now_v7())
    .bind(&key)
    .bind(request.order_id)
    .bind(request.amount_cents)
    .bind(&request.currency)
    .bind(&request.card_token)
    .bind(status)
    .bind(decline_code)
    .fetch_optional(&state.pool)
    .await?;
    if let Some(charge) = inserted {
        tracing::info!(charge_id = %charge.id, status, "charge created");
        return Ok(charge);
    }
    let existing: Charge = sqlx::query_as(
        "select id, order_id, amount_cents, currency, card_token, status, decline_code, refunded_cents, created_at
         from charges where idempotency_key = $1",
    )
    .bind(&key)
    .fetch_one(&state.pool)
    .await?;
    if !request.same_as(&existing) {
        return Err(key_reused());
    }
    Ok(existing)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ByOrder {
    /// The order whose calls to list (required).
    #[param(required = true, value_type = String, format = Uuid)]
    order_id: Option<String>,
}

/// Parses the required `order_id` query parameter.
pub fn order_id(query: &ByOrder) -> Result<Uuid, ApiError> {
    let raw = query
        .order_id
        .as_deref()
        .ok_or_else(|| ApiError::invalid("order_id", "the order_id query parameter is required"))?;
    Uuid::parse_str(raw).map_err(|_| ApiError::invalid("order_id", "must be a UUID"))
}

/// The charges made for an order, oldest first: the PSP's audit.
#[utoipa::path(get, path = "/v1/charges", tag = "charges", params(ByOrder),
    responses((status = 200, description = "The order's charges", body = Vec<Charge>)))]
async fn list(
    State(state): State<AppState>,
    Query(query): Query<ByOrder>,
) -> Result<Json<Vec<Charge>>, ApiError> {
    let charges = sqlx::query_as(
        "select id, order_id, amount_cents, currency, card_token, status, decline_code, refunded_cents, created_at
         from charges where order_id = $1 order by created_at",
    )
    .bind(order_id(&query)?)
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(charges))
}
