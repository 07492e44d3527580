//! The streams engine on a real broker: a topology run on tansu gives the same results as the offline
//! run of the same real log; a restart with the state dir kept restores only the changelog tail; a
//! poison record goes to the DLQ with its reason and the records after it are processed.

use std::sync::Arc;
use std::time::Duration;

use chatpulse::chat::ChatEvent;
use chatpulse::kafka::runner::{run, RunControl, RunOptions, RunStats};
use chatpulse::store::rocks::{RocksBackend, RocksOptions};
use chatpulse::topology::Topology;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Headers;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::Message;
use serde_json::Value;

use crate::engine_support::{end_markers, minutes, offline_minutes, produce, real_lines, topology};
use crate::harness::{create_topic, is_unknown_topic, reader_on, settings, unique};

/// Reads `topic` from the start until `expected` records arrived (bounded by `timeout`).
pub fn read_topic(
    topic: &str,
    expected: usize,
    timeout: Duration,
) -> Vec<rdkafka::message::OwnedMessage> {
    read_topic_on(&settings(), topic, expected, timeout)
}

/// [`read_topic`] on the broker of `settings`.
pub fn read_topic_on(
    settings: &chatpulse::kafka::KafkaSettings,
    topic: &str,
    expected: usize,
    timeout: Duration,
) -> Vec<rdkafka::message::OwnedMessage> {
    let consumer = reader_on(settings, topic);
    let deadline = std::time::Instant::now() + timeout;
    let mut got = Vec::new();
    while got.len() < expected && std::time::Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(msg)) => got.push(msg.detach()),
            // The run creates its output topics; until then the reader sees them as unknown.
            Some(Err(e)) if is_unknown_topic(&e) => {}
            Some(Err(e)) => panic!("consume {topic}: {e}"),
            None => {}
        }
    }
    got
}

/// Runs `topology` on a thread with RocksDB state in `state`, without a registry.
pub fn start(
    topology: Topology,
    state: &std::path::Path,
) -> (Arc<RunControl>, std::thread::JoinHandle<RunStats>) {
    start_with(topology, state, RunControl::new(), None)
}

/// Runs `topology` on a thread with RocksDB state in `state` and Avro sinks served by `registry`.
pub fn start_with_registry(
    topology: Topology,
    state: &std::path::Path,
    registry: Option<String>,
) -> (Arc<RunControl>, std::thread::JoinHandle<RunStats>) {
    start_with(topology, state, RunControl::new(), registry)
}

/// Runs `topology` on the test broker in a thread, observed through `control`.
pub(crate) fn start_with(
    topology: Topology,
    state: &std::path::Path,
    control: Arc<RunControl>,
    registry: Option<String>,
) -> (Arc<RunControl>, std::thread::JoinHandle<RunStats>) {
    crate::harness::init_logs();
    let stores = topology.stores();
    let refs: Vec<&str> = stores.iter().map(String::as_str).collect();
    let backend = RocksBackend::open(state, &refs, &RocksOptions::default()).unwrap();
    let options = RunOptions {
        kafka: settings(),
        instance_id: unique("instance"),
        shutdown_timeout: Duration::from_secs(30),
        replication_factor: 1,
        schema_registry: registry,
        restore_stall_timeout: chatpulse::kafka::restore::DEFAULT_STALL_TIMEOUT,
    };
    let shared = control.clone();
    let handle =
        std::thread::spawn(move || run(topology, options, Box::new(backend), shared).expect("run"));
    (control, handle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_run_equals_offline_run_on_real_chat() {
    let (input, output) = (unique("engine-in"), unique("engine-out"));
    let app = unique("engine-app");
    create_topic(&input, 4).await;
    let lines = real_lines(6_000);
    let markers = end_markers(&lines, 4);
    let topology = topology(&app, &input, &output);
    let expected = offline_minutes(&topology, &lines, &markers);
    assert!(
        expected.len() > 50,
        "the slice spans many channel-minutes: {}",
        expected.len()
    );

    produce(&input, &lines, &markers).await;
    let state = tempfile::tempdir().unwrap();
    let (shutdown, handle) = start(topology, state.path());
    let got = read_topic(&output, expected.len(), Duration::from_secs(120));
    shutdown.stop();
    let stats = handle.join().unwrap();

    let values: Vec<Value> = got
        .iter()
        .map(|m| serde_json::from_slice(m.payload().unwrap()).unwrap())
        .collect();
    assert_eq!(
        stats.processed as usize,
        lines.len() + markers.len(),
        "{stats:?}"
    );
    assert_eq!(
        minutes(&values),
        expected,
        "Kafka and offline results differ; {stats:?}"
    );
    assert_eq!(stats.dead_letters, 0);
    assert!(stats.commits > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_with_state_dir_restores_only_the_changelog_tail() {
    let (input, output) = (unique("restart-in"), unique("restart-out"));
    let app = unique("restart-app");
    create_topic(&input, 2).await;
    let lines = real_lines(3_000);
    let (first, second) = lines.split_at(1_500);
    let state = tempfile::tempdir().unwrap();

    // First run: half the data, no end marker, so windows stay open in state.
    produce(&input, first, &[]).await;
    let (shutdown, handle) = start(topology(&app, &input, &output), state.path());
    wait_for_committed(&app, &input, 2, first.len() as i64).await;
    shutdown.stop();
    let run1 = handle.join().unwrap();
    assert_eq!(run1.processed as usize, first.len());
    assert_eq!(
        run1.restored_records, 0,
        "nothing to restore on a first start"
    );

    // Restart with the same state dir: the local checkpoint already holds everything.
    let markers = end_markers(&lines, 2);
    produce(&input, second, &markers).await;
    let expected = offline_minutes(&topology(&app, &input, &output), &lines, &markers);
    let (shutdown, handle) = start(topology(&app, &input, &output), state.path());
    let got = read_topic(&output, expected.len(), Duration::from_secs(120));
    shutdown.stop();
    let run2 = handle.join().unwrap();
    assert_eq!(
        run2.restored_records, 0,
        "a kept state dir restores only the (empty) tail"
    );
    assert_eq!(
        run2.processed as usize,
        second.len() + markers.len(),
        "resumes after the committed input"
    );
    let values: Vec<Value> = got
        .iter()
        .map(|m| serde_json::from_slice(m.payload().unwrap()).unwrap())
        .collect();
    assert_eq!(minutes(&values), expected);

    // A third start with an empty state dir must rebuild from the whole changelog.
    let fresh = tempfile::tempdir().unwrap();
    let (shutdown, handle) = start(topology(&app, &input, &output), fresh.path());
    wait_for_assignment(&shutdown, 2).await;
    shutdown.stop();
    let run3 = handle.join().unwrap();
    assert!(
        run3.restored_records > 0,
        "an empty state dir restores from the changelog"
    );
    assert_eq!(
        run3.processed, 0,
        "nothing new to process: the position came back with the state"
    );
}

/// Waits until the group committed `total` input records over `partitions` partitions.
pub async fn wait_for_committed(group: &str, topic: &str, partitions: i32, total: i64) {
    wait_for_committed_on(&settings(), group, topic, partitions, total).await;
}

/// [`wait_for_committed`] on the broker `kafka` names.
pub async fn wait_for_committed_on(
    kafka: &chatpulse::kafka::KafkaSettings,
    group: &str,
    topic: &str,
    partitions: i32,
    total: i64,
) {
    let consumer: BaseConsumer = kafka.consumer_config(group).create().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let mut tpl = rdkafka::TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition(topic, p);
        }
        let committed = consumer
            .committed_offsets(tpl, Duration::from_secs(10))
            .unwrap();
        let sum: i64 = committed
            .elements()
            .iter()
            .filter_map(|e| e.offset().to_raw())
            .filter(|o| *o > 0)
            .sum();
        drop(committed);
        if sum >= total {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {sum} of {total} offsets committed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the run owns `partitions` partitions, restored.
async fn wait_for_assignment(control: &RunControl, partitions: i64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while control.assigned.load(std::sync::atomic::Ordering::SeqCst) < partitions {
        assert!(
            std::time::Instant::now() < deadline,
            "no assignment within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_records_go_to_the_dlq_and_processing_continues() {
    let (input, output) = (unique("poison-in"), unique("poison-out"));
    let app = unique("poison-app");
    create_topic(&input, 1).await;
    let mut lines = real_lines(400);
    lines.insert(
        100,
        "@tmi-sent-ts=not-a-number :a!a@a PRIVMSG #x :broken".to_owned(),
    );
    lines.insert(200, ":::".to_owned());
    let markers = end_markers(&lines[..100], 1);
    let topology = topology(&app, &input, &output);
    let clean: Vec<String> = lines
        .iter()
        .filter(|l| ChatEvent::parse(l).is_ok())
        .cloned()
        .collect();
    let expected = offline_minutes(&topology, &clean, &markers);

    produce_unkeyed(&input, &lines, &markers).await;
    let state = tempfile::tempdir().unwrap();
    let (shutdown, handle) = start(topology.clone(), state.path());
    let got = read_topic(&output, expected.len(), Duration::from_secs(120));
    let dlq = read_topic(&topology.dlq_topic(), 2, Duration::from_secs(60));
    shutdown.stop();
    let stats = handle.join().unwrap();

    assert_eq!(stats.dead_letters, 2);
    assert_eq!(dlq.len(), 2);
    let reasons: Vec<String> = dlq
        .iter()
        .map(|m| {
            let h = m.headers().expect("DLQ records carry headers");
            let reason = h
                .iter()
                .find(|h| h.key == "chatpulse.error")
                .unwrap()
                .value
                .unwrap();
            let offset = h
                .iter()
                .find(|h| h.key == "chatpulse.source.offset")
                .unwrap()
                .value
                .unwrap();
            assert!(!offset.is_empty());
            String::from_utf8(reason.to_vec()).unwrap()
        })
        .collect();
    assert!(reasons[0].contains("timestamp"), "{reasons:?}");
    assert!(reasons[1].contains("unparseable"), "{reasons:?}");
    assert_eq!(
        dlq[0].payload().unwrap(),
        lines[100].as_bytes(),
        "the DLQ keeps the record unchanged"
    );
    let values: Vec<Value> = got
        .iter()
        .map(|m| serde_json::from_slice(m.payload().unwrap()).unwrap())
        .collect();
    assert_eq!(
        minutes(&values),
        expected,
        "records after the poison ones were processed"
    );
}

async fn produce_unkeyed(topic: &str, lines: &[String], markers: &[(i32, String)]) {
    let producer: FutureProducer = settings().producer_config().create().unwrap();
    for line in lines {
        producer
            .send(
                FutureRecord::<(), _>::to(topic).partition(0).payload(line),
                Duration::from_secs(30),
            )
            .await
            .expect("delivered");
    }
    for (p, line) in markers {
        producer
            .send(
                FutureRecord::<(), _>::to(topic).partition(*p).payload(line),
                Duration::from_secs(30),
            )
            .await
            .expect("delivered");
    }
}
