//! One OpenTelemetry trace per saga, across every process: the services and the gateway run as
//! real processes (as `make up` runs them) exporting over OTLP to a test receiver, and one happy
//! and one compensated saga are followed through it.

mod processes;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use loadtest::{Client, order_request};
use processes::start_system;
use testkit::{OtlpReceiver, ReceivedSpan, TestEnv};
use uuid::Uuid;

/// The caller's span: a `POST /orders` that carries it continues the caller's trace.
const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

const PROCESSES: [&str; 6] = [
    "order",
    "inventory",
    "payment",
    "shipping",
    "notification",
    "payment-gateway",
];

/// The spans of one trace, by span id.
struct Trace<'a> {
    spans: HashMap<&'a str, &'a ReceivedSpan>,
}

impl<'a> Trace<'a> {
    fn of(spans: &'a [ReceivedSpan], trace_id: &str) -> Self {
        Self {
            spans: spans
                .iter()
                .filter(|span| span.trace_id == trace_id)
                .map(|span| (span.span_id.as_str(), span))
                .collect(),
        }
    }

    fn services(&self) -> BTreeSet<&str> {
        self.spans
            .values()
            .map(|span| span.service.as_str())
            .collect()
    }

    /// The spans whose parent is not in the trace.
    fn roots(&self) -> Vec<&'a ReceivedSpan> {
        self.spans
            .values()
            .filter(|span| {
                span.parent_span_id
                    .as_deref()
                    .is_none_or(|parent| !self.spans.contains_key(parent))
            })
            .copied()
            .collect()
    }

    fn parent(&self, span: &ReceivedSpan) -> Option<&'a ReceivedSpan> {
        self.spans.get(span.parent_span_id.as_deref()?).copied()
    }

    /// The gateway's spans of `route` (`POST /v1/charges`), each with its parent.
    fn gateway_calls(&self, route: &str) -> Vec<(&'a ReceivedSpan, Option<&'a ReceivedSpan>)> {
        self.spans
            .values()
            .filter(|span| span.service == "payment-gateway" && span.name == route)
            .map(|span| (*span, self.parent(span)))
            .collect()
    }

    fn describe(&self) -> String {
        let mut lines: Vec<_> = self
            .spans
            .values()
            .map(|span| {
                format!(
                    "{} {} {} <- {:?}",
                    span.service, span.name, span.span_id, span.parent_span_id
                )
            })
            .collect();
        lines.sort();
        lines.join("\n")
    }
}

/// The trace ids of the spans that name `order_id`.
fn traces_of(spans: &[ReceivedSpan], order_id: Uuid) -> BTreeSet<String> {
    let order_id = order_id.to_string();
    spans
        .iter()
        .filter(|span| span.attributes.get("order_id") == Some(&order_id))
        .map(|span| span.trace_id.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_saga_is_one_trace_through_every_process() {
    let receiver = OtlpReceiver::start().await.unwrap();
    let (system, target) = start_system(
        TestEnv::start().await,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
            // Batches every 100 ms, not every 5 s, so the test need not wait.
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
        1,
    )
    .await;
    let client = Client::new(target.endpoints.clone());

    let response = reqwest::Client::new()
        .post(format!("{}/orders", target.endpoints.order))
        .header("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))
        .json(&order_request("SKU-BOLT", 1, "tok_visa", "DE"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let body: serde_json::Value = response.json().await.unwrap();
    let happy: Uuid = body["id"].as_str().unwrap().parse().unwrap();
    // Unshippable: charged, then refunded when shipping fails.
    let unshippable = client
        .place(&order_request("SKU-HAMMER", 1, "tok_visa", "AQ"))
        .await
        .unwrap();
    for (id, status) in [(happy, "CONFIRMED"), (unshippable, "CANCELLED")] {
        let (order, _) = client
            .wait_finished(id, Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(order["status"], status, "{order}");
    }

    // The participants finish after the order's terminal state (the refund, the notifications),
    // and spans arrive in batches: wait until both traces reach every process and stop growing.
    let unshippable_trace = loop_until_settled(&receiver, happy, unshippable).await;
    let spans = receiver.spans();

    // One trace id per saga, the happy one the caller's.
    assert_eq!(
        traces_of(&spans, happy),
        BTreeSet::from([CALLER_TRACE.to_owned()])
    );
    assert_eq!(
        traces_of(&spans, unshippable),
        BTreeSet::from([unshippable_trace.clone()])
    );
    assert_ne!(unshippable_trace, CALLER_TRACE);

    for (trace_id, caller) in [
        (CALLER_TRACE, Some(CALLER_SPAN)),
        (unshippable_trace.as_str(), None),
    ] {
        let trace = Trace::of(&spans, trace_id);
        let all = trace.describe();
        assert_eq!(
            trace.services(),
            BTreeSet::from(PROCESSES),
            "spans from every process:\n{all}"
        );
        // One root, the order's `POST /orders`; every other span's parent is in the trace.
        let roots = trace.roots();
        assert_eq!(roots.len(), 1, "one root:\n{all}");
        assert_eq!(
            (roots[0].service.as_str(), roots[0].name.as_str()),
            ("order", "POST /orders")
        );
        assert_eq!(roots[0].parent_span_id.as_deref(), caller, "{all}");
        // The gateway's charge span is a child of the payment service's span for it.
        let charges = trace.gateway_calls("POST /v1/charges");
        assert!(!charges.is_empty(), "a charge:\n{all}");
        for (charge, parent) in charges {
            let parent = parent.unwrap_or_else(|| panic!("{charge:?} has no parent:\n{all}"));
            assert_eq!(parent.service, "payment", "{all}");
        }
    }
    // The compensation is in the compensated saga's trace: the refund, from the payment service.
    let trace = Trace::of(&spans, &unshippable_trace);
    let refunds = trace.gateway_calls("POST /v1/refunds");
    assert_eq!(refunds.len(), 1, "{}", trace.describe());
    assert_eq!(refunds[0].1.map(|p| p.service.as_str()), Some("payment"));
    drop(system);
}

/// Waits (up to 60 s) until both sagas' traces hold spans from every process and no span has
/// arrived for a second; returns the compensated saga's trace id.
async fn loop_until_settled(receiver: &OtlpReceiver, happy: Uuid, unshippable: Uuid) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut seen = 0;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let spans = receiver.spans();
        let complete = |order_id| {
            traces_of(&spans, order_id)
                .into_iter()
                .next()
                .filter(|trace_id| {
                    Trace::of(&spans, trace_id).services() == BTreeSet::from(PROCESSES)
                })
        };
        if let (Some(_), Some(trace_id)) = (complete(happy), complete(unshippable))
            && spans.len() == seen
        {
            return trace_id;
        }
        if tokio::time::Instant::now() > deadline {
            // Let the assertions say what is missing.
            return traces_of(&spans, unshippable)
                .into_iter()
                .next()
                .unwrap_or_default();
        }
        seen = spans.len();
    }
}
