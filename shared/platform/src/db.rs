//! The database pool every service uses.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

/// A pool for `url`. Waiting for a connection is bounded, so a request during a database outage
/// fails with a 503 in seconds instead of hanging; at start the database gets `patience` to
/// appear (a container starting next to it, a proxy cut by the chaos suite).
pub async fn connect(url: &str, max_connections: u32, patience: Duration) -> sqlx::Result<PgPool> {
    let options = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(3));
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        match options.clone().connect(url).await {
            Ok(pool) => return Ok(pool),
            Err(error) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(%error, "database not reachable yet, retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(error) => return Err(error),
        }
    }
}
