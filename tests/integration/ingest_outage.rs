//! `ingest` while the broker is away for 30 s: no line is lost. tansu's memory storage forgets
//! everything on restart, so the count is: lines acknowledged before the outage + lines in the topic of
//! the restarted broker (same port) = lines sent, and the counters say so.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chatpulse::ingest::{start_producer, IngestMetrics, ProducerOptions};
use chatpulse::kafka::topics::ensure_topic;
use chatpulse::kafka::KafkaSettings;
use chatpulse::twitch::irc::run_client;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::Message;
use tokio::sync::watch;

use crate::broker_process::Broker;
use crate::harness::{data_dir, free_port, init_logs, unique, wait_until};
use crate::ingest::test_config;
use crate::support::irc_server::{real_lines, IrcServer};

async fn create(settings: &KafkaSettings, topic: &str) {
    ensure_topic(settings, topic, 1, 1).await.expect("topic");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_away_for_30_s_loses_no_line() {
    init_logs();
    let mut broker = Broker::start(free_port());
    let settings = broker.settings();
    let topic = unique("outage-raw");
    create(&settings, &topic).await;
    let metrics = IngestMetrics::new();
    let mut options = ProducerOptions::new(settings.clone(), &topic);
    options.partitions = 1;
    options.replication_factor = 1;
    let (sink, sink_task) = start_producer(options, metrics.clone()).await.unwrap();
    let server = IrcServer::start().await;
    let (_ch_tx, ch_rx) = watch::channel(BTreeSet::from(["nymn".to_owned()]));
    let (stop_tx, stop_rx) = watch::channel(false);
    let client = tokio::spawn(run_client(test_config(&server), ch_rx, sink, stop_rx));
    server
        .wait_until("nymn joined", Duration::from_secs(10), |s| {
            s.joined("nymn") == 1
        })
        .await;

    // 100 unique real lines a second until told to stop.
    let base = real_lines(&data_dir(), "nymn", 800);
    let talking = Arc::new(AtomicBool::new(true));
    let (srv, on) = (server.clone(), talking.clone());
    let talker = tokio::spawn(async move {
        let mut seq = 0usize;
        while on.load(Ordering::SeqCst) {
            let batch: Vec<String> = (0..10)
                .map(|i| format!("{} {}", base[(seq + i) % base.len()], seq + i))
                .collect();
            seq += batch.len();
            assert_eq!(srv.broadcast("nymn", &batch), 1);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });

    let wait = |what: &'static str, cond: Box<dyn Fn() -> bool + Send>| {
        wait_until(what, Duration::from_secs(120), cond)
    };
    let m = metrics.clone();
    wait(
        "300 lines acknowledged",
        Box::new(move || m.totals().produced >= 300),
    )
    .await;
    broker.kill();
    // The outage itself is the scenario: 30 s without a broker. No acknowledgement can arrive
    // while it is down, so the count read in the middle of it is final for the first broker.
    tokio::time::sleep(Duration::from_secs(15)).await;
    let acked_before = metrics.totals().produced;
    tokio::time::sleep(Duration::from_secs(15)).await;
    let during = metrics.totals();
    assert_eq!(
        during.produced, acked_before,
        "nothing acknowledged while away"
    );
    assert!(
        during.received >= acked_before + 2_500,
        "lines kept arriving: {during:?}"
    );

    let broker = Broker::start(broker.port);
    create(&settings, &topic).await;
    let m = metrics.clone();
    let target = during.received + 200;
    wait(
        "lines after the restart",
        Box::new(move || m.totals().received >= target),
    )
    .await;
    talking.store(false, Ordering::SeqCst);
    talker.await.unwrap();
    let sent = server.broadcast_lines();
    let m = metrics.clone();
    // The ROOMSTATE Twitch sends on JOIN is a channel line too: it came first, before any chat.
    assert_eq!(server.joins("nymn"), 1);
    let total = sent.len() as u64 + 1;
    wait(
        "every line acknowledged",
        Box::new(move || m.totals().produced >= total),
    )
    .await;
    stop_tx.send(true).unwrap();
    client.await.unwrap().unwrap();
    assert_eq!(sink_task.await.unwrap().unflushed, 0);

    let t = metrics.totals();
    assert_eq!(
        (t.received, t.produced, t.dropped),
        (total, total, 0),
        "{t:?}"
    );
    let consumer: BaseConsumer = broker
        .settings()
        .consumer_config(&unique("outage-reader"))
        .create()
        .unwrap();
    consumer.subscribe(&[&topic]).unwrap();
    let mut after = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while after.len() < (total - acked_before) as usize && Instant::now() < deadline {
        if let Some(Ok(msg)) = consumer.poll(Duration::from_millis(200)) {
            after.push(String::from_utf8(msg.payload().unwrap().to_vec()).unwrap());
        }
    }
    assert_eq!(acked_before + after.len() as u64, total);
    // One channel, one partition, one connection: order is kept, so the restarted broker holds
    // exactly the chat lines after those acknowledged before the outage (the ROOMSTATE was first).
    assert!(after == sent[acked_before as usize - 1..], "lines differ");
}
