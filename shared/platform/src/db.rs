//! The database pool every service uses.

use std::str::FromStr;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// The longest one statement may run, and a transaction may sit idle, before the server ends
/// it: a stuck query or a task that forgot its transaction must not hold row locks for ever.
const STATEMENT_TIMEOUT: &str = "15s";
const IDLE_IN_TRANSACTION_TIMEOUT: &str = "60s";

/// A pool for `url`. Waiting for a connection is bounded, so a request during a database outage
/// fails with a 503 in seconds instead of hanging; at start the database gets `patience` to
/// appear (a container starting next to it, a proxy cut by the chaos suite).
pub async fn connect(url: &str, max_connections: u32, patience: Duration) -> sqlx::Result<PgPool> {
    let connect = PgConnectOptions::from_str(url)?.options([
        ("statement_timeout", STATEMENT_TIMEOUT),
        (
            "idle_in_transaction_session_timeout",
            IDLE_IN_TRANSACTION_TIMEOUT,
        ),
    ]);
    let options = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(3));
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        match options.clone().connect_with(connect.clone()).await {
            Ok(pool) => return Ok(pool),
            Err(error) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(%error, "database not reachable yet, retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(error) => return Err(error),
        }
    }
}
