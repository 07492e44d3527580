//! Avro for everyone else: `topologies/analytics.toml` runs on tansu with its Avro sinks registered
//! in the in-repo Schema Registry server over HTTP, and a Python consumer (`fastavro`, from PyPI,
//! in the tests' venv; tests/support/avro_decode.py) decodes every record of every output topic, fetching each writer
//! schema by id from the registry as any non-Rust consumer would. What it reads equals the offline
//! run of the same topology.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::analytics_avro::{lines, outputs_of, shipped_on, sorted};
use crate::archive::python;
use crate::engine::{read_topic, start_with_registry};
use crate::engine_support::{end_markers, offline_outputs, produce};
use crate::harness::{create_topic, repo_file, unique};
use crate::support::schema_registry::SchemaRegistryServer;

/// Decodes `values` with tests/support/avro_decode.py against `registry`: one JSON value each.
fn python_decode(registry: &str, values: &[Vec<u8>]) -> Vec<Value> {
    let mut child = Command::new(python())
        .arg(repo_file("tests/support/avro_decode.py"))
        .arg(registry)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut input = String::new();
    for v in values {
        for b in v {
            input.push_str(&format!("{b:02x}"));
        }
        input.push('\n');
    }
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()).unwrap());
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "avro_decode.py failed (is fastavro in the tests' venv? `bash scripts/setup` installs it): {stderr}"
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fastavro_decodes_every_analytics_topic_through_the_registry_and_equals_the_offline_run() {
    let lines = lines();
    let input = unique("avro-python-in");
    create_topic(&input, 1).await;
    let markers = end_markers(&lines, 1);
    produce(&input, &lines, &markers).await;

    let topology = shipped_on("analytics", "avro-python", &input);
    let offline = offline_outputs(&topology, &lines, &markers);
    let registry = SchemaRegistryServer::start();
    let state = tempfile::tempdir().unwrap();
    let (control, handle) =
        start_with_registry(topology.clone(), state.path(), Some(registry.url()));
    for sink in &topology.sinks {
        let expected = outputs_of(&offline, &sink.topic);
        assert!(!expected.is_empty(), "{} has results", sink.topic);
        let got = read_topic(&sink.topic, expected.len(), Duration::from_secs(180));
        let values: Vec<Vec<u8>> = got
            .iter()
            .map(|m| rdkafka::Message::payload(m).unwrap().to_vec())
            .collect();
        let decoded = python_decode(&registry.url(), &values);
        assert_eq!(decoded.len(), values.len(), "{}", sink.topic);
        assert_eq!(
            sorted(decoded),
            sorted(expected),
            "{}: fastavro's reading against the offline run",
            sink.topic
        );
    }
    control.stop();
    let stats = handle.join().unwrap();
    assert_eq!(stats.dead_letters as usize, offline.dead_letters.len());
}
