//! A recorded series end to end: `monitor` polls the test Helix server through per-poll states
//! (viewers rising and falling, streams ending and restarting with a new `started_at`, followers
//! changing) into `twitch.streams`, and `replay --format snapshots` of a CSV of the same series
//! gives the same rows. Both are checked against the series itself. A `stream_sessions` topology
//! runs on monitor's topic while it polls: monitor → topic → topology, against a brute-force
//! sessionizer over the series.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use chatpulse::avro::wire::unframe;
use chatpulse::avro::{decode_datum, AvroSchema};
use chatpulse::twitch::helix::client::HelixClient;
use chatpulse::twitch::helix::monitor::{run_monitor, MonitorOptions};
use chatpulse::twitch::helix::snapshot_sink::{SinkOptions, SNAPSHOT_SCHEMA};
use chatpulse::twitch::helix::Credentials;
use rdkafka::consumer::BaseConsumer;
use rdkafka::Message;
use serde_json::{json, Value};
use tokio::sync::watch;

use chatpulse::topology::Topology;

use crate::engine::{read_topic, start_with_registry};
use crate::harness::{brokers, init_logs, is_unknown_topic, reader, settings, unique};
use crate::stream_sessions::{
    brute_force, of_record, read_json, sessions_topology_text, Row, Session,
};
use crate::support::helix_server::{HelixServer, PollState};

/// A stream start: the text Helix sends and the same instant in Unix milliseconds.
type Start = (&'static str, i64);
const NYMN_1: Start = ("2024-01-06T16:00:00Z", 1_704_556_800_000);
const NYMN_2: Start = ("2024-01-06T19:30:00Z", 1_704_569_400_000);
const FORSEN_1: Start = ("2024-01-06T16:01:00Z", 1_704_556_860_000);
const FORSEN_2: Start = ("2024-01-06T18:00:00Z", 1_704_564_000_000);

/// One poll of a channel: live with (viewers, start, game, title), or offline; and the followers.
#[derive(Debug, Clone, Copy)]
struct Poll {
    live: Option<(i64, Start, &'static str, &'static str)>,
    followers: i64,
}

fn on(viewers: i64, start: Start, game: &'static str, title: &'static str, followers: i64) -> Poll {
    Poll {
        live: Some((viewers, start, game, title)),
        followers,
    }
}

fn off(followers: i64) -> Poll {
    Poll {
        live: None,
        followers,
    }
}

/// The series: (login, user id, polls). nymn rises, falls, ends and restarts; forsen starts
/// late, ends, restarts without a game and ends again.
fn series() -> Vec<(&'static str, &'static str, Vec<Poll>)> {
    vec![
        (
            "nymn",
            "62300805",
            vec![
                on(100, NYMN_1, "Just Chatting", "hello chat", 1000),
                on(250, NYMN_1, "Just Chatting", "hello chat", 1003),
                on(400, NYMN_1, "Elden Ring", "hello chat", 1010),
                on(320, NYMN_1, "Elden Ring", "hello, \"chat\"", 1010),
                off(1011),
                on(50, NYMN_2, "Just Chatting", "back", 1011),
                on(80, NYMN_2, "Just Chatting", "", 1015),
                on(60, NYMN_2, "Just Chatting", "", 1020),
            ],
        ),
        (
            "forsen",
            "22484632",
            vec![
                off(5),
                on(10, FORSEN_1, "Minecraft", "forsen", 5),
                on(30, FORSEN_1, "Minecraft", "forsen", 6),
                off(6),
                off(6),
                on(20, FORSEN_2, "", "again", 7),
                on(25, FORSEN_2, "", "again", 9),
                off(9),
            ],
        ),
    ]
}

const POLLS: usize = 8;

/// What monitor must write for poll `i` of `polls`, by the definitions: live = listed by Get
/// Streams, viewers 0 offline, empty texts null, `stream_start` when live after not live (the
/// first poll follows nothing), `stream_end` when not live after live.
fn expected(login: &str, id: &str, polls: &[Poll], i: usize) -> Value {
    let was_live = i > 0 && polls[i - 1].live.is_some();
    let p = polls[i];
    let text = |s: &str| if s.is_empty() { Value::Null } else { s.into() };
    let event = match (was_live, p.live.is_some()) {
        (false, true) => json!("stream_start"),
        (true, false) => json!("stream_end"),
        _ => Value::Null,
    };
    let (viewers, started_at, game, title, language) = match p.live {
        Some((v, start, game, title)) => (v, json!(start.1), text(game), text(title), json!("en")),
        None => (0, Value::Null, Value::Null, Value::Null, Value::Null),
    };
    json!({
        "channel": login, "user_id": id, "live": p.live.is_some(), "viewers": viewers,
        "game": game, "title": title, "started_at": started_at, "language": language,
        "followers": p.followers, "event": event,
    })
}

/// `v` without `ts` (poll time, checked apart).
fn without_ts(v: &Value) -> Value {
    let mut v = v.clone();
    v.as_object_mut().unwrap().remove("ts");
    v
}

fn decode(payload: &[u8]) -> Value {
    let schema = AvroSchema::builtin(SNAPSHOT_SCHEMA).unwrap();
    let (_id, datum) = unframe(payload).expect("registry wire format");
    decode_datum(&schema.schema, datum, None).unwrap()
}

/// Reads Avro snapshots into `seen` until `cond` holds (bounded: 60 s).
fn read_until(consumer: &BaseConsumer, seen: &mut Vec<Value>, cond: impl Fn(&[Value]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond(seen) {
        assert!(Instant::now() < deadline, "timed out: {seen:#?}");
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => seen.push(decode(m.payload().unwrap())),
            Some(Err(e)) if is_unknown_topic(&e) => {}
            Some(Err(e)) => panic!("{e}"),
            None => {}
        }
    }
}

/// Runs `chatpulse replay --format snapshots FILE` into `topic` (one partition) with `flags`.
fn replay(file: &std::path::Path, topic: &str, flags: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_chatpulse"))
        .env("CHATPULSE_LOG", "warn")
        .args(["replay", "--format", "snapshots", "--brokers", &brokers()])
        .args([
            "--topic",
            topic,
            "--partitions",
            "1",
            "--metrics-addr",
            "off",
        ])
        .args(flags)
        .arg(file)
        .output()
        .unwrap()
}

/// `stream_sessions` on monitor's Avro topic, its sessions as JSON to `output`: the shipped
/// 30-minute gap, a one-second `chat_wait` (polls come every 100 ms).
fn sessions_topology(input: &str, output: &str) -> Topology {
    let app = unique("series-sessions");
    Topology::parse(&sessions_topology_text(
        &app,
        None,
        (input, "avro"),
        output,
        "30m",
        "1s",
    ))
    .unwrap()
}

/// The brute force's rows of monitor's values: live ones, and `stream_end` ones.
fn rows_of(values: &[Value]) -> Vec<Row> {
    let text = |v: &Value| v.as_str().map(str::to_owned);
    values
        .iter()
        .filter(|v| v["live"] == true || v["event"] == "stream_end")
        .map(|v| Row {
            channel: v["channel"].as_str().unwrap().to_owned(),
            ts: v["ts"].as_i64().unwrap(),
            viewers: (v["live"] == true).then(|| v["viewers"].as_i64().unwrap()),
            followers: v["followers"].as_i64(),
            game: text(&v["game"]),
            title: text(&v["title"]),
            started_at: v["started_at"].as_i64(),
        })
        .collect()
}

fn of<'a>(seen: &'a [Value], channel: &str) -> Vec<&'a Value> {
    seen.iter().filter(|v| v["channel"] == channel).collect()
}

/// The CSV a recorder would write of the series: one row per live poll, poll `i` at
/// `t0 + i` minutes; nymn's starts as ISO-8601, forsen's as epoch milliseconds, empty texts empty.
/// One malformed row (record `bad_record`) is added, which replay must skip.
fn series_csv(t0: i64) -> (String, u64) {
    let mut csv = String::from("ts,channel,viewers,followers,game,title,started_at,language\n");
    let mut record = 0u64;
    let mut bad_record = 0;
    for i in 0..POLLS {
        for (login, _, polls) in series() {
            let Some((viewers, start, game, title)) = polls[i].live else {
                continue;
            };
            let started = if login == "nymn" {
                start.0.to_owned()
            } else {
                start.1.to_string()
            };
            let title = if title.contains(['"', ',']) {
                format!("\"{}\"", title.replace('"', "\"\""))
            } else {
                title.to_owned()
            };
            let ts = t0 + i as i64 * 60_000;
            let followers = polls[i].followers;
            csv.push_str(&format!(
                "{ts},{login},{viewers},{followers},{game},{title},{started},en\n"
            ));
            record += 1;
            if i == 2 && bad_record == 0 {
                csv.push_str(&format!("{ts},{login},many,,,,,\n"));
                record += 1;
                bad_record = record;
            }
        }
    }
    (csv, bad_record)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_follows_a_recorded_series_and_replay_of_its_csv_gives_the_same_rows() {
    init_logs();
    let server = HelixServer::start("cid", "csecret", "usertoken", 3600).await;
    for (login, id, polls) in series() {
        let states = polls
            .iter()
            .map(|p| PollState {
                stream: p.live.map(|(viewers, start, game, title)| {
                    (
                        game.into(),
                        title.into(),
                        viewers,
                        start.0.into(),
                        "en".into(),
                    )
                }),
                followers: p.followers,
            })
            .collect();
        server.set_series(login, id, states);
    }
    let topic = unique("streams-series");
    let registry = format!("mock://{}", unique("registry"));
    let client = HelixClient::new(
        &server.url(),
        &server.url(),
        Credentials {
            client_id: "cid".into(),
            client_secret: "csecret".into(),
            user_token: Some("usertoken".into()),
        },
    )
    .unwrap();
    let options = MonitorOptions {
        channels: vec!["nymn".into(), "forsen".into()],
        interval: Duration::from_millis(100),
        sink: SinkOptions {
            kafka: settings(),
            topic: topic.clone(),
            partitions: 1,
            replication_factor: 1,
            schema_registry: Some(registry.clone()),
        },
    };
    let started = chatpulse::twitch::helix::client::now_ms();
    let (stop_tx, stop) = watch::channel(false);
    let task = tokio::spawn(run_monitor(client, options, stop));
    let consumer = reader(&topic);
    let mut seen = Vec::new();
    read_until(&consumer, &mut seen, |s| {
        of(s, "nymn").len() >= POLLS && of(s, "forsen").len() >= POLLS
    });
    // While monitor goes on polling (its later polls move event time on), stream_sessions reads
    // its topic: the three streams that ended in the series are reported, final.
    let sessions_topic = unique("series-sessions-out");
    let state = tempfile::tempdir().unwrap();
    let (control, engine) = start_with_registry(
        sessions_topology(&topic, &sessions_topic),
        state.path(),
        Some(registry.clone()),
    );
    let sessions = tokio::task::spawn_blocking(move || read_json(&sessions_topic, 3))
        .await
        .unwrap();
    control.stop();
    let run = tokio::task::spawn_blocking(move || engine.join().unwrap())
        .await
        .unwrap();
    assert_eq!((run.dead_letters, run.late), (0, 0), "{run:?}");
    stop_tx.send(true).unwrap();
    let stats = task.await.unwrap().unwrap();
    let mut got: Vec<Session> = sessions.iter().map(|(_, v)| of_record(v)).collect();
    got.sort();
    // The brute force over what monitor wrote up to the end of the series; the stream still
    // live at its end (nymn's second) is not final, and not reported.
    let mut polled: Vec<Value> = Vec::new();
    for (login, _, _) in series() {
        polled.extend(of(&seen, login)[..POLLS].iter().map(|v| (*v).clone()));
    }
    let ended: Vec<Session> = brute_force(&rows_of(&polled), None, 30 * 60_000, "open")
        .into_iter()
        .filter(|s| s.0 .8 != "open")
        .collect();
    let starts: Vec<(&str, i64)> = ended.iter().map(|s| (s.0 .0.as_str(), s.0 .1)).collect();
    assert_eq!(
        starts,
        [
            ("forsen", FORSEN_1.1),
            ("forsen", FORSEN_2.1),
            ("nymn", NYMN_1.1)
        ],
        "the series' ended streams, from their started_at"
    );
    assert_eq!(got, ended, "monitor -> topic -> stream_sessions");
    for (_, v) in &sessions {
        assert!(v["messages"].is_null(), "no chat source: {v}");
    }
    assert_eq!(stats.failed_polls, 0, "{stats:?}");
    assert!(server.streams_served() >= POLLS);

    // Every snapshot against the series; after its end the channel keeps its last state.
    let mut monitored: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for (login, id, polls) in series() {
        let got = of(&seen, login);
        for (i, v) in got.iter().enumerate() {
            let want = if i < POLLS {
                expected(login, id, &polls, i)
            } else {
                let mut last = expected(login, id, &polls, POLLS - 1);
                last["event"] = Value::Null;
                last
            };
            assert_eq!(without_ts(v), want, "{login} poll {i}");
        }
        let ts: Vec<i64> = got.iter().map(|v| v["ts"].as_i64().unwrap()).collect();
        assert!(
            ts[0] >= started && ts.windows(2).all(|w| w[0] < w[1]),
            "{login}: poll times rise from the start: {ts:?}"
        );
        monitored.insert(
            login,
            got[..POLLS]
                .iter()
                .map(|v| (*v).clone())
                .filter(|v| v["live"] == true)
                .collect(),
        );
    }

    // The same series as a recorded CSV, replayed at 600x (a minute in 100 ms).
    let t0 = 1_704_556_900_000;
    let (csv, bad_record) = series_csv(t0);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("series.csv");
    std::fs::write(&file, &csv).unwrap();
    let replayed_topic = unique("streams-replayed");
    let registry = format!("mock://{}", unique("registry"));
    let output = replay(
        &file,
        &replayed_topic,
        &["--speed", "600x", "--schema-registry", &registry],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let live_rows: usize = monitored.values().map(Vec::len).sum();
    assert!(
        stderr.contains(&format!(
            "replayed {live_rows} snapshot(s): {live_rows} produced, 1 record(s) skipped"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("snapshot record skipped")
            && stderr.contains(&format!("record={bad_record}")),
        "the bad record is named: {stderr}"
    );

    // Asking for one more than was sent: nothing may come after the rows (as in tests/replay.rs;
    // tansu's ListOffsets does not report the end of an idempotent producer's topic).
    let messages = read_topic(&replayed_topic, live_rows + 1, Duration::from_secs(5));
    assert_eq!(messages.len(), live_rows, "each row exactly once");
    let mut replayed: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for m in &messages {
        let v = decode(m.payload().unwrap());
        assert_eq!(m.key(), Some(v["channel"].as_str().unwrap().as_bytes()));
        assert_eq!(m.timestamp().to_millis(), v["ts"].as_i64());
        replayed
            .entry(v["channel"].as_str().unwrap().to_owned())
            .or_default()
            .push(v);
    }
    for (login, _, polls) in series() {
        let rows = &replayed[login];
        let live_polls: Vec<usize> = (0..POLLS).filter(|&i| polls[i].live.is_some()).collect();
        assert_eq!(rows.len(), live_polls.len(), "{login}");
        for ((row, &i), monitor_row) in rows.iter().zip(&live_polls).zip(&monitored[login]) {
            assert_eq!(row["ts"], t0 + i as i64 * 60_000, "{login} poll {i}");
            // What a CSV cannot carry: the user id and the event.
            let mut want = without_ts(monitor_row);
            want["user_id"] = Value::Null;
            want["event"] = Value::Null;
            assert_eq!(
                without_ts(row),
                want,
                "{login} poll {i}: replay and monitor differ"
            );
        }
    }

    // With --json: the same values as JSON text.
    let json_topic = unique("streams-replayed-json");
    let output = replay(&file, &json_topic, &["--as-fast-as-possible", "--json"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let messages = read_topic(&json_topic, live_rows, Duration::from_secs(30));
    let mut as_json: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for m in &messages {
        let v: Value = serde_json::from_slice(m.payload().unwrap()).expect("JSON values");
        assert_eq!(m.timestamp().to_millis(), v["ts"].as_i64());
        as_json
            .entry(v["channel"].as_str().unwrap().to_owned())
            .or_default()
            .push(v);
    }
    assert_eq!(as_json, replayed, "--json writes the Avro values' fields");
}
