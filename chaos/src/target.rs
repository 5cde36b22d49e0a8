//! The system under test: where its services, proxies, databases and broker answer.

use events::Participant;
use loadtest::Endpoints;

#[derive(Clone, Debug)]
pub struct Target {
    pub endpoints: Endpoints,
    /// Every payment replica's own address (their `/metrics` show the breaker).
    pub payments: Vec<String>,
    /// Replicas of each participant (`make up REPLICAS=N`; the native stack names them as
    /// `stack::Replica` does).
    pub replicas: usize,
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
        // `<SERVICE>_URLS` where the stack writes it, else the one `<SERVICE>_URL`.
        let urls = |participant: &Participant| -> anyhow::Result<Vec<String>> {
            Ok(match std::env::var(participant.urls_var()) {
                Ok(urls) => urls.split(',').map(str::to_owned).collect(),
                Err(_) => vec![var(&participant.url_var())?],
            })
        };
        let counts = events::PARTICIPANTS
            .iter()
            .map(|participant| Ok(urls(participant)?.len()))
            .collect::<anyhow::Result<std::collections::BTreeSet<usize>>>()?;
        anyhow::ensure!(
            counts.len() == 1,
            "the participants have different numbers of replicas ({counts:?}): run `make up`"
        );
        let payment = events::participants::find("payment").expect("payment is a participant");
        Ok(Self {
            endpoints: Endpoints::from_env(),
            payments: urls(payment)?,
            replicas: counts.into_iter().next().unwrap_or(1),
            toxiproxy: var("TOXIPROXY_URL")?,
            admin_database: var("PG_ADMIN_URL")?,
            databases,
            brokers: var("KAFKA_BROKERS")?,
        })
    }
}
