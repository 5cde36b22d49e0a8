//! Logs and traces for every binary.
//!
//! Logs: `RUST_LOG`-style filtering (default `info`), JSON lines when `LOG_FORMAT=json` (what a log
//! shipper wants), human-readable lines otherwise. `RUST_LOG` filters the logs, not the traces.
//!
//! Traces: the `tracing` spans are OpenTelemetry spans. Their W3C context crosses every process
//! boundary of a saga (an HTTP request's `traceparent` header, an outbox row and the Kafka
//! header it becomes, a payment row the worker picks up later), so one order is one trace. They
//! are exported over OTLP/gRPC when the standard `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, batched by the SDK's own thread; when it is not,
//! spans still carry the context and nothing is exported.

use std::time::Duration;

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{EnvFilter, LevelFilter, Targets};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{Layer, fmt, prelude::*};

/// The process's tracer provider; `shutdown` flushes the spans not yet exported.
#[must_use = "dropping it does not flush: run the process in `flush_after`"]
#[derive(Debug)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Runs `work` (a process's whole life) to its end, then flushes the spans.
    pub async fn flush_after<T>(self, work: impl Future<Output = T>) -> T {
        let result = work.await;
        self.shutdown().await;
        result
    }

    /// Exports what is still buffered (up to 5 s), then stops the exporter.
    async fn shutdown(self) {
        let Some(provider) = self.provider else {
            return;
        };
        let flushed = tokio::task::spawn_blocking(move || {
            provider.shutdown_with_timeout(Duration::from_secs(5))
        })
        .await;
        if let Ok(Err(error)) = flushed {
            tracing::warn!(%error, "traces not flushed at shutdown");
        }
    }
}

/// Installs the global subscriber for logs only: a tool, not a service of the saga. Does
/// nothing if one is installed.
pub fn init_logs() {
    let _ = tracing_subscriber::registry().with(log_lines()).try_init();
}

/// Log lines as `RUST_LOG` and `LOG_FORMAT` ask.
fn log_lines<S>() -> impl Layer<S>
where
    S: tracing::Subscriber + for<'span> LookupSpan<'span>,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|format| format.eq_ignore_ascii_case("json"));
    let lines = if json {
        fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .boxed()
    } else {
        fmt::layer().with_target(false).boxed()
    };
    lines.with_filter(filter)
}

/// Whether spans are exported: the standard OTLP endpoint variables.
fn exporting() -> bool {
    [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|name| std::env::var(name).is_ok_and(|value| !value.is_empty()))
}

/// Installs the global subscriber: logs, and spans as OpenTelemetry spans of `service` (its
/// `service.name`; `version` is `service.version`). Must run inside the Tokio runtime (the gRPC
/// exporter's connection lives there). Safe to call more than once (tests): later calls install
/// nothing and return a `Telemetry` with nothing to flush.
pub fn init(service: &'static str, version: &'static str) -> Telemetry {
    let resource = Resource::builder()
        .with_service_name(service)
        .with_attribute(KeyValue::new("service.version", version))
        .build();
    let mut builder = SdkTracerProvider::builder().with_resource(resource);
    let mut export_error = None;
    if exporting() {
        match opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .build()
        {
            Ok(exporter) => builder = builder.with_batch_exporter(exporter),
            Err(error) => export_error = Some(error),
        }
    }
    let provider = builder.build();
    let traces = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(service))
        .with_location(false)
        .with_threads(false)
        .with_tracked_inactivity(false)
        // Nothing here reads OpenTelemetry's own current context (the spans carry it), so no
        // context switch on every poll of an instrumented future.
        .with_context_activation(false)
        // `info` spans, whatever `RUST_LOG` says of the logs; never the exporter's own gRPC stack.
        .with_filter(
            Targets::new()
                .with_default(LevelFilter::INFO)
                .with_target("h2", LevelFilter::OFF)
                .with_target("hyper", LevelFilter::OFF)
                .with_target("tonic", LevelFilter::OFF)
                .with_target("tower", LevelFilter::OFF),
        );
    let installed = tracing_subscriber::registry()
        .with(traces)
        .with(log_lines())
        .try_init();
    if installed.is_err() {
        let _ = provider.shutdown();
        return Telemetry { provider: None };
    }
    match export_error {
        Some(error) => tracing::error!(%error, "cannot export traces: OTLP exporter not built"),
        None if exporting() => tracing::info!(service, "exporting traces over OTLP"),
        None => {}
    }
    Telemetry {
        provider: Some(provider),
    }
}

/// The W3C `traceparent` of the current span: what an outbox row, a payment row or an outgoing
/// request carries so the work it starts continues this trace. Outside any traced span (a test
/// without the subscriber) it names a new trace, so the value is always well-formed.
pub fn traceparent() -> String {
    let context = Span::current().context();
    let span = context.span();
    let span = span.span_context();
    if span.is_valid() {
        format!(
            "00-{}-{}-{:02x}",
            span.trace_id(),
            span.span_id(),
            span.trace_flags().to_u8()
        )
    } else {
        let (trace_id, span_id) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        let span_id = (span_id.as_u128() as u64).max(1);
        format!("00-{:032x}-{span_id:016x}-01", trace_id.as_u128())
    }
}

/// Makes `span` a child of the span `traceparent` names (in another process, or earlier in
/// this one), and records its trace id in its `trace_id` field if it has one (for the logs).
/// Call it before `span` is first entered. A missing or malformed value leaves `span` where it
/// is (a root, or under the current span).
pub fn continue_trace(span: &Span, traceparent: Option<&str>) {
    if let Some(traceparent) = traceparent {
        let carrier = Traceparent(traceparent);
        let parent = TraceContextPropagator::new().extract_with_context(&Context::new(), &carrier);
        if parent.span().span_context().is_valid() {
            // Fails only without the OpenTelemetry layer (a test's own subscriber).
            let _ = span.set_parent(parent);
        }
    }
    let context = span.context();
    let own = context.span();
    if own.span_context().is_valid() {
        span.record("trace_id", own.span_context().trace_id().to_string());
    }
}

/// A carrier of one `traceparent` value, read without copying it into a map.
struct Traceparent<'a>(&'a str);

impl Extractor for Traceparent<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        (key == "traceparent").then_some(self.0)
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent"]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The trace id a `traceparent` names.
    fn trace_id(traceparent: &str) -> &str {
        traceparent.split('-').nth(1).unwrap()
    }

    #[tokio::test]
    async fn a_span_continues_the_trace_it_is_given_and_hands_it_on() {
        let _telemetry = init("test", "0");
        let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let span = tracing::info_span!("request");
        continue_trace(&span, Some(incoming));
        let outgoing = span.in_scope(traceparent);
        assert_eq!(trace_id(&outgoing), trace_id(incoming));
        assert_ne!(outgoing, incoming, "a new span id, this span's");

        let root = tracing::info_span!("request");
        continue_trace(&root, Some("00-abc-def-01"));
        continue_trace(&root, None);
        let fresh = root.in_scope(traceparent);
        assert_ne!(
            trace_id(&fresh),
            trace_id(incoming),
            "a malformed value is no parent"
        );
        assert_eq!(
            fresh,
            root.in_scope(traceparent),
            "the span's own context, every time"
        );
    }

    #[test]
    fn outside_any_span_the_traceparent_names_a_new_trace() {
        let (a, b) = (traceparent(), traceparent());
        for value in [&a, &b] {
            let parts: Vec<_> = value.split('-').collect();
            assert_eq!(
                parts.iter().map(|part| part.len()).collect::<Vec<_>>(),
                [2, 32, 16, 2]
            );
        }
        assert_ne!(trace_id(&a), trace_id(&b));
    }
}
