//! The open-model load generator: orders arrive at a fixed rate whatever the system's response
//! times, so a slow system shows up as latency instead of hiding behind fewer requests
//! (coordinated omission). Each order's latencies are measured from the moment it was *due*.
//!
//! Saga completion is learned from `order.events` (OrderConfirmed / OrderCancelled), read from
//! its end by a consumer that joins no group, not by polling each order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use events::{EventType, Failure, OrderRef};
use messaging::Event;
use rand::Rng;
use rdkafka::TopicPartitionList;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::topic_partition_list::Offset;
use uuid::Uuid;

use crate::report::Recorder;
use crate::{Client, order_request};

/// The saga path an order is built to take (SPEC section 3), by request data alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    Happy,
    OutOfStock,
    Declined,
    Unshippable,
}

/// SKUs the happy orders spread over; `SKU-ANVIL` is kept out of stock for the out-of-stock path.
const SKUS: [&str; 7] = [
    "SKU-BOLT",
    "SKU-CABLE",
    "SKU-DRILL",
    "SKU-GLOVES",
    "SKU-HAMMER",
    "SKU-LADDER",
    "SKU-ROPE",
];

#[derive(Clone, Debug)]
pub struct LoadConfig {
    /// Orders per second.
    pub rate: f64,
    pub duration: Duration,
    /// Orders sent before this much time has passed are not recorded.
    pub warmup: Duration,
    /// Weights of happy, out of stock, declined, unshippable.
    pub mix: [u32; 4],
    /// How many SKUs happy orders spread over (1 to 7).
    pub skus: usize,
    /// How long to wait for sagas still running when sending ends.
    pub drain: Duration,
    pub brokers: String,
}

impl LoadConfig {
    fn path(&self, rng: &mut impl Rng) -> Path {
        let total: u32 = self.mix.iter().sum();
        let mut pick = rng.random_range(0..total.max(1));
        for (weight, path) in self.mix.iter().zip([
            Path::Happy,
            Path::OutOfStock,
            Path::Declined,
            Path::Unshippable,
        ]) {
            if pick < *weight {
                return path;
            }
            pick -= weight;
        }
        Path::Happy
    }
}

fn request(path: Path, skus: usize, rng: &mut impl Rng) -> serde_json::Value {
    let sku = SKUS[rng.random_range(0..skus.clamp(1, SKUS.len()))];
    let quantity = rng.random_range(1..=3);
    match path {
        Path::Happy => order_request(sku, quantity, "tok_visa", "DE"),
        Path::OutOfStock => order_request("SKU-ANVIL", 1, "tok_visa", "DE"),
        Path::Declined => order_request(sku, quantity, "tok_declined", "FR"),
        Path::Unshippable => order_request(sku, quantity, "tok_visa", "AQ"),
    }
}

/// Orders sent and not finished yet (when each was due, whether it is recorded), and terminal
/// events that arrived before their order's `POST` answered (when, and the outcome).
#[derive(Debug, Default)]
struct Tracker {
    waiting: HashMap<Uuid, (Instant, bool)>,
    early: HashMap<Uuid, (Instant, String)>,
}

type Pending = Arc<Mutex<Tracker>>;

/// Sets the stock the mix needs: happy SKUs to 1,000,000 and `SKU-ANVIL` (the out-of-stock
/// path) to 0. Call it before `run`.
pub async fn stock_up(client: &Client) -> anyhow::Result<()> {
    for sku in SKUS {
        client.set_stock(sku, 1_000_000).await?;
    }
    client.set_stock("SKU-ANVIL", 0).await
}

/// Runs the load and returns what was recorded.
pub async fn run(client: &Client, config: &LoadConfig) -> anyhow::Result<Recorder> {
    let recorder = Arc::new(Mutex::new(Recorder::new(config.rate)));
    let pending: Pending = Arc::default();
    let consumer = saga_watcher(&config.brokers).await?;
    let watcher = tokio::spawn(watch(consumer, pending.clone(), recorder.clone()));

    let started = Instant::now();
    recorder.lock().unwrap().start(started);
    let interval = Duration::from_secs_f64(1.0 / config.rate);
    let total = (config.duration.as_secs_f64() * config.rate).round() as u64;
    let mut sending = tokio::task::JoinSet::new();
    let mut rng = rand::rng();
    let mut last_progress = started;
    for n in 0..total {
        let due = started + interval.mul_f64(n as f64);
        tokio::time::sleep_until(due.into()).await;
        let recorded = due.duration_since(started) >= config.warmup;
        let body = request(config.path(&mut rng), config.skus, &mut rng);
        let task = (client.clone(), pending.clone(), recorder.clone());
        sending.spawn(async move {
            let (client, pending, recorder) = task;
            let result = client.place(&body).await;
            let http = due.elapsed();
            let mut recorder = recorder.lock().unwrap();
            match result {
                Ok(id) => {
                    recorder.accepted(id);
                    if recorded {
                        recorder.http(http);
                    }
                    let mut pending = pending.lock().unwrap();
                    // The saga may have ended before its POST answered.
                    match pending.early.remove(&id) {
                        Some((ended, outcome)) => recorder.saga(due, ended, &outcome, recorded),
                        None => {
                            pending.waiting.insert(id, (due, recorded));
                        }
                    }
                }
                Err(error) => recorder.error(&error),
            }
        });
        if last_progress.elapsed() >= Duration::from_secs(1) {
            last_progress = Instant::now();
            let recorder = recorder.lock().unwrap();
            println!(
                "  {:>5.1} s  sent {:>6}  finished {:>6}  in flight {:>5}  errors {}",
                started.elapsed().as_secs_f64(),
                n + 1,
                recorder.finished(),
                pending.lock().unwrap().waiting.len(),
                recorder.errors(),
            );
        }
    }
    let sent_for = started.elapsed();
    while sending.join_next().await.is_some() {}
    let in_flight_at_end = pending.lock().unwrap().waiting.len();
    println!(
        "==> sent {total} orders in {:.1} s; draining the sagas still running",
        sent_for.as_secs_f64()
    );
    let drain_until = Instant::now() + config.drain;
    while !pending.lock().unwrap().waiting.is_empty() && Instant::now() < drain_until {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    watcher.abort();
    let _ = watcher.await;
    let mut recorder = Arc::try_unwrap(recorder)
        .map_err(|_| anyhow::anyhow!("the recorder is still shared"))?
        .into_inner()
        .unwrap();
    recorder.finish(
        sent_for.saturating_sub(config.warmup),
        in_flight_at_end,
        pending.lock().unwrap().waiting.len(),
    );
    Ok(recorder)
}

/// A consumer of every partition of `order.events`, positioned at its end before any order is
/// sent. It is assigned the partitions rather than joining a group: a group's first assignment
/// waits for the group to form (seconds), and this reader needs no offsets of its own.
async fn saga_watcher(brokers: &str) -> anyhow::Result<StreamConsumer> {
    let brokers = brokers.to_owned();
    tokio::task::spawn_blocking(move || {
        let consumer: StreamConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("group.id", format!("loadtest-{}", Uuid::now_v7()))
            .set("enable.auto.commit", "false")
            .set("fetch.wait.max.ms", messaging::kafka::FETCH_WAIT_MAX_MS)
            .create()?;
        let timeout = Duration::from_secs(10);
        let metadata = consumer.fetch_metadata(Some(events::ORDER_EVENTS), timeout)?;
        let mut assignment = TopicPartitionList::new();
        for partition in metadata
            .topics()
            .iter()
            .flat_map(|topic| topic.partitions())
        {
            let (_, high) =
                consumer.fetch_watermarks(events::ORDER_EVENTS, partition.id(), timeout)?;
            assignment.add_partition_offset(
                events::ORDER_EVENTS,
                partition.id(),
                Offset::Offset(high),
            )?;
        }
        anyhow::ensure!(
            assignment.count() > 0,
            "{} has no partitions",
            events::ORDER_EVENTS
        );
        consumer.assign(&assignment)?;
        Ok(consumer)
    })
    .await?
}

async fn watch(consumer: StreamConsumer, pending: Pending, recorder: Arc<Mutex<Recorder>>) {
    loop {
        let Ok(message) = consumer.recv().await else {
            continue;
        };
        let Ok(event) = Event::decode(&message) else {
            continue;
        };
        let outcome = match event.event_type.parse() {
            Ok(EventType::OrderConfirmed) => event
                .data_as::<OrderRef>()
                .ok()
                .map(|r| (r.order_id, "CONFIRMED".to_owned())),
            Ok(EventType::OrderCancelled) => event
                .data_as::<Failure>()
                .ok()
                .map(|f| (f.order_id, format!("CANCELLED:{}", f.reason))),
            _ => None,
        };
        let Some((order_id, outcome)) = outcome else {
            continue;
        };
        let mut recorder = recorder.lock().unwrap();
        let mut pending = pending.lock().unwrap();
        match pending.waiting.remove(&order_id) {
            Some((due, recorded)) => recorder.saga(due, Instant::now(), &outcome, recorded),
            None => {
                pending.early.insert(order_id, (Instant::now(), outcome));
            }
        }
    }
}
