//! What the leading relay does beside publishing: the backlog gauges and the retention purge.

use super::Relay;

impl Relay {
    /// The backlog gauges (once a second).
    pub(super) async fn record_backlog(&self) -> Result<(), sqlx::Error> {
        let (unpublished, oldest): (i64, Option<f64>) = sqlx::query_as(
            "select count(*), extract(epoch from now() - min(created_at))::float8
             from outbox where published_at is null",
        )
        .fetch_one(&self.pool)
        .await?;
        metrics::gauge!("outbox_unpublished", "service" => self.service.clone())
            .set(unpublished as f64);
        metrics::gauge!("outbox_oldest_unpublished_seconds", "service" => self.service.clone())
            .set(oldest.unwrap_or(0.0));
        Ok(())
    }

    /// Deletes published outbox rows and inbox rows past their retention windows (once a
    /// minute, by the leader).
    pub(super) async fn purge(&self) -> Result<(), sqlx::Error> {
        let outbox = sqlx::query(
            "delete from outbox
             where created_at < now() - make_interval(secs => $1) and published_at is not null",
        )
        .bind(self.config.retention.as_secs_f64())
        .execute(&self.pool)
        .await?
        .rows_affected();
        let inbox =
            sqlx::query("delete from inbox where processed_at < now() - make_interval(secs => $1)")
                .bind(self.config.inbox_retention.as_secs_f64())
                .execute(&self.pool)
                .await?
                .rows_affected();
        if outbox + inbox > 0 {
            tracing::info!(service = %self.service, outbox, inbox, "purged rows past retention");
        }
        Ok(())
    }
}
