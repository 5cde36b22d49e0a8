//! Tansu, an Apache-Kafka-compatible broker from crates.io, as the native stand-in for Kafka.

use std::path::PathBuf;
use std::process::Command;

use anyhow::Context;

/// Where `make` installs Tansu (`cargo install --root`), outside any clone so it is built once.
pub fn default_tools_dir() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/root".into());
    home.join(".cache/sagaworks/tools")
}

/// The Tansu binary: `TANSU_BIN`, else the tools cache, else `tansu` on `PATH`.
pub fn tansu_bin() -> anyhow::Result<PathBuf> {
    if let Some(bin) = std::env::var_os("TANSU_BIN") {
        return Ok(bin.into());
    }
    let cached = default_tools_dir().join("bin/tansu");
    if cached.exists() {
        return Ok(cached);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join("tansu"))
        .find(|candidate| candidate.exists())
        .context(
            "the Tansu broker is not installed: run `make tools` (cargo install --locked tansu)",
        )
}

/// The command for a broker listening on `listen_port` that tells clients to connect to
/// `advertised` (the `kafka` proxy's address, so all traffic goes through the proxy).
/// `storage` is `memory://tansu/` (tests) or `sqlite://<file>` (durable, relative to the
/// command's working directory).
pub fn command(listen_port: u16, advertised: &str, storage: &str) -> anyhow::Result<Command> {
    let mut command = Command::new(tansu_bin()?);
    command
        .arg("broker")
        .args(["--listener-url", &format!("tcp://127.0.0.1:{listen_port}")])
        .args(["--advertised-listener-url", &format!("tcp://{advertised}")])
        .args(["--storage-engine", storage]);
    Ok(command)
}
