//! Operating chatpulse on tansu: `/metrics` follows a run (consumed equals the input produced, lag
//! returns to 0, a late record is counted), `/readyz` is 503 while a partition restores its
//! changelog and 200 after, interactive queries answer from the owning task, and `chatpulse run`
//! configured by file and env commits and exits within `--shutdown-timeout` on SIGTERM.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chatpulse::chat::{ChatEvent, EventKind};
use chatpulse::http::{HttpServer, RunInstance};
use chatpulse::kafka::instances::InstanceDirectory;
use chatpulse::kafka::runner::RunControl;
use chatpulse::kafka::KafkaSettings;
use chatpulse::metrics::Metrics;
use chatpulse::processor::chat_count::ChatterCount;
use chatpulse::processor::state::window_key;
use chatpulse::store::changelog::{changelog_topic, ChangelogRecord, Marker};
use chatpulse::topology::query::key_partition;
use chatpulse::topology::Topology;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::Message;
use serde_json::Value;

use crate::engine::{start_with, wait_for_committed};
use crate::engine_support::{produce_with, real_lines, topology, topology_text};
use crate::harness::{
    brokers, create_topic, free_port, is_unknown_topic, reader, settings, unique,
};

/// One `GET path` over a fresh connection: the status and the body.
pub(crate) fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    try_http_get(addr, path).unwrap_or_else(|e| panic!("GET {path} from {addr}: {e}"))
}

/// [`http_get`], or the I/O error (the server is not listening yet).
pub(crate) fn try_http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut conn = TcpStream::connect(addr)?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(conn, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n")?;
    let mut text = String::new();
    conn.read_to_string(&mut text)?;
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "closed without a response",
        )
    })?;
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    Ok((status, body.to_owned()))
}

/// The sum of the samples of `name` whose labels include every pair of `labels` (None: no sample).
fn sample_sum(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut sum = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (metric, label_text) = match series.split_once('{') {
            Some((m, l)) => (m, l.trim_end_matches('}')),
            None => (series, ""),
        };
        let matches = labels.iter().all(|(k, v)| {
            let wanted = format!("{k}=\"{v}\"");
            label_text.split(',').any(|kv| kv == wanted)
        });
        if metric == name && matches {
            *sum.get_or_insert(0.0) += value.parse::<f64>().expect("a sample value");
        }
    }
    sum
}

/// Polls `check` every 20 ms until it gives a value, failing after `timeout`.
async fn eventually<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Test broker settings with Kafka's default (Java) partitioner, so keys land where queries look.
fn murmur2_settings() -> KafkaSettings {
    let mut s = settings();
    s.librdkafka_options
        .insert("partitioner".into(), "murmur2_random".into());
    s
}

/// A run of `topology` in this process with the operations server on a free port.
fn start_served(
    topology: Topology,
    state: &std::path::Path,
) -> (
    Arc<RunControl>,
    std::thread::JoinHandle<chatpulse::kafka::runner::RunStats>,
    SocketAddr,
) {
    let metrics = Arc::new(Metrics::new());
    let control = RunControl::with_metrics(metrics.clone());
    let server =
        HttpServer::start("127.0.0.1:0".parse().unwrap(), metrics, control.clone()).unwrap();
    let (control, handle) = start_with(topology, state, control, None);
    (control, handle, server.local_addr())
}

/// One advertising instance of a run in this process.
struct Advertised {
    control: Arc<RunControl>,
    handle: std::thread::JoinHandle<chatpulse::kafka::runner::RunStats>,
    addr: SocketAddr,
    url: String,
    id: String,
}

/// A run of `topology` that advertises `http://<its server>` as instance `id`.
fn start_advertised(topology: Topology, state: &std::path::Path, id: &str) -> Advertised {
    let metrics = Arc::new(Metrics::new());
    let control = RunControl::with_metrics(metrics.clone());
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let url = format!("http://{addr}");
    let directory = InstanceDirectory::start(
        &settings(),
        &topology.application_id,
        id,
        &url,
        1,
        control.clone(),
    )
    .unwrap();
    let observed = Arc::new(RunInstance {
        control: control.clone(),
        directory: Some(directory),
    });
    HttpServer::start(addr, metrics, observed).unwrap();
    let (control, handle) = start_with(topology, state, control, None);
    Advertised {
        control,
        handle,
        addr,
        url,
        id: id.to_owned(),
    }
}

/// Messages and distinct chatters of `channel` in `[start, start + 1m)`, counted by brute force.
fn brute_count(lines: &[String], channel: &str, start: i64) -> (u64, u64) {
    let mut messages = 0;
    let mut chatters = BTreeSet::new();
    for line in lines {
        let Ok(e) = ChatEvent::parse(line) else {
            continue;
        };
        let (EventKind::Message(m), Some(ts)) = (&e.kind, e.ts_ms) else {
            continue;
        };
        if e.channel == channel && !e.is_shared_copy() && (start..start + 60_000).contains(&ts) {
            messages += 1;
            chatters.insert(m.user.login.to_owned());
        }
    }
    (messages, chatters.len() as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_follow_a_run_and_queries_answer_from_the_owning_task() {
    let (input, output, app) = (unique("ops-in"), unique("ops-out"), unique("ops-app"));
    create_topic(&input, 2).await;
    // The late topic is left to `run` (tansu creates no topic on produce): the late record below
    // must reach it.
    let lines = real_lines(3_000);
    produce_with(&murmur2_settings(), &input, &lines, &[]).await;
    let state = tempfile::tempdir().unwrap();
    let (control, handle, addr) = start_served(topology(&app, &input, &output), state.path());
    let total = lines.len() as f64;
    let consumed = |want: f64| {
        let input = input.clone();
        move || {
            let (status, text) = http_get(addr, "/metrics");
            assert_eq!(status, 200);
            let got = sample_sum(
                &text,
                "chatpulse_records_consumed_total",
                &[("topic", &input)],
            );
            (got == Some(want)).then_some(text)
        }
    };
    eventually(
        "all input consumed",
        Duration::from_secs(90),
        consumed(total),
    )
    .await;
    let lag_zero = || {
        let (_, text) = http_get(addr, "/metrics");
        let lags: Vec<Option<f64>> = ["0", "1"]
            .iter()
            .map(|p| {
                sample_sum(
                    &text,
                    "chatpulse_consumer_lag_records",
                    &[("topic", &input), ("partition", p)],
                )
            })
            .collect();
        lags.iter().all(|l| *l == Some(0.0)).then_some(text)
    };
    let text = eventually(
        "lag back to 0 on both partitions",
        Duration::from_secs(30),
        lag_zero,
    )
    .await;
    assert!(sample_sum(&text, "chatpulse_commits_total", &[]).unwrap() >= 1.0);
    assert_eq!(
        sample_sum(&text, "chatpulse_assigned_partitions", &[]),
        Some(2.0)
    );
    assert_eq!(
        sample_sum(&text, "chatpulse_dlq_records_total", &[]),
        Some(0.0)
    );
    let (status, body) = http_get(addr, "/readyz");
    assert_eq!(status, 200, "{body}");
    let (status, body) = http_get(addr, "/partitions");
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["partitions"],
        serde_json::json!([0, 1])
    );

    // The channel of the newest line still has its last minute open: query it.
    let (channel, max_ts) = lines
        .iter()
        .filter_map(|l| {
            let e = ChatEvent::parse(l).ok()?;
            Some((e.channel.to_owned(), e.ts_ms?))
        })
        .max_by_key(|(_, ts)| *ts)
        .unwrap();
    let start = max_ts - max_ts.rem_euclid(60_000);
    let (messages, chatters) = brute_count(&lines, &channel, start);
    let (status, body) = http_get(addr, &format!("/state/counts/{channel}"));
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["partition"], key_partition(channel.as_bytes(), 2));
    let window = answer["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["window_start"] == start)
        .unwrap_or_else(|| panic!("no open window at {start}: {body}"));
    assert_eq!(window["messages"], messages, "{body}");
    assert_eq!(window["unique_chatters"], chatters, "{body}");
    assert_eq!(window["final"], false);
    let (status, body) = http_get(addr, "/state/counts/no-such-channel-here");
    assert_eq!(status, 404, "both partitions are owned here: {body}");
    let (status, body) = http_get(addr, "/state/nope/x");
    assert_eq!(status, 404);
    assert!(
        body.contains("counts"),
        "the answer lists the stores: {body}"
    );

    // A record an hour behind its partition's event time is late, and counted.
    let late_before = sample_sum(
        &text,
        "chatpulse_late_records_total",
        &[("processor", "per-minute")],
    )
    .unwrap_or(0.0);
    let late = format!(
        "@tmi-sent-ts={};user-id=1 :late!late@late.tmi.twitch.tv PRIVMSG #{channel} :too late",
        max_ts - 3_600_000
    );
    produce_with(
        &murmur2_settings(),
        &input,
        std::slice::from_ref(&late),
        &[],
    )
    .await;
    let text = eventually(
        "the late record consumed",
        Duration::from_secs(60),
        consumed(total + 1.0),
    )
    .await;
    let late_after = eventually("the late record counted", Duration::from_secs(10), || {
        let (_, text) = http_get(addr, "/metrics");
        sample_sum(
            &text,
            "chatpulse_late_records_total",
            &[("processor", "per-minute")],
        )
        .filter(|v| *v > late_before)
    })
    .await;
    assert_eq!(late_after, late_before + 1.0, "{text}");
    // ... and it is in the late topic, unchanged, with why it was refused.
    let late_topic = format!("{app}-late");
    let consumer = reader(&late_topic);
    let deadline = Instant::now() + Duration::from_secs(30);
    let record = loop {
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => break m.detach(),
            Some(Err(e)) if !is_unknown_topic(&e) => panic!("reading {late_topic}: {e}"),
            _ => assert!(
                Instant::now() < deadline,
                "nothing in {late_topic} within 30 s"
            ),
        }
    };
    assert_eq!(record.key(), Some(channel.as_bytes()));
    assert_eq!(record.payload(), Some(late.as_bytes()));

    control.stop();
    let stats = handle.join().unwrap();
    assert_eq!(stats.processed, lines.len() as u64 + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_while_restoring_a_changelog_and_200_after() {
    let (input, output, app) = (
        unique("restore-in"),
        unique("restore-out"),
        unique("restore-app"),
    );
    create_topic(&input, 1).await;
    let changelog = changelog_topic(&app, "counts");
    create_topic(&changelog, 1).await;
    // A large changelog: 50 flushes of 2,000 channels' open windows, then the flush marker.
    const CHANNELS: usize = 2_000;
    const ROUNDS: u64 = 50;
    let window_start = 1_700_000_040_000i64;
    let producer: BaseProducer = settings().producer_config().create().unwrap();
    for round in 1..=ROUNDS {
        for c in 0..CHANNELS {
            let acc = ChatterCount {
                messages: round,
                chatters: BTreeSet::from([format!("user{c}")]),
            };
            let key = window_key(&format!("chan{c}"), window_start);
            let value = serde_json::to_vec(&acc).unwrap();
            send(
                &producer,
                BaseRecord::to(&changelog)
                    .key(&key[..])
                    .payload(&value[..])
                    .partition(0),
            );
        }
    }
    let marker = ChangelogRecord::marker(&Marker {
        generation: 1,
        input_offset: 0,
        more_offsets: Vec::new(),
        watermark_ms: window_start,
    });
    let value = marker.value.clone().unwrap_or_default();
    send(
        &producer,
        BaseRecord::to(&changelog)
            .key(&marker.key[..])
            .payload(&value[..])
            .partition(0),
    );
    producer.flush(Duration::from_secs(60)).unwrap();
    let records = CHANNELS as u64 * ROUNDS + 1;

    let state = tempfile::tempdir().unwrap();
    let (control, handle, addr) = start_served(topology(&app, &input, &output), state.path());
    let mut reasons = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, body) = http_get(addr, "/readyz");
        if status == 200 {
            break;
        }
        assert_eq!(status, 503, "{body}");
        let reason = serde_json::from_str::<Value>(&body).unwrap()["reason"]
            .as_str()
            .unwrap()
            .to_owned();
        *reasons.entry(reason).or_insert(0) += 1;
        assert!(
            Instant::now() < deadline,
            "not ready within 120 s: {reasons:?}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(
        reasons.keys().any(|r| r.contains("restoring 1 partition")),
        "/readyz never said it was restoring: {reasons:?}"
    );
    let (_, text) = http_get(addr, "/metrics");
    assert_eq!(
        sample_sum(
            &text,
            "chatpulse_restore_records_total",
            &[("store", "counts")]
        ),
        Some(records as f64)
    );
    assert_eq!(
        sample_sum(
            &text,
            "chatpulse_restore_remaining_records",
            &[("store", "counts")]
        ),
        Some(0.0)
    );
    // The restored state answers queries: the last flush's value of a window.
    let (status, body) = http_get(addr, "/state/counts/chan7");
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["value"][0]["window_start"], window_start);
    assert_eq!(answer["value"][0]["messages"], ROUNDS);
    assert_eq!(answer["value"][0]["unique_chatters"], 1);
    control.stop();
    let stats = handle.join().unwrap();
    assert_eq!(stats.restored_records, records);
}

fn send(producer: &BaseProducer, record: BaseRecord<'_, [u8], [u8]>) {
    let mut record = record;
    loop {
        match producer.send(record) {
            Ok(()) => return,
            Err((e, r))
                if e.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::QueueFull) =>
            {
                producer.poll(Duration::from_millis(10));
                record = r;
            }
            Err((e, _)) => panic!("produce: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_configured_by_file_and_env_commits_and_exits_within_the_shutdown_timeout_on_sigterm() {
    let (input, output, app) = (unique("term-in"), unique("term-out"), unique("term-app"));
    create_topic(&input, 2).await;
    let lines = real_lines(1_000);
    produce_with(&settings(), &input, &lines, &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let topology_file = dir.path().join("topology.toml");
    // Commits only at shutdown: the final commit is the one under test.
    std::fs::write(&topology_file, topology_text(&app, &input, &output, "1h")).unwrap();
    let port = free_port();
    let config = dir.path().join("chatpulse.toml");
    std::fs::write(
        &config,
        format!(
            r#"brokers = "{brokers}"
metrics_addr = "127.0.0.1:1"   # overridden by CHATPULSE_METRICS_ADDR
[run]
topology = "{topology}"
shutdown-timeout = "15s"
replication_factor = 1
[kafka]
"session.timeout.ms" = 6000
"heartbeat.interval.ms" = 500
"#,
            brokers = brokers(),
            topology = topology_file.display()
        ),
    )
    .unwrap();
    let log = dir.path().join("run.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_chatpulse"))
        .args(["run", "--config"])
        .arg(&config)
        .env("CHATPULSE_METRICS_ADDR", format!("127.0.0.1:{port}"))
        .env("CHATPULSE_STATE_DIR", dir.path().join("state"))
        .env("CHATPULSE_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start chatpulse run");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let all = lines.len() as f64;
    let consumed = eventually(
        "the binary consumed all input",
        Duration::from_secs(90),
        || {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "run exited early with {status} (\"unexpected argument\": another checkout \
                     rebuilt the shared CARGO_TARGET_DIR binary meanwhile; rerun): {}",
                    std::fs::read_to_string(&log).unwrap()
                );
            }
            let (_, text) = try_http_get(addr, "/metrics").ok()?;
            (sample_sum(
                &text,
                "chatpulse_records_consumed_total",
                &[("topic", &input)],
            ) == Some(all))
            .then_some(())
        },
    );
    consumed.await;
    assert_eq!(http_get(addr, "/readyz").0, 200);

    let sent = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = eventually("exit after SIGTERM", Duration::from_secs(15), || {
        child.try_wait().unwrap()
    })
    .await;
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(exit.success(), "exit {exit}: {log_text}");
    assert!(sent.elapsed() < Duration::from_secs(15));
    assert!(log_text.contains("stopped cleanly"), "{log_text}");
    wait_for_committed(&app, &input, 2, lines.len() as i64).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_for_another_instances_partition_names_that_instance() {
    let (input, output, app) = (unique("owner-in"), unique("owner-out"), unique("owner-app"));
    create_topic(&input, 2).await;
    let lines = real_lines(1_000);
    produce_with(&murmur2_settings(), &input, &lines, &[]).await;
    let topology = topology(&app, &input, &output);
    let (state_a, state_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = start_advertised(topology.clone(), state_a.path(), &unique("a"));
    let b = start_advertised(topology, state_b.path(), &unique("b"));
    let b_partition = eventually(
        "each instance owns one partition",
        Duration::from_secs(90),
        || {
            let (pa, pb) = (a.control.owned_partitions(), b.control.owned_partitions());
            (pa.len() == 1 && pb.len() == 1 && pa != pb).then(|| pb[0])
        },
    )
    .await;
    let channel = lines
        .iter()
        .filter_map(|l| ChatEvent::parse(l).ok().map(|e| e.channel.to_owned()))
        .find(|c| key_partition(c.as_bytes(), 2) == b_partition)
        .expect("a channel in b's partition");
    let path = format!("/state/counts/{channel}");
    let body = eventually("a names b as the owner", Duration::from_secs(30), || {
        let (status, body) = http_get(a.addr, &path);
        assert!(status == 421 || status == 503, "{status} {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        v.get("owner").is_some().then_some(v)
    })
    .await;
    assert_eq!(body["partition"], b_partition);
    assert_eq!(body["owner"]["instance_id"], b.id.as_str());
    assert_eq!(body["owner"]["url"], b.url.as_str());
    // The owner answers for the key itself (its windows, or 404 when they have all closed).
    let (status, body) = http_get(b.addr, &path);
    assert!(status == 200 || status == 404, "{status} {body}");
    let (_, parts) = http_get(a.addr, "/partitions");
    let parts: Value = serde_json::from_str(&parts).unwrap();
    assert_eq!(
        parts["instances"].as_array().map(Vec::len),
        Some(2),
        "{parts}"
    );
    for run in [a, b] {
        run.control.stop();
        run.handle.join().unwrap();
    }
}
