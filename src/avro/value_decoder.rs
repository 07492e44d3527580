//! How Avro record values in the Confluent wire format become JSON: the writer schema is fetched from
//! the registry by the id each value carries, once per id, and kept. `tail` prints with it; `run`
//! reads Avro table sources (`twitch.streams`) with it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::decode::decode_datum;
use super::registry::SchemaRegistry;
use super::schemas::AvroSchema;
use super::wire;
use crate::table::ValueDecoder;

/// Decodes wire-format Avro values with the writer schemas of a registry, cached by id.
pub struct RegistryDecoder {
    registry: Arc<dyn SchemaRegistry>,
    schemas: Mutex<HashMap<u32, Arc<AvroSchema>>>,
    runtime: tokio::runtime::Runtime,
}

impl RegistryDecoder {
    /// A decoder asking `registry` for schemas it has not seen.
    pub fn new(registry: Arc<dyn SchemaRegistry>) -> std::io::Result<Self> {
        Ok(RegistryDecoder {
            registry,
            schemas: Mutex::new(HashMap::new()),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
        })
    }

    /// The writer schema of `id`, fetched on first use.
    fn schema(&self, id: u32) -> Result<Arc<AvroSchema>, String> {
        if let Some(s) = self.schemas.lock().expect("schemas").get(&id) {
            return Ok(s.clone());
        }
        let text = self
            .runtime
            .block_on(self.registry.schema_by_id(id))
            .map_err(|e| format!("schema id {id}: lookup failed ({e}); check --schema-registry"))?;
        let schema = AvroSchema::parse(&format!("registry id {id}"), &text)
            .map_err(|e| format!("schema id {id} is unusable: {e}"))?;
        let schema = Arc::new(schema);
        self.schemas
            .lock()
            .expect("schemas")
            .insert(id, schema.clone());
        Ok(schema)
    }
}

/// A value of a topic that may hold Avro or JSON: Avro in the registry wire format through `avro`
/// when it is framed so and a decoder is given, else JSON.
pub fn decode_avro_or_json<D: ValueDecoder + ?Sized>(
    avro: Option<&D>,
    bytes: &[u8],
) -> Result<Value, String> {
    if let Some(avro) = avro {
        if wire::unframe(bytes).is_ok() {
            return avro.decode(bytes);
        }
    }
    serde_json::from_slice(bytes).map_err(|e| {
        let hint = if avro.is_none() && wire::unframe(bytes).is_ok() {
            "; it looks like Avro: pass --schema-registry"
        } else {
            ""
        };
        format!("neither Avro nor JSON ({e}){hint}")
    })
}

impl ValueDecoder for RegistryDecoder {
    fn decode(&self, bytes: &[u8]) -> Result<Value, String> {
        let (id, datum) = wire::unframe(bytes)
            .map_err(|e| format!("not Avro in the registry wire format: {e}"))?;
        let schema = self.schema(id)?;
        decode_datum(&schema.schema, datum, None)
            .map_err(|e| format!("undecodable Avro value of schema id {id}: {e}"))
    }
}
