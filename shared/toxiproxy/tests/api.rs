//! The Toxiproxy API as unmodified clients see it: `toxiproxy_rust` (Shopify-API client) for the
//! happy paths, plain HTTP for status codes, and a TCP echo upstream to measure what toxics and
//! cuts really do to traffic.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use platform::Shutdown;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use toxiproxy::Registry;
use toxiproxy_rust::{client::Client, proxy::ProxyPack};

/// A toxiproxy server and an echo upstream on free ports; both stop with the test's runtime.
struct Harness {
    api: SocketAddr,
    echo: SocketAddr,
    http: reqwest::Client,
    _shutdown: Shutdown,
}

impl Harness {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = listener.local_addr().unwrap();
        let shutdown = Shutdown::new();
        tokio::spawn(toxiproxy::serve(
            listener,
            Registry::new(),
            shutdown.clone(),
        ));
        Self {
            api,
            echo: spawn_echo().await,
            http: reqwest::Client::new(),
            _shutdown: shutdown,
        }
    }

    /// The blocking Toxiproxy client, run off the async runtime.
    async fn with_client<T: Send + 'static>(
        &self,
        call: impl FnOnce(Client) -> T + Send + 'static,
    ) -> T {
        let api = self.api;
        tokio::task::spawn_blocking(move || call(Client::new(api)))
            .await
            .unwrap()
    }

    async fn request(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        let url = format!("http://{}{path}", self.api);
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Creates proxy `name` on a free port in front of the echo server; returns its address.
    async fn echo_proxy(&self, name: &str) -> SocketAddr {
        let body =
            json!({"name": name, "listen": "127.0.0.1:0", "upstream": self.echo.to_string()});
        let (status, proxy) = self
            .request("POST", "/proxies", Some(&body.to_string()))
            .await;
        assert_eq!(status, 201, "{proxy}");
        proxy["listen"].as_str().unwrap().parse().unwrap()
    }
}

async fn spawn_echo() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut reader, mut writer) = socket.split();
                let _ = tokio::io::copy(&mut reader, &mut writer).await;
            });
        }
    });
    address
}

/// Sends a line and waits for its echo; returns how long the round trip took.
async fn round_trip(stream: &mut TcpStream) -> std::io::Result<Duration> {
    let started = Instant::now();
    stream.write_all(b"ping\n").await?;
    let mut buffer = [0u8; 5];
    stream.read_exact(&mut buffer).await?;
    assert_eq!(&buffer, b"ping\n");
    Ok(started.elapsed())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_toxiproxy_client_populates_lists_and_finds_proxies() {
    let harness = Harness::start().await;
    let echo = harness.echo.to_string();

    let (version, populated, all) = harness
        .with_client(move |client| {
            let version = client.version().unwrap();
            let populated = client
                .populate(vec![
                    ProxyPack::new("postgres".into(), "127.0.0.1:0".into(), echo.clone()),
                    ProxyPack::new("kafka".into(), "127.0.0.1:0".into(), echo),
                ])
                .unwrap();
            let populated: Vec<String> = populated
                .iter()
                .map(|p| p.proxy_pack.listen.clone())
                .collect();
            let all = client.all().unwrap();
            let kafka = client.find_proxy("kafka").unwrap();
            assert!(kafka.proxy_pack.enabled);
            (version, populated, all)
        })
        .await;

    assert!(version.contains("version"), "{version}");
    assert_eq!(populated.len(), 2);
    for listen in &populated {
        let port: u16 = listen.rsplit_once(':').unwrap().1.parse().unwrap();
        assert_ne!(
            port, 0,
            "a listen of port 0 is reported with the port bound"
        );
    }
    let mut names: Vec<_> = all.keys().cloned().collect();
    names.sort();
    assert_eq!(names, ["kafka", "postgres"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_latency_toxic_of_300_ms_adds_at_least_300_ms_to_a_round_trip() {
    let harness = Harness::start().await;
    let proxy = harness.echo_proxy("echo").await;
    let mut stream = TcpStream::connect(proxy).await.unwrap();
    let baseline = round_trip(&mut stream).await.unwrap();

    harness
        .with_client(|client| {
            client
                .find_proxy("echo")
                .unwrap()
                .with_latency("downstream".into(), 300, 0, 1.0);
        })
        .await;
    let slowed = round_trip(&mut stream).await.unwrap();

    assert!(
        slowed >= Duration::from_millis(300),
        "round trip took {slowed:?} with a 300 ms toxic (baseline {baseline:?})"
    );
    let (status, toxics) = harness.request("GET", "/proxies/echo/toxics", None).await;
    assert_eq!(status, 200);
    assert_eq!(toxics[0]["name"], "latency_downstream");
    assert_eq!(toxics[0]["attributes"]["latency"], 300);

    harness
        .with_client(|client| {
            client
                .find_proxy("echo")
                .unwrap()
                .delete_all_toxics()
                .unwrap()
        })
        .await;
    // On the connection that was open all along: a removed toxic stops acting on it too.
    let healed = round_trip(&mut stream).await.unwrap();
    assert!(
        healed < Duration::from_millis(300),
        "toxic removed, yet {healed:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_disabled_proxy_cuts_open_connections_and_refuses_new_ones_until_enabled() {
    let harness = Harness::start().await;
    let proxy = harness.echo_proxy("cut").await;
    let mut open = TcpStream::connect(proxy).await.unwrap();
    round_trip(&mut open).await.unwrap();

    let (status, body) = harness
        .request("POST", "/proxies/cut", Some(r#"{"enabled": false}"#))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["enabled"], false);

    let cut = tokio::time::timeout(Duration::from_secs(5), round_trip(&mut open)).await;
    assert!(
        matches!(cut, Ok(Err(_))),
        "an open connection must be cut, got {cut:?}"
    );
    assert!(
        TcpStream::connect(proxy).await.is_err(),
        "a disabled proxy must refuse connections"
    );

    harness
        .with_client(|client| client.find_proxy("cut").unwrap().enable().unwrap())
        .await;
    let mut again = TcpStream::connect(proxy)
        .await
        .expect("re-enabled proxy accepts");
    round_trip(&mut again)
        .await
        .expect("re-enabled proxy serves");
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_have_toxiproxy_status_codes_and_bodies() {
    let harness = Harness::start().await;
    harness.echo_proxy("dup").await;
    let echo = harness.echo.to_string();

    let duplicate = json!({"name": "dup", "listen": "127.0.0.1:0", "upstream": echo}).to_string();
    let (status, body) = harness.request("POST", "/proxies", Some(&duplicate)).await;
    assert_eq!(
        (status, body),
        (409, json!({"error": "proxy already exists", "status": 409}))
    );

    let (status, body) = harness.request("GET", "/proxies/nope", None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("proxy not found"))
    );
    let (status, _) = harness.request("DELETE", "/proxies/nope", None).await;
    assert_eq!(status, 404);
    let (status, _) = harness
        .request(
            "POST",
            "/proxies/nope/toxics",
            Some(r#"{"type":"latency"}"#),
        )
        .await;
    assert_eq!(status, 404);
    let (status, body) = harness
        .request("GET", "/proxies/dup/toxics/nope", None)
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("toxic not found"))
    );

    let (status, body) = harness.request("POST", "/proxies", Some("{not json")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("bad request body"))
    );
    let (status, body) = harness
        .request(
            "POST",
            "/proxies",
            Some(r#"{"name": "x", "listen": "127.0.0.1:0"}"#),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("missing required field: upstream"))
    );
    let (status, body) = harness
        .request(
            "POST",
            "/proxies/dup/toxics",
            Some(r#"{"type": "earthquake"}"#),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid toxic type"))
    );

    let toxic = r#"{"type": "timeout", "attributes": {"timeout": 100}}"#;
    let (status, created) = harness
        .request("POST", "/proxies/dup/toxics", Some(toxic))
        .await;
    assert_eq!(status, 200);
    assert_eq!(created["name"], "timeout_downstream");
    let (status, body) = harness
        .request("POST", "/proxies/dup/toxics", Some(toxic))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("toxic already exists"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn toxics_update_delete_and_reset_behave_as_in_toxiproxy() {
    let harness = Harness::start().await;
    let proxy = harness.echo_proxy("life").await;
    for kind in [
        "latency",
        "bandwidth",
        "slow_close",
        "slicer",
        "limit_data",
        "timeout",
    ] {
        let body = json!({"type": kind, "stream": "upstream", "attributes": {}}).to_string();
        let (status, toxic) = harness
            .request("POST", "/proxies/life/toxics", Some(&body))
            .await;
        assert_eq!(status, 200, "{kind}: {toxic}");
    }
    let (status, toxics) = harness.request("GET", "/proxies/life/toxics", None).await;
    assert_eq!((status, toxics.as_array().unwrap().len()), (200, 6));

    let (status, updated) = harness
        .request(
            "POST",
            "/proxies/life/toxics/latency_upstream",
            Some(r#"{"attributes": {"latency": 50}}"#),
        )
        .await;
    assert_eq!(
        (status, updated["attributes"]["latency"].as_u64()),
        (200, Some(50))
    );
    let (status, _) = harness
        .request("DELETE", "/proxies/life/toxics/timeout_upstream", None)
        .await;
    assert_eq!(status, 204);
    harness
        .request("POST", "/proxies/life", Some(r#"{"enabled": false}"#))
        .await;

    let (status, _) = harness.request("POST", "/reset", None).await;
    assert_eq!(status, 204);
    let (_, after) = harness.request("GET", "/proxies/life", None).await;
    assert_eq!(after["enabled"], true);
    assert_eq!(after["toxics"], json!([]));
    let mut stream = TcpStream::connect(proxy).await.unwrap();
    round_trip(&mut stream)
        .await
        .expect("a reset proxy serves without toxics");

    let (status, _) = harness.request("DELETE", "/proxies/life", None).await;
    assert_eq!(status, 204);
    assert!(
        TcpStream::connect(proxy).await.is_err(),
        "a deleted proxy no longer listens"
    );
}
