//! The value encoders of a running topology's sinks: JSON sinks write the value as JSON; Avro sinks
//! register their schema under `<topic>-value` once at start (waiting out an unreachable registry),
//! then frame every value synchronously with the cached id: no registry call per record.

use std::sync::Arc;

use crate::avro::encode::EncodeError;
use crate::avro::registry::{register_with_retry, registry_for, Backoff, RegistryError};
use crate::avro::schemas::SchemaError;
use crate::avro::value_subject;
use crate::avro::ValueEncoder;
use crate::processor::Output;
use crate::topology::spec::ValueFormat;
use crate::topology::task::DeadLetter;
use crate::topology::Topology;

/// Why a topology's sinks could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Avro sinks need a registry and none was given.
    #[error("the topology has Avro sinks ({sinks}): give --schema-registry URL or set CHATPULSE_SCHEMA_REGISTRY_URL (http://host:port, or mock://NAME for an in-process registry)")]
    NoRegistry {
        /// The Avro sinks' names.
        sinks: String,
    },
    /// A sink's schema could not be loaded.
    #[error("sink {sink:?}: {source}")]
    Schema {
        /// The sink.
        sink: String,
        /// What was wrong.
        source: SchemaError,
    },
    /// Registering a sink's schema failed.
    #[error("sink {sink:?}: {source}")]
    Registry {
        /// The sink.
        sink: String,
        /// What failed.
        source: RegistryError,
    },
}

/// One encoder per sink of a topology, by sink index.
#[derive(Debug, Clone)]
pub struct SinkEncoders {
    encoders: Vec<ValueEncoder>,
}

/// The names of `topology`'s Avro sinks.
pub fn avro_sinks(topology: &Topology) -> Vec<&str> {
    topology
        .sinks
        .iter()
        .filter(|s| s.format == ValueFormat::Avro)
        .map(|s| s.name.as_str())
        .collect()
}

impl SinkEncoders {
    /// Fails when `topology` has Avro sinks and no registry URL is given.
    pub fn require_registry(
        topology: &Topology,
        registry_url: Option<&str>,
    ) -> Result<(), SinkError> {
        let avro = avro_sinks(topology);
        if registry_url.is_none() && !avro.is_empty() {
            return Err(SinkError::NoRegistry {
                sinks: avro.join(", "),
            });
        }
        Ok(())
    }

    /// Loads every Avro sink's schema and registers it under `<topic>-value`, retrying while the
    /// registry is unreachable until `stopping()`; `on_failure` is called for every failed attempt.
    pub async fn prepare(
        topology: &Topology,
        registry_url: Option<&str>,
        stopping: &(dyn Fn() -> bool + Sync),
        on_failure: &(dyn Fn() + Sync),
    ) -> Result<SinkEncoders, SinkError> {
        SinkEncoders::require_registry(topology, registry_url)?;
        let mut encoders = Vec::with_capacity(topology.sinks.len());
        let mut registry = None;
        for sink in &topology.sinks {
            if sink.format != ValueFormat::Avro {
                encoders.push(ValueEncoder::Json);
                continue;
            }
            let schema_error = |source| SinkError::Schema {
                sink: sink.name.clone(),
                source,
            };
            let registry_error = |source| SinkError::Registry {
                sink: sink.name.clone(),
                source,
            };
            let reference = sink.schema.as_deref().unwrap_or_default();
            let schema = crate::topology::spec::load_schema(reference).map_err(schema_error)?;
            let registry = match &registry {
                Some(r) => Arc::clone(r),
                None => {
                    let url = registry_url.expect("checked above");
                    let r = registry_for(url).map_err(registry_error)?;
                    registry.insert(r).clone()
                }
            };
            let subject = value_subject(&sink.topic);
            let id = register_with_retry(
                registry.as_ref(),
                &subject,
                &schema.text,
                Backoff::default(),
                stopping,
                on_failure,
            )
            .await
            .map_err(registry_error)?;
            tracing::info!(sink = %sink.name, %subject, id, "Avro sink ready");
            encoders.push(ValueEncoder::Avro {
                id,
                schema: Box::new(schema),
            });
        }
        Ok(SinkEncoders { encoders })
    }

    /// The value bytes of `output`.
    pub fn encode(&self, output: &Output) -> Result<Vec<u8>, EncodeError> {
        self.encoders[output.sink].encode(&output.value)
    }
}

/// The dead letter of an output its sink could not encode: the JSON value, keyed as it would have
/// been, with the reason; partition and offset are -1 as no single input record is at fault.
pub fn output_dead_letter(topic: &str, output: &Output, error: &EncodeError) -> DeadLetter {
    DeadLetter {
        source_topic: topic.to_owned(),
        partition: -1,
        offset: -1,
        reason: format!("output for topic {topic} does not encode: {error}"),
        key: Some(output.key.as_bytes().to_vec()),
        value: serde_json::to_vec(&output.value).expect("JSON values serialize"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::avro::decode::decode_datum;
    use crate::avro::{wire, AvroSchema};

    const TOPOLOGY: &str = r#"
application_id = "avro-sink-test"
[[source]]
name = "chat"
topic = "in"
[[processor]]
name = "per-minute"
kind = "chat_count"
source = "chat"
sink = "minutes"
window = { kind = "tumbling", size = "1m" }
[[sink]]
name = "minutes"
topic = "out"
format = "avro"
schema = "engagement_basic_minute"
"#;

    #[tokio::test]
    async fn avro_sinks_register_once_and_frame_values() {
        let t = Topology::parse(TOPOLOGY).unwrap();
        let never = || false;
        let e = SinkEncoders::prepare(&t, None, &never, &|| {})
            .await
            .unwrap_err();
        assert!(e.to_string().contains("--schema-registry"), "{e}");
        let enc = SinkEncoders::prepare(&t, Some("mock://sink-test"), &never, &|| {})
            .await
            .unwrap();
        let value = json!({"channel": "nymn", "window_start": 0, "window_end": 60_000,
                           "final": true, "revision": 1, "messages": 3, "unique_chatters": 2});
        let out = Output {
            sink: 0,
            key: "nymn".into(),
            value: value.clone(),
            ts_ms: 60_000,
        };
        let bytes = enc.encode(&out).unwrap();
        let (id, datum) = wire::unframe(&bytes).unwrap();
        let schema = AvroSchema::builtin("engagement_basic_minute").unwrap();
        assert_eq!(decode_datum(&schema.schema, datum, None).unwrap(), value);
        let again = SinkEncoders::prepare(&t, Some("mock://sink-test"), &never, &|| {})
            .await
            .unwrap();
        assert_eq!(wire::unframe(&again.encode(&out).unwrap()).unwrap().0, id);

        let bad = Output {
            value: json!({"channel": 1}),
            ..out
        };
        let err = enc.encode(&bad).unwrap_err();
        let dl = output_dead_letter("out", &bad, &err);
        assert!(dl.reason.contains("field channel"), "{}", dl.reason);
        assert_eq!(dl.key.as_deref(), Some(&b"nymn"[..]));
    }
}
