//! What each service's `Config` reads from its environment, for the tests that check a
//! deployment's environment against it (`compose.rs`, `kubernetes.rs`).

use std::collections::BTreeSet;

use clap::CommandFactory;

/// One service's environment as its `Config` declares it.
pub struct ServiceEnv {
    pub name: &'static str,
    /// Every variable it reads.
    pub read: BTreeSet<String>,
    /// Those it cannot start without.
    pub required: BTreeSet<String>,
}

impl ServiceEnv {
    /// Every participant's, then the payment gateway's.
    pub fn all() -> Vec<Self> {
        let participants = events::PARTICIPANTS.iter().map(|p| {
            let command = match p.name {
                "order" => participant::command::<order::Config>(p),
                "inventory" => participant::command::<inventory::Config>(p),
                "payment" => participant::command::<payment::Config>(p),
                // A participant with no settings of its own.
                _ => participant::command::<participant::Settings>(p),
            };
            (p.name, command)
        });
        participants
            .chain([("payment-gateway", payment_gateway::Config::command())])
            .map(|(name, command)| {
                let mut read = BTreeSet::new();
                let mut required = BTreeSet::new();
                for arg in command.get_arguments() {
                    if let Some(env) = arg.get_env() {
                        let env = env.to_string_lossy().into_owned();
                        if arg.is_required_set() {
                            required.insert(env.clone());
                        }
                        read.insert(env);
                    }
                }
                Self {
                    name,
                    read,
                    required,
                }
            })
            .collect()
    }

    /// Panics unless `set` holds every required variable and nothing the service does not read
    /// (the OpenTelemetry SDK's own `OTEL_*` aside).
    pub fn check(&self, set: &BTreeSet<String>, deployment: &str) {
        let name = self.name;
        let unknown: Vec<_> = set
            .difference(&self.read)
            .filter(|var| !var.starts_with("OTEL_"))
            .collect();
        assert!(
            unknown.is_empty(),
            "{deployment}: {name} sets {unknown:?}, which its Config does not read"
        );
        let missing: Vec<_> = self.required.difference(set).collect();
        assert!(
            missing.is_empty(),
            "{deployment}: {name} lacks required {missing:?}"
        );
    }
}
