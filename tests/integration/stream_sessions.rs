//! Stream sessions (`stream_sessions`, `twitch.streams.sessions`) against a brute-force sessionizer
//! written here from the definitions: offline through `chatpulse process` on a recorded snapshot
//! CSV without chat, and on tansu with real chat cogrouped, where the run also equals the offline
//! run of the same records.
//!
//! The snapshot series are DERIVED, not recorded (Helix history cannot be downloaded): per channel,
//! polls on a fixed period with `viewers`, `followers`, games and titles computed from the channel's
//! index and the poll number (see [`series`]), with stream ends, silences longer than the gap and
//! known or unknown `started_at` chosen by the channel's index.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chatpulse::chat::{ChatEvent, EventKind};
use chatpulse::kafka::topics::partition_count;
use chatpulse::topology::Topology;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::Message;
use serde_json::{json, Value};

use crate::cli::chatpulse;
use crate::engine::{read_topic, start};
use crate::engine_support::{end_markers, offline_chat_and_rows, produce, real_lines};
use crate::harness::{create_topic, repo_file, settings, unique};

/// One snapshot row (derived here, or as monitor wrote it in tests/monitor_series.rs).
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub channel: String,
    pub ts: i64,
    /// `None` for a `stream_end` row.
    pub viewers: Option<i64>,
    pub followers: Option<i64>,
    /// `None` when unknown: no game minutes, no title change.
    pub game: Option<String>,
    pub title: Option<String>,
    pub started_at: Option<i64>,
}

impl Row {
    fn json(&self) -> Value {
        match self.viewers {
            Some(v) => json!({"channel": self.channel, "live": true, "viewers": v,
                "followers": self.followers, "game": self.game, "title": self.title,
                "started_at": self.started_at, "ts": self.ts, "event": null}),
            None => json!({"channel": self.channel, "live": false, "viewers": 0,
                "ts": self.ts, "event": "stream_end"}),
        }
    }
}

/// The derived series of channel number `c` over `[first, last]`, one poll every `period_ms`:
/// `viewers = 500 + (13c + 29i) % 3000`, followers `10_000 + 3i` (unknown for odd `c`), game "A"
/// then "B" from poll 10, title "t1" then "t2" from poll 15. Channels with `c % 3 == 0` report a
/// stream end after poll 12, are offline for 4 polls and start again with a known `started_at`
/// 20 s before their next poll; `c % 3 == 1` go silent for polls 14..22 (longer than `gap`) without
/// `started_at`; `c % 3 == 2` run throughout with a `started_at` 5 minutes before the first poll.
fn series(channel: &str, c: usize, first: i64, last: i64, period_ms: i64) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut started_at = (c % 3 == 2).then_some(first - 300_000);
    for i in 0.. {
        let ts = first + i * period_ms;
        if ts > last {
            break;
        }
        let silent = match c % 3 {
            0 => (13..17).contains(&i),
            1 => (14..22).contains(&i),
            _ => false,
        };
        if c % 3 == 0 && i == 13 {
            rows.push(Row {
                channel: channel.to_owned(),
                ts,
                viewers: None,
                followers: None,
                game: None,
                title: None,
                started_at: None,
            });
        }
        if c % 3 == 0 && i == 17 {
            started_at = Some(ts - 20_000);
        }
        if silent {
            continue;
        }
        rows.push(Row {
            channel: channel.to_owned(),
            ts,
            viewers: Some(500 + (13 * c as i64 + 29 * i) % 3_000),
            followers: (c % 2 == 0).then_some(10_000 + 3 * i),
            game: Some(if i < 10 { "A" } else { "B" }.to_owned()),
            title: Some(if i < 15 { "t1" } else { "t2" }.to_owned()),
            started_at,
        });
    }
    rows
}

/// A session as the brute force and the records both state it: exact fields, then the floats.
pub(crate) type Session = (
    (String, i64, i64, u64, i64, i64, Option<i64>, u64, String),
    (Option<u64>, Option<u64>, Option<u64>),
    Vec<(String, i64)>,
    (i64, i64),
);

/// The session of a record, floats in millionths.
pub(crate) fn of_record(v: &Value) -> Session {
    let micro = |f: &Value| (f.as_f64().unwrap() * 1e6).round() as i64;
    (
        (
            v["channel"].as_str().unwrap().to_owned(),
            v["start"].as_i64().unwrap(),
            v["end"].as_i64().unwrap(),
            v["snapshots"].as_u64().unwrap(),
            v["peak_viewers"].as_i64().unwrap(),
            v["peak_at"].as_i64().unwrap(),
            v["followers_gained"].as_i64(),
            v["title_changes"].as_u64().unwrap(),
            v["ended_by"].as_str().unwrap().to_owned(),
        ),
        (
            v["messages"].as_u64(),
            v["chatters"].as_u64(),
            v["subs"].as_u64(),
        ),
        v["games"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| (g["game"].as_str().unwrap().to_owned(), micro(&g["minutes"])))
            .collect(),
        (micro(&v["hours_watched"]), micro(&v["avg_viewers"])),
    )
}

/// The chat of the brute force: `(channel, time, login)` of each message and `(channel, time)` of
/// each sub or resub notice, Shared Chat copies left out.
pub(crate) struct Chat {
    messages: Vec<(String, i64, String)>,
    subs: Vec<(String, i64)>,
}

fn chat_of(lines: &[String]) -> Chat {
    let mut chat = Chat {
        messages: Vec::new(),
        subs: Vec::new(),
    };
    for line in lines {
        let Ok(e) = ChatEvent::parse(line) else {
            continue;
        };
        let (Some(ts), false) = (e.ts_ms, e.is_shared_copy()) else {
            continue;
        };
        match &e.kind {
            EventKind::Message(m) => {
                chat.messages
                    .push((e.channel.to_owned(), ts, m.user.login.to_owned()))
            }
            EventKind::UserNotice(_)
                if line.contains("msg-id=sub;") || line.contains("msg-id=resub;") =>
            {
                chat.subs.push((e.channel.to_owned(), ts))
            }
            _ => {}
        }
    }
    chat
}

/// The brute force: each channel's rows in time order; a session ends at a `stream_end` row, at a
/// poll more than `gap_ms` after the previous one, or where `started_at` changes; sessions still
/// open at the end of the input end by `last_end`. Figures by the step-function definitions.
pub(crate) fn brute_force(
    rows: &[Row],
    chat: Option<&Chat>,
    gap_ms: i64,
    last_end: &str,
) -> Vec<Session> {
    let mut by_channel: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
    for r in rows {
        by_channel.entry(&r.channel).or_default().push(r);
    }
    let mut sessions = Vec::new();
    for (channel, mut rows) in by_channel {
        rows.sort_by_key(|r| r.ts);
        let mut current: Vec<&Row> = Vec::new();
        let mut cut = |current: &mut Vec<&Row>, why: &str| {
            if !current.is_empty() {
                sessions.push(figures(channel, current, chat, why));
                current.clear();
            }
        };
        for r in rows {
            if r.viewers.is_none() {
                cut(&mut current, "stream_end");
                continue;
            }
            if let Some(prev) = current.last() {
                if r.ts - prev.ts > gap_ms || r.started_at != prev.started_at {
                    cut(&mut current, "gap");
                }
            }
            current.push(r);
        }
        cut(&mut current, last_end);
    }
    sessions.sort();
    sessions
}

fn figures(channel: &str, rows: &[&Row], chat: Option<&Chat>, why: &str) -> Session {
    let (first, last) = (rows[0].ts, rows[rows.len() - 1].ts);
    let start = rows[0].started_at.map_or(first, |s| s.min(first));
    let mut viewer_ms = 0.0;
    let mut games: Vec<(String, f64)> = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let held = rows.get(i + 1).map_or(0, |n| n.ts - r.ts) as f64;
        viewer_ms += r.viewers.unwrap() as f64 * held;
        if let Some(game) = r.game.clone() {
            match games.iter_mut().find(|(g, _)| *g == game) {
                Some(g) => g.1 += held / 60_000.0,
                None => games.push((game, held / 60_000.0)),
            }
        }
    }
    let peak = rows.iter().map(|r| r.viewers.unwrap()).max().unwrap();
    let peak_at = rows.iter().find(|r| r.viewers == Some(peak)).unwrap().ts;
    let followers: Vec<i64> = rows.iter().filter_map(|r| r.followers).collect();
    let mut titles: Vec<&str> = Vec::new();
    for t in rows.iter().filter_map(|r| r.title.as_deref()) {
        if titles.last() != Some(&t) {
            titles.push(t);
        }
    }
    let avg = if last == first {
        rows[0].viewers.unwrap() as f64
    } else {
        viewer_ms / (last - first) as f64
    };
    let chat_figures = chat.map_or((None, None, None), |chat| {
        let within = |c: &str, ts: i64| c == channel && (start..=last).contains(&ts);
        let messages: Vec<_> = chat
            .messages
            .iter()
            .filter(|(c, ts, _)| within(c, *ts))
            .collect();
        let chatters: BTreeSet<&str> = messages.iter().map(|(_, _, u)| u.as_str()).collect();
        let subs = chat.subs.iter().filter(|(c, ts)| within(c, *ts)).count();
        (
            Some(messages.len() as u64),
            Some(chatters.len() as u64),
            Some(subs as u64),
        )
    });
    let micro = |f: f64| (f * 1e6).round() as i64;
    (
        (
            channel.to_owned(),
            start,
            last,
            rows.len() as u64,
            peak,
            peak_at,
            followers.first().map(|f| followers.last().unwrap() - f),
            titles.len().saturating_sub(1) as u64,
            why.to_owned(),
        ),
        chat_figures,
        games.into_iter().map(|(g, m)| (g, micro(m))).collect(),
        (micro(viewer_ms / 3_600_000.0), micro(avg)),
    )
}

/// Runs `chatpulse process` with the shipped audience topology, `flags` and `--input input`, and
/// returns the sessions file it wrote to `out`.
fn process_sessions(flags: &[&str], input: &str, out: &std::path::Path) -> String {
    let output = chatpulse()
        .arg("process")
        .args(flags)
        .arg("--topology")
        .arg(repo_file("topologies/audience.toml"))
        .args(["--input", input])
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::read_to_string(out.join("twitch.streams.sessions.jsonl")).unwrap()
}

#[test]
fn process_of_a_snapshot_csv_gives_the_brute_force_sessions_with_null_chat_fields() {
    // Six channels polled every 5 minutes for 4 hours: the silences (40 minutes) pass the
    // shipped 30-minute gap.
    let first = 1_704_067_200_000; // 2024-01-01T00:00:00Z
    let mut rows: Vec<Row> = (0..6)
        .flat_map(|c| {
            series(
                &format!("ch{c}"),
                c,
                first + c as i64 * 1_000,
                first + 4 * 3_600_000,
                300_000,
            )
        })
        .collect();
    // A recorded log is in poll order.
    rows.sort_by_key(|r| r.ts);
    let dir = tempfile::tempdir().unwrap();
    let csv_file = dir.path().join("snapshots.csv");
    let mut csv = String::from("ts,channel,viewers,followers,game,title,started_at,language\n");
    for r in rows.iter().filter(|r| r.viewers.is_some()) {
        let opt = |v: Option<i64>| v.map_or(String::new(), |v| v.to_string());
        csv.push_str(&format!(
            "{},{},{},{},{},{},{},en\n",
            chatpulse::time::civil::format_timestamp_ms(r.ts),
            r.channel,
            r.viewers.unwrap(),
            opt(r.followers),
            r.game.as_deref().unwrap(),
            r.title.as_deref().unwrap(),
            r.started_at
                .map_or(String::new(), chatpulse::time::civil::format_timestamp_ms),
        ));
    }
    std::fs::write(&csv_file, csv).unwrap();
    let input = format!("streams={}", csv_file.display());
    let text = process_sessions(&[], &input, &dir.path().join("out"));
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for r in &records {
        assert_eq!(r["final"], true, "{r}");
        for field in [
            "messages",
            "chatters",
            "chatters_per_100_viewers",
            "spikes",
            "subs",
            "gifts",
        ] {
            assert!(r[field].is_null(), "{field} without chat: {r}");
        }
    }
    let mut got: Vec<Session> = records.iter().map(of_record).collect();
    got.sort();
    // A CSV row means live: there is no stream_end, so the streams that ended are cut by the gap.
    let csv_rows: Vec<Row> = rows
        .iter()
        .filter(|r| r.viewers.is_some())
        .cloned()
        .collect();
    let expected = brute_force(&csv_rows, None, 30 * 60_000, "end_of_input");
    assert!(expected.len() >= 10, "{} sessions", expected.len());
    assert!(
        expected.iter().any(|s| s.0 .8 == "gap")
            && expected.iter().any(|s| s.0 .8 == "end_of_input"),
        "sessions cut by the gap and by the end of input"
    );
    assert_eq!(got, expected);

    // `--format snapshots` with a bare file: the same rows as JSON lines with the documented keys
    // (epoch milliseconds this time) feed the topology's snapshot source, with the same results.
    let jsonl_file = dir.path().join("snapshots.jsonl");
    let mut jsonl = String::new();
    for r in rows.iter().filter(|r| r.viewers.is_some()) {
        let v = json!({"ts": r.ts, "channel": r.channel, "viewers": r.viewers,
            "followers": r.followers, "game": r.game, "title": r.title,
            "started_at": r.started_at, "language": "en"});
        jsonl.push_str(&format!("{v}\n"));
    }
    std::fs::write(&jsonl_file, jsonl).unwrap();
    let again = process_sessions(
        &["--format", "snapshots"],
        jsonl_file.to_str().unwrap(),
        &dir.path().join("out-jsonl"),
    );
    assert_eq!(
        again, text,
        "--format snapshots on JSON lines = --input streams=CSV"
    );

    // A topology without a snapshot source says so.
    let output = chatpulse()
        .args(["process", "--format", "snapshots", "--topology"])
        .arg(repo_file("topologies/engagement.toml"))
        .arg("--input")
        .arg(&jsonl_file)
        .arg("--out")
        .arg(dir.path().join("none"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("no source for snapshots"),
        "{stderr}"
    );
}

/// The test topology: snapshots (JSON rows) with chat cogrouped, a 3-minute gap.
fn topology_text(app: &str, chat: &str, streams: &str, output: &str) -> String {
    sessions_topology_text(app, Some(chat), (streams, "json"), output, "3m", "30s")
}

/// A `stream_sessions` topology over `streams` (topic, value format), cogrouping `chat` when
/// given, with the session window's `gap` and the processor's `chat_wait`; sessions as JSON.
pub(crate) fn sessions_topology_text(
    app: &str,
    chat: Option<&str>,
    (streams, format): (&str, &str),
    output: &str,
    gap: &str,
    chat_wait: &str,
) -> String {
    let (chat_source, cogroup) = match chat {
        Some(chat) => (
            format!("[[source]]\nname = \"chat\"\ntopic = \"{chat}\"\n"),
            "cogroup = [\"chat\"]",
        ),
        None => (String::new(), ""),
    };
    format!(
        r#"
application_id = "{app}"
{chat_source}
[[source]]
name = "streams"
topic = "{streams}"
format = "{format}"
timestamp = "field"
time_field = "ts"
[[processor]]
name = "stream-sessions"
kind = "stream_sessions"
source = "streams"
{cogroup}
sink = "sessions"
window = {{ kind = "session", gap = "{gap}", grace = "5s" }}
options = {{ chat_wait = "{chat_wait}" }}
store = "sessions"
[[sink]]
name = "sessions"
topic = "{output}"
[settings]
commit_interval = "300ms"
idle_timeout = "1h"
"#
    )
}

/// Records by `(channel, start)`, for comparing whole records.
fn by_session(records: &[Value]) -> BTreeMap<(String, i64), Value> {
    let mut m = BTreeMap::new();
    for v in records {
        let key = (
            v["channel"].as_str().unwrap().to_owned(),
            v["start"].as_i64().unwrap(),
        );
        assert!(
            m.insert(key, v.clone()).is_none(),
            "a session reported twice: {v}"
        );
    }
    m
}

/// The inputs of the tansu tests: real chat, DERIVED snapshots ([`series`], polls every 30 s),
/// and one end-of-input record per partition of each topic, an hour after the chat.
struct Inputs {
    lines: Vec<String>,
    rows: Vec<Row>,
    chat_markers: Vec<(i32, String)>,
    row_markers: Vec<(i32, String)>,
}

impl Inputs {
    fn new() -> Inputs {
        // About 17 minutes of real chat of many channels.
        let lines = real_lines(20_000);
        let mut span: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        for e in lines.iter().filter_map(|l| ChatEvent::parse(l).ok()) {
            let ts = e.ts_ms.unwrap();
            let s = span.entry(e.channel.to_owned()).or_insert((ts, ts));
            *s = (s.0.min(ts), s.1.max(ts));
        }
        let mut rows: Vec<Row> = span
            .iter()
            .enumerate()
            .flat_map(|(c, (channel, (first, last)))| {
                series(channel, c, first + 7_000, *last, 30_000)
            })
            .collect();
        // Polls in time order, as monitor writes them.
        rows.sort_by_key(|r| r.ts);
        let chat_markers = end_markers(&lines, 4);
        let end_ts = ChatEvent::parse(&chat_markers[0].1).unwrap().ts_ms.unwrap();
        let row_markers = (0..4)
            .map(|p| {
                let v =
                    json!({"channel": "end-of-input", "live": false, "viewers": 0, "ts": end_ts});
                (p, v.to_string())
            })
            .collect();
        Inputs {
            lines,
            rows,
            chat_markers,
            row_markers,
        }
    }

    /// The offline run of `topology` (source 0 the chat, 1 the snapshots) over them.
    fn offline(&self, topology: &Topology) -> Vec<(String, Value)> {
        let chat = self.lines.iter().cloned();
        let chat = chat.chain(self.chat_markers.iter().map(|(_, l)| l.clone()));
        let rows = self.rows.iter().map(|r| r.json().to_string());
        let rows = rows.chain(self.row_markers.iter().map(|(_, v)| v.clone()));
        offline_chat_and_rows(topology, chat.collect(), rows.collect())
    }

    /// Produces them: the chat and the snapshots keyed by channel, then the markers.
    async fn produce(&self, chat_topic: &str, streams: &str) {
        create_topic(chat_topic, 4).await;
        create_topic(streams, 4).await;
        produce(chat_topic, &self.lines, &self.chat_markers).await;
        let producer: FutureProducer = settings().producer_config().create().unwrap();
        for r in &self.rows {
            let value = r.json().to_string();
            producer
                .send(
                    FutureRecord::to(streams).key(&r.channel).payload(&value),
                    Duration::from_secs(30),
                )
                .await
                .expect("row delivered");
        }
        for (p, v) in &self.row_markers {
            producer
                .send(
                    FutureRecord::<(), _>::to(streams).partition(*p).payload(v),
                    Duration::from_secs(30),
                )
                .await
                .expect("marker delivered");
        }
    }
}

/// Reads `topic` until `n` records arrived (at most 180 s): `(key, value)` of each, checking
/// that each is keyed by its channel.
pub(crate) fn read_json(topic: &str, n: usize) -> Vec<(String, Value)> {
    read_topic(topic, n, Duration::from_secs(180))
        .iter()
        .map(|m| {
            let key = std::str::from_utf8(m.key().unwrap()).unwrap().to_owned();
            let v: Value = serde_json::from_slice(m.payload().unwrap()).unwrap();
            assert_eq!(key, v["channel"].as_str().unwrap(), "keyed by channel: {v}");
            (key, v)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_with_cogrouped_chat_on_tansu_equal_the_brute_force_and_the_offline_run() {
    let (app, chat_topic, streams, output) = (
        unique("sessions-app"),
        unique("sessions-chat"),
        unique("sessions-streams"),
        unique("sessions-out"),
    );
    let inputs = Inputs::new();
    let chat = chat_of(&inputs.lines);
    // A 3-minute gap: the silences of the series cut sessions.
    let expected = brute_force(&inputs.rows, Some(&chat), 3 * 60_000, "gap");
    let ends: BTreeSet<&str> = expected.iter().map(|s| s.0 .8.as_str()).collect();
    assert_eq!(ends, BTreeSet::from(["gap", "stream_end"]), "{expected:?}");
    assert!(
        expected.iter().filter(|s| s.1 .0 > Some(0)).count() >= 10,
        "sessions with chat: {expected:?}"
    );
    assert!(
        expected.iter().any(|s| s.0 .3 == 1),
        "a one-snapshot session"
    );

    let text = topology_text(&app, &chat_topic, &streams, &output);
    let topology = Topology::parse(&text).unwrap();
    let offline_records: Vec<Value> = inputs
        .offline(&topology)
        .iter()
        .map(|(_, v)| v.clone())
        .collect();
    let mut offline_sessions: Vec<Session> = offline_records.iter().map(of_record).collect();
    offline_sessions.sort();
    assert_eq!(
        offline_sessions, expected,
        "offline against the brute force"
    );
    assert!(
        offline_records
            .iter()
            .any(|r| r["spikes"].as_u64() > Some(0)),
        "some session holds a chat spike"
    );

    inputs.produce(&chat_topic, &streams).await;
    let state = tempfile::tempdir().unwrap();
    let (control, handle) = start(topology, state.path());
    let got = read_json(&output, expected.len());
    control.stop();
    let stats = handle.join().unwrap();
    assert_eq!((stats.dead_letters, stats.late), (0, 0), "{stats:?}");
    let got: Vec<Value> = got.into_iter().map(|(_, v)| v).collect();
    assert_eq!(got.len(), expected.len(), "{stats:?}");
    // Every field, spikes and gifts included, as the offline run states it.
    let (got, offline) = (by_session(&got), by_session(&offline_records));
    for (key, want) in &offline {
        assert_eq!(got.get(key), Some(want), "session {key:?}");
    }
    assert_eq!(got.len(), offline.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_audience_topology_on_tansu_writes_what_its_offline_run_writes() {
    // topologies/audience.toml as shipped, on its own topics, its sinks written as JSON (the Avro
    // encoding is tested by the Avro tests).
    let mut topology = Topology::load(&repo_file("topologies/audience.toml")).unwrap();
    topology.application_id = unique("audience-app");
    for source in &mut topology.sources {
        source.topic = unique(&format!("audience-{}", source.name));
    }
    for sink in &mut topology.sinks {
        sink.topic = unique(&format!("audience-{}", sink.name));
        sink.format = chatpulse::topology::spec::ValueFormat::Json;
        sink.schema = None;
    }
    topology.idle_timeout_ms = 3_600_000;
    topology.commit_interval_ms = 300;
    let names: Vec<&str> = topology.sources.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["chat", "streams"]);

    let inputs = Inputs::new();
    // The offline run, by topic: (key, value) sorted.
    let mut expected: BTreeMap<String, Vec<(String, Value)>> = BTreeMap::new();
    for (topic, v) in inputs.offline(&topology) {
        let key = v["channel"].as_str().unwrap().to_owned();
        expected.entry(topic).or_default().push((key, v));
    }
    assert_eq!(
        expected.len(),
        topology.sinks.len(),
        "every sink has results"
    );

    inputs
        .produce(&topology.sources[0].topic, &topology.sources[1].topic)
        .await;
    let state = tempfile::tempdir().unwrap();
    let (control, handle) = start(topology.clone(), state.path());
    let mut got = BTreeMap::new();
    for sink in &topology.sinks {
        let n = expected.get(&sink.topic).map_or(0, Vec::len);
        got.insert(sink.topic.clone(), read_json(&sink.topic, n));
    }
    control.stop();
    let stats = handle.join().unwrap();
    assert_eq!(stats.dead_letters, 0, "{stats:?}");
    // The run created the sessions topic with the one partition its sink asks for (the
    // leaderboards rank every channel in one task), the others with the input's four.
    for sink in &topology.sinks {
        let n = partition_count(&settings(), &sink.topic, Duration::from_secs(30)).unwrap();
        assert_eq!(n, sink.partitions.unwrap_or(4), "{}", sink.topic);
    }
    let sessions = topology
        .sinks
        .iter()
        .find(|s| s.name == "sessions")
        .unwrap();
    assert_eq!(sessions.partitions, Some(1));
    for (topic, want) in &mut expected {
        let have = got.get_mut(topic).unwrap();
        let order =
            |v: &mut Vec<(String, Value)>| v.sort_by_key(|(k, v)| (k.clone(), v.to_string()));
        order(want);
        order(have);
        assert_eq!(have.len(), want.len(), "{topic}: {stats:?}");
        assert!(
            have == want,
            "{topic}: the run differs from the offline run"
        );
    }
}
