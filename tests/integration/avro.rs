//! Avro outputs and the Schema Registry: the HTTP client against the in-repo registry stand-in
//! (register, cached ids, lookups, compatibility), schema evolution both ways, a topology run on
//! tansu whose output bytes decode with the `.avsc` file alone and equal the offline run, a run that
//! waits for a registry that is down at start, and `chatpulse tail` printing the decoded records.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::Schema;
use chatpulse::avro::registry::{HttpRegistry, RegistryError, SchemaRegistry};
use chatpulse::avro::{avro_to_json, decode_datum, wire, AvroSchema};
use chatpulse::topology::Topology;
use rdkafka::Message;
use schema_registry_converter::async_impl::schema_registry::{get_all_subjects, SrSettings};
use serde_json::{json, Value};

use crate::engine::{read_topic, start_with_registry, wait_for_committed};
use crate::engine_support::{end_markers, offline_outputs, produce, real_lines, topology_text};
use crate::harness::{brokers, create_topic, repo_file, unique};
use crate::support::schema_registry::SchemaRegistryServer;

const V1: &str = r#"{"type": "record", "name": "Minute", "namespace": "tv.chatpulse.test",
  "fields": [
    {"name": "channel", "type": "string", "doc": "channel"},
    {"name": "messages", "type": "long", "doc": "messages"}
  ]}"#;

/// V1 plus an optional field: backward compatible.
const V2: &str = r#"{"type": "record", "name": "Minute", "namespace": "tv.chatpulse.test",
  "fields": [
    {"name": "channel", "type": "string", "doc": "channel"},
    {"name": "messages", "type": "long", "doc": "messages"},
    {"name": "top_emote", "type": ["null", "string"], "default": null, "doc": "most used emote"}
  ]}"#;

/// V1 plus a required field: new readers cannot read old data.
const V3_INCOMPATIBLE: &str = r#"{"type": "record", "name": "Minute", "namespace": "tv.chatpulse.test",
  "fields": [
    {"name": "channel", "type": "string"},
    {"name": "messages", "type": "long"},
    {"name": "viewers", "type": "long"}
  ]}"#;

#[tokio::test]
async fn http_registry_registers_caches_ids_and_looks_schemas_up() {
    let server = SchemaRegistryServer::start();
    let registry = HttpRegistry::new(&server.url()).unwrap();
    let subject = "twitch.test.minute-value";
    let id = registry.register(subject, V1).await.unwrap();
    let served = server.requests();
    assert_eq!(registry.register(subject, V1).await.unwrap(), id);
    assert_eq!(server.requests(), served, "a registered id is cached");

    // A second client (no cache) gets the same id for the same schema.
    let fresh = HttpRegistry::new(&server.url()).unwrap();
    assert_eq!(fresh.register(subject, V1).await.unwrap(), id);
    let by_id = Schema::parse_str(&fresh.schema_by_id(id).await.unwrap()).unwrap();
    assert_eq!(
        by_id.canonical_form(),
        Schema::parse_str(V1).unwrap().canonical_form()
    );
    let latest = fresh.latest(subject).await.unwrap();
    assert_eq!((latest.id, latest.version), (id, 1));
    let subjects = get_all_subjects(&SrSettings::new(server.url()))
        .await
        .unwrap();
    assert_eq!(subjects, vec![subject.to_owned()]);
    assert!(fresh.is_compatible(subject, V2).await.unwrap());
    assert!(!fresh.is_compatible(subject, V3_INCOMPATIBLE).await.unwrap());
    assert!(matches!(
        fresh.latest("no-such-subject").await,
        Err(RegistryError::NotFound(_))
    ));
    assert!(matches!(
        fresh.schema_by_id(9_999).await,
        Err(RegistryError::NotFound(_))
    ));
}

#[tokio::test]
async fn schemas_evolve_backward_compatibly_and_incompatible_changes_are_refused() {
    let server = SchemaRegistryServer::start();
    let registry = HttpRegistry::new(&server.url()).unwrap();
    let subject = "twitch.test.evolve-value";
    let v1 = AvroSchema::parse("v1", V1).unwrap();
    let v2 = AvroSchema::parse("v2", V2).unwrap();
    let id1 = registry.register(subject, V1).await.unwrap();
    let id2 = registry.register(subject, V2).await.unwrap();
    assert_ne!(id1, id2);
    assert_eq!(registry.latest(subject).await.unwrap().version, 2);

    // A new producer writes v2; an old consumer reads it with v1 as its reader schema.
    let new = json!({"channel": "nymn", "messages": 42, "top_emote": "LUL"});
    let framed = wire::frame(id2, &chatpulse::avro::encode_datum(&new, &v2).unwrap());
    let (writer_id, datum) = wire::unframe(&framed).unwrap();
    let writer = Schema::parse_str(&registry.schema_by_id(writer_id).await.unwrap()).unwrap();
    assert_eq!(
        decode_datum(&writer, datum, Some(&v1.schema)).unwrap(),
        json!({"channel": "nymn", "messages": 42})
    );
    // Data written with v1 reads with v2: the new field is null.
    let old = chatpulse::avro::encode_datum(&json!({"channel": "a", "messages": 1}), &v1).unwrap();
    assert_eq!(
        decode_datum(&v1.schema, &old, Some(&v2.schema)).unwrap(),
        json!({"channel": "a", "messages": 1, "top_emote": null})
    );

    let refused = registry
        .register(subject, V3_INCOMPATIBLE)
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, RegistryError::Incompatible { reason, .. } if reason.contains("409")),
        "{refused}"
    );
    assert_eq!(registry.latest(subject).await.unwrap().id, id2);
}

/// The engagement topology with an Avro sink of the built-in schema.
fn avro_topology(app: &str, input: &str, output: &str) -> Topology {
    let text = topology_text(app, input, output, "300ms").replace(
        "[settings]",
        "format = \"avro\"\nschema = \"engagement_basic_minute\"\n[settings]",
    );
    Topology::parse(&text).expect("valid Avro topology")
}

/// The offline run's outputs, by key and window start.
fn offline(
    topology: &Topology,
    lines: &[String],
    markers: &[(i32, String)],
) -> BTreeMap<(String, i64), Value> {
    offline_outputs(topology, lines, markers)
        .outputs
        .into_iter()
        .map(|(_, k, v, _)| ((k, v["window_start"].as_i64().unwrap()), v))
        .collect()
}

/// Decodes a record value with the `.avsc` file alone: magic byte, id, datum.
fn decode_with_avsc(value: &[u8]) -> (u32, Value) {
    let text = std::fs::read_to_string(repo_file("avro/engagement_basic_minute.avsc")).unwrap();
    let schema = Schema::parse_str(&text).unwrap();
    assert_eq!(value[0], 0, "magic byte");
    let id = u32::from_be_bytes(value[1..5].try_into().unwrap());
    let mut datum = &value[5..];
    let v = GenericDatumReader::builder(&schema)
        .build()
        .unwrap()
        .read_value(&mut datum)
        .unwrap();
    assert!(datum.is_empty(), "the datum is the whole rest of the value");
    (id, avro_to_json(v))
}

/// Reads `output` and decodes it, keyed like [`offline`].
fn decoded_output(output: &str, expected: usize) -> (BTreeMap<(String, i64), Value>, u32) {
    let got = read_topic(output, expected, Duration::from_secs(120));
    let mut ids = Vec::new();
    let mut decoded = BTreeMap::new();
    for m in &got {
        let (id, v) = decode_with_avsc(m.payload().unwrap());
        ids.push(id);
        let key = String::from_utf8(m.key().unwrap().to_vec()).unwrap();
        assert_eq!(v["channel"], key.as_str(), "keyed by channel");
        decoded.insert((key, v["window_start"].as_i64().unwrap()), v);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one schema id for the whole topic: {ids:?}");
    (decoded, ids[0])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avro_run_on_real_chat_decodes_with_the_avsc_alone_and_tail_prints_it() {
    let server = SchemaRegistryServer::start();
    let (input, output) = (unique("avro-in"), unique("avro-out"));
    let app = unique("avro-app");
    create_topic(&input, 2).await;
    let lines = real_lines(3_000);
    let markers = end_markers(&lines, 2);
    let topology = avro_topology(&app, &input, &output);
    let expected = offline(&topology, &lines, &markers);
    assert!(
        expected.len() > 30,
        "many channel-minutes: {}",
        expected.len()
    );

    produce(&input, &lines, &markers).await;
    let state = tempfile::tempdir().unwrap();
    let (control, handle) = start_with_registry(topology, state.path(), Some(server.url()));
    let (got, id) = decoded_output(&output, expected.len());
    control.stop();
    let stats = handle.join().unwrap();
    assert_eq!(
        got, expected,
        "Avro output differs from the offline JSON; {stats:?}"
    );
    assert_eq!(stats.dead_letters, 0);

    // The registry knows the subject under TopicNameStrategy.
    let registry = HttpRegistry::new(&server.url()).unwrap();
    assert_eq!(
        registry
            .latest(&format!("{output}-value"))
            .await
            .unwrap()
            .id,
        id
    );

    // `chatpulse tail` prints the same records, decoded through the registry.
    let out = Command::new(env!("CARGO_BIN_EXE_chatpulse"))
        .env("CHATPULSE_LOG", "warn")
        .args([
            "tail",
            "--topic",
            &output,
            "--brokers",
            &brokers(),
            "--from-beginning",
        ])
        .args(["--schema-registry", &server.url(), "--idle-timeout", "20s"])
        .args(["--max-records", &expected.len().to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut tailed = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let rec: Value = serde_json::from_str(line).unwrap();
        for field in ["partition", "offset", "timestamp"] {
            assert!(rec[field].is_i64(), "{field} in {line}");
        }
        let key = rec["key"].as_str().unwrap().to_owned();
        let v = rec["value"].clone();
        tailed.insert((key, v["window_start"].as_i64().unwrap()), v);
    }
    assert_eq!(tailed, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_down_at_start_pauses_the_run_until_it_comes_up() {
    let mut server = SchemaRegistryServer::stopped();
    let (input, output) = (unique("avro-down-in"), unique("avro-down-out"));
    let app = unique("avro-down-app");
    create_topic(&input, 1).await;
    let lines = real_lines(600);
    let markers = end_markers(&lines, 1);
    let topology = avro_topology(&app, &input, &output);
    let expected = offline(&topology, &lines, &markers);
    produce(&input, &lines, &markers).await;

    let state = tempfile::tempdir().unwrap();
    let (control, handle) = start_with_registry(topology, state.path(), Some(server.url()));
    // The run creates its topics, then waits for the registry: over a few seconds of retries
    // nothing is processed, produced or committed.
    let early = read_topic(&output, 1, Duration::from_secs(4));
    assert!(early.is_empty(), "produced while the registry was down");
    assert_eq!(
        control.processed.load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    assert_eq!(control.commits.load(std::sync::atomic::Ordering::SeqCst), 0);
    // Every failed attempt is counted for Prometheus.
    assert!(control.metrics().registry_errors.get() >= 1);

    server.start_on(server.port());
    let (got, _) = decoded_output(&output, expected.len());
    wait_for_committed(&app, &input, 1, (lines.len() + markers.len()) as i64).await;
    control.stop();
    let stats = handle.join().unwrap();
    assert_eq!(got, expected, "{stats:?}");
    assert_eq!(stats.processed as usize, lines.len() + markers.len());
}

/// A topology file with an Avro sink whose schema is `avsc`, written next to it as `minute.avsc`.
fn topology_file_with_schema(dir: &std::path::Path, text: &str, avsc: &str) -> std::path::PathBuf {
    std::fs::write(dir.join("minute.avsc"), avsc).unwrap();
    let file = dir.join("topology.toml");
    std::fs::write(
        &file,
        text.replace(
            "[settings]",
            "format = \"avro\"\nschema = \"minute.avsc\"\n[settings]",
        ),
    )
    .unwrap();
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_that_do_not_fit_the_schema_go_to_the_dlq_and_processing_continues() {
    let server = SchemaRegistryServer::start();
    let (input, output) = (unique("avro-dlq-in"), unique("avro-dlq-out"));
    let app = unique("avro-dlq-app");
    create_topic(&input, 1).await;
    let lines = real_lines(400);
    let markers = end_markers(&lines, 1);
    // The schema wants unique_chatters as a string: every output is refused.
    let avsc = std::fs::read_to_string(repo_file("avro/engagement_basic_minute.avsc"))
        .unwrap()
        .replace(
            r#"{"name": "unique_chatters", "type": "long""#,
            r#"{"name": "unique_chatters", "type": "string""#,
        );
    assert!(avsc.contains(r#""unique_chatters", "type": "string""#));
    let dir = tempfile::tempdir().unwrap();
    let file = topology_file_with_schema(
        dir.path(),
        &topology_text(&app, &input, &output, "300ms"),
        &avsc,
    );
    // The schema path is relative to the topology file.
    let topology = Topology::load(&file).unwrap();
    let expected = offline(&topology, &lines, &markers);
    produce(&input, &lines, &markers).await;

    let state = tempfile::tempdir().unwrap();
    let (control, handle) = start_with_registry(topology.clone(), state.path(), Some(server.url()));
    let dlq = read_topic(
        &topology.dlq_topic(),
        expected.len(),
        Duration::from_secs(120),
    );
    wait_for_committed(&app, &input, 1, (lines.len() + markers.len()) as i64).await;
    control.stop();
    let stats = handle.join().unwrap();

    assert_eq!(
        stats.processed as usize,
        lines.len() + markers.len(),
        "{stats:?}"
    );
    assert_eq!(stats.dead_letters as usize, expected.len(), "{stats:?}");
    assert_eq!(stats.produced, 0, "{stats:?}");
    let mut refused = BTreeMap::new();
    for m in &dlq {
        use rdkafka::message::Headers;
        let h = m.headers().expect("DLQ records carry headers");
        let reason = h
            .iter()
            .find(|h| h.key == "chatpulse.error")
            .unwrap()
            .value
            .unwrap();
        let reason = String::from_utf8_lossy(reason);
        assert!(
            reason.contains("field unique_chatters: expected a string, got an integer"),
            "{reason}"
        );
        let v: Value = serde_json::from_slice(m.payload().unwrap()).unwrap();
        let key = String::from_utf8(m.key().unwrap().to_vec()).unwrap();
        refused.insert((key, v["window_start"].as_i64().unwrap()), v);
    }
    assert_eq!(
        refused, expected,
        "the DLQ keeps every refused output as JSON"
    );
}

#[test]
fn topology_check_shows_the_schema_and_refuses_an_avro_sink_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let text = topology_text("check-app", "in", "out", "1s");
    let avsc = std::fs::read_to_string(repo_file("avro/engagement_basic_minute.avsc")).unwrap();
    let file = topology_file_with_schema(dir.path(), &text, &avsc);
    let check = |file: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_chatpulse"))
            .args(["topology", "check"])
            .arg(file)
            .output()
            .unwrap()
    };
    let ok = check(&file);
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let schema_path = dir.path().join("minute.avsc");
    assert!(
        stdout.contains(&format!("(Avro, schema {})", schema_path.display())),
        "{stdout}"
    );

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        text.replace("[settings]", "format = \"avro\"\n[settings]"),
    )
    .unwrap();
    let out = check(&bad);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("has format = \"avro\" but no schema"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_while_waiting_for_the_registry_ends_the_run_cleanly() {
    let server = SchemaRegistryServer::stopped();
    let (input, output) = (unique("avro-stop-in"), unique("avro-stop-out"));
    let app = unique("avro-stop-app");
    create_topic(&input, 1).await;
    let topology = avro_topology(&app, &input, &output);
    let state = tempfile::tempdir().unwrap();
    let (control, handle) = start_with_registry(topology, state.path(), Some(server.url()));
    // The output topic exists once the run is past topic creation and waiting for the registry.
    drop(read_topic(&output, 1, Duration::ZERO));
    control.stop();
    let stats = handle.join().expect("a stop while waiting is not an error");
    assert_eq!((stats.processed, stats.commits), (0, 0), "{stats:?}");
}
