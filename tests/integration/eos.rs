//! The exactly-once path on rdkafka's MockCluster: transactions, offsets sent with the transaction,
//! and an abort-and-rewind after an injected failure. The mock accepts the transaction calls but
//! does not model their semantics (no commit/abort markers), so this proves the code path runs, not
//! the guarantee; the README says EOS semantics are verified only against a real Kafka cluster.

use std::sync::atomic::Ordering;

use std::time::{Duration, Instant};

use chatpulse::chat::ChatEvent;
use chatpulse::kafka::runner::{run, RunControl, RunOptions};
use chatpulse::kafka::KafkaSettings;
use chatpulse::store::changelog::changelog_topic;
use chatpulse::store::memory::MemoryBackend;
use chatpulse::topology::Topology;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

use crate::harness::{repo_file, unique};

#[tokio::test(flavor = "current_thread")]
async fn exactly_once_loop_commits_and_recovers_from_an_abort_on_mock_cluster() {
    exactly_once_run(false).await;
}

/// The same with a second input, a table joined by the processor: the transaction carries the
/// offsets of both topics, and the rewind seeks both (the table's back to its start).
#[tokio::test(flavor = "current_thread")]
async fn exactly_once_with_a_joined_table_commits_and_recovers_from_an_abort_on_mock_cluster() {
    exactly_once_run(true).await;
}

async fn exactly_once_run(join: bool) {
    crate::harness::init_logs();
    let mock = MockCluster::new(1).expect("mock cluster");
    let brokers = mock.bootstrap_servers();
    let app = unique("eos-app");
    let (input, output, streams) = ("eos-in", "eos-out", "eos-streams");
    let (kind, table) = if join {
        (
            "engagement\"\njoin = { table = \"streams\" }\nsource = \"chat",
            format!(
                "[[source]]\nname = \"streams\"\ntopic = \"{streams}\"\nformat = \"json\"\ntimestamp = \"field\"\ntable = {{}}"
            ),
        )
    } else {
        ("chat_count\"\nsource = \"chat", String::new())
    };
    let topology = Topology::parse(&format!(
        r#"
application_id = "{app}"
[[source]]
name = "chat"
topic = "{input}"
{table}
[[processor]]
name = "per-minute"
kind = "{kind}"
sink = "minutes"
window = {{ kind = "tumbling", size = "1m", grace = "5s" }}
store = "counts"
[[sink]]
name = "minutes"
topic = "{output}"
[settings]
commit_interval = "200ms"
processing_guarantee = "exactly_once_v2"
"#
    ))
    .unwrap();
    for topic in [
        input.to_owned(),
        streams.to_owned(),
        output.to_owned(),
        topology.dlq_topic(),
        // librdkafka's mock cluster has no CreateTopics: every topic `run` creates is made here.
        topology.late_topic.clone(),
        changelog_topic(&app, "counts"),
    ] {
        mock.create_topic(&topic, 2, 1).unwrap();
    }

    let text = std::fs::read_to_string(repo_file("data/sample/nymn-2024-01-06.irc.txt")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let producer: FutureProducer = KafkaSettings::new(&brokers)
        .producer_config()
        .create()
        .unwrap();
    for (i, line) in lines.iter().enumerate() {
        let channel = ChatEvent::parse(line).unwrap().channel;
        producer
            .send(
                FutureRecord::to(input)
                    .key(channel)
                    .payload(*line)
                    .partition((i % 2) as i32),
                Duration::from_secs(10),
            )
            .await
            .expect("delivered to the mock");
    }
    // One snapshot per channel and minute of the slice (DERIVED: viewers 1000 + minute index),
    // split over the table's two partitions like the chat, by channel.
    let mut rows = 0u64;
    if join {
        let first = ChatEvent::parse(lines[0]).unwrap().ts_ms.unwrap() / 60_000 * 60_000;
        for m in 0..10i64 {
            let row = format!(
                r#"{{"channel":"nymn","viewers":{},"ts":{}}}"#,
                1_000 + m,
                first + m * 60_000
            );
            producer
                .send(
                    FutureRecord::to(streams)
                        .key("nymn")
                        .payload(&row)
                        .partition(0),
                    Duration::from_secs(10),
                )
                .await
                .expect("delivered to the mock");
            rows += 1;
        }
    }

    // The first AddOffsetsToTxn fails with an error that requires an abort.
    mock.request_errors(
        RDKafkaApiKey::AddOffsetsToTxn,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED],
    );

    let control = RunControl::new();
    let options = RunOptions {
        kafka: KafkaSettings::new(&brokers),
        instance_id: "eos-test".into(),
        shutdown_timeout: Duration::from_secs(10),
        replication_factor: 1,
        schema_registry: None,
        restore_stall_timeout: chatpulse::kafka::restore::DEFAULT_STALL_TIMEOUT,
    };
    let shared = control.clone();
    let backend = MemoryBackend::new(&["counts"]).unwrap();
    let handle = std::thread::spawn(move || run(topology, options, Box::new(backend), shared));

    // Wait until every record was processed and two more commits went through.
    let deadline = Instant::now() + Duration::from_secs(90);
    let total = lines.len() as u64 + rows;
    while control.processed.load(Ordering::SeqCst) < total {
        if handle.is_finished() {
            panic!("the run stopped early: {:?}", handle.join().unwrap());
        }
        assert!(
            Instant::now() < deadline,
            "processed only {}",
            control.processed.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let commits = control.commits.load(Ordering::SeqCst);
    while control.commits.load(Ordering::SeqCst) < commits + 2 {
        assert!(Instant::now() < deadline, "no commit after processing");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    control.stop();
    let stats = handle
        .join()
        .unwrap()
        .expect("the exactly-once run ends without error");
    assert!(
        stats.aborts >= 1,
        "the injected failure was recovered by an abort: {stats:?}"
    );
    assert!(stats.commits >= 2, "{stats:?}");
    assert!(
        stats.processed >= total,
        "records after the rewind were processed again: {stats:?}"
    );
    assert_eq!(stats.dead_letters, 0);
}
