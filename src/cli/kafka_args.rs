//! The Kafka flags every Kafka command shares (`--brokers`, `-X`, `--replication-factor`) and their
//! conversion into [`KafkaSettings`], merged with the config file's `[kafka]` table and
//! `CHATPULSE_KAFKA_*` variables (see [`super::config`]).

use std::fmt;

use anyhow::Result;

use super::config::kafka_options;
use crate::kafka::KafkaSettings;
use crate::secret::redact_property;

/// Where the Kafka cluster is and how to talk to it (flatten into a command's `Args`).
#[derive(Debug, Clone, clap::Args)]
pub struct KafkaArgs {
    /// Kafka bootstrap brokers, `host:port[,host:port]`.
    #[arg(long, env = "CHATPULSE_BROKERS")]
    pub brokers: String,
    /// A librdkafka property, `KEY=VALUE` (repeatable), for example `-X security.protocol=SASL_SSL`,
    /// `-X sasl.mechanism=SCRAM-SHA-512`, `-X ssl.ca.location=/etc/ca.pem`. Wins over the same
    /// property from `CHATPULSE_KAFKA_*` variables and the config file's `[kafka]` table. Values
    /// may be secrets (`sasl.password`), so defaults from a config file are not shown here.
    #[arg(
        short = 'X',
        long = "kafka-option",
        value_name = "KEY=VALUE",
        hide_default_value = true
    )]
    pub kafka_options: Vec<KafkaOption>,
    /// Replication factor of the topics chatpulse creates (-1: the broker's default).
    #[arg(
        long,
        env = "CHATPULSE_REPLICATION_FACTOR",
        default_value_t = -1,
        allow_hyphen_values = true
    )]
    pub replication_factor: i32,
}

/// One `-X KEY=VALUE`: its `Debug` redacts the value of a secret property (`sasl.password`...).
#[derive(Clone)]
pub struct KafkaOption(pub String);

impl From<String> for KafkaOption {
    fn from(kv: String) -> Self {
        KafkaOption(kv)
    }
}

impl fmt::Debug for KafkaOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.split_once('=') {
            Some((k, v)) => write!(f, "{:?}", redact_property(k, v)),
            None => write!(f, "{:?}", self.0),
        }
    }
}

/// The strings of `-X` options.
pub fn option_strings(options: &[KafkaOption]) -> Vec<String> {
    options.iter().map(|o| o.0.clone()).collect()
}

impl KafkaArgs {
    /// The client settings these flags describe.
    pub fn settings(&self) -> Result<KafkaSettings> {
        kafka_settings(&self.brokers, &option_strings(&self.kafka_options))
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
