//! Helpers shared by the engine tests: the test topology, real chat lines, end-of-input markers,
//! producing, and the offline reference run.

use std::sync::Arc;
use std::time::Duration;

use chatpulse::chat::import::{import, Format, ImportOptions};
use chatpulse::chat::ChatEvent;
use chatpulse::store::memory::MemoryBackend;
use chatpulse::topology::offline::{run_offline, run_offline_sources, Values};
use chatpulse::topology::route::MemoryDestination;
use chatpulse::topology::Topology;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::Value;

use crate::harness::{data_dir, settings};

/// The text of a topology reading `input` and writing per-minute counts to `output`.
pub fn topology_text(app: &str, input: &str, output: &str, commit_interval: &str) -> String {
    format!(
        r#"
application_id = "{app}"
[[source]]
name = "chat"
topic = "{input}"
[[processor]]
name = "per-minute"
kind = "chat_count"
source = "chat"
sink = "minutes"
window = {{ kind = "tumbling", size = "1m", grace = "5s" }}
store = "counts"
[[sink]]
name = "minutes"
topic = "{output}"
[settings]
commit_interval = "{commit_interval}"
idle_timeout = "1h"
"#
    )
}

/// The test topology, validated.
pub fn topology(app: &str, input: &str, output: &str) -> Topology {
    Topology::parse(&topology_text(app, input, output, "300ms")).expect("valid test topology")
}

/// Real chat: the first `n` messages of one CSV log of the multi-channel set, as tagged IRC lines.
pub fn real_lines(n: usize) -> Vec<String> {
    let path = data_dir().join("dev_csv_multichannel_2025/chat_logs78.csv.gz");
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let reader = std::io::BufReader::new(flate2::read::GzDecoder::new(file));
    import(Format::Csv, ImportOptions::default(), reader)
        .filter_map(Result::ok)
        .map(|l| l.line)
        .take(n)
        .collect()
}

/// One end-of-input line per partition, an hour after the data, so every window closes in both
/// runs: a NOTICE carries event time but no chat message.
pub fn end_markers(lines: &[String], partitions: i32) -> Vec<(i32, String)> {
    let last = lines
        .iter()
        .filter_map(|l| ChatEvent::parse(l).ok()?.ts_ms)
        .max()
        .unwrap();
    (0..partitions)
        .map(|p| {
            (
                p,
                format!(
                    "@tmi-sent-ts={} :tmi.twitch.tv NOTICE #end-of-input :end",
                    last + 3_600_000
                ),
            )
        })
        .collect()
}

pub async fn produce(topic: &str, lines: &[String], markers: &[(i32, String)]) {
    produce_with(&settings(), topic, lines, markers).await;
}

/// [`produce`] with a producer built from `settings` (for example another partitioner).
pub async fn produce_with(
    settings: &chatpulse::kafka::KafkaSettings,
    topic: &str,
    lines: &[String],
    markers: &[(i32, String)],
) {
    let producer: FutureProducer = settings.producer_config().create().unwrap();
    let mut sends = Vec::new();
    for line in lines {
        let channel = ChatEvent::parse(line).unwrap().channel.to_owned();
        let producer = producer.clone();
        let line = line.clone();
        let topic = topic.to_owned();
        sends.push(async move {
            producer
                .send(
                    FutureRecord::to(&topic).key(&channel).payload(&line),
                    Duration::from_secs(30),
                )
                .await
                .map(|_| ())
                .map_err(|(e, _)| e)
        });
    }
    for r in futures::future::join_all(sends).await {
        r.expect("delivered");
    }
    for (p, line) in markers {
        producer
            .send(
                FutureRecord::<(), _>::to(topic).partition(*p).payload(line),
                Duration::from_secs(30),
            )
            .await
            .expect("marker delivered");
    }
}

pub use crate::minutes::Minutes;

/// Adds one result to `m`, checking that a duplicate re-states the same value.
pub fn add_minute(m: &mut Minutes, v: &Value) {
    let key = (
        v["channel"].as_str().unwrap().to_owned(),
        v["window_start"].as_i64().unwrap(),
    );
    let val = (
        v["messages"].as_u64().unwrap(),
        v["unique_chatters"].as_u64().unwrap(),
    );
    if let Some(prev) = m.insert(key.clone(), val) {
        assert_eq!(
            prev, val,
            "a duplicate of {key:?} must re-state the same value"
        );
    }
}

/// The results among `values`, by (channel, window start).
pub fn minutes<'a>(values: impl IntoIterator<Item = &'a Value>) -> Minutes {
    let mut m = Minutes::new();
    for v in values {
        add_minute(&mut m, v);
    }
    m
}

pub fn offline_minutes(
    topology: &Topology,
    lines: &[String],
    markers: &[(i32, String)],
) -> Minutes {
    let results = offline_outputs(topology, lines, markers);
    minutes(results.outputs.iter().map(|(_, _, v, _)| v))
}

/// The offline run of `lines` then `markers` through `topology`, in memory.
pub fn offline_outputs(
    topology: &Topology,
    lines: &[String],
    markers: &[(i32, String)],
) -> MemoryDestination {
    let stores = topology.stores();
    let refs: Vec<&str> = stores.iter().map(String::as_str).collect();
    let mut backend = MemoryBackend::new(&refs).unwrap();
    let mut results = MemoryDestination::default();
    let values = lines
        .iter()
        .map(String::as_str)
        .chain(markers.iter().map(|(_, l)| l.as_str()));
    run_offline(
        Arc::new(topology.clone()),
        values,
        &mut backend,
        &mut results,
        1_000,
    )
    .unwrap();
    results
}

/// The offline run of a topology whose source 0 is chat and source 1 rows, the two inputs merged
/// by event time: the result values, with nothing late.
pub fn offline_chat_and_rows(
    topology: &Topology,
    chat: Vec<String>,
    rows: Vec<String>,
) -> Vec<Value> {
    let stores = topology.stores();
    let stores: Vec<&str> = stores.iter().map(String::as_str).collect();
    let mut backend = MemoryBackend::new(&stores).unwrap();
    let mut out = MemoryDestination::default();
    let (mut chat, mut rows) = (Values::new(chat), Values::new(rows));
    run_offline_sources(
        Arc::new(topology.clone()),
        vec![(0, &mut chat), (1, &mut rows)],
        &mut backend,
        &mut out,
        1_000,
    )
    .unwrap();
    assert!(out.late.is_empty(), "offline: {:?}", out.late.first());
    out.outputs.into_iter().map(|(_, _, v, _)| v).collect()
}
