//! The process's Prometheus recorder. Code records through the `metrics` facade
//! (`metrics::counter!(...)`) wherever it is; `GET /metrics` renders what was recorded.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// The recorder's handle, installing the recorder on first use. A process has one global
/// recorder, so every server in it (several, in tests) renders the same metrics.
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
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

        let text = handle.render();

        assert!(
            text.contains(r#"platform_test_total{service="order"} 3"#),
            "{text}"
        );
    }
}
