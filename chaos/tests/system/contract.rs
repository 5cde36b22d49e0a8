//! Every service's OpenAPI document against the service itself, the saga running behind it:
//! `participant::testing::schemathesis` for each.

use participant::testing::schemathesis;
use serde_json::Value;

use crate::system::{Deadlines, System};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_service_keeps_its_openapi_document_for_any_generated_request() {
    let system = System::start(Deadlines::default()).await;
    let services = [
        ("order", &system.order, 2),
        ("inventory", &system.inventory, 2),
        ("payment", &system.payment, 1),
        ("shipping", &system.shipping, 1),
        ("notification", &system.notification, 1),
        ("payment-gateway", &system.gateway, 3),
    ];
    let mut failed = Vec::new();
    for (service, url, api_paths) in services {
        let document: Value = system
            .http
            .get(format!("{url}/openapi.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(document["info"]["title"], format!("sagaworks {service}"));
        let paths = document["paths"].as_object().unwrap();
        // Its own routes and /healthz, /readyz, /metrics.
        assert_eq!(paths.len(), api_paths + 3, "{service}: {:?}", paths.keys());
        let docs = system
            .http
            .get(format!("{url}/docs/"))
            .send()
            .await
            .unwrap();
        assert_eq!(docs.status(), 200, "{service}'s Swagger UI");

        // The gateway's fault settings would slow or fail the PSP calls fuzzed beside them, so
        // they get a run of their own, after the rest.
        let runs: &[&[&str]] = if service == "payment-gateway" {
            &[
                &["--exclude-path", "/admin/faults"],
                &["--include-path", "/admin/faults"],
            ]
        } else {
            &[&[]]
        };
        for filter in runs {
            if !schemathesis(service, url, filter).await {
                failed.push(format!("{service} {}", filter.join(" ")));
            }
        }
    }
    assert!(
        failed.is_empty(),
        "schemathesis failed for {failed:?} (output above)"
    );
    system.stop().await;
}
