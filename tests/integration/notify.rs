//! `chatpulse notify` on tansu, posting to the in-repo webhook receiver (`tests/support/
//! webhook_receiver.rs`, real HTTP on 127.0.0.1) as Slack, Discord and a signed generic webhook:
//! - every alert is taken by every destination, through a 500, a 429 with `Retry-After` (the next
//!   request waits it out) and a request that hangs past the timeout; every request of an alert
//!   carries its `alert_id`, so the retried ones are recognisable duplicates; webhook signatures
//!   verify; the Slack and Discord bodies have the fields and limits their documentation gives;
//!   requests to one destination are at least `--min-interval` apart; the group commits every offset;
//! - a permanent failure (404) and a spent retry budget (500s) land in the dead-letter topic with the
//!   reason, the destination and the `alert_id`, and the offsets are committed after them;
//! - SIGKILLs of notify mid-delivery (seeded moments) lose no alert: after the restarts every alert
//!   was taken at least once, and what came twice came with the same `alert_id`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chatpulse::alerts::alert::Alert;
use chatpulse::alerts::id::alert_id;
use chatpulse::notify::signature::verify;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Headers;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde_json::Value;

use crate::engine::read_topic;
use crate::harness::{create_topic, settings, unique, wait_until};
use crate::support::webhook_receiver::{Received, Reply, WebhookReceiver};

const SECRET: &str = "test-signing-secret-x9";

/// `n` alerts of every kind over a few channels, a minute apart.
fn alerts(n: usize) -> Vec<Alert> {
    let kinds = [
        "viewers_drop",
        "viewers_rise",
        "follower_surge",
        "chat_spike",
        "gift_bomb",
        "raid",
        "stream_start",
        "stream_end",
    ];
    (0..n)
        .map(|i| {
            let channel = ["nymn", "forsen", "xqc"][i % 3].to_owned();
            let rule = kinds[i % kinds.len()].replace('_', "-");
            let (start, end) = (
                1_704_556_800_000 + i as i64 * 60_000,
                1_704_556_860_000 + i as i64 * 60_000,
            );
            Alert {
                alert_id: alert_id(&rule, &channel, start, end),
                rule,
                kind: kinds[i % kinds.len()].to_owned(),
                channel: channel.clone(),
                window_start: start,
                window_end: end,
                value: 100.0 + i as f64,
                reference: (i % 2 == 0).then_some(50.0),
                threshold: Some(75.0),
                figures: BTreeMap::from([
                    ("change_pct".to_owned(), 12.5),
                    ("span_s".to_owned(), 60.0),
                ]),
                cause: (i % 4 == 3).then(|| "raid".to_owned()),
                cause_detail: (i % 4 == 3).then(|| "a raid that brought 1,500 viewers".to_owned()),
                sentence: format!("Alert {i} in {channel}: something happened."),
            }
        })
        .collect()
}

/// One test's topic of `n` alerts (produced, one partition), its notify group, dead-letter topic
/// and log.
struct Setup {
    sent: Vec<Alert>,
    topic: String,
    group: String,
    dlq: String,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

async fn setup(n: usize) -> Setup {
    let sent = alerts(n);
    let topic = unique("alerts");
    create_topic(&topic, 1).await;
    produce(&topic, &sent).await;
    let dir = tempfile::tempdir().unwrap();
    Setup {
        sent,
        topic,
        group: unique("notify"),
        dlq: unique("alerts-dlq"),
        log: dir.path().join("notify.log"),
        _dir: dir,
    }
}

async fn produce(topic: &str, alerts: &[Alert]) {
    let producer: FutureProducer = settings().producer_config().create().unwrap();
    for a in alerts {
        let value = serde_json::to_vec(a).unwrap();
        producer
            .send(
                FutureRecord::to(topic).key(&a.channel).payload(&value),
                Duration::from_secs(30),
            )
            .await
            .map_err(|(e, _)| e)
            .expect("delivered");
    }
}

/// A notify process reading `topic` in `group`, logging to `log`.
fn notify(topic: &str, group: &str, dlq: &str, extra: &[String], log: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_chatpulse"))
        .env("CHATPULSE_LOG", "info,librdkafka=warn")
        .args([
            "notify",
            "--brokers",
            &crate::harness::brokers(),
            "--topic",
            topic,
            "--group",
            group,
        ])
        .args([
            "--dead-letter-topic",
            dlq,
            "--min-interval",
            "50ms",
            "--retry-base",
            "100ms",
        ])
        .args(["--retry-cap", "2s", "--request-timeout", "1s"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

async fn stop(mut child: Child, log: &Path) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "notify did not stop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        exit.success(),
        "exit {exit}: {}",
        std::fs::read_to_string(log).unwrap()
    );
}

/// The alert ids a path took (2xx).
fn taken(rx: &WebhookReceiver, path: &str) -> BTreeSet<String> {
    rx.at(path)
        .iter()
        .filter(|r| r.taken())
        .map(|r| r.header("Idempotency-Key").unwrap().to_owned())
        .collect()
}

/// The group's committed offset of partition 0 of `topic`.
fn committed(topic: &str, group: &str) -> i64 {
    let consumer: BaseConsumer = settings().consumer_config(group).create().unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(topic, 0);
    let c = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .unwrap();
    match c.find_partition(topic, 0).unwrap().offset() {
        Offset::Offset(o) => o,
        _ => -1,
    }
}

/// The destinations' paths on the receiver.
const PATHS: [&str; 3] = ["/slack", "/discord", "/hook"];

/// Whether every destination has taken every alert of `ids`.
fn all_taken(rx: &WebhookReceiver, ids: &BTreeSet<String>) -> bool {
    PATHS.iter().all(|p| taken(rx, p) == *ids)
}

/// Waits until every destination took every alert and the group committed the last offset of
/// `(topic, group)`, then stops `child` with SIGTERM.
async fn finish(
    child: Child,
    rx: &WebhookReceiver,
    ids: &BTreeSet<String>,
    (topic, group): (&str, &str),
    log: &Path,
) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !all_taken(rx, ids) {
        if Instant::now() > deadline {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            panic!(
                "timed out waiting for every alert taken by every destination; log:\n{}",
                lines[lines.len().saturating_sub(40)..].join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_until("the last offset committed", Duration::from_secs(30), || {
        committed(topic, group) == ids.len() as i64
    })
    .await;
    stop(child, log).await;
}

fn chars(v: &Value) -> usize {
    v.as_str().map_or(0, |s| s.chars().count())
}

/// The Slack incoming-webhook body (api.slack.com/messaging/webhooks, Block Kit): `text` (the
/// fallback) and `blocks`: a header (plain_text, 150), a section (mrkdwn text, 3,000; at most 10
/// mrkdwn fields of 2,000), a context (at most 10 elements).
fn assert_slack_shape(body: &Value, alert: &Alert) {
    assert_eq!(body["text"], alert.sentence.as_str());
    let blocks = body["blocks"].as_array().expect("blocks");
    assert!(blocks.len() <= 50);
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[0]["text"]["type"], "plain_text");
    assert!(chars(&blocks[0]["text"]["text"]) <= 150 && chars(&blocks[0]["text"]["text"]) > 0);
    assert!(blocks[0]["text"]["text"]
        .as_str()
        .unwrap()
        .contains(&alert.channel));
    assert_eq!(blocks[1]["type"], "section");
    assert_eq!(blocks[1]["text"]["type"], "mrkdwn");
    assert_eq!(blocks[1]["text"]["text"], alert.sentence.as_str());
    let fields = blocks[1]["fields"].as_array().unwrap();
    assert!(!fields.is_empty() && fields.len() <= 10);
    for f in fields {
        assert_eq!(f["type"], "mrkdwn");
        assert!(chars(&f["text"]) <= 2_000);
    }
    assert_eq!(blocks[2]["type"], "context");
    let elements = blocks[2]["elements"].as_array().unwrap();
    assert!(!elements.is_empty() && elements.len() <= 10);
    assert!(elements[0]["text"]
        .as_str()
        .unwrap()
        .contains(&alert.alert_id));
}

/// The Discord webhook body (discord.com/developers/docs/resources/webhook#execute-webhook): at most
/// 10 embeds; an embed's title 256, description 4,096, at most 25 fields (name 256, value 1,024),
/// footer text 2,048, 6,000 characters in all; `timestamp` ISO-8601; `color` an RGB integer.
fn assert_discord_shape(body: &Value, alert: &Alert) {
    assert_eq!(body["allowed_mentions"]["parse"], serde_json::json!([]));
    let embeds = body["embeds"].as_array().expect("embeds");
    assert!(!embeds.is_empty() && embeds.len() <= 10);
    let e = &embeds[0];
    assert!(chars(&e["title"]) <= 256 && e["title"].as_str().unwrap().contains(&alert.channel));
    assert_eq!(e["description"], alert.sentence.as_str());
    assert!(chars(&e["description"]) <= 4_096);
    let colour = e["color"].as_u64().unwrap();
    assert!(colour <= 0xFF_FFFF);
    let ts = e["timestamp"].as_str().unwrap();
    assert_eq!(
        chatpulse::time::civil::parse_timestamp_ms(ts, 0),
        Some(alert.window_end),
        "{ts}"
    );
    let fields = e["fields"].as_array().unwrap();
    assert!(fields.len() <= 25);
    let mut total = chars(&e["title"]) + chars(&e["description"]) + chars(&e["footer"]["text"]);
    for f in fields {
        assert!(chars(&f["name"]) <= 256 && chars(&f["value"]) <= 1_024);
        assert!(f["inline"].is_boolean());
        total += chars(&f["name"]) + chars(&f["value"]);
    }
    assert!(chars(&e["footer"]["text"]) <= 2_048);
    assert!(e["footer"]["text"]
        .as_str()
        .unwrap()
        .contains(&alert.alert_id));
    assert!(total <= 6_000);
}

fn destinations(rx: &WebhookReceiver) -> Vec<String> {
    [
        "--slack-url".to_owned(),
        rx.url("/slack"),
        "--discord-url".to_owned(),
        rx.url("/discord"),
        "--webhook-url".to_owned(),
        rx.url("/hook"),
        "--webhook-secret".to_owned(),
        SECRET.to_owned(),
    ]
    .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_delivers_every_alert_to_each_destination_through_500s_429s_and_hangs() {
    let rx = WebhookReceiver::start().await;
    rx.script("/slack", [Reply::Status(500), Reply::Status(503)]);
    rx.script("/discord", [Reply::Status(200), Reply::TooMany("1".into())]);
    rx.script("/hook", [Reply::Hang]);
    let Setup {
        sent,
        topic,
        group,
        dlq,
        log,
        _dir,
    } = setup(12).await;
    let child = notify(&topic, &group, &dlq, &destinations(&rx), &log);
    let ids: BTreeSet<String> = sent.iter().map(|a| a.alert_id.clone()).collect();
    finish(child, &rx, &ids, (&topic, &group), &log).await;
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        !text.contains(&rx.url("/")) && !text.contains(SECRET),
        "a URL or secret logged: {text}"
    );

    let by_id: BTreeMap<&str, &Alert> = sent.iter().map(|a| (a.alert_id.as_str(), a)).collect();
    for path in PATHS {
        let got = rx.at(path);
        // The failed attempts are retried with the same id; each alert is taken exactly once here
        // (no crash), in the topic's order.
        let taken_order: Vec<&str> = got
            .iter()
            .filter(|r| r.taken())
            .map(|r| r.header("Idempotency-Key").unwrap())
            .collect();
        let order: Vec<&str> = sent.iter().map(|a| a.alert_id.as_str()).collect();
        assert_eq!(taken_order, order, "{path}");
        for r in &got {
            let id = r.header("Idempotency-Key").unwrap();
            assert_eq!(r.header("X-Chatpulse-Alert-Id"), Some(id));
            let alert = by_id[id];
            match path {
                "/slack" => assert_slack_shape(&r.json(), alert),
                "/discord" => assert_discord_shape(&r.json(), alert),
                _ => {
                    let ts: i64 = r.header("X-Chatpulse-Timestamp").unwrap().parse().unwrap();
                    let sig = r.header("X-Chatpulse-Signature").unwrap();
                    assert!(verify(SECRET.as_bytes(), ts, &r.body, sig), "bad signature");
                    let back: Alert = serde_json::from_value(r.json()).unwrap();
                    assert_eq!(&back, alert);
                }
            }
        }
        // The rate limit: requests to one destination at least --min-interval (50 ms) apart
        // (10 ms allowed for the network between the client's start and the arrival).
        for w in got.windows(2) {
            let gap = w[1].at.duration_since(w[0].at);
            assert!(gap >= Duration::from_millis(40), "{path}: {gap:?}");
        }
    }
    // Retries: slack's first alert twice more, the hook's first once more (after the timeout).
    assert_eq!(rx.at("/slack").len(), sent.len() + 2);
    assert_eq!(rx.at("/hook").len(), sent.len() + 1);
    let hook = rx.at("/hook");
    assert_eq!(hook[0].reply, Reply::Hang);
    assert_eq!(
        hook[0].header("Idempotency-Key"),
        hook[1].header("Idempotency-Key")
    );
    // The 429's Retry-After (1 s) is waited out before the next request to discord.
    let discord: Vec<Received> = rx.at("/discord");
    assert_eq!(discord[1].reply, Reply::TooMany("1".into()));
    let waited = discord[2].at.duration_since(discord[1].at);
    assert!(waited >= Duration::from_millis(950), "{waited:?}");
    assert_eq!(
        discord[1].header("Idempotency-Key"),
        discord[2].header("Idempotency-Key")
    );
    assert!(
        read_topic(&dlq, 1, Duration::from_secs(2)).is_empty(),
        "nothing dead-lettered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_failures_and_spent_retry_budgets_land_in_the_dead_letter_topic() {
    let rx = WebhookReceiver::start().await;
    rx.default_reply("/discord", Reply::Status(404));
    rx.default_reply("/hook", Reply::Status(500));
    let Setup {
        sent,
        topic,
        group,
        dlq,
        log,
        _dir,
    } = setup(4).await;
    let mut extra = destinations(&rx);
    extra.extend(["--max-attempts".to_owned(), "3".to_owned()]);
    let child = notify(&topic, &group, &dlq, &extra, &log);
    let dead = read_topic(&dlq, 2 * sent.len(), Duration::from_secs(90));
    wait_until("the last offset committed", Duration::from_secs(30), || {
        committed(&topic, &group) == sent.len() as i64
    })
    .await;
    stop(child, &log).await;
    assert_eq!(
        dead.len(),
        2 * sent.len(),
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    let ids: BTreeSet<String> = sent.iter().map(|a| a.alert_id.clone()).collect();
    assert_eq!(taken(&rx, "/slack"), ids, "slack took every alert");
    let mut seen = BTreeSet::new();
    for m in &dead {
        let header = |name: &str| {
            m.headers()
                .unwrap()
                .iter()
                .find(|h| h.key == name)
                .and_then(|h| h.value)
                .map(|v| String::from_utf8(v.to_vec()).unwrap())
        };
        let alert: Alert = serde_json::from_slice(m.payload().unwrap()).unwrap();
        assert_eq!(
            header("chatpulse.alert_id").as_deref(),
            Some(alert.alert_id.as_str())
        );
        assert_eq!(m.key(), Some(alert.channel.as_bytes()));
        assert_eq!(
            header("chatpulse.source.topic").as_deref(),
            Some(topic.as_str())
        );
        let reason = header("chatpulse.error").unwrap();
        match header("chatpulse.destination").as_deref() {
            Some("discord") => {
                assert_eq!(reason, "HTTP 404: the destination refused the request")
            }
            Some("webhook") => {
                assert_eq!(reason, "retry budget spent: 3 attempts, the last: HTTP 500")
            }
            other => panic!("destination {other:?}"),
        }
        seen.insert((header("chatpulse.destination").unwrap(), alert.alert_id));
    }
    assert_eq!(seen.len(), 2 * sent.len());
    // 404 once per alert; 500 three times per alert.
    assert_eq!(rx.at("/discord").len(), sent.len());
    assert_eq!(rx.at("/hook").len(), 3 * sent.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkills_of_notify_mid_delivery_lose_no_alert() {
    let rx = WebhookReceiver::start().await;
    // Every answer takes 150 ms, so a kill usually lands while a request is in flight.
    for path in PATHS {
        rx.default_reply(path, Reply::Slow(200, Duration::from_millis(150)));
    }
    let Setup {
        sent,
        topic,
        group,
        dlq,
        log,
        _dir,
    } = setup(30).await;
    let ids: BTreeSet<String> = sent.iter().map(|a| a.alert_id.clone()).collect();
    let mut seed = 0x5eed_u64;
    let mut kills = 0;
    let deadline = Instant::now() + Duration::from_secs(180);
    // Kill after a seeded number of requests beyond the last kill, three times, then let it finish.
    for _ in 0..3 {
        let mut child = notify(&topic, &group, &dlq, &destinations(&rx), &log);
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let until = rx.received().len() + 5 + (seed % 15) as usize;
        while rx.received().len() < until {
            assert!(
                Instant::now() < deadline,
                "no progress: {}",
                std::fs::read_to_string(&log).unwrap()
            );
            if all_taken(&rx, &ids) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        kills += 1;
    }
    let child = notify(&topic, &group, &dlq, &destinations(&rx), &log);
    finish(child, &rx, &ids, (&topic, &group), &log).await;
    // Duplicates are redeliveries of the same alert with the same id and the same body.
    let mut bodies: BTreeMap<(String, String), Vec<u8>> = BTreeMap::new();
    let mut duplicates = 0;
    for r in rx.received().iter().filter(|r| r.taken()) {
        let key = (
            r.path.clone(),
            r.header("Idempotency-Key").unwrap().to_owned(),
        );
        let body = r.body.clone();
        if let Some(before) = bodies.insert(key, body.clone()) {
            duplicates += 1;
            assert_eq!(before, body, "a redelivery differs");
        }
    }
    assert_eq!(kills, 3);
    assert!(
        read_topic(&dlq, 1, Duration::from_secs(2)).is_empty(),
        "nothing dead-lettered"
    );
    let rejoins = std::fs::read_to_string(&log)
        .unwrap()
        .matches("leaving and re-joining the group")
        .count();
    eprintln!(
        "{kills} SIGKILLs, {} requests, {duplicates} duplicate deliveries, {rejoins} re-joins of a stranded member",
        rx.received().len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avro_alerts_are_decoded_through_the_registry() {
    use chatpulse::avro::encode::encode_datum;
    use chatpulse::avro::registry_for;
    use chatpulse::avro::schemas::AvroSchema;
    use chatpulse::avro::wire::frame;

    let server = crate::support::schema_registry::SchemaRegistryServer::start();
    let rx = WebhookReceiver::start().await;
    let sent = alerts(5);
    let topic = unique("alerts");
    create_topic(&topic, 1).await;
    // As `topologies/alerts.toml` writes them: Avro of avro/alert.avsc, registered.
    let schema = AvroSchema::builtin("alert").unwrap();
    let id = registry_for(&server.url())
        .unwrap()
        .register(&format!("{topic}-value"), &schema.text)
        .await
        .unwrap();
    let producer: FutureProducer = settings().producer_config().create().unwrap();
    for a in &sent {
        let value = frame(
            id,
            &encode_datum(&serde_json::to_value(a).unwrap(), &schema).unwrap(),
        );
        producer
            .send(
                FutureRecord::to(&topic).key(&a.channel).payload(&value),
                Duration::from_secs(30),
            )
            .await
            .map_err(|(e, _)| e)
            .expect("delivered");
    }
    let (group, dlq) = (unique("notify"), unique("alerts-dlq"));
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("notify.log");
    let extra = [
        "--webhook-url".to_owned(),
        rx.url("/hook"),
        "--schema-registry".to_owned(),
        server.url(),
    ];
    let child = notify(&topic, &group, &dlq, &extra, &log);
    wait_until("every Avro alert posted", Duration::from_secs(60), || {
        rx.at("/hook").len() >= sent.len()
    })
    .await;
    stop(child, &log).await;
    let got: Vec<Alert> = rx
        .at("/hook")
        .iter()
        .map(|r| serde_json::from_value(r.json()).unwrap())
        .collect();
    assert_eq!(got, sent, "{}", std::fs::read_to_string(&log).unwrap());
}
