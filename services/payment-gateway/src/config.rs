//! Everything the payment-gateway service reads from its environment, in one typed struct.

use clap::Parser;
use platform::admin::AdminAuth;

/// Configuration from environment variables (or the matching flags; `--help` lists both).
#[derive(Clone, Debug, Parser)]
#[command(name = "payment-gateway", version, about)]
pub struct Config {
    /// Address the HTTP API binds to; port 0 picks a free port (tests).
    #[arg(long, env = "HTTP_ADDR", default_value = "0.0.0.0:8090")]
    pub http_addr: String,
    /// The ledger's database (role and schema `gateway`). It is the PSP's own, so it is not
    /// reached through the chaos proxies.
    #[arg(long, env = "GATEWAY_DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// Guards `/admin/faults`.
    #[command(flatten)]
    pub admin_auth: AdminAuth,
}
