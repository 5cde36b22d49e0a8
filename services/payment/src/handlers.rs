//! What the payment service does with each event it consumes.
//!
//! - `InventoryReserved`: a PENDING payment, charged by the worker.
//! - `ShipmentFailed`, `OrderCancelled`: a captured payment owes a refund (paid by the worker →
//!   `PaymentRefunded`); a payment not yet charged is CANCELLED and never charged; an order never
//!   seen leaves a CANCELLED tombstone, so a late `InventoryReserved` charges nothing.

use std::time::Duration;

use events::{EventType, Failure, InventoryReserved};
use messaging::{Event, Handler, HandlerError};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::payments::{self, Status};

#[derive(Clone, Debug)]
pub struct Handlers {
    /// How long a payment may wait for an available gateway.
    pub deadline: Duration,
}

impl Handlers {
    async fn create(
        &self,
        tx: &mut PgConnection,
        reserved: InventoryReserved,
    ) -> Result<(), HandlerError> {
        reserved.check().map_err(HandlerError::poison)?;
        sqlx::query(
            "insert into payments (order_id, id, status, amount_cents, card_token, shipping_address,
                                   deadline_at, traceparent)
             values ($1, $2, 'PENDING', $3, $4, $5, now() + make_interval(secs => $6), $7)
             on conflict (order_id) do nothing",
        )
        .bind(reserved.order_id)
        .bind(Uuid::now_v7())
        .bind(reserved.amount_cents)
        .bind(&reserved.card_token)
        .bind(sqlx::types::Json(&reserved.shipping_address))
        .bind(self.deadline.as_secs_f64())
        .bind(platform::telemetry::traceparent())
        .execute(tx)
        .await?;
        Ok(())
    }

    async fn compensate(&self, tx: &mut PgConnection, order_id: Uuid) -> sqlx::Result<()> {
        let Some(payment) = payments::lock(tx, order_id).await? else {
            sqlx::query("insert into payments (order_id, id, status) values ($1, $2, 'CANCELLED')")
                .bind(order_id)
                .bind(Uuid::now_v7())
                .execute(tx)
                .await?;
            return Ok(());
        };
        match payment.status {
            Status::Captured if payment.refund_id.is_none() => {
                sqlx::query(
                    "update payments set refund_id = $2, next_attempt_at = now(), updated_at = now(),
                                         traceparent = $3
                     where order_id = $1",
                )
                .bind(order_id)
                .bind(Uuid::now_v7())
                .bind(platform::telemetry::traceparent())
                .execute(tx)
                .await?;
            }
            Status::Pending => {
                // Calls already made may have captured with the answer lost: reconcile them.
                sqlx::query(
                    "update payments set status = 'CANCELLED', reconcile = attempts > 0,
                            refund_id = case when attempts > 0 then gen_random_uuid() end,
                            next_attempt_at = now(), updated_at = now(), traceparent = $2
                     where order_id = $1",
                )
                .bind(order_id)
                .bind(platform::telemetry::traceparent())
                .execute(tx)
                .await?;
            }
            _ => {}
        }
        Ok(())
    }
}

impl Handler for Handlers {
    async fn handle(&self, tx: &mut PgConnection, event: &Event) -> Result<(), HandlerError> {
        match event.event_type.parse() {
            Ok(EventType::InventoryReserved) => self.create(tx, event.data_as()?).await,
            Ok(EventType::ShipmentFailed | EventType::OrderCancelled) => Ok(self
                .compensate(tx, event.data_as::<Failure>()?.order_id)
                .await?),
            _ => Err(HandlerError::unknown_type(event)),
        }
    }
}
