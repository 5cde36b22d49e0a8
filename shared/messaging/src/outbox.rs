//! The transactional outbox: an event is a row written by the business transaction itself, so it
//! exists exactly when the state change it announces committed. The relay publishes it later.

use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

/// Where one service's events go: its topic and CloudEvents source.
#[derive(Clone, Debug)]
pub struct Outbox {
    topic: String,
    source: String,
}

impl Outbox {
    /// `service`'s outbox, publishing to `topic` (e.g. `order`, `order.events`).
    pub fn new(service: &str, topic: &str) -> Self {
        Self {
            topic: topic.to_owned(),
            source: format!("/{service}"),
        }
    }

    /// Writes an event inside the caller's transaction (pass `&mut *tx`); returns its `ce_id`.
    /// `subject` is the aggregate id and the Kafka key. The event joins the current trace.
    #[tracing::instrument(
        name = "outbox.enqueue",
        skip_all,
        fields(otel.kind = "producer", subject = %subject, event_type = event_type.as_ref())
    )]
    pub async fn enqueue(
        &self,
        conn: &mut PgConnection,
        event_type: impl AsRef<str>,
        subject: Uuid,
        data: &impl Serialize,
    ) -> sqlx::Result<Uuid> {
        let event_id = Uuid::now_v7();
        let payload = serde_json::to_string(data).map_err(|e| sqlx::Error::Encode(e.into()))?;
        sqlx::query(
            "insert into outbox (event_id, topic, key, event_type, source, payload, traceparent)
             values ($1, $2, $3, $4, $5, $6::json, $7)",
        )
        .bind(event_id)
        .bind(&self.topic)
        .bind(subject.to_string())
        .bind(event_type.as_ref())
        .bind(&self.source)
        .bind(payload)
        .bind(platform::telemetry::traceparent())
        .execute(conn)
        .await?;
        Ok(event_id)
    }
}

/// Applies the messaging tables (`migrations/messaging`) and then `service_migrations`, each
/// with its own role, into its own schema. The two sets share sqlx's bookkeeping table, so each
/// ignores the other's versions (messaging owns version 1; services use timestamps).
pub async fn migrate(
    pool: &sqlx::PgPool,
    mut service_migrations: sqlx::migrate::Migrator,
) -> Result<(), sqlx::migrate::MigrateError> {
    let mut messaging = sqlx::migrate!("../../migrations/messaging");
    messaging.set_ignore_missing(true).run(pool).await?;
    service_migrations.set_ignore_missing(true).run(pool).await
}
