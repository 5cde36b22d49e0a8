//! docker-compose.yml checked against what the code reads, without an engine (`make test`; `make
//! compose-test` runs it): each service's environment against its `Config`, the ports against
//! SPEC section 2, the healthchecks and start order, the Toxiproxy config against the proxies the
//! services and the host use, the Postgres init script against the one the native stack runs,
//! Prometheus's jobs against the services, and the offline override against the images
//! `make compose-images` builds.

use std::collections::BTreeSet;
use std::path::Path;

use serde_yaml::Value;
use service_env::ServiceEnv;

mod service_env;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn compose() -> Value {
    let text = std::fs::read_to_string(root().join("docker-compose.yml")).unwrap();
    let mut value: Value = serde_yaml::from_str(&text).unwrap();
    // Twice: a participant merges `x-participant`, which merges `x-service`.
    value.apply_merge().unwrap();
    value.apply_merge().unwrap();
    value
}

#[test]
fn every_service_sets_exactly_what_its_config_reads() {
    let compose = compose();
    for config in ServiceEnv::all() {
        let name = config.name;
        let service = &compose["services"][name];
        let set: BTreeSet<String> = service["environment"]
            .as_mapping()
            .unwrap_or_else(|| panic!("{name} has no environment"))
            .keys()
            .map(|key| key.as_str().unwrap().to_owned())
            .collect();
        // The OpenTelemetry SDK reads its own standard variables: traces go to Jaeger.
        assert_eq!(
            service["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"],
            Value::from("http://jaeger:4317"),
            "{name} exports its traces to Jaeger"
        );
        config.check(&set, "docker-compose.yml");
        assert_eq!(service["command"][0], Value::from(name), "{name}'s command");
    }
}

#[test]
fn ports_match_the_spec_and_each_service_listens_where_it_is_published() {
    let compose = compose();
    let spec = [
        ("payment-gateway", 8090),
        ("postgres", 5432),
        ("toxiproxy", 8474),
    ];
    for (name, port) in spec {
        let service = &compose["services"][name];
        let ports: Vec<String> = service["ports"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_owned())
            .collect();
        // Where it listens inside its container: HTTP_ADDR's port, or the default (its own).
        let listens = service["environment"]["HTTP_ADDR"]
            .as_str()
            .map_or(port.to_string(), |addr| {
                addr.rsplit(':').next().unwrap().to_owned()
            });
        assert!(
            ports.contains(&format!("127.0.0.1:{port}:{listens}")),
            "{name}: {ports:?}, listening on {listens}"
        );
        let health = serde_json::to_string(&service["healthcheck"]["test"]).unwrap();
        if name != "postgres" && name != "toxiproxy" {
            assert!(
                health.contains(&format!(":{listens}/readyz")),
                "{name}: {health}"
            );
        }
    }
}

/// A proxy of `chaos/toxiproxy.json`, by name.
fn proxy(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(root().join("chaos/toxiproxy.json")).unwrap();
    let proxies: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    proxies
        .into_iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no proxy {name}"))
}

/// The port a proxy listens on inside the Toxiproxy container.
fn listen_port(name: &str) -> String {
    let listen = proxy(name)["listen"].as_str().unwrap().to_owned();
    listen.rsplit(':').next().unwrap().to_owned()
}

/// A scaled participant has no port of its own to publish: Toxiproxy's `<name>_api` proxy
/// publishes it on its SPEC port, and each container is a group member of its own.
#[test]
fn each_participant_is_published_through_its_api_proxy_whatever_its_scale() {
    let compose = compose();
    let published = serde_json::to_string(&compose["services"]["toxiproxy"]["ports"]).unwrap();
    for participant in events::PARTICIPANTS {
        let name = participant.name;
        let service = &compose["services"][name];
        assert!(service["ports"].is_null(), "{name} publishes a port");
        assert_eq!(
            service["deploy"]["replicas"],
            Value::from("${REPLICAS:-1}"),
            "{name}'s scale"
        );
        let id = service["environment"]["KAFKA_GROUP_INSTANCE_ID"].as_str();
        assert_eq!(id, Some(format!("{name}-{{hostname}}").as_str()));
        let listens = service["environment"]["HTTP_ADDR"].as_str().unwrap();
        let listens = listens.rsplit(':').next().unwrap();
        let api = format!("{name}_api");
        assert_eq!(proxy(&api)["upstream"], format!("{name}:{listens}"));
        let port = format!("\"127.0.0.1:{}:{}\"", participant.port, listen_port(&api));
        assert!(published.contains(&port), "{published} lacks {port}");
        let health = serde_json::to_string(&service["healthcheck"]["test"]).unwrap();
        assert!(health.contains(&format!(":{listens}/readyz")), "{health}");
    }
}

#[test]
fn every_published_port_is_on_the_loopback_interface_only() {
    let compose = compose();
    for (name, service) in compose["services"].as_mapping().unwrap() {
        for port in service["ports"].as_sequence().into_iter().flatten() {
            let port = port.as_str().unwrap();
            assert!(port.starts_with("127.0.0.1:"), "{name:?} publishes {port}");
        }
    }
}

#[test]
fn every_service_has_a_readyz_healthcheck_and_waits_for_healthy_dependencies() {
    let compose = compose();
    for name in ServiceEnv::all().iter().map(|config| config.name) {
        let service = &compose["services"][name];
        let test = serde_json::to_string(&service["healthcheck"]["test"]).unwrap();
        assert!(test.contains("/readyz"), "{name}: {test}");
        let depends = service["depends_on"].as_mapping().unwrap();
        assert!(!depends.is_empty(), "{name} depends on nothing");
        for (dependency, condition) in depends {
            assert_eq!(
                condition["condition"],
                Value::from("service_healthy"),
                "{name} -> {dependency:?}"
            );
            let dependency = dependency.as_str().unwrap();
            assert!(
                compose["services"][dependency]["healthcheck"].is_mapping(),
                "{dependency} has no healthcheck"
            );
        }
        assert!(
            service["restart"].is_string(),
            "{name} has no restart policy"
        );
    }
    assert!(
        compose["volumes"]["postgres-data"].is_null()
            || compose["volumes"]["postgres-data"].is_mapping()
    );
    assert!(
        compose["volumes"]
            .as_mapping()
            .unwrap()
            .contains_key("kafka-data")
    );
}

#[test]
fn the_proxies_are_the_ones_the_services_are_pointed_at() {
    let compose = compose();
    assert_eq!(proxy("postgres")["upstream"], "postgres:5432");
    assert_eq!(proxy("kafka")["upstream"], "kafka:19092");
    assert_eq!(proxy("payment_gateway")["upstream"], "payment-gateway:8090");

    let env = |service: &str, key: &str| {
        compose["services"][service]["environment"][key]
            .as_str()
            .unwrap()
            .to_owned()
    };
    for participant in events::PARTICIPANTS {
        let service = participant.name;
        let url = env(service, &participant.database_url_var());
        assert!(
            url.contains(&format!("@toxiproxy:{}/", listen_port("postgres"))),
            "{service}: {url}"
        );
        assert_eq!(
            env(service, "KAFKA_BROKERS"),
            format!("toxiproxy:{}", listen_port("kafka"))
        );
    }
    assert_eq!(
        env("payment", "GATEWAY_URL"),
        format!("http://toxiproxy:{}", listen_port("payment_gateway"))
    );

    // Two listeners, each behind its own proxy: the services' (advertised as the `kafka` proxy)
    // and the host's (advertised where the `kafka_host` proxy is published: SPEC's 9092).
    let kafka = |key: &str| env("kafka", key);
    let port_of = |listeners: &str, name: &str| {
        listeners
            .split(',')
            .find_map(|listener| listener.strip_prefix(&format!("{name}://")))
            .unwrap_or_else(|| panic!("no listener {name} in {listeners}"))
            .rsplit(':')
            .next()
            .unwrap()
            .to_owned()
    };
    let listeners = kafka("KAFKA_LISTENERS");
    let advertised = kafka("KAFKA_ADVERTISED_LISTENERS");
    assert_eq!(
        advertised,
        format!(
            "PLAINTEXT://toxiproxy:{},HOST://127.0.0.1:9092",
            listen_port("kafka")
        )
    );
    assert_eq!(
        proxy("kafka")["upstream"],
        format!("kafka:{}", port_of(&listeners, "PLAINTEXT"))
    );
    assert_eq!(
        proxy("kafka_host")["upstream"],
        format!("kafka:{}", port_of(&listeners, "HOST"))
    );
    let published = serde_json::to_string(&compose["services"]["toxiproxy"]["ports"]).unwrap();
    assert!(
        published.contains(&format!("\"127.0.0.1:9092:{}\"", listen_port("kafka_host"))),
        "{published}"
    );
    for name in ["PLAINTEXT", "HOST"] {
        assert!(
            kafka("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP").contains(&format!("{name}:PLAINTEXT")),
            "{name} has no protocol"
        );
    }
}

/// `docker-compose.offline.yml` only swaps images for the stand-ins `make compose-images`
/// builds (and leaves out what has none): the upstream file stays the users' default.
#[test]
fn the_offline_override_names_only_images_that_make_compose_images_builds() {
    let upstream = compose();
    let text = std::fs::read_to_string(root().join("docker-compose.offline.yml")).unwrap();
    let mut offline: Value = serde_yaml::from_str(&text).unwrap();
    offline.apply_merge().unwrap();
    let script = std::fs::read_to_string(root().join("shared/compose/images.sh")).unwrap();
    let built: BTreeSet<&str> = script
        .lines()
        .filter_map(|line| line.strip_prefix("build "))
        .filter_map(|line| line.split_whitespace().nth(1))
        .collect();
    for (name, service) in offline["services"].as_mapping().unwrap() {
        let name = name.as_str().unwrap();
        let original = &upstream["services"][name];
        assert!(original.is_mapping(), "{name} is not in docker-compose.yml");
        match service["image"].as_str() {
            Some(image) => {
                let image = image.strip_suffix(":latest").unwrap_or(image);
                assert!(
                    built.contains(image),
                    "{name}: {image} is not built by images.sh"
                );
                assert_ne!(original["image"].as_str(), Some(image), "{name}");
            }
            // No stand-in: not started.
            None => assert_eq!(service["profiles"], Value::from(vec!["upstream"]), "{name}"),
        }
        for key in service.as_mapping().unwrap().keys() {
            let key = key.as_str().unwrap();
            assert!(
                ["image", "volumes", "environment", "profiles"].contains(&key),
                "{name}: the override changes {key}"
            );
        }
    }
    // Each stand-in's folder exists; every service of ours runs the offline project image.
    for name in ServiceEnv::all().iter().map(|config| config.name) {
        assert_eq!(
            offline["services"][name]["image"],
            Value::from("sagaworks-offline/sagaworks:latest"),
            "{name}"
        );
    }
    for line in script
        .lines()
        .filter_map(|line| line.strip_prefix("build "))
    {
        let folder = line.split_whitespace().next().unwrap();
        let dockerfile = root()
            .join("shared/compose/offline")
            .join(folder)
            .join("Dockerfile");
        assert!(dockerfile.exists(), "{}", dockerfile.display());
    }
}

#[test]
fn postgres_is_initialised_by_the_same_script_as_the_native_stack() {
    let compose = compose();
    let volumes = serde_json::to_string(&compose["services"]["postgres"]["volumes"]).unwrap();
    assert!(
        volumes.contains("./migrations/init.sql:/docker-entrypoint-initdb.d/"),
        "{volumes}"
    );
    // The native stack and the tests embed this very file.
    let stack = std::fs::read_to_string(root().join("shared/stack/src/lib.rs")).unwrap();
    assert!(
        stack.contains("migrations/init.sql"),
        "the native stack no longer runs init.sql"
    );
}

#[test]
fn prometheus_scrapes_every_service_where_it_listens_with_the_native_rules() {
    let compose = compose();
    let text =
        std::fs::read_to_string(root().join("shared/prometheus/prometheus.compose.yml")).unwrap();
    let config: Value = serde_yaml::from_str(&text).unwrap();
    // A static target, or (a participant, which may be scaled) every container DNS names.
    let jobs: BTreeSet<(String, String)> = config["scrape_configs"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|job| {
            let name = job["job_name"].as_str().unwrap().to_owned();
            let target = match job["dns_sd_configs"][0].as_mapping() {
                Some(dns) => {
                    assert_eq!(dns["type"], Value::from("A"), "{name}");
                    let host = dns["names"][0].as_str().unwrap();
                    format!("{host}:{}", dns["port"].as_u64().unwrap())
                }
                None => job["static_configs"][0]["targets"][0]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            };
            (name, target)
        })
        .collect();
    let expected: BTreeSet<(String, String)> = ServiceEnv::all()
        .into_iter()
        .map(|ServiceEnv { name, .. }| {
            let service = &compose["services"][name];
            let listens = service["environment"]["HTTP_ADDR"].as_str().unwrap();
            let port = listens.rsplit(':').next().unwrap();
            (name.to_owned(), format!("{name}:{port}"))
        })
        .collect();
    assert_eq!(jobs, expected);
    let mounts = serde_json::to_string(&compose["services"]["prometheus"]["volumes"]).unwrap();
    assert!(
        mounts.contains("./shared/prometheus/alerts.yml:/etc/prometheus/alerts.yml"),
        "{mounts}"
    );
}

#[test]
fn grafana_provisions_the_dashboard_on_the_compose_prometheus_and_jaeger() {
    let compose = compose();
    let grafana = &compose["services"]["grafana"];
    let mounts = serde_json::to_string(&grafana["volumes"]).unwrap();
    for mount in [
        "./shared/grafana/provisioning:/etc/grafana/provisioning",
        "./shared/grafana/dashboards:/var/lib/grafana/dashboards",
    ] {
        assert!(mounts.contains(mount), "{mounts}");
    }
    let read = |path: &str| -> Value {
        serde_yaml::from_str(&std::fs::read_to_string(root().join(path)).unwrap()).unwrap()
    };
    let providers = read("shared/grafana/provisioning/dashboards/dashboards.yml");
    assert_eq!(
        providers["providers"][0]["options"]["path"],
        Value::from("/var/lib/grafana/dashboards")
    );

    // Each data source is a compose service on the port it listens on.
    let sources = read("shared/grafana/provisioning/datasources/datasources.yml");
    let mut uids = BTreeSet::new();
    for source in sources["datasources"].as_sequence().unwrap() {
        let url = source["url"].as_str().unwrap();
        let (host, port) = url
            .strip_prefix("http://")
            .and_then(|address| address.split_once(':'))
            .unwrap();
        let service = &compose["services"][host];
        assert!(service.is_mapping(), "{url}: no service {host}");
        let published = serde_json::to_string(&service["ports"]).unwrap();
        assert!(
            published.contains(&format!(":{port}\"")),
            "{host} listens on {port}: {published}"
        );
        uids.insert(source["uid"].as_str().unwrap().to_owned());
    }
    // Every panel reads a provisioned data source; its metrics are checked against what the
    // services export by the whole-system test (tests/system).
    let dashboard: serde_json::Value = serde_json::from_str(stack::prometheus::DASHBOARD).unwrap();
    for panel in dashboard["panels"].as_array().unwrap() {
        let uid = panel["datasource"]["uid"].as_str().unwrap();
        assert!(uids.contains(uid), "{}: data source {uid}", panel["title"]);
    }
    assert_eq!(
        compose["services"]["jaeger"]["environment"]["COLLECTOR_OTLP_ENABLED"],
        Value::from("true")
    );
}
