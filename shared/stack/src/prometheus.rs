//! Prometheus (Debian package `prometheus`, installed by `make tools`): scrapes every service of
//! the native stack and evaluates the alert rules of `shared/prometheus/alerts.yml`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Context;

/// The alert rules, as compose's Prometheus reads them too.
pub const RULES: &str = include_str!("../../prometheus/alerts.yml");

/// Compose's Grafana dashboard (the same metrics, drawn).
pub const DASHBOARD: &str = include_str!("../../grafana/dashboards/sagaworks.json");

/// How often every service is scraped and the rules are evaluated.
const INTERVAL: &str = "10s";

/// The Prometheus binary: `PROMETHEUS_BIN`, else `prometheus` on `PATH`.
pub fn prometheus_bin() -> anyhow::Result<PathBuf> {
    crate::tool_bin("PROMETHEUS_BIN", "prometheus")?
        .context("Prometheus is not installed: run `make tools` (Debian package prometheus)")
}

/// Writes `prometheus.yml` (one job per service: `(name, ports of its replicas)` of `jobs`) and
/// the rules into `dir`; returns the configuration's path.
pub fn write_config(dir: &Path, jobs: &[(&str, Vec<u16>)]) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let jobs: String = jobs
        .iter()
        .map(|(name, ports)| {
            let targets: Vec<String> = ports
                .iter()
                .map(|port| format!("\"127.0.0.1:{port}\""))
                .collect();
            let targets = targets.join(", ");
            format!("  - job_name: {name}\n    static_configs: [{{targets: [{targets}]}}]\n")
        })
        .collect();
    let config = format!(
        "# Written by `stack up`.\nglobal:\n  scrape_interval: {INTERVAL}\n  evaluation_interval: {INTERVAL}\nrule_files: [alerts.yml]\nscrape_configs:\n{jobs}"
    );
    std::fs::write(dir.join("alerts.yml"), RULES)?;
    let path = dir.join("prometheus.yml");
    std::fs::write(&path, config)?;
    Ok(path)
}

/// The command for a Prometheus on `127.0.0.1:<port>` with `config`, keeping its data in `data`.
pub fn command(config: &Path, data: &Path, port: u16) -> anyhow::Result<Command> {
    let mut command = Command::new(prometheus_bin()?);
    command
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--storage.tsdb.retention.time=7d");
    Ok(command)
}

/// Each scrape target's job and health (`up`, `down` or `unknown`), from `/api/v1/targets`.
pub async fn targets(url: &str) -> anyhow::Result<Vec<(String, String)>> {
    let answer: serde_json::Value = reqwest::get(format!("{url}/api/v1/targets"))
        .await?
        .error_for_status()?
        .json()
        .await?;
    let active = answer["data"]["activeTargets"]
        .as_array()
        .context("no activeTargets in Prometheus's answer")?;
    Ok(active
        .iter()
        .map(|target| {
            let text = |value: &serde_json::Value| value.as_str().unwrap_or_default().to_owned();
            (text(&target["labels"]["job"]), text(&target["health"]))
        })
        .collect())
}

/// Waits until Prometheus has scraped every one of its `expected` targets successfully; gives up
/// at once when `alive` says it exited (its port taken, a bad configuration).
pub async fn wait_all_up(
    url: &str,
    expected: usize,
    timeout: Duration,
    alive: impl Fn() -> bool,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        anyhow::ensure!(alive(), "Prometheus exited");
        let targets = targets(url).await.unwrap_or_default();
        let down: Vec<&str> = targets
            .iter()
            .filter(|(_, health)| health != "up")
            .map(|(job, _)| job.as_str())
            .collect();
        if targets.len() == expected && down.is_empty() {
            return Ok(());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "Prometheus has not scraped every service after {timeout:?}: not up: {down:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The metric names the alert rules' expressions (one line each) read.
pub fn metrics_in_rules(rules: &str) -> Vec<String> {
    let exprs = rules
        .lines()
        .filter_map(|line| line.trim().strip_prefix("expr:"));
    metrics_in(exprs)
}

/// The metric names a Grafana dashboard's panels read (every target's `expr`).
pub fn metrics_in_dashboard(dashboard: &str) -> anyhow::Result<Vec<String>> {
    let dashboard: serde_json::Value = serde_json::from_str(dashboard)?;
    let panels = dashboard["panels"].as_array().context("no panels")?;
    let exprs: Vec<&str> = panels
        .iter()
        .flat_map(|panel| panel["targets"].as_array().into_iter().flatten())
        .filter_map(|target| target["expr"].as_str())
        .collect();
    Ok(metrics_in(exprs))
}

/// The metric names PromQL expressions read: identifiers outside label matchers, ranges and
/// `by (...)` clauses that are not PromQL's own words. `up` is Prometheus's, not a service's.
fn metrics_in<'a>(exprs: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    const PROMQL: [&str; 13] = [
        "sum",
        "max",
        "min",
        "avg",
        "by",
        "and",
        "or",
        "unless",
        "deriv",
        "increase",
        "rate",
        "histogram_quantile",
        "up",
    ];
    let mut names = Vec::new();
    for expr in exprs {
        let mut bare = String::new();
        let mut depth = 0;
        for c in expr.chars() {
            match c {
                '{' | '[' => depth += 1,
                '}' | ']' => depth -= 1,
                _ if depth == 0 => bare.push(c),
                _ => {}
            }
        }
        let bare = bare.replace("by (", "by(");
        let mut rest = bare.as_str();
        while let Some(start) = rest.find("by(") {
            names.extend(identifiers(&rest[..start]));
            rest = rest[start..].split_once(')').map_or("", |(_, after)| after);
        }
        names.extend(identifiers(rest));
    }
    names.retain(|name| !PROMQL.contains(&name.as_str()));
    names.sort();
    names.dedup();
    names
}

fn identifiers(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|word| word.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_'))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_rules_read_the_metrics_spec_lists() {
        assert_eq!(
            super::metrics_in_rules(super::RULES),
            [
                "circuit_breaker_state",
                "consumer_lag",
                "dlq_messages_total",
                "outbox_oldest_unpublished_seconds",
                "outbox_unpublished",
                "saga_finished_total",
            ]
        );
    }

    #[test]
    fn the_dashboard_draws_the_sagas_outbox_consumers_breaker_dlq_and_http() {
        assert_eq!(
            super::metrics_in_dashboard(super::DASHBOARD).unwrap(),
            [
                "circuit_breaker_state",
                "consumer_lag",
                "dlq_messages_total",
                "http_request_duration_seconds_bucket",
                "outbox_oldest_unpublished_seconds",
                "outbox_publish_latency_seconds_bucket",
                "outbox_unpublished",
                "saga_duration_seconds_bucket",
                "saga_finished_total",
            ]
        );
    }
}
