//! Avro outputs in the Confluent Schema Registry wire format: the schemas chatpulse ships
//! ([`schemas`]), the framing ([`wire`]), JSON ↔ Avro conversion ([`encode`], [`decode`]), registries
//! ([`registry`]) and the value encoder that frames a datum ([`value_encoder`]). A run binds one to
//! each sink of its topology in `crate::kafka::sink_encoders`.
//!
//! Processors emit JSON values; a sink declared `format = "avro"` with a `schema` turns each value
//! into an Avro datum of that schema, registered under `<topic>-value` (TopicNameStrategy), and
//! frames it as magic byte 0, the 4-byte big-endian schema id, then the Avro binary datum.

pub mod decode;
pub mod encode;
pub mod registry;
pub mod schemas;
pub mod value_decoder;
pub mod value_encoder;
pub mod wire;

pub use decode::{avro_to_json, decode_datum, DecodeError};
pub use encode::{encode_datum, json_to_avro, EncodeError};
pub use registry::{registry_for, RegistryError, SchemaRegistry};
pub use schemas::{AvroSchema, SchemaError};
pub use value_decoder::RegistryDecoder;
pub use value_encoder::ValueEncoder;
pub use wire::WireError;

/// The subject a topic's value schema is registered under (Confluent's TopicNameStrategy).
pub fn value_subject(topic: &str) -> String {
    format!("{topic}-value")
}
