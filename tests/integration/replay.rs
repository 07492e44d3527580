//! `chatpulse replay` on a real broker: every line of a real tagged log lands in the topic exactly,
//! keyed by channel, timed by `tmi-sent-ts`, with the ingestion headers; the engagement-basic
//! topology run on Kafka over the replayed topic then equals the offline run over the same log.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use chatpulse::chat::import::{import, Format, ImportOptions};
use chatpulse::ingest::record::{sent_ts_ms, CONNECTION_HEADER, RECEIVED_AT_HEADER};
use chatpulse::topology::Topology;
use rdkafka::message::{Headers, Message};
use serde_json::Value;

use crate::engine::{read_topic, start, wait_for_committed};
use crate::engine_support::{end_markers, minutes, offline_minutes, produce};
use crate::harness::{brokers, create_topic, data_dir, repo_file, unique};

fn nymn_log() -> std::path::PathBuf {
    data_dir().join("dev_irc_tagged_nymn_chatterino/recentmessages-nymn.irc.txt")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_delivers_every_line_and_the_topology_equals_the_offline_run() {
    let (raw, out, app) = (
        unique("replay-raw"),
        unique("replay-out"),
        unique("replay-app"),
    );
    create_topic(&raw, 2).await;
    let log = nymn_log();
    let expected: Vec<String> = import(
        Format::Irc,
        ImportOptions::default(),
        std::io::BufReader::new(std::fs::File::open(&log).unwrap()),
    )
    .map(|l| l.unwrap().line)
    .collect();
    assert_eq!(expected.len(), 800);

    let output = Command::new(env!("CARGO_BIN_EXE_chatpulse"))
        .env("CHATPULSE_LOG", "warn")
        .args([
            "replay",
            "--as-fast-as-possible",
            "--brokers",
            &brokers(),
            "--topic",
            &raw,
            "--metrics-addr",
            "127.0.0.1:0",
        ])
        .arg(&log)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("replayed 800 line(s): 800 produced, 0 lost"),
        "{stderr}"
    );
    assert!(
        stderr.contains("event time 2024-"),
        "progress shows event time: {stderr}"
    );

    let got = read_topic(&raw, expected.len() + 1, Duration::from_secs(8));
    assert_eq!(got.len(), expected.len(), "each line exactly once");
    // Lines of one key keep their order; across partitions compare as multisets.
    let mut by_line: BTreeMap<&str, usize> = BTreeMap::new();
    for l in &expected {
        *by_line.entry(l.as_str()).or_default() += 1;
    }
    for m in &got {
        let line = std::str::from_utf8(m.payload().unwrap()).unwrap();
        let left = by_line
            .get_mut(line)
            .unwrap_or_else(|| panic!("unexpected line {line}"));
        *left -= 1;
        assert_eq!(m.key(), Some(&b"nymn"[..]));
        assert_eq!(m.timestamp().to_millis(), sent_ts_ms(line));
        let headers = m.headers().expect("headers");
        let names: Vec<&str> = headers.iter().map(|h| h.key).collect();
        assert_eq!(names, [RECEIVED_AT_HEADER, CONNECTION_HEADER]);
    }
    assert!(by_line.values().all(|&n| n == 0));

    // The engagement topology over the replayed topic, on Kafka and offline.
    let text = std::fs::read_to_string(repo_file("topologies/engagement-basic.toml"))
        .unwrap()
        .replace("chatpulse-engagement-basic", &app)
        .replace("\"twitch.chat.raw\"", &format!("{raw:?}"))
        .replace("\"twitch.engagement.basic.minute\"", &format!("{out:?}"));
    let topology = Topology::parse(&text).unwrap();
    let markers = end_markers(&expected, 2);
    let wanted = offline_minutes(&topology, &expected, &markers);
    assert!(wanted.len() > 3, "several minutes: {wanted:?}");
    produce(&raw, &[], &markers).await;
    let state = tempfile::tempdir().unwrap();
    let (control, handle) = start(topology, state.path());
    let results = read_topic(&out, wanted.len(), Duration::from_secs(120));
    // Every input record (the markers too) is processed and committed before the run stops.
    let total = (expected.len() + markers.len()) as i64;
    wait_for_committed(&app, &raw, 2, total).await;
    control.stop();
    let stats = handle.join().unwrap();
    let values: Vec<Value> = results
        .iter()
        .map(|m| serde_json::from_slice(m.payload().unwrap()).unwrap())
        .collect();
    assert_eq!(
        minutes(&values),
        wanted,
        "Kafka and offline differ; {stats:?}"
    );
    assert_eq!(stats.processed as usize, expected.len() + markers.len());
}
