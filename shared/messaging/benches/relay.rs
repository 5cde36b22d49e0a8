//! `make bench`, relay entry: outbox relay throughput against two baselines, measured in one run
//! on the same Postgres cluster and broker (started here, as the tests do, through the proxies):
//!
//! - ours: `Relay::run_until_empty` over 50,000 pre-inserted events of about 400 bytes, the
//!   median of 5 rounds;
//! - naive: what the seeds do, 100 rows `for update skip locked`, each produced and awaited,
//!   each row updated, over 5,000 events (at its speed, 50,000 would take minutes; the rate is
//!   what is compared);
//! - raw produce: the same 50,000 messages from memory with no database, the ceiling; the median
//!   of 5 rounds, each right after one of ours.
//!
//! Prints a table and writes `target/bench/relay.json` (SPEC section 8).

use std::time::{Duration, Instant};

use messaging::{Relay, RelayConfig};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

const EVENTS: i64 = 50_000;
const NAIVE_EVENTS: i64 = 5_000;
const TOPIC: &str = "bench.events";
const ROUNDS: usize = 5;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    println!("==> starting Postgres, the broker and the proxies");
    let env = testkit::TestEnv::start().await;
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect(&env.database_url("order"))
        .await?;
    messaging::migrate(&pool, sqlx::migrate!("tests/migrations")).await?;
    messaging::kafka::ensure_topics(env.kafka_brokers(), &[TOPIC], None).await?;

    // This machine's throughput drifts from run to run; ours and raw produce alternate over
    // ROUNDS rounds and each is reported by its median, so the ratio compares like with like.
    let mut relay = Relay::new(
        "bench",
        pool.clone(),
        env.kafka_brokers(),
        RelayConfig::default(),
    )?;
    let producer = messaging::kafka::producer(env.kafka_brokers())?;
    let payload = sample_payload();
    let (mut ours, mut raw) = (Vec::new(), Vec::new());
    for round in 1..=ROUNDS {
        println!(
            "==> round {round}/{ROUNDS}: ours over {EVENTS} pre-inserted events, then raw produce"
        );
        insert(&pool, EVENTS).await?;
        let started = Instant::now();
        let published = relay.run_until_empty().await?;
        anyhow::ensure!(published as i64 == EVENTS, "ours published {published}");
        ours.push(rate(EVENTS, started.elapsed()));
        raw.push(raw_produce(&producer, &payload).await?);
    }
    let (ours, raw) = (median(ours), median(raw));

    println!("==> naive: inserting {NAIVE_EVENTS} events, then relaying them one by one");
    insert(&pool, NAIVE_EVENTS).await?;
    let naive_producer: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", env.kafka_brokers())
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .create()?;
    let started = Instant::now();
    let published = naive_relay(&pool, &naive_producer).await?;
    let naive = rate(published, started.elapsed());
    anyhow::ensure!(published == NAIVE_EVENTS, "naive published {published}");

    println!();
    println!("  {:<14} {:>12} {:>10}", "RELAY", "EVENTS/S", "VS OURS");
    for (name, value) in [("ours", ours), ("naive", naive), ("raw produce", raw)] {
        println!("  {name:<14} {value:>12.0} {:>9.2}x", value / ours);
    }
    println!();
    println!("  ours / naive = {:.1}x (target >= 10x)", ours / naive);
    println!(
        "  ours / raw   = {:.0}% (target >= 50%)",
        100.0 * ours / raw
    );
    let report = serde_json::json!({
        "events": EVENTS,
        "rounds": ROUNDS,
        "naive_events": NAIVE_EVENTS,
        "ours_per_s": ours.round(),
        "naive_per_s": naive.round(),
        "raw_produce_per_s": raw.round(),
        "ours_vs_naive": ours / naive,
        "ours_vs_raw": ours / raw,
    });
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("relay.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    println!("  written to target/bench/relay.json");
    Ok(())
}

/// The same messages as the outbox rows, produced from memory with no database: the ceiling.
async fn raw_produce(producer: &FutureProducer, payload: &str) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut deliveries = Vec::with_capacity(EVENTS as usize);
    for i in 0..EVENTS {
        let key = format!("key-{}", i % 1000);
        let record = FutureRecord::to(TOPIC)
            .key(&key)
            .payload(payload)
            .headers(headers());
        deliveries.push(producer.send_result(record).map_err(|(error, _)| error)?);
    }
    for delivery in deliveries {
        delivery.await?.map_err(|(error, _)| error)?;
    }
    Ok(rate(EVENTS, started.elapsed()))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn rate(events: i64, elapsed: Duration) -> f64 {
    events as f64 / elapsed.as_secs_f64()
}

/// `count` unpublished events of about 400 bytes each, over 1,000 keys.
async fn insert(pool: &PgPool, count: i64) -> sqlx::Result<()> {
    sqlx::query(
        "insert into outbox (event_id, topic, key, event_type, source, payload, traceparent)
         select gen_random_uuid(), $2, 'key-' || (i % 1000), 'bench.happened.v1', '/bench',
                json_build_object('order_id', gen_random_uuid(), 'seq', i, 'pad', repeat('x', 300)),
                '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'
         from generate_series(1, $1) as i",
    )
    .bind(count)
    .bind(TOPIC)
    .execute(pool)
    .await?;
    Ok(())
}

/// The seeds' relay: a batch of 100 locked rows, each produced and awaited, each row updated.
async fn naive_relay(pool: &PgPool, producer: &FutureProducer) -> anyhow::Result<i64> {
    let mut published = 0;
    loop {
        let mut tx = pool.begin().await?;
        let rows: Vec<(i64, String, String, String)> = sqlx::query_as(
            "select id, topic, key, payload::text from outbox where published_at is null
             order by id limit 100 for update skip locked",
        )
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            return Ok(published);
        }
        for (id, topic, key, payload) in rows {
            let record = FutureRecord::to(&topic)
                .key(&key)
                .payload(&payload)
                .headers(headers());
            producer
                .send(record, Duration::from_secs(10))
                .await
                .map_err(|(error, _)| error)?;
            sqlx::query("update outbox set published_at = now() where id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            published += 1;
        }
        tx.commit().await?;
    }
}

fn headers() -> OwnedHeaders {
    let header = |key, value| Header {
        key,
        value: Some(value),
    };
    OwnedHeaders::new()
        .insert(header("ce_id", "5d5b1ee4-3d4f-4d0c-9b6e-1c7c0b0e2a10"))
        .insert(header("ce_type", "bench.happened.v1"))
        .insert(header("ce_source", "/bench"))
        .insert(header("ce_specversion", "1.0"))
}

fn sample_payload() -> String {
    serde_json::json!({"order_id": uuid::Uuid::now_v7(), "seq": 1, "pad": "x".repeat(300)})
        .to_string()
}
