//! The admin subcommands every service binary offers (`order replay ...`, `order dlq list`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::Subcommand;
use sqlx::PgPool;

use crate::admin::{self, ReplaySelection};

/// How long a service keeps what it has dealt with; `#[command(flatten)]` into its config.
#[derive(Clone, Copy, Debug, clap::Args)]
pub struct Retention {
    /// Days a published outbox row is kept (replay reaches back this far).
    #[arg(long, env = "OUTBOX_RETENTION_DAYS", default_value_t = 7.0)]
    pub outbox_retention_days: f64,
    /// Days an inbox row is kept. An event redelivered after its row is gone is applied again,
    /// so keep this at least as long as the topics keep messages.
    #[arg(long, env = "INBOX_RETENTION_DAYS", default_value_t = 7.0)]
    pub inbox_retention_days: f64,
    /// Days the broker keeps a dead letter (`retention.ms` of the service's DLQ topic, set when
    /// the topic is created): long enough for someone to look, since only a person re-drives.
    #[arg(long, env = "DLQ_RETENTION_DAYS", default_value_t = 30.0)]
    pub dlq_retention_days: f64,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            outbox_retention_days: 7.0,
            inbox_retention_days: 7.0,
            dlq_retention_days: 30.0,
        }
    }
}

impl Retention {
    /// The windows as durations, each named in the error when it is not a number of days.
    pub(crate) fn windows(&self) -> anyhow::Result<[Duration; 3]> {
        let days = |value: f64, name: &str| {
            Duration::try_from_secs_f64(value * 86_400.0)
                .map_err(|_| anyhow::anyhow!("{name} must be a non-negative number of days"))
        };
        Ok([
            days(self.outbox_retention_days, "OUTBOX_RETENTION_DAYS")?,
            days(self.inbox_retention_days, "INBOX_RETENTION_DAYS")?,
            days(self.dlq_retention_days, "DLQ_RETENTION_DAYS")?,
        ])
    }
}

#[derive(Clone, Debug, Subcommand)]
pub enum AdminCommand {
    /// Re-publishes this service's outbox events (all given filters must match).
    Replay {
        /// Only the events of this aggregate (order id).
        #[arg(long)]
        aggregate: Option<String>,
        /// Only events written at or after this time (RFC 3339).
        #[arg(long)]
        since: Option<DateTime<Utc>>,
        /// Only events written before this time (RFC 3339).
        #[arg(long)]
        until: Option<DateTime<Utc>>,
    },
    /// Reads this service's dead letters.
    #[command(subcommand)]
    Dlq(DlqCommand),
}

#[derive(Clone, Debug, Subcommand)]
pub enum DlqCommand {
    /// Prints every dead letter as one JSON line.
    List,
    /// Publishes one dead letter back to its original topic, for this service to apply again;
    /// recorded in its `dlq_redrives` table.
    Redrive {
        #[arg(long)]
        partition: i32,
        #[arg(long)]
        offset: i64,
        /// Who re-drives it, for the record.
        #[arg(long, env = "USER", default_value = "unknown")]
        by: String,
    },
}

/// Runs `command` for the service whose database is `pool` and whose consumer group is `group`.
pub async fn run(
    command: AdminCommand,
    pool: &PgPool,
    brokers: &str,
    group: &str,
) -> anyhow::Result<()> {
    match command {
        AdminCommand::Replay {
            aggregate,
            since,
            until,
        } => {
            let selection = ReplaySelection {
                aggregate,
                since,
                until,
            };
            let count = admin::replay(pool, &selection).await?;
            println!("{count} event(s) marked for re-publishing; the running relay sends them");
        }
        AdminCommand::Dlq(DlqCommand::List) => {
            for letter in admin::dlq_list(brokers, group).await? {
                println!("{}", serde_json::to_string(&letter)?);
            }
        }
        AdminCommand::Dlq(DlqCommand::Redrive {
            partition,
            offset,
            by,
        }) => {
            let topic = admin::dlq_redrive(pool, brokers, group, partition, offset, &by).await?;
            println!("re-drove partition {partition} offset {offset} to {topic}");
        }
    }
    Ok(())
}
