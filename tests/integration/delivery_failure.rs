//! A delivery that fails for one sink topic only: the Kafka fault proxy fails every produce request
//! to the sink while the changelog data and flush markers get through. The run stops before a marker
//! covers the lost outputs, and its restart produces every result of the input.

use std::sync::atomic::Ordering;
use std::time::Duration;

use chatpulse::kafka::KafkaError;

use crate::engine_support::{end_markers, offline_minutes, produce_with, real_lines, topology};
use crate::harness::{create_topic_on, unique};
use crate::own_broker::{assert_complete, join_within, results_on, start_run, OwnBroker};

/// MESSAGE_TOO_LARGE: a produce error librdkafka does not retry.
const MESSAGE_TOO_LARGE: i16 = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_only_delivery_failure_loses_no_result_after_a_restart() {
    let broker = OwnBroker::behind_proxy();
    // On a permanent produce error librdkafka's idempotent producer bumps its epoch (KIP-360), and
    // tansu 0.6 then fences it: every later record fails too, markers included, which hides the
    // fault. Without idempotence the failure stays on the sink, as on a Kafka cluster.
    let mut settings = broker.settings();
    settings
        .librdkafka_options
        .insert("enable.idempotence".into(), "false".into());
    let (input, output, app) = (unique("fail-in"), unique("fail-out"), unique("fail-app"));
    create_topic_on(&settings, &input, 2).await;
    let lines = real_lines(4_000);
    let markers = end_markers(&lines, 2);
    let topology = topology(&app, &input, &output);
    let offline = offline_minutes(&topology, &lines, &markers);
    produce_with(&settings, &input, &lines, &markers).await;

    // First run: the sink refuses every record; changelogs and markers would get through.
    broker
        .faults()
        .fail_produce(Some((&output, MESSAGE_TOO_LARGE)));
    let state = tempfile::tempdir().unwrap();
    let (_, handle) = start_run(settings.clone(), topology.clone(), state.path());
    let first = join_within(handle, Duration::from_secs(90));
    let err = first.expect_err("a failed delivery must stop the run");
    assert!(matches!(err, KafkaError::Delivery(..)), "{err}");
    assert!(
        broker
            .faults()
            .failed_produce_partitions
            .load(Ordering::SeqCst)
            > 0,
        "the proxy failed produce requests to the sink"
    );

    // Restart on the same state dir with the sink working again.
    broker.faults().fail_produce(None);
    let (control, handle) = start_run(settings.clone(), topology, state.path());
    let got = results_on(&settings, &output, &offline);
    control.stop();
    let second = join_within(handle, Duration::from_secs(60)).expect("the restart runs");
    assert_complete(&got, &lines, &offline);
    assert!(second.produced > 0, "{second:?}");
}
