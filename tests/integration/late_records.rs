//! Issue 13, point 3, end to end on tansu: records that arrive after their minute closed on time.
//! The IRC ingest loses the broker for 2 minutes while `run` goes on (its idle timeout closes the
//! minutes), and a real log is replayed in two halves 2 minutes apart. In both, the latest revision of
//! every per-minute result equals the offline run and a brute-force count, and nothing is late.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chatpulse::ingest::{start_producer, IngestMetrics, ProducerOptions};
use chatpulse::kafka::topics::ensure_topic;
use chatpulse::kafka::KafkaSettings;
use chatpulse::time::clock::{Clock, SystemClock};
use chatpulse::topology::Topology;
use chatpulse::twitch::irc::run_client;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::Message;
use serde_json::Value;
use tokio::sync::watch;

use crate::broker_process::Broker;
use crate::engine::{start, wait_for_committed, wait_for_committed_on};
use crate::engine_support::{end_markers, offline_minutes, produce, real_lines};
use crate::harness::{
    brokers, create_topic, data_dir, free_port, init_logs, repo_file, unique, wait_until,
};
use crate::ingest::test_config;
use crate::minutes::{brute_force_minutes, latest_minutes, Minutes};
use crate::own_broker::start_run;
use crate::support::irc_server::{self, IrcServer};
use crate::support::tcp_proxy::{Fault, TcpProxy};

/// The outage and the pause the issue asks for.
const GAP: Duration = Duration::from_secs(120);
/// The `client.id` of the ingest under test: the proxy cuts only its connections.
const INGEST_ID: &str = "outage-ingest";
const CHANNELS: [&str; 3] = ["nymn", "forsen", "xqc"];

/// The shipped engagement-basic topology (idle timeout 30 s, the default allowed lateness) on the
/// test's own topics.
fn engagement_basic(app: &str, input: &str, output: &str) -> Topology {
    let text = std::fs::read_to_string(repo_file("topologies/engagement-basic.toml"))
        .unwrap()
        .replace("chatpulse-engagement-basic", app)
        .replace("\"twitch.chat.raw\"", &format!("{input:?}"))
        .replace("\"twitch.engagement.basic.minute\"", &format!("{output:?}"));
    Topology::parse(&text).unwrap()
}

/// Every record of `topic`, read from the start until none came for 3 s (at most 60 s).
fn read_all(kafka: &KafkaSettings, topic: &str) -> Vec<rdkafka::message::OwnedMessage> {
    let consumer: BaseConsumer = kafka.consumer_config(&unique("reader")).create().unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut quiet_since = Instant::now();
    let mut got = Vec::new();
    while Instant::now() < deadline && quiet_since.elapsed() < Duration::from_secs(3) {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                got.push(m.detach());
                quiet_since = Instant::now();
            }
            Some(Err(e)) if crate::harness::is_unknown_topic(&e) => {}
            Some(Err(e)) => panic!("consume {topic}: {e}"),
            None => {}
        }
    }
    got
}

fn values(messages: &[rdkafka::message::OwnedMessage]) -> Vec<Value> {
    messages
        .iter()
        .map(|m| serde_json::from_slice(m.payload().unwrap()).unwrap())
        .collect()
}

/// Results that correct an earlier final (revision above 0).
fn corrections(results: &[Value]) -> usize {
    results
        .iter()
        .filter(|v| v["revision"].as_u64() > Some(0))
        .count()
}

/// `line` with `tmi-sent-ts` set to `ts_ms`.
fn stamped(line: &str, ts_ms: i64) -> String {
    let (tags, rest) = line.split_once(' ').unwrap();
    let tags: Vec<String> = tags
        .trim_start_matches('@')
        .split(';')
        .filter(|t| !t.starts_with("tmi-sent-ts="))
        .map(str::to_owned)
        .chain([format!("tmi-sent-ts={ts_ms}")])
        .collect();
    format!("@{} {rest}", tags.join(";"))
}

/// The minutes of `expected` that start in `[from, to)`.
fn minutes_between(expected: &Minutes, from: i64, to: i64) -> usize {
    expected
        .keys()
        .filter(|(_, start)| (from..to).contains(start))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_minute_outage_between_ingest_and_the_broker_leaves_every_minute_exact() {
    init_logs();
    // One broker behind a proxy that it advertises: every client goes through the proxy, which cuts
    // only the ingest's connections (by client.id). `run` stays connected the whole time.
    let proxy_port = free_port();
    let broker = Broker::advertising(free_port(), proxy_port);
    let proxy = TcpProxy::start(
        proxy_port,
        ([127, 0, 0, 1], broker.port).into(),
        Duration::from_secs(330),
    )
    .await;
    let kafka = KafkaSettings::new(proxy.addr().to_string());
    let (raw, out, app) = (
        unique("outage-raw"),
        unique("outage-minutes"),
        unique("outage-app"),
    );
    ensure_topic(&kafka, &raw, 1, 1).await.expect("topic");
    let topology = engagement_basic(&app, &raw, &out);
    let state = tempfile::tempdir().unwrap();
    let (control, handle) = start_run(kafka.clone(), topology.clone(), state.path());

    let mut ingest_kafka = kafka.clone();
    ingest_kafka
        .librdkafka_options
        .insert("client.id".into(), INGEST_ID.into());
    let metrics = IngestMetrics::new();
    let mut options = ProducerOptions::new(ingest_kafka, &raw);
    options.partitions = 1;
    options.replication_factor = 1;
    let (sink, sink_task) = start_producer(options, metrics.clone()).await.unwrap();
    let server = IrcServer::start().await;
    let channels: BTreeSet<String> = CHANNELS.iter().map(|c| c.to_string()).collect();
    let (_ch_tx, ch_rx) = watch::channel(channels);
    let (stop_tx, stop_rx) = watch::channel(false);
    let client = tokio::spawn(run_client(test_config(&server), ch_rx, sink, stop_rx));
    server
        .wait_until("every channel joined", Duration::from_secs(10), |s| {
            CHANNELS.iter().all(|c| s.joined(c) == 1)
        })
        .await;

    // Real lines, sent as Twitch sends them: stamped with the time they are sent, 30 a second.
    let base = irc_server::real_lines(&data_dir(), "nymn", 800);
    let talking = Arc::new(AtomicBool::new(true));
    let (srv, on) = (server.clone(), talking.clone());
    let talker = tokio::spawn(async move {
        let mut seq = 0usize;
        while on.load(Ordering::SeqCst) {
            for channel in CHANNELS {
                let now = SystemClock.now_ms();
                let line = base[seq % base.len()].replacen(" #nymn", &format!(" #{channel}"), 1);
                let line = format!("{} {seq}", stamped(&line, now));
                assert_eq!(srv.broadcast(channel, &[line]), 1);
                seq += 1;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let wait = |what: &'static str, cond: Box<dyn Fn() -> bool + Send>| {
        wait_until(what, Duration::from_secs(90), cond)
    };
    let c = control.clone();
    wait(
        "the run processing chat",
        Box::new(move || c.processed.load(Ordering::Relaxed) >= 300),
    )
    .await;

    // The outage: 2 minutes in which no connection of the ingest reaches the broker.
    let outage_start = SystemClock.now_ms();
    proxy.set(INGEST_ID, Fault::Refuse);
    let acked_at_start = metrics.totals().produced;
    let processed_at_start = control.processed.load(Ordering::Relaxed);
    tokio::time::sleep(GAP).await;
    let outage_end = SystemClock.now_ms();
    let during = metrics.totals();
    assert!(
        control.processed.load(Ordering::Relaxed) <= processed_at_start + 100,
        "the run saw (almost) nothing during the outage"
    );
    proxy.set("", Fault::None);
    let m = metrics.clone();
    let target = during.received + 300;
    wait(
        "the backlog delivered and more chat",
        Box::new(move || {
            let t = m.totals();
            t.received >= target && t.produced + 30 >= t.received
        }),
    )
    .await;
    talking.store(false, Ordering::SeqCst);
    talker.await.unwrap();
    let m = metrics.clone();
    wait(
        "every line acknowledged",
        Box::new(move || {
            let t = m.totals();
            t.produced == t.received
        }),
    )
    .await;
    stop_tx.send(true).unwrap();
    client.await.unwrap().unwrap();
    assert_eq!(sink_task.await.unwrap().unflushed, 0);
    let t = metrics.totals();
    assert_eq!(t.dropped, 0, "{t:?}");

    // Every line in the topic, then one marker 2 minutes after the last line closes every minute.
    let input = read_all(&kafka, &raw);
    assert_eq!(input.len() as u64, t.produced);
    let mut lines: Vec<String> = input
        .iter()
        .map(|m| String::from_utf8(m.payload().unwrap().to_vec()).unwrap())
        .collect();
    let last = lines
        .iter()
        .filter_map(|l| chatpulse::chat::ChatEvent::parse(l).ok()?.ts_ms)
        .max()
        .unwrap();
    let marker = format!(
        "@tmi-sent-ts={} :tmi.twitch.tv NOTICE #end-of-input :end",
        last + 120_000
    );
    let producer: FutureProducer = kafka.producer_config().create().unwrap();
    producer
        .send(
            FutureRecord::<(), _>::to(&raw)
                .partition(0)
                .payload(&marker),
            Duration::from_secs(30),
        )
        .await
        .expect("marker delivered");
    lines.push(marker);
    wait_for_committed_on(&kafka, &app, &raw, 1, lines.len() as i64).await;
    let results = values(&read_all(&kafka, &out));
    control.stop();
    let stats = handle.join().unwrap().expect("run");

    assert_eq!(stats.late, 0, "nothing is dropped as late: {stats:?}");
    assert!(
        corrections(&results) > 0,
        "minutes closed during the outage were corrected"
    );
    let expected = brute_force_minutes(&lines);
    let outage_minutes = minutes_between(&expected, outage_start / 60_000 * 60_000, outage_end);
    assert!(
        outage_minutes >= 2 * CHANNELS.len(),
        "the outage spans minutes of every channel: {outage_minutes}"
    );
    assert_eq!(offline_minutes(&topology, &lines, &[]), expected);
    assert_eq!(latest_minutes(&results), expected, "{stats:?}");
    eprintln!(
        "outage: {} lines ({} held back by the outage), {} minutes ({outage_minutes} in the outage) \
         exact after {} results, {} of them corrections",
        lines.len(),
        during.received - acked_at_start,
        expected.len(),
        results.len(),
        corrections(&results)
    );
    drop(proxy);
    drop(broker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_paused_for_two_minutes_leaves_every_minute_exact() {
    init_logs();
    let (raw, out, app) = (
        unique("pause-raw"),
        unique("pause-minutes"),
        unique("pause-app"),
    );
    create_topic(&raw, 2).await;
    let lines = real_lines(20_000);
    let (first, second) = lines.split_at(lines.len() / 2);
    let dir = tempfile::tempdir().unwrap();
    let halves = [dir.path().join("first.irc"), dir.path().join("second.irc")];
    for (path, half) in halves.iter().zip([first, second]) {
        std::fs::write(path, half.join("\n") + "\n").unwrap();
    }
    let topology = engagement_basic(&app, &raw, &out);
    let state = tempfile::tempdir().unwrap();
    let (control, handle) = start(topology.clone(), state.path());
    let replay = |path: &std::path::Path| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_chatpulse"))
            .env("CHATPULSE_LOG", "warn")
            .args(["replay", "--as-fast-as-possible", "--brokers", &brokers()])
            .args(["--topic", &raw, "--metrics-addr", "127.0.0.1:0"])
            .arg(path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "{stderr}");
    };
    replay(&halves[0]);
    wait_for_committed(&app, &raw, 2, first.len() as i64).await;
    // The pause: the partitions turn idle and event time follows the wall clock past the seam.
    tokio::time::sleep(GAP).await;
    replay(&halves[1]);
    let markers = end_markers(&lines, 2);
    produce(&raw, &[], &markers).await;
    let total = (lines.len() + markers.len()) as i64;
    wait_for_committed(&app, &raw, 2, total).await;
    let results = values(&read_all(&crate::harness::settings(), &out));
    control.stop();
    let stats = handle.join().unwrap();

    assert_eq!(stats.late, 0, "nothing is dropped as late: {stats:?}");
    assert!(
        corrections(&results) > 0,
        "minutes at the seam were corrected"
    );
    let expected = brute_force_minutes(&lines);
    assert_eq!(offline_minutes(&topology, &lines, &markers), expected);
    assert_eq!(latest_minutes(&results), expected, "{stats:?}");
    eprintln!(
        "paused replay: {} lines, {} minutes exact after {} results, {} of them corrections",
        lines.len(),
        expected.len(),
        results.len(),
        corrections(&results)
    );
}
