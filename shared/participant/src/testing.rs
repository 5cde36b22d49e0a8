//! A participant in a test: on a free port, against its own `testkit::TestEnv`, stopped when
//! dropped; and the health checks every participant must pass.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use events::EventType;
use messaging::Event;
use platform::Shutdown;
use testkit::TestEnv;
use uuid::Uuid;

use crate::{Application, Service, participant};

/// A running service on a free port with its own database and broker, stopped when dropped.
#[derive(Debug)]
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    /// Shared with its twins (`twin`), so it stops with the last of them.
    pub env: Arc<TestEnv>,
    shutdown: Shutdown,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    pub async fn spawn<S: Service>() -> Self {
        Self::spawn_with::<S>(&[]).await
    }

    /// With `args` added to the service's command line.
    pub async fn spawn_with<S: Service>(args: &[&str]) -> Self {
        Self::spawn_on::<S>(Arc::new(TestEnv::start().await), args).await
    }

    /// Another replica of this service, on the same database and broker, with `args`.
    pub async fn twin<S: Service>(&self, args: &[&str]) -> Self {
        Self::spawn_on::<S>(self.env.clone(), args).await
    }

    async fn spawn_on<S: Service>(env: Arc<TestEnv>, args: &[&str]) -> Self {
        let participant = participant::<S>().unwrap();
        let database_url = env.database_url(participant.name);
        let mut all = vec![
            participant.name,
            "--http-addr",
            "127.0.0.1:0",
            "--database-url",
            &database_url,
            "--kafka-brokers",
            env.kafka_brokers(),
        ];
        all.extend(args);
        let config = crate::parse_from::<S::Config, _, _>(participant, all).unwrap();
        let application = Application::build::<S>(config)
            .await
            .expect("the service builds");
        let address = format!("http://127.0.0.1:{}", application.port());
        let shutdown = Shutdown::new();
        let server = tokio::spawn(application.run_until_stopped(shutdown.clone()));
        Self {
            address,
            client: reqwest::Client::new(),
            env,
            shutdown,
            server: Some(server),
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request sent")
    }

    /// Waits until the service is ready (its consumer has joined its group); 60 s at most.
    pub async fn wait_ready(&self) {
        for _ in 0..600 {
            if self.get("/readyz").await.status() == 200 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{} not ready in 60 s", self.address);
    }

    /// Polls `sql` (one text value, `$1` bound to `id`, read as a superuser) until it answers
    /// `expected`, 10 s at most; returns its last answer.
    pub async fn eventually(&self, sql: &str, id: Uuid, expected: &str) -> Option<String> {
        let admin = self.admin().await;
        let mut answer = None;
        for _ in 0..100 {
            answer = sqlx::query_scalar(sql)
                .bind(id)
                .fetch_optional(&admin)
                .await
                .unwrap();
            if answer.as_deref() == Some(expected) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        answer
    }

    /// The types of the events `schema`'s outbox holds for order `id`, in the order written.
    pub async fn outbox(&self, schema: &str, id: Uuid) -> Vec<EventType> {
        let sql = format!(r#"select event_type from "{schema}".outbox where key = $1 order by id"#);
        let types: Vec<String> = sqlx::query_scalar(&sql)
            .bind(id.to_string())
            .fetch_all(&self.admin().await)
            .await
            .unwrap();
        types.iter().map(|t| t.parse().unwrap()).collect()
    }

    /// Waits until `schema`'s inbox has applied each of `events` (not dead-lettered); 10 s at
    /// most.
    pub async fn wait_applied(&self, schema: &str, events: &[Uuid]) {
        let sql = format!(
            r#"select count(*) from "{schema}".inbox where event_id = any($1) and not dead_lettered"#
        );
        let admin = self.admin().await;
        for _ in 0..100 {
            let applied: i64 = sqlx::query_scalar(&sql)
                .bind(events)
                .fetch_one(&admin)
                .await
                .unwrap();
            if applied == events.len() as i64 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("not every event was applied by {schema}");
    }

    /// A superuser pool on this test's database.
    pub async fn admin(&self) -> sqlx::PgPool {
        sqlx::PgPool::connect(&self.env.admin_url()).await.unwrap()
    }

    /// Publishes `event` to `topic`, keyed by its subject, as another participant would.
    pub async fn publish(&self, topic: &str, event: &Event) {
        let payload = event.data.to_string();
        let record = rdkafka::producer::FutureRecord::to(topic)
            .key(&event.subject)
            .payload(&payload)
            .headers(event.headers());
        messaging::kafka::producer(self.env.kafka_brokers())
            .unwrap()
            .send(record, Duration::from_secs(10))
            .await
            .unwrap();
    }

    /// Triggers shutdown and waits for the service to drain and return.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.trigger();
        self.server.take().expect("running").await?
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

/// A new event of `event_type` about order `order_id`, as another participant would emit it.
pub fn event(event_type: EventType, order_id: Uuid, data: serde_json::Value) -> Event {
    Event {
        id: Uuid::now_v7(),
        event_type: event_type.as_str().to_owned(),
        source: "/test".to_owned(),
        time: chrono::Utc::now(),
        subject: order_id.to_string(),
        data,
        traceparent: platform::telemetry::traceparent(),
    }
}

/// What every participant must do, checked on `S` (with `args`) and on its `binary`:
///
/// - `/healthz` names it, and it stops within 5 s of shutdown, without error;
/// - it is ready (`/readyz` 200) once its consumer has joined, and 503 while the database is cut;
/// - the binary serves `/healthz` and `/metrics` and exits 0 on SIGTERM.
pub async fn check_health<S: Service>(binary: &str, args: &[&str]) {
    let name = participant::<S>().unwrap().name;
    let app = TestApp::spawn_with::<S>(args).await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["service"], name);
    app.env
        .assert_readyz_follows_the_database(app.address.trim_start_matches("http://"))
        .await;
    testkit::assert_serves_health_and_stops_on_sigterm(binary, name, &app.env.service_env(name))
        .await;
    tokio::time::timeout(Duration::from_secs(5), app.stop())
        .await
        .expect("the service stops within 5 s of shutdown")
        .expect("the service stops without error");
}

/// Checks `S`'s OpenAPI document against `S` itself, run with `args`: it lists its routes and
/// `/healthz`, `/readyz`, `/metrics`, `/docs/` answers, and schemathesis finds nothing wrong.
pub async fn check_openapi<S: Service>(args: &[&str]) {
    let name = participant::<S>().unwrap().name;
    let app = TestApp::spawn_with::<S>(args).await;
    app.wait_ready().await;
    let document: serde_json::Value = app.get("/openapi.json").await.json().await.unwrap();
    assert_eq!(document["info"]["title"], format!("sagaworks {name}"));
    let paths = document["paths"].as_object().unwrap();
    assert!(
        paths.len() > 3,
        "{name} documents no route: {:?}",
        paths.keys()
    );
    assert_eq!(app.get("/docs/").await.status(), 200, "{name}'s Swagger UI");
    assert!(
        schemathesis(name, &app.address, &[]).await,
        "schemathesis failed for {name} (output above)"
    );
}

/// The checks a document must pass: what a client relies on.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance";

/// Runs schemathesis (PyPI) against the service at `url` (its `/openapi.json`), with `filter`
/// (e.g. `--include-path /x`): generated requests, valid and invalid, for every documented
/// operation, and a check of each answer: no 5xx, no status the document does not list, and the
/// content type and body the document gives. Prints its output; whether it passed.
///
/// `make test` installs it into `target/schemathesis`; `SCHEMATHESIS=<path>` names another.
pub async fn schemathesis(service: &str, url: &str, filter: &[&str]) -> bool {
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
    let mut command = tokio::process::Command::new(path);
    command
        .arg("run")
        .arg(format!("{url}/openapi.json"))
        .args(["--checks", CHECKS])
        .args([
            "--header",
            &format!("Authorization: Bearer {}", testkit::ADMIN_TOKEN),
        ])
        // One worker: the Python here (3.11.7) corrupts its AST recursion counter when two
        // threads build ASTs at once (CPython gh-106905, fixed in 3.11.8), and schemathesis's
        // worker threads do; it failed a fresh clone's run with "AST constructor recursion depth
        // mismatch".
        .args(["--max-examples", "40", "--seed", "1", "--workers", "1"])
        .args(["--request-timeout", "20", "--no-color"])
        .args(filter)
        // Its cache and reports stay out of the source tree.
        .current_dir(std::env::temp_dir())
        .kill_on_drop(true);
    let output = command.output().await.expect("schemathesis runs");
    println!(
        "==> schemathesis {service} {}\n{}{}",
        filter.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output.status.success()
}
