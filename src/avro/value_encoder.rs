//! How a topic's record values become bytes: JSON text, or an Avro datum of a registered schema
//! framed in the Confluent wire format (magic byte, schema id, datum).

use serde_json::Value as Json;

use super::encode::{encode_datum, EncodeError};
use super::schemas::AvroSchema;
use super::wire;

/// How a topic's values become bytes: JSON text, or Avro in the Confluent wire format.
#[derive(Debug, Clone)]
pub enum ValueEncoder {
    /// JSON text.
    Json,
    /// Avro of `schema`, registered with `id`, in the Confluent wire format.
    Avro {
        /// The registered schema id.
        id: u32,
        /// The schema.
        schema: Box<AvroSchema>,
    },
}

impl ValueEncoder {
    /// The record value bytes for `value`.
    pub fn encode(&self, value: &Json) -> Result<Vec<u8>, EncodeError> {
        match self {
            ValueEncoder::Json => Ok(serde_json::to_vec(value).expect("JSON values serialize")),
            ValueEncoder::Avro { id, schema } => {
                Ok(wire::frame(*id, &encode_datum(value, schema)?))
            }
        }
    }
}
