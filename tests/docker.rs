//! The deployment files, checked without Docker (which cannot run on the test machines): the compose
//! file parses and names the services, images, ports and files it needs; the Dockerfile copies paths
//! that exist; Prometheus scrapes the chatpulse services; the chatpulse config file is accepted by
//! the real CLI; and the Grafana dashboard parses and queries only metrics chatpulse registers.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chatpulse::metrics::Metrics;
use clap::CommandFactory;
use serde_yaml::Value;

/// The ingest metrics (registered by `chatpulse ingest` in the same registry).
const INGEST_METRICS: &[&str] = &[
    "chatpulse_ingest_lines_received_total",
    "chatpulse_ingest_lines_produced_total",
    "chatpulse_ingest_lines_dropped_total",
    "chatpulse_ingest_reconnects_total",
];

fn docker_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docker")
}

fn compose() -> Value {
    let text = std::fs::read_to_string(docker_dir().join("docker-compose.yml")).unwrap();
    serde_yaml::from_str(&text).expect("docker-compose.yml is valid YAML")
}

/// A service with YAML merge keys (`<<: *chatpulse`) resolved, as Compose does.
fn service(compose: &Value, name: &str) -> serde_yaml::Mapping {
    let mut value = compose["services"][name].clone();
    value.apply_merge().unwrap();
    value
        .as_mapping()
        .unwrap_or_else(|| panic!("service {name} is missing"))
        .clone()
}

fn get<'a>(m: &'a serde_yaml::Mapping, key: &str) -> Option<&'a Value> {
    m.get(Value::from(key))
}

#[test]
fn compose_file_names_every_service_image_port_and_file() {
    let compose = compose();
    let services: BTreeSet<String> = compose["services"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    for name in [
        "kafka",
        "schema-registry",
        "ingest",
        "run",
        "monitor",
        "dashboard",
        "prometheus",
        "grafana",
    ] {
        assert!(
            services.contains(name),
            "service {name} missing: {services:?}"
        );
    }
    let image = |name: &str| {
        get(&service(&compose, name), "image")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        image("kafka").starts_with("apache/kafka:"),
        "official Apache Kafka image (KRaft)"
    );
    assert!(image("schema-registry").starts_with("confluentinc/cp-schema-registry:"));
    assert!(image("prometheus").starts_with("prom/prometheus:"));
    assert!(image("grafana").starts_with("grafana/grafana:"));
    let kafka = service(&compose, "kafka");
    let roles = get(&kafka, "environment").unwrap()["KAFKA_PROCESS_ROLES"]
        .as_str()
        .unwrap();
    assert_eq!(roles, "broker,controller", "KRaft: no ZooKeeper");
    assert!(!services.iter().any(|s| s.contains("zookeeper")));

    let dashboard = service(&compose, "dashboard");
    let command: Vec<&str> = get(&dashboard, "command")
        .and_then(Value::as_sequence)
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(command, ["dashboard", "--addr", "0.0.0.0:8088"]);
    let token = get(&dashboard, "environment").unwrap()["CHATPULSE_DASHBOARD_TOKEN"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        token.starts_with("${CHATPULSE_DASHBOARD_TOKEN:?"),
        "binding 0.0.0.0 needs a token, so compose asks for one: {token}"
    );

    let monitor = service(&compose, "monitor");
    assert_eq!(
        get(&monitor, "profiles").unwrap()[0],
        "monitor",
        "monitor only with its profile"
    );
    let env = get(&monitor, "environment").unwrap();
    assert!(env["TWITCH_CLIENT_ID"].is_string() && env["TWITCH_CLIENT_SECRET"].is_string());

    let mut host_ports = BTreeSet::new();
    for name in &services {
        let s = service(&compose, name);
        for port in get(&s, "ports")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            let port = port.as_str().expect("ports are quoted strings");
            let (host, container) = port.split_once(':').expect("HOST:CONTAINER");
            let host: u16 = host.parse().unwrap();
            container.parse::<u16>().unwrap();
            assert!(host_ports.insert(host), "host port {host} used twice");
        }
        for volume in get(&s, "volumes")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            let source = volume.as_str().unwrap().split(':').next().unwrap();
            if source.starts_with('.') {
                let path = docker_dir().join(source);
                assert!(
                    path.exists(),
                    "service {name} mounts {source}, which does not exist"
                );
            } else {
                assert!(
                    compose["volumes"]
                        .as_mapping()
                        .unwrap()
                        .contains_key(Value::from(source)),
                    "service {name} uses volume {source}, which is not declared"
                );
            }
        }
        if let Some(build) = get(&s, "build") {
            let context = docker_dir().join(build["context"].as_str().unwrap());
            assert!(context
                .join(build["dockerfile"].as_str().unwrap())
                .is_file());
            assert!(
                image(name).starts_with("chatpulse"),
                "{name} runs the chatpulse image"
            );
        }
    }
    for name in ["ingest", "run", "monitor"] {
        let s = service(&compose, name);
        let command = get(&s, "command").unwrap();
        assert_eq!(command[0], name, "service {name} runs `chatpulse {name}`");
    }
}

#[test]
fn dockerfile_is_multi_stage_non_root_and_copies_existing_paths() {
    let text = std::fs::read_to_string(docker_dir().join("Dockerfile")).unwrap();
    let froms: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(froms.len(), 2, "a builder and a runtime stage: {froms:?}");
    assert!(froms[1].contains("slim"), "slim runtime: {}", froms[1]);
    assert!(text
        .lines()
        .any(|l| l.starts_with("USER ") && !l.contains("root")));
    for line in text
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let parts: Vec<&str> = line.split_whitespace().collect();
        for source in &parts[1..parts.len() - 1] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(source);
            assert!(
                path.exists(),
                "Dockerfile copies {source}, which does not exist"
            );
        }
    }
    // The image holds a stripped binary, not the release build's line tables.
    assert!(
        text.contains("strip --strip-all -o /usr/local/bin/chatpulse target/release/chatpulse"),
        "the builder strips the binary it copies"
    );
    // The builder installs what scripts/setup installs.
    let setup =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/setup"))
            .unwrap();
    for pkg in [
        "cmake",
        "libclang-dev",
        "libcurl4-openssl-dev",
        "libssl-dev",
        "pkg-config",
    ] {
        assert!(setup.contains(pkg) && text.contains(pkg), "{pkg}");
    }
}

#[test]
fn prometheus_scrapes_the_chatpulse_services_on_their_metrics_port() {
    let text = std::fs::read_to_string(docker_dir().join("prometheus.yml")).unwrap();
    let config: Value = serde_yaml::from_str(&text).unwrap();
    let compose = compose();
    let mut scraped = BTreeSet::new();
    for job in config["scrape_configs"].as_sequence().unwrap() {
        for target in job["static_configs"][0]["targets"].as_sequence().unwrap() {
            let (host, port) = target.as_str().unwrap().split_once(':').unwrap();
            assert_eq!(
                port, "9464",
                "chatpulse serves /metrics on 9464 in the container"
            );
            assert!(
                compose["services"].get(host).is_some(),
                "scrapes unknown service {host}"
            );
            scraped.insert(host.to_owned());
        }
    }
    assert!(
        scraped.contains("run") && scraped.contains("ingest"),
        "{scraped:?}"
    );
}

#[test]
fn the_chatpulse_config_file_is_accepted_by_the_cli() {
    let command = chatpulse::cli::config::apply_file(
        chatpulse::cli::Cli::command(),
        &docker_dir().join("chatpulse.toml"),
    )
    .expect("every key is a flag");
    let matches = command
        .try_get_matches_from(["chatpulse", "run"])
        .expect("run needs no flag");
    let run = matches.subcommand_matches("run").unwrap();
    assert_eq!(run.get_one::<String>("brokers").unwrap(), "kafka:9092");
    assert_eq!(
        run.get_one::<String>("metrics_addr").unwrap(),
        "0.0.0.0:9464"
    );
}

#[test]
fn dashboard_queries_only_metrics_chatpulse_registers() {
    let path = docker_dir().join("grafana/dashboards/chatpulse.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).expect("dashboard JSON");
    let mut known: BTreeSet<String> = Metrics::new().names().into_iter().collect();
    known.extend(INGEST_METRICS.iter().map(|s| s.to_string()));
    let metric = regex::Regex::new(r"chatpulse_[a-z0-9_]+").unwrap();
    let mut queried = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "panel {} has no query", panel["title"]);
        for target in targets {
            let expr = target["expr"].as_str().unwrap();
            let names: Vec<&str> = metric.find_iter(expr).map(|m| m.as_str()).collect();
            assert!(!names.is_empty(), "{expr} queries no chatpulse metric");
            for name in names {
                let base = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s))
                    .filter(|b| known.contains(*b))
                    .unwrap_or(name);
                assert!(
                    known.contains(base),
                    "{expr}: {name} is not a chatpulse metric"
                );
                queried.insert(base.to_owned());
            }
        }
    }
    for needed in [
        "chatpulse_consumer_lag_records",
        "chatpulse_processing_latency_seconds",
        "chatpulse_end_to_end_latency_seconds",
        "chatpulse_records_produced_total",
    ] {
        assert!(queried.contains(needed), "the dashboard shows {needed}");
    }
}
