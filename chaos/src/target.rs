//! The system under test: where its services, proxies, databases and broker answer.

use loadtest::Endpoints;

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
        for participant in events::PARTICIPANTS {
            databases.push((
                participant.name.to_owned(),
                var(&participant.database_url_var())?,
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
