//! Client construction: typed settings plus pass-through librdkafka properties (`security.protocol`,
//! SASL, TLS...) turned into an rdkafka `ClientConfig` by one function, as Vector's Kafka sink does.

use std::collections::BTreeMap;
use std::fmt;

use rdkafka::ClientConfig;

use crate::secret::{is_secret_property, REDACTED};

/// How to reach the Kafka cluster. Its `Debug` redacts secret properties (`sasl.password`...).
#[derive(Clone, Default)]
pub struct KafkaSettings {
    /// `host:port` list of bootstrap brokers.
    pub brokers: String,
    /// Extra librdkafka properties, applied last (they win over chatpulse's defaults).
    pub librdkafka_options: BTreeMap<String, String>,
}

impl fmt::Debug for KafkaSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let options: BTreeMap<&str, &str> = self
            .librdkafka_options
            .iter()
            .map(|(k, v)| {
                let v = if is_secret_property(k) { REDACTED } else { v };
                (k.as_str(), v)
            })
            .collect();
        f.debug_struct("KafkaSettings")
            .field("brokers", &self.brokers)
            .field("librdkafka_options", &options)
            .finish()
    }
}

impl KafkaSettings {
    /// Settings for `brokers` with no extra properties.
    pub fn new(brokers: impl Into<String>) -> Self {
        KafkaSettings {
            brokers: brokers.into(),
            librdkafka_options: BTreeMap::new(),
        }
    }

    fn base(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers);
        c
    }

    fn finish(&self, mut c: ClientConfig) -> ClientConfig {
        for (k, v) in &self.librdkafka_options {
            c.set(k, v);
        }
        c
    }

    /// An idempotent producer (acks=all) tuned for throughput: batches of up to 64k records,
    /// 5 ms linger, zstd-free lz4 compression.
    pub fn producer_config(&self) -> ClientConfig {
        let mut c = self.base();
        c.set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            // Keys go to the partition the Java clients (and interactive queries) compute.
            .set("partitioner", "murmur2_random")
            .set("compression.type", "lz4")
            .set("message.timeout.ms", "300000");
        self.finish(c)
    }

    /// A consumer in group `group` that reads from the earliest offset, commits only what the
    /// caller stores (`enable.auto.offset.store=false`) and has a 10 s session (1 s heartbeats).
    pub fn consumer_config(&self, group: &str) -> ClientConfig {
        let mut c = self.base();
        c.set("group.id", group)
            // A crashed member holds its partitions until its session times out: 10 s instead of
            // librdkafka's 45 s makes a restart (and a takeover) quick; heartbeats every second.
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "1000")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false");
        self.finish(c)
    }

    /// A consumer outside any group's offsets (`group` only names it) that reports reaching a
    /// partition's end: for reading partitions to their end with [`ReadToEnd`].
    pub fn end_reader_config(&self, group: &str) -> ClientConfig {
        let mut c = self.admin_config();
        c.set("group.id", group)
            // A crashed member holds its partitions until its session times out: 10 s instead of
            // librdkafka's 45 s makes a restart (and a takeover) quick; heartbeats every second.
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "1000")
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "true");
        c
    }

    /// A client for admin requests (creating topics).
    pub fn admin_config(&self) -> ClientConfig {
        self.finish(self.base())
    }
}

/// A consumer context for reading a partition to its end: reaching the end (the partition-EOF
/// event, which librdkafka also reports as a client error) is expected, not logged as an error.
/// Other client errors are logged as librdkafka's default context does.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReadToEnd;

impl rdkafka::ClientContext for ReadToEnd {
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        use rdkafka::error::{KafkaError, RDKafkaErrorCode};
        match error {
            KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF) => {
                tracing::debug!(reason, "end of partition");
            }
            other => tracing::error!("librdkafka: {other}: {reason}"),
        }
    }
}

impl rdkafka::consumer::ConsumerContext for ReadToEnd {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_secret_properties() {
        let mut s = KafkaSettings::new("broker:9092");
        for (k, v) in [
            ("sasl.password", "pw-z1"),
            ("ssl.key.password", "pw-z2"),
            ("sasl.oauthbearer.client.secret", "pw-z3"),
            ("security.protocol", "SASL_SSL"),
        ] {
            s.librdkafka_options.insert(k.into(), v.into());
        }
        let text = format!("{s:?}");
        for secret in ["pw-z1", "pw-z2", "pw-z3"] {
            assert!(!text.contains(secret), "{text}");
        }
        assert!(
            text.contains("broker:9092") && text.contains("SASL_SSL"),
            "{text}"
        );
    }
}
