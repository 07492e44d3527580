//! `ingest` against the test Twitch IRC server and tansu: every chat line arrives in the raw topic
//! exactly once and exactly as sent across a forced RECONNECT and a dropped connection; channels
//! added to and removed from the watched file are joined and parted while running.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chatpulse::ingest::record::CONNECTION_HEADER;
use chatpulse::ingest::{start_producer, IngestMetrics, LineQueue, ProducerOptions, ProducerStats};
use chatpulse::twitch::irc::channels_file::watch_channels_file;
use chatpulse::twitch::irc::{run_client, IrcConfig, Login};
use rdkafka::message::{Headers, Message};
use tokio::sync::watch;

use crate::engine::read_topic;
use crate::harness::{create_topic, data_dir, init_logs, settings, unique};
use crate::support::irc_server::{real_lines, IrcServer};

/// Client settings for the test server: plain TCP, one channel per connection, fast retries.
pub fn test_config(server: &IrcServer) -> IrcConfig {
    let mut config = IrcConfig::twitch(Login::anonymous(42));
    config.addr = server.addr();
    config.tls = false;
    config.channels_per_connection = 1;
    config.backoff_base = Duration::from_millis(50);
    config.backoff_max = Duration::from_millis(500);
    config
}

/// A sink into a new topic of `partitions` partitions on the test broker.
pub async fn test_sink(
    topic: &str,
    partitions: i32,
    metrics: IngestMetrics,
) -> (LineQueue, tokio::task::JoinHandle<ProducerStats>) {
    create_topic(topic, partitions).await;
    let mut options = ProducerOptions::new(settings(), topic);
    options.replication_factor = 1;
    start_producer(options, metrics).await.unwrap()
}

fn channels(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Waits until the sink has every broadcast line and every join's ROOMSTATE acknowledged.
async fn wait_produced(server: &IrcServer, metrics: &IngestMetrics, channels: &[&str]) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let joins: u64 = channels.iter().map(|c| server.joins(c)).sum();
        let want = server.broadcast_lines().len() as u64 + joins;
        let t = metrics.totals();
        if t.produced == want {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "produced {t:?}, want {want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn rejoined(server: &IrcServer, accepted: u64) {
    server
        .wait_until("both channels re-joined", Duration::from_secs(20), |s| {
            s.accepted() >= accepted && s.joined("nymn") == 1 && s.joined("forsen") == 1
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_line_arrives_once_across_a_reconnect_and_a_dropped_connection() {
    init_logs();
    let server = IrcServer::start().await;
    let topic = unique("ingest-raw");
    create_topic(&topic, 2).await;
    let metrics = IngestMetrics::new();
    let mut options = ProducerOptions::new(settings(), &topic);
    options.replication_factor = 1;
    let (sink, sink_task) = start_producer(options, metrics.clone()).await.unwrap();
    let (_channels_tx, channels_rx) = watch::channel(channels(&["nymn", "forsen"]));
    let (stop_tx, stop_rx) = watch::channel(false);
    let client = tokio::spawn(run_client(test_config(&server), channels_rx, sink, stop_rx));

    let nymn = real_lines(&data_dir(), "nymn", 600);
    let forsen = real_lines(&data_dir(), "forsen", 600);
    let both = ["nymn", "forsen"];
    rejoined(&server, 2).await;
    for phase in 0..3 {
        let range = phase * 200..(phase + 1) * 200;
        assert_eq!(server.broadcast("nymn", &nymn[range.clone()]), 1);
        assert_eq!(server.broadcast("forsen", &forsen[range]), 1);
        wait_produced(&server, &metrics, &both).await;
        match phase {
            0 => server.reconnect_all(),
            1 => server.drop_all(),
            _ => break,
        }
        rejoined(&server, 2 * (phase as u64 + 2)).await;
    }
    server.ping_all();
    server
        .wait_until("PONGs", Duration::from_secs(10), |s| {
            s.received()
                .iter()
                .filter(|l| *l == "PONG :tmi.twitch.tv")
                .count()
                >= 2
        })
        .await;
    stop_tx.send(true).unwrap();
    client.await.unwrap().expect("client stops cleanly");
    let stats = sink_task.await.unwrap();
    assert_eq!(stats.unflushed, 0);

    let sent = server.broadcast_lines();
    assert_eq!(sent.len(), 1_200);
    let joins = server.joins("nymn") + server.joins("forsen");
    assert_eq!(joins, 6, "each channel joined on 3 sockets");
    let got = read_topic(
        &topic,
        sent.len() + joins as usize + 1,
        Duration::from_secs(8),
    );
    let mut chat: BTreeMap<String, i64> = BTreeMap::new();
    for l in &sent {
        *chat.entry(l.clone()).or_default() += 1;
    }
    let mut roomstates = 0;
    let mut connections = BTreeSet::new();
    for m in &got {
        let line = std::str::from_utf8(m.payload().unwrap()).unwrap();
        let key = std::str::from_utf8(m.key().unwrap()).unwrap();
        assert!(line.contains(&format!(" #{key}")), "key {key} for {line}");
        let headers = m.headers().unwrap();
        let conn = headers.iter().find(|h| h.key == CONNECTION_HEADER).unwrap();
        connections.insert(conn.value.unwrap().to_vec());
        if line.contains(" ROOMSTATE #") {
            roomstates += 1;
            continue;
        }
        *chat
            .get_mut(line)
            .unwrap_or_else(|| panic!("not sent: {line}")) -= 1;
    }
    assert_eq!(roomstates, joins);
    let wrong: Vec<_> = chat.iter().filter(|(_, &n)| n != 0).collect();
    assert!(wrong.is_empty(), "lost (>0) or duplicated (<0): {wrong:?}");
    assert_eq!(connections.len(), 6, "three sockets per connection");

    let t = metrics.totals();
    assert_eq!(
        (t.received, t.produced, t.dropped),
        (got.len() as u64, got.len() as u64, 0)
    );
    assert_eq!(t.reconnects, 4, "two per connection");
    let received = server.received();
    assert!(received.contains(&"CAP REQ :twitch.tv/tags twitch.tv/commands".to_owned()));
    assert!(received.contains(&"NICK justinfan10042".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_added_and_removed_in_the_file_are_joined_and_parted() {
    init_logs();
    let server = IrcServer::start().await;
    let topic = unique("ingest-file");
    let (sink, sink_task) = test_sink(&topic, 1, IngestMetrics::new()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("channels.txt");
    std::fs::write(&file, "# watched\nnymn\n").unwrap();
    let (channels_tx, channels_rx) = watch::channel(BTreeSet::new());
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(watch_channels_file(
        file.clone(),
        BTreeSet::new(),
        Duration::from_millis(50),
        channels_tx,
        stop_rx.clone(),
    ));
    let mut config = test_config(&server);
    config.channels_per_connection = 10;
    let client = tokio::spawn(run_client(config, channels_rx, sink, stop_rx));
    let t = Duration::from_secs(10);
    server
        .wait_until("nymn joined", t, |s| s.joined("nymn") == 1)
        .await;

    std::fs::write(&file, "nymn, #Forsen\n").unwrap();
    server
        .wait_until("forsen joined", t, |s| s.joined("forsen") == 1)
        .await;
    std::fs::write(&file, "forsen\n").unwrap();
    server
        .wait_until("nymn parted", t, |s| s.joined("nymn") == 0)
        .await;
    assert!(server.received().contains(&"PART #nymn".to_owned()));
    assert_eq!(server.accepted(), 1, "one connection holds both channels");

    stop_tx.send(true).unwrap();
    client.await.unwrap().unwrap();
    sink_task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_stops_the_client_instead_of_reconnecting() {
    init_logs();
    let server = IrcServer::start().await;
    let topic = unique("ingest-login");
    let (sink, sink_task) = test_sink(&topic, 1, IngestMetrics::new()).await;
    let mut config = test_config(&server);
    config.login = Login::Token {
        nick: "ChatBot".into(),
        token: "bad-token".into(),
    };
    let (_channels_tx, channels_rx) = watch::channel(channels(&["nymn"]));
    let (_stop_tx, stop_rx) = watch::channel(false);
    let result = tokio::time::timeout(
        Duration::from_secs(20),
        run_client(config, channels_rx, sink, stop_rx),
    )
    .await
    .expect("the client gives up by itself");
    let err = result.expect_err("login refused");
    assert!(err.to_string().contains("--oauth-token"), "{err}");
    assert_eq!(
        server.accepted(),
        1,
        "no reconnect with refused credentials"
    );
    let received = server.received();
    assert_eq!(
        &received[..3],
        [
            "CAP REQ :twitch.tv/tags twitch.tv/commands",
            "PASS oauth:bad-token",
            "NICK chatbot"
        ]
    );
    sink_task.await.unwrap();
}
