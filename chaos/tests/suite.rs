//! The chaos suite in its reduced form, inside `make test`: the five service binaries as real
//! processes against this test's Postgres, broker (nisshi on `make up`'s durable `sqlite://`
//! engine) and Toxiproxy-API server, every scenario, with fewer orders, shorter holds and shorter
//! deadlines than `make chaos`. Then the auditor is shown to catch each
//! kind of violation, by breaking the state it audits.

mod processes;

use chaos::audit::{Auditor, Scope};
use chaos::scenario::{self, Scenario};
use chaos::target::Target;
use events::participants::consumers_of;
use processes::{assert_clean, settings, start_system};
use sqlx::PgPool;
use testkit::TestEnv;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_scenario_keeps_every_invariant_and_the_auditor_catches_each_violation() {
    let (mut system, target) = start_system(TestEnv::start_durable().await, &[], 1).await;

    // `SCENARIO=replay cargo test -p chaos --test suite` runs one scenario.
    let only = std::env::var("SCENARIO").ok();
    let mut outcomes = Vec::new();
    for scenario in Scenario::all().into_iter().filter(|scenario| {
        only.as_deref()
            .is_none_or(|only| only == scenario.to_string())
    }) {
        outcomes.push(
            scenario::run(scenario, &target, &mut system, &settings())
                .await
                .unwrap(),
        );
    }
    chaos::report::print_table(&outcomes);
    for outcome in &outcomes {
        if outcome.scenario == "partition-payment" {
            // Processes cannot be cut off the network; `make compose-test` runs it on containers.
            assert!(outcome.skipped.is_some(), "a partition of processes ran");
            continue;
        }
        if ["kill-one-replica", "rolling-restart"].contains(&outcome.scenario.as_str()) {
            // One replica of each service here; `tests/replicas.rs` runs them on two.
            assert!(outcome.skipped.is_some(), "{} ran", outcome.scenario);
            continue;
        }
        assert_clean(outcome);
    }
    if let Some(poison) = outcomes.iter().find(|o| o.scenario == "poison") {
        // To each topic: bytes that are no event, dead-lettered by every consumer group of the
        // topic; a version no consumer reads of the topic's first type, by the groups that
        // react to it; a type added later, by none. With the four saga services alone that is
        // (3 + 2 + 3 + 3) + (1 + 2 + 2 + 1).
        let expected: usize = events::TOPICS
            .iter()
            .map(|topic| {
                let first = *events::EventType::ALL
                    .iter()
                    .find(|t| t.topic() == *topic)
                    .unwrap();
                consumers_of(topic).count()
                    + consumers_of(topic)
                        .filter(|group| group.reacts_to.contains(&first))
                        .count()
            })
            .sum();
        assert_eq!(poison.dlq, expected);
    }

    drop(system);
    auditor_catches_each_violation(&target).await;
}

/// Breaks the state the suite left behind, one invariant at a time and each on an order of its
/// own, and checks the auditor names each break: an auditor that cannot fail would prove nothing.
/// The services are stopped first, so nothing repairs a break before the audit sees it.
async fn auditor_catches_each_violation(target: &Target) {
    let admin = PgPool::connect(&target.admin_database).await.unwrap();
    let auditor = Auditor::connect(&target.admin_database).await.unwrap();
    let scope = Scope {
        stock: Some(auditor.stock_totals().await.unwrap()),
        ..Scope::default()
    };
    assert_eq!(auditor.audit(&scope).await.unwrap(), vec![]);

    let mut confirmed: Vec<uuid::Uuid> = sqlx::query_scalar(
        r#"select id from "order".orders where status = 'CONFIRMED' order by created_at limit 20"#,
    )
    .fetch_all(&admin)
    .await
    .unwrap();

    // Each participant's own invariants (`migrations/<name>/invariants.sql`), broken by the
    // statement beside them (`invariants.break.sql`, on a confirmed order `$1`).
    let migrations = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    for participant in events::PARTICIPANTS {
        let path = migrations
            .join(participant.name)
            .join("invariants.break.sql");
        let Ok(sql) = std::fs::read_to_string(&path) else {
            continue;
        };
        let order = confirmed.pop().unwrap();
        let subject = format!("order {order}");
        let reported = |violations: &[chaos::audit::Violation]| {
            violations.iter().any(|v| v.subject == subject)
        };
        assert!(!reported(&auditor.audit(&scope).await.unwrap()));
        sqlx::query(&sql).bind(order).execute(&admin).await.unwrap();
        let violations = auditor.audit(&scope).await.unwrap();
        assert!(
            reported(&violations),
            "{} not reported for order {order}: {violations:#?}",
            path.display()
        );
    }

    // Invariant 1 per order: an end an hour past the order's own deadline is late.
    let late = confirmed.pop().unwrap();
    let shift = |sign: &str| {
        format!(
            r#"update "order".orders set deadline_at = deadline_at {sign} interval '1 hour' where id = $1"#
        )
    };
    sqlx::query(&shift("-"))
        .bind(late)
        .execute(&admin)
        .await
        .unwrap();
    let violations = auditor.audit(&scope).await.unwrap();
    assert!(
        violations.iter().any(|v| v.invariant == 1
            && v.subject == format!("order {late}")
            && v.facts.contains("past its own saga deadline")),
        "{violations:#?}"
    );
    sqlx::query(&shift("+"))
        .bind(late)
        .execute(&admin)
        .await
        .unwrap();

    let breaks: [(&str, u8); 6] = [
        (
            r#"update "order".orders set status = 'PENDING' where id = $1"#,
            1,
        ),
        (
            "update shipping.shipments set status = 'CANCELLED' where order_id = $1",
            2,
        ),
        (
            r#"update "order".orders set status = 'CANCELLED' where id = $1"#,
            3,
        ),
        (
            "update inventory.products set available = available + 1
             where sku = (select r.lines->0->>'sku' from inventory.reservations r where r.order_id = $1)",
            4,
        ),
        (
            "update inventory.outbox set published_at = null
             where id = (select min(id) from inventory.outbox where key = $1::text)",
            5,
        ),
        (
            "insert into payment.outbox (event_id, topic, key, event_type, source, payload, traceparent, published_at)
             select gen_random_uuid(), topic, key, event_type, source, payload, traceparent, published_at
             from payment.outbox where key = $1::text and event_type = 'payment.completed.v1'",
            6,
        ),
    ];
    for ((sql, invariant), order) in breaks.into_iter().zip(confirmed) {
        let reported = |violations: &[chaos::audit::Violation]| {
            violations.iter().any(|v| v.invariant == invariant)
        };
        assert!(!reported(&auditor.audit(&scope).await.unwrap()));
        let changed = sqlx::query(sql).bind(order).execute(&admin).await.unwrap();
        assert_eq!(changed.rows_affected(), 1, "{sql}");
        let violations = auditor.audit(&scope).await.unwrap();
        assert!(
            reported(&violations),
            "invariant {invariant} not reported for order {order} after `{sql}`: {violations:#?}"
        );
    }
}
