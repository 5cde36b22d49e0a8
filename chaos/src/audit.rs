//! The invariant auditor (SPEC section 7): reads every service's schema and the gateway's ledger,
//! in read-only transactions, and reports each broken invariant with the order and the facts.
//!
//! Invariant 7 (the DLQ holds exactly the poison injected) is about the broker, not the schemas:
//! `scenario` checks it around each run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Row};
use uuid::Uuid;

use events::PARTICIPANTS;

mod facts;
mod measure;

pub use facts::DRAIN;
use facts::OrderFacts;
pub use measure::{Outcomes, differences};

/// One broken invariant: its number in SPEC section 7, what it concerns (an order id, a SKU, an
/// event) and the facts that break it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Violation {
    pub invariant: u8,
    pub subject: String,
    pub facts: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "invariant {}: {}: {}",
            self.invariant, self.subject, self.facts
        )
    }
}

/// What one audit covers.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    /// Orders and events created from this moment on; everything when `None`.
    pub since: Option<DateTime<Utc>>,
    /// Orders the system answered 202 for: each must exist.
    pub accepted: Vec<Uuid>,
    /// Per SKU, available + reserved + committed when the scope began; stock must be conserved.
    pub stock: Option<BTreeMap<String, i64>>,
}

/// Reads the whole system's state through one superuser pool whose sessions are read-only.
#[derive(Clone, Debug)]
pub struct Auditor {
    pool: PgPool,
    /// Each participant's own invariants: (its `invariants.sql`, the query in it).
    own: Vec<(PathBuf, String)>,
}

impl Auditor {
    pub async fn connect(admin_url: &str) -> anyhow::Result<Self> {
        let options = PgConnectOptions::from_str(admin_url)?
            .options([("default_transaction_read_only", "on")])
            .application_name("chaos-auditor");
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        let migrations = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
        let own = PARTICIPANTS
            .iter()
            .map(|p| migrations.join(p.name).join("invariants.sql"))
            .filter_map(|path| Some((path.clone(), std::fs::read_to_string(path).ok()?)))
            .collect();
        Ok(Self { pool, own })
    }

    /// Every violation in `scope`, invariants 1-6.
    pub async fn audit(&self, scope: &Scope) -> anyhow::Result<Vec<Violation>> {
        let mut violations = Vec::new();
        self.orders(scope, &mut violations).await?;
        self.stock(scope, &mut violations).await?;
        self.events(scope, &mut violations).await?;
        self.participants_own(scope, &mut violations).await?;
        Ok(violations)
    }

    /// Each participant's own invariants: the query in `migrations/<name>/invariants.sql`, if it
    /// has one. It reads any schema, takes the scope (`$1`: since, `$2`: accepted order ids) and
    /// returns one row per broken invariant: `(invariant, subject, facts)`.
    async fn participants_own(
        &self,
        scope: &Scope,
        violations: &mut Vec<Violation>,
    ) -> anyhow::Result<()> {
        for (path, query) in &self.own {
            let broken: Vec<(i32, String, String)> = sqlx::query_as(query)
                .bind(scope.since)
                .bind(&scope.accepted)
                .fetch_all(&self.pool)
                .await
                .with_context(|| format!("{}", path.display()))?;
            violations.extend(
                broken
                    .into_iter()
                    .map(|(invariant, subject, facts)| Violation {
                        invariant: u8::try_from(invariant).unwrap_or(u8::MAX),
                        subject,
                        facts,
                    }),
            );
        }
        Ok(())
    }

    /// Audits until `settle` has passed with no violation (the sagas and their compensations have
    /// drained), or `patience` runs out: then returns what is still broken.
    pub async fn wait_clean(
        &self,
        scope: &Scope,
        patience: Duration,
        settle: Duration,
    ) -> anyhow::Result<Vec<Violation>> {
        let started = tokio::time::Instant::now();
        let mut clean_since: Option<tokio::time::Instant> = None;
        loop {
            let violations = self.audit(scope).await?;
            let now = tokio::time::Instant::now();
            if violations.is_empty() {
                let since = *clean_since.get_or_insert(now);
                if now - since >= settle {
                    return Ok(violations);
                }
            } else {
                clean_since = None;
                if now - started >= patience {
                    return Ok(violations);
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Invariant 1 for accepted orders that are not stored at all, then 1-3 and 6 per order.
    async fn orders(&self, scope: &Scope, violations: &mut Vec<Violation>) -> anyhow::Result<()> {
        let missing: Vec<Uuid> = sqlx::query_scalar(
            r#"select id from unnest($1::uuid[]) id
               where not exists (select 1 from "order".orders o where o.id = id)"#,
        )
        .bind(&scope.accepted)
        .fetch_all(&self.pool)
        .await?;
        violations.extend(missing.into_iter().map(|id| Violation {
            invariant: 1,
            subject: format!("order {id}"),
            facts: "accepted with 202 but not stored".into(),
        }));

        let facts: Vec<OrderFacts> = sqlx::query_as(
            r#"with charges as (
                   select c.order_id,
                          count(*) as charges,
                          count(*) filter (where c.status = 'captured') as captures,
                          coalesce(sum(c.amount_cents) filter (where c.status = 'captured'), 0)::bigint as captured_cents,
                          coalesce(sum(r.refunded), 0)::bigint as refunded_cents,
                          coalesce(max(r.refunds), 0) as most_refunds_per_charge
                   from gateway.charges c
                   left join lateral (
                       select sum(amount_cents) as refunded, count(*) as refunds
                       from gateway.refunds where charge_id = c.id
                   ) r on true
                   group by c.order_id
               )
               select o.id, o.status, o.cancel_reason, o.total_cents,
                      r.status as reservation, p.status as payment, s.status as shipment,
                      coalesce(c.charges, 0) as charges, coalesce(c.captures, 0) as captures,
                      coalesce(c.captured_cents, 0) as captured_cents,
                      coalesce(c.refunded_cents, 0) as refunded_cents,
                      coalesce(c.most_refunds_per_charge, 0) as most_refunds_per_charge,
                      extract(epoch from coalesce(o.finished_at, now()) - o.deadline_at)::float8
                          as past_deadline_secs
               from "order".orders o
               left join inventory.reservations r on r.order_id = o.id
               left join payment.payments p on p.order_id = o.id
               left join shipping.shipments s on s.order_id = o.id
               left join charges c on c.order_id = o.id
               where $1::timestamptz is null or o.created_at >= $1 or o.id = any($2)
               order by o.created_at"#,
        )
        .bind(scope.since)
        .bind(&scope.accepted)
        .fetch_all(&self.pool)
        .await?;
        for order in &facts {
            order.check(violations);
        }
        Ok(())
    }

    /// Invariant 4: each product's counters match the reservations behind them, and its total
    /// is what it was when the scope began.
    async fn stock(&self, scope: &Scope, violations: &mut Vec<Violation>) -> anyhow::Result<()> {
        let rows = sqlx::query(
            r#"with lines as (
                   select line->>'sku' as sku, r.status, sum((line->>'quantity')::bigint) as quantity
                   from inventory.reservations r, jsonb_array_elements(r.lines) line
                   where r.status in ('HELD', 'COMMITTED')
                   group by 1, 2
               )
               select p.sku, p.available::bigint, p.reserved::bigint, p.committed::bigint,
                      coalesce((select quantity from lines where sku = p.sku and status = 'HELD'), 0)::bigint as held,
                      coalesce((select quantity from lines where sku = p.sku and status = 'COMMITTED'), 0)::bigint as sold
               from inventory.products p order by p.sku"#,
        )
        .fetch_all(&self.pool)
        .await?;
        for row in rows {
            let sku: String = row.get("sku");
            let (available, reserved, committed, held, sold): (i64, i64, i64, i64, i64) = (
                row.get("available"),
                row.get("reserved"),
                row.get("committed"),
                row.get("held"),
                row.get("sold"),
            );
            let facts = format!(
                "available {available}, reserved {reserved} (held by reservations {held}), committed {committed} (by reservations {sold})"
            );
            let mut broken = |what: String| {
                violations.push(Violation {
                    invariant: 4,
                    subject: sku.clone(),
                    facts: format!("{what}: {facts}"),
                });
            };
            if reserved != held || committed != sold {
                broken("counters disagree with the reservations".into());
            }
            if let Some(initial) = scope.stock.as_ref().and_then(|stock| stock.get(&sku)) {
                let total = available + reserved + committed;
                if total != *initial {
                    broken(format!("not conserved: {total} units, was {initial}"));
                }
            }
        }
        Ok(())
    }

    /// Invariants 5 and 6 on the event log: every outbox row is published and applied by every
    /// service that reacts to its type (in that consumer's inbox, not dead-lettered; the other
    /// types are acknowledged without an inbox row); no service emitted two different events of
    /// one type for one order.
    async fn events(&self, scope: &Scope, violations: &mut Vec<Violation>) -> anyhow::Result<()> {
        for producer in PARTICIPANTS.iter().map(|p| p.name) {
            let unpublished: Vec<(i64, Option<DateTime<Utc>>)> = sqlx::query_as(&format!(
                r#"select count(*), min(created_at) from "{producer}".outbox
                   where published_at is null and ($1::timestamptz is null or created_at >= $1)"#
            ))
            .bind(scope.since)
            .fetch_all(&self.pool)
            .await?;
            if let Some((count, Some(oldest))) = unpublished.first().filter(|(n, _)| *n > 0) {
                violations.push(Violation {
                    invariant: 5,
                    subject: format!("{producer} outbox"),
                    facts: format!("{count} event(s) not published, oldest written {oldest}"),
                });
            }

            for (consumer, reacts_to) in PARTICIPANTS.iter().map(|p| (p.name, p.reacts_to)) {
                let lost: Vec<(Uuid, String, String)> = sqlx::query_as(&format!(
                    r#"select o.event_id, o.event_type, o.key from "{producer}".outbox o
                       where o.published_at is not null and o.event_type = any($2)
                         and ($1::timestamptz is null or o.created_at >= $1)
                         and not exists (select 1 from "{consumer}".inbox i
                                         where i.event_id = o.event_id and not i.dead_lettered)
                       order by o.id limit 20"#
                ))
                .bind(scope.since)
                .bind(reacts_to.iter().map(|t| t.as_str()).collect::<Vec<_>>())
                .fetch_all(&self.pool)
                .await?;
                violations.extend(lost.into_iter().map(|(id, event_type, key)| Violation {
                    invariant: 5,
                    subject: format!("event {id}"),
                    facts: format!(
                        "{event_type} of order {key} from {producer} published but not applied by {consumer}"
                    ),
                }));
            }

            let doubled: Vec<(String, String, i64)> = sqlx::query_as(&format!(
                r#"select key, event_type, count(distinct event_id) from "{producer}".outbox
                   where $1::timestamptz is null or created_at >= $1
                   group by key, event_type having count(distinct event_id) > 1
                   limit 20"#
            ))
            .bind(scope.since)
            .fetch_all(&self.pool)
            .await?;
            violations.extend(
                doubled
                    .into_iter()
                    .map(|(key, event_type, count)| Violation {
                        invariant: 6,
                        subject: format!("order {key}"),
                        facts: format!("{producer} emitted {count} different {event_type} events"),
                    }),
            );
        }
        Ok(())
    }
}
