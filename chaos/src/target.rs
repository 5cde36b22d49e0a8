//! The system under test: where its services, proxies, databases and broker answer.

use loadtest::Endpoints;

/// The four saga services: each owns a schema, an outbox, an inbox and a consumer group named
/// after it, and consumes these topics.
pub const SERVICES: [(&str, &[&str]); 4] = [
    (
        "order",
        &[
            events::INVENTORY_EVENTS,
            events::PAYMENT_EVENTS,
            events::SHIPPING_EVENTS,
        ],
    ),
    (
        "inventory",
        &[
            events::ORDER_EVENTS,
            events::PAYMENT_EVENTS,
            events::SHIPPING_EVENTS,
        ],
    ),
    (
        "payment",
        &[
            events::ORDER_EVENTS,
            events::INVENTORY_EVENTS,
            events::SHIPPING_EVENTS,
        ],
    ),
    ("shipping", &[events::ORDER_EVENTS, events::PAYMENT_EVENTS]),
];

/// The consumer groups that read `topic`.
pub fn consumers_of(topic: &str) -> impl Iterator<Item = &'static str> {
    SERVICES
        .into_iter()
        .filter(move |(_, topics)| topics.contains(&topic))
        .map(|(service, _)| service)
}

#[derive(Clone, Debug)]
pub struct Target {
    pub endpoints: Endpoints,
    /// The payment service's own address (its `/metrics` shows the breaker).
    pub payment: String,
    pub toxiproxy: String,
    /// A superuser URL: the auditor reads every schema with it, in read-only transactions.
    pub admin_database: String,
    /// Each service's own database URL, by service (replay runs as the service's role).
    pub databases: Vec<(String, String)>,
    pub brokers: String,
}

impl Target {
    /// From the variables `.stack/env` (or a compose `.env`) defines (SPEC section 1).
    pub fn from_env() -> anyhow::Result<Self> {
        let var = |key: &str| {
            std::env::var(key).map_err(|_| {
                anyhow::anyhow!("{key} is not set: run `make up`, then `set -a; . .stack/env`")
            })
        };
        let mut databases = Vec::new();
        for (service, _) in SERVICES {
            databases.push((
                service.to_owned(),
                var(&format!("{}_DATABASE_URL", service.to_uppercase()))?,
            ));
        }
        Ok(Self {
            endpoints: Endpoints::from_env(),
            payment: var("PAYMENT_URL")?,
            toxiproxy: var("TOXIPROXY_URL")?,
            admin_database: var("PG_ADMIN_URL")?,
            databases,
            brokers: var("KAFKA_BROKERS")?,
        })
    }
}
