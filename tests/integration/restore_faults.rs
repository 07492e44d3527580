//! Restores that go wrong: local state whose changelog is gone (a new, empty broker) is discarded
//! and rebuilt; a slow restore that keeps reading outlives the stall limit, and a stalled one (the
//! Kafka fault proxy holds every fetch response) fails with an error saying so; the records of an
//! unfinished flush are never adopted by the marker of a later one.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use chatpulse::kafka::restore::{restore_partition, restore_partition_observed};
use chatpulse::kafka::{KafkaError, KafkaSettings};
use chatpulse::store::changelog::{changelog_topic, ChangelogRecord, Marker};
use chatpulse::store::rocks::{RocksBackend, RocksOptions};
use chatpulse::store::{MemoryBackend, StateBackend};
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::engine_support::{end_markers, offline_minutes, produce_with, real_lines, topology};
use crate::harness::{create_topic_on, unique};
use crate::own_broker::{assert_complete, join_within, results_on, start_run, wait_for, OwnBroker};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_state_ahead_of_a_new_brokers_changelog_is_discarded_and_restored() {
    let (input, output, app) = (unique("stale-in"), unique("stale-out"), unique("stale-app"));
    let lines = real_lines(3_000);
    let markers = end_markers(&lines, 2);
    let topology = topology(&app, &input, &output);
    let offline = offline_minutes(&topology, &lines, &markers);
    let state = tempfile::tempdir().unwrap();

    // A first broker: half the input processed and committed into the state dir.
    {
        let old = OwnBroker::direct();
        create_topic_on(&old.settings(), &input, 2).await;
        produce_with(&old.settings(), &input, &lines[..1_500], &[]).await;
        let (control, handle) = start_run(old.settings(), topology.clone(), state.path());
        assert!(
            wait_for(Duration::from_secs(60), || {
                control.processed.load(Ordering::SeqCst) == 1_500
                    && control.commits.load(Ordering::SeqCst) > 2
            }),
            "the first run processes and commits the first half"
        );
        control.stop();
        join_within(handle, Duration::from_secs(60)).expect("the first run");
    }

    // A new, empty broker; the same topology and state dir.
    let new = OwnBroker::direct();
    let settings = new.settings();
    create_topic_on(&settings, &input, 2).await;
    produce_with(&settings, &input, &lines, &markers).await;
    let (control, handle) = start_run(settings.clone(), topology, state.path());
    let ready = wait_for(Duration::from_secs(60), || control.readiness().is_ok());
    assert!(
        ready,
        "the run never became ready: {:?}",
        control.readiness()
    );
    let got = results_on(&settings, &output, &offline);
    control.stop();
    join_within(handle, Duration::from_secs(60)).expect("the run on the new broker");
    assert_complete(&got, &lines, &offline);
}

/// Writes `records` data records and then one flush marker (generation 1) to partition 0 of the
/// changelog of `store`, in small uncompressed batches.
async fn changelog_fixture(settings: &KafkaSettings, app: &str, store: &str, records: usize) {
    let topic = changelog_topic(app, store);
    create_topic_on(settings, &topic, 1).await;
    let producer: FutureProducer = settings
        .producer_config()
        .set("compression.type", "none")
        .set("linger.ms", "0")
        .set("batch.num.messages", "20")
        .create()
        .unwrap();
    let mut rows: Vec<ChangelogRecord> = (0..records)
        .map(|i| {
            ChangelogRecord::data(
                store,
                format!("channel-{i:05}").as_bytes(),
                Some(format!("value of record {i:05} ........................").as_bytes()),
            )
            .unwrap()
        })
        .collect();
    rows.push(ChangelogRecord::marker(&Marker {
        generation: 1,
        input_offset: records as i64,
        more_offsets: Vec::new(),
        watermark_ms: 1_700_000_000_000,
    }));
    let mut sends = Vec::new();
    for row in &rows {
        let mut record = FutureRecord::to(&topic).key(&row.key[..]).partition(0);
        if let Some(v) = &row.value {
            record = record.payload(&v[..]);
        }
        sends.push(producer.send(record, Duration::from_secs(30)));
    }
    for r in futures::future::join_all(sends).await {
        r.expect("changelog record delivered");
    }
}

/// Restores partition 0 of `store` into memory with `stall_timeout`.
fn restore(
    settings: &KafkaSettings,
    app: &str,
    store: &str,
    stall_timeout: Duration,
) -> Result<chatpulse::kafka::restore::RestoreReport, KafkaError> {
    crate::harness::init_logs();
    let mut backend = MemoryBackend::new(&[store]).unwrap();
    restore_partition_observed(
        settings,
        &mut backend,
        app,
        &[store.to_owned()],
        0,
        stall_timeout,
        &mut |_| {},
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_restore_that_keeps_progressing_outlives_the_stall_limit() {
    let broker = OwnBroker::behind_proxy();
    let mut settings = broker.settings();
    let (app, store) = (unique("slow-restore"), "counts");
    changelog_fixture(&settings, &app, store, 300).await;
    // Small fetches, each answered 100 ms late: the restore takes several times the limit (which
    // must exceed the broker's wait for more data at the end, `fetch.wait.max.ms`, 500 ms).
    settings
        .librdkafka_options
        .insert("max.partition.fetch.bytes".into(), "1024".into());
    settings
        .librdkafka_options
        .insert("fetch.max.bytes".into(), "1024".into());
    settings
        .librdkafka_options
        .insert("message.max.bytes".into(), "1024".into());
    broker
        .faults()
        .delay_fetch(Some(Duration::from_millis(100)));
    let limit = Duration::from_millis(1_000);
    let started = Instant::now();
    let report = tokio::task::block_in_place(|| restore(&settings, &app, store, limit))
        .expect("a restore that keeps reading succeeds");
    let took = started.elapsed();
    assert_eq!(report.records_read, 301);
    assert_eq!(report.checkpoint.map(|c| c.generation), Some(1));
    assert!(
        took > limit * 3,
        "the restore took {took:?}, not several times the {limit:?} limit: the fixture is too fast"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_restore_fails_with_an_error_saying_so() {
    let broker = OwnBroker::behind_proxy();
    let settings = broker.settings();
    let (app, store) = (unique("stalled-restore"), "counts");
    changelog_fixture(&settings, &app, store, 100).await;
    broker.faults().hold_fetch(true);
    let limit = Duration::from_millis(800);
    let started = Instant::now();
    let result = tokio::task::block_in_place(|| restore(&settings, &app, store, limit));
    let took = started.elapsed();
    broker.faults().hold_fetch(false);
    let err = result.expect_err("a restore that reads nothing fails");
    assert!(matches!(err, KafkaError::Stalled { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("nothing arrived within")
            && message.contains(&changelog_topic(&app, store)),
        "{message}"
    );
    assert!(
        took >= limit && took < limit + Duration::from_secs(5),
        "failed after {took:?} with a {limit:?} limit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_of_an_unfinished_flush_are_not_adopted_by_the_next_marker() {
    let broker = OwnBroker::direct();
    let settings = broker.settings();
    let (input, output, app) = (
        unique("orphan-in"),
        unique("orphan-out"),
        unique("orphan-app"),
    );
    create_topic_on(&settings, &input, 1).await;
    // No end-of-input line: the last minutes stay open in the state.
    let lines = real_lines(2_000);
    produce_with(&settings, &input, &lines, &[]).await;
    let topology = topology(&app, &input, &output);
    let state = tempfile::tempdir().unwrap();
    let stores = ["counts".to_owned()];
    let committed_state = || {
        RocksBackend::open(state.path(), &["counts"], &RocksOptions::default())
            .unwrap()
            .scan("counts", 0)
            .unwrap()
    };

    let run_until_commits = |commits: u64, processed: u64| {
        let (control, handle) = start_run(settings.clone(), topology.clone(), state.path());
        assert!(wait_for(Duration::from_secs(60), || {
            control.processed.load(Ordering::SeqCst) == processed
                && control.commits.load(Ordering::SeqCst) >= commits
        }));
        control.stop();
        join_within(handle, Duration::from_secs(60)).expect("the run");
    };
    tokio::task::block_in_place(|| run_until_commits(3, lines.len() as u64));
    let before = committed_state();
    let (key, _) = before.first().cloned().expect("open windows in the state");

    // What a kill in the middle of a commit leaves: a changelog record after the last marker
    // (here a tombstone of a key the committed state holds), and no marker after it.
    let producer: FutureProducer = settings.producer_config().create().unwrap();
    producer
        .send(
            FutureRecord::<[u8], ()>::to(&changelog_topic(&app, "counts"))
                .key(&key[..])
                .partition(0),
            Duration::from_secs(30),
        )
        .await
        .expect("tombstone delivered");

    // The restart ignores that record and commits again, with no new input.
    tokio::task::block_in_place(|| run_until_commits(2, 0));
    let after = committed_state();
    assert_eq!(after, before, "no input, no change");

    // A restore from the changelog alone (another instance, a lost disk) reads past the unfinished
    // flush up to the restart's marker, and must still get the committed state.
    let mut fresh = MemoryBackend::new(&["counts"]).unwrap();
    let report =
        tokio::task::block_in_place(|| restore_partition(&settings, &mut fresh, &app, &stores, 0))
            .expect("restore");
    assert!(report.checkpoint.is_some());
    assert_eq!(
        fresh.scan("counts", 0).unwrap(),
        after,
        "the restore adopted the unfinished flush's record"
    );
}

/// Produces `rows` to partition 0 of the changelog of `store` (created here), in order.
async fn write_changelog(
    settings: &KafkaSettings,
    app: &str,
    store: &str,
    rows: &[ChangelogRecord],
) {
    let topic = changelog_topic(app, store);
    create_topic_on(settings, &topic, 1).await;
    let producer: FutureProducer = settings.producer_config().create().unwrap();
    for row in rows {
        let mut record = FutureRecord::to(&topic).key(&row.key[..]).partition(0);
        if let Some(v) = &row.value {
            record = record.payload(&v[..]);
        }
        producer
            .send(record, Duration::from_secs(30))
            .await
            .expect("changelog record delivered");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_restore_to_the_same_flush_when_a_generation_repeats() {
    let broker = OwnBroker::direct();
    let settings = broker.settings();
    let app = unique("repeat-gen");
    let data = |key: &str, value: &str| {
        ChangelogRecord::data("s", key.as_bytes(), Some(value.as_bytes())).unwrap()
    };
    let marker = |generation: u64, input_offset: i64| {
        ChangelogRecord::marker(&Marker {
            generation,
            input_offset,
            more_offsets: Vec::new(),
            watermark_ms: 1_700_000_000_000,
        })
    };
    // Flush 1 complete in both stores. Flush 2 reached only `minute`'s marker before a crash
    // (input offset 200); after the restart flush 2 was written again (input offset 250) and
    // reached only `hour`'s marker before the next crash.
    write_changelog(
        &settings,
        &app,
        "minute",
        &[
            data("m", "1"),
            marker(1, 100),
            data("m", "2"),
            marker(2, 200),
            data("m", "3"),
        ],
    )
    .await;
    write_changelog(
        &settings,
        &app,
        "hour",
        &[
            data("h", "1"),
            marker(1, 100),
            data("h", "2"),
            data("h", "3"),
            marker(2, 250),
        ],
    )
    .await;
    let stores = ["minute".to_owned(), "hour".to_owned()];
    let mut backend = MemoryBackend::new(&["minute", "hour"]).unwrap();
    let report = tokio::task::block_in_place(|| {
        restore_partition(&settings, &mut backend, &app, &stores, 0)
    })
    .expect("restore");
    let checkpoint = report.checkpoint.expect("a complete flush");
    assert_eq!(
        (checkpoint.generation, checkpoint.input_offset),
        (1, 100),
        "both stores must stand at the one flush they both completed"
    );
    assert_eq!(
        backend.scan("minute", 0).unwrap(),
        vec![(b"m".to_vec(), b"1".to_vec())]
    );
    assert_eq!(
        backend.scan("hour", 0).unwrap(),
        vec![(b"h".to_vec(), b"1".to_vec())]
    );
}
