//! Ingestion counters as Prometheus metrics: lines received, produced and dropped per channel, and
//! reconnects. [`register_metrics`] puts them in the registry the `/metrics` endpoint serves.

use prometheus::core::Collector;
use prometheus::{IntCounter, IntCounterVec, Opts, Registry};

/// The ingestion counters; clones share the same values.
#[derive(Debug, Clone)]
pub struct IngestMetrics {
    received: IntCounterVec,
    produced: IntCounterVec,
    dropped: IntCounterVec,
    reconnects: IntCounter,
}

/// The counters summed over channels, for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestTotals {
    /// Lines received from Twitch (or read by replay) and offered to the producer.
    pub received: u64,
    /// Lines the broker acknowledged.
    pub produced: u64,
    /// Lines lost: the buffer was full, or delivery failed for good.
    pub dropped: u64,
    /// Reconnects of chat connections.
    pub reconnects: u64,
}

/// New ingestion counters registered in `registry`.
pub fn register_metrics(registry: &Registry) -> Result<IngestMetrics, prometheus::Error> {
    let metrics = IngestMetrics::new();
    metrics.register(registry)?;
    Ok(metrics)
}

impl Default for IngestMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl IngestMetrics {
    /// Counters at zero, registered nowhere.
    pub fn new() -> IngestMetrics {
        let vec = |name: &str, help: &str| {
            IntCounterVec::new(Opts::new(name, help), &["channel"]).expect("valid metric")
        };
        IngestMetrics {
            received: vec(
                "chatpulse_ingest_lines_received_total",
                "Chat lines received and offered to the Kafka producer, per channel.",
            ),
            produced: vec(
                "chatpulse_ingest_lines_produced_total",
                "Chat lines acknowledged by Kafka, per channel.",
            ),
            dropped: vec(
                "chatpulse_ingest_lines_dropped_total",
                "Chat lines lost because the buffer was full or delivery failed, per channel.",
            ),
            reconnects: IntCounter::new(
                "chatpulse_ingest_reconnects_total",
                "Reconnects of Twitch chat connections.",
            )
            .expect("valid metric"),
        }
    }

    /// Registers every counter in `registry`.
    pub fn register(&self, registry: &Registry) -> Result<(), prometheus::Error> {
        registry.register(Box::new(self.received.clone()))?;
        registry.register(Box::new(self.produced.clone()))?;
        registry.register(Box::new(self.dropped.clone()))?;
        registry.register(Box::new(self.reconnects.clone()))?;
        Ok(())
    }

    /// One line received for `channel`.
    pub fn received(&self, channel: &str) {
        self.received.with_label_values(&[channel]).inc();
    }

    /// One line of `channel` acknowledged by the broker.
    pub fn produced(&self, channel: &str) {
        self.produced.with_label_values(&[channel]).inc();
    }

    /// One line of `channel` lost.
    pub fn dropped(&self, channel: &str) {
        self.dropped.with_label_values(&[channel]).inc();
    }

    /// One reconnect.
    pub fn reconnect(&self) {
        self.reconnects.inc();
    }

    /// Lines of `channel` acknowledged so far.
    pub fn produced_for(&self, channel: &str) -> u64 {
        self.produced.with_label_values(&[channel]).get()
    }

    /// Every counter summed over channels.
    pub fn totals(&self) -> IngestTotals {
        IngestTotals {
            received: sum(&self.received),
            produced: sum(&self.produced),
            dropped: sum(&self.dropped),
            reconnects: self.reconnects.get(),
        }
    }
}

fn sum(vec: &IntCounterVec) -> u64 {
    vec.collect()
        .iter()
        .flat_map(|family| family.get_metric())
        .map(|m| m.get_counter().get_value() as u64)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_registered_under_their_names_and_summed() {
        let registry = Registry::new();
        let m = register_metrics(&registry).unwrap();
        m.received("a");
        m.received("b");
        m.produced("a");
        m.dropped("b");
        m.reconnect();
        let names: Vec<String> = registry
            .gather()
            .iter()
            .map(|f| f.name().to_owned())
            .collect();
        for name in [
            "chatpulse_ingest_lines_received_total",
            "chatpulse_ingest_lines_produced_total",
            "chatpulse_ingest_lines_dropped_total",
            "chatpulse_ingest_reconnects_total",
        ] {
            assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
        }
        assert_eq!(
            m.totals(),
            IngestTotals {
                received: 2,
                produced: 1,
                dropped: 1,
                reconnects: 1
            }
        );
        assert!(
            register_metrics(&registry).is_err(),
            "only once per registry"
        );
    }
}
