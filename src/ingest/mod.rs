//! The Kafka side of ingestion, shared by `chatpulse ingest` and `chatpulse replay`: raw IRC lines go
//! through a bounded queue ([`producer`]) to an idempotent producer on `twitch.chat.raw`, counted in
//! Prometheus metrics ([`metrics`]). What a record looks like (key, timestamp, headers) is in [`record`].

pub mod metrics;
pub mod pace;
pub mod producer;
pub mod record;

pub use metrics::{register_metrics, IngestMetrics, IngestTotals};
pub use producer::{start_producer, LineQueue, ProducerOptions, ProducerStats};
pub use record::RawLine;

/// The topic raw chat lines go to unless told otherwise.
pub const DEFAULT_TOPIC: &str = "twitch.chat.raw";

/// Failures of the ingestion pipeline, each saying what to check.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Talking to Kafka failed.
    #[error(transparent)]
    Kafka(#[from] crate::kafka::KafkaError),
    /// The metrics could not be registered.
    #[error("cannot register the ingest metrics: {0} (a registry may hold them only once)")]
    Metrics(#[from] prometheus::Error),
    /// The producer task stopped before the line could be queued.
    #[error("the Kafka producer stopped: see the earlier errors in the log")]
    ProducerStopped,
}
