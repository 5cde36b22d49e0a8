//! The scenarios (SPEC section 7). Each one resets the proxies, stocks up, starts load, injects its
//! fault through the Toxiproxy API (or a signal) while the load runs, heals it, waits for the
//! sagas to drain and audits every order it placed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use loadtest::Client;
use loadtest::load::{self, LoadConfig};
use messaging::admin::ReplaySelection;
use serde::Serialize;
use serde_json::json;

use crate::audit::{Auditor, Scope, Violation, differences};
use crate::control::Processes;
use crate::target::Target;
use events::Participant;

mod evidence;
mod poison;

use evidence::{Sampler, check_fault_took_effect, no_effect};
use poison::{Poison, check_dead_letters, dead_letters, poison};

/// A failure scenario (SPEC section 7); its name is what `--scenario` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    GatewayLatency,
    GatewayDown,
    BrokerOutage,
    PostgresCut,
    PostgresOutageLong,
    /// SIGKILL a participant under load, restart it.
    Kill(&'static Participant),
    Replay,
    Poison,
    BrokerKill,
    /// The payment service cut off the network (compose only: a container's).
    PartitionPayment,
    /// SIGKILL one replica of each participant in turn, past the group's session timeout, then
    /// restart it (replicas only).
    KillOneReplica,
    /// SIGTERM and restart every replica of every participant, one after the other (replicas
    /// only).
    RollingRestart,
}

impl Scenario {
    /// Every scenario, in the order `make chaos` runs them: the infrastructure's faults, a kill
    /// of each participant, then replay, poison, a broker kill, a network partition and the two
    /// that need replicas.
    pub fn all() -> Vec<Self> {
        use Scenario::*;
        let kills = events::PARTICIPANTS.iter().map(Kill);
        [
            GatewayLatency,
            GatewayDown,
            BrokerOutage,
            PostgresCut,
            PostgresOutageLong,
        ]
        .into_iter()
        .chain(kills)
        .chain([
            Replay,
            Poison,
            BrokerKill,
            PartitionPayment,
            KillOneReplica,
            RollingRestart,
        ])
        .collect()
    }
}

impl std::fmt::Display for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Self::GatewayLatency => "gateway-latency",
            Self::GatewayDown => "gateway-down",
            Self::BrokerOutage => "broker-outage",
            Self::PostgresCut => "postgres-cut",
            Self::PostgresOutageLong => "postgres-outage-long",
            Self::Kill(participant) => return write!(f, "kill-{}", participant.name),
            Self::Replay => "replay",
            Self::Poison => "poison",
            Self::BrokerKill => "broker-kill",
            Self::PartitionPayment => "partition-payment",
            Self::KillOneReplica => "kill-one-replica",
            Self::RollingRestart => "rolling-restart",
        };
        f.write_str(name)
    }
}

impl std::str::FromStr for Scenario {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        let all = Self::all();
        all.iter()
            .find(|scenario| scenario.to_string() == name)
            .copied()
            .ok_or_else(|| {
                let names: Vec<String> = all.iter().map(ToString::to_string).collect();
                format!("no scenario `{name}`; there are: {}", names.join(", "))
            })
    }
}

/// How hard and how long: `Settings::full()` for `make chaos`, smaller ones in tests.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Orders per second of background load.
    pub rate: f64,
    /// Orders per scenario.
    pub orders: u64,
    /// How long the broker (`kafka` proxy) is away.
    pub broker_outage: Duration,
    /// How long the `postgres` proxy is cut.
    pub postgres_cut: Duration,
    /// How long `postgres-outage-long` cuts it: past every consumer's retries (5 tries of a
    /// 3 s connection wait), which must wait for the database instead of dead-lettering.
    pub postgres_outage_long: Duration,
    /// How long calls to the gateway are slow (3 s each, above the 2 s slow-call threshold).
    pub gateway_latency: Duration,
    /// How long the gateway is down: must exceed the payment deadline.
    pub gateway_down: Duration,
    /// How long a killed process stays down before its restart.
    pub kill_down: Duration,
    /// How long `partition-payment` keeps the payment service off the network.
    pub partition: Duration,
    /// How long `kill-one-replica` keeps a replica down: past the consumer group's session
    /// timeout (6 s), so the group gives its partitions to the others.
    pub replica_down: Duration,
    /// How long the sagas may take to drain after the load (saga deadline plus drain time).
    pub patience: Duration,
    /// How long the audit must stay clean to count as drained.
    pub settle: Duration,
}

impl Settings {
    /// SPEC's holds against the stack's deadlines (saga 60 s, payment 45 s).
    pub fn full(rate: f64, orders: u64) -> Self {
        Self {
            rate,
            orders,
            broker_outage: Duration::from_secs(30),
            postgres_cut: Duration::from_secs(10),
            postgres_outage_long: Duration::from_secs(60),
            gateway_latency: Duration::from_secs(20),
            gateway_down: Duration::from_secs(55),
            kill_down: Duration::from_secs(3),
            partition: Duration::from_secs(20),
            replica_down: Duration::from_secs(10),
            patience: Duration::from_secs(60 + 120),
            settle: Duration::from_secs(5),
        }
    }
}

/// One scenario's row of the final table and of `target/chaos/report.json`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Outcome {
    pub scenario: String,
    pub orders: u64,
    pub confirmed: u64,
    /// CANCELLED orders by reason.
    pub cancelled: BTreeMap<String, u64>,
    /// Longest time from placement to a terminal status, of the orders placed.
    pub max_saga_ms: u64,
    /// Requests refused while the fault was on, by kind (`HTTP 503`, `transport`).
    pub rejected: BTreeMap<String, u64>,
    /// Circuit-breaker transitions the payment service reported.
    pub breaker_transitions: u64,
    /// The largest outbox backlog (unpublished events of all services) seen.
    pub max_backlog: i64,
    /// Dead letters the scenario added.
    pub dlq: usize,
    pub violations: Vec<Violation>,
    pub seconds: f64,
    /// Why it did not run, when it did not.
    pub skipped: Option<String>,
}

/// Runs `scenario` against `target`.
pub async fn run<P: Processes>(
    scenario: Scenario,
    target: &Target,
    processes: &mut P,
    settings: &Settings,
) -> anyhow::Result<Outcome> {
    let name = &scenario.to_string();
    let mut outcome = Outcome {
        scenario: name.to_owned(),
        ..Outcome::default()
    };
    if scenario == Scenario::BrokerKill && !processes.durable_broker() {
        outcome.skipped = Some("the broker keeps its data in memory".into());
        println!("==> {name}: skipped: the broker does not keep its data across a kill");
        return Ok(outcome);
    }
    if scenario == Scenario::PartitionPayment && !processes.can_partition() {
        outcome.skipped = Some("needs containers (make chaos on STACK=compose)".into());
        println!("==> {name}: skipped: local processes cannot be cut off the network");
        return Ok(outcome);
    }
    if matches!(
        scenario,
        Scenario::KillOneReplica | Scenario::RollingRestart
    ) && target.replicas < 2
    {
        outcome.skipped = Some("needs replicas (make chaos REPLICAS=3)".into());
        println!("==> {name}: skipped: one replica of each service");
        return Ok(outcome);
    }
    let started = Instant::now();
    let client = Client::new(target.endpoints.clone());
    let toxiproxy = toxiproxy::Client::new(target.toxiproxy.clone());
    let auditor = Auditor::connect(&target.admin_database).await?;

    step(name, "resetting proxies and gateway faults, stocking up");
    toxiproxy.reset().await?;
    client.gateway_faults(None).await?;
    load::stock_up(&client).await?;
    let since = auditor.now().await?;
    let stock = auditor.stock_totals().await?;
    let dead_before = dead_letters(&target.brokers).await?;

    let config = LoadConfig {
        rate: settings.rate,
        duration: Duration::from_secs_f64(settings.orders as f64 / settings.rate),
        warmup: Duration::ZERO,
        mix: [85, 5, 5, 5],
        skus: 7,
        drain: Duration::ZERO,
        brokers: target.brokers.clone(),
    };
    step(
        name,
        &format!("{} orders at {}/s", settings.orders, settings.rate),
    );
    let sampler = Sampler::start(target.payments.clone(), auditor.clone());
    // The fault starts a quarter into the load, so it hits sagas in every step.
    let lead = config.duration / 4;
    let (recorder, injected) = tokio::join!(load::run(&client, &config), async {
        tokio::time::sleep(lead).await;
        inject(scenario, target, &toxiproxy, &client, processes, settings).await
    });
    let recorder = recorder?;
    let injected = injected?;

    step(
        name,
        "load sent; waiting for the sagas to drain, then auditing",
    );
    let scope = Scope {
        since: Some(since),
        accepted: recorder.accepted_orders().to_vec(),
        stock: Some(stock),
    };
    let mut violations = auditor
        .wait_clean(&scope, settings.patience, settings.settle)
        .await?;

    if scenario == Scenario::Replay && violations.is_empty() {
        violations.extend(replay_everything(target, &auditor, &scope, settings).await?);
    }

    let dead_after = dead_letters(&target.brokers).await?;
    let added: BTreeSet<_> = dead_after.difference(&dead_before).cloned().collect();
    outcome.dlq = added.len();
    violations.extend(check_dead_letters(&added, &injected.poison));

    let (transitions, max_backlog) = sampler.stop().await;
    outcome.breaker_transitions = transitions;
    outcome.max_backlog = max_backlog;
    outcome.rejected = recorder.error_kinds().clone();
    let stats = auditor.outcomes(&scope).await?;
    outcome.orders = stats.orders;
    outcome.confirmed = stats.confirmed;
    outcome.cancelled = stats.cancelled;
    outcome.max_saga_ms = stats.max_saga_ms;
    violations.extend(check_fault_took_effect(scenario, &outcome, settings));
    outcome.violations = violations;
    outcome.seconds = started.elapsed().as_secs_f64();
    step(
        name,
        &format!(
            "{} orders, {} confirmed, {} cancelled, {} violation(s), {:.0} s",
            outcome.orders,
            outcome.confirmed,
            outcome.cancelled.values().sum::<u64>(),
            outcome.violations.len(),
            outcome.seconds
        ),
    );
    for violation in outcome.violations.iter().take(20) {
        println!("    {violation}");
    }
    Ok(outcome)
}

fn step(scenario: &str, message: &str) {
    println!("==> {scenario}: {message}");
}

fn act(message: &str) {
    println!("  --> {message}");
}

/// What the fault left behind for the audit.
#[derive(Debug, Default)]
struct Injected {
    /// Messages produced by the `poison` scenario.
    poison: Vec<Poison>,
}

async fn inject<P: Processes>(
    scenario: Scenario,
    target: &Target,
    toxiproxy: &toxiproxy::Client,
    client: &Client,
    processes: &mut P,
    settings: &Settings,
) -> anyhow::Result<Injected> {
    let mut injected = Injected::default();
    match scenario {
        Scenario::GatewayLatency => {
            act(&format!(
                "gateway calls take 3 s for {:?}",
                settings.gateway_latency
            ));
            let toxic = json!({"name": "slow_gateway", "type": "latency", "stream": "downstream",
                               "toxicity": 1.0, "attributes": {"latency": 3000, "jitter": 0}});
            toxiproxy.add_toxic("payment_gateway", toxic).await?;
            tokio::time::sleep(settings.gateway_latency).await;
            toxiproxy
                .remove_toxic("payment_gateway", "slow_gateway")
                .await?;
            act("gateway latency healed");
        }
        Scenario::GatewayDown => {
            let half = settings.gateway_down / 2;
            act(&format!("gateway answers 503 for {half:?}"));
            client.gateway_faults(Some(json!({"down": true}))).await?;
            tokio::time::sleep(half).await;
            act(&format!("gateway refuses connections for {half:?}"));
            toxiproxy.set_enabled("payment_gateway", false).await?;
            tokio::time::sleep(half).await;
            toxiproxy.set_enabled("payment_gateway", true).await?;
            client.gateway_faults(None).await?;
            act("gateway back");
        }
        Scenario::BrokerOutage => {
            // Every way to the broker: compose has a second proxy for the host's clients.
            let mut proxies = vec!["kafka"];
            if toxiproxy.proxy("kafka_host").await.is_ok() {
                proxies.push("kafka_host");
            }
            cut(toxiproxy, &proxies, settings.broker_outage).await?;
        }
        Scenario::PostgresCut => {
            cut(toxiproxy, &["postgres"], settings.postgres_cut).await?;
        }
        Scenario::PostgresOutageLong => {
            // At 10/s a saga takes about 0.1 s, so hardly one would be in flight when Postgres
            // goes. Payments slowed to 1 s (below the breaker's slow-call threshold) hold ten.
            act("gateway calls take 1 s, so sagas are in flight when Postgres goes");
            let toxic = json!({"name": "slow_gateway", "type": "latency", "stream": "downstream",
                               "toxicity": 1.0, "attributes": {"latency": 1000, "jitter": 0}});
            toxiproxy.add_toxic("payment_gateway", toxic).await?;
            tokio::time::sleep(Duration::from_secs(2)).await;
            cut(toxiproxy, &["postgres"], settings.postgres_outage_long).await?;
            toxiproxy
                .remove_toxic("payment_gateway", "slow_gateway")
                .await?;
        }
        Scenario::Replay => {
            // The replay itself runs once the load has drained, so its effect can be measured.
        }
        Scenario::Poison => {
            injected.poison = poison(&target.brokers).await?;
            act(&format!(
                "produced {} messages (undecodable, a version no consumer reads, a type added \
                 later: to each topic), {} dead letters due",
                injected.poison.len(),
                injected
                    .poison
                    .iter()
                    .map(|p| p.groups.len())
                    .sum::<usize>()
            ));
        }
        Scenario::BrokerKill => {
            act("SIGKILL broker");
            processes.kill("broker").await?;
            tokio::time::sleep(settings.kill_down).await;
            processes.restart("broker").await?;
            act("broker restarted on its durable storage");
        }
        Scenario::PartitionPayment => {
            act(&format!(
                "payment cut off the network for {:?}",
                settings.partition
            ));
            processes.partition("payment", settings.partition).await?;
            act("payment connected again");
        }
        Scenario::KillOneReplica => {
            // A different replica of each participant: the first of one, the second of the next…
            for (turn, participant) in events::PARTICIPANTS.iter().enumerate() {
                let index = turn % target.replicas + 1;
                let replica = stack::Replica { participant, index }.name();
                act(&format!(
                    "SIGKILL {replica}, down for {:?}",
                    settings.replica_down
                ));
                processes.kill(&replica).await?;
                tokio::time::sleep(settings.replica_down).await;
                processes.restart(&replica).await?;
                act(&format!("{replica} restarted and ready"));
            }
        }
        Scenario::RollingRestart => {
            for replica in stack::Replica::all(target.replicas) {
                let replica = replica.name();
                processes.terminate(&replica).await?;
                processes.restart(&replica).await?;
                act(&format!(
                    "{replica} stopped by SIGTERM, restarted and ready"
                ));
            }
        }
        Scenario::Kill(participant) => {
            let service = participant.name;
            act(&format!("SIGKILL {service}"));
            processes.kill(service).await?;
            tokio::time::sleep(settings.kill_down).await;
            processes.restart(service).await?;
            act(&format!("{service} restarted and ready"));
        }
    }
    Ok(injected)
}

async fn cut(
    toxiproxy: &toxiproxy::Client,
    proxies: &[&str],
    hold: Duration,
) -> anyhow::Result<()> {
    let names = proxies.join(" and ");
    act(&format!("proxy {names} disabled for {hold:?}"));
    for proxy in proxies {
        toxiproxy.set_enabled(proxy, false).await?;
    }
    tokio::time::sleep(hold).await;
    for proxy in proxies {
        toxiproxy.set_enabled(proxy, true).await?;
    }
    act(&format!("proxy {names} enabled again"));
    Ok(())
}

/// Replays every outbox event of every service at once, waits for the consumers, and compares
/// the whole system's state before and after: any difference is a duplicate effect.
async fn replay_everything(
    target: &Target,
    auditor: &Auditor,
    scope: &Scope,
    settings: &Settings,
) -> anyhow::Result<Vec<Violation>> {
    let before = auditor.fingerprint().await?;
    let mut replayed = 0;
    for (service, url) in &target.databases {
        let pool = sqlx::PgPool::connect(url).await?;
        let count = messaging::admin::replay(&pool, &ReplaySelection::default()).await?;
        pool.close().await;
        act(&format!(
            "{service}: {count} events marked for re-publication"
        ));
        replayed += count;
    }
    // Every event published again (the audit checks outboxes), then time for consumers to read.
    let mut violations = auditor
        .wait_clean(scope, settings.patience, settings.settle * 2)
        .await?;
    let after = auditor.fingerprint().await?;
    if before != after {
        violations.push(Violation {
            invariant: 6,
            subject: format!("replay of {replayed} events"),
            facts: format!("state changed: {}", differences(&before, &after)),
        });
    }
    if replayed == 0 {
        violations.push(no_effect("replay", "nothing was replayed"));
    }
    Ok(violations)
}
