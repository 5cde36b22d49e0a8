//! The Kubernetes manifests (`shared/k8s`) checked against what the code reads, without a
//! cluster (`make test` also renders them with `kubectl kustomize` and validates the result
//! against the Kubernetes schemas): each container's environment against its service's `Config`,
//! the static group membership, probes, ports, disruption budgets, and every ConfigMap and Secret
//! key a container reads against the ones the kustomizations generate.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_yaml::Value;
use service_env::ServiceEnv;

mod service_env;

fn k8s() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/k8s")).to_owned()
}

fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::Deserializer::from_str(&text)
        .map(|document| Value::deserialize(document).unwrap())
        .collect()
}

/// Every object of the base, by kind and name.
fn base() -> Vec<Value> {
    let kustomization = &documents(&k8s().join("base/kustomization.yaml"))[0];
    kustomization["resources"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|file| documents(&k8s().join("base").join(file.as_str().unwrap())))
        .collect()
}

fn object<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

/// The keys a generator named `sagaworks` of `generators` (`configMapGenerator`, …) defines.
fn generated_keys(kustomization: &Value, generators: &str) -> BTreeSet<String> {
    kustomization[generators]
        .as_sequence()
        .unwrap_or_else(|| panic!("no {generators}"))
        .iter()
        .filter(|generator| generator["name"] == "sagaworks")
        .flat_map(|generator| generator["literals"].as_sequence().unwrap())
        .map(|literal| {
            literal
                .as_str()
                .unwrap()
                .split('=')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// The workload of each service: a StatefulSet for a participant (static membership needs a
/// name that survives the pod), a Deployment for the gateway.
fn workloads(objects: &[Value]) -> Vec<(ServiceEnv, &Value)> {
    ServiceEnv::all()
        .into_iter()
        .map(|config| {
            let kind = if config.name == "payment-gateway" {
                "Deployment"
            } else {
                "StatefulSet"
            };
            let workload = object(objects, kind, config.name);
            (config, workload)
        })
        .collect()
}

fn container(workload: &Value) -> &Value {
    let containers = workload["spec"]["template"]["spec"]["containers"]
        .as_sequence()
        .unwrap();
    assert_eq!(containers.len(), 1);
    &containers[0]
}

fn env<'a>(container: &'a Value, name: &str) -> Option<&'a Value> {
    container["env"]
        .as_sequence()?
        .iter()
        .find(|var| var["name"] == name)
}

#[test]
fn every_container_gets_exactly_what_its_config_reads() {
    let objects = base();
    for (config, workload) in workloads(&objects) {
        let container = container(workload);
        let set: BTreeSet<String> = container["env"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|var| var["name"].as_str().unwrap().to_owned())
            .collect();
        assert!(container["envFrom"].is_null(), "{}: env only", config.name);
        config.check(&set, "shared/k8s");
        assert_eq!(container["command"][0], Value::from(config.name));
    }
}

#[test]
fn each_participant_replica_is_a_static_member_named_after_its_pod() {
    let objects = base();
    for participant in events::PARTICIPANTS {
        let workload = object(&objects, "StatefulSet", participant.name);
        let id = env(container(workload), "KAFKA_GROUP_INSTANCE_ID")
            .unwrap_or_else(|| panic!("{} has no KAFKA_GROUP_INSTANCE_ID", participant.name));
        assert_eq!(
            id["valueFrom"]["fieldRef"]["fieldPath"],
            Value::from("metadata.name")
        );
        let replicas = workload["spec"]["replicas"].as_u64().unwrap() as usize;
        assert!(
            (2..=stack::MAX_REPLICAS).contains(&replicas),
            "{}: {replicas} replicas, not 2 to one per partition",
            participant.name
        );
    }
}

#[test]
fn probes_ports_and_disruption_budgets_match_each_service() {
    let objects = base();
    for (config, workload) in workloads(&objects) {
        let name = config.name;
        let container = container(workload);
        let listens = env(container, "HTTP_ADDR").unwrap()["value"]
            .as_str()
            .unwrap();
        let port: u64 = listens.rsplit(':').next().unwrap().parse().unwrap();
        assert_eq!(container["ports"][0]["containerPort"], Value::from(port));
        let probe_port = container["ports"][0]["name"].clone();
        for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
            let get = &container[probe]["httpGet"];
            assert_eq!(get["path"], Value::from(path), "{name}'s {probe}");
            assert_eq!(get["port"], probe_port, "{name}'s {probe}");
        }
        let labels = &workload["spec"]["template"]["metadata"]["labels"];
        assert_eq!(workload["spec"]["selector"]["matchLabels"], *labels);
        let service = object(&objects, "Service", name);
        assert_eq!(service["spec"]["selector"], *labels, "{name}'s Service");
        let spec_port = events::participants::find(name).map_or(8090, |p| p.port);
        assert_eq!(service["spec"]["ports"][0]["port"], Value::from(spec_port));
        let budget = object(&objects, "PodDisruptionBudget", name);
        assert_eq!(budget["spec"]["selector"]["matchLabels"], *labels);
        let requests = &container["resources"]["requests"];
        assert!(
            requests["cpu"].is_string() && requests["memory"].is_string(),
            "{name} requests no resources"
        );
        if workload["kind"] == "StatefulSet" {
            assert_eq!(workload["spec"]["serviceName"], Value::from(name));
        }
    }
}

#[test]
fn every_configmap_and_secret_key_read_is_generated_and_every_secret_is_read() {
    let objects = base();
    let base = &documents(&k8s().join("base/kustomization.yaml"))[0];
    let local = &documents(&k8s().join("overlays/local/kustomization.yaml"))[0];
    let config_keys = generated_keys(base, "configMapGenerator");
    let secret_keys = generated_keys(local, "secretGenerator");
    let mut secrets_read = BTreeSet::new();
    for (config, workload) in workloads(&objects) {
        for var in container(workload)["env"].as_sequence().unwrap() {
            let from = &var["valueFrom"];
            for (reference, keys) in [
                ("configMapKeyRef", &config_keys),
                ("secretKeyRef", &secret_keys),
            ] {
                if from[reference].is_null() {
                    continue;
                }
                assert_eq!(from[reference]["name"], Value::from("sagaworks"));
                let key = from[reference]["key"].as_str().unwrap();
                assert_eq!(var["name"], Value::from(key), "{}: {key}", config.name);
                assert!(
                    keys.contains(key),
                    "{}: nothing generates {key}",
                    config.name
                );
                if reference == "secretKeyRef" {
                    secrets_read.insert(key.to_owned());
                }
            }
        }
    }
    assert_eq!(secrets_read, secret_keys, "a secret nobody reads");
    // The overlay only changes values the base already has.
    assert!(generated_keys(local, "configMapGenerator").is_subset(&config_keys));
}

#[test]
fn the_base_lists_every_manifest_in_its_folder() {
    let kustomization = &documents(&k8s().join("base/kustomization.yaml"))[0];
    let listed: BTreeSet<String> = kustomization["resources"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|file| file.as_str().unwrap().to_owned())
        .collect();
    let present: BTreeSet<String> = std::fs::read_dir(k8s().join("base"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|file| file != "kustomization.yaml")
        .collect();
    assert_eq!(listed, present);
}
