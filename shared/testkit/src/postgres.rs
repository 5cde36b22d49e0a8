//! The Postgres server a test binary shares, and a fresh database per test.

use std::time::Duration;

use anyhow::Context;
use nix::sys::signal::Signal;
use sqlx::{Connection, Executor, PgConnection};
use stack::process::TiedChild;
use tokio::sync::OnceCell;

/// The server every test of this process uses.
#[derive(Debug)]
struct Server {
    /// Superuser URL without a database name: `postgres://user:password@host:port`.
    base_url: String,
    /// `host:port`, what a proxy points at.
    address: String,
    /// Our own cluster, when we started one; killed with the process.
    _cluster: Option<TiedChild>,
}

static SERVER: OnceCell<Server> = OnceCell::const_new();

async fn server() -> anyhow::Result<&'static Server> {
    SERVER.get_or_try_init(start_server).await
}

async fn start_server() -> anyhow::Result<Server> {
    #[cfg(feature = "containers")]
    if crate::containers::enabled() {
        let (base_url, address) = crate::containers::postgres().await?;
        return Ok(Server {
            base_url,
            address,
            _cluster: None,
        });
    }
    if let Ok(url) = std::env::var("TESTKIT_DATABASE_URL") {
        let parsed: sqlx::postgres::PgConnectOptions =
            url.parse().context("TESTKIT_DATABASE_URL")?;
        let base_url = url
            .rsplit_once('/')
            .map_or(url.as_str(), |(base, _)| base)
            .to_owned();
        let address = format!("{}:{}", parsed.get_host(), parsed.get_port());
        return Ok(Server {
            base_url,
            address,
            _cluster: None,
        });
    }
    let root = std::env::temp_dir().join("sagaworks-testkit");
    remove_stale_clusters(&root);
    let port = stack::free_port()?;
    let cluster = stack::postgres::Cluster::new(root.join(std::process::id().to_string()), port)?;
    cluster.init()?;
    let mut command = cluster.server_command(false);
    command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let child = TiedChild::spawn(command, Signal::SIGINT)?;
    stack::postgres::wait_ready(&cluster.admin_url("postgres"), Duration::from_secs(30)).await?;
    Ok(Server {
        base_url: format!(
            "postgres://postgres:{}@127.0.0.1:{port}",
            stack::postgres::SUPERUSER_PASSWORD
        ),
        address: format!("127.0.0.1:{port}"),
        _cluster: Some(child),
    })
}

/// Clusters of test processes that are gone (a process killed outright leaves its data dir).
fn remove_stale_clusters(root: &std::path::Path) {
    for entry in std::fs::read_dir(root).into_iter().flatten().flatten() {
        let pid = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<u32>().ok());
        if pid.is_some_and(|pid| !stack::process::is_alive(pid)) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A database of one test's own, with every service's role and schema.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    server: &'static Server,
}

impl TestDatabase {
    pub async fn create() -> anyhow::Result<Self> {
        // Roles are global to the server: two tests creating them at once would collide.
        static INIT: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let server = server().await?;
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let database = Self { name, server };
        let _guard = INIT.lock().await;
        stack::postgres::create_database(
            &format!("{}/postgres", server.base_url),
            &database.name,
            &database.admin_url(),
        )
        .await?;
        Ok(database)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The superuser's URL for this database, straight to the server.
    pub fn admin_url(&self) -> String {
        format!("{}/{}", self.server.base_url, self.name)
    }

    /// `role`'s URL for this database, straight to the server (no proxy).
    pub fn direct_url(&self, role: &str) -> String {
        format!(
            "postgres://{role}:{role}@{}/{}",
            self.server.address, self.name
        )
    }

    /// The pid of the cluster process when the harness started it.
    pub fn cluster_pid(&self) -> Option<u32> {
        self.server._cluster.as_ref().map(TiedChild::id)
    }

    /// `host:port` of the server.
    pub fn server_address(&self) -> String {
        self.server.address.clone()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Our own cluster dies with the process; an external server keeps no litter.
        if self.server._cluster.is_some() {
            return;
        }
        let url = format!("{}/postgres", self.server.base_url);
        let name = self.name.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async {
                    if let Ok(mut admin) = PgConnection::connect(&url).await {
                        let _ = admin
                            .execute(
                                format!("drop database if exists \"{name}\" with (force)").as_str(),
                            )
                            .await;
                    }
                });
            }
        });
    }
}
