//! `OrderConfirmed` and `OrderCancelled` each record the order's one notice; a redelivery, a
//! replay or a second end of one order records nothing more.

use events::{EventType, Failure, OrderRef, reasons};
use messaging::{Event, Handler, HandlerError};
use sqlx::PgConnection;
use uuid::Uuid;

platform::text_enum! {
    /// How an order ended, as its notice says.
    pub enum Kind { Confirmed = "confirmed", Cancelled = "cancelled" }
}

#[derive(Clone, Debug)]
pub struct Handlers;

impl Handler for Handlers {
    async fn handle(&self, tx: &mut PgConnection, event: &Event) -> Result<(), HandlerError> {
        match event.event_type.parse() {
            Ok(EventType::OrderConfirmed) => {
                let order_id = event.data_as::<OrderRef>()?.order_id;
                let message = "Your order is on its way.";
                Ok(notify(tx, order_id, Kind::Confirmed, None, message).await?)
            }
            Ok(EventType::OrderCancelled) => {
                let Failure { order_id, reason } = event.data_as()?;
                let message = format!("Your order was cancelled: {}.", in_words(&reason));
                Ok(notify(tx, order_id, Kind::Cancelled, Some(&reason), &message).await?)
            }
            _ => Err(HandlerError::unknown_type(event)),
        }
    }
}

async fn notify(
    tx: &mut PgConnection,
    order_id: Uuid,
    kind: Kind,
    reason: Option<&str>,
    message: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into notices (order_id, kind, reason, message) values ($1, $2, $3, $4)
         on conflict (order_id) do nothing",
    )
    .bind(order_id)
    .bind(kind)
    .bind(reason)
    .bind(message)
    .execute(tx)
    .await?;
    Ok(())
}

/// A cancel reason as the customer reads it.
fn in_words(reason: &str) -> &'static str {
    match reason {
        reasons::OUT_OF_STOCK => "an item is out of stock",
        reasons::PAYMENT_DECLINED => "your card was declined",
        reasons::PAYMENT_UNAVAILABLE => "we could not reach the payment provider",
        reasons::SHIPPING_UNAVAILABLE => "we cannot ship to your address; any charge is refunded",
        reasons::TIMEOUT => "it took too long to process; any charge is refunded",
        _ => "we could not complete it",
    }
}
