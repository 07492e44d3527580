//! Prometheus metrics of a chatpulse process: one [`Metrics`] per process owns its own registry,
//! named by Prometheus conventions (`chatpulse_` prefix, `_total` counters, `_seconds` histograms).
//! The runner records into it; the HTTP server renders it at `/metrics`.

pub mod consumer_lag;

use prometheus::core::Collector;
use prometheus::{
    exponential_buckets, Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter,
    IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Every metric of the engine, registered in one [`Registry`]. Other components (ingest) register
/// their own `chatpulse_ingest_*` metrics in [`Metrics::registry`].
pub struct Metrics {
    registry: Registry,
    names: Vec<String>,
    /// `chatpulse_records_consumed_total{topic, partition}`: input records processed.
    pub records_consumed: IntCounterVec,
    /// `chatpulse_records_produced_total{topic}`: records produced (sinks, DLQ, late, changelogs).
    pub records_produced: IntCounterVec,
    /// `chatpulse_consumer_lag_records{topic, partition}`: high watermark minus position.
    pub consumer_lag: IntGaugeVec,
    /// `chatpulse_processing_latency_seconds`: time to process one input record.
    pub processing_latency: Histogram,
    /// `chatpulse_end_to_end_latency_seconds{topic}`: wall time at emit minus the result's event
    /// time (the window end for window results).
    pub end_to_end_latency: HistogramVec,
    /// `chatpulse_windows_closed_total`: windows closed and emitted final.
    pub windows_closed: IntCounter,
    /// `chatpulse_late_records_total{processor}`: records past grace.
    pub late_records: IntCounterVec,
    /// `chatpulse_dlq_records_total`: records sent to the dead-letter topic.
    pub dlq_records: IntCounter,
    /// `chatpulse_state_store_bytes{store}`: approximate bytes in RocksDB.
    pub store_bytes: IntGaugeVec,
    /// `chatpulse_state_store_keys{store}`: approximate keys in RocksDB.
    pub store_keys: IntGaugeVec,
    /// `chatpulse_restore_records_total{store}`: changelog records read while restoring.
    pub restore_records: IntCounterVec,
    /// `chatpulse_restore_remaining_records{store, partition}`: changelog records still to restore.
    pub restore_remaining: IntGaugeVec,
    /// `chatpulse_restoring_partitions`: partitions being restored now.
    pub restoring_partitions: IntGauge,
    /// `chatpulse_assigned_partitions`: partitions assigned and restored.
    pub assigned_partitions: IntGauge,
    /// `chatpulse_rebalances_total{kind}`: rebalance callbacks (`assign` or `revoke`), and group
    /// re-joins this instance started (`rejoin`, see `kafka::group_watch`).
    pub rebalances: IntCounterVec,
    /// `chatpulse_commits_total`: commits completed.
    pub commits: IntCounter,
    /// `chatpulse_commit_latency_seconds`: flush + produce wait + state write + offset commit.
    pub commit_latency: Histogram,
    /// `chatpulse_transaction_aborts_total`: transactions aborted and rewound (exactly-once).
    pub transaction_aborts: IntCounter,
    /// `chatpulse_schema_registry_errors_total`: failed Schema Registry calls (Avro encoding).
    pub registry_errors: IntCounter,
    /// `chatpulse_consume_errors_total{topic, kind}`: errors the consumer reported instead of a
    /// record (`kind`: librdkafka's error code, for example `BadMessage` for a failed CRC check).
    pub consume_errors: IntCounterVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Every engine metric, in a fresh registry.
    pub fn new() -> Metrics {
        /// Registers `c` and notes its names.
        fn keep<C: Collector + Clone + 'static>(r: &mut (Registry, Vec<String>), c: C) -> C {
            r.1.extend(c.desc().into_iter().map(|d| d.fq_name.clone()));
            r.0.register(Box::new(c.clone()))
                .expect("metric names are unique");
            c
        }
        let mut registered = (Registry::new(), Vec::new());
        let c = &mut registered;
        let counter = |c: &mut (Registry, Vec<String>), name: &str, help: &str| {
            keep(
                c,
                IntCounter::with_opts(Opts::new(name, help)).expect("valid metric"),
            )
        };
        let counters =
            |c: &mut (Registry, Vec<String>), name: &str, help: &str, labels: &[&str]| {
                keep(
                    c,
                    IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric"),
                )
            };
        let gauges = |c: &mut (Registry, Vec<String>), name: &str, help: &str, labels: &[&str]| {
            keep(
                c,
                IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric"),
            )
        };
        let gauge = |c: &mut (Registry, Vec<String>), name: &str, help: &str| {
            keep(
                c,
                IntGauge::with_opts(Opts::new(name, help)).expect("valid metric"),
            )
        };
        let histogram = |c: &mut (Registry, Vec<String>),
                         name: &str,
                         help: &str,
                         labels: &[&str],
                         b: Vec<f64>| {
            keep(
                c,
                HistogramVec::new(HistogramOpts::new(name, help).buckets(b), labels)
                    .expect("valid metric"),
            )
        };
        let single = |c: &mut (Registry, Vec<String>), name: &str, help: &str, b: Vec<f64>| {
            keep(
                c,
                Histogram::with_opts(HistogramOpts::new(name, help).buckets(b))
                    .expect("valid metric"),
            )
        };
        let metrics = Metrics {
            records_consumed: counters(
                c,
                "chatpulse_records_consumed_total",
                "Input records processed, per topic and partition.",
                &["topic", "partition"],
            ),
            records_produced: counters(
                c,
                "chatpulse_records_produced_total",
                "Records produced, per topic (sinks, dead letters, late records, changelogs).",
                &["topic"],
            ),
            consumer_lag: gauges(
                c,
                "chatpulse_consumer_lag_records",
                "Records between the consumer position and the high watermark, per partition.",
                &["topic", "partition"],
            ),
            processing_latency: single(
                c,
                "chatpulse_processing_latency_seconds",
                "Time to process one input record.",
                exponential_buckets(0.000_01, 4.0, 10).expect("valid buckets"),
            ),
            end_to_end_latency: histogram(
                c,
                "chatpulse_end_to_end_latency_seconds",
                "Wall time at emit minus the result's event time (window end), per sink topic.",
                &["topic"],
                vec![
                    0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 3600.0,
                ],
            ),
            windows_closed: counter(
                c,
                "chatpulse_windows_closed_total",
                "Windows closed and emitted as final.",
            ),
            late_records: counters(
                c,
                "chatpulse_late_records_total",
                "Records that arrived after their windows closed (past grace), per processor.",
                &["processor"],
            ),
            dlq_records: counter(
                c,
                "chatpulse_dlq_records_total",
                "Records sent to the dead-letter topic.",
            ),
            store_bytes: gauges(
                c,
                "chatpulse_state_store_bytes",
                "Approximate bytes of a state store in RocksDB.",
                &["store"],
            ),
            store_keys: gauges(
                c,
                "chatpulse_state_store_keys",
                "Approximate keys of a state store in RocksDB.",
                &["store"],
            ),
            restore_records: counters(
                c,
                "chatpulse_restore_records_total",
                "Changelog records read while restoring, per store.",
                &["store"],
            ),
            restore_remaining: gauges(
                c,
                "chatpulse_restore_remaining_records",
                "Changelog records still to read before a partition is restored.",
                &["store", "partition"],
            ),
            restoring_partitions: gauge(
                c,
                "chatpulse_restoring_partitions",
                "Partitions being restored from their changelogs now.",
            ),
            assigned_partitions: gauge(
                c,
                "chatpulse_assigned_partitions",
                "Input partitions assigned to this instance and restored.",
            ),
            rebalances: counters(
                c,
                "chatpulse_rebalances_total",
                "Consumer group rebalance callbacks by kind (assign, revoke), and re-joins this instance started (rejoin).",
                &["kind"],
            ),
            commits: counter(c, "chatpulse_commits_total", "Commits completed."),
            commit_latency: single(
                c,
                "chatpulse_commit_latency_seconds",
                "Time of one commit: produce wait, state write and offset commit.",
                prometheus::DEFAULT_BUCKETS.to_vec(),
            ),
            transaction_aborts: counter(
                c,
                "chatpulse_transaction_aborts_total",
                "Transactions aborted and rewound (exactly_once_v2).",
            ),
            registry_errors: counter(
                c,
                "chatpulse_schema_registry_errors_total",
                "Failed Schema Registry requests (schema lookup or registration).",
            ),
            consume_errors: counters(
                c,
                "chatpulse_consume_errors_total",
                "Errors the consumer reported instead of a record, per topic and error kind.",
                &["topic", "kind"],
            ),
            registry: Registry::new(),
            names: Vec::new(),
        };
        let (registry, names) = registered;
        Metrics {
            registry,
            names,
            ..metrics
        }
    }

    /// The registry: other components register their metrics here, and `/metrics` renders it.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The names of the engine's metrics (histograms without their `_bucket`/`_sum`/`_count`
    /// suffixes), whether or not they have a sample yet.
    pub fn names(&self) -> Vec<String> {
        self.names.clone()
    }

    /// Everything in the registry in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .expect("text encoding writes to memory");
        String::from_utf8(buffer).expect("the text format is UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_conventions() {
        let metrics = Metrics::new();
        let names = metrics.names();
        assert!(names.len() >= 19, "{names:?}");
        for name in &names {
            assert!(name.starts_with("chatpulse_"), "{name}");
        }
        assert!(names.contains(&"chatpulse_commit_latency_seconds".to_owned()));
        assert!(names.contains(&"chatpulse_late_records_total".to_owned()));
    }

    #[test]
    fn render_shows_recorded_values() {
        let metrics = Metrics::new();
        metrics
            .records_consumed
            .with_label_values(&["chat", "3"])
            .inc_by(7);
        metrics.commit_latency.observe(0.02);
        let text = metrics.render();
        assert!(
            text.contains("chatpulse_records_consumed_total{partition=\"3\",topic=\"chat\"} 7"),
            "{text}"
        );
        assert!(
            text.contains("chatpulse_commit_latency_seconds_count 1"),
            "{text}"
        );
    }
}
