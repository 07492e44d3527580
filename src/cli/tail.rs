//! `chatpulse tail --topic T`: reads any topic and prints one JSON line per record with its value
//! decoded: Avro in the Schema Registry wire format through the registry (schemas cached by id),
//! JSON as is, anything else as a string. It uses a fresh consumer group and commits nothing.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::Message;
use serde_json::{json, Value};

use super::kafka_args::{option_strings, KafkaOption};
use crate::avro::value_decoder::decode_avro_or_json;
use crate::avro::{registry_for, wire, RegistryDecoder};
use crate::kafka::KafkaSettings;
use crate::topology::spec::parse_duration_ms;

/// Arguments of `chatpulse tail`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The topic to read.
    #[arg(long)]
    topic: String,
    /// Kafka bootstrap brokers, `host:port[,host:port]`.
    #[arg(long, env = "CHATPULSE_BROKERS")]
    brokers: String,
    /// Schema Registry URL to decode Avro values (`http(s)://host:port` or `mock://NAME`); without
    /// it Avro values print as their raw bytes.
    #[arg(long, env = "CHATPULSE_SCHEMA_REGISTRY_URL")]
    schema_registry: Option<String>,
    /// Start at the oldest record instead of only new ones.
    #[arg(long)]
    from_beginning: bool,
    /// Stop after this many records.
    #[arg(long)]
    max_records: Option<u64>,
    /// Stop after this long without a record (`10s`, `1m`); by default tail runs until interrupted.
    #[arg(long)]
    idle_timeout: Option<String>,
    /// A librdkafka property, `key=value` (repeatable): security.protocol, sasl.*, ssl.*. Values may
    /// be secrets, so defaults from a config file are not shown here.
    #[arg(
        short = 'X',
        long = "kafka-option",
        value_name = "KEY=VALUE",
        hide_default_value = true
    )]
    kafka_options: Vec<KafkaOption>,
}

/// Decodes values: Avro through the registry when one is given, else JSON, else text.
struct Decoder {
    avro: Option<RegistryDecoder>,
}

impl Decoder {
    fn value(&mut self, bytes: &[u8]) -> Value {
        decode_avro_or_json(self.avro.as_ref(), bytes).unwrap_or_else(|e| {
            if wire::unframe(bytes).is_ok() && self.avro.is_some() {
                tracing::warn!(error = %e, "undecodable Avro value");
            }
            Value::String(String::from_utf8_lossy(bytes).into_owned())
        })
    }
}

/// Runs `chatpulse tail`.
pub fn run(args: Args) -> Result<ExitCode> {
    let idle = match &args.idle_timeout {
        Some(t) => match parse_duration_ms(t) {
            Some(ms) => Some(Duration::from_millis(ms as u64)),
            None => bail!("--idle-timeout {t:?} is not a duration: use a number and ms, s, m or h"),
        },
        None => None,
    };
    let mut settings = KafkaSettings::new(&args.brokers);
    for kv in option_strings(&args.kafka_options) {
        let Some((k, v)) = kv.split_once('=') else {
            bail!("-X {kv:?} must be KEY=VALUE, for example -X security.protocol=SASL_SSL");
        };
        settings
            .librdkafka_options
            .insert(k.to_owned(), v.to_owned());
    }
    let group = format!("chatpulse-tail-{}-{}", std::process::id(), now_ms());
    let mut config = settings.consumer_config(&group);
    config.set(
        "auto.offset.reset",
        if args.from_beginning {
            "earliest"
        } else {
            "latest"
        },
    );
    for (k, v) in &settings.librdkafka_options {
        config.set(k, v);
    }
    let consumer: BaseConsumer = config.create().context("cannot create the consumer")?;
    consumer
        .subscribe(&[&args.topic])
        .with_context(|| format!("cannot subscribe to {}", args.topic))?;
    let registry = args
        .schema_registry
        .as_deref()
        .map(registry_for)
        .transpose()?;
    let mut decoder = Decoder {
        avro: registry.map(RegistryDecoder::new).transpose()?,
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut printed = 0u64;
    let mut last_record = Instant::now();
    while args.max_records.is_none_or(|n| printed < n) {
        if idle.is_some_and(|d| last_record.elapsed() >= d) {
            break;
        }
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(msg)) => {
                last_record = Instant::now();
                let line = json!({
                    "partition": msg.partition(),
                    "offset": msg.offset(),
                    "key": msg.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                    "timestamp": msg.timestamp().to_millis(),
                    "value": msg.payload().map(|v| decoder.value(v)),
                });
                writeln!(out, "{line}")?;
                out.flush()?;
                printed += 1;
            }
            Some(Err(e)) => tracing::warn!(error = %e, "consume error"),
            None => {}
        }
    }
    eprintln!("{printed} record(s)");
    Ok(ExitCode::SUCCESS)
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}
