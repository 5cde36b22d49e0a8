//! The saga deadline. An order still PENDING past its `deadline_at` is cancelled with reason
//! `timeout`: `OrderCancelled` makes every participant compensate what it did, and the order
//! waits in CANCELLING for those compensations (`handlers::expire`). A CANCELLING order still
//! waiting a second deadline later is reported (log and `saga_cancelling_overdue`), never left
//! silently; `GET /orders?status=CANCELLING` lists it.

use std::time::Duration;

use platform::Shutdown;
use tracing::Instrument;

use crate::AppState;
use crate::handlers;

/// Checks once a second until `shutdown`.
pub async fn run(state: AppState, shutdown: Shutdown) {
    let mut overdue_before = 0;
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
        match overdue_cancellations(&state).await {
            Ok((count, oldest)) => {
                metrics::gauge!("saga_cancelling_overdue").set(count as f64);
                if count != overdue_before && count > 0 {
                    tracing::error!(
                        count,
                        ?oldest,
                        "orders still CANCELLING a saga deadline after their own: compensations missing"
                    );
                }
                overdue_before = count;
            }
            Err(error) => tracing::warn!(%error, "overdue cancellation check failed"),
        }
    }
}

/// Cancels up to 100 overdue orders in one transaction; returns how many.
pub async fn expire(state: &AppState) -> sqlx::Result<usize> {
    let mut tx = state.pool.begin().await?;
    let overdue: Vec<(uuid::Uuid, Option<String>)> = sqlx::query_as(
        "select id, traceparent from orders where status = 'PENDING' and deadline_at <= now()
         order by deadline_at limit 100 for update skip locked",
    )
    .fetch_all(&mut *tx)
    .await?;
    for (order_id, traceparent) in &overdue {
        // In the order's trace: its compensations follow from this span.
        let span = tracing::info_span!(
            "saga deadline",
            order_id = %order_id,
            trace_id = tracing::field::Empty,
        );
        platform::telemetry::continue_trace(&span, traceparent.as_deref());
        handlers::expire(&mut tx, &state.outbox, *order_id)
            .instrument(span)
            .await?;
    }
    tx.commit().await?;
    Ok(overdue.len())
}

/// How many orders are CANCELLING one saga deadline past their own, and the oldest of them.
async fn overdue_cancellations(state: &AppState) -> sqlx::Result<(i64, Option<uuid::Uuid>)> {
    sqlx::query_as(
        "select count(*), (array_agg(id order by deadline_at))[1] from orders
         where status = 'CANCELLING' and deadline_at <= now() - make_interval(secs => $1)",
    )
    .bind(state.saga_deadline.as_secs_f64())
    .fetch_one(&state.pool)
    .await
}
