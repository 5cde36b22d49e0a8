//! What the shipping service does with each event it consumes.
//!
//! - `PaymentCompleted`: book a shipment → `ShipmentScheduled`, or `ShipmentFailed`
//!   (`shipping_unavailable`) when the country is not served.
//! - `OrderCancelled`: a scheduled shipment is cancelled; an order never seen leaves a
//!   tombstone, so a late `PaymentCompleted` ships nothing.

use events::{EventType, Failure, PaymentCompleted, ShipmentScheduled, reasons};
use messaging::{Event, Handler, HandlerError, Outbox};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{ShipmentStatus, UNSERVED_COUNTRIES};

#[derive(Clone, Debug)]
pub struct Handlers {
    pub outbox: Outbox,
}

impl Handlers {
    async fn schedule(&self, tx: &mut PgConnection, paid: PaymentCompleted) -> sqlx::Result<()> {
        let order_id = paid.order_id;
        let country = paid.shipping_address.country;
        let served = !UNSERVED_COUNTRIES.contains(&country.as_str());
        let tracking_number = served.then(|| format!("TRK-{}", Uuid::now_v7().simple()));
        let inserted = sqlx::query(
            "insert into shipments (order_id, status, tracking_number, country) values ($1, $2, $3, $4)
             on conflict (order_id) do nothing",
        )
        .bind(order_id)
        .bind(if served {
            ShipmentStatus::Scheduled
        } else {
            ShipmentStatus::Failed
        })
        .bind(&tracking_number)
        .bind(&country)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Ok(());
        }
        match tracking_number {
            Some(tracking_number) => {
                let scheduled = ShipmentScheduled {
                    order_id,
                    tracking_number,
                };
                self.outbox
                    .enqueue(tx, EventType::ShipmentScheduled, order_id, &scheduled)
                    .await?;
            }
            None => {
                tracing::info!(%order_id, country, "country not served, shipment failed");
                let failed = Failure::new(order_id, reasons::SHIPPING_UNAVAILABLE);
                self.outbox
                    .enqueue(tx, EventType::ShipmentFailed, order_id, &failed)
                    .await?;
            }
        }
        Ok(())
    }

    async fn cancel(&self, tx: &mut PgConnection, order_id: Uuid) -> sqlx::Result<()> {
        sqlx::query(
            "insert into shipments (order_id, status) values ($1, 'CANCELLED')
             on conflict (order_id) do update set status = 'CANCELLED', updated_at = now()
             where shipments.status = 'SCHEDULED'",
        )
        .bind(order_id)
        .execute(tx)
        .await?;
        Ok(())
    }
}

impl Handler for Handlers {
    async fn handle(&self, tx: &mut PgConnection, event: &Event) -> Result<(), HandlerError> {
        match event.event_type.parse() {
            Ok(EventType::PaymentCompleted) => Ok(self.schedule(tx, event.data_as()?).await?),
            Ok(EventType::OrderCancelled) => Ok(self
                .cancel(tx, event.data_as::<Failure>()?.order_id)
                .await?),
            _ => Err(HandlerError::unknown_type(event)),
        }
    }
}
