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
    pub async fn start(binary: &str, env: &[(String, String)]) -> anyhow::Result<Self> {
        let port = stack::free_port()?;
        let mut command = Command::new(binary);
        command
            .env("HTTP_ADDR", format!("127.0.0.1:{port}"))
            .envs(env.iter().map(|(key, value)| (key, value)))
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
    env: &[(String, String)],
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

impl crate::TestEnv {
    /// The environment a service binary reads to run against this test's database (through the
    /// `postgres` proxy) and broker.
    pub fn service_env(&self, service: &str) -> Vec<(String, String)> {
        vec![
            (
                format!("{}_DATABASE_URL", service.to_uppercase()),
                self.database_url(service),
            ),
            ("KAFKA_BROKERS".to_owned(), self.kafka_brokers().to_owned()),
        ]
    }

    /// Asserts that the service at `address` (host:port) becomes ready (200 on `/readyz`, once
    /// its consumer has joined its group), and answers 503 while this environment's `postgres`
    /// proxy is cut.
    pub async fn assert_readyz_follows_the_database(&self, address: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let (status, body) = get(address, "/readyz").await;
            if status == 200 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "not ready after 30 s: {status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        self.toxiproxy()
            .set_enabled("postgres", false)
            .await
            .unwrap();
        let (status, body) = get(address, "/readyz").await;
        self.toxiproxy()
            .set_enabled("postgres", true)
            .await
            .unwrap();
        assert_eq!(status, 503, "{body}");
        assert!(body.contains(r#""status":"unavailable""#), "{body}");
    }
}

/// GET over a plain TCP connection (enough here, without an HTTP client dependency); asserts a
/// 200 and returns the body.
async fn get_ok(address: &str, path: &str) -> String {
    let (status, body) = get(address, path).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

/// GET over a plain TCP connection: the status code and the body.
async fn get(address: &str, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    (status, body.to_owned())
}
