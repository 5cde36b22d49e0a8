//! nisshi (Tansu's successor), an Apache-Kafka-compatible broker from crates.io, as the native
//! stand-in for Kafka. `make tools` builds it with our patches (`shared/nisshi/PATCHES.md`).

use std::path::PathBuf;
use std::process::Command;

use anyhow::Context;

/// The durable engine `make up` runs the broker on (relative to the stack directory).
pub const DURABLE_STORAGE: &str = "sqlite://nisshi.db";

/// The in-memory engine tests and benches may use: fast, and gone with the process.
pub const MEMORY_STORAGE: &str = "memory://nisshi/";

/// The nisshi binary: `NISSHI_BIN` (set by the Makefile to the build of `shared/nisshi` as it is
/// now), else `nisshi` on `PATH`.
pub fn nisshi_bin() -> anyhow::Result<PathBuf> {
    crate::tool_bin("NISSHI_BIN", "nisshi")?.context(
            "the nisshi broker is not installed: run `make tools`, or run through `make`, which sets NISSHI_BIN",
        )
}

/// The command for a broker listening on `listen_port` that tells clients to connect to
/// `advertised` (the `kafka` proxy's address, so all traffic goes through the proxy).
/// `storage` is `MEMORY_STORAGE` or `sqlite://<file>` (relative to the command's working
/// directory).
pub fn command(listen_port: u16, advertised: &str, storage: &str) -> anyhow::Result<Command> {
    let mut command = Command::new(nisshi_bin()?);
    command
        .arg("broker")
        .args(["--listener-url", &format!("tcp://127.0.0.1:{listen_port}")])
        .args(["--advertised-listener-url", &format!("tcp://{advertised}")])
        .args(["--storage-engine", storage])
        // nisshi exports its own telemetry when this is set; the services' collector is not its.
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT");
    Ok(command)
}
