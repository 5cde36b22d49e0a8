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
    let args = Args::parse_from(std::env::args().map(go_flag));
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

/// Shopify's binary takes Go's flags, one dash or two (`-host=0.0.0.0`, `--port 8474`): a long
/// flag with one dash gets its second, so its command lines (and its image's) work unchanged.
fn go_flag(arg: String) -> String {
    let long_with_one_dash = arg.len() > 2 && arg.starts_with('-') && !arg.starts_with("--");
    if long_with_one_dash {
        format!("-{arg}")
    } else {
        arg
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Args, go_flag};

    #[test]
    fn takes_the_flags_of_shopifys_image_with_one_dash_or_two() {
        let line = [
            "/toxiproxy",
            "-host=0.0.0.0",
            "-config=/config/toxiproxy.json",
            "--port",
            "9000",
            "-h",
        ];
        let args = Args::try_parse_from(line.map(String::from).map(go_flag));
        // `-h` is help: a short flag stays one.
        assert_eq!(
            args.unwrap_err().kind(),
            clap::error::ErrorKind::DisplayHelp
        );
        let args = Args::parse_from(line[..5].iter().map(|arg| go_flag((*arg).to_owned())));
        assert_eq!(args.host, "0.0.0.0");
        assert_eq!(args.port, 9000);
        assert_eq!(
            args.config.unwrap().to_str(),
            Some("/config/toxiproxy.json")
        );
    }
}
