//! Tables and as-of joins offline, on real chat: the northernlion VOD replay (`CHATPULSE_DATA_DIR`,
//! else `../shared/data/twitch-chat`) and the bundled #nymn slice, joined with a viewer series.
//!
//! The viewer series is DERIVED, not recorded: one `twitch.streams`-shaped snapshot per minute for
//! #northernlion, starting 10 minutes into its chat (so early minutes have no viewers), with
//! `viewers = 4_000 + (37 * i) % 900` for the i-th snapshot, stamped 17 s into each minute. #nymn
//! gets none. Expected values come from a scan over every snapshot, written here, not from the
//! engine's table.

mod common;
use common::data_dir;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::BufReader;
use std::sync::Arc;

use chatpulse::chat::import::{import, Format, ImportOptions};
use chatpulse::chat::{ChatEvent, EventKind};
use chatpulse::store::memory::MemoryBackend;
use chatpulse::topology::offline::{run_offline, run_offline_sources, Values};
use chatpulse::topology::route::MemoryDestination;
use chatpulse::topology::Topology;
use serde_json::{json, Value};

const NYMN: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/data/sample/nymn-2024-01-06.irc.txt"
));

/// The shipped `topologies/audience.toml`, with the table's grace set to `table_grace`, or without
/// its joins.
fn topology(join: bool, table_grace: &str) -> Topology {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/topologies/audience.toml");
    let mut text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains("grace = \"0s\" }"));
    text = text.replace("grace = \"0s\" }", &format!("grace = \"{table_grace}\" }}"));
    if !join {
        assert!(text.contains("join = { table = \"streams\" }\n"));
        text = text.replace("join = { table = \"streams\" }\n", "");
    }
    // Its schemas are built-in names, not paths: the text validates anywhere.
    Topology::parse(&text).unwrap()
}

/// Real chat: the northernlion replay, then the #nymn slice.
fn chat() -> Vec<String> {
    let path = data_dir().join("dev_vodjson_northernlion_2021/1087079172.json");
    let file = File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines: Vec<String> = import(
        Format::VodJson,
        ImportOptions::default(),
        BufReader::new(file),
    )
    .map(|r| r.unwrap().line)
    .collect();
    lines.extend(NYMN.lines().map(str::to_owned));
    lines
}

/// The derived snapshots `(ts, viewers)` of #northernlion (see the module doc).
fn snapshots(lines: &[String]) -> Vec<(i64, i64)> {
    let times: Vec<i64> = lines
        .iter()
        .filter_map(|l| ChatEvent::parse(l).ok())
        .filter(|e| e.channel == "northernlion")
        .filter_map(|e| e.ts_ms)
        .collect();
    let (first, last) = (*times.iter().min().unwrap(), *times.iter().max().unwrap());
    let start = (first / 60_000 + 10) * 60_000 + 17_000;
    (0..)
        .map(|i| (start + i * 60_000, 4_000 + (37 * i) % 900))
        .take_while(|(ts, _)| *ts <= last)
        .collect()
}

fn snapshot_json((ts, viewers): (i64, i64)) -> String {
    json!({"channel": "northernlion", "live": true, "viewers": viewers, "ts": ts}).to_string()
}

/// The newest snapshot at or before `t`, by a scan over all of them.
fn brute_viewers(snaps: &[(i64, i64)], channel: &str, t: i64) -> Option<i64> {
    if channel != "northernlion" {
        return None;
    }
    snaps
        .iter()
        .filter(|(ts, _)| *ts <= t)
        .max_by_key(|(ts, _)| *ts)
        .map(|(_, v)| *v)
}

fn run_joined(topology: Topology, chat: &[String], rows: Vec<String>) -> MemoryDestination {
    let topology = Arc::new(topology);
    let stores = topology.stores();
    let stores: Vec<&str> = stores.iter().map(String::as_str).collect();
    let mut backend = MemoryBackend::new(&stores).unwrap();
    let mut out = MemoryDestination::default();
    let mut chat = Values::new(chat);
    let mut rows = Values::new(rows);
    run_offline_sources(
        topology,
        vec![(0, &mut chat), (1, &mut rows)],
        &mut backend,
        &mut out,
        10_000,
    )
    .unwrap();
    out
}

fn of_topic<'a>(out: &'a MemoryDestination, topic: &str) -> Vec<&'a Value> {
    out.outputs
        .iter()
        .filter(|(t, ..)| t == topic)
        .map(|(_, _, v, _)| v)
        .collect()
}

/// Messages and distinct chatters per (channel, minute), by brute force.
fn brute_minutes(lines: &[String]) -> BTreeMap<(String, i64), (u64, u64)> {
    let mut m: BTreeMap<(String, i64), (u64, BTreeSet<String>)> = BTreeMap::new();
    for line in lines {
        let Ok(e) = ChatEvent::parse(line) else {
            continue;
        };
        if let EventKind::Message(msg) = &e.kind {
            let start = e.ts_ms.unwrap().div_euclid(60_000) * 60_000;
            let slot = m.entry((e.channel.to_owned(), start)).or_default();
            slot.0 += 1;
            slot.1.insert(msg.user.login.to_owned());
        }
    }
    m.into_iter()
        .map(|(k, (n, u))| (k, (n, u.len() as u64)))
        .collect()
}

#[test]
fn minutes_carry_the_viewers_of_a_scan_over_every_snapshot_even_out_of_order() {
    let chat = chat();
    let snaps = snapshots(&chat);
    assert!(snaps.len() > 30, "{} snapshots", snaps.len());
    // Out of order: each pair of snapshots arrives swapped (the later one first, 60 s apart),
    // within the table's 2-minute grace.
    let mut rows: Vec<String> = snaps.iter().copied().map(snapshot_json).collect();
    for pair in rows.chunks_mut(2) {
        pair.reverse();
    }
    let out = run_joined(topology(true, "2m"), &chat, rows);
    assert!(
        out.late.is_empty(),
        "no row is late within grace: {:?}",
        out.late.first()
    );
    assert!(
        out.dead_letters.is_empty(),
        "{:?}",
        out.dead_letters.first()
    );

    let minutes = of_topic(&out, "twitch.audience.minute");
    let brute = brute_minutes(&chat);
    assert_eq!(minutes.len(), brute.len(), "one final per minute with chat");
    let (mut known, mut unknown) = (0, 0);
    for m in &minutes {
        let channel = m["channel"].as_str().unwrap();
        let (start, end) = (
            m["window_start"].as_i64().unwrap(),
            m["window_end"].as_i64().unwrap(),
        );
        let (messages, chatters) = brute[&(channel.to_owned(), start)];
        assert_eq!(m["messages"], json!(messages), "{channel} {start}");
        assert_eq!(m["unique_chatters"], json!(chatters), "{channel} {start}");
        let expected = brute_viewers(&snaps, channel, end - 1);
        assert_eq!(m["viewers"].as_i64(), expected, "{channel} {start}");
        match expected {
            Some(v) => {
                known += 1;
                let ratio = (chatters as f64 / v as f64 * 10_000.0).round() / 10_000.0;
                assert_eq!(m["chatters_per_viewer"].as_f64(), Some(ratio));
            }
            None => {
                unknown += 1;
                assert!(m["chatters_per_viewer"].is_null());
            }
        }
    }
    assert!(
        known >= 30 && unknown >= 10,
        "{known} minutes with viewers, {unknown} without"
    );

    // Ad slots: reach is the viewers as of the minute's end when a snapshot is known, and the
    // reason says so; otherwise it is the minute's active chatters.
    let slots = of_topic(&out, "twitch.audience.ad_slots");
    assert!(
        !slots.is_empty(),
        "the 49-minute replay gets a recommendation"
    );
    for s in &slots {
        let channel = s["channel"].as_str().unwrap();
        let start = s["start"].as_i64().unwrap();
        let reason = s["reason"].as_str().unwrap();
        match brute_viewers(&snaps, channel, start - 1) {
            Some(v) => {
                assert_eq!(s["expected_reach"].as_i64(), Some(v), "{reason}");
                assert!(reason.contains("viewers are watching"), "{reason}");
            }
            None => assert!(reason.contains("people chatted"), "{reason}"),
        }
    }
}

#[test]
fn a_join_changes_nothing_but_the_joined_fields_and_one_source_runs_as_before() {
    let chat = chat();
    let rows: Vec<String> = snapshots(&chat).into_iter().map(snapshot_json).collect();
    let joined = run_joined(topology(true, "0s"), &chat, rows.clone());
    let plain = run_joined(topology(false, "0s"), &chat, rows);
    let strip = |out: &MemoryDestination| -> Vec<Value> {
        of_topic(out, "twitch.audience.minute")
            .into_iter()
            .map(|v| {
                let mut v = v.clone();
                let m = v.as_object_mut().unwrap();
                assert!(m.remove("viewers").is_some() && m.remove("chatters_per_viewer").is_some());
                v
            })
            .collect()
    };
    let plain_minutes = strip(&plain);
    assert_eq!(strip(&joined), plain_minutes);
    // Without a join the fields are there, null (as the Avro schema's defaults read them).
    assert!(of_topic(&plain, "twitch.audience.minute")
        .iter()
        .all(|m| m["viewers"].is_null() && m["chatters_per_viewer"].is_null()));

    // The same topology fed its chat alone (the single-source path) gives the same minutes.
    let topology = Arc::new(topology(false, "0s"));
    let stores = topology.stores();
    let stores: Vec<&str> = stores.iter().map(String::as_str).collect();
    let mut backend = MemoryBackend::new(&stores).unwrap();
    let mut alone = MemoryDestination::default();
    run_offline(topology, chat.iter(), &mut backend, &mut alone, 10_000).unwrap();
    assert_eq!(strip(&alone), plain_minutes);
}

#[test]
fn a_row_older_than_the_watermark_goes_to_the_late_topic_and_still_updates_the_table() {
    let chat = chat();
    let snaps = snapshots(&chat);
    let mut rows: Vec<String> = snaps.iter().copied().map(snapshot_json).collect();
    // A correction for minute 3's snapshot arrives after the last one: 30+ minutes late.
    let (ts, _) = snaps[3];
    rows.push(snapshot_json((ts, 1)));
    let mut bad = rows.clone();
    bad.insert(5, "not json".to_owned());
    // A JSON row the table takes but the stream sessions cannot read (no viewer count).
    let ghost = json!({"channel": "ghost", "ts": snaps[5].0}).to_string();
    bad.insert(6, ghost.clone());
    let out = run_joined(topology(true, "0s"), &chat, bad);
    // Late for the table, and for the stream sessions that read the same row.
    let late: Vec<(&str, i64)> = out
        .late
        .iter()
        .map(|l| (l.late.processor.as_str(), l.late.ts_ms))
        .collect();
    assert_eq!(late, [("table streams", ts), ("stream-sessions", ts)]);
    assert_eq!(out.dead_letters.len(), 2, "{:?}", out.dead_letters);
    let refused = &out.dead_letters[1];
    assert_eq!(refused.value, ghost.as_bytes());
    assert!(
        refused
            .reason
            .contains("processor stream-sessions: not a stream snapshot")
            && refused.reason.contains("viewers is missing"),
        "{}",
        refused.reason
    );
    assert!(
        out.dead_letters[0]
            .reason
            .contains("unreadable row of table streams"),
        "{}",
        out.dead_letters[0].reason
    );
    // Minutes emitted before the correction kept what they saw.
    let minutes = of_topic(&out, "twitch.audience.minute");
    let at = minutes
        .iter()
        .find(|m| m["window_end"].as_i64() == Some(ts - 17_000 + 60_000))
        .unwrap();
    assert_eq!(at["viewers"].as_i64(), Some(snaps[3].1));
}

#[test]
fn minutes_still_open_when_event_time_jumps_past_the_retention_read_their_own_viewers() {
    // Chat goes quiet for three hours while snapshots keep coming, then one line arrives (DERIVED:
    // the last real line with its time moved three hours on). The minutes still open at the jump
    // close when event time leaps past the table's one-hour retention: they must still read the
    // snapshot as of their own end, not one from the gap.
    let mut chat: Vec<String> = chat()
        .into_iter()
        .filter(|l| ChatEvent::parse(l).is_ok_and(|e| e.channel == "northernlion"))
        .collect();
    let last = chat.last().unwrap().clone();
    let last_ts = ChatEvent::parse(&last).unwrap().ts_ms.unwrap();
    chat.push(last.replace(
        &format!("tmi-sent-ts={last_ts}"),
        &format!("tmi-sent-ts={}", last_ts + 3 * 3_600_000),
    ));
    let mut snaps = snapshots(&chat[..chat.len() - 1]);
    let gap_start = snaps.last().unwrap().0;
    snaps.extend((1..=180).map(|i| (gap_start + i * 60_000, 9_000 + i)));
    let rows: Vec<String> = snaps.iter().copied().map(snapshot_json).collect();
    let out = run_joined(topology(true, "0s"), &chat, rows);
    let minutes = of_topic(&out, "twitch.audience.minute");
    let last_minute = minutes
        .iter()
        .filter(|m| m["window_end"].as_i64().unwrap() <= last_ts + 60_000)
        .max_by_key(|m| m["window_start"].as_i64())
        .unwrap();
    let end = last_minute["window_end"].as_i64().unwrap();
    assert_eq!(
        last_minute["viewers"].as_i64(),
        brute_viewers(&snaps, "northernlion", end - 1),
        "{last_minute}"
    );
    assert!(last_minute["viewers"].as_i64().is_some());
}
