//! The suite's table and `target/chaos/report.json` (SPEC section 8).

use std::path::Path;

use crate::scenario::Outcome;

/// Short names for cancel reasons, so a row fits a terminal.
const REASONS: [(&str, &str); 5] = [
    ("out_of_stock", "stock"),
    ("payment_declined", "declined"),
    ("shipping_unavailable", "unship"),
    ("payment_unavailable", "unavail"),
    ("timeout", "timeout"),
];

fn cancelled(outcome: &Outcome) -> String {
    let parts: Vec<String> = outcome
        .cancelled
        .iter()
        .map(|(reason, count)| {
            let short = REASONS
                .iter()
                .find(|(long, _)| long == reason)
                .map_or(reason.as_str(), |(_, short)| short);
            format!("{short} {count}")
        })
        .collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(", ")
    }
}

pub fn print_table(outcomes: &[Outcome]) {
    println!();
    println!(
        "  {:<20} {:>6} {:>9}  {:<46} {:>8} {:>7} {:>7} {:>4} {:>10}",
        "SCENARIO",
        "ORDERS",
        "CONFIRMED",
        "CANCELLED BY REASON",
        "MAX SAGA",
        "BREAKER",
        "BACKLOG",
        "DLQ",
        "VIOLATIONS"
    );
    for outcome in outcomes {
        if let Some(why) = &outcome.skipped {
            println!("  {:<20} skipped: {why}", outcome.scenario);
            continue;
        }
        println!(
            "  {:<20} {:>6} {:>9}  {:<46} {:>7.1}s {:>7} {:>7} {:>4} {:>10}",
            outcome.scenario,
            outcome.orders,
            outcome.confirmed,
            cancelled(outcome),
            outcome.max_saga_ms as f64 / 1000.0,
            outcome.breaker_transitions,
            outcome.max_backlog,
            outcome.dlq,
            outcome.violations.len()
        );
    }
    println!();
    println!(
        "  BREAKER: circuit-breaker transitions; BACKLOG: most unpublished outbox events seen; \
         reasons: stock = out_of_stock, unship = shipping_unavailable, unavail = payment_unavailable"
    );
}

/// Writes `<dir>/report.json`: one object per scenario, with the SPEC fields first.
pub fn write(outcomes: &[Outcome], dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let rows: Vec<serde_json::Value> = outcomes
        .iter()
        .map(|outcome| {
            serde_json::json!({
                "scenario": outcome.scenario,
                "orders": outcome.orders,
                "confirmed": outcome.confirmed,
                "cancelled": outcome.cancelled.values().sum::<u64>(),
                "dlq": outcome.dlq,
                "violations": outcome.violations.len(),
                "cancelled_by_reason": outcome.cancelled,
                "max_saga_ms": outcome.max_saga_ms,
                "rejected_requests": outcome.rejected,
                "breaker_transitions": outcome.breaker_transitions,
                "max_outbox_backlog": outcome.max_backlog,
                "violation_details": outcome.violations,
                "seconds": outcome.seconds,
                "skipped": outcome.skipped,
            })
        })
        .collect();
    std::fs::write(
        dir.join("report.json"),
        serde_json::to_string_pretty(&rows)?,
    )?;
    Ok(())
}
