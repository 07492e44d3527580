//! Backfills from the archive, as a user runs them: 20k real chat lines (the multichannel CSV set)
//! and one end-of-input marker per partition are produced to a 4-partition tansu topic, the
//! `engagement` topology runs on it (the original results), and `chatpulse archive` writes the
//! topic to moto's S3 server. Then:
//! - `chatpulse replay --format archive s3://... --to T` (T before the markers: the time range at
//!   work) produces the archived chat to a new topic, markers are added, and the same topology
//!   runs on it: its results equal the original run's, record for record;
//! - `chatpulse process --format archive --input s3://...` writes the same minutes offline;
//! - and both equal a brute-force count of messages and chatters per channel and minute.

use std::time::Duration;

use apache_avro::Schema;
use chatpulse::chat::ChatEvent;
use serde_json::Value;

use crate::analytics_avro::{decode, outputs_of, shipped_on, sorted};
use crate::archive::{
    create_bucket, end_offsets, read_all, s3_endpoint, spawn_archive, terminate, wait_for_commits,
    AWS_ENV, PARTITIONS,
};
use crate::engine::{read_topic, start_with_registry};
use crate::engine_support::{end_markers, offline_outputs, produce, real_lines};
use crate::harness::{brokers, create_topic, repo_file, unique};
use crate::minutes::{brute_force_minutes, latest_minutes};
use crate::scale_out::{Instance, KeptDir};

/// Runs the shipped engagement topology on `input` and returns its minute records, `n` of them.
fn engagement_minutes(input: &str, n: usize) -> Vec<Value> {
    let topology = shipped_on("engagement", "backfill-engagement", input);
    let state = tempfile::tempdir().unwrap();
    let registry = format!("mock://{}", unique("registry"));
    let (control, handle) = start_with_registry(topology.clone(), state.path(), Some(registry));
    let schema =
        Schema::parse_str(&std::fs::read_to_string(repo_file("avro/engagement.avsc")).unwrap())
            .unwrap();
    let got = read_topic(&topology.sinks[0].topic, n, Duration::from_secs(180));
    control.stop();
    let stats = handle.join().unwrap();
    assert_eq!(got.len(), n, "{stats:?}");
    got.iter()
        .map(|m| decode(rdkafka::Message::payload(m).unwrap(), &schema))
        .collect()
}

fn chatpulse(args: &[&str]) -> std::process::Output {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chatpulse"))
        .args(args)
        .args(["--s3-endpoint", &s3_endpoint(), "--s3-path-style"])
        .envs(AWS_ENV)
        .env("CHATPULSE_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chatpulse {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_then_replay_then_run_gives_the_original_results() {
    let lines = real_lines(20_000);
    let markers = end_markers(&lines, PARTITIONS);
    let last = lines
        .iter()
        .filter_map(|l| ChatEvent::parse(l).ok()?.ts_ms)
        .max()
        .unwrap();
    let topology = shipped_on("engagement", "backfill-reference", "unused");
    let offline = offline_outputs(&topology, &lines, &markers);
    let n = outputs_of(&offline, &topology.sinks[0].topic).len();
    assert!(n > 100, "{n} minutes");

    // The original: the topic, its run, and its archive on S3.
    let original = unique("backfill-original");
    create_topic(&original, PARTITIONS).await;
    produce(&original, &lines, &markers).await;
    let input = read_all(&original, lines.len() + markers.len());
    let first_run = engagement_minutes(&original, n);
    let bucket: String = unique("backfill")
        .to_lowercase()
        .replace('_', "-")
        .chars()
        .take(60)
        .collect();
    create_bucket(&bucket);
    let root = format!("s3://{bucket}/bronze");
    let kept = KeptDir(std::env::temp_dir().join(unique("backfill-test")));
    std::fs::create_dir_all(&kept.0).unwrap();
    let log = kept.0.join("archive.log");
    let group = unique("backfill-archive");
    let archive = Instance(spawn_archive(
        &root,
        &original,
        &group,
        &log,
        &["--max-records", "4000", "--max-open", "500ms"],
    ));
    wait_for_commits(&group, &original, &end_offsets(&input), "backfill", &log).await;
    terminate(archive);

    // The backfill: the archived chat up to the markers (excluded by --to), replayed.
    let to = (last + 1).to_string();
    let replayed = unique("backfill-replayed");
    create_topic(&replayed, PARTITIONS).await;
    chatpulse(&[
        "replay",
        "--format",
        "archive",
        "--archive-topic",
        &original,
        "--to",
        &to,
        "--as-fast-as-possible",
        "--brokers",
        &brokers(),
        "--topic",
        &replayed,
        "--metrics-addr",
        "off",
        &root,
    ]);
    produce(&replayed, &[], &markers).await;
    let replayed_input = read_all(&replayed, lines.len() + markers.len());
    assert_eq!(
        sorted(replayed_input.values().map(|l| Value::String(l.clone()))),
        sorted(input.values().map(|l| Value::String(l.clone()))),
        "the replayed topic holds the original lines"
    );
    let second_run = engagement_minutes(&replayed, n);
    assert_eq!(
        sorted(second_run.clone()),
        sorted(first_run.clone()),
        "archive -> replay -> run equals the original run"
    );

    // Offline over the archive, and the brute force.
    let out = kept.0.join("process");
    chatpulse(&[
        "process",
        "--topology",
        &repo_file("topologies/engagement.toml")
            .display()
            .to_string(),
        "--format",
        "archive",
        "--archive-topic",
        &original,
        "--input",
        &root,
        "--out",
        &out.display().to_string(),
    ]);
    let processed: Vec<Value> = std::fs::read_to_string(out.join("twitch.engagement.minute.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        latest_minutes(&processed),
        latest_minutes(&first_run),
        "process --format archive equals the original run"
    );
    let brute = brute_force_minutes(&lines);
    let mut got = latest_minutes(&first_run);
    got.retain(|_, (m, _)| *m > 0);
    assert_eq!(
        got, brute,
        "the results equal a brute-force count of the input"
    );
    kept.remove();
}
