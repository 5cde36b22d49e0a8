//! Every service's OpenAPI document against the service itself: schemathesis (PyPI) generates
//! requests, valid and invalid, for every documented operation and checks each answer: no 5xx,
//! no status the document does not list, and the content type and body the document gives for
//! that status. `make test` installs it into `target/schemathesis`; `SCHEMATHESIS=<path>` names
//! another.

use std::path::PathBuf;
use std::process::Output;

use serde_json::Value;

use crate::system::{Deadlines, System};

/// The version `make test` installs (Makefile `SCHEMATHESIS_VERSION`).
fn schemathesis() -> PathBuf {
    let path = std::env::var_os("SCHEMATHESIS").map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../target/schemathesis/bin/schemathesis"
            ))
        },
        PathBuf::from,
    );
    assert!(
        path.exists(),
        "schemathesis is not at {}: `make test` installs it, or set SCHEMATHESIS",
        path.display()
    );
    path
}

/// The checks a document must pass: what the issue asks, and what a client relies on.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance";

async fn run(service: &str, url: &str, filter: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(schemathesis());
    command
        .arg("run")
        .arg(format!("{url}/openapi.json"))
        .args(["--checks", CHECKS])
        .args([
            "--header",
            &format!("Authorization: Bearer {}", testkit::ADMIN_TOKEN),
        ])
        .args(["--max-examples", "40", "--seed", "1", "--workers", "2"])
        .args(["--request-timeout", "20", "--no-color"])
        .args(filter)
        // Its cache and reports stay out of the source tree.
        .current_dir(env!("CARGO_TARGET_TMPDIR"))
        .kill_on_drop(true);
    let output = command.output().await.expect("schemathesis runs");
    println!(
        "==> schemathesis {service} {}\n{}{}",
        filter.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_service_keeps_its_openapi_document_for_any_generated_request() {
    let system = System::start(Deadlines::default()).await;
    let services = [
        ("order", &system.order, 2),
        ("inventory", &system.inventory, 2),
        ("payment", &system.payment, 1),
        ("shipping", &system.shipping, 1),
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
            if !run(service, url, filter).await.status.success() {
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
