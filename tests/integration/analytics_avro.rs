//! The shipped analytics topologies on tansu with Avro sinks: real chat in, every output topic's
//! bytes decoded with the `.avsc` files alone (magic byte 0, 4-byte schema id, Avro binary) and equal
//! to the offline run of the same topology.

use std::time::Duration;

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::Schema;
use chatpulse::avro::avro_to_json;
use chatpulse::chat::import::{import, Format, ImportOptions};
use chatpulse::topology::route::MemoryDestination;
use chatpulse::topology::Topology;
use serde_json::Value;

use crate::engine::{read_topic, start_with_registry};
use crate::engine_support::{end_markers, offline_outputs, produce};
use crate::harness::{create_topic, data_dir, repo_file, unique};

/// Real chat with spikes and subscriptions: the Shanghai Dragons win (overwatch log) and the
/// nightblue3 log, in time order (2017, then 2019).
pub(crate) fn lines() -> Vec<String> {
    let read = |rel: &str, format, channel: Option<&str>, offset_h: i32| {
        let file = std::fs::File::open(data_dir().join(rel)).unwrap();
        let options = ImportOptions {
            channel: channel.map(str::to_owned),
            utc_offset_s: offset_h * 3600,
        };
        import(format, options, std::io::BufReader::new(file))
            .filter_map(Result::ok)
            .map(|r| r.line)
            // A few lines were cut by the logger; the engine tests cover their way to the DLQ.
            .filter(|l| chatpulse::chat::ChatEvent::parse(l).is_ok())
            .collect::<Vec<_>>()
    };
    let mut all = read(
        "dev_overrustle_nightblue3_2017/twitchlogs_nightblue3_2017-10-25.txt",
        Format::OverRustle,
        Some("nightblue3"),
        0,
    );
    all.extend(read(
        "dev_irc_untagged_overwatch_2019/shanghai_win.log",
        Format::IrcLogged,
        None,
        -8,
    ));
    all
}

/// `topologies/<name>.toml` as shipped, on its own application id (`app`) and sink topics, reading
/// `input`, with an hour's idle timeout.
pub(crate) fn shipped_on(name: &str, app: &str, input: &str) -> Topology {
    let mut topology = Topology::load(&repo_file(&format!("topologies/{name}.toml"))).unwrap();
    topology.application_id = unique(app);
    topology.sources[0].topic = input.to_owned();
    topology.idle_timeout_ms = 3_600_000;
    for sink in &mut topology.sinks {
        sink.topic = unique(&sink.topic);
    }
    topology
}

/// The values the offline run wrote to `topic`.
pub(crate) fn outputs_of(offline: &MemoryDestination, topic: &str) -> Vec<Value> {
    offline
        .outputs
        .iter()
        .filter(|(t, ..)| t == topic)
        .map(|(_, _, v, _)| v.clone())
        .collect()
}

/// Decodes a record value with the `.avsc` file alone.
pub(crate) fn decode(value: &[u8], schema: &Schema) -> Value {
    assert_eq!(value[0], 0, "magic byte");
    let mut datum = &value[5..];
    let v = GenericDatumReader::builder(schema)
        .build()
        .unwrap()
        .read_value(&mut datum)
        .unwrap();
    assert!(datum.is_empty(), "the datum is the whole rest of the value");
    avro_to_json(v)
}

pub(crate) fn sorted(values: impl IntoIterator<Item = Value>) -> Vec<String> {
    let mut v: Vec<String> = values.into_iter().map(|v| v.to_string()).collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_analytics_topic_decodes_with_its_avsc_and_equals_the_offline_run() {
    let lines = lines();
    let input = unique("analytics-in");
    create_topic(&input, 1).await;
    let markers = end_markers(&lines, 1);
    produce(&input, &lines, &markers).await;
    for name in [
        "chat-events",
        "engagement",
        "spikes",
        "subscriptions",
        "ad-slots",
    ] {
        let topology = shipped_on(name, name, &input);
        let offline = offline_outputs(&topology, &lines, &markers);
        let state = tempfile::tempdir().unwrap();
        let registry = format!("mock://{}", unique("registry"));
        let (control, handle) = start_with_registry(topology.clone(), state.path(), Some(registry));
        for sink in &topology.sinks {
            let schema_name = sink.schema.clone().expect("shipped sinks are Avro");
            let text =
                std::fs::read_to_string(repo_file(&format!("avro/{schema_name}.avsc"))).unwrap();
            let schema = Schema::parse_str(&text).unwrap();
            let expected = outputs_of(&offline, &sink.topic);
            assert!(!expected.is_empty(), "{name}: {} has results", sink.topic);
            let got = read_topic(&sink.topic, expected.len(), Duration::from_secs(180));
            let decoded: Vec<Value> = got
                .iter()
                .map(|m| decode(rdkafka::Message::payload(m).unwrap(), &schema))
                .collect();
            assert_eq!(
                sorted(decoded),
                sorted(expected),
                "{name}: {} decoded with avro/{schema_name}.avsc",
                sink.topic
            );
        }
        control.stop();
        let stats = handle.join().unwrap();
        assert_eq!(
            stats.dead_letters as usize,
            offline.dead_letters.len(),
            "{name}"
        );
    }
}
