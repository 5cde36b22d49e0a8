//! The `Handler` a service implements and how its errors steer the consumer.

use sqlx::PgConnection;

use crate::envelope::Event;

/// What a service does with the events it consumes.
pub trait Handler: Send + Sync + 'static {
    /// Applies `event` inside the inbox transaction `tx`. Writes go through `tx` (state and
    /// outbox rows alike) so they commit with the inbox record or not at all. Events a service
    /// does not care about return `Ok(())`; types it has never heard of are
    /// `HandlerError::unknown_type`.
    fn handle(
        &self,
        tx: &mut PgConnection,
        event: &Event,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;

    /// Types this service has no use for. They are acknowledged with no transaction and no
    /// inbox row: applying one again changes as little as applying it once. Must be false for
    /// every version of a type the service acts on, so a version it cannot read yet is
    /// dead-lettered rather than lost (`events::reactions::ignores` is the saga's rule).
    fn ignores(&self, event_type: &str) -> bool {
        let _ = event_type;
        false
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Worth a few more tries (a deadlock, a serialization failure, a dependency's error); when
    /// they are used up, the message goes to the DLQ.
    #[error("{0:#}")]
    Transient(anyhow::Error),
    /// The database cannot be reached. Nothing is wrong with the message: the partition waits
    /// and retries until the database is back, however long that takes, and never dead-letters.
    #[error("{0:#}")]
    Unavailable(anyhow::Error),
    /// Retrying cannot help: the event is invalid for this consumer. Goes to the DLQ.
    #[error("{0:#}")]
    Poison(anyhow::Error),
}

impl HandlerError {
    pub fn poison(reason: impl std::fmt::Display) -> Self {
        Self::Poison(anyhow::anyhow!("{reason}"))
    }

    pub fn unknown_type(event: &Event) -> Self {
        Self::poison(format!("unknown event type `{}`", event.event_type))
    }
}

impl From<sqlx::Error> for HandlerError {
    /// By what went wrong: no connection is `Unavailable`; data the schema refuses (SQLSTATE
    /// class 22, data exception; 23502 and 23514, a null or a value a check refuses) is `Poison`,
    /// since the same message fails the same way every time; anything else is `Transient`,
    /// including unique and foreign-key violations, which a concurrent writer can cause (two
    /// topics' events for one order racing to insert its row) and a retry resolves.
    fn from(error: sqlx::Error) -> Self {
        let class = match &error {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_) => return Self::Unavailable(error.into()),
            sqlx::Error::Database(database) => database.code().map(|code| code.into_owned()),
            _ => None,
        };
        match class.as_deref().map(|code| code.get(..2).unwrap_or(code)) {
            // Connection exception; the server shutting down or not accepting connections yet
            // (57P01-57P03; 57014, a cancelled statement, stays transient); out of resources.
            Some("08" | "53") => Self::Unavailable(error.into()),
            Some("57") if class.as_deref() != Some("57014") => Self::Unavailable(error.into()),
            Some("22") => Self::Poison(error.into()),
            Some("23") if matches!(class.as_deref(), Some("23502" | "23514")) => {
                Self::Poison(error.into())
            }
            _ => Self::Transient(error.into()),
        }
    }
}

impl From<serde_json::Error> for HandlerError {
    /// Data that does not match the event's schema.
    fn from(error: serde_json::Error) -> Self {
        Self::Poison(anyhow::anyhow!("invalid event data: {error}"))
    }
}

/// Rewrites an event of an old version into the next one (type and data).
pub type Upcaster = fn(&mut Event) -> Result<(), String>;
