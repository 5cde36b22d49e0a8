//! The infrastructure under sagaworks, as local processes: a Postgres cluster, a nisshi broker
//! (Kafka protocol) and Toxiproxy proxies in front of both. `make up` runs them detached under
//! `.stack/` (the `stack` binary); the test harness runs them on free ports, tied to the test
//! process so they die with it.

pub mod broker;
pub mod compose;
pub mod postgres;
pub mod process;
pub mod prometheus;

/// The SQL that creates every service's role and schema (`migrations/init.sql`).
pub const INIT_SQL: &str = include_str!("../../../migrations/init.sql");

/// The services that own a schema and a login role of the same name: every participant of
/// the saga (`events::PARTICIPANTS`) and the payment gateway's ledger.
pub fn schemas() -> Vec<&'static str> {
    let participants = events::PARTICIPANTS.iter().map(|p| p.name);
    participants.chain(["gateway"]).collect()
}

/// The most replicas of a participant that all get work: every topic has this many partitions
/// (`messaging::kafka::PARTITIONS`), and a consumer-group member beyond them would own none.
pub const MAX_REPLICAS: usize = 3;

/// One replica of a participant on the native stack (`make up REPLICAS=N`). The first keeps the
/// service's own name (its pid file, log and SPEC port); replica `i` from 2 on is `<service>-<i>`
/// on the SPEC port plus 100·(i−1), so three replicas of order answer on 8081, 8181 and 8281.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Replica {
    pub participant: &'static events::Participant,
    /// From 1.
    pub index: usize,
}

impl Replica {
    /// The first `count` replicas of every participant, participant by participant.
    pub fn all(count: usize) -> impl Iterator<Item = Replica> {
        events::PARTICIPANTS
            .iter()
            .flat_map(move |participant| Self::of(participant, count))
    }

    /// The first `count` replicas of `participant`.
    pub fn of(
        participant: &'static events::Participant,
        count: usize,
    ) -> impl Iterator<Item = Replica> {
        (1..=count).map(move |index| Replica { participant, index })
    }

    /// The part's name: `order`, `order-2`, …
    pub fn name(&self) -> String {
        match self.index {
            1 => self.participant.name.to_owned(),
            index => format!("{}-{index}", self.participant.name),
        }
    }

    pub fn port(&self) -> u16 {
        self.participant.port + 100 * (self.index as u16 - 1)
    }

    /// Its static consumer-group membership: unique among the service's replicas and the same
    /// across restarts, so a restarted replica takes its own partitions back at once.
    pub fn group_instance_id(&self) -> String {
        format!("{}-native", self.name())
    }
}

/// A tool the stack runs: the file `env_var` names if set (it must exist), else `name` on
/// `PATH`; `None` when neither is there.
pub fn tool_bin(env_var: &str, name: &str) -> anyhow::Result<Option<std::path::PathBuf>> {
    if let Some(bin) = std::env::var_os(env_var) {
        let bin = std::path::PathBuf::from(bin);
        anyhow::ensure!(
            bin.exists(),
            "{env_var}={} does not exist: run `make tools`",
            bin.display()
        );
        return Ok(Some(bin));
    }
    Ok(std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.exists())
    }))
}

/// A free TCP port on 127.0.0.1, for a child process that must be told its port up front.
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Waits until something accepts TCP connections on `address`.
pub async fn wait_for_port(address: &str, timeout: std::time::Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if tokio::net::TcpStream::connect(address).await.is_ok() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!("nothing listens on {address} after {timeout:?}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    /// `migrations/init.sql` is plain SQL (docker compose runs it too), so its list of roles
    /// is checked here: a participant missing from it would have no role to log in as.
    #[test]
    fn init_sql_creates_a_role_and_schema_for_every_participant_and_the_gateway() {
        let listed: Vec<&str> = super::INIT_SQL
            .lines()
            .filter_map(|line| line.trim().strip_prefix("'"))
            .filter_map(|line| line.split('\'').next())
            .collect();
        assert_eq!(listed, super::schemas());
    }

    #[test]
    fn replicas_after_the_first_get_a_suffix_and_a_port_of_their_own() {
        let order = &events::PARTICIPANTS[0];
        let replicas: Vec<(String, u16, String)> = super::Replica::of(order, 3)
            .map(|replica| (replica.name(), replica.port(), replica.group_instance_id()))
            .collect();
        assert_eq!(
            replicas,
            [
                ("order".into(), 8081, "order-native".into()),
                ("order-2".into(), 8181, "order-2-native".into()),
                ("order-3".into(), 8281, "order-3-native".into()),
            ]
        );
        let ports: std::collections::BTreeSet<u16> = super::Replica::all(3)
            .map(|replica| replica.port())
            .collect();
        assert_eq!(ports.len(), 3 * events::PARTICIPANTS.len());
    }
}
