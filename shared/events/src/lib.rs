//! The saga's contract (SPEC section 3), shared by every service: topics, versioned event types
//! and their data, cancel reasons, and the product catalogue.
//!
//! Events carry the state the next step needs (the card token, the amount, the address), so no
//! service has to have seen an earlier event on another topic: topics are consumed in parallel
//! and give no order between them.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub mod catalogue;
pub mod participants;

pub use participants::{PARTICIPANTS, Participant};

pub const ORDER_EVENTS: &str = "order.events";
pub const INVENTORY_EVENTS: &str = "inventory.events";
pub const PAYMENT_EVENTS: &str = "payment.events";
pub const SHIPPING_EVENTS: &str = "shipping.events";
pub const TOPICS: [&str; 4] = [
    ORDER_EVENTS,
    INVENTORY_EVENTS,
    PAYMENT_EVENTS,
    SHIPPING_EVENTS,
];

/// `ce_type` of every event, `<aggregate>.<what happened>.v<N>`.
pub mod types {
    pub const ORDER_PLACED: &str = "order.placed.v1";
    pub const ORDER_CONFIRMED: &str = "order.confirmed.v1";
    pub const ORDER_CANCELLED: &str = "order.cancelled.v1";
    pub const INVENTORY_RESERVED: &str = "inventory.reserved.v1";
    pub const INVENTORY_REJECTED: &str = "inventory.rejected.v1";
    pub const INVENTORY_RELEASED: &str = "inventory.released.v1";
    pub const PAYMENT_COMPLETED: &str = "payment.completed.v1";
    pub const PAYMENT_FAILED: &str = "payment.failed.v1";
    pub const PAYMENT_REFUNDED: &str = "payment.refunded.v1";
    pub const SHIPMENT_SCHEDULED: &str = "shipping.scheduled.v1";
    pub const SHIPMENT_FAILED: &str = "shipping.failed.v1";

    /// Every type in the system.
    pub const ALL: [&str; 11] = [
        ORDER_PLACED,
        ORDER_CONFIRMED,
        ORDER_CANCELLED,
        INVENTORY_RESERVED,
        INVENTORY_REJECTED,
        INVENTORY_RELEASED,
        PAYMENT_COMPLETED,
        PAYMENT_FAILED,
        PAYMENT_REFUNDED,
        SHIPMENT_SCHEDULED,
        SHIPMENT_FAILED,
    ];

    /// The name the timeline shows, e.g. `OrderPlaced`.
    pub fn display_name(event_type: &str) -> &'static str {
        match event_type {
            ORDER_PLACED => "OrderPlaced",
            ORDER_CONFIRMED => "OrderConfirmed",
            ORDER_CANCELLED => "OrderCancelled",
            INVENTORY_RESERVED => "InventoryReserved",
            INVENTORY_REJECTED => "InventoryRejected",
            INVENTORY_RELEASED => "InventoryReleased",
            PAYMENT_COMPLETED => "PaymentCompleted",
            PAYMENT_FAILED => "PaymentFailed",
            PAYMENT_REFUNDED => "PaymentRefunded",
            SHIPMENT_SCHEDULED => "ShipmentScheduled",
            SHIPMENT_FAILED => "ShipmentFailed",
            _ => "Unknown",
        }
    }
}

/// The saga's evolution rule: which event types a consumer skips.
pub mod reactions {
    /// Whether a service with these `reactions` skips `event_type`: the rule that lets
    /// producers evolve without poisoning older consumers.
    ///
    /// - A type it reacts to is applied; an older version of it is upcast by the handler.
    /// - A version it does not know of a type it reacts to (`order.placed.v2` to a consumer of
    ///   `order.placed.v1`) is NOT skipped: it may carry work for this service, so the handler
    ///   refuses it and it is dead-lettered, to be re-driven once the consumer understands it.
    /// - Any other type is skipped, counted in `inbox_ignored_total`: a known type it has no use
    ///   for, or one added after this service was built (`order.gift_wrapped.v1`). So a producer
    ///   adds a type without waiting for every consumer, and changes a type's meaning only by a
    ///   new version that its consumers learn first.
    pub fn ignores(reactions: &[&str], event_type: &str) -> bool {
        !reactions
            .iter()
            .any(|reaction| name(reaction) == name(event_type))
    }

    /// `order.placed` of `order.placed.v1`; a type without a version is its own name.
    fn name(event_type: &str) -> &str {
        match event_type.rsplit_once(".v") {
            Some((name, version)) if version.parse::<u32>().is_ok() => name,
            _ => event_type,
        }
    }
}

/// Why an order was cancelled (`cancel_reason`).
pub mod reasons {
    pub const OUT_OF_STOCK: &str = "out_of_stock";
    pub const PAYMENT_DECLINED: &str = "payment_declined";
    pub const PAYMENT_UNAVAILABLE: &str = "payment_unavailable";
    pub const SHIPPING_UNAVAILABLE: &str = "shipping_unavailable";
    pub const TIMEOUT: &str = "timeout";
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Line {
    pub sku: String,
    pub quantity: i32,
    pub unit_price_cents: i64,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Address {
    pub name: String,
    pub line1: String,
    pub city: String,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct OrderPlaced {
    pub order_id: Uuid,
    pub customer_id: Uuid,
    pub lines: Vec<Line>,
    pub total_cents: i64,
    pub card_token: String,
    pub shipping_address: Address,
}

/// The most an order may cost, in cents. `POST /orders` cannot price one above it (50 lines of
/// at most 1000 of the dearest product); a consumer refuses a larger or non-positive amount.
pub const MAX_AMOUNT_CENTS: i64 = 1_000_000_000;

impl OrderPlaced {
    /// What inventory relies on before it reserves anything; an error is the field at fault.
    pub fn check(&self) -> Result<(), String> {
        if self.lines.is_empty() {
            return Err("lines: empty".into());
        }
        if let Some(line) = self.lines.iter().find(|line| line.quantity <= 0) {
            return Err(format!("lines: quantity {} of {}", line.quantity, line.sku));
        }
        check_amount(self.total_cents)
    }
}

impl InventoryReserved {
    /// What payment relies on before it charges anything; an error is the field at fault.
    pub fn check(&self) -> Result<(), String> {
        if self.card_token.is_empty() {
            return Err("card_token: empty".into());
        }
        check_amount(self.amount_cents)
    }
}

fn check_amount(cents: i64) -> Result<(), String> {
    if (1..=MAX_AMOUNT_CENTS).contains(&cents) {
        Ok(())
    } else {
        Err(format!(
            "amount of {cents} cents is outside 1..={MAX_AMOUNT_CENTS}"
        ))
    }
}

/// OrderConfirmed, InventoryReleased, PaymentRefunded: the order id says it all.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct OrderRef {
    pub order_id: Uuid,
}

/// OrderCancelled, InventoryRejected, PaymentFailed, ShipmentFailed.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Failure {
    pub order_id: Uuid,
    pub reason: String,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct InventoryReserved {
    pub order_id: Uuid,
    pub amount_cents: i64,
    pub card_token: String,
    pub shipping_address: Address,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct PaymentCompleted {
    pub order_id: Uuid,
    pub charge_id: Uuid,
    pub amount_cents: i64,
    pub shipping_address: Address,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct ShipmentScheduled {
    pub order_id: Uuid,
    pub tracking_number: String,
}

#[cfg(test)]
mod tests {
    use super::participants::named;
    use super::reactions::ignores;
    use super::{Address, InventoryReserved, Line, MAX_AMOUNT_CENTS, OrderPlaced, types};

    fn address() -> Address {
        Address {
            name: "Ada".into(),
            line1: "1 Main St".into(),
            city: "London".into(),
            postal_code: "N1".into(),
            country: "GB".into(),
        }
    }

    #[test]
    fn consumers_refuse_amounts_and_quantities_no_order_can_have() {
        let reserved = |amount_cents, card_token: &str| InventoryReserved {
            order_id: uuid::Uuid::nil(),
            amount_cents,
            card_token: card_token.into(),
            shipping_address: address(),
        };
        assert!(reserved(2450, "tok_visa").check().is_ok());
        for bad in [
            reserved(-2450, "tok_visa"),
            reserved(0, "tok_visa"),
            reserved(MAX_AMOUNT_CENTS + 1, "tok_visa"),
            reserved(2450, ""),
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
        let placed = |quantity| OrderPlaced {
            order_id: uuid::Uuid::nil(),
            customer_id: uuid::Uuid::nil(),
            lines: vec![Line {
                sku: "SKU-BOLT".into(),
                quantity,
                unit_price_cents: 1450,
            }],
            total_cents: 1450,
            card_token: "tok_visa".into(),
            shipping_address: address(),
        };
        assert!(placed(1).check().is_ok());
        assert!(placed(0).check().is_err());
        assert!(placed(-3).check().is_err());
    }

    #[test]
    fn a_service_skips_types_it_has_no_use_for_but_never_a_new_version_of_its_own() {
        assert!(ignores(named("payment").reacts_to, types::ORDER_PLACED));
        assert!(!ignores(
            named("payment").reacts_to,
            types::INVENTORY_RESERVED
        ));
        // A type added after the service was built, whatever its topic.
        assert!(ignores(named("payment").reacts_to, "order.gift_wrapped.v1"));
        assert!(ignores(named("payment").reacts_to, "inventory.audited"));
        // Versions of a type it reacts to reach its handler: older ones are upcast, newer ones
        // refused there (dead-lettered), never skipped.
        assert!(!ignores(
            named("payment").reacts_to,
            "inventory.reserved.v2"
        ));
        assert!(!ignores(
            named("payment").reacts_to,
            "inventory.reserved.v0"
        ));
        assert!(ignores(named("payment").reacts_to, "order.placed.v9"));
        // Every type the order service's topics carry changes its timeline.
        assert!(
            !types::ALL
                .iter()
                .any(|t| !t.starts_with("order.") && ignores(named("order").reacts_to, t))
        );
    }
}
