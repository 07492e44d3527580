//! `chatpulse process --topology topologies/audience.toml --input chat=... --input streams=...` as a
//! user runs it, on real chat: the messages of three runs of the multichannel CSV set (2025-04-28,
//! 05-05, 05-09) in channels with fewer than 3,000 of them, fed as JSON lines (the set's own
//! `normalized.jsonl.gz` records, unchanged, in the chat importer's JSONL format). The first-seen
//! horizon is set to 5 days in a copy of the topology, so the 04-28 chatters are new again on 05-05.
//!
//! The snapshots are DERIVED, not recorded: for the channel of rank `i` (even ranks only), one row
//! every 3 minutes from 20 minutes before its first message of each day to its last, at second
//! `17 + i mod 40` of the slot, `viewers = 500 + 10 (k mod 97) + i`, `followers = 20000 + 100 i + k`
//! for slot `k` (so followers grow by one per slot). Expected values are computed here by plain loops
//! over the same JSON lines and rows, not from the engine.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader};

use serde_json::{json, Value};

use crate::cli::chatpulse;
use crate::harness::{data_dir, repo_file};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;
const SLOT: i64 = 3 * MINUTE;
const HORIZON: i64 = 5;
const RUNS: [&str; 3] = ["chat_logs57.csv", "chat_logs63.csv", "chat_logs66.csv"];

/// The chosen records of `normalized.jsonl.gz` as they are (lines), and as `(ts, channel, user)`.
fn records() -> (Vec<String>, Vec<(i64, String, String)>) {
    let path = data_dir().join("dev_csv_multichannel_2025/normalized.jsonl.gz");
    let file = std::fs::File::open(path).unwrap();
    let mut picked = Vec::new();
    for line in BufReader::new(flate2::read::GzDecoder::new(file)).lines() {
        let line = line.unwrap();
        let r: Value = serde_json::from_str(&line).unwrap();
        let src = r["src"].as_str().unwrap();
        if r["kind"] == "msg" && RUNS.iter().any(|f| src.starts_with(&format!("{f}:"))) {
            let key = (
                r["ts_ms"].as_i64().unwrap(),
                r["channel"].as_str().unwrap().to_owned(),
                r["user"].as_str().unwrap().to_owned(),
            );
            picked.push((key, line));
        }
    }
    let mut counts: HashMap<String, usize> = HashMap::new();
    for ((_, c, _), _) in &picked {
        *counts.entry(c.clone()).or_default() += 1;
    }
    picked.retain(|((_, c, _), _)| counts[c] < 3_000);
    picked.sort_by_key(|(k, _)| k.0);
    picked.into_iter().map(|(k, l)| (l, k)).unzip()
}

#[test]
fn process_writes_first_seen_minutes_and_hours_equal_to_a_brute_force_join() {
    let (lines, messages) = records();
    assert!(messages.len() > 30_000, "{} messages", messages.len());
    let channels: BTreeSet<&str> = messages.iter().map(|(_, c, _)| c.as_str()).collect();

    // The derived snapshots, per channel in time order.
    let mut rows: BTreeMap<&str, Vec<(i64, i64, i64)>> = BTreeMap::new();
    for (i, channel) in channels.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
        let i = i as i64;
        let mut days: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
        for (ts, c, _) in &messages {
            if c == channel {
                let span = days.entry(ts.div_euclid(DAY)).or_insert((*ts, *ts));
                span.1 = *ts;
            }
        }
        let out = rows.entry(channel).or_default();
        for (first, last) in days.values() {
            let start = (first - 20 * MINUTE).div_euclid(SLOT);
            for k in start..=last.div_euclid(SLOT) {
                let ts = k * SLOT + (17 + i % 40) * 1_000;
                out.push((ts, 500 + 10 * k.rem_euclid(97) + i, 20_000 + 100 * i + k));
            }
        }
    }
    let as_of = |channel: &str, t: i64| -> Option<(i64, i64, i64)> {
        let mut best = None;
        for r in rows.get(channel).into_iter().flatten() {
            if r.0 <= t {
                best = Some(*r);
            }
        }
        best
    };

    let dir = tempfile::tempdir().unwrap();
    let chat_file = dir.path().join("chat.jsonl");
    std::fs::write(&chat_file, lines.join("\n") + "\n").unwrap();
    let streams_file = dir.path().join("streams.jsonl");
    // In poll order, as monitor writes them (the inputs are merged by event time).
    let mut polls: Vec<(i64, &str, i64, i64)> = rows
        .iter()
        .flat_map(|(c, rs)| rs.iter().map(move |(ts, v, f)| (*ts, *c, *v, *f)))
        .collect();
    polls.sort();
    let mut text = String::new();
    for (ts, channel, viewers, followers) in polls {
        text.push_str(
            &json!({"channel": channel, "ts": ts, "viewers": viewers, "followers": followers})
                .to_string(),
        );
        text.push('\n');
    }
    std::fs::write(&streams_file, text).unwrap();
    let topology = std::fs::read_to_string(repo_file("topologies/audience.toml")).unwrap();
    let topology_file = dir.path().join("audience.toml");
    std::fs::write(
        &topology_file,
        topology.replace(
            "first_seen_horizon = \"30d\"",
            "first_seen_horizon = \"5d\"",
        ),
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let output = chatpulse()
        .args(["process", "--topology"])
        .arg(&topology_file)
        .arg("--input")
        .arg(format!("chat={}", chat_file.display()))
        .arg("--input")
        .arg(format!("streams={}", streams_file.display()))
        .arg("--out")
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let read = |topic: &str| -> BTreeMap<(String, i64), Value> {
        let text = std::fs::read_to_string(out_dir.join(format!("{topic}.jsonl"))).unwrap();
        text.lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .map(|v| {
                let key = (
                    v["channel"].as_str().unwrap().to_owned(),
                    v["window_start"].as_i64().unwrap(),
                );
                (key, v)
            })
            .collect()
    };

    // Brute force: chatters per window, and whether each was seen within the horizon before it.
    let mut times: HashMap<(&str, &str), Vec<i64>> = HashMap::new();
    for (ts, c, u) in &messages {
        times.entry((c, u)).or_default().push(*ts);
    }
    let new_in = |channel: &str, user: &str, start: i64| -> bool {
        let mut last = None;
        for t in &times[&(channel, user)] {
            if *t < start {
                last = Some(*t);
            }
        }
        last.is_none_or(|t| t.div_euclid(DAY) < start.div_euclid(DAY) - HORIZON)
    };
    for (topic, width) in [
        ("twitch.audience.minute", MINUTE),
        ("twitch.audience.hour", HOUR),
    ] {
        let got = read(topic);
        let mut windows: BTreeMap<(String, i64), (u64, BTreeSet<&str>)> = BTreeMap::new();
        for (ts, c, u) in &messages {
            let w = windows
                .entry((c.clone(), ts.div_euclid(width) * width))
                .or_default();
            w.0 += 1;
            w.1.insert(u);
        }
        assert_eq!(
            got.len(),
            windows.len(),
            "{topic}: one final per window with chat"
        );
        let mut first_seen_total = 0;
        for (key @ (channel, start), (messages, users)) in &windows {
            let r = &got[key];
            let new = users.iter().filter(|u| new_in(channel, u, *start)).count();
            first_seen_total += new;
            assert_eq!(r["messages"], json!(messages), "{topic} {key:?}");
            assert_eq!(r["first_seen_chatters"], json!(new), "{topic} {key:?}");
            if width == MINUTE {
                continue;
            }
            assert_eq!(r["chatters"], json!(users.len()), "{key:?}");
            let viewers: Vec<i64> = (1..=60)
                .filter_map(|m| as_of(channel, start + m * MINUTE - 1).map(|r| r.1))
                .collect();
            let avg = (!viewers.is_empty())
                .then(|| viewers.iter().sum::<i64>() as f64 / viewers.len() as f64);
            assert_eq!(
                r["viewers_avg"],
                json!(avg.map(|a| (a * 100.0).round() / 100.0)),
                "{key:?}"
            );
            assert_eq!(r["viewers_peak"], json!(viewers.iter().max()), "{key:?}");
            let rate = avg.map(|a| (users.len() as f64 * 100.0 / a * 1000.0).round() / 1000.0);
            assert_eq!(r["engagement_rate"], json!(rate), "{key:?}");
            let fs = as_of(channel, start - 1).map(|r| r.2);
            let fe = as_of(channel, start + HOUR - 1).map(|r| r.2);
            let gained = fs.zip(fe).map(|(s, e)| e - s);
            assert_eq!(r["followers_gained"], json!(gained), "{key:?}");
        }
        assert!(first_seen_total > 5_000, "{topic}: {first_seen_total}");
    }
}
