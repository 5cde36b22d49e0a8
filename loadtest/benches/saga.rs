//! `make bench`, saga entries: the whole system under open-model load, in one run. Every trial
//! gets a native stack of its own, started afresh and warmed up (`stack up` in
//! `target/bench/stack`, release binaries, the broker in memory unless `BENCH_BROKER_STORAGE`
//! says otherwise), stopped and deleted at the end:
//!
//! - (a) saga latency at 50 orders/s for `BENCH_SECS` (60) seconds;
//! - (b) the highest rate that holds for as long: p99 saga latency under 1 s, the generator kept
//!   its schedule, and no growing backlog (when the last order was answered, fewer sagas were
//!   running than one second of arrivals); from 50/s rates rise by half until one fails (or fall
//!   by a third until one holds), then bisect to within 10%;
//! - (c) the cluster's commit ceiling, measured right after: pgbench running a one-insert
//!   transaction at the peak number of concurrent transactions the system had in (a), against
//!   the commits a saga costs, counted in (a) as transaction ids assigned per saga;
//! - (d) the resident memory of each service at the end.
//!
//! Prints a table and writes `target/bench/saga.json` (SPEC section 8).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use loadtest::load::{self, LoadConfig};
use loadtest::{Client, Endpoints};
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

/// The native stack's fixed ports besides the participants' (SPEC section 2): the bench needs
/// them free.
const PORTS: [u16; 7] = [55432, 55433, 9092, 19092, 8474, 8090, 18090];
const P99_LIMIT_MS: f64 = 1000.0;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds: u64 = std::env::var("BENCH_SECS").map_or(Ok(60), |s| s.parse())?;
    // The broker's storage of `make up` unless told otherwise: the figures are the default's.
    let storage = std::env::var("BENCH_BROKER_STORAGE")
        .unwrap_or_else(|_| stack::broker::DURABLE_STORAGE.to_owned());
    let participants = events::PARTICIPANTS.iter().map(|p| p.port);
    for port in PORTS.into_iter().chain(participants) {
        std::net::TcpListener::bind(("127.0.0.1", port)).with_context(|| {
            format!(
                "port {port} is in use: stop the running system (`make down`) before `make bench`"
            )
        })?;
    }
    // `cargo bench` runs in the package's directory: write under the workspace's target/.
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    let stack = NativeStack::new(&out.join("stack"), &storage)?;
    // Ctrl-C ends the bench through `Drop`, which stops the stack.
    tokio::select! {
        result = bench(&stack, seconds, &out) => result,
        _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted"),
    }
}

async fn bench(stack: &NativeStack, seconds: u64, out: &Path) -> anyhow::Result<()> {
    let first = stack.fresh().await?;
    // The stack's ports are fixed: every fresh system answers at the same addresses.
    let load = |rate: f64| LoadConfig {
        rate,
        duration: Duration::from_secs(seconds),
        warmup: Duration::from_secs(5),
        mix: [85, 5, 5, 5],
        skus: 7,
        drain: Duration::from_secs(30),
        brokers: first.brokers.clone(),
    };
    let (client, admin) = (&first.client, &first.admin);
    println!("==> (a) 50 orders/s for {seconds} s");
    let sampler = Sampler::start(admin.clone());
    let xid_before = current_xid(admin).await?;
    let at_50 = trial(client, &load(50.0)).await?;
    quiesce(admin).await?;
    let commits = current_xid(admin).await? - xid_before;
    let concurrency = sampler.stop();
    let commits_per_saga = commits as f64 / at_50.sagas as f64;

    println!("==> (b) the highest rate that holds for {seconds} s");
    let mut trials = vec![(50.0, at_50.holds())];
    while let Some(rate) = next_rate(&trials) {
        let holds = trial(&stack.fresh().await?.client, &load(rate))
            .await?
            .holds();
        trials.push((rate, holds));
    }
    let max_sustained = highest_held(&trials).unwrap_or(0.0);

    println!("==> (c) commit ceiling: pgbench, one insert per transaction, {concurrency} clients");
    let ceiling = commit_ceiling(&first.admin_url, concurrency).await?;

    let rss = stack.rss_mb();
    let fraction = max_sustained * commits_per_saga / ceiling;
    println!();
    println!("  {:<44} {:>12}", "SAGA", "RESULT");
    let row = |name: &str, value: String| println!("  {name:<44} {value:>12}");
    row(
        "p50 saga at 50/s (target < 50 ms)",
        format!("{:.1} ms", at_50.p50_ms),
    );
    row(
        "p99 saga at 50/s (target < 250 ms)",
        format!("{:.1} ms", at_50.p99_ms),
    );
    row(
        "max sustained (p99 < 1 s, no backlog)",
        format!("{max_sustained:.0}/s"),
    );
    row("commits per saga", format!("{commits_per_saga:.1}"));
    row(
        &format!("commit ceiling ({concurrency} clients)"),
        format!("{ceiling:.0}/s"),
    );
    row(
        "sustained commits / ceiling (target >= 50%)",
        format!("{:.0}%", fraction * 100.0),
    );
    for (service, mb) in &rss {
        row(&format!("RSS {service}"), format!("{mb:.1} MB"));
    }
    println!("  trials (orders/s, held): {trials:?}");

    let report = json!({
        "at_50_per_s": {"p50_ms": at_50.p50_ms, "p99_ms": at_50.p99_ms, "report": at_50.report},
        "max_sustained_per_s": max_sustained,
        "commit_ceiling_per_s": ceiling,
        "commits_per_saga": commits_per_saga,
        "commit_fraction": fraction,
        "concurrency": concurrency,
        "rss_mb": rss,
        "trials": trials.iter().map(|(rate, holds)| json!({"rate": rate, "held": holds})).collect::<Vec<_>>(),
        "seconds": seconds,
        "broker_storage": stack.storage,
    });
    std::fs::write(
        out.join("saga.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    println!("  written to target/bench/saga.json");
    Ok(())
}

/// The next rate of the search, or `None` when it is done. Up by half until a rate fails, or down
/// by a third until one holds; then bisect until the highest rate that held is within 10% of the
/// lowest that failed.
fn next_rate(trials: &[(f64, bool)]) -> Option<f64> {
    let lowest_failed = trials
        .iter()
        .filter(|(_, held)| !held)
        .map(|(rate, _)| *rate)
        .reduce(f64::min);
    match (highest_held(trials), lowest_failed) {
        (Some(low), None) => Some(low * 1.5),
        (None, Some(high)) => (high >= 2.0).then(|| (high / 1.5).round()),
        (Some(low), Some(high)) => {
            (high - low > (low * 0.1).max(1.0)).then(|| ((low + high) / 2.0).round())
        }
        (None, None) => None,
    }
}

fn highest_held(trials: &[(f64, bool)]) -> Option<f64> {
    trials
        .iter()
        .filter(|(_, held)| *held)
        .map(|(rate, _)| *rate)
        .reduce(f64::max)
}

/// What one run at a fixed rate showed.
struct Trial {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    achieved: f64,
    in_flight_at_end: u64,
    /// Sagas that ended, recorded or not.
    sagas: u64,
    report: Value,
}

impl Trial {
    fn holds(&self) -> bool {
        let unfinished = self.report["unfinished"].as_u64().unwrap_or(u64::MAX);
        let errors = self.report["errors"].as_u64().unwrap_or(u64::MAX);
        self.p99_ms < P99_LIMIT_MS
            && self.achieved >= 0.95 * self.rate
            && (self.in_flight_at_end as f64) < self.rate
            && unfinished == 0
            && errors == 0
    }
}

async fn trial(client: &Client, config: &LoadConfig) -> anyhow::Result<Trial> {
    println!("--> {} orders/s", config.rate);
    let recorder = load::run(client, config).await?;
    let report = recorder.report();
    let trial = Trial {
        rate: config.rate,
        p50_ms: report["saga_ms"]["p50"].as_f64().unwrap_or(f64::NAN),
        p99_ms: report["saga_ms"]["p99"].as_f64().unwrap_or(f64::NAN),
        achieved: report["achieved_per_s"].as_f64().unwrap_or(0.0),
        in_flight_at_end: report["in_flight_at_end"].as_u64().unwrap_or(u64::MAX),
        sagas: recorder.finished(),
        report,
    };
    println!(
        "    saga p50 {:.1} ms, p99 {:.1} ms, achieved {:.1}/s, in flight at the end {}: {}",
        trial.p50_ms,
        trial.p99_ms,
        trial.achieved,
        trial.in_flight_at_end,
        if trial.holds() {
            "holds"
        } else {
            "does not hold"
        }
    );
    Ok(trial)
}

/// The cluster's transaction id counter. Only writing transactions are assigned one (and this
/// query itself, once).
async fn current_xid(admin: &PgPool) -> sqlx::Result<i64> {
    sqlx::query_scalar("select pg_current_xact_id()::text::bigint")
        .fetch_one(admin)
        .await
}

/// Waits until nothing writes any more (the last relays and consumers of the run finished).
async fn quiesce(admin: &PgPool) -> anyhow::Result<()> {
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
struct Sampler {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Sampler {
    fn start(admin: PgPool) -> Self {
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
    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.peak.load(Ordering::Relaxed)
    }
}

/// Commits per second of a one-insert transaction from `clients` pgbench clients for 10 s.
async fn commit_ceiling(url: &str, clients: u64) -> anyhow::Result<f64> {
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

/// A freshly started system: its API and its cluster's superuser.
struct System {
    client: Client,
    admin: PgPool,
    brokers: String,
    admin_url: String,
}

/// The native stack in a directory of its own; `down --clean` when dropped, failed run or not.
struct NativeStack {
    binary: PathBuf,
    dir: PathBuf,
    storage: String,
}

impl NativeStack {
    fn new(dir: &Path, storage: &str) -> anyhow::Result<Self> {
        // This bench runs in target/release/deps; the stack and the services next to it.
        let exe = std::env::current_exe()?;
        let binary = exe
            .parent()
            .and_then(Path::parent)
            .context("no target dir")?
            .join("stack");
        anyhow::ensure!(
            binary.exists(),
            "{} is not built: run `cargo build --release --workspace --bins` (make bench does)",
            binary.display()
        );
        Ok(Self {
            binary,
            dir: dir.to_owned(),
            storage: storage.to_owned(),
        })
    }

    /// Starts the stack from nothing, stocks it and warms it up. Every trial gets one, so each
    /// starts from the same state, whatever the trials before it left in the databases.
    async fn fresh(&self) -> anyhow::Result<System> {
        self.run(&["down", "--clean"])?;
        println!(
            "==> starting a native stack in {} (broker storage {})",
            self.dir.display(),
            self.storage
        );
        self.run(&["up"])?;
        let env = self.env()?;
        let client = Client::new(Endpoints {
            order: env["ORDER_URL"].clone(),
            inventory: env["INVENTORY_URL"].clone(),
            gateway: env["PAYMENT_GATEWAY_URL"].clone(),
            admin_token: env.get("ADMIN_TOKEN").cloned(),
        });
        let admin = PgPoolOptions::new()
            .max_connections(2)
            .connect(&env["PG_ADMIN_URL"])
            .await?;
        load::stock_up(&client).await?;
        // The consumer groups have just formed, and Postgres and the broker are cold.
        println!("==> warming up: 20 orders/s for 10 s, not recorded");
        let warm_up = LoadConfig {
            rate: 20.0,
            duration: Duration::from_secs(10),
            warmup: Duration::ZERO,
            mix: [85, 5, 5, 5],
            skus: 7,
            drain: Duration::from_secs(30),
            brokers: env["KAFKA_BROKERS"].clone(),
        };
        load::run(&client, &warm_up).await?;
        Ok(System {
            client,
            admin,
            brokers: env["KAFKA_BROKERS"].clone(),
            admin_url: env["PG_ADMIN_URL"].clone(),
        })
    }

    fn run(&self, args: &[&str]) -> anyhow::Result<()> {
        let status = Command::new(&self.binary)
            .arg("--dir")
            .arg(&self.dir)
            .args(args)
            .env("STACK_BROKER_STORAGE", &self.storage)
            .status()?;
        anyhow::ensure!(status.success(), "stack {} failed", args.join(" "));
        Ok(())
    }

    fn env(&self) -> anyhow::Result<BTreeMap<String, String>> {
        let text = std::fs::read_to_string(self.dir.join("env"))?;
        Ok(text
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
            .collect())
    }

    /// Each service's resident set size, in MB, from `/proc/<pid>/status`.
    fn rss_mb(&self) -> BTreeMap<&'static str, f64> {
        let participants = events::PARTICIPANTS.iter().map(|p| p.name);
        participants
            .chain(["payment-gateway"])
            .filter_map(|service| {
                let pid_file = self.dir.join("pids").join(format!("{service}.pid"));
                let pid = stack::process::running_pid(&pid_file)?;
                let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
                let kb: f64 = status
                    .lines()
                    .find_map(|line| line.strip_prefix("VmRSS:"))?
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse()
                    .ok()?;
                Some((service, kb / 1024.0))
            })
            .collect()
    }
}

impl Drop for NativeStack {
    fn drop(&mut self) {
        println!("==> stopping the bench's native stack");
        if let Err(error) = self.run(&["down", "--clean"]) {
            eprintln!("  {error:#}");
        }
    }
}
