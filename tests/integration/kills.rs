//! Repeated SIGKILLs: over 200k real chat lines through the shipped analytics topology on tansu,
//! with ten seeded SIGKILLs of `chatpulse run` at random moments while it processes and commits,
//! each followed by a restart on the same state dir. Afterwards the last result of every key equals
//! the offline run of the same input and a brute-force count of the lines, and every duplicate
//! re-states the same value.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use apache_avro::Schema;
use chatpulse::chat::import::{import, Format, ImportOptions};
use chatpulse::chat::{ChatEvent, EventKind};
use chatpulse::kafka::client::ReadToEnd;
use chatpulse::topology::Topology;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::Message;
use serde_json::Value;

use crate::analytics_avro::decode;
use crate::engine_support::{end_markers, minutes, offline_outputs, produce};
use crate::harness::{create_topic, data_dir, repo_file, settings, unique};
use crate::scale_out::{committed, spawn, Instance, KeptDir};
use crate::store::Rng;
use crate::support::schema_registry::SchemaRegistryServer;

const PARTITIONS: i32 = 6;
const KILLS: usize = 10;
/// The seed of the kill moments; a failing run names it so it can be replayed.
const SEED: u64 = 0x5eed_0007;

/// Four logging runs of the multi-channel CSV set (about 220k messages of 100+ channels), in time
/// order, so no record is late in either run and the offline run is a fair reference.
fn lines() -> Vec<String> {
    let mut all: Vec<(i64, String)> = Vec::new();
    for file in [
        "chat_logs13.csv.gz",
        "chat_logs33.csv.gz",
        "chat_logs38.csv.gz",
        "chat_logs55.csv.gz",
    ] {
        let path = data_dir().join("dev_csv_multichannel_2025").join(file);
        let reader = std::io::BufReader::new(flate2::read::GzDecoder::new(
            std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        ));
        for record in import(Format::Csv, ImportOptions::default(), reader).filter_map(Result::ok) {
            let Some(ts) = ChatEvent::parse(&record.line).ok().and_then(|e| e.ts_ms) else {
                continue;
            };
            all.push((ts, record.line));
        }
    }
    all.sort_by_key(|(ts, _)| *ts);
    all.into_iter().map(|(_, line)| line).collect()
}

/// Messages and distinct chatters per (channel, window start) for windows of `size_ms`, counted
/// straight from the lines.
fn brute_force(lines: &[String], size_ms: i64) -> BTreeMap<(String, i64), (u64, u64)> {
    let mut windows: BTreeMap<(String, i64), (u64, BTreeSet<String>)> = BTreeMap::new();
    for line in lines {
        let event = ChatEvent::parse(line).unwrap();
        let (EventKind::Message(m), Some(ts)) = (&event.kind, event.ts_ms) else {
            continue;
        };
        let start = ts - ts.rem_euclid(size_ms);
        let w = windows
            .entry((event.channel.to_owned(), start))
            .or_default();
        w.0 += 1;
        w.1.insert(m.user.login.to_owned());
    }
    windows
        .into_iter()
        .map(|(k, (messages, chatters))| (k, (messages, chatters.len() as u64)))
        .collect()
}

/// The shipped analytics topology with its own application id and topics (`prefix` before each).
fn analytics_text(app: &str, prefix: &str) -> String {
    std::fs::read_to_string(repo_file("topologies/analytics.toml"))
        .unwrap()
        .replace(
            "application_id = \"chatpulse-analytics\"",
            &format!("application_id = \"{app}\""),
        )
        .replace("topic = \"twitch.", &format!("topic = \"{prefix}twitch."))
}

fn committed_total(group: &str, topic: &str) -> i64 {
    committed(group, topic, PARTITIONS).iter().sum()
}

/// Every record of `topic` (all `PARTITIONS` partitions), read from the start to the end.
fn read_to_end(topic: &str) -> Vec<rdkafka::message::OwnedMessage> {
    read_partitions_to_end(topic, PARTITIONS)
}

/// Every record of partitions `0..partitions` of `topic`, read from the start to the end (at most
/// 60 s).
pub(crate) fn read_partitions_to_end(
    topic: &str,
    partitions: i32,
) -> Vec<rdkafka::message::OwnedMessage> {
    let consumer: BaseConsumer<ReadToEnd> = settings()
        .end_reader_config(&unique("kills-reader"))
        .create_with_context(ReadToEnd)
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut ended = BTreeSet::new();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while ended.len() < partitions as usize {
        assert!(Instant::now() < deadline, "reading {topic} took over 60 s");
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(msg)) => got.push(msg.detach()),
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                ended.insert(p);
            }
            Some(Err(e)) => panic!("reading {topic}: {e}"),
            None => {}
        }
    }
    got
}

/// The input's end offsets, markers included.
fn input_ends(topic: &str) -> Vec<i64> {
    (0..PARTITIONS)
        .map(|p| {
            chatpulse::kafka::topics::end_offset(&settings(), topic, p, Duration::from_secs(10))
                .unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_sigkills_with_restarts_leave_every_analytics_result_exact() {
    let started = Instant::now();
    let lines = std::sync::Arc::new(lines());
    assert!(lines.len() >= 200_000, "{} lines", lines.len());
    eprintln!("{} lines read in {:?}", lines.len(), started.elapsed());
    let markers = end_markers(&lines, PARTITIONS);
    let (app, prefix) = (unique("kills-app"), format!("{}-", unique("kills")));
    let text = analytics_text(&app, &prefix);
    let topology = Topology::parse(&text).unwrap();
    let input = topology.sources[0].topic.clone();
    create_topic(&input, PARTITIONS).await;
    let kept = KeptDir(tempfile::tempdir().unwrap().keep());
    let topology_file = kept.0.join("analytics.toml");
    std::fs::write(&topology_file, &text).unwrap();
    let state = kept.0.join("state");
    let registry = SchemaRegistryServer::start();
    let registry_args = ["--schema-registry".to_owned(), registry.url()];
    let log = |i: usize| kept.0.join(format!("run-{i}.log"));
    let start = |i: usize| {
        Instance(spawn(
            &topology_file,
            &state,
            "kills",
            &log(i),
            &registry_args,
        ))
    };

    // The references, computed while the instance runs: the offline run (what `chatpulse
    // process` computes) and the counts.
    let references = {
        let (topology, lines, markers) = (topology.clone(), lines.clone(), markers.clone());
        tokio::task::spawn_blocking(move || {
            let offline = offline_outputs(&topology, &lines, &markers);
            (
                offline,
                brute_force(&lines, 60_000),
                brute_force(&lines, 3_600_000),
            )
        })
    };

    // One chunk of input per life of the instance, so each is killed while it has records to
    // process; the rest, with the end-of-input markers, goes to the last life.
    let chunk = lines.len() / (KILLS + 4);
    let mut rest: &[String] = &lines;
    let mut rng = Rng(SEED);
    let mut kills = Vec::new();
    for i in 0..KILLS {
        let mut instance = start(i);
        let before = committed_total(&app, &input);
        let (now, later) = rest.split_at(chunk);
        rest = later;
        produce(&input, now, &[]).await;
        // Killed at a random moment once it has committed records of this chunk.
        let deadline = Instant::now() + Duration::from_secs(60);
        while committed_total(&app, &input) <= before {
            assert!(
                Instant::now() < deadline,
                "life {i} committed nothing within 60 s (seed {SEED:#x}); logs in {}",
                kept.0.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let delay = Duration::from_millis(rng.below(1_500));
        tokio::time::sleep(delay).await;
        instance.0.kill().expect("SIGKILL");
        instance.0.wait().unwrap();
        kills.push((committed_total(&app, &input), delay));
    }
    eprintln!("{KILLS} kills (committed records, delay after the first commit): {kills:?}");

    let mut last = start(KILLS);
    produce(&input, rest, &markers).await;
    let ends = input_ends(&input);
    // The debug build processes the analytics topology at about 2k lines/s on a busy 2-core host,
    // and the offline reference runs beside it: most of the input is left for the last life.
    let deadline = Instant::now() + Duration::from_secs(300);
    while committed(&app, &input, PARTITIONS) != ends {
        assert!(
            Instant::now() < deadline,
            "the last life did not commit the whole input within 300 s (seed {SEED:#x}); logs in {}",
            kept.0.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = Command::new("kill")
        .args(["-TERM", &last.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(last.0.wait().unwrap().success(), "the last life's exit");
    let (offline, per_minute, per_hour) = references.await.unwrap();
    eprintln!(
        "{} lines, {} minutes, {} hours; run and references done in {:?}",
        lines.len(),
        per_minute.len(),
        per_hour.len(),
        started.elapsed()
    );

    for sink in &topology.sinks {
        let schema_name = sink.schema.clone().expect("shipped sinks are Avro");
        let schema = Schema::parse_str(
            &std::fs::read_to_string(repo_file(&format!("avro/{schema_name}.avsc"))).unwrap(),
        )
        .unwrap();
        let got: Vec<Value> = read_to_end(&sink.topic)
            .iter()
            .map(|m| decode(m.payload().unwrap(), &schema))
            .collect();
        let expected: Vec<&Value> = offline
            .outputs
            .iter()
            .filter(|(topic, ..)| *topic == sink.topic)
            .map(|(_, _, v, _)| v)
            .collect();
        // Every sink: a re-stated result equals the one before it. The engagement windows also
        // equal the offline run and the brute-force counts; spikes, trends and ad slots depend on
        // the partition layout (six tasks here, one offline), so only their re-statements count.
        match sink.name.as_str() {
            "minutes" => {
                check_sink(&sink.topic, &got, Some(&expected[..]), &kept.0);
                check_counts(&got, &per_minute, &sink.topic);
            }
            "hours" => {
                check_sink(&sink.topic, &got, Some(&expected[..]), &kept.0);
                check_counts(&got, &per_hour, &sink.topic);
            }
            _ => check_sink(&sink.topic, &got, None, &kept.0),
        }
    }
    eprintln!("checked in {:?}", started.elapsed());
    kept.remove();
}

/// The key of a windowed result (channel, window bounds and, for spikes, the phase), or of any
/// other result (its whole value: re-stated results are equal).
fn result_key(v: &Value) -> String {
    match (v.get("channel"), v.get("window_start"), v.get("window_end")) {
        (Some(c), Some(s), Some(e)) => {
            format!("{c}@{s}-{e}/{}", v.get("phase").unwrap_or(&Value::Null))
        }
        _ => v.to_string(),
    }
}

/// Every duplicate among the results `got` of `topic` equals the value before it, and the last
/// result per key equals the offline one (when `expected` is given).
fn check_sink(topic: &str, got: &[Value], expected: Option<&[&Value]>, logs: &Path) {
    let mut last: BTreeMap<String, &Value> = BTreeMap::new();
    for v in got {
        if let Some(previous) = last.insert(result_key(v), v) {
            assert_eq!(
                previous,
                v,
                "{topic}: a later result of {} differs from an earlier one (seed {SEED:#x}); logs in {}",
                result_key(v),
                logs.display()
            );
        }
    }
    let Some(expected) = expected else {
        return;
    };
    let want: BTreeMap<String, &Value> = expected.iter().map(|v| (result_key(v), *v)).collect();
    assert_eq!(
        want.len(),
        expected.len(),
        "{topic}: offline keys are unique"
    );
    let missing: Vec<_> = want
        .keys()
        .filter(|k| !last.contains_key(*k))
        .take(5)
        .collect();
    let extra: Vec<_> = last
        .keys()
        .filter(|k| !want.contains_key(*k))
        .take(5)
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{topic}: missing {missing:?}, unexpected {extra:?} (seed {SEED:#x}); logs in {}",
        logs.display()
    );
    for (k, v) in &want {
        assert_eq!(last[k], *v, "{topic}: result of {k} (seed {SEED:#x})");
    }
}

/// Each windowed result's message and chatter counts equal the brute-force count of its window,
/// and every counted window has a result.
fn check_counts(got: &[Value], counts: &BTreeMap<(String, i64), (u64, u64)>, topic: &str) {
    let got = minutes(got);
    for (key, value) in &got {
        let want = counts.get(key).copied().unwrap_or((0, 0));
        assert_eq!(
            *value, want,
            "{topic}: {key:?} against the lines themselves"
        );
    }
    let uncounted: Vec<_> = counts
        .iter()
        .filter(|(k, (messages, _))| *messages > 0 && !got.contains_key(*k))
        .map(|(k, _)| k)
        .take(5)
        .collect();
    assert!(uncounted.is_empty(), "{topic}: no result for {uncounted:?}");
}
