//! `stack up | down | status | cpu`: the native stack behind `make up` and `make down`: Postgres, the
//! broker and the Toxiproxy-API server, then the services against them (through the proxies), and
//! Prometheus scraping the services. `stack compose up | down`: the compose system instead
//! (`make up STACK=compose`), with the same `env`.
//!
//! Everything lives under `.stack/` in the working directory: data (`pgdata/`, `nisshi.db`),
//! logs (`logs/`), pid files (`pids/`), the endpoints (`env`) and the operator endpoints' token
//! (`admin-token`, also in `env`). `up` starts only what is not
//! running, so it is idempotent; `down` stops exactly the pids it recorded.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use nix::sys::signal::Signal;
use stack::compose::{self, Compose};
use stack::{Replica, broker, postgres, process, prometheus};

/// Ports of the native stack (SPEC section 2).
const POSTGRES_PORT: u16 = 55432;
const POSTGRES_PROXY_PORT: u16 = 55433;
const KAFKA_PROXY_PORT: u16 = 9092;
const BROKER_PORT: u16 = 19092;
const TOXIPROXY_PORT: u16 = 8474;
const GATEWAY_PORT: u16 = 8090;
const GATEWAY_PROXY_PORT: u16 = 18090;
const PROMETHEUS_PORT: u16 = 9090;
const DATABASE: &str = "sagaworks";

#[derive(Debug, Parser)]
#[command(about = "The sagaworks native stack: Postgres, a Kafka-protocol broker and Toxiproxy")]
struct Args {
    /// Where the stack keeps its data, logs and pid files.
    #[arg(long, env = "STACK_DIR", default_value = ".stack")]
    dir: PathBuf,
    #[command(subcommand)]
    command: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Start whatever is not running, then print the endpoints and write them to `<dir>/env`.
    Up {
        /// Replicas of each participant, at most one per partition (3): the first keeps the
        /// SPEC port, replica i listens 100·(i−1) above it. Without it, as many as the last `up`
        /// ran (recorded in `<dir>/replicas`), or 1.
        #[arg(long, env = "REPLICAS",
              value_parser = clap::value_parser!(u16).range(1..=stack::MAX_REPLICAS as i64))]
        replicas: Option<u16>,
    },
    /// Stop what `up` started; `--clean` also deletes the data.
    Down {
        #[arg(long)]
        clean: bool,
    },
    /// Show what is running.
    Status,
    /// Measure each running part's CPU use (its processes and their children) over a while.
    Cpu {
        /// How long to measure.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
    },
    /// The compose system (`docker-compose.yml` in the working directory) instead.
    Compose {
        #[command(subcommand)]
        action: ComposeAction,
    },
}

#[derive(Debug, Subcommand)]
enum ComposeAction {
    /// `up -d` (building the project's image), wait until every container is ready, then print
    /// the endpoints and write them to `<dir>/env`.
    Up {
        /// With `docker-compose.offline.yml`: the stand-in images of `make compose-images`,
        /// for an engine that cannot pull.
        #[arg(long)]
        offline: bool,
        /// Containers of each participant (`deploy.replicas`), at most one per partition (3).
        #[arg(long, env = "REPLICAS", default_value_t = 1,
              value_parser = clap::value_parser!(u16).range(1..=stack::MAX_REPLICAS as i64))]
        replicas: u16,
    },
    /// `down` the system `up` started; `--clean` also deletes its volumes.
    Down {
        #[arg(long)]
        clean: bool,
    },
}

/// One process of the stack: its name (of its pid file and log), how it asks to stop, and
/// where it answers.
struct Part {
    name: String,
    stop_signal: Signal,
    address: String,
}

/// In the order they start; they stop in reverse: the infrastructure, the gateway, `replicas`
/// of each participant in the order of `events::PARTICIPANTS`, then Prometheus.
fn parts(replicas: usize) -> Vec<Part> {
    let part = |name: &str, stop_signal, address: String| Part {
        name: name.to_owned(),
        stop_signal,
        address,
    };
    let mut parts = vec![
        part(
            "postgres",
            Signal::SIGINT,
            format!("127.0.0.1:{POSTGRES_PORT} (proxy postgres 127.0.0.1:{POSTGRES_PROXY_PORT})"),
        ),
        part(
            "toxiproxy",
            Signal::SIGTERM,
            format!("http://127.0.0.1:{TOXIPROXY_PORT}"),
        ),
        part(
            "broker",
            Signal::SIGTERM,
            format!(
                "127.0.0.1:{BROKER_PORT} (clients use proxy kafka 127.0.0.1:{KAFKA_PROXY_PORT})"
            ),
        ),
        part(
            "payment-gateway",
            Signal::SIGTERM,
            format!(
                "http://127.0.0.1:{GATEWAY_PORT} (payment uses proxy payment_gateway 127.0.0.1:{GATEWAY_PROXY_PORT})"
            ),
        ),
    ];
    parts.extend(Replica::all(replicas).map(|replica| {
        part(
            &replica.name(),
            Signal::SIGTERM,
            format!("http://127.0.0.1:{}", replica.port()),
        )
    }));
    parts.push(part(
        "prometheus",
        Signal::SIGTERM,
        format!("http://127.0.0.1:{PROMETHEUS_PORT}"),
    ));
    parts
}

/// Replicas of each participant: `requested`, else what the last `up` recorded, else 1.
fn replicas(dir: &Path, requested: Option<u16>) -> usize {
    let recorded = || {
        std::fs::read_to_string(dir.join("replicas"))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    requested.map(usize::from).or_else(recorded).unwrap_or(1)
}

/// The highest replica of any participant with a pid file: what `down` must stop even when
/// the record is gone.
fn replicas_running(dir: &Path) -> usize {
    let recorded = |index| {
        let mut replicas = events::PARTICIPANTS.iter();
        replicas.any(|participant| pid_file(dir, &Replica { participant, index }.name()).exists())
    };
    (2..=stack::MAX_REPLICAS)
        .rev()
        .find(|&index| recorded(index))
        .unwrap_or(1)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    match args.command {
        Action::Up { replicas } => up(&args.dir, replicas).await,
        Action::Down { clean } => down(&args.dir, clean),
        Action::Status => {
            print_status(&args.dir);
            Ok(())
        }
        Action::Cpu { seconds } => {
            measure_cpu(&args.dir, Duration::from_secs(seconds)).await;
            Ok(())
        }
        Action::Compose {
            action: ComposeAction::Up { offline, replicas },
        } => compose_up(&args.dir, offline, replicas).await,
        Action::Compose {
            action: ComposeAction::Down { clean },
        } => compose_down(&args.dir, clean).await,
    }
}

fn pid_file(dir: &Path, part: &str) -> PathBuf {
    dir.join("pids").join(format!("{part}.pid"))
}

fn log_file(dir: &Path, part: &str) -> PathBuf {
    dir.join("logs").join(format!("{part}.log"))
}

fn step(message: &str) {
    println!("==> {message}");
}

async fn up(dir: &Path, requested: Option<u16>) -> anyhow::Result<()> {
    for sub in ["pids", "logs"] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    let dir = dir.canonicalize()?;
    let replicas = replicas(&dir, requested);
    std::fs::write(dir.join("replicas"), format!("{replicas}\n"))?;

    let cluster = postgres::Cluster::new(dir.join("pgdata"), POSTGRES_PORT)?;
    if !cluster.is_initialized() {
        step(&format!(
            "initialising a Postgres cluster in {}",
            dir.join("pgdata").display()
        ));
        cluster
            .init()
            .context("the `postgres` user must be able to reach the stack directory")?;
    }
    start("postgres", &dir, || Ok(cluster.server_command(true)))?;
    postgres::wait_ready(&cluster.admin_url("postgres"), Duration::from_secs(30)).await?;
    step(&format!(
        "creating database {DATABASE} with one role and schema per service"
    ));
    postgres::create_database(
        &cluster.admin_url("postgres"),
        DATABASE,
        &cluster.admin_url(DATABASE),
    )
    .await?;

    let proxies = serde_json::json!([
        {"name": "postgres", "listen": format!("127.0.0.1:{POSTGRES_PROXY_PORT}"), "upstream": format!("127.0.0.1:{POSTGRES_PORT}")},
        {"name": "kafka", "listen": format!("127.0.0.1:{KAFKA_PROXY_PORT}"), "upstream": format!("127.0.0.1:{BROKER_PORT}")},
        {"name": "payment_gateway", "listen": format!("127.0.0.1:{GATEWAY_PROXY_PORT}"), "upstream": format!("127.0.0.1:{GATEWAY_PORT}")},
    ]);
    let config = dir.join("toxiproxy.json");
    std::fs::write(&config, serde_json::to_string_pretty(&proxies)?)?;
    start("toxiproxy", &dir, || {
        let mut command = Command::new(sibling_binary("toxiproxy-server")?);
        command
            .args(["--port", &TOXIPROXY_PORT.to_string(), "--config"])
            .arg(&config);
        Ok(command)
    })?;
    stack::wait_for_port(
        &format!("127.0.0.1:{TOXIPROXY_PORT}"),
        Duration::from_secs(10),
    )
    .await?;
    // Already running from an earlier `up`: make sure every proxy exists and is enabled.
    reqwest::Client::new()
        .post(format!("http://127.0.0.1:{TOXIPROXY_PORT}/populate"))
        .json(&proxies)
        .send()
        .await?
        .error_for_status()
        .context("the Toxiproxy API refused the proxies")?;

    start("broker", &dir, || {
        let advertised = format!("127.0.0.1:{KAFKA_PROXY_PORT}");
        // Durable by default; `STACK_BROKER_STORAGE=memory://nisshi/` trades durability for speed.
        let storage = std::env::var("STACK_BROKER_STORAGE")
            .unwrap_or_else(|_| broker::DURABLE_STORAGE.to_owned());
        let mut command = broker::command(BROKER_PORT, &advertised, &storage)?;
        command.current_dir(&dir);
        Ok(command)
    })?;
    stack::wait_for_port(&format!("127.0.0.1:{BROKER_PORT}"), Duration::from_secs(30)).await?;

    let mut env = vec![
        ("STACK".to_owned(), "native".to_owned()),
        ("REPLICAS".to_owned(), replicas.to_string()),
    ];
    // The gateway is the "external" PSP: it is not behind the chaos proxy.
    let database_port = |schema: &str| {
        if schema == "gateway" {
            POSTGRES_PORT
        } else {
            POSTGRES_PROXY_PORT
        }
    };
    env.extend(endpoints(
        cluster.admin_url(DATABASE),
        database_port,
        replicas,
    ));
    // How the payment service reaches the gateway: through the `payment_gateway` proxy.
    env.push((
        "GATEWAY_URL".into(),
        format!("http://127.0.0.1:{GATEWAY_PROXY_PORT}"),
    ));
    env.push(("ADMIN_TOKEN".into(), admin_token(&dir)?));
    // (binary, part, port, group instance id): the gateway, then every participant's replicas.
    let gateway = (
        "payment-gateway",
        "payment-gateway".to_owned(),
        GATEWAY_PORT,
        None,
    );
    let services: Vec<_> = std::iter::once(gateway)
        .chain(Replica::all(replicas).map(|replica| {
            let id = replica.group_instance_id();
            (
                replica.participant.name,
                replica.name(),
                replica.port(),
                Some(id),
            )
        }))
        .collect();
    for (binary, part, port, group_instance_id) in &services {
        start(part, &dir, || {
            let mut command = Command::new(sibling_binary(binary)?);
            command
                .envs(env.iter().map(|(key, value)| (key, value)))
                .env("HTTP_ADDR", format!("127.0.0.1:{port}"))
                .env("LOG_FORMAT", "json");
            if let Some(id) = group_instance_id {
                // A restart after a crash is the same group member.
                command.env("KAFKA_GROUP_INSTANCE_ID", id);
            }
            Ok(command)
        })?;
    }
    // Fewer replicas than the last `up`: the surplus leave.
    let surplus = Replica::all(replicas_running(&dir)).filter(|replica| replica.index > replicas);
    for replica in surplus {
        stop(&dir, &replica.name(), Signal::SIGTERM);
    }
    for (_, part, port, _) in &services {
        step(&format!("waiting for {part} to be ready"));
        wait_ready(part, *port, &dir).await?;
    }

    // One job per service, one target per replica.
    let mut targets = vec![("payment-gateway", vec![GATEWAY_PORT])];
    targets.extend(events::PARTICIPANTS.iter().map(|participant| {
        let ports = Replica::of(participant, replicas).map(|replica| replica.port());
        (participant.name, ports.collect())
    }));
    let previous = std::fs::read_to_string(dir.join("prometheus/prometheus.yml")).ok();
    let config = prometheus::write_config(&dir.join("prometheus"), &targets)?;
    let changed = previous != std::fs::read_to_string(&config).ok();
    let prometheus_url = format!("http://127.0.0.1:{PROMETHEUS_PORT}");
    let started = start("prometheus", &dir, || {
        prometheus::command(
            &config,
            &dir.join("prometheus").join("data"),
            PROMETHEUS_PORT,
        )
    })?;
    let prometheus_pid = pid_file(&dir, "prometheus");
    if !started
        && changed
        && let Some(pid) = process::running_pid(&prometheus_pid)
    {
        // Running already, and the replicas changed: it reads its targets again.
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGHUP)?;
    }
    if started || changed {
        step("waiting for Prometheus to scrape every service");
        let alive = || process::running_pid(&prometheus_pid).is_some();
        prometheus::wait_all_up(
            &prometheus_url,
            services.len(),
            Duration::from_secs(60),
            alive,
        )
        .await
        .with_context(|| {
            let log = log_file(&dir, "prometheus");
            format!(
                "Prometheus is not scraping the services; see {}",
                log.display()
            )
        })?;
    }
    env.push(("PROMETHEUS_URL".into(), prometheus_url));

    write_env(&dir, &env)?;
    print_status(&dir);
    print_env(&env);
    Ok(())
}

fn write_env(dir: &Path, env: &[(String, String)]) -> anyhow::Result<()> {
    let text: String = env
        .iter()
        .map(|(key, value)| format!("{key}={value}\n"))
        .collect();
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("env"), text)?;
    step(&format!(
        "endpoints written to {}",
        dir.join("env").display()
    ));
    Ok(())
}

fn print_env(env: &[(String, String)]) {
    println!();
    for (key, value) in env {
        println!("  {key:<28} {value}");
    }
}

/// The compose system: every port is published on 127.0.0.1 (docker-compose.yml), the broker
/// through its host-facing listener, so the host's tools find it where the native stack is.
async fn compose_up(dir: &Path, offline: bool, replicas: u16) -> anyhow::Result<()> {
    let native = parts(replicas_running(dir))
        .iter()
        .any(|part| process::running_pid(&pid_file(dir, &part.name)).is_some());
    anyhow::ensure!(
        !native,
        "the native stack is running in {}: `make down` first (both use the same ports)",
        dir.display()
    );
    let here = std::env::current_dir()?;
    let mut files = vec![here.join("docker-compose.yml")];
    if offline {
        files.push(here.join(compose::OFFLINE_FILE));
    }
    for file in &files {
        anyhow::ensure!(file.exists(), "no {} here", file.display());
    }
    let files: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let compose = Compose::detect()?
        .with_files(files.join(":"))
        .with_env("REPLICAS", replicas.to_string());
    // Recorded first, so `compose down` finds what a failed `up` left. REPLICAS too: the chaos
    // suite's `up` of a killed service must keep its scale.
    let mut env = vec![
        ("STACK".to_owned(), "compose".to_owned()),
        ("COMPOSE_FILE".to_owned(), files.join(":")),
        ("REPLICAS".to_owned(), replicas.to_string()),
    ];
    write_env(dir, &env)?;
    let mut args = vec!["up", "-d", "--remove-orphans"];
    if offline {
        step("docker compose up with the offline stand-ins (docker-compose.offline.yml)");
    } else {
        step("docker compose up, building the project's image");
        args.push("--build");
    }
    compose.run(&args).await.with_context(|| {
        if offline {
            "compose could not start the system (`docker compose logs` says why); are the \
             offline images built (`make compose-images`)?"
                .to_owned()
        } else {
            "compose could not build or start the images; where no registry is reachable, \
             `make up STACK=compose OFFLINE=1` uses stand-ins (README, \"Docker Compose\")"
                .to_owned()
        }
    })?;
    step("waiting until every container is running and healthy");
    compose.wait_ready(None, Duration::from_secs(300)).await?;

    let token =
        std::env::var("ADMIN_TOKEN").unwrap_or_else(|_| "sagaworks-local-admin-token".to_owned());
    let admin = format!("postgres://postgres:postgres@127.0.0.1:5432/{DATABASE}");
    // The host reaches Postgres directly: the `postgres` proxy is the services' only.
    // Compose publishes one port per service, whatever its scale.
    env.extend(endpoints(admin, |_| 5432, 1));
    env.push(("ADMIN_TOKEN".into(), token));
    env.push((
        "PROMETHEUS_URL".into(),
        format!("http://127.0.0.1:{PROMETHEUS_PORT}"),
    ));
    write_env(dir, &env)?;

    println!();
    println!("  {:<16} {:<8} {:<8}", "SERVICE", "STATE", "HEALTH");
    for container in compose.containers(None).await? {
        let health = if container.health.is_empty() {
            "-"
        } else {
            &container.health
        };
        println!(
            "  {:<16} {:<8} {health:<8}",
            container.service, container.state
        );
    }
    print_env(&env);
    Ok(())
}

/// Stops the compose system `compose up` recorded in `<dir>/env` (its files), and forgets it.
async fn compose_down(dir: &Path, clean: bool) -> anyhow::Result<()> {
    let mut compose = Compose::detect()?;
    let recorded = std::fs::read_to_string(dir.join("env")).unwrap_or_default();
    if let Some(files) = recorded
        .lines()
        .find_map(|line| line.strip_prefix("COMPOSE_FILE="))
    {
        compose = compose.with_files(files.to_owned());
    }
    let mut args = vec!["down", "--remove-orphans"];
    if clean {
        args.push("--volumes");
    }
    compose.run(&args).await?;
    let _ = std::fs::remove_file(dir.join("env"));
    Ok(())
}

/// Waits until `service` answers `/readyz` with 200 (60 s at most).
async fn wait_ready(service: &str, port: u16, dir: &Path) -> anyhow::Result<()> {
    let url = format!("http://127.0.0.1:{port}/readyz");
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(response) = client.get(&url).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        anyhow::ensure!(
            process::running_pid(&pid_file(dir, service)).is_some(),
            "{service} exited; see {}",
            log_file(dir, service).display()
        );
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{service} is not ready after 60 s; see {}",
            log_file(dir, service).display()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Starts `name` unless its recorded pid is alive; says whether it started it.
fn start(
    name: &str,
    dir: &Path,
    command: impl FnOnce() -> anyhow::Result<Command>,
) -> anyhow::Result<bool> {
    let pids = pid_file(dir, name);
    if let Some(pid) = process::running_pid(&pids) {
        step(&format!("{name} is already running (pid {pid})"));
        return Ok(false);
    }
    let pid = process::spawn_detached(command()?, &log_file(dir, name), &pids)?;
    step(&format!(
        "started {name} (pid {pid}, log {})",
        log_file(dir, name).display()
    ));
    Ok(true)
}

/// The operator endpoints' token of this stack: made once, at random, and kept in
/// `<dir>/admin-token` (readable by its owner only), so a restarted service gets the same one.
fn admin_token(dir: &Path) -> anyhow::Result<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;

    let path = dir.join("admin-token");
    if let Ok(token) = std::fs::read_to_string(&path) {
        return Ok(token.trim().to_owned());
    }
    let mut bytes = [0u8; 24];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    let token: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    std::io::Write::write_all(&mut file, token.as_bytes())?;
    Ok(token)
}

/// A binary built next to this one (same cargo profile).
fn sibling_binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe.with_file_name(name);
    anyhow::ensure!(
        path.exists(),
        "{} is not built (cargo build --bins)",
        path.display()
    );
    Ok(path)
}

/// The endpoints both stacks write to `env`; a schema's role reaches Postgres on `database_port`;
/// `<SERVICE>_URLS` lists the addresses of `replicas` of each participant.
fn endpoints(
    admin_url: String,
    database_port: impl Fn(&str) -> u16,
    replicas: usize,
) -> Vec<(String, String)> {
    let mut env = vec![("PG_ADMIN_URL".to_owned(), admin_url)];
    for schema in stack::schemas() {
        let port = database_port(schema);
        env.push((
            format!("{}_DATABASE_URL", schema.to_uppercase()),
            format!("postgres://{schema}:{schema}@127.0.0.1:{port}/{DATABASE}"),
        ));
    }
    env.push((
        "KAFKA_BROKERS".into(),
        format!("127.0.0.1:{KAFKA_PROXY_PORT}"),
    ));
    env.push((
        "TOXIPROXY_URL".into(),
        format!("http://127.0.0.1:{TOXIPROXY_PORT}"),
    ));
    for participant in events::PARTICIPANTS {
        let urls: Vec<String> = Replica::of(participant, replicas)
            .map(|replica| format!("http://127.0.0.1:{}", replica.port()))
            .collect();
        env.push((participant.url_var(), urls[0].clone()));
        env.push((participant.urls_var(), urls.join(",")));
    }
    env.push((
        "PAYMENT_GATEWAY_URL".into(),
        format!("http://127.0.0.1:{GATEWAY_PORT}"),
    ));
    env
}

fn print_status(dir: &Path) {
    println!();
    println!("  {:<16} {:<8} {:<8} ADDRESS", "PART", "STATE", "PID");
    for part in parts(replicas(dir, None).max(replicas_running(dir))) {
        let (state, pid) = match process::running_pid(&pid_file(dir, &part.name)) {
            Some(pid) => ("running", pid.to_string()),
            None => ("stopped", "-".to_owned()),
        };
        println!(
            "  {:<16} {:<8} {:<8} {}",
            part.name, state, pid, part.address
        );
    }
}

async fn measure_cpu(dir: &Path, period: Duration) {
    /// `/proc` counts CPU time in `USER_HZ` ticks, 100 a second on Linux.
    const TICKS_PER_SECOND: f64 = 100.0;
    let running: Vec<(String, u32)> = parts(replicas_running(dir))
        .into_iter()
        .filter_map(|part| {
            let pid = process::running_pid(&pid_file(dir, &part.name))?;
            Some((part.name, pid))
        })
        .collect();
    step(&format!(
        "measuring the CPU of {} running parts for {period:?}",
        running.len()
    ));
    let before: Vec<u64> = running
        .iter()
        .map(|(_, pid)| process::cpu_ticks(*pid))
        .collect();
    tokio::time::sleep(period).await;
    println!();
    println!("  {:<16} {:>14}", "PART", "% OF ONE CORE");
    let mut total = 0.0;
    for ((name, pid), before) in running.iter().zip(before) {
        let ticks = process::cpu_ticks(*pid).saturating_sub(before);
        let percent = ticks as f64 / TICKS_PER_SECOND / period.as_secs_f64() * 100.0;
        total += percent;
        println!("  {name:<16} {percent:>14.1}");
    }
    println!("  {:<16} {total:>14.1}", "total");
}

/// Stops the part `name` recorded in `dir` with `signal` (SIGKILL after 20 s) and forgets it.
fn stop(dir: &Path, name: &str, signal: Signal) {
    let pids = pid_file(dir, name);
    match process::running_pid(&pids) {
        Some(pid) => {
            let graceful = process::stop_pid(pid, signal, Duration::from_secs(20));
            let how = if graceful {
                "stopped"
            } else {
                "killed after 20 s"
            };
            step(&format!("{how} {name} (pid {pid})"));
        }
        None => step(&format!("{name} was not running")),
    }
    let _ = std::fs::remove_file(&pids);
}

fn down(dir: &Path, clean: bool) -> anyhow::Result<()> {
    for part in parts(replicas_running(dir)).iter().rev() {
        stop(dir, &part.name, part.stop_signal);
    }
    if clean && dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot remove {}", dir.display()))?;
        step(&format!("removed {}", dir.display()));
    }
    Ok(())
}
