//! The flags every Kafka command shares: the brokers and pass-through librdkafka properties, merged
//! with the config file's `[kafka]` table and `CHATPULSE_KAFKA_*` variables.

use anyhow::Result;

use super::config::kafka_options;
use crate::kafka::KafkaSettings;

/// How to reach Kafka (flatten into a command's `Args`).
#[derive(Debug, Clone, clap::Args)]
pub struct KafkaArgs {
    /// Kafka bootstrap brokers, `host:port[,host:port]`.
    #[arg(long, env = "CHATPULSE_BROKERS")]
    pub brokers: String,
    /// A librdkafka property, `KEY=VALUE` (repeatable), for example `-X security.protocol=SASL_SSL`,
    /// `-X sasl.mechanism=SCRAM-SHA-512`, `-X ssl.ca.location=/etc/ca.pem`. Wins over the same
    /// property from `CHATPULSE_KAFKA_*` variables and the config file's `[kafka]` table.
    #[arg(short = 'X', long = "kafka-option", value_name = "KEY=VALUE")]
    pub kafka_options: Vec<String>,
}

impl KafkaArgs {
    /// The client settings: brokers plus every librdkafka property, by precedence.
    pub fn settings(&self) -> Result<KafkaSettings> {
        Ok(KafkaSettings {
            brokers: self.brokers.clone(),
            librdkafka_options: kafka_options(&self.kafka_options)?,
        })
    }
}
