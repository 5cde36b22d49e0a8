//! How a relay batches, backs off and keeps rows, and how it fails.

use std::time::Duration;

use rdkafka::error::KafkaError;
use resilience::RetryPolicy;

#[derive(Clone, Debug)]
pub struct RelayConfig {
    /// Most rows read and produced per round.
    pub batch_size: i64,
    /// Batches handed to the producer before the oldest must be acknowledged.
    pub in_flight_batches: usize,
    /// How often to look for rows when no notification came (a lost NOTIFY, a reconnect).
    pub poll_interval: Duration,
    /// How often a standby tries to become leader.
    pub standby_interval: Duration,
    /// Published outbox rows older than this are purged.
    pub retention: Duration,
    /// Inbox rows older than this are purged. An event redelivered after its row is gone would
    /// be applied again, so this must outlast the topics' own retention (Kafka's default: 7 days).
    pub inbox_retention: Duration,
    /// Waits between failed rounds (the broker or the database away).
    pub backoff: RetryPolicy,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            batch_size: 1000,
            in_flight_batches: 4,
            poll_interval: Duration::from_secs(1),
            standby_interval: Duration::from_secs(1),
            retention: Duration::from_secs(7 * 24 * 3600),
            inbox_retention: Duration::from_secs(7 * 24 * 3600),
            backoff: RetryPolicy {
                max_attempts: u32::MAX,
                initial_interval: Duration::from_millis(100),
                max_interval: Duration::from_secs(5),
                multiplier: 2.0,
                jitter: true,
            },
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("broker: {0}")]
    Broker(#[from] KafkaError),
    #[error("the session holding the leader lock is gone")]
    LockLost,
}
