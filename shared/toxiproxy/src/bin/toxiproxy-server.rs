//! `toxiproxy-server`: the Toxiproxy API on noxious, with the flags of Shopify's binary.

use clap::Parser;
use platform::Shutdown;
use toxiproxy::{ProxySpec, Registry};

/// A Toxiproxy-API-compatible proxy server.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Host the API listens on.
    #[arg(long, env = "TOXIPROXY_HOST", default_value = "127.0.0.1")]
    host: String,
    /// Port the API listens on.
    #[arg(long, env = "TOXIPROXY_PORT", default_value_t = 8474)]
    port: u16,
    /// A JSON file of proxies to create at start (the format of `POST /populate`).
    #[arg(long, env = "TOXIPROXY_CONFIG")]
    config: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::telemetry::init_logs();
    let args = Args::parse();
    let registry = Registry::new();
    if let Some(path) = &args.config {
        let text = std::fs::read_to_string(path)
            .map_err(|error| anyhow::anyhow!("cannot read {}: {error}", path.display()))?;
        let proxies: Vec<ProxySpec> = serde_json::from_str(&text).map_err(|error| {
            anyhow::anyhow!("{} is not a list of proxies: {error}", path.display())
        })?;
        for proxy in registry.populate(proxies).await? {
            tracing::info!(name = %proxy.name, listen = %proxy.listen, upstream = %proxy.upstream, "proxy created");
        }
    }
    let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port)).await?;
    tracing::info!(address = %listener.local_addr()?, "toxiproxy API listening");
    toxiproxy::serve(listener, registry, Shutdown::on_signals()).await?;
    Ok(())
}
