//! The saga deadline: an order still PENDING past its `deadline_at` is cancelled with reason
//! `timeout`, and its `OrderCancelled` makes every participant compensate what it did.

use std::time::Duration;

use events::reasons;
use platform::Shutdown;

use crate::handlers::finish;
use crate::orders::Status;
use crate::routes::AppState;

/// Checks once a second until `shutdown`.
pub async fn run(state: AppState, shutdown: Shutdown) {
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        match expire(&state).await {
            Ok(0) => {}
            Ok(expired) => tracing::warn!(expired, "orders cancelled past their saga deadline"),
            Err(error) => tracing::warn!(%error, "saga deadline check failed"),
        }
    }
}

/// Cancels up to 100 overdue orders in one transaction; returns how many.
pub async fn expire(state: &AppState) -> sqlx::Result<usize> {
    let mut tx = state.pool.begin().await?;
    let overdue: Vec<uuid::Uuid> = sqlx::query_scalar(
        "select id from orders where status = 'PENDING' and deadline_at <= now()
         order by deadline_at limit 100 for update skip locked",
    )
    .fetch_all(&mut *tx)
    .await?;
    for order_id in &overdue {
        finish(
            &mut tx,
            &state.outbox,
            *order_id,
            Status::Cancelled,
            Some(reasons::TIMEOUT),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(overdue.len())
}
