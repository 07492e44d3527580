//! Shared helpers for broker tests: where the broker is, unique names, topic creation, test data.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chatpulse::kafka::KafkaSettings;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;

/// The test broker's address; panics with instructions when the suite was not started by `scripts/test`.
pub fn brokers() -> String {
    std::env::var("CHATPULSE_TEST_BROKERS").unwrap_or_else(|_| {
        panic!("CHATPULSE_TEST_BROKERS is not set: run the tests with `bash scripts/test`, which starts the tansu broker")
    })
}

/// Settings for the test broker.
pub fn settings() -> KafkaSettings {
    KafkaSettings::new(brokers())
}

/// A name no other test (or earlier run against the same broker) uses.
pub fn unique(prefix: &str) -> String {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// Creates `topic` with `partitions` partitions and fails the test if the broker refuses.
pub async fn create_topic(topic: &str, partitions: i32) {
    create_topic_on(&settings(), topic, partitions).await;
}

/// [`create_topic`] on the broker of `settings`.
pub async fn create_topic_on(settings: &KafkaSettings, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> =
        settings.admin_config().create().expect("admin client");
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1))
        .set("retention.ms", "604800000")
        .set("retention.bytes", "-1");
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = admin
        .create_topics([&new], &opts)
        .await
        .expect("CreateTopics request");
    for r in results {
        r.unwrap_or_else(|(t, e)| panic!("creating topic {t}: {e}"));
    }
}

/// A 127.0.0.1 port nothing listens on now (for a server a test starts, or restarts, itself).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A file of the repository.
pub fn repo_file(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// The folder of the real Twitch chat data sets (`CHATPULSE_DATA_DIR`, else `../shared/data/twitch-chat`).
pub fn data_dir() -> PathBuf {
    let dir = std::env::var_os("CHATPULSE_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_file("../shared/data/twitch-chat"));
    assert!(
        dir.is_dir(),
        "real chat data not found at {}: set CHATPULSE_DATA_DIR",
        dir.display()
    );
    dir
}

/// True for the error a reader gets while a topic it subscribed to does not exist yet.
pub fn is_unknown_topic(e: &rdkafka::error::KafkaError) -> bool {
    e.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition)
}

/// A consumer reading `topic` from the start. It subscribes once the topic exists (the run under
/// test creates its output topics), waiting at most 60 s for it.
pub fn reader(topic: &str) -> rdkafka::consumer::BaseConsumer {
    reader_on(&settings(), topic)
}

/// [`reader`] on the broker of `settings`.
pub fn reader_on(settings: &KafkaSettings, topic: &str) -> rdkafka::consumer::BaseConsumer {
    use rdkafka::consumer::Consumer;
    let consumer: rdkafka::consumer::BaseConsumer = settings
        .consumer_config(&unique("reader"))
        .create()
        .expect("reader");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(5));
        if let Ok(md) = md {
            if md
                .topics()
                .iter()
                .any(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
            {
                break;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "topic {topic} was not created within 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    consumer.subscribe(&[topic]).expect("subscribe");
    consumer
}

/// Sends chatpulse's logs to the test's captured output (shown when a test fails).
pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info,librdkafka=warn"))
        .with_test_writer()
        .try_init();
}

/// Waits until `cond` holds, checking every 50 ms; fails the test with `what` after `timeout`.
pub async fn wait_until(what: &str, timeout: Duration, cond: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + timeout;
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
