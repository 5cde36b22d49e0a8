//! What a load run recorded, and the report it writes: a table, `target/loadtest/report.json`
//! (SPEC section 8) and `target/loadtest/latency.svg`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use plotters::prelude::*;
use serde_json::json;
use uuid::Uuid;

#[derive(Debug)]
pub struct Recorder {
    offered_per_s: f64,
    /// Latencies in microseconds.
    http: Histogram<u64>,
    saga: Histogram<u64>,
    /// (seconds into the run, saga latency in ms), for the plot.
    over_time: Vec<(f64, f64)>,
    /// When sending began; `None` until it does.
    started: Option<Instant>,
    outcomes: BTreeMap<String, u64>,
    errors: u64,
    /// Errors by kind: `HTTP <status>` or `transport`.
    error_kinds: BTreeMap<String, u64>,
    /// Every order the system accepted (202), recorded or not.
    accepted: Vec<Uuid>,
    finished: u64,
    /// How long the recorded (post-warm-up) orders took to send.
    recorded_for: Duration,
    /// Sagas still running when the last order had been answered: the backlog sending left.
    in_flight_at_end: usize,
    /// Sagas still running when the drain gave up.
    unfinished: usize,
}

impl Recorder {
    pub fn new(offered_per_s: f64) -> Self {
        let histogram = || Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds");
        Self {
            offered_per_s,
            http: histogram(),
            saga: histogram(),
            over_time: Vec::new(),
            started: None,
            outcomes: BTreeMap::new(),
            errors: 0,
            error_kinds: BTreeMap::new(),
            accepted: Vec::new(),
            finished: 0,
            recorded_for: Duration::ZERO,
            in_flight_at_end: 0,
            unfinished: 0,
        }
    }

    pub fn start(&mut self, at: Instant) {
        self.started = Some(at);
    }

    pub fn http(&mut self, latency: Duration) {
        let _ = self.http.record(latency.as_micros().max(1) as u64);
    }

    /// A saga of an order due at `due` ended with `outcome` at `ended`.
    pub fn saga(&mut self, due: Instant, ended: Instant, outcome: &str, recorded: bool) {
        self.finished += 1;
        if !recorded {
            return;
        }
        let latency = ended.saturating_duration_since(due);
        let _ = self.saga.record(latency.as_micros().max(1) as u64);
        *self.outcomes.entry(outcome.to_owned()).or_default() += 1;
        let at = self.started.map_or(0.0, |started| {
            due.saturating_duration_since(started).as_secs_f64()
        });
        self.over_time.push((at, latency.as_secs_f64() * 1000.0));
    }

    pub fn error(&mut self, error: &anyhow::Error) {
        if self.errors < 5 {
            eprintln!("  request failed: {error:#}");
        }
        self.errors += 1;
        let message = error.to_string();
        let kind = match message.strip_prefix("POST /orders answered ") {
            Some(rest) => format!("HTTP {}", rest.get(..3).unwrap_or(rest)),
            None => "transport".to_owned(),
        };
        *self.error_kinds.entry(kind).or_default() += 1;
    }

    pub fn error_kinds(&self) -> &BTreeMap<String, u64> {
        &self.error_kinds
    }

    pub fn accepted(&mut self, id: Uuid) {
        self.accepted.push(id);
    }

    /// The orders the system accepted, in the order their answers came.
    pub fn accepted_orders(&self) -> &[Uuid] {
        &self.accepted
    }

    pub fn finished(&self) -> u64 {
        self.finished
    }

    pub fn errors(&self) -> u64 {
        self.errors
    }

    pub fn finish(&mut self, recorded_for: Duration, in_flight_at_end: usize, unfinished: usize) {
        self.recorded_for = recorded_for;
        self.in_flight_at_end = in_flight_at_end;
        self.unfinished = unfinished;
    }

    fn percentiles(histogram: &Histogram<u64>) -> serde_json::Value {
        let ms = |value: u64| value as f64 / 1000.0;
        json!({
            "p50": ms(histogram.value_at_quantile(0.50)),
            "p90": ms(histogram.value_at_quantile(0.90)),
            "p99": ms(histogram.value_at_quantile(0.99)),
            "p999": ms(histogram.value_at_quantile(0.999)),
            "max": ms(histogram.max()),
        })
    }

    /// The report of SPEC section 8.
    pub fn report(&self) -> serde_json::Value {
        json!({
            "offered_per_s": self.offered_per_s,
            "achieved_per_s": self.http.len() as f64 / self.recorded_for.as_secs_f64().max(f64::EPSILON),
            "http_ms": Self::percentiles(&self.http),
            "saga_ms": Self::percentiles(&self.saga),
            "outcomes": self.outcomes,
            "errors": self.errors,
            "error_kinds": self.error_kinds,
            "in_flight_at_end": self.in_flight_at_end,
            "unfinished": self.unfinished,
        })
    }

    pub fn print_table(&self) {
        let report = self.report();
        println!();
        println!(
            "  offered {:.1}/s, achieved {:.1}/s, errors {}, sagas unfinished after the drain {}",
            self.offered_per_s,
            report["achieved_per_s"].as_f64().unwrap_or(0.0),
            self.errors,
            self.unfinished
        );
        println!(
            "  {:<14} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "LATENCY (ms)", "p50", "p90", "p99", "p99.9", "max"
        );
        for (name, key) in [("POST /orders", "http_ms"), ("saga", "saga_ms")] {
            let p = &report[key];
            println!(
                "  {name:<14} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
                p["p50"].as_f64().unwrap_or(0.0),
                p["p90"].as_f64().unwrap_or(0.0),
                p["p99"].as_f64().unwrap_or(0.0),
                p["p999"].as_f64().unwrap_or(0.0),
                p["max"].as_f64().unwrap_or(0.0),
            );
        }
        println!("  {:<40} {:>9}", "OUTCOME", "ORDERS");
        for (outcome, count) in &self.outcomes {
            println!("  {outcome:<40} {count:>9}");
        }
    }

    /// Writes `report.json` and `latency.svg` (saga latency over the run, and its percentile
    /// distribution) into `dir`.
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(
            dir.join("report.json"),
            serde_json::to_string_pretty(&self.report())?,
        )?;
        let svg = dir.join("latency.svg");
        let root = SVGBackend::new(&svg, (1200, 500)).into_drawing_area();
        root.fill(&WHITE)?;
        let (left, right) = root.split_horizontally(650);
        let max_ms = self.over_time.iter().map(|(_, ms)| *ms).fold(1.0, f64::max);
        let max_s = self.over_time.iter().map(|(s, _)| *s).fold(1.0, f64::max);
        let mut over_time = ChartBuilder::on(&left)
            .caption("saga latency over the run", ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..max_s, 0.0..max_ms * 1.05)?;
        over_time
            .configure_mesh()
            .x_desc("seconds")
            .y_desc("ms")
            .draw()?;
        over_time.draw_series(
            self.over_time
                .iter()
                .map(|(s, ms)| Circle::new((*s, *ms), 1, BLUE.filled())),
        )?;
        let mut distribution = ChartBuilder::on(&right)
            .caption("saga latency by percentile", ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..100.0, 0.0..max_ms * 1.05)?;
        distribution
            .configure_mesh()
            .x_desc("percentile")
            .y_desc("ms")
            .draw()?;
        let points: Vec<(f64, f64)> = (0..=1000)
            .map(|i| {
                let q = f64::from(i) / 1000.0;
                (q * 100.0, self.saga.value_at_quantile(q) as f64 / 1000.0)
            })
            .collect();
        distribution.draw_series(LineSeries::new(points, &RED))?;
        root.present()?;
        Ok(())
    }
}
