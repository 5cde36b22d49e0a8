//! The compose system (`make up STACK=compose`) driven from the host: `docker compose` (the
//! plugin) or `docker-compose` (the standalone tool), whichever the machine has, with the files in
//! `COMPOSE_FILE`. Compose's own `--wait` is the plugin's only, so readiness is read here from
//! each container's healthcheck. Commands run as Tokio processes: the chaos suite calls them
//! while its load runs on the same task.

use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::process::Command;

/// The offline images' override (`make compose-images`), added to `docker-compose.yml`.
pub const OFFLINE_FILE: &str = "docker-compose.offline.yml";

/// The compose tool of this machine.
#[derive(Clone, Debug)]
pub struct Compose {
    program: &'static [&'static str],
    /// Variables set for every command (`COMPOSE_FILE`, `REPLICAS`), over the environment's.
    env: Vec<(&'static str, String)>,
}

/// One container of the compose project, as `docker inspect` sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Container {
    pub id: String,
    pub service: String,
    /// `running`, `exited`, `restarting`...
    pub state: String,
    /// `healthy`, `starting`, `unhealthy`, or empty without a healthcheck.
    pub health: String,
}

impl Container {
    /// Running, and healthy if it has a healthcheck.
    pub fn ready(&self) -> bool {
        self.state == "running" && (self.health.is_empty() || self.health == "healthy")
    }
}

impl Compose {
    /// The plugin if `docker compose version` answers, else `docker-compose`.
    pub fn detect() -> anyhow::Result<Self> {
        let answers = |program: &[&str]| {
            std::process::Command::new(program[0])
                .args(&program[1..])
                .arg("version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success())
        };
        [&["docker", "compose"][..], &["docker-compose"][..]]
            .into_iter()
            .find(|program| answers(program))
            .map(|program| Self {
                program,
                env: Vec::new(),
            })
            .context("neither `docker compose` nor `docker-compose` runs: install Docker Compose")
    }

    /// The same tool on `files` (`COMPOSE_FILE`'s syntax: paths joined by `:`).
    pub fn with_files(self, files: String) -> Self {
        self.with_env("COMPOSE_FILE", files)
    }

    /// The same tool with `key` set to `value` in every command's environment (the compose
    /// files interpolate it).
    pub fn with_env(mut self, key: &'static str, value: String) -> Self {
        self.env.push((key, value));
        self
    }

    /// `docker compose ARGS` (or `docker-compose ARGS`).
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(self.program[0]);
        command.args(&self.program[1..]).args(args);
        command.envs(self.env.iter().map(|(key, value)| (key, value)));
        command
    }

    /// Runs `ARGS` with its output on ours; fails on a non-zero exit.
    pub async fn run(&self, args: &[&str]) -> anyhow::Result<()> {
        let status = self
            .command(args)
            .status()
            .await
            .with_context(|| format!("cannot run {}", self.program.join(" ")))?;
        anyhow::ensure!(
            status.success(),
            "`{} {}` failed",
            self.program.join(" "),
            args.join(" ")
        );
        Ok(())
    }

    /// The containers of `service`, or of every service.
    pub async fn containers(&self, service: Option<&str>) -> anyhow::Result<Vec<Container>> {
        let mut args = vec!["ps", "-q"];
        args.extend(service);
        let ids = output(self.command(&args)).await?;
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // `.State` as JSON: its `Health` is absent without a healthcheck, which a template
        // cannot test for.
        let format =
            "{{.Id}} {{index .Config.Labels \"com.docker.compose.service\"}} {{json .State}}";
        let mut inspect = Command::new("docker");
        inspect.args(["inspect", "--format", format]).args(&ids);
        Ok(output(inspect)
            .await?
            .lines()
            .filter_map(parse_container)
            .collect())
    }

    /// Waits until every container of `service` (or of every service) is ready, saying which
    /// are not every ten seconds.
    pub async fn wait_ready(&self, service: Option<&str>, timeout: Duration) -> anyhow::Result<()> {
        let started = tokio::time::Instant::now();
        let mut said = started;
        loop {
            let containers = self.containers(service).await?;
            let waiting: Vec<String> = containers
                .iter()
                .filter(|container| !container.ready())
                .map(|container| {
                    format!(
                        "{} ({} {})",
                        container.service, container.state, container.health
                    )
                })
                .collect();
            if !containers.is_empty() && waiting.is_empty() {
                return Ok(());
            }
            anyhow::ensure!(
                started.elapsed() < timeout,
                "not ready after {timeout:?}: {}; see `docker compose logs`",
                if waiting.is_empty() {
                    "no container".to_owned()
                } else {
                    waiting.join(", ")
                }
            );
            if said.elapsed() >= Duration::from_secs(10) {
                println!("    waiting for {}", waiting.join(", "));
                said = tokio::time::Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Cuts `service`'s containers off every network they are on; returns what to reconnect.
    pub async fn disconnect(&self, service: &str) -> anyhow::Result<Vec<Attachment>> {
        let mut cut = Vec::new();
        for container in self.containers(Some(service)).await? {
            let mut inspect = Command::new("docker");
            inspect.args([
                "inspect",
                "--format",
                "{{range $name, $_ := .NetworkSettings.Networks}}{{$name}} {{end}}",
                &container.id,
            ]);
            for network in output(inspect).await?.split_whitespace() {
                let disconnect = ["network", "disconnect", network, &container.id];
                if let Err(error) = docker(&disconnect).await {
                    // All or nothing: what was cut already goes back.
                    self.reconnect(&cut).await?;
                    return Err(error);
                }
                cut.push(Attachment {
                    network: network.to_owned(),
                    container: container.id.clone(),
                    alias: service.to_owned(),
                });
            }
        }
        anyhow::ensure!(!cut.is_empty(), "no container of {service} is on a network");
        Ok(cut)
    }

    /// Connects what `disconnect` cut, under the service's name again.
    pub async fn reconnect(&self, attachments: &[Attachment]) -> anyhow::Result<()> {
        for attachment in attachments {
            docker(&[
                "network",
                "connect",
                "--alias",
                &attachment.alias,
                &attachment.network,
                &attachment.container,
            ])
            .await?;
        }
        Ok(())
    }
}

/// A container's place on a network, as `disconnect` found it.
#[derive(Clone, Debug)]
pub struct Attachment {
    network: String,
    container: String,
    alias: String,
}

/// `ID SERVICE STATE-JSON`, as `containers` asks `docker inspect` for it.
fn parse_container(line: &str) -> Option<Container> {
    let mut fields = line.splitn(3, ' ');
    let (id, service) = (fields.next()?, fields.next()?);
    let state: serde_json::Value = serde_json::from_str(fields.next()?).ok()?;
    let text = |value: &serde_json::Value| value.as_str().unwrap_or_default().to_owned();
    Some(Container {
        id: id.to_owned(),
        service: service.to_owned(),
        state: text(&state["Status"]),
        health: text(&state["Health"]["Status"]),
    })
}

async fn docker(args: &[&str]) -> anyhow::Result<()> {
    let mut command = Command::new("docker");
    command.args(args);
    output(command).await.map(drop)
}

/// A command's standard output; its standard error in the error when it fails.
async fn output(mut command: Command) -> anyhow::Result<String> {
    let output = command
        .output()
        .await
        .with_context(|| format!("cannot run {command:?}"))?;
    anyhow::ensure!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(String::from_utf8(output.stdout)?)
}

#[cfg(test)]
mod tests {
    use super::parse_container;

    #[test]
    fn a_container_is_ready_when_running_and_healthy_or_without_a_healthcheck() {
        let ready = |line: &str| parse_container(line).unwrap().ready();
        let healthy = r#"{"Status":"running","Running":true,"Health":{"Status":"healthy","FailingStreak":0}}"#;
        assert!(ready(&format!("abc order {healthy}")));
        assert!(ready(
            r#"abc prometheus {"Status":"running","Running":true}"#
        ));
        assert!(!ready(
            r#"abc order {"Status":"running","Health":{"Status":"starting"}}"#
        ));
        assert!(!ready(
            r#"abc order {"Status":"running","Health":{"Status":"unhealthy"}}"#
        ));
        assert!(!ready(r#"abc kafka {"Status":"exited","ExitCode":1}"#));
        assert!(!ready(r#"abc kafka {"Status":"restarting"}"#));
        assert_eq!(parse_container("abc order").map(|c| c.service), None);
    }
}
