//! The end-to-end benchmark's tools as `scripts/bench-e2e` runs them: `bench load` a real log into a
//! topic, `bench passthrough` copies it unchanged, and `bench wait` sees the group's commits.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use rdkafka::Message;

use crate::harness::{brokers, reader, repo_file, unique};

fn bench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_chatpulse"))
        .env("CHATPULSE_LOG", "warn")
        .arg("bench")
        .args(args)
        .args(["--brokers", &brokers()])
        .output()
        .unwrap()
}

fn wait(group: &str, topic: &str, timeout_s: &str) -> std::process::Output {
    bench(&[
        "wait",
        "--group",
        group,
        "--topic",
        topic,
        "--timeout-s",
        timeout_s,
    ])
}

/// A record's key, value and timestamp.
type Record = (Vec<u8>, Vec<u8>, Option<i64>);

/// Reads `n` records of `topic`, with how often each occurs.
fn read_all(topic: &str, n: usize) -> BTreeMap<Record, usize> {
    let consumer = reader(topic);
    let (mut seen, mut got) = (BTreeMap::new(), 0);
    let deadline = Instant::now() + Duration::from_secs(60);
    while got < n {
        assert!(
            Instant::now() < deadline,
            "{topic}: only {got} of {n} records"
        );
        if let Some(m) = consumer.poll(Duration::from_millis(200)) {
            let m = m.unwrap();
            let k = (
                m.key().unwrap_or_default().to_vec(),
                m.payload().unwrap_or_default().to_vec(),
                m.timestamp().to_millis(),
            );
            *seen.entry(k).or_insert(0) += 1;
            got += 1;
        }
    }
    seen
}

#[test]
fn passthrough_copies_every_record_unchanged_and_wait_sees_its_commits() {
    let (input, output, group) = (unique("bench-in"), unique("bench-out"), unique("bench-g"));
    let sample = repo_file("data/sample/nymn-2024-01-06.irc.txt");
    let load = bench(&["load", "--topic", &input, sample.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&load.stderr);
    assert!(load.status.success(), "{stderr}");
    assert!(stderr.contains("loaded 800 records"), "{stderr}");

    // Nothing committed yet: wait gives up at its deadline.
    assert!(!wait(&group, &input, "1").status.success());

    let pass = bench(&[
        "passthrough",
        "--input-topic",
        &input,
        "--output-topic",
        &output,
        "--expected",
        "800",
        "--group",
        &group,
    ]);
    let stdout = String::from_utf8_lossy(&pass.stdout);
    assert!(
        pass.status.success(),
        "{}",
        String::from_utf8_lossy(&pass.stderr)
    );
    assert!(stdout.starts_with("passthrough: 800 records"), "{stdout}");

    let done = wait(&group, &input, "30");
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );

    let copied = read_all(&output, 800);
    assert_eq!(copied, read_all(&input, 800));
    let (key, value, ts) = copied.keys().next().unwrap();
    assert_eq!(key, b"nymn");
    let line = String::from_utf8_lossy(value);
    let sent: i64 = line.split("tmi-sent-ts=").nth(1).unwrap()[..13]
        .parse()
        .unwrap();
    assert_eq!(*ts, Some(sent), "the record time is the line's tmi-sent-ts");
}
