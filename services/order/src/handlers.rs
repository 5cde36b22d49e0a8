//! What the order service does with each event it consumes: it follows the saga and moves the
//! order through `PENDING → CONFIRMED | CANCELLING → CANCELLED`.
//!
//! A failure after stock was reserved (payment failed, shipment failed) makes the order
//! CANCELLING and remembers which compensations it waits for; each `InventoryReleased` or
//! `PaymentRefunded` ticks one off, and the last one makes it CANCELLED. Events arriving for an
//! order that already reached its end only join its timeline.

use events::EventType::{self, *};
use events::{Failure, OrderRef, reasons};
use messaging::{Event, Handler, HandlerError, Outbox};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::orders::{self, Status};

#[derive(Clone, Debug)]
pub struct Handlers {
    pub outbox: Outbox,
}

impl Handler for Handlers {
    async fn handle(&self, tx: &mut PgConnection, event: &Event) -> Result<(), HandlerError> {
        let Ok(event_type) = event.event_type.parse::<EventType>() else {
            return Err(HandlerError::unknown_type(event));
        };
        let (order_id, reason) = match event_type {
            InventoryRejected | PaymentFailed | ShipmentFailed => {
                let failure: Failure = event.data_as()?;
                (failure.order_id, Some(failure.reason))
            }
            InventoryReserved | InventoryReleased | PaymentCompleted | PaymentRefunded
            | ShipmentScheduled => (event.data_as::<OrderRef>()?.order_id, None),
            OrderPlaced | OrderConfirmed | OrderCancelled => {
                return Err(HandlerError::unknown_type(event));
            }
        };
        let Some(saga) = orders::lock_saga(tx, order_id).await? else {
            return Err(HandlerError::poison(format!("no order {order_id}")));
        };
        orders::add_timeline(tx, order_id, event_type, reason.as_deref()).await?;
        if saga.status == Status::Cancelling {
            // A reservation or a capture that lands after the cancellation began (the deadline
            // passed while inventory or payment was still at work) is compensated too, so its
            // undoing is awaited; each undoing follows what it undoes on the same partition.
            let release = (saga.awaiting_release || event_type == InventoryReserved)
                && event_type != InventoryReleased;
            let refund = (saga.awaiting_refund || event_type == PaymentCompleted)
                && event_type != PaymentRefunded;
            if release || refund {
                orders::set_status(tx, order_id, Status::Cancelling, None, release, refund).await?;
            } else {
                let reason = saga.cancel_reason.unwrap_or_default();
                finish(tx, &self.outbox, order_id, Status::Cancelled, Some(&reason)).await?;
            }
            return Ok(());
        }
        if saga.status != Status::Pending {
            return Ok(());
        }
        match event_type {
            ShipmentScheduled => {
                finish(tx, &self.outbox, order_id, Status::Confirmed, None).await?;
            }
            // Nothing was reserved, so nothing needs undoing.
            InventoryRejected => {
                finish(
                    tx,
                    &self.outbox,
                    order_id,
                    Status::Cancelled,
                    reasons::OUT_OF_STOCK.into(),
                )
                .await?;
            }
            // Inventory releases on PaymentFailed, and also refunds on ShipmentFailed. Topics
            // are consumed in parallel, so a compensation may have arrived before the failure
            // that caused it: only what is not in the timeline yet is awaited.
            PaymentFailed | ShipmentFailed => {
                let release = !orders::seen(tx, order_id, InventoryReleased).await?;
                let refund = event_type == ShipmentFailed
                    && !orders::seen(tx, order_id, PaymentRefunded).await?;
                if release || refund {
                    orders::set_status(
                        tx,
                        order_id,
                        Status::Cancelling,
                        reason.as_deref(),
                        release,
                        refund,
                    )
                    .await?;
                } else {
                    finish(
                        tx,
                        &self.outbox,
                        order_id,
                        Status::Cancelled,
                        reason.as_deref(),
                    )
                    .await?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// The saga deadline passed with the order still PENDING. Participants compensate on
/// `OrderCancelled`, so it is published now. The order waits in CANCELLING for the undoing of
/// what it saw done (a reservation, a capture), or is CANCELLED at once if it saw nothing done.
pub async fn expire(tx: &mut PgConnection, outbox: &Outbox, order_id: Uuid) -> sqlx::Result<()> {
    let release = orders::seen(tx, order_id, InventoryReserved).await?
        && !orders::seen(tx, order_id, InventoryReleased).await?;
    let refund = orders::seen(tx, order_id, PaymentCompleted).await?
        && !orders::seen(tx, order_id, PaymentRefunded).await?;
    let reason = Some(reasons::TIMEOUT);
    if !(release || refund) {
        return finish(tx, outbox, order_id, Status::Cancelled, reason).await;
    }
    orders::set_status(tx, order_id, Status::Cancelling, reason, release, refund).await?;
    announce(tx, outbox, order_id, Status::Cancelled, reason).await?;
    tracing::info!(%order_id, release, refund, "saga deadline passed: compensating");
    Ok(())
}

/// Ends the saga: the terminal status, its timeline entry, and `OrderConfirmed` or
/// `OrderCancelled` for the participants to settle or compensate (unless a deadline already
/// announced the cancellation: participants must see it once).
pub async fn finish(
    tx: &mut PgConnection,
    outbox: &Outbox,
    order_id: Uuid,
    status: Status,
    reason: Option<&str>,
) -> sqlx::Result<()> {
    let age = orders::set_status(tx, order_id, status, reason, false, false).await?;
    if status != Status::Cancelled || !orders::seen(tx, order_id, OrderCancelled).await? {
        announce(tx, outbox, order_id, status, reason).await?;
    }
    metrics::counter!(
        "saga_finished_total",
        "status" => status.as_str(),
        "reason" => reason.unwrap_or("").to_owned()
    )
    .increment(1);
    metrics::histogram!("saga_duration_seconds", "status" => status.as_str()).record(age);
    tracing::info!(%order_id, status = status.as_str(), reason, "saga finished");
    Ok(())
}

/// `OrderConfirmed` or `OrderCancelled`: its timeline entry and its event.
async fn announce(
    tx: &mut PgConnection,
    outbox: &Outbox,
    order_id: Uuid,
    status: Status,
    reason: Option<&str>,
) -> sqlx::Result<()> {
    let event_type = match status {
        Status::Confirmed => OrderConfirmed,
        _ => OrderCancelled,
    };
    orders::add_timeline(tx, order_id, event_type, reason).await?;
    match reason {
        Some(reason) if status == Status::Cancelled => {
            let data = Failure::new(order_id, reason);
            outbox.enqueue(tx, event_type, order_id, &data).await?;
        }
        _ => {
            outbox
                .enqueue(tx, event_type, order_id, &OrderRef { order_id })
                .await?;
        }
    }
    Ok(())
}
