//! The order queries: small functions over a connection the caller owns, so the caller decides
//! what commits together (an order change, its timeline entry and its outbox event).

use chrono::{DateTime, Utc};
use events::EventType;
use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

platform::text_enum! {
    /// Where an order's saga is: PENDING → CONFIRMED | CANCELLING → CANCELLED.
    pub enum Status {
        Pending = "PENDING",
        Confirmed = "CONFIRMED",
        Cancelling = "CANCELLING",
        Cancelled = "CANCELLED",
    }
}

/// An order as `GET /orders/{id}` shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrderView {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub status: Status,
    pub cancel_reason: Option<String>,
    pub total_cents: i64,
    pub lines: Value,
    pub shipping_address: Value,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub timeline: Vec<TimelineEntry>,
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TimelineEntry {
    pub event: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub at: DateTime<Utc>,
}

type OrderRow = (
    Uuid,
    Uuid,
    Status,
    Option<String>,
    i64,
    Value,
    Value,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

const COLUMNS: &str = "id, customer_id, status, cancel_reason, total_cents, lines, shipping_address, created_at, finished_at";

pub async fn find(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<OrderView>> {
    let row: Option<OrderRow> =
        sqlx::query_as(&format!("select {COLUMNS} from orders where id = $1"))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    let Some(row) = row else { return Ok(None) };
    let timeline = sqlx::query_as(
        "select event, detail, at from order_timeline where order_id = $1 order by id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Some(view(row, timeline)))
}

/// Newest first, optionally of one status, without timelines.
pub async fn list(
    conn: &mut PgConnection,
    status: Option<Status>,
    limit: i64,
) -> sqlx::Result<Vec<OrderView>> {
    let rows: Vec<OrderRow> = sqlx::query_as(&format!(
        "select {COLUMNS} from orders where ($1::text is null or status = $1)
         order by created_at desc limit $2"
    ))
    .bind(status)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|row| view(row, Vec::new())).collect())
}

fn view(row: OrderRow, timeline: Vec<TimelineEntry>) -> OrderView {
    let (
        id,
        customer_id,
        status,
        cancel_reason,
        total_cents,
        lines,
        shipping_address,
        created_at,
        finished_at,
    ) = row;
    OrderView {
        id,
        customer_id,
        status,
        cancel_reason,
        total_cents,
        lines,
        shipping_address,
        created_at,
        finished_at,
        timeline,
    }
}

/// Adds `event` to the order's timeline; returns the entry as written.
pub async fn add_timeline(
    conn: &mut PgConnection,
    order_id: Uuid,
    event: EventType,
    detail: Option<&str>,
) -> sqlx::Result<TimelineEntry> {
    sqlx::query_as(
        "insert into order_timeline (order_id, event, detail) values ($1, $2, $3)
         returning event, detail, at",
    )
    .bind(order_id)
    .bind(event.name())
    .bind(detail)
    .fetch_one(conn)
    .await
}

/// Whether `event` (e.g. `InventoryReleased`) is already in the order's timeline.
pub async fn seen(conn: &mut PgConnection, order_id: Uuid, event: EventType) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "select exists (select 1 from order_timeline where order_id = $1 and event = $2)",
    )
    .bind(order_id)
    .bind(event.name())
    .fetch_one(conn)
    .await
}

/// The saga state of an order, locked for the rest of the transaction.
#[derive(Debug, sqlx::FromRow)]
pub struct SagaState {
    pub status: Status,
    pub cancel_reason: Option<String>,
    pub awaiting_release: bool,
    pub awaiting_refund: bool,
}

pub async fn lock_saga(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<SagaState>> {
    sqlx::query_as(
        "select status, cancel_reason, awaiting_release, awaiting_refund from orders where id = $1 for update",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Moves the order to `status`; a terminal status also stamps `finished_at`. Returns the
/// order's age in seconds.
pub async fn set_status(
    conn: &mut PgConnection,
    id: Uuid,
    status: Status,
    reason: Option<&str>,
    awaiting_release: bool,
    awaiting_refund: bool,
) -> sqlx::Result<f64> {
    sqlx::query_scalar(
        "update orders set status = $2, cancel_reason = coalesce($3, cancel_reason),
                awaiting_release = $4, awaiting_refund = $5,
                finished_at = case when $2 in ('CONFIRMED', 'CANCELLED') then now() end
         where id = $1
         returning extract(epoch from now() - created_at)::float8",
    )
    .bind(id)
    .bind(status)
    .bind(reason)
    .bind(awaiting_release)
    .bind(awaiting_refund)
    .fetch_one(conn)
    .await
}
