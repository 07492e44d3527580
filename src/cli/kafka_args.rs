//! The Kafka flags every Kafka command shares (`--brokers`, `-X`, `--replication-factor`) and their
//! conversion into [`KafkaSettings`], merged with the config file's `[kafka]` table and
//! `CHATPULSE_KAFKA_*` variables (see [`super::config`]).

use anyhow::Result;

use super::config::kafka_options;
use crate::kafka::KafkaSettings;

/// Where the Kafka cluster is and how to talk to it (flatten into a command's `Args`).
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
    /// Replication factor of the topics chatpulse creates (-1: the broker's default).
    #[arg(
        long,
        env = "CHATPULSE_REPLICATION_FACTOR",
        default_value_t = -1,
        allow_hyphen_values = true
    )]
    pub replication_factor: i32,
}

impl KafkaArgs {
    /// The client settings these flags describe.
    pub fn settings(&self) -> Result<KafkaSettings> {
        kafka_settings(&self.brokers, &self.kafka_options)
    }
}

/// Settings for `brokers` with every librdkafka property by precedence: `-X key=value` `options`
/// over `CHATPULSE_KAFKA_*` over the config file's `[kafka]` table.
pub fn kafka_settings(brokers: &str, options: &[String]) -> Result<KafkaSettings> {
    Ok(KafkaSettings {
        brokers: brokers.to_owned(),
        librdkafka_options: kafka_options(options)?,
    })
}
