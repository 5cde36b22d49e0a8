//! A partition worker: each message to its end, in order, in one inbox transaction; retries,
//! upcasts and dead letters.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::FutureProducer;
use sqlx::{PgConnection, PgPool};
use tokio::sync::mpsc;
use tracing::Instrument;

use platform::Shutdown;

use super::{ConsumerConfig, Done, Handler, HandlerError};
use crate::envelope::{DecodeError, Event};

/// What every partition worker of one consumer shares.
pub(super) struct Runtime<H> {
    pub(super) config: ConsumerConfig,
    pub(super) pool: PgPool,
    pub(super) handler: Arc<H>,
    /// Where workers report processed messages; `run` stores their offsets.
    pub(super) done: mpsc::UnboundedSender<Done>,
    pub(super) producer: FutureProducer,
    pub(super) generation: Arc<AtomicU64>,
    pub(super) shutdown: Shutdown,
}

/// How one message ended.
enum Outcome {
    Applied,
    Duplicate,
    /// A type the handler ignores: nothing written.
    Ignored,
    /// Poison, or retries exhausted: to the DLQ.
    DeadLetter {
        error: String,
        attempts: u32,
    },
    /// Shutdown came during retries: leave the offset, the next owner re-reads it.
    Abandoned,
}

impl Outcome {
    /// As the message's span records it.
    fn name(&self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Duplicate => "duplicate",
            Outcome::Ignored => "ignored",
            Outcome::DeadLetter { .. } => "dead_letter",
            Outcome::Abandoned => "abandoned",
        }
    }
}

impl<H: Handler> Runtime<H> {
    pub(super) async fn partition_worker(
        self: Arc<Self>,
        mut messages: mpsc::Receiver<(u64, OwnedMessage)>,
    ) {
        loop {
            let (generation, message) = tokio::select! {
                _ = self.shutdown.wait() => return,
                next = messages.recv() => match next {
                    Some(next) => next,
                    None => return,
                },
            };
            if generation != self.generation.load(Ordering::SeqCst) {
                continue;
            }
            let decoded = Event::decode(&message).and_then(|event| self.upcast(event));
            let what = decoded
                .as_ref()
                .map_or(message.topic(), |e| e.event_type.as_str());
            let span = tracing::info_span!(
                "message",
                otel.name = format!("process {what}"),
                otel.kind = "consumer",
                messaging.system = "kafka",
                messaging.destination.name = message.topic(),
                messaging.destination.partition.id = message.partition(),
                messaging.kafka.offset = message.offset(),
                event_type = tracing::field::Empty,
                order_id = tracing::field::Empty,
                trace_id = tracing::field::Empty,
                outcome = tracing::field::Empty,
                otel.status_code = tracing::field::Empty,
            );
            if let Ok(event) = &decoded {
                span.record("event_type", event.event_type.as_str());
                span.record("order_id", event.subject.as_str());
            }
            // The handler's span continues the trace of the span that wrote the event.
            let traceparent = decoded
                .as_ref()
                .ok()
                .map(|event| event.traceparent.as_str());
            platform::telemetry::continue_trace(&span, traceparent);
            if !self.process(&message, decoded).instrument(span).await {
                return;
            }
        }
    }

    /// Handles one message to the end; returns false when shutdown interrupted it.
    async fn process(&self, message: &OwnedMessage, decoded: Result<Event, DecodeError>) -> bool {
        let (outcome, event) = match decoded {
            Err(error) => (
                Outcome::DeadLetter {
                    error: error.to_string(),
                    attempts: 1,
                },
                None,
            ),
            Ok(event) => {
                let outcome = if self.handler.ignores(&event.event_type) {
                    Outcome::Ignored
                } else {
                    self.apply(message, &event).await
                };
                (outcome, Some(event))
            }
        };
        let span = tracing::Span::current();
        span.record("outcome", outcome.name());
        if let Outcome::DeadLetter { .. } = outcome {
            span.record("otel.status_code", "ERROR");
        }
        let service = self.config.service.clone();
        match outcome {
            Outcome::Applied => {
                let event_type = event.map(|e| e.event_type).unwrap_or_default();
                metrics::counter!("inbox_processed_total", "service" => service, "type" => event_type)
                    .increment(1);
            }
            Outcome::Duplicate => {
                tracing::debug!("duplicate event skipped");
                metrics::counter!("inbox_duplicates_total", "service" => service).increment(1);
            }
            Outcome::Ignored => {
                metrics::counter!("inbox_ignored_total", "service" => service).increment(1);
            }
            Outcome::DeadLetter { error, attempts } => {
                tracing::error!(%error, attempts, "message dead-lettered");
                if !self.dead_letter(message, &error, attempts).await {
                    return false;
                }
                if let Some(event) = &event {
                    // Remembered so a redelivery is not dead-lettered twice.
                    let _ = self.record(message, event, true).await;
                }
            }
            Outcome::Abandoned => return false,
        }
        let done = (
            message.topic().to_owned(),
            message.partition(),
            message.offset(),
        );
        // Only fails once `run` stopped listening, when nothing is stored any more.
        let _ = self.done.send(done);
        true
    }

    fn upcast(&self, mut event: Event) -> Result<Event, DecodeError> {
        let mut steps = 0;
        while let Some(upcaster) = self.config.upcasters.get(&event.event_type) {
            steps += 1;
            if steps > 16 {
                return Err(DecodeError::InvalidHeader {
                    header: "ce_type",
                    reason: "upcasters loop".into(),
                });
            }
            upcaster(&mut event).map_err(|reason| DecodeError::InvalidHeader {
                header: "ce_type",
                reason,
            })?;
        }
        Ok(event)
    }

    /// Applies `event` once, retrying transient failures in place. While the database is
    /// unreachable the partition waits here, its offset unstored, for as long as it takes:
    /// those waits count no attempt.
    async fn apply(&self, message: &OwnedMessage, event: &Event) -> Outcome {
        let mut attempt = 0;
        let mut waits = 0;
        loop {
            let error = match self.try_apply(message, event).await {
                Ok(true) => return Outcome::Applied,
                Ok(false) => return Outcome::Duplicate,
                Err(HandlerError::Poison(error)) => {
                    return Outcome::DeadLetter {
                        error: format!("{error:#}"),
                        attempts: attempt + 1,
                    };
                }
                Err(HandlerError::Unavailable(error)) => {
                    waits += 1;
                    if waits == 1 || waits % 20 == 0 {
                        tracing::warn!(
                            error = format!("{error:#}"),
                            waits,
                            "database unavailable: the partition waits for it"
                        );
                    }
                    tokio::select! {
                        _ = self.shutdown.wait() => return Outcome::Abandoned,
                        _ = tokio::time::sleep(self.config.retry.delay(waits)) => {}
                    }
                    continue;
                }
                Err(HandlerError::Transient(error)) => error,
            };
            attempt += 1;
            if attempt >= self.config.retry.max_attempts {
                return Outcome::DeadLetter {
                    error: format!("retries exhausted: {error:#}"),
                    attempts: attempt,
                };
            }
            tracing::warn!(
                error = format!("{error:#}"),
                attempt,
                "handler failed, retrying"
            );
            tokio::select! {
                _ = self.shutdown.wait() => return Outcome::Abandoned,
                _ = tokio::time::sleep(self.config.retry.delay(attempt)) => {}
            }
        }
    }

    /// One inbox transaction. `Ok(false)`: the event was applied before.
    async fn try_apply(&self, message: &OwnedMessage, event: &Event) -> Result<bool, HandlerError> {
        let mut tx = self.pool.begin().await?;
        if !self.record_in(&mut tx, message, event, false).await? {
            return Ok(false);
        }
        self.handler.handle(&mut tx, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn record(
        &self,
        message: &OwnedMessage,
        event: &Event,
        dead: bool,
    ) -> sqlx::Result<bool> {
        let mut conn = self.pool.acquire().await?;
        self.record_in(&mut conn, message, event, dead).await
    }

    async fn record_in(
        &self,
        conn: &mut PgConnection,
        message: &OwnedMessage,
        event: &Event,
        dead: bool,
    ) -> sqlx::Result<bool> {
        let inserted = sqlx::query(
            "insert into inbox (event_id, event_type, topic, kafka_partition, kafka_offset, dead_lettered)
             values ($1, $2, $3, $4, $5, $6) on conflict (event_id) do nothing",
        )
        .bind(event.id)
        .bind(&event.event_type)
        .bind(message.topic())
        .bind(message.partition())
        .bind(message.offset())
        .bind(dead)
        .execute(conn)
        .await?;
        Ok(inserted.rows_affected() == 1)
    }
}
