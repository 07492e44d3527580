//! The archive's Prometheus metrics: rows, files and bytes stored, input bytes, and the commit lag
//! (records read but not yet committed) per partition. [`ArchiveMetrics::register`] puts them in
//! the registry that `/metrics` serves.

use prometheus::core::Collector;
use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};

use super::archiver::Flushed;

/// The archive's metrics; clones share the same values.
#[derive(Debug, Clone)]
pub struct ArchiveMetrics {
    rows: IntCounterVec,
    files: IntCounterVec,
    bytes: IntCounterVec,
    input_bytes: IntCounterVec,
    uncommitted: IntGaugeVec,
    committed_offset: IntGaugeVec,
}

impl ArchiveMetrics {
    /// New metrics registered in `registry`.
    pub fn register(registry: &Registry) -> Result<ArchiveMetrics, prometheus::Error> {
        let counter = |name: &str, help: &str| {
            IntCounterVec::new(Opts::new(name, help), &["topic"]).expect("valid metric")
        };
        let gauge = |name: &str, help: &str| {
            IntGaugeVec::new(Opts::new(name, help), &["topic", "partition"]).expect("valid metric")
        };
        let m = ArchiveMetrics {
            rows: counter(
                "chatpulse_archive_rows_total",
                "Rows stored in committed Parquet files.",
            ),
            files: counter(
                "chatpulse_archive_files_total",
                "Parquet files stored (committed batches).",
            ),
            bytes: counter(
                "chatpulse_archive_bytes_total",
                "Bytes of Parquet files stored.",
            ),
            input_bytes: counter(
                "chatpulse_archive_input_bytes_total",
                "Payload bytes of the records stored.",
            ),
            uncommitted: gauge(
                "chatpulse_archive_uncommitted_records",
                "Records read into the open batch, not yet stored and committed (commit lag).",
            ),
            committed_offset: gauge(
                "chatpulse_archive_committed_offset",
                "The last offset committed after its batch was stored.",
            ),
        };
        let all: [Box<dyn Collector>; 6] = [
            Box::new(m.rows.clone()),
            Box::new(m.files.clone()),
            Box::new(m.bytes.clone()),
            Box::new(m.input_bytes.clone()),
            Box::new(m.uncommitted.clone()),
            Box::new(m.committed_offset.clone()),
        ];
        for c in all {
            registry.register(c)?;
        }
        Ok(m)
    }

    /// Counts a stored and committed batch of `topic`.
    pub fn flushed(&self, topic: &str, f: &Flushed) {
        self.rows.with_label_values(&[topic]).inc_by(f.rows);
        self.files
            .with_label_values(&[topic])
            .inc_by(f.files as u64);
        self.bytes.with_label_values(&[topic]).inc_by(f.bytes);
        self.input_bytes
            .with_label_values(&[topic])
            .inc_by(f.input_bytes);
        self.committed_offset
            .with_label_values(&[topic, &f.partition.to_string()])
            .set(f.end_offset);
    }

    /// Sets the records buffered but not committed of each `(partition, records)`.
    pub fn buffered(&self, topic: &str, buffered: &[(i32, u64)]) {
        for (p, n) in buffered {
            self.uncommitted
                .with_label_values(&[topic, &p.to_string()])
                .set(*n as i64);
        }
    }

    /// Forgets a partition given up.
    pub fn forget(&self, topic: &str, partition: i32) {
        let p = partition.to_string();
        let _ = self.uncommitted.remove_label_values(&[topic, &p]);
        let _ = self.committed_offset.remove_label_values(&[topic, &p]);
    }
}
