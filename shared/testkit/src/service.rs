//! A service binary run as a real process, as `make up` runs it: for tests of what only a process
//! shows (signals, exit codes, restarts).

use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use anyhow::Context;
use nix::sys::signal::Signal;
use stack::process::TiedChild;

/// A running service process, killed when dropped.
#[derive(Debug)]
pub struct ServiceProcess {
    child: Option<TiedChild>,
    pid: u32,
    pub address: String,
}

impl ServiceProcess {
    /// Starts `binary` with `env` and `HTTP_ADDR` on a free port, and waits until `/healthz`
    /// answers.
    pub async fn start(binary: &str, env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let port = stack::free_port()?;
        let mut command = Command::new(binary);
        command
            .env("HTTP_ADDR", format!("127.0.0.1:{port}"))
            .envs(env.iter().copied())
            .stdout(Stdio::null());
        let child = TiedChild::spawn(command, Signal::SIGKILL)?;
        let pid = child.id();
        let address = format!("127.0.0.1:{port}");
        stack::wait_for_port(&address, Duration::from_secs(20))
            .await
            .with_context(|| format!("{binary} did not start listening"))?;
        Ok(Self {
            child: Some(child),
            pid,
            address,
        })
    }

    /// Sends SIGTERM and waits up to `grace` for the process to exit; returns its exit status.
    pub async fn terminate(mut self, grace: Duration) -> anyhow::Result<ExitStatus> {
        let child = self.child.take().context("already stopped")?;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid as i32), Signal::SIGTERM)?;
        tokio::task::spawn_blocking(move || child.wait_timeout(grace))
            .await?
            .with_context(|| format!("the process did not exit within {grace:?} of SIGTERM"))
    }
}
