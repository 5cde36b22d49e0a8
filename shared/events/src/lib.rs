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

/// Declares [`EventType`]: each variant's `ce_type`, and its name (the variant's) as the
/// timeline shows it.
macro_rules! event_types {
    ($($variant:ident = $text:literal),+ $(,)?) => {
        /// The type of every event, whose `ce_type` is `<aggregate>.<what happened>.v<N>`.
        ///
        /// Consumers match on it (`event.event_type.parse()`); a `ce_type` that is not one of
        /// these does not parse, which is how a handler refuses a version it does not know.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum EventType {
            $($variant),+
        }

        impl EventType {
            /// Every type in the system.
            pub const ALL: &[EventType] = &[$(Self::$variant),+];

            /// Its `ce_type`: `order.placed.v1`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }

            /// The name the timeline shows: `OrderPlaced`.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => stringify!($variant)),+
                }
            }
        }

        impl std::str::FromStr for EventType {
            type Err = UnknownType;

            fn from_str(text: &str) -> Result<Self, UnknownType> {
                match text {
                    $($text => Ok(Self::$variant),)+
                    other => Err(UnknownType(other.to_owned())),
                }
            }
        }
    };
}

event_types! {
    OrderPlaced = "order.placed.v1",
    OrderConfirmed = "order.confirmed.v1",
    OrderCancelled = "order.cancelled.v1",
    InventoryReserved = "inventory.reserved.v1",
    InventoryRejected = "inventory.rejected.v1",
    InventoryReleased = "inventory.released.v1",
    PaymentCompleted = "payment.completed.v1",
    PaymentFailed = "payment.failed.v1",
    PaymentRefunded = "payment.refunded.v1",
    ShipmentScheduled = "shipping.scheduled.v1",
    ShipmentFailed = "shipping.failed.v1",
}

impl EventType {
    /// The topic it is published on, which its aggregate owns.
    pub const fn topic(self) -> &'static str {
        use EventType::*;
        match self {
            OrderPlaced | OrderConfirmed | OrderCancelled => ORDER_EVENTS,
            InventoryReserved | InventoryRejected | InventoryReleased => INVENTORY_EVENTS,
            PaymentCompleted | PaymentFailed | PaymentRefunded => PAYMENT_EVENTS,
            ShipmentScheduled | ShipmentFailed => SHIPPING_EVENTS,
        }
    }
}

impl AsRef<str> for EventType {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `ce_type` that is not an [`EventType`]: a version or a type this build does not know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownType(pub String);

impl std::fmt::Display for UnknownType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown event type `{}`", self.0)
    }
}

impl std::error::Error for UnknownType {}

/// The saga's evolution rule: which event types a consumer skips.
pub mod reactions {
    use crate::EventType;

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
    pub fn ignores(reactions: &[EventType], event_type: &str) -> bool {
        !reactions
            .iter()
            .any(|reaction| name(reaction.as_str()) == name(event_type))
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

impl Failure {
    pub fn new(order_id: Uuid, reason: impl Into<String>) -> Self {
        Self {
            order_id,
            reason: reason.into(),
        }
    }
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
    use super::{
        Address, EventType, InventoryReserved, Line, MAX_AMOUNT_CENTS, OrderPlaced, UnknownType,
    };

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
        assert!(ignores(
            named("payment").reacts_to,
            EventType::OrderPlaced.as_str()
        ));
        assert!(!ignores(
            named("payment").reacts_to,
            EventType::InventoryReserved.as_str()
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
            !EventType::ALL
                .iter()
                .any(|t| t.topic() != super::ORDER_EVENTS
                    && ignores(named("order").reacts_to, t.as_str()))
        );
    }

    #[test]
    fn an_event_type_is_its_ce_type_on_its_aggregates_topic() {
        for &event_type in EventType::ALL {
            assert_eq!(event_type.as_str().parse(), Ok(event_type));
            let aggregate = event_type.as_str().split('.').next().unwrap();
            assert_eq!(event_type.topic(), format!("{aggregate}.events"));
        }
        assert_eq!(EventType::ShipmentScheduled.name(), "ShipmentScheduled");
        assert_eq!(
            "order.placed.v2".parse::<EventType>(),
            Err(UnknownType("order.placed.v2".into()))
        );
    }
}
