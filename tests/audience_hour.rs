//! The hourly audience rollup (`twitch.audience.hour`) and first-seen chatters
//! (`twitch.audience.minute`'s `first_seen_chatters`) of the shipped `topologies/audience.toml`, on
//! real chat: three runs of the multichannel CSV set (2025-04-28, 05-05 and 05-09), the channels
//! with fewer than 3,000 messages in them (63 channels, about 33,000 messages; the busiest few would
//! only make the test slower), with the first-seen horizon set to 5 days so that chatters of 04-28
//! are new again on 05-05 (7 days on) but those of 05-05 are not on 05-09 (4 days on).
//!
//! The viewer and follower series is DERIVED, not recorded (see [`snapshots`]): for the channel of
//! rank `i` among the channels with chat (every fifth channel gets none), one `twitch.streams` row
//! every 2 minutes from 30 minutes before each stretch of chat (cut where chat pauses for more
//! than an hour) to its end, stamped `13 + (7 i mod 60)` seconds
//! into the slot, with rows `(k + i) mod 11 = 0` left out (gaps), `viewers = 1000 + (97 i + 13 k)
//! mod 5000` and `followers = 50000 + 1000 i + 3 k`, absent when `k mod 17 = 5`.
//!
//! Expected values come from the set's `normalized.jsonl.gz` (its own record per message, read
//! without the chat model) and scans over every derived row, written here.

mod common;
use common::data_dir;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader};

use chatpulse::chat::import::{import, Format, ImportOptions};
use chatpulse::chat::ChatEvent;
use chatpulse::topology::driver::TestDriver;
use chatpulse::topology::Topology;
use serde_json::{json, Value};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;
/// The first-seen horizon of the test, in days.
const HORIZON: i64 = 5;
/// The runs of the multichannel set, in time order.
const RUNS: [&str; 3] = ["chat_logs57.csv", "chat_logs63.csv", "chat_logs66.csv"];

/// The driver's wall clock: after the data, so that no record is from the future.
const WALL_CLOCK: i64 = 1_800_000_000_000;
const SET: &str = "dev_csv_multichannel_2025";
/// Channels with this many messages in the runs or more are left out.
const MAX_MESSAGES: usize = 3_000;

/// The shipped audience topology with a 5-day first-seen horizon, with or without its joins and
/// without ad breaks and stream sessions (which this test does not read).
fn topology(join: bool) -> Topology {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/topologies/audience.toml");
    let mut text = std::fs::read_to_string(path).unwrap();
    assert_eq!(text.matches("first_seen_horizon = \"30d\"").count(), 2);
    text = text.replace(
        "first_seen_horizon = \"30d\"",
        &format!("first_seen_horizon = \"{HORIZON}d\""),
    );
    // Ad breaks and stream sessions, and their sinks, are not read here.
    for block in [
        "[[processor]]\nname = \"ad-slots\"",
        "[[sink]]\nname = \"slots\"",
        "[[processor]]\nname = \"stream-sessions\"",
        "[[sink]]\nname = \"sessions\"",
    ] {
        let start = text.find(block).unwrap();
        let end = start + text[start..].find("\n\n").unwrap();
        text.replace_range(start..end + 2, "");
    }
    if !join {
        // Chat alone: no joins, and no table source to hold event time back.
        text = text.replace("join = { table = \"streams\" }\n", "");
        let table = text.find("[[source]]\nname = \"streams\"").unwrap();
        let end = table + text[table..].find("\n\n").unwrap();
        text.replace_range(table..end + 2, "");
    }
    Topology::parse(&text).unwrap()
}

/// The chat of the runs in `channels` as IRC lines, through the CSV importer.
fn chat(channels: &BTreeSet<&str>) -> Vec<String> {
    let mut lines = Vec::new();
    for run in RUNS {
        let path = data_dir().join(SET).join(format!("{run}.gz"));
        let file = File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let reader = BufReader::new(flate2::read::GzDecoder::new(file));
        lines.extend(
            import(Format::Csv, ImportOptions::default(), reader)
                .map(|r| r.unwrap().line)
                .filter(|l| channels.contains(ChatEvent::parse(l).unwrap().channel)),
        );
    }
    lines
}

/// One message of the set's normalized records: `(ts_ms, channel, user)`.
type Message = (i64, String, String);

/// The messages of the runs, read from `normalized.jsonl.gz`, in time order.
fn messages() -> Vec<Message> {
    let path = data_dir().join(SET).join("normalized.jsonl.gz");
    let reader = BufReader::new(flate2::read::GzDecoder::new(File::open(path).unwrap()));
    let mut out = Vec::new();
    for line in reader.lines() {
        let r: Value = serde_json::from_str(&line.unwrap()).unwrap();
        let src = r["src"].as_str().unwrap();
        if r["kind"] == "msg" && RUNS.iter().any(|f| src.starts_with(&format!("{f}:"))) {
            out.push((
                r["ts_ms"].as_i64().unwrap(),
                r["channel"].as_str().unwrap().to_owned(),
                r["user"].as_str().unwrap().to_owned(),
            ));
        }
    }
    let mut counts: HashMap<String, usize> = HashMap::new();
    for (_, channel, _) in &out {
        *counts.entry(channel.clone()).or_default() += 1;
    }
    out.retain(|(_, channel, _)| counts[channel] < MAX_MESSAGES);
    out.sort();
    out
}

/// The channels of `messages`.
fn channels(messages: &[Message]) -> BTreeSet<&str> {
    messages.iter().map(|(_, c, _)| c.as_str()).collect()
}

/// A derived snapshot: `(ts, channel, viewers, followers)`.
type Snapshot = (i64, String, i64, Option<i64>);

/// The derived snapshots of the module doc, in time order.
fn snapshots(messages: &[Message]) -> Vec<Snapshot> {
    let channels = channels(messages);
    // Each run's span: the messages cut where two are more than an hour apart.
    let mut runs: Vec<(i64, i64)> = Vec::new();
    for (ts, ..) in messages {
        match runs.last_mut() {
            Some((_, end)) if *ts - *end <= HOUR => *end = *ts,
            _ => runs.push((*ts, *ts)),
        }
    }
    assert!(runs.len() >= RUNS.len(), "{runs:?}");
    let mut out = Vec::new();
    for (i, channel) in channels.iter().enumerate() {
        let i = i as i64;
        if i % 5 == 0 {
            continue;
        }
        for (first, last) in &runs {
            let base = (first - 30 * MINUTE).div_euclid(2 * MINUTE);
            for k in base.. {
                let ts = k * 2 * MINUTE + (13 + (7 * i) % 60) * 1_000;
                if ts > *last {
                    break;
                }
                if (k + i) % 11 == 0 {
                    continue;
                }
                let viewers = 1_000 + (97 * i + 13 * k).rem_euclid(5_000);
                let followers = (k % 17 != 5).then_some(50_000 + 1_000 * i + 3 * (k - base));
                out.push((ts, channel.to_string(), viewers, followers));
            }
        }
    }
    out.sort();
    out
}

fn snapshot_json((ts, channel, viewers, followers): &Snapshot) -> String {
    let mut row = json!({"channel": channel, "viewers": viewers, "ts": ts, "live": true});
    if let Some(f) = followers {
        row["followers"] = json!(f);
    }
    row.to_string()
}

/// The event time of an IRC line (its `tmi-sent-ts` tag).
fn line_ts(line: &str) -> i64 {
    let at = line.find("tmi-sent-ts=").unwrap() + "tmi-sent-ts=".len();
    let digits: String = line[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap()
}

/// Runs chat and rows through `topology` in event-time order (rows first at a tie).
fn run(topology: Topology, chat: &[String], rows: &[Snapshot]) -> TestDriver {
    let mut merged: Vec<(i64, usize, String)> = chat
        .iter()
        .map(|l| (line_ts(l), 1, l.clone()))
        .chain(rows.iter().map(|r| (r.0, 0, snapshot_json(r))))
        .collect();
    merged.sort_by_key(|(ts, source, _)| (*ts, *source));
    let mut d = TestDriver::new(topology, WALL_CLOCK);
    for (i, (_, source, value)) in merged.iter().enumerate() {
        // The topology's sources: 0 is chat, 1 the streams table.
        d.pipe_source(1 - source, value.as_bytes(), None);
        if i % 20_000 == 19_999 {
            d.commit();
        }
    }
    d.commit();
    d.finish();
    d
}

/// The last record per (channel, window_start) of `records`.
fn finals(records: Vec<Value>) -> BTreeMap<(String, i64), Value> {
    records
        .into_iter()
        .map(|r| {
            let key = (
                r["channel"].as_str().unwrap().to_owned(),
                r["window_start"].as_i64().unwrap(),
            );
            (key, r)
        })
        .collect()
}

/// Per (channel, window start) of `width`: messages and chatters, by brute force.
fn windows(messages: &[Message], width: i64) -> BTreeMap<(String, i64), (u64, BTreeSet<&str>)> {
    let mut w: BTreeMap<(String, i64), (u64, BTreeSet<&str>)> = BTreeMap::new();
    for (ts, channel, user) in messages {
        let slot = w
            .entry((channel.clone(), ts.div_euclid(width) * width))
            .or_default();
        slot.0 += 1;
        slot.1.insert(user);
    }
    w
}

/// The chatters of each window never seen in its channel within the horizon before it (`None`:
/// no horizon), by brute force over every message's time.
fn first_seen(
    messages: &[Message],
    windows: &BTreeMap<(String, i64), (u64, BTreeSet<&str>)>,
    horizon: Option<i64>,
) -> BTreeMap<(String, i64), u64> {
    let mut times: HashMap<(&str, &str), Vec<i64>> = HashMap::new();
    for (ts, channel, user) in messages {
        times.entry((channel, user)).or_default().push(*ts);
    }
    windows
        .iter()
        .map(|((channel, start), (_, users))| {
            let new = users
                .iter()
                .filter(|u| {
                    let t = &times[&(channel.as_str(), **u)];
                    let before = t.partition_point(|x| x < start);
                    match (before.checked_sub(1).map(|i| t[i]), horizon) {
                        (None, _) => true,
                        (Some(_), None) => false,
                        (Some(last), Some(h)) => last.div_euclid(DAY) < start.div_euclid(DAY) - h,
                    }
                })
                .count() as u64;
            ((channel.clone(), *start), new)
        })
        .collect()
}

/// The newest snapshot of `channel` at or before `t`, by a scan over all of the channel's
/// (`rows` holds each channel's snapshots, see [`by_channel`]).
fn as_of<'a>(
    rows: &'a HashMap<&str, Vec<&Snapshot>>,
    channel: &str,
    t: i64,
) -> Option<&'a Snapshot> {
    rows.get(channel)?
        .iter()
        .copied()
        .filter(|r| r.0 <= t)
        .max_by_key(|r| r.0)
}

/// The snapshots grouped by channel.
fn by_channel(rows: &[Snapshot]) -> HashMap<&str, Vec<&Snapshot>> {
    let mut m: HashMap<&str, Vec<&Snapshot>> = HashMap::new();
    for r in rows {
        m.entry(r.1.as_str()).or_default().push(r);
    }
    m
}

#[test]
fn minutes_and_hours_equal_a_brute_force_rollup_of_chat_and_the_derived_snapshots() {
    let messages = messages();
    let chat = chat(&channels(&messages));
    assert_eq!(chat.len(), messages.len(), "one IRC line per message");
    let rows = snapshots(&messages);
    let d = run(topology(true), &chat, &rows);
    assert!(d.late().is_empty(), "{:?}", d.late().first());
    assert!(
        d.dead_letters().is_empty(),
        "{:?}",
        d.dead_letters().first()
    );

    let minutes = finals(d.output("minutes"));
    let brute = windows(&messages, MINUTE);
    assert_eq!(minutes.len(), brute.len(), "one final per minute with chat");
    let expected = first_seen(&messages, &brute, Some(HORIZON));
    let forever = first_seen(&messages, &brute, None);
    let mut past_horizon = 0;
    for (key, m) in &minutes {
        assert_eq!(m["unique_chatters"], json!(brute[key].1.len()), "{key:?}");
        assert_eq!(m["first_seen_chatters"], json!(expected[key]), "{key:?}");
        past_horizon += usize::from(expected[key] != forever[key]);
    }
    // The horizon matters on this data: chatters of 04-28 are new again on 05-05.
    assert!(past_horizon > 100, "{past_horizon} minutes differ");
    let total: u64 = expected.values().sum();
    assert!(total > 5_000, "{total} first-seen chatters");

    // The hours: chat, first-seen chatters, and the derived viewers and followers.
    let by_channel = by_channel(&rows);
    let rows = &by_channel;
    let hours = finals(d.output("hours"));
    let brute = windows(&messages, HOUR);
    assert_eq!(hours.len(), brute.len(), "one final per hour with chat");
    let expected_new = first_seen(&messages, &brute, Some(HORIZON));
    let (mut with_viewers, mut without, mut gains) = (0, 0, 0);
    for (key @ (channel, start), h) in &hours {
        let (messages, users) = &brute[key];
        let chatters = users.len() as u64;
        assert_eq!(h["window_end"], json!(start + HOUR));
        assert_eq!(h["final"], json!(true));
        // 1970-01-01 was a Thursday (hour 3 * 24 of a Monday-based week).
        let how = (start.div_euclid(HOUR) + 72).rem_euclid(168);
        assert_eq!(h["hour_of_week"], json!(how), "{key:?}");
        assert_eq!(h["messages"], json!(messages), "{key:?}");
        assert_eq!(h["chatters"], json!(chatters), "{key:?}");
        assert_eq!(
            h["first_seen_chatters"],
            json!(expected_new[key]),
            "{key:?}"
        );

        let viewers: Vec<i64> = (1..=60)
            .filter_map(|m| as_of(rows, channel, start + m * MINUTE - 1).map(|r| r.2))
            .collect();
        if viewers.is_empty() {
            without += 1;
            for f in ["viewers_avg", "viewers_peak", "engagement_rate"] {
                assert!(h[f].is_null(), "{key:?} {f}: {h}");
            }
        } else {
            with_viewers += 1;
            let avg = viewers.iter().sum::<i64>() as f64 / viewers.len() as f64;
            assert_eq!(
                h["viewers_avg"],
                json!((avg * 100.0).round() / 100.0),
                "{key:?}"
            );
            assert_eq!(h["viewers_peak"], json!(viewers.iter().max()), "{key:?}");
            let rate = (chatters as f64 * 100.0 / avg * 1000.0).round() / 1000.0;
            assert_eq!(h["engagement_rate"], json!(rate), "{key:?}");
        }
        let followers = |t: i64| as_of(rows, channel, t).and_then(|r| r.3);
        let (fs, fe) = (followers(start - 1), followers(start + HOUR - 1));
        assert_eq!(h["followers_start"], json!(fs), "{key:?}");
        assert_eq!(h["followers_end"], json!(fe), "{key:?}");
        match fs.zip(fe) {
            Some((s, e)) => {
                gains += 1;
                assert_eq!(h["followers_gained"], json!(e - s), "{key:?}");
            }
            None => assert!(h["followers_gained"].is_null(), "{key:?}"),
        }
    }
    assert!(
        with_viewers > 100 && without > 20 && gains > 100,
        "{with_viewers} hours with viewers, {without} without, {gains} with followers gained"
    );
}

#[test]
fn first_seen_chatters_resume_after_a_crash_from_the_committed_buckets() {
    // Chat alone (no join): commit every 10,000 records, crash after 25,000 (past the first
    // run's day), restore, and pipe the rest again.
    let chat = chat(&channels(&messages()));
    let whole = run(topology(false), &chat, &[]);
    let mut d = TestDriver::new(topology(false), WALL_CLOCK);
    let (mut at, mut crashed) = (0, false);
    while at < chat.len() {
        d.pipe_line(&chat[at]);
        at += 1;
        if at % 10_000 == 0 {
            d.commit();
        }
        if at == 25_000 && !crashed {
            d.crash_and_restore().unwrap();
            crashed = true;
            at = 20_000;
        }
    }
    d.commit();
    d.finish();
    assert!(d.committed_entries() > 0);
    for sink in ["minutes", "hours"] {
        let (a, b) = (finals(whole.output(sink)), finals(d.output(sink)));
        assert_eq!(a.len(), b.len(), "{sink}");
        for (key, w) in &a {
            assert_eq!(
                b[key]["first_seen_chatters"], w["first_seen_chatters"],
                "{sink} {key:?}"
            );
        }
    }
}
