//! Whether a scenario's fault showed (invariant "0" when it did not), and the sampler that
//! watches the breaker and the outbox backlog while it runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::audit::{Auditor, Violation};

use super::{Outcome, Scenario, Settings};

pub(super) fn no_effect(scenario: &str, facts: &str) -> Violation {
    Violation {
        invariant: 0,
        subject: format!("scenario {scenario}"),
        facts: format!("the fault had no visible effect, so it proved nothing: {facts}"),
    }
}

/// A scenario proves something only if its fault showed: invariant "0" says it did not.
pub(super) fn check_fault_took_effect(
    scenario: Scenario,
    outcome: &Outcome,
    settings: &Settings,
) -> Vec<Violation> {
    let mut violations = Vec::new();
    let name = &scenario.to_string();
    match scenario {
        Scenario::GatewayLatency if outcome.breaker_transitions == 0 => {
            violations.push(no_effect(name, "the breaker never opened"));
        }
        Scenario::GatewayDown if !outcome.cancelled.contains_key("payment_unavailable") => {
            violations.push(no_effect(
                name,
                "no order was cancelled payment_unavailable",
            ));
        }
        Scenario::BrokerOutage if outcome.max_backlog == 0 => {
            violations.push(no_effect(name, "the outboxes never grew"));
        }
        Scenario::PartitionPayment
            if outcome.max_saga_ms < settings.partition.as_millis() as u64 / 2 =>
        {
            violations.push(no_effect(name, "no saga waited for the payment service"));
        }
        Scenario::PostgresCut | Scenario::PostgresOutageLong => {
            if scenario == Scenario::PostgresOutageLong
                && outcome.max_saga_ms < settings.postgres_outage_long.as_millis() as u64
            {
                violations.push(no_effect(name, "no saga was in flight across the outage"));
            }
            let refused: u64 = outcome.rejected.values().sum();
            if refused == 0 {
                violations.push(no_effect(name, "no request was refused"));
            }
            if let Some((kind, count)) = outcome
                .rejected
                .iter()
                .find(|(kind, _)| *kind != "HTTP 503")
            {
                violations.push(Violation {
                    invariant: 0,
                    subject: format!("scenario {name}"),
                    facts: format!("{count} request(s) failed with {kind}, not a clean 503"),
                });
            }
        }
        _ => {}
    }
    violations
}

/// Samples, once a second while a scenario runs, the breakers' transitions of every payment
/// replica (summing increases, so a restarted replica's reset counter loses nothing) and the
/// outbox backlog.
pub(super) struct Sampler {
    transitions: Arc<AtomicU64>,
    backlog: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    pub(super) fn start(payments: Vec<String>, auditor: Auditor) -> Self {
        let transitions = Arc::new(AtomicU64::new(0));
        let backlog = Arc::new(AtomicU64::new(0));
        let (seen, biggest) = (transitions.clone(), backlog.clone());
        let task = tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut last: Vec<Option<u64>> = vec![None; payments.len()];
            loop {
                for (payment, last) in payments.iter().zip(&mut last) {
                    if let Ok(now) = breaker_transitions(&http, payment).await {
                        let increase = match *last {
                            Some(before) if now >= before => now - before,
                            // A restart reset the counter.
                            Some(_) => now,
                            None => 0,
                        };
                        seen.fetch_add(increase, Ordering::Relaxed);
                        *last = Some(now);
                    }
                }
                if let Ok(unpublished) = auditor.backlog().await {
                    biggest.fetch_max(unpublished, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        Self {
            transitions,
            backlog,
            task,
        }
    }

    pub(super) async fn stop(self) -> (u64, i64) {
        self.task.abort();
        let _ = self.task.await;
        (
            self.transitions.load(Ordering::Relaxed),
            self.backlog.load(Ordering::Relaxed) as i64,
        )
    }
}

/// The sum of `circuit_breaker_transitions_total` in the payment service's metrics.
async fn breaker_transitions(http: &reqwest::Client, payment: &str) -> anyhow::Result<u64> {
    let text = http
        .get(format!("{payment}/metrics"))
        .timeout(Duration::from_secs(2))
        .send()
        .await?
        .text()
        .await?;
    Ok(text
        .lines()
        .filter(|line| line.starts_with("circuit_breaker_transitions_total"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64)
}
