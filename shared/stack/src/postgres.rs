//! A Postgres cluster of our own: initdb, start, wait, and the per-service roles and schemas.
//!
//! initdb refuses to run as root, so as root the cluster runs as the `postgres` user (Debian's
//! package creates it) and its data directory belongs to that user.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use sqlx::{Connection, Executor, PgConnection};

/// The superuser's password in clusters we create (local development and tests only).
pub const SUPERUSER_PASSWORD: &str = "postgres";

/// A cluster's data directory and port.
#[derive(Clone, Debug)]
pub struct Cluster {
    bin_dir: PathBuf,
    data_dir: PathBuf,
    port: u16,
    run_as: Option<nix::unistd::User>,
}

impl Cluster {
    /// Finds the server binaries (`PG_BIN_DIR`, else the newest `/usr/lib/postgresql/*/bin`,
    /// else `initdb` on `PATH`) and the user to run them as.
    pub fn new(data_dir: impl Into<PathBuf>, port: u16) -> anyhow::Result<Self> {
        let run_as = if nix::unistd::geteuid().is_root() {
            let user = nix::unistd::User::from_name("postgres")?.context(
                "running as root, and there is no `postgres` user to run the cluster as \
                 (install Debian's postgresql package)",
            )?;
            Some(user)
        } else {
            None
        };
        Ok(Self {
            bin_dir: find_bin_dir()?,
            data_dir: data_dir.into(),
            port,
            run_as,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn is_initialized(&self) -> bool {
        self.data_dir.join("PG_VERSION").exists()
    }

    /// Creates the cluster: superuser `postgres` with [`SUPERUSER_PASSWORD`], password (SCRAM)
    /// authentication over TCP, UTF-8.
    pub fn init(&self) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("cannot create {}", self.data_dir.display()))?;
        let password_file = self.data_dir.with_extension("pwfile");
        std::fs::write(&password_file, SUPERUSER_PASSWORD)?;
        self.give_to_run_as_user(&self.data_dir)?;
        self.give_to_run_as_user(&password_file)?;
        let output = self
            .command("initdb")
            .arg("--pgdata")
            .arg(&self.data_dir)
            .args([
                "--username=postgres",
                "--auth-host=scram-sha-256",
                "--auth-local=trust",
            ])
            .args(["--encoding=UTF8", "--locale=C", "--no-instructions"])
            .arg(format!("--pwfile={}", password_file.display()))
            .output()
            .context("cannot run initdb")?;
        let _ = std::fs::remove_file(&password_file);
        if !output.status.success() {
            bail!(
                "initdb failed for {}: {}",
                self.data_dir.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(())
    }

    /// The command that runs the server in the foreground, on 127.0.0.1 only, no Unix socket.
    /// `durable: false` trades crash safety for speed (tests).
    pub fn server_command(&self, durable: bool) -> Command {
        let mut command = self.command("postgres");
        command
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-p", &self.port.to_string()])
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "unix_socket_directories=",
            ])
            .args(["-c", "max_connections=400", "-c", "shared_buffers=256MB"]);
        // Statement counts by role, for `make bench` and for you (`create extension
        // pg_stat_statements`, then `select * from pg_stat_statements`), where the server has it.
        if self.bin_dir.join("../lib/pg_stat_statements.so").exists() {
            command.args(["-c", "shared_preload_libraries=pg_stat_statements"]);
        }
        if !durable {
            command.args([
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]);
        }
        command
    }

    /// The superuser's URL for `database`, straight to the server (not through a proxy).
    pub fn admin_url(&self, database: &str) -> String {
        format!(
            "postgres://postgres:{SUPERUSER_PASSWORD}@127.0.0.1:{}/{database}",
            self.port
        )
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin_dir.join(program));
        if let Some(user) = &self.run_as {
            use std::os::unix::process::CommandExt;
            command.uid(user.uid.as_raw()).gid(user.gid.as_raw());
            command.env("HOME", &user.dir).env("USER", &user.name);
        }
        command
    }

    fn give_to_run_as_user(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(user) = &self.run_as {
            std::os::unix::fs::chown(path, Some(user.uid.as_raw()), Some(user.gid.as_raw()))
                .with_context(|| format!("cannot give {} to {}", path.display(), user.name))?;
        }
        Ok(())
    }
}

/// The server binaries' directory: `PG_BIN_DIR`, else the newest `/usr/lib/postgresql/*/bin`,
/// else the directory on `PATH` that holds `initdb` and `postgres`.
pub fn find_bin_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("PG_BIN_DIR") {
        return Ok(dir.into());
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .find(|dir| dir.join("initdb").exists() && dir.join("postgres").exists())
        .context("no PostgreSQL server binaries found: install Debian's `postgresql` package or set PG_BIN_DIR")
}

/// Waits until the server at `url` accepts a connection.
pub async fn wait_ready(url: &str, timeout: Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match PgConnection::connect(url).await {
            Ok(connection) => {
                let _ = connection.close().await;
                return Ok(());
            }
            Err(error) if tokio::time::Instant::now() >= deadline => {
                return Err(error).context(format!(
                    "Postgres did not accept connections within {timeout:?}"
                ));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Creates `database` (unless it exists) through the superuser URL of the `postgres` database,
/// then creates every service's role and schema in it.
pub async fn create_database(
    server_admin_url: &str,
    database: &str,
    database_admin_url: &str,
) -> anyhow::Result<()> {
    let mut admin = PgConnection::connect(server_admin_url).await?;
    let exists: bool =
        sqlx::query_scalar("select exists (select from pg_database where datname = $1)")
            .bind(database)
            .fetch_one(&mut admin)
            .await?;
    if !exists {
        // Identifiers cannot be bound; the name is quoted by Postgres's own quote_ident.
        let quoted: String = sqlx::query_scalar("select quote_ident($1)")
            .bind(database)
            .fetch_one(&mut admin)
            .await?;
        admin
            .execute(format!("create database {quoted}").as_str())
            .await?;
    }
    admin.close().await?;
    let mut connection = PgConnection::connect(database_admin_url).await?;
    connection
        .execute(sqlx::raw_sql(crate::INIT_SQL))
        .await
        .context("cannot create the service roles and schemas (migrations/init.sql)")?;
    connection.close().await?;
    Ok(())
}
