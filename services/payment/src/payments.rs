//! Payment queries over a connection the caller owns.

use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

platform::text_enum! {
    /// Where a payment is. CANCELLED is also the tombstone an `OrderCancelled` leaves for an
    /// order not yet reserved, so a late `InventoryReserved` charges nothing.
    pub enum Status {
        Pending = "PENDING",
        Captured = "CAPTURED",
        Failed = "FAILED",
        Refunded = "REFUNDED",
        Cancelled = "CANCELLED",
    }
}

/// A payment as `GET /payments/{order_id}` shows it.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct PaymentView {
    pub order_id: Uuid,
    pub status: Status,
    pub amount_cents: i64,
    pub attempts: i32,
    pub charge_id: Option<Uuid>,
    pub failure_reason: Option<String>,
}

/// The fields the worker and the handlers decide on, locked.
#[derive(Debug, sqlx::FromRow)]
pub struct Payment {
    pub order_id: Uuid,
    pub id: Uuid,
    pub status: Status,
    pub amount_cents: i64,
    pub card_token: String,
    /// None on a tombstone, which is never charged.
    pub shipping_address: Option<sqlx::types::Json<events::Address>>,
    pub attempts: i32,
    pub charge_id: Option<Uuid>,
    pub refund_id: Option<Uuid>,
    pub reconcile: bool,
    pub deadline_at: chrono::DateTime<chrono::Utc>,
    /// The span that created the payment or asked for its refund: the worker's span continues it.
    pub traceparent: Option<String>,
}

const COLUMNS: &str = "order_id, id, status, amount_cents, card_token, shipping_address, attempts,
                       charge_id, refund_id, reconcile, deadline_at, traceparent";

pub async fn lock(conn: &mut PgConnection, order_id: Uuid) -> sqlx::Result<Option<Payment>> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from payments where order_id = $1 for update"
    ))
    .bind(order_id)
    .fetch_optional(conn)
    .await
}

/// The most overdue piece of work no other worker holds, locked.
pub async fn claim_due(conn: &mut PgConnection) -> sqlx::Result<Option<Payment>> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from payments
         where (status = 'PENDING' or (status = 'CAPTURED' and refund_id is not null) or reconcile)
           and next_attempt_at <= now()
         order by next_attempt_at limit 1 for update skip locked"
    ))
    .fetch_optional(conn)
    .await
}
