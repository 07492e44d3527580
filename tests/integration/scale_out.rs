//! Scale-out and failure: two `chatpulse run` processes share a 4-partition topic through the
//! consumer group; one is killed with SIGKILL mid-stream (between produce and commit, most likely);
//! the other takes its partitions over, restores their state from the changelog, and the final
//! per-key results equal the offline run (duplicates only re-state equal values). The survivor then
//! stops cleanly on SIGTERM.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::Message;
use serde_json::Value;

use crate::engine_support::{end_markers, offline_minutes, produce, real_lines, topology_text, Minutes};
use crate::harness::{brokers, create_topic, settings, unique};

fn spawn(topology: &std::path::Path, state: &std::path::Path, id: &str, log: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_chatpulse"))
        .args(["run", "--topology"])
        .arg(topology)
        .args(["--brokers", &brokers(), "--state-dir"])
        .arg(state)
        .args(["--instance-id", id, "--replication-factor", "1"])
        .args(["-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500"])
        .env("CHATPULSE_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("start chatpulse run")
}

/// Reads results until every expected key is present, checking duplicates re-state equal values.
fn collect(consumer: &BaseConsumer, expected: &Minutes, deadline: Instant) -> Minutes {
    let mut got = Minutes::new();
    while got.len() < expected.len() && Instant::now() < deadline {
        let Some(msg) = consumer.poll(Duration::from_millis(200)) else { continue };
        let msg = msg.expect("consume results");
        let v: Value = serde_json::from_slice(msg.payload().unwrap()).unwrap();
        let key = (v["channel"].as_str().unwrap().to_owned(), v["window_start"].as_i64().unwrap());
        let val = (v["messages"].as_u64().unwrap(), v["unique_chatters"].as_u64().unwrap());
        if let Some(prev) = got.insert(key.clone(), val) {
            assert_eq!(prev, val, "duplicate of {key:?} with another value");
        }
    }
    got
}

fn committed_total(group: &str, topic: &str) -> i64 {
    let consumer: BaseConsumer = settings().consumer_config(group).create().unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..4 {
        tpl.add_partition(topic, p);
    }
    let committed = consumer.committed_offsets(tpl, Duration::from_secs(10)).unwrap();
    let sum = committed.elements().iter().filter_map(|e| e.offset().to_raw()).filter(|o| *o > 0).sum();
    drop(committed);
    sum
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_instance_is_replaced_and_results_equal_the_offline_run() {
    let (input, output, app) = (unique("scale-in"), unique("scale-out"), unique("scale-app"));
    create_topic(&input, 4).await;
    let dir = tempfile::tempdir().unwrap();
    let topology_file = dir.path().join("topology.toml");
    std::fs::write(&topology_file, topology_text(&app, &input, &output, "500ms")).unwrap();
    let topology = chatpulse::topology::Topology::load(&topology_file).unwrap();

    let lines = real_lines(8_000);
    let markers = end_markers(&lines, 4);
    let expected = offline_minutes(&topology, &lines, &markers);
    let (first, second) = lines.split_at(4_000);

    produce(&input, first, &[]).await;
    let mut a = spawn(&topology_file, &dir.path().join("state-a"), "a", &dir.path().join("a.log"));
    let mut b = spawn(&topology_file, &dir.path().join("state-b"), "b", &dir.path().join("b.log"));

    // Mid-stream: some of the first half is committed, but not all of it.
    let deadline = Instant::now() + Duration::from_secs(90);
    while committed_total(&app, &input) < 1_000 {
        assert!(Instant::now() < deadline, "the instances committed nothing in 90 s; logs in {}", dir.path().display());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    a.kill().expect("SIGKILL instance a");
    a.wait().unwrap();

    produce(&input, second, &markers).await;
    let consumer: BaseConsumer = settings().consumer_config(&unique("scale-reader")).create().unwrap();
    consumer.subscribe(&[&output]).unwrap();
    let got = collect(&consumer, &expected, Instant::now() + Duration::from_secs(180));
    let missing: Vec<_> = expected.keys().filter(|k| !got.contains_key(*k)).take(5).collect();
    assert!(missing.is_empty(), "missing results {missing:?}; logs in {}", dir.path().display());
    assert_eq!(got, expected, "results after the takeover differ from the offline run");

    // SIGTERM: the survivor commits and exits 0 within its shutdown timeout.
    let status = Command::new("kill").args(["-TERM", &b.id().to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(40);
    let exit = loop {
        if let Some(s) = b.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "instance b did not stop within 40 s of SIGTERM");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(exit.success(), "instance b exited with {exit}; log {}", dir.path().join("b.log").display());
    let log = std::fs::read_to_string(dir.path().join("b.log")).unwrap();
    assert!(log.contains("stopped cleanly"), "no clean stop in b's log");
}
