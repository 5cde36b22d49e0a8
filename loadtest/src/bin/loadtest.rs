//! `make loadtest`: open-model load against the running system (`RATE=` orders/s for
//! `DURATION=` seconds), then a table, `target/loadtest/report.json` and a latency plot.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use loadtest::load::{self, LoadConfig};
use loadtest::{Client, Endpoints};

#[derive(Debug, Parser)]
#[command(about = "Open-model load against POST /orders; saga latency from order.events")]
struct Args {
    /// Orders per second, sent on schedule whatever the response times.
    #[arg(long, env = "RATE", default_value_t = 50.0)]
    rate: f64,
    /// Seconds of load.
    #[arg(long, env = "DURATION", default_value_t = 60)]
    duration: u64,
    /// Seconds at the start that are not recorded.
    #[arg(long, env = "WARMUP", default_value_t = 5)]
    warmup: u64,
    /// Weights of the happy, out-of-stock, declined and unshippable paths.
    #[arg(long, env = "MIX", default_value = "85,5,5,5", value_delimiter = ',')]
    mix: Vec<u32>,
    /// How many SKUs happy orders spread over (1 to 7).
    #[arg(long, env = "SKUS", default_value_t = 7)]
    skus: usize,
    /// Kafka bootstrap servers, to read order.events.
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    brokers: String,
    /// Where the report and the plot go.
    #[arg(long, default_value = "target/loadtest")]
    out: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.rate > 0.0, "RATE must be positive");
    let mix: [u32; 4] = args.mix.clone().try_into().map_err(|_| {
        anyhow::anyhow!("MIX needs four weights: happy,out_of_stock,declined,unshippable")
    })?;
    let config = LoadConfig {
        rate: args.rate,
        duration: Duration::from_secs(args.duration),
        warmup: Duration::from_secs(args.warmup),
        mix,
        skus: args.skus,
        drain: Duration::from_secs(90),
        brokers: args.brokers,
    };
    println!(
        "==> {} orders/s for {} s (first {} s not recorded), mix {:?}",
        config.rate, args.duration, args.warmup, config.mix
    );
    let client = Client::new(Endpoints::from_env());
    load::stock_up(&client).await?;
    let recorder = load::run(&client, &config).await?;
    recorder.print_table();
    recorder.write(&args.out)?;
    println!();
    println!("  report: {}", args.out.join("report.json").display());
    println!("  plot:   {}", args.out.join("latency.svg").display());
    Ok(())
}
