//! `make demo`: one order down each saga path of SPEC section 3 against the running system (and
//! one after the gateway is back, which closes the payment breaker), then a table of how each
//! ended.

use std::sync::LazyLock;
use std::time::Duration;

use events::Participant;
use loadtest::{Client, Endpoints, order_request};
use uuid::Uuid;

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
        rows.push(row(path, &order, status, reason, &shown(id).await));
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
        let (order, _) = client.wait_finished(id, Duration::from_secs(180)).await?;
        anyhow::Ok((order, id))
    }
    .await;
    client.gateway_faults(None).await?;
    let (order, id) = outcome?;
    rows.push(row(
        "gateway down",
        &order,
        "CANCELLED",
        "payment_unavailable",
        &shown(id).await,
    ));

    // The breaker is still open (up to 30 s): an order now waits for its half-open probe and
    // closes it, so the demo shows the recovery and leaves a healthy system to what runs next.
    println!("==> gateway back: the breaker lets a probe through within 30 s and closes");
    let id = client
        .place(&order_request("SKU-GLOVES", 1, "tok_visa", "NL"))
        .await?;
    println!("==> gateway back: placed order {id}");
    let (order, _) = client.wait_finished(id, Duration::from_secs(120)).await?;
    rows.push(row(
        "gateway back",
        &order,
        "CONFIRMED",
        "-",
        &shown(id).await,
    ));

    println!();
    let columns: String = COLUMNS
        .iter()
        .map(|(participant, _, _)| format!(" {:<13}", participant.name.to_uppercase()))
        .collect();
    println!(
        "  {:<14} {:<10} {:<22} {:>9}{columns}  AS EXPECTED",
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

/// The participants' own columns (`Participant::demo_column`): each, its base URL, the resource
/// of an order and the field shown.
static COLUMNS: LazyLock<Vec<(&Participant, String, &str)>> = LazyLock::new(|| {
    events::PARTICIPANTS
        .iter()
        .filter_map(|participant| {
            let (path, field) = participant.demo_column?;
            let base = std::env::var(participant.url_var())
                .unwrap_or_else(|_| format!("http://127.0.0.1:{}", participant.port));
            Some((participant, format!("{base}{path}"), field))
        })
        .collect()
});

/// What each participant of `COLUMNS` shows of order `id`: its field once the resource exists
/// (waiting up to 10 s: it follows the order's end through the broker), `-` if it does not.
async fn shown(id: Uuid) -> String {
    let http = reqwest::Client::new();
    let mut cells = String::new();
    for (_, url, field) in COLUMNS.iter() {
        let url = url.replace("{order_id}", &id.to_string());
        let mut value = "-".to_owned();
        for _ in 0..50 {
            let response = http.get(&url).send().await;
            if let Ok(response) = response.and_then(|r| r.error_for_status()) {
                let body: serde_json::Value = response.json().await.unwrap_or_default();
                value = body[field].as_str().unwrap_or("?").to_owned();
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        cells.push_str(&format!(" {value:<13}"));
    }
    cells
}

/// The table line for `order`, and whether it ended as expected. The time is the saga's own:
/// from the order's creation to its terminal status, both stamped by the order service.
fn row(
    path: &str,
    order: &serde_json::Value,
    status: &str,
    reason: &str,
    cells: &str,
) -> (String, bool) {
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
    let line = format!("  {path:<14} {actual_status:<10} {actual_reason:<22} {took:>9}{cells}");
    (line, actual_status == status && actual_reason == reason)
}
