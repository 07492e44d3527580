//! `chatpulse process --topology leaderboards.toml --input sessions=FILE.jsonl` as a user runs it
//! (the shipped file with its source read as JSON): generated stream sessions (see
//! `tests/common/boards.rs`) as JSON lines give `twitch.leaderboards.jsonl` and `twitch.rising.jsonl`
//! equal to the brute force over the same rows, the late sessions in the late file, and every record
//! fits the Avro schema its sink registers. On tansu, the shipped file unchanged reads the same rows
//! as Avro of `avro/stream_session.avsc` (what `stream_sessions` writes) from the one partition of the
//! sessions topic (one task holding every channel) and writes the same records, Avro, decoded with
//! the `.avsc` files alone.

use std::time::Duration;

use apache_avro::Schema;
use chatpulse::avro::encode::encode_datum;
use chatpulse::avro::registry_for;
use chatpulse::avro::schemas::AvroSchema;
use chatpulse::avro::wire::frame;
use chatpulse::topology::Topology;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::Message;
use serde_json::Value;

use crate::analytics_avro::decode;
use crate::boards::{
    boards_by_key, compare_boards, compare_rising, generated, leaderboards, rising, rising_by_key,
    session, DAY,
};
use crate::cli::chatpulse;
use crate::engine::{read_topic, start_with_registry};
use crate::harness::{create_topic, repo_file, settings, unique};

fn read(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Creates `input` (one partition) and writes `rows` to it as `stream_sessions` writes them: Avro of
/// avro/stream_session.avsc, registered in `registry`, keyed by channel.
pub(crate) async fn produce_sessions(input: &str, registry: &str, rows: &[Value]) {
    create_topic(input, 1).await;
    let session_schema = AvroSchema::builtin("stream_session").unwrap();
    let id = registry_for(registry)
        .unwrap()
        .register(&format!("{input}-value"), &session_schema.text)
        .await
        .unwrap();
    let producer: FutureProducer = settings().producer_config().create().unwrap();
    for r in rows {
        let channel = r["channel"].as_str().unwrap();
        let value = frame(id, &encode_datum(r, &session_schema).unwrap());
        producer
            .send(
                FutureRecord::to(input).key(channel).payload(&value),
                Duration::from_secs(30),
            )
            .await
            .map_err(|(e, _)| e)
            .expect("delivered");
    }
}

/// `generated()` sessions plus one nine days on, so that event time passes every period's end.
pub(crate) fn sessions_closing_every_period() -> Vec<Value> {
    let mut rows = generated();
    let last = rows.iter().filter_map(|r| r["end"].as_i64()).max().unwrap();
    rows.push(session(
        "zz-end",
        last + 9 * DAY,
        last + 9 * DAY,
        1.0,
        1,
        None,
        None,
        false,
    ));
    rows
}

#[test]
fn process_writes_leaderboards_and_rising_channels_equal_to_a_brute_force() {
    let rows = generated();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("sessions.jsonl");
    let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(&input, text).unwrap();
    // The shipped file reads Avro, as `stream_sessions` writes it; these sessions are JSON lines.
    let shipped = std::fs::read_to_string(repo_file("topologies/leaderboards.toml")).unwrap();
    let text = shipped.replacen(
        "format = \"avro\"\ntimestamp = \"field\"",
        "format = \"json\"\ntimestamp = \"field\"",
        1,
    );
    assert_ne!(text, shipped);
    let topology = dir.path().join("leaderboards.toml");
    std::fs::write(&topology, text).unwrap();
    let out = dir.path().join("out");
    let output = chatpulse()
        .args(["process", "--topology"])
        .arg(&topology)
        .arg("--input")
        .arg(format!("sessions={}", input.display()))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("processed {} records", rows.len())),
        "{stderr}"
    );

    let boards = read(&out.join("twitch.leaderboards.jsonl"));
    let got = boards_by_key(&boards);
    assert_eq!(got.len(), boards.len(), "each board and period once");
    compare_boards(&got, &leaderboards(&rows, 25));
    let risers = read(&out.join("twitch.rising.jsonl"));
    compare_rising(&rising_by_key(&risers), &rising(&rows, 10, 50.0, 10.0));
    // The three late sessions, each refused by both processors.
    let late = read(&out.join("chatpulse-leaderboards-late.jsonl"));
    assert_eq!(late.len(), 6, "{late:?}");
    assert!(!out.join("chatpulse-leaderboards-dlq.jsonl").exists());

    for (name, records) in [("leaderboard", &boards), ("rising", &risers)] {
        let schema = AvroSchema::builtin(name).unwrap();
        for r in records.iter() {
            encode_datum(r, &schema).unwrap_or_else(|e| panic!("{e}: {r}"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaderboards_on_one_partition_of_tansu_equal_the_brute_force_in_avro() {
    // An update (not counted) nine days on: event time passes every period's end + grace.
    let rows = sessions_closing_every_period();
    let expected = leaderboards(&rows, 25);
    let expected_rising = rising(&rows, 10, 50.0, 10.0);
    let risers: usize = expected_rising.values().map(Vec::len).sum();

    let input = unique("sessions-in");
    let registry = format!("mock://{}", unique("registry"));
    produce_sessions(&input, &registry, &rows).await;

    let mut topology = Topology::load(&repo_file("topologies/leaderboards.toml")).unwrap();
    topology.application_id = unique("boards-app");
    topology.sources[0].topic = input.clone();
    for sink in &mut topology.sinks {
        sink.topic = unique(&sink.topic);
    }
    topology.idle_timeout_ms = 3_600_000;
    topology.commit_interval_ms = 300;
    let state = tempfile::tempdir().unwrap();
    let (control, handle) = start_with_registry(topology.clone(), state.path(), Some(registry));
    let schema = |name: &str| {
        let text = std::fs::read_to_string(repo_file(&format!("avro/{name}.avsc"))).unwrap();
        Schema::parse_str(&text).unwrap()
    };
    let read = |topic: &str, n: usize, schema: &Schema| -> Vec<(String, Value)> {
        read_topic(topic, n, Duration::from_secs(180))
            .iter()
            .map(|m| {
                let key = String::from_utf8(m.key().unwrap().to_vec()).unwrap();
                (key, decode(m.payload().unwrap(), schema))
            })
            .collect()
    };
    let boards = read(
        &topology.sinks[0].topic,
        expected.len(),
        &schema("leaderboard"),
    );
    let rising_got = read(&topology.sinks[1].topic, risers, &schema("rising"));
    control.stop();
    let stats = handle.join().unwrap();

    assert!(
        boards.iter().all(|(k, v)| v["board"] == k.as_str()),
        "keyed by board"
    );
    assert!(
        rising_got.iter().all(|(k, v)| v["channel"] == k.as_str()),
        "keyed by channel"
    );
    let boards: Vec<Value> = boards.into_iter().map(|(_, v)| v).collect();
    let got = boards_by_key(&boards);
    assert_eq!(
        got.len(),
        boards.len(),
        "each board and period once: {stats:?}"
    );
    compare_boards(&got, &expected);
    let rising_got: Vec<Value> = rising_got.into_iter().map(|(_, v)| v).collect();
    assert_eq!(rising_got.len(), risers, "{stats:?}");
    compare_rising(&rising_by_key(&rising_got), &expected_rising);
    assert_eq!(stats.processed as usize, rows.len(), "{stats:?}");
    assert_eq!((stats.dead_letters, stats.late), (0, 6), "{stats:?}");
    eprintln!(
        "{} sessions, {} board records, {} rising records; {stats:?}",
        rows.len(),
        boards.len(),
        rising_got.len()
    );
}
