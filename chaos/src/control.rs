//! Killing and restarting the system's processes: the one fault Toxiproxy cannot inject.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use nix::sys::signal::Signal;

/// The processes of the system under test. A part is a service name or `broker`.
pub trait Processes {
    /// Kills `part` with SIGKILL, as a crash would.
    fn kill(&mut self, part: &str) -> impl Future<Output = anyhow::Result<()>> + Send;
    /// Stops `part` with SIGTERM, as an orchestrator would, and waits until it has exited.
    fn terminate(&mut self, part: &str) -> impl Future<Output = anyhow::Result<()>> + Send;
    /// Starts `part` again; returns once it is ready.
    fn restart(&mut self, part: &str) -> impl Future<Output = anyhow::Result<()>> + Send;
    /// Whether the broker keeps its data across a SIGKILL (so killing it is a fair scenario).
    fn durable_broker(&self) -> bool;
    /// Whether `partition` can cut a part off the network (containers can; processes cannot).
    fn can_partition(&self) -> bool {
        false
    }
    /// Cuts `part` off the network for `hold`, then connects it again.
    fn partition(
        &mut self,
        part: &str,
        _hold: Duration,
    ) -> impl Future<Output = anyhow::Result<()>> + Send {
        async move { anyhow::bail!("{part} cannot be cut off the network here") }
    }
}

/// The native stack of `make up`: pids in `<dir>/pids`, restarts by `stack up` (idempotent: it
/// starts what is not running and waits for it to be ready).
#[derive(Debug)]
pub struct NativeStack {
    pub dir: PathBuf,
    pub stack: PathBuf,
}

impl NativeStack {
    /// The stack in `dir`, restarted with the `stack` binary built next to this one.
    pub fn new(dir: PathBuf) -> anyhow::Result<Self> {
        let stack = std::env::current_exe()?.with_file_name("stack");
        anyhow::ensure!(
            stack.exists(),
            "{} is not built (make build)",
            stack.display()
        );
        anyhow::ensure!(
            dir.join("pids").is_dir(),
            "no native stack in {}: run `make up`",
            dir.display()
        );
        Ok(Self { dir, stack })
    }

    fn pid(&self, part: &str) -> anyhow::Result<u32> {
        let file = self.dir.join("pids").join(format!("{part}.pid"));
        stack::process::running_pid(&file).with_context(|| format!("{part} is not running"))
    }
}

impl NativeStack {
    async fn signal(&self, part: &str, signal: Signal, wait: Duration) -> anyhow::Result<()> {
        let pid = self.pid(part)?;
        let gone = tokio::task::spawn_blocking(move || stack::process::stop_pid(pid, signal, wait))
            .await?;
        anyhow::ensure!(gone, "{part} (pid {pid}) survived {signal} for {wait:?}");
        Ok(())
    }
}

impl Processes for NativeStack {
    async fn kill(&mut self, part: &str) -> anyhow::Result<()> {
        self.signal(part, Signal::SIGKILL, Duration::from_secs(10))
            .await
    }

    async fn terminate(&mut self, part: &str) -> anyhow::Result<()> {
        // A service drains its work and exits; 20 s is the stack's own `down` grace too.
        self.signal(part, Signal::SIGTERM, Duration::from_secs(20))
            .await
    }

    async fn restart(&mut self, part: &str) -> anyhow::Result<()> {
        let mut command = tokio::process::Command::new(&self.stack);
        command.arg("--dir").arg(&self.dir).arg("up");
        let output = command.output().await?;
        anyhow::ensure!(
            output.status.success(),
            "`stack up` could not restart {part}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(())
    }

    fn durable_broker(&self) -> bool {
        // The storage engine is on the broker's command line.
        self.pid("broker")
            .ok()
            .and_then(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).ok())
            .is_some_and(|line| String::from_utf8_lossy(&line).contains("sqlite://"))
    }
}

/// The system of `docker compose up` (the files and project of `COMPOSE_FILE` and
/// `COMPOSE_PROJECT_NAME`, as compose itself reads them): kills by `docker compose kill`, restarts
/// by `up`, and cuts a container off its network.
#[derive(Debug)]
pub struct Compose(stack::compose::Compose);

impl Compose {
    pub fn new() -> anyhow::Result<Self> {
        stack::compose::Compose::detect().map(Self)
    }

    fn service(part: &str) -> &str {
        if part == "broker" { "kafka" } else { part }
    }
}

impl Processes for Compose {
    async fn kill(&mut self, part: &str) -> anyhow::Result<()> {
        self.0
            .run(&["kill", "-s", "SIGKILL", Self::service(part)])
            .await
    }

    async fn terminate(&mut self, part: &str) -> anyhow::Result<()> {
        self.0.run(&["stop", "-t", "20", Self::service(part)]).await
    }

    async fn restart(&mut self, part: &str) -> anyhow::Result<()> {
        let service = Self::service(part);
        self.0.run(&["up", "-d", "--no-deps", service]).await?;
        self.0
            .wait_ready(Some(service), Duration::from_secs(120))
            .await
    }

    fn durable_broker(&self) -> bool {
        // The broker's data is a volume.
        true
    }

    fn can_partition(&self) -> bool {
        true
    }

    async fn partition(&mut self, part: &str, hold: Duration) -> anyhow::Result<()> {
        let cut = self.0.disconnect(Self::service(part)).await?;
        tokio::time::sleep(hold).await;
        self.0.reconnect(&cut).await
    }
}
