//! What a saga costs and what the idle system burns, from counters read before and after: commits
//! (transaction ids), Postgres statements by role (`pg_stat_statements`: each is a round trip
//! through the `postgres` proxy), and CPU time by process (`/proc`, a process with its children,
//! so Postgres's backends count as Postgres).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::commits::current_xid;
use crate::native::NativeStack;

/// Linux reports CPU time in ticks of 1/100 s (`USER_HZ`, fixed by its ABI).
const TICK_MS: f64 = 10.0;

/// The counters at one moment.
pub struct Counters {
    at: Instant,
    xid: i64,
    /// Statements executed by each part's role (not the superuser's, which the bench uses).
    statements: BTreeMap<String, i64>,
    cpu_ticks: BTreeMap<String, u64>,
}

impl Counters {
    pub async fn read(admin: &PgPool, stack: &NativeStack) -> anyhow::Result<Self> {
        let statements: Vec<(String, i64)> = sqlx::query_as(
            "select r.rolname::text, sum(s.calls)::bigint
             from pg_stat_statements s join pg_roles r on r.oid = s.userid
             where r.rolname <> 'postgres' group by 1",
        )
        .fetch_all(admin)
        .await?;
        Ok(Self {
            at: Instant::now(),
            xid: current_xid(admin).await?,
            // Every role is named after its part, but for the gateway simulator's.
            statements: statements
                .into_iter()
                .map(|(role, calls)| match role.as_str() {
                    "gateway" => ("payment-gateway".to_owned(), calls),
                    _ => (role, calls),
                })
                .collect(),
            cpu_ticks: stack
                .pids()
                .into_iter()
                .map(|(part, pid)| (part, stack::process::cpu_ticks(pid)))
                .collect(),
        })
    }

    /// CPU time each part used since `before`, in ms.
    fn cpu_ms_since(&self, before: &Self) -> BTreeMap<String, f64> {
        self.cpu_ticks
            .iter()
            .map(|(part, ticks)| {
                let spent = ticks.saturating_sub(before.cpu_ticks.get(part).copied().unwrap_or(0));
                (part.clone(), spent as f64 * TICK_MS)
            })
            .collect()
    }
}

/// Makes `pg_stat_statements` readable in the admin's database (the stack's Postgres preloads it).
pub async fn enable_statements(admin: &PgPool) -> sqlx::Result<()> {
    sqlx::query("create extension if not exists pg_stat_statements")
        .execute(admin)
        .await
        .map(drop)
}

/// What one saga cost, on average over a run.
pub struct PerSaga {
    commits: f64,
    statements: BTreeMap<String, f64>,
    cpu_ms: BTreeMap<String, f64>,
}

impl PerSaga {
    pub fn between(before: &Counters, after: &Counters, sagas: u64) -> Self {
        let sagas = sagas.max(1) as f64;
        let statements = after
            .statements
            .iter()
            .map(|(role, calls)| {
                let spent = calls - before.statements.get(role).copied().unwrap_or(0);
                (role.clone(), spent as f64 / sagas)
            })
            .collect();
        let cpu_ms = after
            .cpu_ms_since(before)
            .into_iter()
            .map(|(part, ms)| (part, ms / sagas))
            .collect();
        Self {
            commits: (after.xid - before.xid) as f64 / sagas,
            statements,
            cpu_ms,
        }
    }

    pub fn commits(&self) -> f64 {
        self.commits
    }

    /// CPU time of every process of the system, per saga.
    pub fn cpu_ms_total(&self) -> f64 {
        self.cpu_ms.values().sum()
    }

    pub fn print(&self) {
        println!();
        println!(
            "  {:<20} {:>22} {:>14}",
            "PER SAGA", "POSTGRES STATEMENTS", "CPU MS"
        );
        let parts: std::collections::BTreeSet<&String> =
            self.statements.keys().chain(self.cpu_ms.keys()).collect();
        for part in parts {
            let cell = |value: Option<&f64>| value.map_or("".into(), |v| format!("{v:.1}"));
            println!(
                "  {part:<20} {:>22} {:>14}",
                cell(self.statements.get(part)),
                cell(self.cpu_ms.get(part))
            );
        }
        println!(
            "  {:<20} {:>22.1} {:>14.1}",
            "total",
            self.statements.values().sum::<f64>(),
            self.cpu_ms.values().sum::<f64>()
        );
        println!("  commits per saga: {:.1}", self.commits);
    }

    pub fn json(&self) -> Value {
        json!({
            "commits": self.commits,
            "postgres_statements_by_part": self.statements,
            "cpu_ms_by_process": self.cpu_ms,
        })
    }
}

/// Each part's CPU use over `window` with no load, in % of one core.
pub async fn idle_cpu(
    admin: &PgPool,
    stack: &NativeStack,
    window: Duration,
) -> anyhow::Result<BTreeMap<String, f64>> {
    let before = Counters::read(admin, stack).await?;
    tokio::time::sleep(window).await;
    let after = Counters::read(admin, stack).await?;
    let elapsed_ms = after.at.duration_since(before.at).as_secs_f64() * 1000.0;
    Ok(after
        .cpu_ms_since(&before)
        .into_iter()
        .map(|(part, ms)| (part, 100.0 * ms / elapsed_ms))
        .collect())
}
