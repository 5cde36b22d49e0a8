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
//! - (d) the resident memory of each service after (a);
//! - (e) what a saga costs in (a), per process: Postgres statements (round trips) and CPU time;
//!   and each process's CPU use on the idle system, before (a);
//! - (f) (a) again with every service exporting its traces over OTLP to a receiver in this
//!   process (`OTEL_EXPORTER_OTLP_ENDPOINT`): what tracing costs, against (a) in the same run;
//! - (g) (b) again with two replicas of every participant (`REPLICAS=2`), starting from (b)'s
//!   rate, and what a saga costs per process in its first trial: where the CPU goes.
//!
//! Prints tables and writes `target/bench/saga.json` (SPEC section 8).

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use loadtest::Client;
use loadtest::load::{self, LoadConfig};
use serde_json::{Value, json};

mod commits;
mod cost;
mod native;

use commits::{Sampler, commit_ceiling, quiesce};
use cost::{Counters, PerSaga};
use native::NativeStack;

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
    cost::enable_statements(admin).await?;
    quiesce(admin).await?;
    println!("==> (e) the idle system for 20 s");
    let idle = cost::idle_cpu(admin, stack, Duration::from_secs(20)).await?;
    let idle_total: f64 = idle.values().sum();

    println!("==> (a) 50 orders/s for {seconds} s");
    let sampler = Sampler::start(admin.clone());
    let before = Counters::read(admin, stack).await?;
    let at_50 = trial(client, &load(50.0)).await?;
    quiesce(admin).await?;
    let per_saga = PerSaga::between(&before, &Counters::read(admin, stack).await?, at_50.sagas);
    let concurrency = sampler.stop();
    let commits_per_saga = per_saga.commits();
    let rss = stack.rss_mb();

    println!("==> (f) 50 orders/s for {seconds} s, every service exporting its traces");
    let receiver = testkit::OtlpReceiver::start().await?;
    let traced = stack
        .fresh_with(&[("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint())])
        .await?;
    let (at_50_traced, per_saga_traced) = costed_trial(stack, &traced, &load(50.0)).await?;
    let traced_cpu_ms = per_saga_traced.cpu_ms_total();
    let spans = receiver.spans().len();
    drop(receiver);

    // `BENCH_SEARCH=0`: (a), (d), (e) and (f) only, for a quick comparison of two builds.
    let search = std::env::var("BENCH_SEARCH").map_or(true, |value| value != "0");
    let mut trials = vec![Tried::from(&at_50)];
    if search {
        println!("==> (b) the highest rate that holds for {seconds} s");
        while let Some(rate) = next_rate(&trials) {
            let trial = trial(&stack.fresh().await?.client, &load(rate)).await?;
            trials.push(Tried::from(&trial));
        }
    }
    // Without the search there is no highest rate to report, only (a)'s.
    let highest = highest_held(&trials).filter(|_| search);

    let ceiling = if search {
        println!(
            "==> (c) commit ceiling: pgbench, one insert per transaction, {concurrency} clients"
        );
        Some(commit_ceiling(&first.admin_url, concurrency).await?)
    } else {
        None
    };

    let mut replicated = Vec::new();
    let mut replicated_cost = None;
    if let Some(highest) = highest {
        println!(
            "==> (g) the highest rate that holds for {seconds} s, 2 replicas of each participant"
        );
        let two = [("REPLICAS", "2")];
        let system = stack.fresh_with(&two).await?;
        let (first, cost) = costed_trial(stack, &system, &load(highest.rate)).await?;
        replicated_cost = Some(cost);
        replicated.push(Tried::from(&first));
        while let Some(rate) = next_rate(&replicated) {
            let trial = trial(&stack.fresh_with(&two).await?.client, &load(rate)).await?;
            replicated.push(Tried::from(&trial));
        }
    }
    let highest_replicated = highest_held(&replicated);

    let max_sustained = highest.map_or(0.0, |tried| tried.rate);
    let fraction = ceiling.map(|ceiling| max_sustained * commits_per_saga / ceiling);
    println!();
    println!("  {:<44} {:>12}", "SAGA", "RESULT");
    let row = |name: &str, value: String| println!("  {name:<44} {value:>12}");
    // The default is `make up`'s; another (`BENCH_BROKER_STORAGE`) shows here.
    row("broker storage", stack.storage.clone());
    row(
        "p50 saga at 50/s (target < 50 ms)",
        format!("{:.1} ms", at_50.p50_ms),
    );
    row(
        "p99 saga at 50/s (target < 250 ms)",
        format!("{:.1} ms", at_50.p99_ms),
    );
    row(
        "POST /orders p99 at 50/s",
        format!("{:.1} ms", at_50.post_p99_ms),
    );
    row(
        "p50 / p99 saga at 50/s, traces exported",
        format!("{:.1} / {:.1} ms", at_50_traced.p50_ms, at_50_traced.p99_ms),
    );
    row(
        "CPU per saga, untraced / traces exported",
        format!("{:.1} / {traced_cpu_ms:.1} ms", per_saga.cpu_ms_total()),
    );
    row("spans received in (f)", spans.to_string());
    if let Some(highest) = highest {
        row(
            "max sustained (p99 < 1 s, no backlog)",
            format!("{:.0}/s", highest.rate),
        );
        row(
            "POST /orders p99 there (target < 20 ms)",
            format!("{:.1} ms", highest.post_p99_ms),
        );
        row(
            "max sustained, 2 replicas of each",
            highest_replicated.map_or("none held".into(), |tried| format!("{:.0}/s", tried.rate)),
        );
    }
    row("commits per saga", format!("{commits_per_saga:.1}"));
    if let (Some(ceiling), Some(fraction)) = (ceiling, fraction) {
        row(
            &format!("commit ceiling ({concurrency} clients)"),
            format!("{ceiling:.0}/s"),
        );
        row(
            "sustained commits / ceiling",
            format!("{:.0}%", fraction * 100.0),
        );
    } else {
        println!("  (b) and (c) not run: BENCH_SEARCH=0");
    }
    for (service, mb) in &rss {
        row(&format!("RSS {service}"), format!("{mb:.1} MB"));
    }
    row(
        "idle CPU, whole stack (target < 5%)",
        format!("{idle_total:.1}% of a core"),
    );
    let tried: Vec<_> = trials.iter().map(|t| (t.rate, t.held)).collect();
    println!("  trials (orders/s, held): {tried:?}");
    let tried: Vec<_> = replicated.iter().map(|t| (t.rate, t.held)).collect();
    println!("  trials with 2 replicas (orders/s, held): {tried:?}");
    per_saga.print();
    if let Some(cost) = &replicated_cost {
        println!("\n  (g), 2 replicas of each participant, at its first rate:");
        cost.print();
    }
    println!("\n  (f), traces exported:");
    per_saga_traced.print();
    println!();
    println!("  {:<20} {:>14}", "IDLE", "% OF A CORE");
    for (part, percent) in &idle {
        println!("  {part:<20} {percent:>14.2}");
    }

    let report = json!({
        "at_50_per_s": {"p50_ms": at_50.p50_ms, "p99_ms": at_50.p99_ms, "report": at_50.report},
        "at_50_per_s_traced": {
            "p50_ms": at_50_traced.p50_ms,
            "p99_ms": at_50_traced.p99_ms,
            "per_saga": per_saga_traced.json(),
            "spans_received": spans,
            "report": at_50_traced.report,
        },
        "max_sustained_per_s": highest.map(|tried| tried.rate),
        "commit_ceiling_per_s": ceiling,
        "commits_per_saga": commits_per_saga,
        "commit_fraction": fraction,
        "concurrency": concurrency,
        "rss_mb": rss,
        "per_saga": per_saga.json(),
        "idle_cpu_percent": idle,
        "trials": trials,
        "replicas_2": {
            "max_sustained_per_s": highest_replicated.map(|tried| tried.rate),
            "trials": replicated,
            "per_saga": replicated_cost.as_ref().map(PerSaga::json),
        },
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

/// A trial of the search: its rate, whether it held, and its POST /orders p99.
#[derive(Clone, Copy, Debug, serde::Serialize)]
struct Tried {
    rate: f64,
    held: bool,
    post_p99_ms: f64,
}

impl From<&Trial> for Tried {
    fn from(trial: &Trial) -> Self {
        Self {
            rate: trial.rate,
            held: trial.holds(),
            post_p99_ms: trial.post_p99_ms,
        }
    }
}

/// The next rate of the search, or `None` when it is done. Up by half until a rate fails, or down
/// by a third until one holds; then bisect until the highest rate that held is within 10% of the
/// lowest that failed.
fn next_rate(trials: &[Tried]) -> Option<f64> {
    let lowest_failed = trials
        .iter()
        .filter(|tried| !tried.held)
        .map(|tried| tried.rate)
        .reduce(f64::min);
    match (highest_held(trials).map(|tried| tried.rate), lowest_failed) {
        (Some(low), None) => Some(low * 1.5),
        (None, Some(high)) => (high >= 2.0).then(|| (high / 1.5).round()),
        (Some(low), Some(high)) => {
            (high - low > (low * 0.1).max(1.0)).then(|| ((low + high) / 2.0).round())
        }
        (None, None) => None,
    }
}

fn highest_held(trials: &[Tried]) -> Option<Tried> {
    trials
        .iter()
        .filter(|tried| tried.held)
        .max_by(|a, b| a.rate.total_cmp(&b.rate))
        .copied()
}

/// What one run at a fixed rate showed.
struct Trial {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    post_p99_ms: f64,
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

/// A trial on a fresh `system`, and what each of its sagas cost every process (table (e)).
async fn costed_trial(
    stack: &NativeStack,
    system: &native::System,
    config: &LoadConfig,
) -> anyhow::Result<(Trial, PerSaga)> {
    cost::enable_statements(&system.admin).await?;
    quiesce(&system.admin).await?;
    let before = Counters::read(&system.admin, stack).await?;
    let trial = trial(&system.client, config).await?;
    quiesce(&system.admin).await?;
    let after = Counters::read(&system.admin, stack).await?;
    let per_saga = PerSaga::between(&before, &after, trial.sagas);
    Ok((trial, per_saga))
}

async fn trial(client: &Client, config: &LoadConfig) -> anyhow::Result<Trial> {
    println!("--> {} orders/s", config.rate);
    let recorder = load::run(client, config).await?;
    let report = recorder.report();
    let trial = Trial {
        rate: config.rate,
        p50_ms: report["saga_ms"]["p50"].as_f64().unwrap_or(f64::NAN),
        p99_ms: report["saga_ms"]["p99"].as_f64().unwrap_or(f64::NAN),
        post_p99_ms: report["http_ms"]["p99"].as_f64().unwrap_or(f64::NAN),
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
