//! `monitor` against the test Helix server and tansu: correct snapshots (live and offline channels,
//! follower totals with the user token, start and end events), app tokens renewed before they expire
//! and after a 401, back-off until `Ratelimit-Reset` after 429s, and polls that go on (and a stop
//! that ends the wait) when that reset is absurd.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chatpulse::avro::wire::unframe;
use chatpulse::avro::{decode_datum, registry_for, value_subject, AvroSchema};
use chatpulse::twitch::helix::client::HelixClient;
use chatpulse::twitch::helix::monitor::{run_monitor, MonitorOptions, MonitorStats};
use chatpulse::twitch::helix::snapshot_sink::{SinkOptions, SNAPSHOT_SCHEMA};
use chatpulse::twitch::helix::{Credentials, HelixError};
use rdkafka::consumer::BaseConsumer;
use rdkafka::Message;
use serde_json::Value;
use tokio::sync::watch;

use crate::harness::{init_logs, is_unknown_topic, reader, settings, unique};
use crate::support::helix_server::{Channel, HelixServer};

fn live(viewers: i64) -> Option<(String, String, i64, String, String)> {
    Some((
        "Just Chatting".into(),
        "hello chat".into(),
        viewers,
        "2024-01-06T16:00:00Z".into(),
        "en".into(),
    ))
}

/// Reads snapshots (Avro in the registry wire format) into `seen` until `cond` holds (bounded).
fn read_until(
    consumer: &BaseConsumer,
    seen: &mut Vec<Value>,
    what: &str,
    cond: impl Fn(&[Value]) -> bool,
) {
    let schema = AvroSchema::builtin(SNAPSHOT_SCHEMA).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond(seen) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {seen:#?}"
        );
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let (_id, datum) = unframe(m.payload().unwrap()).expect("registry wire format");
                seen.push(decode_datum(&schema.schema, datum, None).unwrap());
            }
            Some(Err(e)) if is_unknown_topic(&e) => {}
            Some(Err(e)) => panic!("{e}"),
            None => {}
        }
    }
}

/// Revokes the server's tokens until the monitor's next call after a revocation is answered 401
/// (bounded: 30 s).
async fn revoke_until_a_401(server: &HelixServer) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mark = server.requests().len();
        server.revoke_tokens();
        // The first request after the revocation: a Helix call (401 with the revoked token) or a
        // token renewal that came first.
        let first = loop {
            if let Some(r) = server.requests().into_iter().nth(mark) {
                break r;
            }
            assert!(
                Instant::now() < deadline,
                "the monitor made no call after the revocation"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        if first.status == 401 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no call was answered 401 after revocations (last first request: {})",
            first.line
        );
    }
}

fn of<'a>(seen: &'a [Value], channel: &str) -> Vec<&'a Value> {
    seen.iter().filter(|v| v["channel"] == channel).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_renews_tokens_backs_off_on_429_and_produces_correct_snapshots() {
    init_logs();
    // App tokens live 2 s: the monitor must renew them while it runs.
    let server = HelixServer::start("cid", "csecret", "usertoken", 2).await;
    server.set_channel(
        "nymn",
        Channel {
            id: "62300805".into(),
            stream: live(1234),
            followers: 1_000_000,
        },
    );
    server.set_channel(
        "forsen",
        Channel {
            id: "22484632".into(),
            stream: None,
            followers: 5,
        },
    );
    let topic = unique("streams");
    let registry = unique("registry");
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
        interval: Duration::from_millis(200),
        sink: SinkOptions {
            kafka: settings(),
            topic: topic.clone(),
            partitions: 1,
            replication_factor: 1,
            schema_registry: Some(format!("mock://{registry}")),
        },
    };
    let (stop_tx, stop) = watch::channel(false);
    let task = tokio::spawn(run_monitor(client, options, stop));
    let consumer = reader(&topic);
    let mut seen = Vec::new();
    read_until(&consumer, &mut seen, "first poll", |s| s.len() >= 2);

    let nymn = of(&seen, "nymn")[0];
    assert_eq!(nymn["user_id"], "62300805");
    assert_eq!(nymn["live"], true);
    assert_eq!(nymn["viewers"], 1234);
    assert_eq!(nymn["game"], "Just Chatting");
    assert_eq!(nymn["title"], "hello chat");
    assert_eq!(nymn["started_at"], 1_704_556_800_000i64);
    assert_eq!(nymn["language"], "en");
    assert_eq!(nymn["followers"], 1_000_000);
    assert_eq!(nymn["event"], "stream_start");
    let forsen = of(&seen, "forsen")[0];
    assert_eq!(forsen["live"], false);
    assert_eq!(forsen["viewers"], 0);
    assert_eq!(forsen["followers"], 5);
    assert_eq!(forsen["game"], Value::Null);
    assert_eq!(forsen["event"], Value::Null);

    // 429s: no Helix call may come before the announced reset.
    let reset_ms = server.refuse_next(2, 1);
    let before = seen.len();
    read_until(&consumer, &mut seen, "a poll after the 429s", |s| {
        s.len() >= before + 4
    });
    let requests = server.requests();
    let refused: Vec<_> = requests.iter().filter(|r| r.status == 429).collect();
    assert_eq!(refused.len(), 2);
    let first_429 = refused[0].at_ms;
    for r in requests
        .iter()
        .filter(|r| r.at_ms >= first_429 && r.line.starts_with("GET /helix"))
    {
        assert!(
            r.status == 429 && r.at_ms == first_429 || r.at_ms >= reset_ms,
            "{} at {} before the reset {reset_ms}",
            r.line,
            r.at_ms
        );
    }

    // A revoked token: the 401 leads to a new token and the polls go on. The monitor also renews
    // its 2 s token before it expires; when that renewal falls between the revocation and the next
    // call, the call carries a fresh token and gets no 401, so revoke again until one does.
    revoke_until_a_401(&server).await;
    let before = seen.len();
    read_until(&consumer, &mut seen, "polls after the revocation", |s| {
        s.len() >= before + 4
    });

    // Stream end and start.
    server.set_channel(
        "nymn",
        Channel {
            id: "62300805".into(),
            stream: None,
            followers: 1_000_001,
        },
    );
    server.set_channel(
        "forsen",
        Channel {
            id: "22484632".into(),
            stream: live(50),
            followers: 6,
        },
    );
    read_until(&consumer, &mut seen, "end and start events", |s| {
        s.iter()
            .any(|v| v["channel"] == "nymn" && v["event"] == "stream_end")
            && s.iter()
                .any(|v| v["channel"] == "forsen" && v["event"] == "stream_start")
    });
    stop_tx.send(true).unwrap();
    let stats = task.await.unwrap().unwrap();
    assert!(
        stats.polls >= 4 && stats.snapshots == stats.polls * 2,
        "{stats:?}"
    );

    let events: BTreeMap<(String, String), usize> = seen
        .iter()
        .filter(|v| !v["event"].is_null())
        .fold(BTreeMap::new(), |mut m, v| {
            *m.entry((
                v["channel"].as_str().unwrap().to_owned(),
                v["event"].as_str().unwrap().to_owned(),
            ))
            .or_default() += 1;
            m
        });
    assert_eq!(
        events.len(),
        3,
        "one start of nymn, one end of nymn, one start of forsen: {events:?}"
    );
    assert!(events.values().all(|&n| n == 1), "{events:?}");

    let registered = registry_for(&format!("mock://{registry}"))
        .unwrap()
        .latest(&value_subject(&topic))
        .await
        .unwrap();
    assert!(registered.schema.contains("StreamSnapshot"));

    let requests = server.requests();
    let tokens = requests
        .iter()
        .filter(|r| r.line == "POST /oauth2/token")
        .count();
    assert!(
        tokens >= 2,
        "the 2 s token was renewed: {tokens} token requests"
    );
    let after_401 = requests
        .iter()
        .position(|r| r.status == 401)
        .expect("the revoked token got a 401");
    assert_eq!(
        requests[after_401 + 1].line,
        "POST /oauth2/token",
        "renewed right after the 401"
    );
    assert!(
        requests.iter().all(|r| r.status != 400),
        "credentials accepted"
    );
}

/// A monitor of `nymn` on `server` writing Avro snapshots to a new topic; returns its task, its
/// stop switch and a reader of the topic.
fn start_monitor(
    server: &HelixServer,
    client: HelixClient,
) -> (
    tokio::task::JoinHandle<Result<MonitorStats, HelixError>>,
    watch::Sender<bool>,
    BaseConsumer,
) {
    let topic = unique("streams");
    let options = MonitorOptions {
        channels: vec!["nymn".into()],
        interval: Duration::from_millis(200),
        sink: SinkOptions {
            kafka: settings(),
            topic: topic.clone(),
            partitions: 1,
            replication_factor: 1,
            schema_registry: Some(format!("mock://{}", unique("registry"))),
        },
    };
    server.set_channel(
        "nymn",
        Channel {
            id: "62300805".into(),
            stream: live(1234),
            followers: 1,
        },
    );
    let (stop_tx, stop) = watch::channel(false);
    (
        tokio::spawn(run_monitor(client, options, stop)),
        stop_tx,
        reader(&topic),
    )
}

fn app_client(server: &HelixServer) -> HelixClient {
    HelixClient::new(
        &server.url(),
        &server.url(),
        Credentials {
            client_id: "cid".into(),
            client_secret: "csecret".into(),
            user_token: None,
        },
    )
    .unwrap()
}

/// `Ratelimit-Reset` values no real bucket has: the largest i64 (overflows in milliseconds) and a
/// reset ten years ahead (a wait that would never end).
fn absurd_resets() -> [String; 2] {
    let ten_years_s = 10 * 365 * 86_400;
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    [i64::MAX.to_string(), (now_s + ten_years_s).to_string()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_keeps_polling_through_huge_and_far_future_rate_limit_resets() {
    init_logs();
    let server = HelixServer::start("cid", "csecret", "usertoken", 3600).await;
    // Waits capped at 1 s instead of a minute, to keep the test short.
    let client = app_client(&server).with_max_wait(Duration::from_secs(1));
    let (task, stop_tx, consumer) = start_monitor(&server, client);
    let mut seen = Vec::new();
    read_until(&consumer, &mut seen, "first poll", |s| !s.is_empty());
    for reset in absurd_resets() {
        server.refuse_next_with_reset(1, &reset);
        let refused = server.requests().len();
        let before = seen.len();
        read_until(
            &consumer,
            &mut seen,
            &format!("polls after a 429 with Ratelimit-Reset {reset}"),
            |s| s.len() >= before + 2,
        );
        assert!(
            server.requests()[refused..].iter().any(|r| r.status == 429),
            "the 429 was answered"
        );
        assert!(!task.is_finished(), "the monitor is still running");
    }
    stop_tx.send(true).unwrap();
    let stats = task.await.unwrap().unwrap();
    assert!(stats.polls >= 5, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_ends_a_monitor_waiting_out_a_rate_limit() {
    init_logs();
    let server = HelixServer::start("cid", "csecret", "usertoken", 3600).await;
    let (task, stop_tx, consumer) = start_monitor(&server, app_client(&server));
    let mut seen = Vec::new();
    read_until(&consumer, &mut seen, "first poll", |s| !s.is_empty());
    let [_, far] = absurd_resets();
    server.refuse_next_with_reset(100, &far);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.requests().iter().any(|r| r.status == 429) {
        assert!(Instant::now() < deadline, "no 429 answered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stopped = Instant::now();
    stop_tx.send(true).unwrap();
    let stats = tokio::time::timeout(Duration::from_secs(3), task)
        .await
        .expect("stop ends the wait for the reset within 3 s")
        .unwrap()
        .unwrap();
    assert!(stopped.elapsed() < Duration::from_secs(3));
    assert!(stats.polls >= 1, "{stats:?}");
}
