//! The Kafka flags every producing command shares (`--brokers`, `-X`, `--replication-factor`) and
//! their conversion into [`KafkaSettings`].

use std::collections::BTreeMap;

use anyhow::{bail, Result};

use crate::kafka::KafkaSettings;

/// Where the Kafka cluster is and how to talk to it.
#[derive(Debug, Clone, clap::Args)]
pub struct KafkaArgs {
    /// Kafka bootstrap brokers, `host:port[,host:port]`.
    #[arg(long, env = "CHATPULSE_BROKERS")]
    pub brokers: String,
    /// A librdkafka property, `key=value` (repeatable): security.protocol, sasl.*, ssl.*.
    #[arg(short = 'X', long = "kafka-option", value_name = "KEY=VALUE")]
    pub kafka_options: Vec<String>,
    /// Replication factor of the topics chatpulse creates (-1: the broker's default).
    #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
    pub replication_factor: i32,
}

impl KafkaArgs {
    /// The client settings these flags describe.
    pub fn settings(&self) -> Result<KafkaSettings> {
        kafka_settings(&self.brokers, &self.kafka_options)
    }
}

/// Settings for `brokers` with `-X key=value` options.
pub fn kafka_settings(brokers: &str, options: &[String]) -> Result<KafkaSettings> {
    let mut map = BTreeMap::new();
    for kv in options {
        let Some((k, v)) = kv.split_once('=') else {
            bail!("-X {kv:?} must be KEY=VALUE, for example -X security.protocol=SASL_SSL");
        };
        map.insert(k.to_owned(), v.to_owned());
    }
    Ok(KafkaSettings {
        brokers: brokers.to_owned(),
        librdkafka_options: map,
    })
}
