//! What the scenarios measure besides the invariants: outcomes, the outbox backlog, stock
//! totals and the replay fingerprint.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use events::PARTICIPANTS;

use super::{Auditor, Scope};

impl Auditor {
    /// The database's clock, which stamps every row the audit selects by time.
    pub async fn now(&self) -> anyhow::Result<DateTime<Utc>> {
        Ok(sqlx::query_scalar("select now()")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Unpublished outbox rows of all services.
    pub async fn backlog(&self) -> anyhow::Result<u64> {
        let mut total = 0;
        for service in PARTICIPANTS.iter().map(|p| p.name) {
            let count: i64 = sqlx::query_scalar(&format!(
                r#"select count(*) from "{service}".outbox where published_at is null"#
            ))
            .fetch_one(&self.pool)
            .await?;
            total += count as u64;
        }
        Ok(total)
    }

    /// How the orders in `scope` ended.
    pub async fn outcomes(&self, scope: &Scope) -> anyhow::Result<Outcomes> {
        let rows: Vec<(String, Option<String>, i64, Option<f64>)> = sqlx::query_as(
            r#"select status, cancel_reason, count(*),
                      max(extract(epoch from finished_at - created_at))::float8
               from "order".orders
               where $1::timestamptz is null or created_at >= $1 or id = any($2)
               group by 1, 2"#,
        )
        .bind(scope.since)
        .bind(&scope.accepted)
        .fetch_all(&self.pool)
        .await?;
        let mut outcomes = Outcomes::default();
        for (status, reason, count, longest) in rows {
            outcomes.orders += count as u64;
            match status.as_str() {
                "CONFIRMED" => outcomes.confirmed += count as u64,
                "CANCELLED" => {
                    *outcomes
                        .cancelled
                        .entry(reason.unwrap_or_else(|| "-".into()))
                        .or_default() += count as u64;
                }
                _ => {}
            }
            let longest_ms = (longest.unwrap_or(0.0) * 1000.0) as u64;
            outcomes.max_saga_ms = outcomes.max_saga_ms.max(longest_ms);
        }
        Ok(outcomes)
    }

    /// Per SKU, available + reserved + committed: the baseline of stock conservation.
    pub async fn stock_totals(&self) -> anyhow::Result<BTreeMap<String, i64>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "select sku, (available + reserved + committed)::bigint from inventory.products",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().collect())
    }

    /// Counts that any applied effect changes: rows by status in every table, the gateway's
    /// ledger, stock counters, timelines and outboxes. Equal before and after a replay means the
    /// replay changed nothing.
    pub async fn fingerprint(&self) -> anyhow::Result<BTreeMap<String, i64>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            r#"select 'orders ' || status || ' ' || coalesce(cancel_reason, '-'), count(*) from "order".orders group by 1
               union all select 'order timeline entries', count(*) from "order".order_timeline
               union all select 'reservations ' || status, count(*) from inventory.reservations group by 1
               union all select 'stock available', coalesce(sum(available), 0) from inventory.products
               union all select 'stock reserved', coalesce(sum(reserved), 0) from inventory.products
               union all select 'stock committed', coalesce(sum(committed), 0) from inventory.products
               union all select 'payments ' || status, count(*) from payment.payments group by 1
               union all select 'payment attempts', coalesce(sum(attempts), 0) from payment.payments
               union all select 'shipments ' || status, count(*) from shipping.shipments group by 1
               union all select 'gateway charges ' || status, count(*) from gateway.charges group by 1
               union all select 'gateway refunds', count(*) from gateway.refunds
               union all select 'order outbox', count(*) from "order".outbox
               union all select 'inventory outbox', count(*) from inventory.outbox
               union all select 'payment outbox', count(*) from payment.outbox
               union all select 'shipping outbox', count(*) from shipping.outbox"#,
        )
        .fetch_all(&self.pool)
        .await?;
        let mut fingerprint: BTreeMap<String, i64> = rows.into_iter().collect();
        // Every participant's own tables, so one added later is covered too.
        let tables: Vec<(String, String)> = sqlx::query_as(
            r#"select table_schema, table_name from information_schema.tables
               where table_schema = any($1) and table_type = 'BASE TABLE'
                 and table_name not in ('inbox', 'outbox', 'dlq_redrives', '_sqlx_migrations')"#,
        )
        .bind(PARTICIPANTS.iter().map(|p| p.name).collect::<Vec<_>>())
        .fetch_all(&self.pool)
        .await?;
        for (schema, table) in tables {
            let count: i64 =
                sqlx::query_scalar(&format!(r#"select count(*) from "{schema}"."{table}""#))
                    .fetch_one(&self.pool)
                    .await?;
            fingerprint.insert(format!("{schema}.{table} rows"), count);
        }
        Ok(fingerprint)
    }
}

/// How the orders of a scope ended.
#[derive(Clone, Debug, Default)]
pub struct Outcomes {
    pub orders: u64,
    pub confirmed: u64,
    /// CANCELLED by reason.
    pub cancelled: BTreeMap<String, u64>,
    /// The longest saga, placement to terminal status.
    pub max_saga_ms: u64,
}

/// What differs between two fingerprints, one line per count.
pub fn differences(before: &BTreeMap<String, i64>, after: &BTreeMap<String, i64>) -> String {
    let mut text = String::new();
    for key in before
        .keys()
        .chain(after.keys().filter(|k| !before.contains_key(*k)))
    {
        let (was, is) = (before.get(key), after.get(key));
        if was != is {
            let _ = write!(
                text,
                "{key}: {} -> {}; ",
                was.copied().unwrap_or(0),
                is.copied().unwrap_or(0)
            );
        }
    }
    text
}
