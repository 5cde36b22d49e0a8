//! The process's Prometheus recorder. Code records through the `metrics` facade
//! (`metrics::counter!(...)`) wherever it is; `GET /metrics` renders what was recorded.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Histogram buckets, in seconds: from a fast HTTP answer to a saga at its deadline.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// How often recorded histogram samples are folded into their buckets. Without it they pile up
/// in memory until the next scrape, and a process nobody scrapes grows for ever.
const UPKEEP: Duration = Duration::from_secs(5);

/// The recorder's handle, installing the recorder on first use. A process has one global
/// recorder, so every server in it (several, in tests) renders the same metrics. Histograms are
/// exported as Prometheus histograms (`_bucket`, `_sum`, `_count`), which aggregate across
/// replicas, unlike summaries.
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(BUCKETS)
                .expect("the buckets are not empty")
                .build_recorder();
            let handle = recorder.handle();
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP);
                        upkeep.run_upkeep();
                    }
                })
                .expect("a thread can be spawned");
            // Fails only if another recorder was installed first; then ours still renders (empty).
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!(
                    "a metrics recorder was already installed; /metrics shows only ours"
                );
            }
            handle
        })
        .clone()
}

#[cfg(test)]
mod tests {
    #[test]
    fn what_the_facade_records_is_rendered_in_prometheus_text() {
        let handle = super::handle();
        metrics::counter!("platform_test_total", "service" => "order").increment(3);
        metrics::histogram!("platform_test_seconds").record(0.2);

        let text = handle.render();

        assert!(
            text.contains(r#"platform_test_total{service="order"} 3"#),
            "{text}"
        );
        assert!(
            text.contains(r#"platform_test_seconds_bucket{le="0.25"} 1"#),
            "{text}"
        );
    }
}
