//! As-of joins on tansu: real chat (the multi-channel CSV set) and a snapshot table on two
//! co-partitioned 4-partition topics, read by `chatpulse run` processes: two instances sharing the
//! group, and one SIGKILLed mid-stream and restarted on its state dir (its table restored from the
//! table's topic). Results equal a brute-force count and as-of scan, and the offline run.
//!
//! The snapshots are DERIVED, not recorded: per channel, one row per minute from 2 minutes after its
//! first message, stamped 17 s into the minute, `viewers = 1_000 + (7 * channel_index + 37 * i) %
//! 5_000`. Each pair of rows is produced swapped (60 s out of order), within the table's 2-minute
//! grace.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chatpulse::chat::ChatEvent;
use chatpulse::topology::Topology;
use rdkafka::consumer::BaseConsumer;
use rdkafka::message::Headers;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::Message;
use serde_json::{json, Value};

use crate::engine_support::{end_markers, offline_chat_and_rows, produce, real_lines};
use crate::harness::{create_topic, is_unknown_topic, reader, settings, unique};
use crate::minutes::brute_force_minutes;
use crate::scale_out::{committed, spawn, Instance, KeptDir};
use crate::support::schema_registry::SchemaRegistryServer;
use chatpulse::avro::registry::{HttpRegistry, SchemaRegistry};
use chatpulse::avro::{value_subject, AvroSchema, ValueEncoder};

/// `(channel, window start)` to `(messages, unique chatters, viewers)`.
type Joined = BTreeMap<(String, i64), (u64, u64, Option<i64>)>;

/// How the test's table is declared and written.
#[derive(Clone, Copy, PartialEq)]
enum Table {
    /// Co-partitioned with the chat (4 partitions), JSON rows.
    Json,
    /// Global, on one partition, JSON rows.
    Global,
    /// Co-partitioned, Avro rows of `avro/stream_snapshot.avsc` (as `monitor` writes them).
    Avro,
}

fn topology_text(app: &str, chat: &str, streams: &str, output: &str, table: Table) -> String {
    let global = table == Table::Global;
    let format = if table == Table::Avro { "avro" } else { "json" };

    format!(
        r#"
application_id = "{app}"
[[source]]
name = "chat"
topic = "{chat}"
[[source]]
name = "streams"
topic = "{streams}"
format = "{format}"
timestamp = "field"
table = {{ retention = "1h", grace = "2m", global = {global} }}
[[processor]]
name = "minute"
kind = "engagement"
source = "chat"
join = {{ table = "streams" }}
sink = "minutes"
window = {{ kind = "tumbling", size = "1m", grace = "5s" }}
store = "minute"
[[sink]]
name = "minutes"
topic = "{output}"
[settings]
commit_interval = "500ms"
idle_timeout = "1h"
"#
    )
}

/// The derived snapshot rows `(channel, ts, viewers)` (see the module doc).
fn snapshots(lines: &[String]) -> Vec<(String, i64, i64)> {
    let mut span: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for e in lines.iter().filter_map(|l| ChatEvent::parse(l).ok()) {
        let ts = e.ts_ms.unwrap();
        let s = span.entry(e.channel.to_owned()).or_insert((ts, ts));
        *s = (s.0.min(ts), s.1.max(ts));
    }
    let mut rows = Vec::new();
    for (c, (channel, (first, last))) in span.into_iter().enumerate() {
        let start = (first / 60_000 + 2) * 60_000 + 17_000;
        for i in 0.. {
            let ts = start + i * 60_000;
            if ts > last {
                break;
            }
            rows.push((channel.clone(), ts, 1_000 + (7 * c as i64 + 37 * i) % 5_000));
        }
    }
    rows
}

/// The rows in the order they are produced: in time order over all channels, except that each
/// channel's pairs of rows come swapped (the later one first).
fn produced_order(rows: &[(String, i64, i64)]) -> Vec<(String, String)> {
    let mut by_channel: BTreeMap<&str, Vec<&(String, i64, i64)>> = BTreeMap::new();
    for r in rows {
        by_channel.entry(&r.0).or_default().push(r);
    }
    // Each row is sent at its pair partner's time: (sort time, channel, row).
    let mut order = Vec::new();
    for (channel, rows) in by_channel {
        for pair in rows.chunks(2) {
            match pair {
                [a, b] => {
                    order.push((a.1, channel, *b));
                    order.push((b.1, channel, *a));
                }
                [a] => order.push((a.1, channel, *a)),
                _ => unreachable!(),
            }
        }
    }
    order.sort_by_key(|(t, c, _)| (*t, *c));
    order
        .into_iter()
        .map(|(_, _, (c, ts, v))| {
            (
                c.clone(),
                json!({"channel": c, "live": true, "viewers": v, "ts": ts}).to_string(),
            )
        })
        .collect()
}

/// The expected results, by brute force: messages and distinct chatters per (channel, minute) of
/// the chat messages, and the newest snapshot at or before each minute's last millisecond.
fn brute_force(lines: &[String], rows: &[(String, i64, i64)]) -> Joined {
    brute_force_minutes(lines)
        .into_iter()
        .map(|((channel, start), (n, chatters))| {
            let viewers = rows
                .iter()
                .filter(|(c, ts, _)| *c == channel && *ts < start + 60_000)
                .max_by_key(|(_, ts, _)| *ts)
                .map(|(_, _, v)| *v);
            ((channel, start), (n, chatters, viewers))
        })
        .collect()
}

fn add(m: &mut Joined, v: &Value) {
    let key = (
        v["channel"].as_str().unwrap().to_owned(),
        v["window_start"].as_i64().unwrap(),
    );
    let val = (
        v["messages"].as_u64().unwrap(),
        v["unique_chatters"].as_u64().unwrap(),
        v["viewers"].as_i64(),
    );
    if let Some(prev) = m.insert(key.clone(), val) {
        assert_eq!(
            prev, val,
            "a duplicate of {key:?} must re-state the same value"
        );
    }
}

/// The offline run of the same topology over the same records, inputs merged by event time.
fn offline(topology: &Topology, chat: Vec<String>, rows: Vec<String>) -> Joined {
    let mut m = Joined::new();
    for v in &offline_chat_and_rows(topology, chat, rows) {
        add(&mut m, v);
    }
    m
}

async fn produce_rows<V: AsRef<[u8]>>(topic: &str, rows: &[(String, V)], markers: &[(i32, V)]) {
    let producer: FutureProducer = settings().producer_config().create().unwrap();
    for (key, value) in rows {
        producer
            .send(
                FutureRecord::to(topic).key(key).payload(value.as_ref()),
                Duration::from_secs(30),
            )
            .await
            .expect("row delivered");
    }
    for (p, value) in markers {
        producer
            .send(
                FutureRecord::to(topic)
                    .partition(*p)
                    .key("end-of-input")
                    .payload(value.as_ref()),
                Duration::from_secs(30),
            )
            .await
            .expect("marker delivered");
    }
}

fn collect(consumer: &BaseConsumer, expected: &Joined, deadline: Instant) -> Joined {
    let mut got = Joined::new();
    while got.len() < expected.len() && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(msg)) => add(
                &mut got,
                &serde_json::from_slice(msg.payload().unwrap()).unwrap(),
            ),
            Some(Err(e)) if is_unknown_topic(&e) => {}
            Some(Err(e)) => panic!("consume results: {e}"),
            None => {}
        }
    }
    got
}

/// The test's topics, data and expectations.
struct Setup {
    dir: KeptDir,
    topology_file: std::path::PathBuf,
    app: String,
    chat: String,
    streams: String,
    output: String,
    lines: Vec<String>,
    rows: Vec<(String, String)>,
    chat_markers: Vec<(i32, String)>,
    row_markers: Vec<(i32, String)>,
    expected: Joined,
}

/// Fresh names: the application id, the chat, table and output topics.
fn names() -> (String, String, String, String) {
    let name = |what: &str| unique(&format!("join-{what}"));
    (name("app"), name("chat"), name("streams"), name("out"))
}

/// The test's topics and data; a global table's topic has one partition (it need not match the
/// chat's four).
async fn setup(table: Table) -> Setup {
    let global = table == Table::Global;
    let (app, chat, streams, output) = names();
    create_topic(&chat, 4).await;
    create_topic(&streams, if global { 1 } else { 4 }).await;
    let dir = KeptDir(tempfile::tempdir().unwrap().keep());
    let topology_file = dir.0.join("topology.toml");
    std::fs::write(
        &topology_file,
        topology_text(&app, &chat, &streams, &output, table),
    )
    .unwrap();
    let topology = Topology::load(&topology_file).unwrap();

    let lines = real_lines(6_000);
    let snaps = snapshots(&lines);
    let rows = produced_order(&snaps);
    let chat_markers = end_markers(&lines, 4);
    let end_ts = ChatEvent::parse(&chat_markers[0].1).unwrap().ts_ms.unwrap();
    let row_markers: Vec<(i32, String)> = (0..4)
        .map(|p| {
            (
                p,
                json!({"channel": "end-of-input", "live": false, "viewers": 0, "ts": end_ts})
                    .to_string(),
            )
        })
        .collect();
    let expected = brute_force(&lines, &snaps);
    let channels: std::collections::BTreeSet<_> = expected.keys().map(|(c, _)| c).collect();
    assert!(channels.len() >= 4, "several channels: {channels:?}");
    assert!(
        expected.values().filter(|v| v.2.is_some()).count() >= 50
            && expected.values().any(|v| v.2.is_none()),
        "minutes with and without viewers"
    );
    // The engine offline, inputs merged by event time, agrees with the brute force.
    let offline_chat: Vec<String> = lines
        .iter()
        .cloned()
        .chain(chat_markers.iter().map(|(_, l)| l.clone()))
        .collect();
    let offline_rows: Vec<String> = rows
        .iter()
        .map(|(_, v)| v.clone())
        .chain(row_markers.iter().map(|(_, v)| v.clone()))
        .collect();
    // Offline rows are the JSON lines (Avro rows need the registry `run` is given).
    let offline_topology = match table {
        Table::Avro => {
            Topology::parse(&topology_text(&app, &chat, &streams, &output, Table::Json)).unwrap()
        }
        _ => topology,
    };
    assert_eq!(
        offline(&offline_topology, offline_chat, offline_rows),
        expected
    );
    Setup {
        dir,
        topology_file,
        app,
        chat,
        streams,
        output,
        lines,
        rows,
        chat_markers,
        row_markers,
        expected,
    }
}

/// Waits (at most 120 s, polling every 100 ms) until `done` holds.
async fn wait_for(s: &Setup, what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "waited 120 s for {what}; logs in {}",
            s.dir.0.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn check(s: &Setup, got: &Joined) {
    let missing: Vec<_> = s
        .expected
        .keys()
        .filter(|k| !got.contains_key(*k))
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "missing results {missing:?}; logs in {}",
        s.dir.0.display()
    );
    assert_eq!(
        *got,
        s.expected,
        "joined results differ; logs in {}",
        s.dir.0.display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_join_co_partitioned_chat_and_snapshots_as_a_brute_force_scan_does() {
    let s = setup(Table::Json).await;
    produce_rows(&s.streams, &s.rows, &[]).await;
    produce(&s.chat, &s.lines, &[]).await;
    let log = |name: &str| s.dir.0.join(format!("{name}.log"));
    let instances: Vec<Instance> = ["a", "b"]
        .iter()
        .map(|n| {
            Instance(spawn(
                &s.topology_file,
                &s.dir.0.join(format!("state-{n}")),
                n,
                &log(n),
                &[],
            ))
        })
        .collect();
    // Both members hold partitions before the end of input arrives.
    let held = || {
        ["a", "b"].iter().all(|n| {
            std::fs::read_to_string(log(n)).is_ok_and(|t| t.contains("partition assigned"))
        })
    };
    wait_for(&s, "both instances to hold partitions", held).await;
    produce_rows(&s.streams, &[], &s.row_markers).await;
    produce(&s.chat, &[], &s.chat_markers).await;
    let consumer = reader(&s.output);
    let got = collect(
        &consumer,
        &s.expected,
        Instant::now() + Duration::from_secs(180),
    );
    check(&s, &got);
    drop(instances);
    s.dir.remove();
}

/// Every snapshot and the first half of the chat, one instance until it has committed part of it,
/// SIGKILL, a restart on the same state dir, then the rest (with `row_markers` for the table), and
/// the results checked. Returns the restarted instance's log.
async fn kill_midway_and_restart(s: &Setup, row_markers: &[(i32, String)]) -> String {
    let log = |name: &str| s.dir.0.join(format!("{name}.log"));
    let state = s.dir.0.join("state");
    produce_rows(&s.streams, &s.rows, &[]).await;
    let (first, second) = s.lines.split_at(s.lines.len() / 2);
    produce(&s.chat, first, &[]).await;
    let mut instance = Instance(spawn(&s.topology_file, &state, "a", &log("a"), &[]));
    let half = first.len() as i64 / 2;
    let progressed = || committed(&s.app, &s.chat, 4).iter().sum::<i64>() >= half;
    wait_for(s, "half the first chat to be committed", progressed).await;
    instance.0.kill().expect("SIGKILL");
    instance.0.wait().unwrap();
    // Restarted on its state dir: the table's rows come from the table's topic again, and minutes
    // closed after the restart read viewers produced before the kill.
    let restarted = Instance(spawn(&s.topology_file, &state, "a2", &log("a2"), &[]));
    produce(&s.chat, second, &s.chat_markers).await;
    produce_rows(&s.streams, &[], row_markers).await;
    let consumer = reader(&s.output);
    let got = collect(
        &consumer,
        &s.expected,
        Instant::now() + Duration::from_secs(180),
    );
    check(s, &got);
    drop(restarted);
    std::fs::read_to_string(log("a2")).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_restores_from_its_topic_after_sigkill_and_the_join_stays_exact() {
    let s = setup(Table::Json).await;
    let text = kill_midway_and_restart(&s, &s.row_markers).await;
    assert!(
        text.contains("partition assigned"),
        "the restart took its partitions"
    );
    s.dir.remove();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_global_table_on_one_partition_restores_after_sigkill_and_the_join_stays_exact() {
    // Every task holds the whole table, read from its one partition before the group's first
    // record, and again after the restart: no co-partitioning, no changelog, and it does not hold
    // event time back (no end-of-input rows needed).
    let s = setup(Table::Global).await;
    let text = kill_midway_and_restart(&s, &[]).await;
    let rows = s.rows.len();
    assert!(
        text.contains(&format!("rows={rows}")) && text.contains("global table read"),
        "the restart read the whole table again ({rows} rows); logs in {}",
        s.dir.0.display()
    );
    s.dir.remove();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avro_snapshots_are_read_with_the_registry_s_writer_schema() {
    // `twitch.streams` as `monitor` writes it: Avro of avro/stream_snapshot.avsc in the registry
    // wire format (the in-repo Schema Registry server). `run --schema-registry` fetches the writer
    // schema by the id each row carries; the joined minutes equal the brute force.
    let registry = SchemaRegistryServer::start();
    let s = setup(Table::Avro).await;
    let schema = AvroSchema::builtin("stream_snapshot").unwrap();
    let id = HttpRegistry::new(&registry.url())
        .unwrap()
        .register(&value_subject(&s.streams), &schema.text)
        .await
        .unwrap();
    let encoder = ValueEncoder::Avro {
        id,
        schema: Box::new(schema),
    };
    let avro = |json: &str| {
        encoder
            .encode(&serde_json::from_str(json).unwrap())
            .unwrap()
    };
    let rows: Vec<(String, Vec<u8>)> = s.rows.iter().map(|(k, v)| (k.clone(), avro(v))).collect();
    let markers: Vec<(i32, Vec<u8>)> = s.row_markers.iter().map(|(p, v)| (*p, avro(v))).collect();
    // A row that is not Avro goes to the dead-letter topic, and the run goes on.
    produce_rows(&s.streams, &[("caedrel".to_owned(), b"{}".to_vec())], &[]).await;
    produce_rows(&s.streams, &rows, &[]).await;
    produce(&s.chat, &s.lines, &[]).await;
    let log = s.dir.0.join("a.log");
    let extra = ["--schema-registry".to_owned(), registry.url()];
    let instance = Instance(spawn(
        &s.topology_file,
        &s.dir.0.join("state"),
        "a",
        &log,
        &extra,
    ));
    produce_rows(&s.streams, &[], &markers).await;
    produce(&s.chat, &[], &s.chat_markers).await;
    let got = collect(
        &reader(&s.output),
        &s.expected,
        Instant::now() + Duration::from_secs(180),
    );
    check(&s, &got);
    // The row that is not Avro is on the dead-letter topic, unchanged, with the reason.
    let dlq = reader(&format!("{}-dlq", s.app));
    let deadline = Instant::now() + Duration::from_secs(60);
    let dead = loop {
        assert!(Instant::now() < deadline, "no dead letter within 60 s");
        match dlq.poll(Duration::from_millis(200)) {
            Some(Ok(msg)) => break msg.detach(),
            Some(Err(e)) if is_unknown_topic(&e) => {}
            Some(Err(e)) => panic!("read the dead-letter topic: {e}"),
            None => {}
        }
    };
    assert_eq!(dead.payload(), Some(&b"{}"[..]));
    let reason = dead
        .headers()
        .and_then(|h| h.iter().find(|h| h.key == "chatpulse.error"))
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default();
    assert!(
        reason.contains("unreadable row of table streams") && reason.contains("not Avro"),
        "{reason}"
    );
    drop(instance);
    s.dir.remove();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_refuses_inputs_that_are_not_co_partitioned_and_says_what_to_recreate() {
    let (app, chat, streams, output) = names();
    create_topic(&chat, 4).await;
    create_topic(&streams, 2).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("topology.toml");
    std::fs::write(
        &file,
        topology_text(&app, &chat, &streams, &output, Table::Json),
    )
    .unwrap();
    let log = dir.path().join("run.log");
    let mut run = spawn(&file, &dir.path().join("state"), "a", &log, &[]);
    let status = run.wait().unwrap();
    assert!(!status.success(), "run must refuse to start");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("not co-partitioned")
            && text.contains(&format!("{chat} has 4 partitions and {streams} has 2"))
            && text.contains(&format!("recreate {streams} with 4")),
        "{text}"
    );
}
