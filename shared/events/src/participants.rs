//! Which services take part in the saga, and what each reacts to: the one list everything else
//! reads (the native stack, the chaos suite and its auditor, the load generator, the tests).
//!
//! A participant's name is its crate, binary, schema, login role, consumer group, relay and
//! event source; it reads `<NAME>_DATABASE_URL` and answers at `<NAME>_URL` in `.stack/env`.
//! Adding a service is one entry here (the guide: `docs/adding-a-service.md`).

use crate::EventType::{self, *};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Participant {
    pub name: &'static str,
    /// The port its HTTP API listens on (SPEC section 2).
    pub port: u16,
    /// The event types it reacts to (SPEC section 3). It consumes the topics they are published
    /// on and skips every other type there (`reactions::ignores`).
    pub reacts_to: &'static [EventType],
    /// What `make demo` shows of it for each order: a resource (`{order_id}` in its path) and
    /// the field of it in the column named after the participant.
    pub demo_column: Option<(&'static str, &'static str)>,
}

impl Participant {
    const fn new(name: &'static str, port: u16, reacts_to: &'static [EventType]) -> Self {
        Self {
            name,
            port,
            reacts_to,
            demo_column: None,
        }
    }

    /// With a column in `make demo`'s table: `field` of `path` (`/things/{order_id}`).
    pub const fn shows(self, path: &'static str, field: &'static str) -> Self {
        Self {
            demo_column: Some((path, field)),
            ..self
        }
    }

    /// The topics it consumes, in `TOPICS` order: those its reactions are published on.
    pub fn consumes(&self) -> Vec<&'static str> {
        crate::TOPICS
            .into_iter()
            .filter(|topic| self.reacts_to.iter().any(|t| t.topic() == *topic))
            .collect()
    }

    /// Whether it reads `topic`.
    pub fn reads(&self, topic: &str) -> bool {
        self.consumes().contains(&topic)
    }

    /// The environment variable of its database URL: `ORDER_DATABASE_URL`.
    pub fn database_url_var(&self) -> String {
        format!("{}_DATABASE_URL", self.env_prefix())
    }

    /// The environment variable of its base URL in `.stack/env`: `ORDER_URL`.
    pub fn url_var(&self) -> String {
        format!("{}_URL", self.env_prefix())
    }

    /// Every replica's address, comma-separated, the first being `<NAME>_URL`'s.
    pub fn urls_var(&self) -> String {
        format!("{}_URLS", self.env_prefix())
    }

    fn env_prefix(&self) -> String {
        self.name.to_uppercase().replace('-', "_")
    }
}

/// Every participant, in the order the stack starts them.
pub const PARTICIPANTS: &[Participant] = &[
    Participant::new(
        "order",
        8081,
        &[
            InventoryReserved,
            InventoryRejected,
            InventoryReleased,
            PaymentCompleted,
            PaymentFailed,
            PaymentRefunded,
            ShipmentScheduled,
            ShipmentFailed,
        ],
    ),
    Participant::new(
        "inventory",
        8082,
        &[
            OrderPlaced,
            OrderConfirmed,
            OrderCancelled,
            PaymentFailed,
            ShipmentFailed,
        ],
    ),
    Participant::new(
        "payment",
        8083,
        &[InventoryReserved, ShipmentFailed, OrderCancelled],
    ),
    Participant::new("shipping", 8084, &[PaymentCompleted, OrderCancelled]),
    Participant::new("notification", 8085, &[OrderConfirmed, OrderCancelled])
        .shows("/notifications/{order_id}", "kind"),
];

/// The participant called `name`.
pub fn find(name: &str) -> Option<&'static Participant> {
    PARTICIPANTS.iter().find(|p| p.name == name)
}

/// The participant called `name`, in tests: panics if there is none.
#[cfg(test)]
pub(crate) fn named(name: &str) -> &'static Participant {
    find(name).unwrap_or_else(|| panic!("no participant `{name}` in PARTICIPANTS"))
}

/// The participants that consume `topic`, i.e. its consumer groups.
pub fn consumers_of(topic: &str) -> impl Iterator<Item = &'static Participant> {
    PARTICIPANTS.iter().filter(move |p| p.reads(topic))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ports_are_unique() {
        for participant in PARTICIPANTS {
            let same = |other: &&Participant| {
                other.name == participant.name || other.port == participant.port
            };
            assert_eq!(PARTICIPANTS.iter().filter(same).count(), 1);
        }
    }

    #[test]
    fn a_participant_consumes_the_topics_its_reactions_are_published_on() {
        assert_eq!(
            named("shipping").consumes(),
            [crate::ORDER_EVENTS, crate::PAYMENT_EVENTS]
        );
        assert_eq!(
            named("order").consumes(),
            [
                crate::INVENTORY_EVENTS,
                crate::PAYMENT_EVENTS,
                crate::SHIPPING_EVENTS
            ]
        );
        let groups: Vec<_> = consumers_of(crate::SHIPPING_EVENTS)
            .map(|p| p.name)
            .collect();
        assert_eq!(groups, ["order", "inventory", "payment"]);
        assert_eq!(
            named("shipping").database_url_var(),
            "SHIPPING_DATABASE_URL"
        );
    }
}
