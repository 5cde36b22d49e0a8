//! `make demo`: one order down each saga path of SPEC section 3 against the running system, then
//! a table of how each ended.

use std::time::Duration;

use loadtest::{Client, Endpoints, order_request};

/// (path, sku, quantity, card, country, expected status, expected reason)
const PATHS: [(&str, &str, i64, &str, &str, &str, &str); 4] = [
    ("happy", "SKU-BOLT", 2, "tok_visa", "DE", "CONFIRMED", "-"),
    (
        "out of stock",
        "SKU-ANVIL",
        1000,
        "tok_visa",
        "DE",
        "CANCELLED",
        "out_of_stock",
    ),
    (
        "declined",
        "SKU-DRILL",
        1,
        "tok_declined",
        "FR",
        "CANCELLED",
        "payment_declined",
    ),
    (
        "unshippable",
        "SKU-ROPE",
        1,
        "tok_visa",
        "AQ",
        "CANCELLED",
        "shipping_unavailable",
    ),
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let client = Client::new(Endpoints::from_env());
    // The out-of-stock order asks for 1000 anvils: keep fewer than that in stock.
    let anvils = client
        .products()
        .await?
        .into_iter()
        .find(|product| product["sku"] == "SKU-ANVIL")
        .and_then(|product| product["available"].as_i64())
        .unwrap_or(0);
    if anvils >= 1000 {
        client.set_stock("SKU-ANVIL", 999).await?;
    }

    let mut rows = Vec::new();
    let mut placed = Vec::new();
    for (path, sku, quantity, card, country, status, reason) in PATHS {
        let id = client
            .place(&order_request(sku, quantity, card, country))
            .await?;
        println!("==> {path}: placed order {id}");
        placed.push((path, id, status, reason));
    }
    for (path, id, status, reason) in placed {
        let (order, _) = client.wait_finished(id, Duration::from_secs(120)).await?;
        rows.push(row(path, &order, status, reason));
    }

    println!(
        "==> gateway down: the simulator answers 503 until the payment deadline passes (about 45 s)"
    );
    client
        .gateway_faults(Some(serde_json::json!({"down": true})))
        .await?;
    let outcome = async {
        let id = client
            .place(&order_request("SKU-GLOVES", 1, "tok_visa", "NL"))
            .await?;
        println!("==> gateway down: placed order {id}");
        client.wait_finished(id, Duration::from_secs(180)).await
    }
    .await;
    client.gateway_faults(None).await?;
    let (order, _) = outcome?;
    rows.push(row(
        "gateway down",
        &order,
        "CANCELLED",
        "payment_unavailable",
    ));

    println!();
    println!(
        "  {:<14} {:<10} {:<22} {:>9}  AS EXPECTED",
        "PATH", "STATUS", "REASON", "TOOK"
    );
    let mut all_expected = true;
    for (line, expected) in rows {
        println!("{line}  {}", if expected { "yes" } else { "NO" });
        all_expected &= expected;
    }
    anyhow::ensure!(all_expected, "some path did not end as SPEC section 3 says");
    Ok(())
}

/// The table line for `order`, and whether it ended as expected. The time is the saga's own:
/// from the order's creation to its terminal status, both stamped by the order service.
fn row(path: &str, order: &serde_json::Value, status: &str, reason: &str) -> (String, bool) {
    let actual_status = order["status"].as_str().unwrap_or("?");
    let actual_reason = order["cancel_reason"].as_str().unwrap_or("-");
    let stamp = |field: &str| {
        order[field]
            .as_str()
            .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
    };
    let took = match (stamp("created_at"), stamp("finished_at")) {
        (Some(created), Some(finished)) => {
            format!("{} ms", (finished - created).num_milliseconds())
        }
        _ => "?".to_owned(),
    };
    let line = format!("  {path:<14} {actual_status:<10} {actual_reason:<22} {took:>9}");
    (line, actual_status == status && actual_reason == reason)
}
