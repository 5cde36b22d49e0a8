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

/// Starts `binary` as a process, checks `/healthz` names `service` and `/metrics` answers, sends
/// SIGTERM and asserts the process exits 0 within 10 s: what every service binary must do.
pub async fn assert_serves_health_and_stops_on_sigterm(
    binary: &str,
    service: &str,
    env: &[(&str, &str)],
) {
    let process = ServiceProcess::start(binary, env).await.unwrap();
    let body = get_ok(&process.address, "/healthz").await;
    assert_eq!(body, format!(r#"{{"status":"ok","service":"{service}"}}"#));
    get_ok(&process.address, "/metrics").await;

    let status = process.terminate(Duration::from_secs(10)).await.unwrap();

    assert!(
        status.success(),
        "{service} exit status after SIGTERM: {status}"
    );
}

/// GET over a plain TCP connection (enough here, without an HTTP client dependency); asserts a
/// 200 and returns the body.
async fn get_ok(address: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "GET {path}: {response}"
    );
    response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned()
}
