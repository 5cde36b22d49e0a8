//! `chaos run [--scenario NAME]` (`make chaos`) and `chaos audit`: the chaos suite against the
//! running system, named by the variables of `.stack/env` (SPEC section 1).

use std::path::PathBuf;

use chaos::audit::{Auditor, Scope, Violation};
use chaos::control::{Compose, NativeStack, Processes};
use chaos::scenario::{self, Outcome, Scenario, Settings};
use chaos::target::Target;
use clap::builder::TypedValueParser as _;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(about = "The sagaworks chaos suite: faults under load, then an invariant audit")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the scenarios (all, or one), print a table, write the report; exit 1 on a violation.
    Run {
        /// Scenarios by name (comma-separated); all when absent.
        #[arg(long, env = "SCENARIO", value_parser = scenario_names(), value_delimiter = ',')]
        scenario: Vec<Scenario>,
        /// Orders per second of background load.
        #[arg(long, env = "CHAOS_RATE", default_value_t = 10.0)]
        rate: f64,
        /// Orders per scenario.
        #[arg(long, env = "CHAOS_ORDERS", default_value_t = 500)]
        orders: u64,
        /// The compose system: kill and restart with `docker compose`, cut containers off
        /// the network (instead of the native stack's pid files).
        #[arg(long)]
        compose: bool,
        /// The native stack's directory.
        #[arg(long, env = "STACK_DIR", default_value = ".stack")]
        stack_dir: PathBuf,
        #[arg(long, default_value = "target/chaos")]
        out: PathBuf,
    },
    /// Check every invariant over every order in the system (or those since a time) and print
    /// each violation; exit 1 if there is one.
    Audit {
        /// Only orders and events created since (RFC 3339).
        #[arg(long)]
        since: Option<chrono::DateTime<chrono::Utc>>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let target = Target::from_env()?;
    let clean = match args.command {
        Command::Audit { since } => {
            let auditor = Auditor::connect(&target.admin_database).await?;
            let violations = auditor
                .audit(&Scope {
                    since,
                    ..Scope::default()
                })
                .await?;
            for violation in &violations {
                println!("{violation}");
            }
            println!("==> {} violation(s)", violations.len());
            violations.is_empty()
        }
        Command::Run {
            scenario,
            rate,
            orders,
            compose,
            stack_dir,
            out,
        } => {
            anyhow::ensure!(rate > 0.0 && orders > 0, "rate and orders must be positive");
            let settings = Settings::full(rate, orders);
            let scenarios = if scenario.is_empty() {
                Scenario::all()
            } else {
                scenario
            };
            let outcomes = if compose {
                run_all(&scenarios, &target, &mut Compose::new()?, &settings).await?
            } else {
                run_all(
                    &scenarios,
                    &target,
                    &mut NativeStack::new(stack_dir)?,
                    &settings,
                )
                .await?
            };
            chaos::report::print_table(&outcomes);
            chaos::report::write(&outcomes, &out)?;
            println!("  report: {}", out.join("report.json").display());
            outcomes.iter().all(|o| o.violations.is_empty())
        }
    };
    if !clean {
        std::process::exit(1);
    }
    Ok(())
}

/// `--scenario`'s values, listed in `--help` and in the error for an unknown one.
fn scenario_names() -> impl clap::builder::TypedValueParser<Value = Scenario> {
    let names: Vec<String> = Scenario::all().iter().map(ToString::to_string).collect();
    clap::builder::PossibleValuesParser::new(names).map(|name| {
        name.parse::<Scenario>()
            .expect("one of the names just listed")
    })
}

async fn run_all<P: Processes>(
    scenarios: &[Scenario],
    target: &Target,
    processes: &mut P,
    settings: &Settings,
) -> anyhow::Result<Vec<Outcome>> {
    let mut outcomes = Vec::new();
    for &scenario in scenarios {
        // A scenario that cannot finish (the system did not come back) is a failure to report,
        // not a reason to skip the rest.
        let outcome = scenario::run(scenario, target, processes, settings)
            .await
            .unwrap_or_else(|error| {
                println!("==> {scenario}: could not finish: {error:#}");
                Outcome {
                    scenario: scenario.to_string(),
                    violations: vec![Violation {
                        invariant: 0,
                        subject: format!("scenario {scenario}"),
                        facts: format!("could not finish: {error:#}"),
                    }],
                    ..Outcome::default()
                }
            });
        outcomes.push(outcome);
    }
    Ok(outcomes)
}
