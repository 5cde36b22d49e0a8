//! `POST /orders`, `GET /orders/{id}`, `GET /orders?status=&limit=`.

use axum::Json;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use events::{EventType, OrderPlaced};
use platform::api::{ApiError, JsonBody, Path, Query, from_value};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::AppState;
use crate::domain::{OrderRequest, PlaceOrder};
use crate::error::Error;
use crate::orders::{self, OrderView, Status};

pub fn router(state: AppState) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(place, list))
        .routes(routes!(show))
        // An order is small; a large body is a mistake or an attack.
        .layer(DefaultBodyLimit::max(64 * 1024))
        .with_state(state)
}

/// Places an order: validates it, then writes it PENDING, its timeline's first entry and
/// `OrderPlaced` in one transaction. With an `Idempotency-Key`, a repeat of the same request
/// gets the same answer and places nothing; the key with another request is 422.
#[utoipa::path(post, path = "/orders", tag = "orders",
    params(("Idempotency-Key" = Option<String>, Header,
        description = "1 to 255 characters; a repeat with the same body gets the same order")),
    request_body(content = OrderRequest, description = "Limited to 64 KiB"),
    responses(
        (status = 202, description = "Accepted: the saga has started", body = OrderView,
            headers(("Location" = String, description = "`/orders/{id}`")))))]
#[tracing::instrument(skip_all, fields(order_id))]
async fn place(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, Error> {
    let key = idempotency_key(&headers)?;
    // serde_json's map is ordered, so this is the same for the same request. A digest: the body
    // holds the card token, which the order service must not keep.
    let fingerprint = format!("{:x}", Sha256::digest(body.to_string()));
    let order = PlaceOrder::parse(from_value::<OrderRequest>(body)?)?;
    if let Some(key) = &key
        && let Some(response) = replay(&state, key, &fingerprint).await?
    {
        return Ok(response);
    }

    let order_id = Uuid::now_v7();
    tracing::Span::current().record("order_id", order_id.to_string());
    let lines = json!(order.lines);
    let shipping_address = json!(order.shipping_address);
    let mut tx = state.pool.begin().await?;
    let created_at: Option<DateTime<Utc>> = sqlx::query_scalar(
        "insert into orders (id, customer_id, status, total_cents, lines, shipping_address,
                             idempotency_key, request_fingerprint, deadline_at, traceparent)
         values ($1, $2, 'PENDING', $3, $4, $5, $6, $7, now() + make_interval(secs => $8), $9)
         on conflict (idempotency_key) do nothing
         returning created_at",
    )
    .bind(order_id)
    .bind(order.customer_id)
    .bind(order.total_cents)
    .bind(&lines)
    .bind(&shipping_address)
    .bind(&key)
    .bind(&fingerprint)
    .bind(state.saga_deadline.as_secs_f64())
    // The saga deadline's cancellation continues this trace.
    .bind(platform::telemetry::traceparent())
    .fetch_optional(&mut *tx)
    .await?;
    let Some(created_at) = created_at else {
        // A concurrent request with the same key won the race.
        drop(tx);
        let key = key.unwrap_or_default();
        return replay(&state, &key, &fingerprint)
            .await?
            .ok_or(Error::KeyedOrderMissing);
    };
    let placed = orders::add_timeline(&mut tx, order_id, EventType::OrderPlaced, None).await?;
    // The answer is built from what was written: no read after the commit.
    let view = OrderView {
        id: order_id,
        customer_id: order.customer_id,
        status: Status::Pending,
        cancel_reason: None,
        total_cents: order.total_cents,
        lines,
        shipping_address,
        created_at,
        finished_at: None,
        timeline: vec![placed],
    };
    let event = OrderPlaced {
        order_id,
        customer_id: order.customer_id,
        lines: order.lines,
        total_cents: order.total_cents,
        card_token: order.card_token,
        shipping_address: order.shipping_address,
    };
    state
        .outbox
        .enqueue(&mut tx, EventType::OrderPlaced, order_id, &event)
        .await?;
    tx.commit().await?;
    tracing::info!(total_cents = event.total_cents, "order placed");
    Ok(accepted(view))
}

/// The answer to a repeated Idempotency-Key: the order it placed, or 422 for another request.
async fn replay(state: &AppState, key: &str, fingerprint: &str) -> Result<Option<Response>, Error> {
    let existing: Option<(Uuid, Option<String>)> =
        sqlx::query_as("select id, request_fingerprint from orders where idempotency_key = $1")
            .bind(key)
            .fetch_optional(&state.pool)
            .await?;
    match existing {
        None => Ok(None),
        Some((id, Some(stored))) if stored == fingerprint => {
            let mut conn = state.pool.acquire().await?;
            let order = orders::find(&mut conn, id)
                .await?
                .ok_or(Error::KeyedOrderMissing)?;
            Ok(Some(accepted(order)))
        }
        Some(_) => Err(Error::KeyReused),
    }
}

/// 202 with the order and its `Location`.
fn accepted(order: OrderView) -> Response {
    let location = format!("/orders/{}", order.id);
    (
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(order),
    )
        .into_response()
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Error> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match value.to_str().map(str::trim) {
        Ok(key) if !key.is_empty() && key.len() <= 255 => Ok(Some(key.to_owned())),
        _ => Err(Error::InvalidKey),
    }
}

/// An order, with its saga's timeline.
#[utoipa::path(get, path = "/orders/{id}", tag = "orders",
    params(("id" = String, Path, format = Uuid, description = "The order's id")),
    responses(
        (status = 200, description = "The order", body = OrderView),
        (status = 404, description = "`not_found`: no such order", body = ApiError)))]
async fn show(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, Error> {
    let id = Uuid::parse_str(&id).map_err(|_| Error::NotFound)?;
    let mut conn = state.pool.acquire().await?;
    let order = orders::find(&mut conn, id).await?.ok_or(Error::NotFound)?;
    Ok(Json(order).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only orders in this state: `PENDING`, `CONFIRMED`, `CANCELLING` or `CANCELLED`.
    status: Option<String>,
    /// At most this many, newest first (1 to 1000; 50 when absent).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

/// Orders, newest first.
#[utoipa::path(get, path = "/orders", tag = "orders", params(ListQuery),
    responses((status = 200, description = "The orders", body = Vec<OrderView>)))]
async fn list(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Response, Error> {
    let status = match query.status.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(raw.parse::<Status>().map_err(|_| {
            Error::invalid("status", "one of PENDING, CONFIRMED, CANCELLING, CANCELLED")
        })?),
    };
    let limit = match query.limit.as_deref() {
        None | Some("") => 50,
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|limit| (1..=1000).contains(limit))
            .ok_or_else(|| Error::invalid("limit", "a number from 1 to 1000"))?,
    };
    let mut conn = state.pool.acquire().await?;
    Ok(Json(orders::list(&mut conn, status, limit).await?).into_response())
}
