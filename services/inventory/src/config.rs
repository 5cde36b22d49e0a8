//! Everything the inventory service reads from its environment, in one typed struct.

use clap::Parser;

/// Configuration from environment variables (or the matching flags; `--help` lists both).
#[derive(Clone, Debug, Parser)]
#[command(name = "inventory", version, about)]
pub struct Config {
    /// Address the HTTP API binds to; port 0 picks a free port (tests).
    #[arg(long, env = "HTTP_ADDR", default_value = "0.0.0.0:8082")]
    pub http_addr: String,
}
