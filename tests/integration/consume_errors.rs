//! A consume error does not skip records: the Kafka fault proxy flips one byte of the first
//! LZ4-compressed input record batch in a fetch response, librdkafka reports that it cannot
//! decompress it and goes on with the next batch, and the run counts the error and reads the batch
//! again.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::engine_support::{end_markers, offline_minutes, produce_with, real_lines, topology};
use crate::harness::{create_topic_on, unique};
use crate::own_broker::{assert_complete, join_within, results_on, start_run, OwnBroker};

/// The magic number that opens every LZ4 frame (little-endian 0x184D2204).
const LZ4_FRAME_MAGIC: [u8; 4] = [0x04, 0x22, 0x4D, 0x18];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_batch_that_cannot_be_decompressed_is_read_again_not_skipped() {
    let broker = OwnBroker::behind_proxy();
    let settings = broker.settings();
    let (input, output, app) = (unique("lz4-in"), unique("lz4-out"), unique("lz4-app"));
    create_topic_on(&settings, &input, 1).await;
    let lines = real_lines(3_000);
    let markers = end_markers(&lines, 1);
    let topology = topology(&app, &input, &output);
    let offline = offline_minutes(&topology, &lines, &markers);
    // Three LZ4 batches (or more): the corrupted first one is followed by good ones.
    produce_with(&settings, &input, &lines[..1_000], &[]).await;
    produce_with(&settings, &input, &lines[1_000..2_000], &[]).await;
    produce_with(&settings, &input, &lines[2_000..], &markers).await;

    broker.faults().corrupt_next_fetch_with(&LZ4_FRAME_MAGIC);
    let state = tempfile::tempdir().unwrap();
    let (control, handle) = start_run(settings.clone(), topology, state.path());
    let got = results_on(&settings, &output, &offline);
    control.stop();
    let stats = join_within(handle, Duration::from_secs(60)).expect("the run");
    assert_eq!(
        broker.faults().corrupted_fetches.load(Ordering::SeqCst),
        1,
        "the proxy corrupted one fetch response"
    );
    let metrics = control.metrics().render();
    assert!(
        metrics.contains(&format!(
            "chatpulse_consume_errors_total{{kind=\"BadCompression\",topic=\"{input}\"}}"
        )),
        "the consume error is counted: {metrics}"
    );
    assert_complete(&got, &lines, &offline);
    assert!(
        stats.processed as usize >= lines.len() + markers.len(),
        "{stats:?}"
    );
}
