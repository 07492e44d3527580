//! `chatpulse process` of the shipped alert topologies (`topologies/alerts.toml`,
//! `topologies/alerts-sessions.toml`, sources read as JSON) over the results of the shipped upstream
//! topologies (`audience.toml`, `spikes.toml`, `subscriptions.toml`, `chat-events.toml`), themselves
//! run offline on real chat: the ten runs of the multichannel CSV set (523,106 messages, 10 days),
//! as the CSV importer makes them into IRC lines.
//!
//! DERIVED inputs, not recorded:
//! - **Viewers and followers** (`twitch.streams`): for each channel and UTC day with chat, one
//!   snapshot a minute (at second 30) from 10 minutes before its first message to its last, with
//!   `viewers = 50 + 20 × (the channel's messages in the 5 minutes up to the poll)` and
//!   `followers = 10,000 + (the channel's messages so far) / 5`, then a `stream_end` snapshot a
//!   minute after the last poll. So viewers follow the chat rate (falls and rises where chat falls
//!   and rises), and followers grow with chat.
//! - **Raids and gift bombs**: the real `raid` and `sub-gift` fixtures (Chatterino's snapshots),
//!   moved into every fifth channel (by name) on each of its first two days, at 40 % and 60 % of the
//!   day's chat, with viewers cycling through 10, 49, 50, 120, 1,500, 3,000 and gift counts through
//!   5, 9, 10, 25, 100.
//!
//! The expected alerts are computed here by plain loops over the upstream result files and the
//! derived inputs (each rule's definition and the cooldown, written again), and the raids and gift
//! bombs also straight from what was injected. The alerts per rule and channel-hour are printed
//! (README, "How many alerts to expect"). The same run checks the daily summary export. On tansu,
//! `chatpulse run` of the shipped sessions file writes one stream-end alert per stream, as Avro.

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufReader;
use std::path::Path;

use chatpulse::avro::encode::encode_datum;
use chatpulse::avro::schemas::AvroSchema;
use chatpulse::chat::import::{import, Format, ImportOptions};
use chatpulse::chat::ChatEvent;
use serde_json::{json, Value};

use crate::cli::chatpulse;
use crate::harness::{data_dir, repo_file};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;
const RUNS: [&str; 10] = [
    "chat_logs13",
    "chat_logs33",
    "chat_logs38",
    "chat_logs55",
    "chat_logs57",
    "chat_logs63",
    "chat_logs66",
    "chat_logs74",
    "chat_logs76",
    "chat_logs78",
];
const FIXTURES: &str = include_str!("../fixtures/irc_event_fixtures.irc.txt");
const RAID_VIEWERS: [i64; 6] = [10, 49, 50, 120, 1_500, 3_000];
const BOMB_GIFTS: [i64; 5] = [5, 9, 10, 25, 100];

/// `line` with tag `key` set to `value` (the tag must be there).
fn set_tag(line: &str, key: &str, value: &str) -> String {
    let (tags, rest) = line[1..].split_once(' ').unwrap();
    let mut found = false;
    let tags: Vec<String> = tags
        .split(';')
        .map(|t| match t.split_once('=') {
            Some((k, _)) if k == key => {
                found = true;
                format!("{k}={value}")
            }
            _ => t.to_owned(),
        })
        .collect();
    assert!(found, "{key} not in {line}");
    format!("@{} {rest}", tags.join(";"))
}

/// The fixture line at `number` (the numbers of `tests/fixtures/irc_event_fixtures.index.tsv`:
/// 57 is Chatterino's `raid` snapshot, 91 its `sub-gift`).
fn fixture(number: usize) -> &'static str {
    FIXTURES.lines().nth(number - 1).unwrap()
}

/// Every message of the ten runs as `(ts, channel, IRC line)`, in time order.
fn chat() -> Vec<(i64, String, String)> {
    let mut out = Vec::new();
    for run in RUNS {
        let path = data_dir().join(format!("dev_csv_multichannel_2025/{run}.csv.gz"));
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let reader = BufReader::new(flate2::read::GzDecoder::new(file));
        for l in import(Format::Csv, ImportOptions::default(), reader).filter_map(Result::ok) {
            let e = ChatEvent::parse(&l.line).unwrap();
            out.push((e.ts_ms.unwrap(), e.channel.to_owned(), l.line.clone()));
        }
    }
    out.sort_by_key(|(t, _, _)| *t);
    out
}

/// One injected event: `(ts, channel, raid viewers or gift count)`.
type Injected = Vec<(i64, String, i64)>;

/// Raids and gift bombs derived from the real fixtures, as IRC lines, and what they carry.
fn injected(chat: &[(i64, String, String)]) -> (Vec<(i64, String)>, Injected, Injected) {
    let mut days: BTreeMap<&str, BTreeMap<i64, (i64, i64)>> = BTreeMap::new();
    for (t, c, _) in chat {
        let d = days
            .entry(c)
            .or_default()
            .entry(t.div_euclid(DAY))
            .or_insert((*t, *t));
        d.1 = *t;
    }
    let (mut lines, mut raids, mut bombs) = (Vec::new(), Vec::new(), Vec::new());
    let mut n = 0usize;
    for (i, (channel, spans)) in days.iter().enumerate() {
        if i % 5 != 0 {
            continue;
        }
        for (first, last) in spans.values().take(2) {
            let at = |share: i64| first + (last - first) * share / 100;
            let viewers = RAID_VIEWERS[n % RAID_VIEWERS.len()];
            let gifts = BOMB_GIFTS[n % BOMB_GIFTS.len()];
            n += 1;
            let raid_at = at(40);
            let raid = set_tag(
                &set_tag(
                    &set_tag(fixture(57), "tmi-sent-ts", &raid_at.to_string()),
                    "msg-param-viewerCount",
                    &viewers.to_string(),
                ),
                "id",
                &format!("derived-raid-{n}"),
            )
            .replace("USERNOTICE #pajlada", &format!("USERNOTICE #{channel}"));
            let bomb_at = at(60);
            let bomb = set_tag(
                &set_tag(fixture(91), "tmi-sent-ts", &bomb_at.to_string()),
                "id",
                &format!("derived-bomb-{n}"),
            )
            .replace(
                "msg-id=subgift;",
                &format!("msg-id=submysterygift;msg-param-mass-gift-count={gifts};msg-param-community-gift-id=derived{n};"),
            )
            .replace("USERNOTICE #pajlada", &format!("USERNOTICE #{channel}"));
            lines.push((raid_at, raid));
            lines.push((bomb_at, bomb));
            raids.push((raid_at, channel.to_string(), viewers));
            bombs.push((bomb_at, channel.to_string(), gifts));
        }
    }
    (lines, raids, bombs)
}

/// The derived snapshots: `(channel, ts, viewers, live)` in poll order (viewers 0 and not live for
/// the `stream_end` row), as JSON lines.
fn snapshots(chat: &[(i64, String, String)]) -> (Vec<(String, i64, i64, bool)>, String) {
    let mut times: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for (t, c, _) in chat {
        times.entry(c).or_default().push(*t);
    }
    let mut rows = Vec::new();
    for (channel, ts) in &times {
        let mut days: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
        for t in ts {
            let d = days.entry(t.div_euclid(DAY)).or_insert((*t, *t));
            d.1 = *t;
        }
        for (first, last) in days.values() {
            let mut poll = (first - 10 * MINUTE).div_euclid(MINUTE) * MINUTE + 30_000;
            let mut last_poll = poll;
            while poll <= *last {
                let upto = ts.partition_point(|t| *t <= poll);
                let recent = upto - ts.partition_point(|t| *t <= poll - 5 * MINUTE);
                let viewers = 50 + 20 * recent as i64;
                let followers = 10_000 + upto as i64 / 5;
                rows.push((channel.to_string(), poll, viewers, Some(followers)));
                last_poll = poll;
                poll += MINUTE;
            }
            rows.push((channel.to_string(), last_poll + MINUTE, 0, None));
        }
    }
    rows.sort_by_key(|(c, t, _, _)| (*t, c.clone()));
    let mut text = String::new();
    for (c, t, v, f) in &rows {
        let row = match f {
            Some(f) => json!({"channel": c, "ts": t, "live": true, "viewers": v, "followers": f}),
            None => {
                json!({"channel": c, "ts": t, "live": false, "viewers": 0, "event": "stream_end"})
            }
        };
        text.push_str(&row.to_string());
        text.push('\n');
    }
    let rows = rows
        .into_iter()
        .map(|(c, t, v, f)| (c, t, v, f.is_some()))
        .collect();
    (rows, text)
}

fn read(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Runs `chatpulse process` of `topology` with `inputs` into `out`.
fn process(topology: &Path, inputs: &[(&str, &Path)], out: &Path) {
    let mut c = chatpulse();
    c.args(["process", "--topology"])
        .arg(topology)
        .arg("--input");
    for (name, file) in inputs {
        c.arg(format!("{name}={}", file.display()));
    }
    let output = c.arg("--out").arg(out).output().unwrap();
    assert!(
        output.status.success(),
        "{}: {}",
        topology.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The shipped file with its Avro sources read as JSON lines (what `process` writes).
fn as_json(dir: &Path, name: &str) -> std::path::PathBuf {
    let shipped = std::fs::read_to_string(repo_file(&format!("topologies/{name}.toml"))).unwrap();
    let text = shipped.replace(
        "format = \"avro\"\ntimestamp",
        "format = \"json\"\ntimestamp",
    );
    assert_ne!(text, shipped);
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// An expected alert: `(rule, channel, window_start, window_end)`.
type Key = (String, String, i64, i64);

/// Per channel, the triggers `(window_start, window_end)` in arrival order, gated: the first, then
/// each ending after the last sent one and at least `cooldown` after it.
fn gated(rule: &str, cooldown: i64, triggers: BTreeMap<String, Vec<(i64, i64)>>) -> Vec<Key> {
    let mut out = Vec::new();
    for (channel, ts) in triggers {
        let mut last: Option<i64> = None;
        for (s, e) in ts {
            if last.is_none_or(|l| e > l && e >= l + cooldown) {
                last = Some(e);
                out.push((rule.to_owned(), channel.clone(), s, e));
            }
        }
    }
    out
}

/// The viewer rule by brute force over `points` (per channel `(t, viewers)` in order).
fn viewer_triggers(
    points: &BTreeMap<String, Vec<(i64, i64)>>,
    drop: bool,
    pct: f64,
) -> BTreeMap<String, Vec<(i64, i64)>> {
    let mut out: BTreeMap<String, Vec<(i64, i64)>> = BTreeMap::new();
    for (channel, ps) in points {
        for (i, &(t, v)) in ps.iter().enumerate() {
            // 0 viewers is a stream that is off: what came before it does not count.
            let from = ps[..i]
                .iter()
                .rposition(|&(_, r)| r == 0)
                .map_or(0, |z| z + 1);
            if v == 0 {
                continue;
            }
            let before = ps[from..i].iter().filter(|(s, _)| t - s <= 10 * MINUTE);
            let pick = if drop {
                before.max_by_key(|&&(s, r)| (r, s))
            } else {
                before
                    .filter(|(_, r)| *r >= 1)
                    .min_by_key(|&&(s, r)| (r, -s))
            };
            let Some(&(s, r)) = pick else { continue };
            let met = if drop {
                r > 0 && (v as f64) <= r as f64 * (1.0 - pct / 100.0) + 1e-9
            } else {
                (v as f64) >= r as f64 * (1.0 + pct / 100.0) - 1e-9
            };
            if met && v.max(r) >= 100 {
                out.entry(channel.clone()).or_default().push((s, t));
            }
        }
    }
    out
}

#[test]
fn process_alerts_on_real_chat_equal_each_rule_by_brute_force() {
    let started = std::time::Instant::now();
    let chat = chat();
    assert!(chat.len() > 500_000, "{} messages", chat.len());
    let (extra, raids, bombs) = injected(&chat);
    let (polls, streams_text) = snapshots(&chat);
    let dir = tempfile::tempdir().unwrap();
    let mut lines: Vec<(i64, &str)> = chat.iter().map(|(t, _, l)| (*t, l.as_str())).collect();
    lines.extend(extra.iter().map(|(t, l)| (*t, l.as_str())));
    lines.sort_by_key(|(t, _)| *t);
    let chat_file = dir.path().join("chat.log");
    std::fs::write(
        &chat_file,
        lines
            .iter()
            .map(|(_, l)| format!("{l}\n"))
            .collect::<String>(),
    )
    .unwrap();
    // chat_events maps each line to one record; its raids are what the raid rule reads, so only the
    // notices go through it here (9 messages of every 10 MB would be skipped by the rule anyway).
    let notices_file = dir.path().join("notices.log");
    std::fs::write(
        &notices_file,
        extra
            .iter()
            .map(|(_, l)| format!("{l}\n"))
            .collect::<String>(),
    )
    .unwrap();
    let streams_file = dir.path().join("streams.jsonl");
    std::fs::write(&streams_file, streams_text).unwrap();

    let up = dir.path().join("up");
    process(
        &repo_file("topologies/audience.toml"),
        &[
            ("chat", chat_file.as_path()),
            ("streams", streams_file.as_path()),
        ],
        &up,
    );
    let chat_only = [("chat", chat_file.as_path())];
    process(&repo_file("topologies/spikes.toml"), &chat_only, &up);
    process(&repo_file("topologies/subscriptions.toml"), &chat_only, &up);
    process(
        &repo_file("topologies/chat-events.toml"),
        &[("chat", notices_file.as_path())],
        &up,
    );
    let upstream = started.elapsed();

    let file = |topic: &str| up.join(format!("{topic}.jsonl"));
    daily_summary_equals_a_brute_force(&file, dir.path());
    let alerts_toml = as_json(dir.path(), "alerts");
    let sessions_toml = as_json(dir.path(), "alerts-sessions");
    let inputs = [
        ("minutes", file("twitch.audience.minute")),
        ("hours", file("twitch.audience.hour")),
        ("spikes", file("twitch.spikes")),
        ("subs", file("twitch.subscriptions")),
        ("events", file("twitch.chat.events")),
        ("streams", streams_file.clone()),
    ];
    let inputs: Vec<(&str, &Path)> = inputs.iter().map(|(n, p)| (*n, p.as_path())).collect();
    let out = dir.path().join("alerts");
    process(&alerts_toml, &inputs, &out);
    let ends_out = dir.path().join("alerts-sessions");
    let sessions_file = file("twitch.streams.sessions");
    process(
        &sessions_toml,
        &[("sessions", sessions_file.as_path())],
        &ends_out,
    );
    let mut alerts = read(&out.join("twitch.alerts.jsonl"));
    // A replay of the same input gives the same alerts, ids and all.
    let again = dir.path().join("again");
    process(&alerts_toml, &inputs, &again);
    assert_eq!(read(&again.join("twitch.alerts.jsonl")), alerts);
    alerts.extend(read(&ends_out.join("twitch.alerts.jsonl")));
    assert!(
        !out.join("chatpulse-alerts-dlq.jsonl").exists(),
        "no dead letters"
    );
    assert!(!ends_out
        .join("chatpulse-alerts-sessions-dlq.jsonl")
        .exists());

    // Every alert fits its schema, and ids are unique.
    let schema = AvroSchema::builtin("alert").unwrap();
    for a in &alerts {
        encode_datum(a, &schema).unwrap_or_else(|e| panic!("{e}: {a}"));
    }
    let ids: BTreeSet<&str> = alerts
        .iter()
        .map(|a| a["alert_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), alerts.len(), "one id per alert");

    // The expected alerts, rule by rule.
    let mut expected: Vec<Key> = Vec::new();
    // Viewers: the audience minutes' viewers, first finals, at window_end.
    let mut points: BTreeMap<String, Vec<(i64, i64)>> = BTreeMap::new();
    for m in read(&file("twitch.audience.minute")) {
        if m["final"] == true && m["revision"] == 0 {
            if let Some(v) = m["viewers"].as_i64() {
                let c = m["channel"].as_str().unwrap().to_owned();
                let t = m["window_end"].as_i64().unwrap();
                let ps = points.entry(c).or_default();
                if ps.last().is_none_or(|(l, _)| t > *l) {
                    ps.push((t, v));
                }
            }
        }
    }
    expected.extend(gated(
        "viewers-drop",
        30 * MINUTE,
        viewer_triggers(&points, true, 30.0),
    ));
    expected.extend(gated(
        "viewers-rise",
        30 * MINUTE,
        viewer_triggers(&points, false, 50.0),
    ));
    // Followers: each hour's gain against the mean of up to 24 earlier known gains (3 at least).
    let mut gains: BTreeMap<String, Vec<(i64, i64, Option<i64>)>> = BTreeMap::new();
    for h in read(&file("twitch.audience.hour")) {
        if h["final"] == true && h["revision"] == 0 {
            gains
                .entry(h["channel"].as_str().unwrap().to_owned())
                .or_default()
                .push((
                    h["window_start"].as_i64().unwrap(),
                    h["window_end"].as_i64().unwrap(),
                    h["followers_gained"].as_i64(),
                ));
        }
    }
    let mut surges: BTreeMap<String, Vec<(i64, i64)>> = BTreeMap::new();
    for (c, hours) in &gains {
        for (i, (s, e, g)) in hours.iter().enumerate() {
            let Some(g) = g else { continue };
            let known: Vec<i64> = hours[..i].iter().filter_map(|h| h.2).collect();
            let last: Vec<i64> = known.iter().rev().take(24).copied().collect();
            if last.len() >= 3 {
                let usual = last.iter().sum::<i64>() as f64 / last.len() as f64;
                if *g as f64 >= 3.0 * usual && *g >= 20 {
                    surges.entry(c.clone()).or_default().push((*s, *e));
                }
            }
        }
    }
    expected.extend(gated("follower-surge", HOUR, surges));
    // Spikes: each end record, [onset, end].
    let mut spikes: BTreeMap<String, Vec<(i64, i64)>> = BTreeMap::new();
    for s in read(&file("twitch.spikes")) {
        if s["phase"] == "end" {
            spikes
                .entry(s["channel"].as_str().unwrap().to_owned())
                .or_default()
                .push((s["onset"].as_i64().unwrap(), s["end"].as_i64().unwrap()));
        }
    }
    expected.extend(gated("chat-spike", 10 * MINUTE, spikes));
    // Gift bombs and raids: straight from what was injected.
    let by_channel = |events: &Injected, min: i64| {
        let mut m: BTreeMap<String, Vec<(i64, i64)>> = BTreeMap::new();
        for (t, c, n) in events {
            if *n >= min {
                m.entry(c.clone()).or_default().push((*t, *t));
            }
        }
        m
    };
    expected.extend(gated("gift-bomb", 0, by_channel(&bombs, 10)));
    expected.extend(gated("raid", 0, by_channel(&raids, 50)));
    // Stream starts: each channel's first live poll of a day (the days are far apart).
    let mut starts: BTreeMap<String, Vec<(i64, i64)>> = BTreeMap::new();
    let mut live: BTreeMap<&str, bool> = BTreeMap::new();
    for (c, t, _, is_live) in &polls {
        let was = live.insert(c, *is_live).unwrap_or(false);
        if *is_live && !was {
            starts.entry(c.clone()).or_default().push((*t, *t));
        }
    }
    let channel_days = starts.values().map(Vec::len).sum::<usize>();
    expected.extend(gated("stream-start", 0, starts));
    // Stream ends: each final session.
    let mut ends: BTreeMap<String, Vec<(i64, i64)>> = BTreeMap::new();
    for s in read(&file("twitch.streams.sessions")) {
        if s["final"] == true {
            ends.entry(s["channel"].as_str().unwrap().to_owned())
                .or_default()
                .push((s["start"].as_i64().unwrap(), s["end"].as_i64().unwrap()));
        }
    }
    assert_eq!(
        ends.values().map(Vec::len).sum::<usize>(),
        channel_days,
        "a session per channel-day"
    );
    expected.extend(gated("stream-end", 0, ends));

    let got: Vec<Key> = alerts
        .iter()
        .map(|a| {
            (
                a["rule"].as_str().unwrap().to_owned(),
                a["channel"].as_str().unwrap().to_owned(),
                a["window_start"].as_i64().unwrap(),
                a["window_end"].as_i64().unwrap(),
            )
        })
        .collect();
    let got_set: BTreeSet<&Key> = got.iter().collect();
    let expected_set: BTreeSet<&Key> = expected.iter().collect();
    assert_eq!(got_set.len(), got.len(), "one alert per event");
    let missing: Vec<_> = expected_set.difference(&got_set).take(5).collect();
    let extra_alerts: Vec<_> = got_set.difference(&expected_set).take(5).collect();
    assert!(
        missing.is_empty() && extra_alerts.is_empty(),
        "missing {missing:?}, unexpected {extra_alerts:?}"
    );

    // Raids and gift bombs carry the injected figures.
    for a in alerts.iter().filter(|a| a["kind"] == "raid") {
        let t = a["window_start"].as_i64().unwrap();
        let r = raids
            .iter()
            .find(|r| r.0 == t && r.1 == a["channel"])
            .unwrap();
        assert_eq!(a["value"].as_f64(), Some(r.2 as f64), "{a}");
        assert!(a["sentence"].as_str().unwrap().contains("raided"), "{a}");
    }
    assert!(alerts
        .iter()
        .any(|a| a["kind"] == "chat_spike" && a["cause"].is_string()));

    // Volume: alerts per rule and channel-hour (channel-hours with chat).
    let channel_hours: BTreeSet<(String, i64)> = chat
        .iter()
        .map(|(t, c, _)| (c.clone(), t.div_euclid(HOUR)))
        .collect();
    alerts.sort_by_key(|a| a["window_end"].as_i64());
    let mut per: BTreeMap<&str, BTreeMap<(String, i64), usize>> = BTreeMap::new();
    for a in &alerts {
        let hour = a["window_end"].as_i64().unwrap().div_euclid(HOUR);
        *per.entry(a["rule"].as_str().unwrap())
            .or_default()
            .entry((a["channel"].as_str().unwrap().to_owned(), hour))
            .or_default() += 1;
    }
    eprintln!(
        "{} messages, {} channels, {} channel-hours, {} channel-days; upstream {:.1?}, total {:.1?}",
        chat.len(),
        channel_hours.iter().map(|(c, _)| c).collect::<BTreeSet<_>>().len(),
        channel_hours.len(),
        channel_days,
        upstream,
        started.elapsed()
    );
    eprintln!("| rule | alerts | per 100 channel-hours | most in one channel-hour |");
    for (rule, hours) in &per {
        let n: usize = hours.values().sum();
        eprintln!(
            "| `{rule}` | {n} | {:.1} | {} |",
            n as f64 * 100.0 / channel_hours.len() as f64,
            hours.values().max().unwrap()
        );
    }
    for rule in [
        "viewers-drop",
        "viewers-rise",
        "chat-spike",
        "gift-bomb",
        "raid",
        "stream-start",
        "stream-end",
    ] {
        assert!(per.contains_key(rule), "no {rule} alert: {:?}", per.keys());
    }
}

/// `chatpulse summary` over the upstream results: per channel and UTC day, the sessions, hours
/// watched, spikes, subs and gifts of its CSV equal plain sums over the same files.
fn daily_summary_equals_a_brute_force(file: &dyn Fn(&str) -> std::path::PathBuf, dir: &Path) {
    let out = dir.join("summary");
    let output = chatpulse()
        .arg("summary")
        .arg("--sessions")
        .arg(file("twitch.streams.sessions"))
        .arg("--spikes")
        .arg(file("twitch.spikes"))
        .arg("--ad-slots")
        .arg(file("twitch.audience.ad_slots"))
        .arg("--subscriptions")
        .arg(file("twitch.subscriptions"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // (sessions, hours watched, spikes, ad slots, subs, gifts) per (channel, day).
    type Sums = (u64, f64, u64, u64, u64, i64);
    let mut expected: BTreeMap<(String, String), Sums> = BTreeMap::new();
    let day = |ms: i64| chatpulse::time::civil::format_timestamp_ms(ms)[..10].to_owned();
    let entry = |v: &Value, at: &str| -> (String, String) {
        (
            v["channel"].as_str().unwrap().to_owned(),
            day(v[at].as_i64().unwrap()),
        )
    };
    let mut sums: Vec<((String, String), Sums)> = Vec::new();
    for s in read(&file("twitch.streams.sessions")) {
        if s["final"] == true {
            sums.push((
                entry(&s, "start"),
                (1, s["hours_watched"].as_f64().unwrap(), 0, 0, 0, 0),
            ));
        }
    }
    for s in read(&file("twitch.spikes")) {
        if s["phase"] == "end" {
            sums.push((entry(&s, "onset"), (0, 0.0, 1, 0, 0, 0)));
        }
    }
    for s in read(&file("twitch.audience.ad_slots")) {
        sums.push((entry(&s, "start"), (0, 0.0, 0, 1, 0, 0)));
    }
    for s in read(&file("twitch.subscriptions")) {
        let sub = u64::from(s["kind"] == "sub" || s["kind"] == "resub");
        sums.push((
            entry(&s, "ts"),
            (0, 0.0, 0, 0, sub, s["counted_gifts"].as_i64().unwrap()),
        ));
    }
    for (k, (a, b, c, d, e, f)) in sums {
        let t = expected.entry(k).or_default();
        *t = (t.0 + a, t.1 + b, t.2 + c, t.3 + d, t.4 + e, t.5 + f);
    }
    let mut got: BTreeMap<(String, String), Sums> = BTreeMap::new();
    let mut days = 0;
    for entry in std::fs::read_dir(&out).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "csv") {
            days += 1;
            let json: Vec<Value> = serde_json::from_str(
                &std::fs::read_to_string(path.with_extension("json")).unwrap(),
            )
            .unwrap();
            let mut r = csv::Reader::from_path(&path).unwrap();
            let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
            assert_eq!(rows.len(), json.len(), "{}", path.display());
            for row in rows {
                let n = |i: usize| row[i].parse::<f64>().unwrap();
                got.insert(
                    (row[0].to_owned(), row[1].to_owned()),
                    (
                        n(2) as u64,
                        n(6),
                        n(9) as u64,
                        n(11) as u64,
                        n(13) as u64,
                        n(14) as i64,
                    ),
                );
            }
        }
    }
    assert_eq!(got.len(), expected.len());
    for (k, e) in &expected {
        let g = got[k];
        assert_eq!(
            (g.0, g.2, g.3, g.4, g.5),
            (e.0, e.2, e.3, e.4, e.5),
            "{k:?}"
        );
        assert!((g.1 - e.1).abs() <= 0.01, "{k:?}: hours {} vs {}", g.1, e.1);
    }
    eprintln!("daily summary: {} channel-days in {days} days", got.len());
}

/// On tansu, `chatpulse run` of the shipped `topologies/alerts-sessions.toml`, unchanged but for
/// topic names, reads generated stream sessions (tests/common/boards.rs) as Avro of
/// `avro/stream_session.avsc` from a one-partition topic and writes one `stream-end` alert per final
/// session (per channel, a session ending no later than the channel's last alert is a repeat), as
/// Avro of `avro/alert.avsc`, decoded with the file alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_of_the_shipped_sessions_alerts_on_tansu_writes_one_alert_per_stream() {
    use std::time::Duration;

    use apache_avro::Schema;
    use chatpulse::avro::registry_for;
    use chatpulse::avro::wire::frame;
    use chatpulse::topology::Topology;
    use rdkafka::producer::{FutureProducer, FutureRecord};
    use rdkafka::Message;

    use crate::analytics_avro::decode;
    use crate::engine::{read_topic, start_with_registry};
    use crate::harness::{create_topic, settings, unique};

    let rows = crate::boards::generated();
    let mut last: BTreeMap<String, i64> = BTreeMap::new();
    let mut expected: BTreeSet<(String, i64, i64)> = BTreeSet::new();
    for r in &rows {
        let c = r["channel"].as_str().unwrap().to_owned();
        let (start, end) = (r["start"].as_i64().unwrap(), r["end"].as_i64().unwrap());
        if r["final"] == true && last.get(&c).is_none_or(|l| end > *l) {
            last.insert(c.clone(), end);
            expected.insert((c, start, end));
        }
    }
    let input = unique("sessions-in");
    create_topic(&input, 1).await;
    let registry = format!("mock://{}", unique("registry"));
    let schema = AvroSchema::builtin("stream_session").unwrap();
    let id = registry_for(&registry)
        .unwrap()
        .register(&format!("{input}-value"), &schema.text)
        .await
        .unwrap();
    let producer: FutureProducer = settings().producer_config().create().unwrap();
    for r in &rows {
        let value = frame(id, &encode_datum(r, &schema).unwrap());
        producer
            .send(
                FutureRecord::to(&input)
                    .key(r["channel"].as_str().unwrap())
                    .payload(&value),
                Duration::from_secs(30),
            )
            .await
            .map_err(|(e, _)| e)
            .expect("delivered");
    }
    let mut topology = Topology::load(&repo_file("topologies/alerts-sessions.toml")).unwrap();
    topology.application_id = unique("alerts-app");
    topology.sources[0].topic = input;
    topology.sinks[0].topic = unique("twitch.alerts");
    topology.commit_interval_ms = 300;
    let state = tempfile::tempdir().unwrap();
    let (control, handle) = start_with_registry(topology.clone(), state.path(), Some(registry));
    let alert_schema =
        Schema::parse_str(&std::fs::read_to_string(repo_file("avro/alert.avsc")).unwrap()).unwrap();
    let got = read_topic(
        &topology.sinks[0].topic,
        expected.len(),
        Duration::from_secs(120),
    );
    control.stop();
    let stats = handle.join().unwrap();
    let got: BTreeSet<(String, i64, i64)> = got
        .iter()
        .map(|m| {
            let v = decode(m.payload().unwrap(), &alert_schema);
            assert_eq!(m.key(), v["channel"].as_str().map(str::as_bytes));
            assert_eq!(v["rule"], "stream-end");
            (
                v["channel"].as_str().unwrap().to_owned(),
                v["window_start"].as_i64().unwrap(),
                v["window_end"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, expected, "{stats:?}");
    assert_eq!(stats.dead_letters, 0, "{stats:?}");
    eprintln!(
        "{} sessions, {} stream-end alerts; {stats:?}",
        rows.len(),
        got.len()
    );
}
