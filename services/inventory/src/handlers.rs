//! What the inventory service does with each event it consumes.
//!
//! - `OrderPlaced`: reserve all lines or none → `InventoryReserved` or `InventoryRejected`.
//! - `PaymentFailed`, `ShipmentFailed`, `OrderCancelled`: release a held reservation →
//!   `InventoryReleased`. An `OrderCancelled` for an order never seen leaves a tombstone, so a
//!   late `OrderPlaced` reserves nothing.
//! - `OrderConfirmed`: the held stock is sold (committed).

use events::{EventType, Failure, InventoryReserved, OrderPlaced, OrderRef, reasons};
use messaging::{Event, Handler, HandlerError, Outbox};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::stock::{self, Reservation};

#[derive(Clone, Debug)]
pub struct Handlers {
    pub outbox: Outbox,
}

impl Handlers {
    async fn reserve(&self, tx: &mut PgConnection, order: OrderPlaced) -> Result<(), HandlerError> {
        order.check().map_err(HandlerError::poison)?;
        let order_id = order.order_id;
        if stock::lock_reservation(tx, order_id).await?.is_some() {
            return Ok(());
        }
        match stock::reserve(tx, &order.lines).await? {
            None => {
                stock::insert_reservation(tx, order_id, Reservation::Held, &order.lines).await?;
                let reserved = InventoryReserved {
                    order_id,
                    amount_cents: order.total_cents,
                    card_token: order.card_token,
                    shipping_address: order.shipping_address,
                };
                self.outbox
                    .enqueue(tx, EventType::InventoryReserved, order_id, &reserved)
                    .await?;
            }
            Some(short_sku) => {
                tracing::info!(%order_id, sku = short_sku, "stock short, order rejected");
                stock::insert_reservation(tx, order_id, Reservation::Rejected, &order.lines)
                    .await?;
                let rejected = Failure::new(order_id, reasons::OUT_OF_STOCK);
                self.outbox
                    .enqueue(tx, EventType::InventoryRejected, order_id, &rejected)
                    .await?;
            }
        }
        Ok(())
    }

    async fn release(&self, tx: &mut PgConnection, order_id: Uuid) -> Result<(), HandlerError> {
        match stock::lock_reservation(tx, order_id).await? {
            Some((Reservation::Held, lines)) => {
                stock::settle(tx, &lines, false).await?;
                stock::set_reservation_status(tx, order_id, Reservation::Released).await?;
                self.outbox
                    .enqueue(
                        tx,
                        EventType::InventoryReleased,
                        order_id,
                        &OrderRef { order_id },
                    )
                    .await?;
            }
            Some(_) => {}
            None => stock::insert_reservation(tx, order_id, Reservation::Cancelled, &[]).await?,
        }
        Ok(())
    }

    async fn commit(&self, tx: &mut PgConnection, order_id: Uuid) -> Result<(), HandlerError> {
        if let Some((Reservation::Held, lines)) = stock::lock_reservation(tx, order_id).await? {
            stock::settle(tx, &lines, true).await?;
            stock::set_reservation_status(tx, order_id, Reservation::Committed).await?;
        }
        Ok(())
    }
}

impl Handler for Handlers {
    async fn handle(&self, tx: &mut PgConnection, event: &Event) -> Result<(), HandlerError> {
        match event.event_type.parse() {
            Ok(EventType::OrderPlaced) => self.reserve(tx, event.data_as()?).await,
            Ok(
                EventType::PaymentFailed | EventType::ShipmentFailed | EventType::OrderCancelled,
            ) => self.release(tx, event.data_as::<Failure>()?.order_id).await,
            Ok(EventType::OrderConfirmed) => {
                self.commit(tx, event.data_as::<OrderRef>()?.order_id).await
            }
            _ => Err(HandlerError::unknown_type(event)),
        }
    }
}
