//! Commits: how many a saga costs, how many open at once, and what the cluster can do alone.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

/// The cluster's transaction id counter. Only writing transactions are assigned one (and this
/// query itself, once).
pub async fn current_xid(admin: &PgPool) -> sqlx::Result<i64> {
    sqlx::query_scalar("select pg_current_xact_id()::text::bigint")
        .fetch_one(admin)
        .await
}

/// Waits until nothing writes any more (the last relays and consumers of the run finished).
pub async fn quiesce(admin: &PgPool) -> anyhow::Result<()> {
    let mut last = current_xid(admin).await?;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = current_xid(admin).await?;
        if now == last + 1 {
            return Ok(());
        }
        last = now;
    }
    anyhow::bail!("the system kept writing for 60 s after the load ended")
}

/// Samples how many transactions the services have open at once, every 20 ms.
pub struct Sampler {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Sampler {
    pub fn start(admin: PgPool) -> Self {
        let (peak, stop) = (
            Arc::new(AtomicU64::new(1)),
            Arc::new(AtomicBool::new(false)),
        );
        let (max, stopped) = (peak.clone(), stop.clone());
        tokio::spawn(async move {
            while !stopped.load(Ordering::Relaxed) {
                let open: sqlx::Result<i64> = sqlx::query_scalar(
                    "select count(*) from pg_stat_activity
                     where backend_type = 'client backend' and pid <> pg_backend_pid()
                       and xact_start is not null and usename <> 'postgres'",
                )
                .fetch_one(&admin)
                .await;
                if let Ok(open) = open {
                    max.fetch_max(open as u64, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        Self { peak, stop }
    }

    /// The peak, at least 1.
    pub fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.peak.load(Ordering::Relaxed)
    }
}

/// Commits per second of a one-insert transaction from `clients` pgbench clients for 10 s.
pub async fn commit_ceiling(url: &str, clients: u64) -> anyhow::Result<f64> {
    let admin = &PgPoolOptions::new().max_connections(1).connect(url).await?;
    sqlx::raw_sql(
        "drop table if exists public.bench_commits;
         create table public.bench_commits (id bigserial primary key, at timestamptz not null default now(), note text)",
    )
    .execute(admin)
    .await?;
    let script = std::env::temp_dir().join(format!("sagaworks-commit-{}.sql", std::process::id()));
    std::fs::write(
        &script,
        "insert into public.bench_commits (note) values ('saga step');\n",
    )?;
    let pgbench = stack::postgres::find_bin_dir()?.join("pgbench");
    let output = Command::new(&pgbench)
        .args(["--no-vacuum", "--time", "10"])
        .args(["--client", &clients.to_string()])
        .args(["--jobs", &clients.min(2).to_string()])
        .arg("--file")
        .arg(&script)
        .arg(url)
        .output()
        .with_context(|| format!("cannot run {}", pgbench.display()))?;
    let _ = std::fs::remove_file(&script);
    sqlx::raw_sql("drop table public.bench_commits")
        .execute(admin)
        .await?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(
        output.status.success(),
        "pgbench failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // "tps = 1234.567890 (without initial connection time)"
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|tps| tps.parse().ok())
        .with_context(|| format!("no tps in pgbench's output: {stdout}"))
}
