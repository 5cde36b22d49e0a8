//! The bench's own native stack, started afresh for every trial.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Context;
use loadtest::load::{self, LoadConfig};
use loadtest::{Client, Endpoints};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

/// A freshly started system: its API and its cluster's superuser.
pub struct System {
    pub client: Client,
    pub admin: PgPool,
    pub brokers: String,
    pub admin_url: String,
}

/// The native stack in a directory of its own; `down --clean` when dropped, failed run or not.
pub struct NativeStack {
    binary: PathBuf,
    dir: PathBuf,
    pub storage: String,
}

impl NativeStack {
    pub fn new(dir: &Path, storage: &str) -> anyhow::Result<Self> {
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
    pub async fn fresh(&self) -> anyhow::Result<System> {
        self.fresh_with(&[]).await
    }

    /// `fresh`, with `env` added to every process's environment (`stack up` hands its own on).
    pub async fn fresh_with(&self, env: &[(&str, &str)]) -> anyhow::Result<System> {
        self.run(&["down", "--clean"], &[])?;
        println!(
            "==> starting a native stack in {} (broker storage {})",
            self.dir.display(),
            self.storage
        );
        self.run(&["up"], env)?;
        let env = self.env()?;
        let client = Client::new(Endpoints::from_vars(|key| env.get(key).cloned()));
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

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<()> {
        let status = Command::new(&self.binary)
            .arg("--dir")
            .arg(&self.dir)
            .args(args)
            .env("STACK_BROKER_STORAGE", &self.storage)
            .envs(env.iter().copied())
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

    /// Every running part's pid, by name (`postgres`, `broker`, `order`, ...).
    pub fn pids(&self) -> BTreeMap<String, u32> {
        std::fs::read_dir(self.dir.join("pids"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let path = entry.path();
                let name = path.file_stem()?.to_str()?.to_owned();
                Some((name, stack::process::running_pid(&path)?))
            })
            .collect()
    }

    /// Each service's resident set size, in MB, from `/proc/<pid>/status`.
    pub fn rss_mb(&self) -> BTreeMap<&'static str, f64> {
        let pids = self.pids();
        let participants = events::PARTICIPANTS.iter().map(|p| p.name);
        participants
            .chain(["payment-gateway"])
            .filter_map(|service| {
                let pid = pids.get(service)?;
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
        if let Err(error) = self.run(&["down", "--clean"], &[]) {
            eprintln!("  {error:#}");
        }
    }
}
